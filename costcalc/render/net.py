"""Render a :class:`~costcalc.network.NetResult`: rich table, JSON, CSV, Markdown, LaTeX.

All formats show the same data; JSON is the machine contract (issue 3):
``name``, ``vars``, ``layers`` (leaves in order), ``totals``, ``by_type``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from typing import Any, Callable

from costcalc.cost import CONVENTION, COST_FIELDS, Cost
from costcalc.engine import Row
from costcalc.network import NetResult
from costcalc.num import is_int, pretty, to_json, var_json
from costcalc.render.boxtable import Grid
from costcalc.render.layer import shape_json, shape_text


@dataclass(frozen=True)
class View:
    """What the user asked to see: FLOPs or MACs, PyTorch params or weights only, which rows."""

    units: str = "macs"  # or "flops"
    params: str = "torch"  # or "weights"
    depth: int | None = None  # hide rows deeper than this
    top: int | None = None  # only the N most expensive leaves
    dtype_bytes: int = 4

    def ops(self, c: Cost) -> Any:
        return c.flops if self.units == "flops" else c.macs

    def par(self, c: Cost) -> Any:
        return c.weights if self.params == "weights" else c.params

    @property
    def ops_label(self) -> str:
        return "FLOPs" if self.units == "flops" else "MACs"

    @property
    def par_label(self) -> str:
        return "weights" if self.params == "weights" else "params"


def visible_rows(result: NetResult, view: View) -> list[Row]:
    if view.top:
        leaves = [r for r in result.rows if r.leaf]
        if all(is_int(r.cost.macs) for r in leaves):
            leaves = sorted(leaves, key=lambda r: -r.cost.macs)
        return [replace(r, depth=0) for r in leaves[: view.top]]
    if view.depth is None:
        return result.rows
    return [r for r in result.rows if r.depth <= view.depth]


def share(part: Any, whole: Any) -> float | None:
    if is_int(part) and is_int(whole) and whole:
        return part / whole
    return None


def cost_json(c: Cost, dtype_bytes: int = 4) -> dict[str, Any]:
    d = {"macs": to_json(c.macs), "flops": to_json(c.flops)}
    d.update({f: to_json(getattr(c, f)) for f in COST_FIELDS if f != "macs"})
    d["bytes"] = to_json(c.bytes(dtype_bytes))
    return d


def net_json(result: NetResult, view: View = View()) -> dict[str, Any]:
    spec = result.spec
    totals = result.totals
    if spec.symbolic:
        from costcalc.network import symbolic_totals

        totals = symbolic_totals(result)
    return {
        "name": spec.name,
        "source": spec.source,
        "vars": {k: var_json(v) for k, v in spec.vars.items()},
        "input": shape_json(spec.input),
        "output": shape_json(result.out_shape),
        "convention": CONVENTION,
        "dtype_bytes": view.dtype_bytes,
        "layers": [
            {
                "path": r.path,
                "type": r.type,
                "category": r.category,
                "in_shape": shape_json(r.in_shape),
                "out_shape": shape_json(r.out_shape),
                **cost_json(r.cost, view.dtype_bytes),
            }
            for r in result.rows
            if r.leaf
        ],
        "blocks": [
            {"path": r.path, "type": r.type, "in_shape": shape_json(r.in_shape),
             "out_shape": shape_json(r.out_shape), "macs": to_json(r.cost.macs), "params": to_json(r.cost.params)}
            for r in result.rows
            if not r.leaf
        ],
        "totals": cost_json(totals, view.dtype_bytes),
        "by_type": {k: cost_json(v, view.dtype_bytes) for k, v in _by_type_sorted(result)},
    }


def _by_type_sorted(result: NetResult) -> list[tuple[str, Cost]]:
    items = list(result.by_type.items())
    if all(is_int(c.macs) for _, c in items):
        items.sort(key=lambda kv: (-kv[1].macs, -kv[1].params if is_int(kv[1].params) else 0))
    return items


CSV_FIELDS = ("path", "type", "category", "depth", "leaf", "in_shape", "out_shape", "macs", "flops",
              *COST_FIELDS[1:], "bytes")


def net_csv(result: NetResult, view: View = View()) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in visible_rows(result, view):
        c = cost_json(r.cost, view.dtype_bytes)
        w.writerow([r.path, r.type, r.category, r.depth, int(r.leaf), "x".join(map(str, shape_json(r.in_shape))),
                    "x".join(map(str, shape_json(r.out_shape))), *(c[f] for f in CSV_FIELDS[7:])])
    c = cost_json(result.totals, view.dtype_bytes)
    w.writerow(["TOTAL", "", "", 0, 0, "x".join(map(str, shape_json(result.spec.input))),
                "x".join(map(str, shape_json(result.out_shape))), *(c[f] for f in CSV_FIELDS[7:])])
    return out.getvalue()


def _num(v: Any, symbolic_factor: bool = False) -> str:
    return pretty(v, symbolic_factor)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _bar(x: float | None, width: int = 20) -> str:
    if x is None:
        return ""
    full = x * width
    n = int(full)
    eighths = int((full - n) * 8)
    return "█" * n + ("▏▎▍▌▋▊▉"[eighths - 1] if eighths else "")


def _header(result: NetResult) -> str:
    spec = result.spec
    vars_ = ", ".join(f"{k}={pretty(v).replace(',', '')}" for k, v in spec.vars.items())
    return f"{spec.name}" + (f" ({vars_})" if vars_ else "")


def row_name(r: Row, view: View) -> str:
    """A row's label under its parent: the last part of its path, ``stage.3`` for a repetition,
    the whole path where rows are not nested (``--top``)."""
    if view.top:
        return r.path
    parts = r.path.rsplit(".", 2)
    if len(parts) > 1 and parts[-1].isdigit():  # a repetition: "conv3_x.0"
        return ".".join(parts[-2:])
    return parts[-1]


def _bottom(r: Row, view: View) -> bool:
    """Whether a row is the lowest shown on its branch (it gets a share bar)."""
    return r.leaf or view.top is not None or (view.depth is not None and r.depth >= view.depth)


def net_table(result: NetResult, console: Any, view: View = View()) -> None:
    """Print the layer table, the by-type table and the other-ops line on ``console`` (a rich
    Console, or a :class:`~costcalc.render.boxtable.Output` that skips rich for plain output)."""
    totals = result.totals
    if result.spec.symbolic:
        from costcalc.network import symbolic_totals

        totals = symbolic_totals(result)
    total_ops = view.ops(totals)
    t = Grid(title=f"[bold]{_header(result)}[/]", title_justify="left", show_footer=True,
              caption=CONVENTION if view.params == "torch" else CONVENTION + " Params shown: weights only.",
              caption_justify="left")
    t.add_column("layer", footer="total")
    t.add_column("type")
    t.add_column("input → output", footer=f"{shape_text(result.spec.input)} → {shape_text(result.out_shape)}")
    t.add_column(view.ops_label, justify="right", footer=_num(total_ops, True))
    t.add_column(view.par_label, justify="right", footer=_num(view.par(totals), True))
    t.add_column(f"% {view.ops_label}", justify="right", footer="100%")
    t.add_column("", footer="")
    for r in visible_rows(result, view):
        name = "  " * r.depth + row_name(r, view)
        s = share(view.ops(r.cost), total_ops)
        t.add_row(name, r.type, f"{shape_text(r.in_shape)} → {shape_text(r.out_shape)}",
                  _num(view.ops(r.cost)), _num(view.par(r.cost)), _pct(s), _bar(s) if _bottom(r, view) else "",
                  style=None if r.leaf else "bold")
    console.print(t)
    console.print(by_type_table(result, view))
    other = (f"other ops: {_num(totals.elementwise, True)} elementwise, {_num(totals.comparisons, True)} comparisons; "
             f"memory access {_num(totals.memory, True)} elements = {_num(totals.bytes(view.dtype_bytes), True)} "
             f"bytes at {view.dtype_bytes} B/element; {_num(totals.activations, True)} activation elements")
    console.print(other)


def by_type_table(result: NetResult, view: View = View()) -> Grid:
    totals = result.totals
    t = Grid(title="by layer type", title_justify="left")
    for col, j in (("type", "left"), (view.ops_label, "right"), (f"% {view.ops_label}", "right"),
                   (view.par_label, "right"), (f"% {view.par_label}", "right")):
        t.add_column(col, justify=j)  # type: ignore[arg-type]
    for cat, c in _by_type_sorted(result):
        t.add_row(cat, _num(view.ops(c)), _pct(share(view.ops(c), view.ops(totals))), _num(view.par(c)),
                  _pct(share(view.par(c), view.par(totals))))
    return t


def net_markdown(result: NetResult, view: View = View()) -> str:
    lines = [f"**{_header(result)}**", "", f"| layer | type | input → output | {view.ops_label} | "
             f"{view.par_label} | % {view.ops_label} |", "|---|---|---|--:|--:|--:|"]
    total_ops = view.ops(result.totals)
    for r in visible_rows(result, view):
        name = "&nbsp;&nbsp;" * r.depth + f"`{r.path}`"
        cells = [name, r.type, f"{shape_text(r.in_shape)} → {shape_text(r.out_shape)}", _num(view.ops(r.cost)),
                 _num(view.par(r.cost)), _pct(share(view.ops(r.cost), total_ops))]
        lines.append("| " + " | ".join(c if r.leaf or i else f"**{c}**" for i, c in enumerate(cells)) + " |")
    lines.append(f"| **total** | | {shape_text(result.spec.input)} → {shape_text(result.out_shape)} | "
                 f"**{_num(total_ops, True)}** | **{_num(view.par(result.totals), True)}** | 100% |")
    lines += ["", f"| type | {view.ops_label} | % | {view.par_label} | % |", "|---|--:|--:|--:|--:|"]
    for cat, c in _by_type_sorted(result):
        lines.append(f"| {cat} | {_num(view.ops(c))} | {_pct(share(view.ops(c), total_ops))} | "
                     f"{_num(view.par(c))} | {_pct(share(view.par(c), view.par(result.totals)))} |")
    lines += ["", f"_{CONVENTION}_"]
    return "\n".join(lines) + "\n"


def net_latex(result: NetResult, view: View = View()) -> str:
    def tex(v: Any) -> str:
        if is_int(v):
            return f"{v:,}".replace(",", "{,}")
        import sympy

        return f"${sympy.latex(v)}$"

    def esc(s: str) -> str:
        return s.replace("_", r"\_").replace("&", r"\&").replace("%", r"\%").replace("#", r"\#")

    total_ops = view.ops(result.totals)
    lines = [r"\begin{tabular}{llrrr}", r"\hline",
             f"layer & type & {view.ops_label} & {view.par_label} & \\% {view.ops_label} \\\\", r"\hline"]
    for r in visible_rows(result, view):
        s = share(view.ops(r.cost), total_ops)
        name = r"\quad " * r.depth + esc(row_name(r, view))
        lines.append(f"{name} & {esc(r.type)} & {tex(view.ops(r.cost))} & {tex(view.par(r.cost))} & "
                     f"{_pct(s).replace('%', chr(92) + '%')} \\\\")
    lines += [r"\hline", f"total & & {tex(total_ops)} & {tex(view.par(result.totals))} & 100\\% \\\\",
              r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[..., Any]] = {
    "csv": net_csv,
    "markdown": net_markdown,
    "latex": net_latex,
}
