"""Render a :class:`~costcalc.engine.LayerReport` as a rich table, JSON or LaTeX."""

from __future__ import annotations

from typing import Any

from costcalc.cost import CONVENTION, COST_FIELDS, Shape
from costcalc.engine import LayerReport
from costcalc.num import pretty, to_json, to_sympy

#: (field, label) of the rows of the ``layer`` table, in order
QUANTITIES: tuple[tuple[str, str], ...] = (
    ("macs", "MACs (multiply-adds)"),
    ("flops", "FLOPs (2 × MACs)"),
    ("params", "params (PyTorch count)"),
    ("weights", "params, weights only"),
    ("elementwise", "elementwise ops"),
    ("comparisons", "comparisons"),
    ("activations", "output elements"),
    ("memory", "memory access (elements)"),
)


def shape_json(s: Shape) -> list[Any]:
    return [to_json(v) for v in s]


def shape_text(s: Shape) -> str:
    return " × ".join(pretty(v).replace(",", "") for v in s)


def _get(cost: Any, name: str) -> Any:
    return cost.flops if name == "flops" else getattr(cost, name)


def layer_json(r: LayerReport, dtype_bytes: int = 4) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": r.type,
        "dims": {k: to_json(v) for k, v in r.dims.items()},
        "in_shape": shape_json(r.in_shape),
        "out_shape": shape_json(r.out_shape),
    }
    for name in ("macs", "flops", *[f for f in COST_FIELDS if f != "macs"]):
        doc[name] = to_json(_get(r.cost, name))
    doc["bytes"] = to_json(r.cost.bytes(dtype_bytes))
    doc["dtype_bytes"] = dtype_bytes
    doc["formulas"] = {name: to_json(_get(r.formula, name)) for name in ("macs", "flops", *COST_FIELDS[1:])}
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
            {
                "path": row.path,
                "type": row.type,
                "leaf": row.leaf,
                "in_shape": shape_json(row.in_shape),
                "out_shape": shape_json(row.out_shape),
                "macs": to_json(row.cost.macs),
                "params": to_json(row.cost.params),
            }
            for row in r.rows
        ]
    doc["notes"] = r.notes
    doc["convention"] = CONVENTION
    return doc


def _as_float(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _dim_text(v: Any) -> str:
    """A dimension (number or symbol) or an option (bias=True, stride_on=3x3) for the title."""
    if isinstance(v, (bool, str)):
        return str(v).lower() if isinstance(v, bool) else v
    return pretty(v).replace(",", "")


def layer_table(r: LayerReport, console: Any, dtype_bytes: int = 4) -> None:
    from rich.table import Table

    dims = "  ".join(f"{k}={_dim_text(v)}" for k, v in r.dims.items())
    t = Table(title=f"[bold]{r.type}[/]  {dims}", title_justify="left", show_lines=False)
    t.add_column("quantity")
    t.add_column("formula")
    t.add_column("value", justify="right")
    for name, label in QUANTITIES:
        t.add_row(label, pretty(_get(r.formula, name), True), pretty(_get(r.cost, name), True))
    t.add_row(f"bytes moved ({dtype_bytes} B/element)", pretty(r.formula.bytes(dtype_bytes), True),
              pretty(r.cost.bytes(dtype_bytes), True))
    t.add_row("input shape (H × W × C)", "H × W × N", shape_text(r.in_shape))
    t.add_row("output shape", shape_text(r.formula_out_shape), shape_text(r.out_shape))
    value = pretty(r.ratio_value)
    f = _as_float(r.ratio_value)
    if f is not None and "/" in value:
        value += f" ≈ {f:.4g}"
    ratio_formula = pretty(r.ratio_expanded)
    if pretty(r.ratio_formula) != ratio_formula:
        ratio_formula += f"  =  {pretty(r.ratio_formula)}"
    t.add_row("MACs / standard conv", ratio_formula, value)
    console.print(t)
    if len(r.rows) > 1:
        console.print(rows_table(r.rows))
    console.print(f"[dim]ratio baseline: {r.baseline}[/]")
    for note in r.notes:
        console.print(f"[dim]note: {note}[/]")
    console.print(f"[dim]{CONVENTION}[/]")


def rows_table(rows: list[Any]) -> Any:
    from rich.table import Table

    t = Table(show_lines=False)
    for col, j in (("layer", "left"), ("type", "left"), ("in → out", "left"), ("MACs", "right"),
                   ("params", "right")):
        t.add_column(col, justify=j)  # type: ignore[arg-type]
    for row in rows:
        name = "  " * row.depth + row.path.rsplit(".", 1)[-1]
        style = None if row.leaf else "bold"
        t.add_row(name, row.type, f"{shape_text(row.in_shape)} → {shape_text(row.out_shape)}",
                  pretty(row.cost.macs), pretty(row.cost.params), style=style)
    return t


def layer_latex(r: LayerReport) -> str:
    import sympy

    def tex(v: Any) -> str:
        return sympy.latex(to_sympy(v)) if not isinstance(v, str) else v

    lines = [
        r"\begin{align*}",
        rf"\text{{MACs}} &= {tex(r.formula.macs)} = {tex(r.cost.macs)} \\",
        rf"\text{{params}} &= {tex(r.formula.params)} = {tex(r.cost.params)} \\",
        rf"\frac{{\text{{MACs}}}}{{\text{{MACs}}_\text{{standard}}}} &= {tex(r.ratio_formula)} = "
        rf"{tex(r.ratio_expanded)} = {tex(r.ratio_value)}",
        r"\end{align*}",
    ]
    return "\n".join(lines)
