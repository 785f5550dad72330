"""Render one layer or block (:class:`~costcalc.results.LayerResult`): table, JSON, LaTeX, Markdown.

Two quantities are easy to confuse and are named once, the same everywhere: ``activations``
("activation elements") is the sum of the outputs every layer writes (a bottleneck's three convs,
BatchNorms, ReLUs and its add), as ``costcalc net`` totals it; "output elements" is the block's
output tensor alone, ``H·W·C`` of its output shape.
"""

from __future__ import annotations

from typing import Any

from costcalc.cost import CONVENTION
from costcalc.metrics import METRICS
from costcalc.num import pretty, to_json
from costcalc.render.boxtable import Blocks, Grid, Text
from costcalc.render.text import shape_json, shape_text, tex_escape, tex_math, var_text
from costcalc.render.view import View

#: the sentence that tells the two element counts apart
ELEMENTS_NOTE = ("activation elements = the outputs every layer writes (summed over a block's layers); "
                 "output elements = the block's output tensor alone")


def _elements(shape: Any) -> Any:
    from costcalc.num import normalize

    out: Any = 1
    for v in shape:
        out = out * v
    return normalize(out)


def _dim_text(v: Any) -> str:
    """A dimension (number or symbol) or an option (bias=true, stride_on=3x3) for the title."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return v
    return var_text(v)


def _ratio_value_text(v: Any) -> str:
    text = pretty(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return text
    return f"{text} ≈ {f:.4g}" if "/" in text else text


def layer_title(lr: Any) -> str:
    r = lr.report
    return f"{r.type}  " + "  ".join(f"{k}={_dim_text(v)}" for k, v in r.dims.items())


def layer_blocks(lr: Any, view: View) -> Blocks:
    r = lr.report
    b = view.dtype_bytes
    g = Grid(name=r.type)
    g.add_column("quantity")
    g.add_column("formula", kind="formula")
    g.add_column("value", justify="right", kind="formula")
    for m in METRICS:
        label = f"memory access (bytes, {b} B/element)" if m.name == "bytes" else m.label
        g.add_row(label, pretty(m(r.formula, b)), view.count(m(r.cost, b), m.unit if view.human else ""))
    g.add_row("output elements", pretty(_elements(r.formula_out_shape)), view.count(_elements(r.out_shape)))
    g.add_row("input shape (H × W × C)", "H × W × N", shape_text(r.in_shape))
    g.add_row("output shape", shape_text(r.formula_out_shape), shape_text(r.out_shape))
    ratio_formula = pretty(r.ratio_expanded)
    if pretty(r.ratio_formula) != ratio_formula:
        ratio_formula += f"  =  {pretty(r.ratio_formula)}"
    g.add_row("MACs / standard conv", ratio_formula, _ratio_value_text(r.ratio_value))
    out = Blocks([Text(layer_title(lr), "bold"), g])
    if len(r.rows) > 1:
        out.append(rows_grid(r.rows, view))
    out.append(Text(f"ratio baseline: {r.baseline}", "dim"))
    for note in r.notes:
        out.append(Text(f"note: {note}", "dim"))
    cond = lr.conditions.sentence("", quiet=True)
    if cond:
        out.append(Text(cond.replace("the closed form is", "the formulas are", 1)))
    out.append(Text(ELEMENTS_NOTE, "dim"))
    out.append(Text(CONVENTION, "dim"))
    return out


def rows_grid(rows: list[Any], view: View) -> Grid:
    g = Grid(name="layers")
    g.add_column("layer")
    g.add_column("type", merge_into=0)
    g.add_column("input → output")
    g.add_column(view.ops_label, justify="right", kind="formula")
    g.add_column(view.par_label, justify="right", kind="formula")
    for row in rows:
        name = "  " * row.depth + row.path.rsplit(".", 1)[-1]
        g.add_row(name, row.type, f"{shape_text(row.in_shape)} → {shape_text(row.out_shape)}",
                  view.count(view.ops(row.cost)), view.count(view.par(row.cost)),
                  style=None if row.leaf else "bold")
    return g


def _as_float(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def layer_json(lr: Any, view: View) -> dict[str, Any]:
    r = lr.report
    b = view.dtype_bytes
    doc: dict[str, Any] = {
        "type": r.type,
        "dims": {k: to_json(v) for k, v in r.dims.items()},
        "in_shape": shape_json(r.in_shape),
        "out_shape": shape_json(r.out_shape),
    }
    for m in METRICS:
        doc[m.name] = to_json(m(r.cost, b))
    doc["output_elements"] = to_json(_elements(r.out_shape))
    doc["dtype_bytes"] = b
    doc["formulas"] = {m.name: to_json(m(r.formula, b)) for m in METRICS}
    doc["formulas"]["output_elements"] = to_json(_elements(r.formula_out_shape))
    doc["formulas"]["out_shape"] = shape_json(r.formula_out_shape)
    doc["ratio_to_standard"] = {
        "formula": to_json(r.ratio_formula),
        "expanded": to_json(r.ratio_expanded),
        "value": to_json(r.ratio_value),
        "value_float": _as_float(r.ratio_value),
        "baseline": r.baseline,
    }
    if len(r.rows) > 1:
        doc["layers"] = [
            {"path": row.path, "type": row.type, "leaf": row.leaf, "in_shape": shape_json(row.in_shape),
             "out_shape": shape_json(row.out_shape), "macs": to_json(row.cost.macs), "params": to_json(row.cost.params)}
            for row in r.rows
        ]
    doc["assumptions"] = lr.conditions.to_json()
    doc["notes"] = list(r.notes)
    doc["convention"] = CONVENTION
    return doc


def layer_latex(lr: Any, view: View) -> str:
    r = lr.report
    lines = [
        r"\begin{align*}",
        rf"\text{{MACs}} &= {tex_math(r.formula.macs)} = {tex_math(r.cost.macs)} \\",
        rf"\text{{params}} &= {tex_math(r.formula.params)} = {tex_math(r.cost.params)} \\",
        rf"\frac{{\text{{MACs}}}}{{\text{{MACs}}_\text{{standard}}}} &= {tex_math(r.ratio_formula)} = "
        rf"{tex_math(r.ratio_expanded)} = {tex_math(r.ratio_value)}",
    ]
    cond = lr.conditions.sentence("", quiet=True)
    if cond:
        lines[-1] += r" \\"
        lines.append(rf"&\text{{{tex_escape(cond)}}}")
    lines.append(r"\end{align*}")
    return "\n".join(lines)


def layer_markdown(lr: Any, view: View) -> str:
    r = lr.report
    lines = [f"**{layer_title(lr)}**", "", "| quantity | formula | value |", "|---|---|--:|"]
    for m in METRICS:
        lines.append(f"| {m.label} | {pretty(m(r.formula, view.dtype_bytes))} | "
                     f"{view.count(m(r.cost, view.dtype_bytes))} |")
    lines.append(f"| output shape | {shape_text(r.formula_out_shape)} | {shape_text(r.out_shape)} |")
    cond = lr.conditions.sentence("", quiet=True)
    lines += ["", *( [cond] if cond else []), "", f"_{CONVENTION}_"]
    return "\n".join(lines) + "\n"


def layer_math(lr: Any, view: View) -> str:
    r = lr.report
    return (r"$$\begin{aligned}\text{MACs} &= " + tex_math(r.formula.macs) + " = " + tex_math(r.cost.macs)
            + r" \\ \text{params} &= " + tex_math(r.formula.params) + " = " + tex_math(r.cost.params)
            + r"\end{aligned}$$")


__all__ = ["ELEMENTS_NOTE", "layer_blocks", "layer_json", "layer_latex", "layer_markdown", "layer_math",
           "rows_grid"]
