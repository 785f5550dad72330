"""Render a network (:class:`~costcalc.results.Network`): table, JSON, CSV, Markdown, LaTeX.

Every format shows the same rows (``--depth`` and ``--top`` apply alike), the same values in the
same canonical form, and for formulas the conditions under which they hold. JSON is the machine
contract: ``name``, ``source``, ``vars``, ``input``, ``output``, ``convention``, ``dtype_bytes``,
``layers`` (the leaves shown, in order; without ``--top``/``--depth`` every leaf, summing to the
totals), ``blocks`` (subtotals shown), ``totals``, ``by_type``, ``assumptions`` (where formulas are
exact; empty for numbers), ``notes``, and ``view`` (which rows were selected and how ``--top``
ordered them).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from costcalc.cost import CONVENTION, Cost
from costcalc.metrics import METRICS
from costcalc.num import is_int, to_json, var_json
from costcalc.render.boxtable import Blocks, Grid, Text
from costcalc.render.text import (bar, pct, share, shape_json, shape_text, tex_cell, tex_escape, tex_math,
                                  vars_text)
from costcalc.render.view import View


def as_network(obj: Any) -> Any:
    """A :class:`~costcalc.results.Network` for a Network or a bare NetResult."""
    from costcalc.results import Network, load_network

    return obj if isinstance(obj, Network) else load_network(obj)


# ----------------------------------------------------------------------------------------------
# Which rows, in which order, with which share


@dataclass
class Shown:
    """The rows a view selects (with the depth each is drawn at), their shares of the total, and
    how they were chosen."""

    rows: list[tuple[Any, int]]
    shares: dict[str, float | None]
    total_rows: int
    order: str  # how --top ordered the rows ("" without --top)
    shares_at: dict[str, Any]  # variable values the shares of formulas are taken at


def shown(net: Any, view: View) -> Shown:
    """The rows of ``net`` that ``view`` selects. ``--top N``: the N leaves with the largest
    ``view.ops``; for formulas, the largest at the spec's defaults (where the formulas are numbers),
    or the first N when there are no defaults to order by."""
    rows = net.rows
    ref = net.reference()
    ref_rows = {r.path: r for r in ref[0].rows} if ref else {}
    ref_total = view.ops(ref[0].totals) if ref else None
    total = view.ops(net.totals)

    def value_at_defaults(r: Any) -> Any:
        v = view.ops(r.cost)
        if is_int(v):
            return v
        rr = ref_rows.get(r.path)
        return view.ops(rr.cost) if rr is not None else None

    order = ""
    if view.top:
        leaves = [r for r in rows if r.leaf]
        values = [value_at_defaults(r) for r in leaves]
        if all(is_int(v) for v in values):
            leaves = [r for _, r in sorted(zip(values, leaves), key=lambda t: -t[0])]
            order = f"by {view.ops_label}" + (f" at {vars_text(ref[1])}" if ref and not is_int(total) else "")
        else:
            order = "in network order (formulas without numeric defaults cannot be ordered)"
        picked = [(r, 0) for r in leaves[: view.top]]
    elif view.depth is not None:
        picked = [(r, r.depth) for r in rows if r.depth <= view.depth]
    else:
        picked = [(r, r.depth) for r in rows]
    shares: dict[str, float | None] = {}
    for r, _ in picked:
        v = view.ops(r.cost)
        if is_int(v) and is_int(total):
            shares[r.path] = share(v, total)
        else:
            rr = ref_rows.get(r.path)
            shares[r.path] = share(view.ops(rr.cost), ref_total) if rr is not None else None
    return Shown(picked, shares, len(rows), order, dict(ref[1]) if ref and not is_int(total) else {})


def title(net: Any) -> str:
    vars_ = vars_text(net.shown_vars)
    return net.name + (f" ({vars_})" if vars_ else "")


def row_name(r: Any, top: bool) -> str:
    """A row's label under its parent: the last part of its path, ``stage.3`` for a repetition,
    the whole path where rows are not nested (``--top``)."""
    if top:
        return r.path
    parts = r.path.rsplit(".", 2)
    if len(parts) > 1 and parts[-1].isdigit():  # a repetition: "conv3_x.0"
        return ".".join(parts[-2:])
    return parts[-1]


def by_type_sorted(net: Any, view: View) -> list[tuple[str, Cost]]:
    """Categories by cost, most expensive first (for formulas: by value at the spec's defaults)."""
    items = list(net.by_type.items())
    if all(is_int(view.ops(c)) for _, c in items):
        return sorted(items, key=lambda kv: (-view.ops(kv[1]), -view.par(kv[1]) if is_int(view.par(kv[1])) else 0))
    ref = net.reference()
    if ref:
        at = ref[0].by_type
        return sorted(items, key=lambda kv: -(view.ops(at[kv[0]]) if kv[0] in at else 0))
    return items


def exact_sentence(net: Any) -> str:
    """What an exact form (``--exact``) promises."""
    kept = "PyTorch's floors kept as ⌈…⌉/⌊…⌋ terms"
    derived = [a.text for a in net.conditions.derived()]
    if derived:
        return f"exact ({kept}) wherever {' and '.join(derived)} (a block's structure depends on these: a shortcut kept, a window padded)"
    return f"exact for every value of {', '.join(net.conditions.symbols)} ({kept})"


def notes(net: Any, view: View, sel: Shown | None = None) -> list[str]:
    """The lines under a table: conditions of formulas, where shares and the order come from,
    what was selected, and the notes of the network."""
    out = []
    if net.symbolic:
        out.append(exact_sentence(net) if net.exact else net.conditions.sentence())
    if sel is not None:
        if sel.shares_at:
            out.append(f"% {view.ops_label}: shares at {vars_text(sel.shares_at)} (the spec's defaults)")
        if view.top:
            out.append(f"the {min(view.top, len(sel.rows))} most expensive layers {sel.order}"
                       if not sel.order.startswith("in network") else f"the first {view.top} layers {sel.order}")
    out += net.notes
    if net.unknown:
        from costcalc.results import unknown_sentence

        out.append(unknown_sentence(net.unknown))
    return [n for n in out if n]


# ----------------------------------------------------------------------------------------------
# Table


def net_blocks(obj: Any, view: View) -> Blocks:
    """The layer table, the by-type table and the other-ops line."""
    net = as_network(obj)
    if view.by_type:
        return Blocks([Text(title(net), "bold"), Text("by layer type", "bold"), by_type_grid(net, view)])
    sel = shown(net, view)
    totals = net.totals
    total_ops = view.ops(totals)
    symbolic = not is_int(total_ops) or not is_int(view.par(totals))
    kind = "formula" if symbolic else "number"
    g = Grid(show_footer=True, name=net.name)
    g.add_column("layer", footer="total")
    g.add_column("type", merge_into=0)
    g.add_column("input → output", footer=f"{shape_text(net.input)} → {shape_text(net.out_shape)}")
    g.add_column(view.ops_label, justify="right", kind=kind, footer=view.count(total_ops))
    g.add_column(view.par_label, justify="right", kind=kind, footer=view.count(view.par(totals)))
    g.add_column(f"% {view.ops_label}", justify="right", kind="number", footer="100%")
    g.add_column("share", kind="bar", optional=True)
    top = bool(view.top)
    for r, depth in sel.rows:
        s = sel.shares.get(r.path)
        lowest = r.leaf or top or (view.depth is not None and r.depth >= view.depth)
        g.add_row("  " * depth + row_name(r, top), r.type, f"{shape_text(r.in_shape)} → {shape_text(r.out_shape)}",
                  view.count(view.ops(r.cost)), view.count(view.par(r.cost)), pct(s),
                  bar(s) if lowest else "", style=None if r.leaf else "bold")
    caption = CONVENTION if view.params == "torch" else CONVENTION + " Params shown: weights only."
    out = Blocks([Text(title(net), "bold"), g, Text(caption, "dim")])
    out += [Text(n) for n in notes(net, view, sel)]
    out += [Text("by layer type", "bold"), by_type_grid(net, view), Text(other_ops(totals, view))]
    return out


def by_type_grid(net: Any, view: View) -> Grid:
    totals = net.totals
    ref = net.reference()
    symbolic = not is_int(view.ops(totals))
    g = Grid(name="by layer type")
    kind = "formula" if symbolic else "number"
    for col, j, k in (("type", "left", "text"), (view.ops_label, "right", kind), (f"% {view.ops_label}", "right", "number"),
                      (view.par_label, "right", kind), (f"% {view.par_label}", "right", "number")):
        g.add_column(col, justify=j, kind=k)
    for cat, c in by_type_sorted(net, view):
        ops_share = share(view.ops(c), view.ops(totals))
        par_share = share(view.par(c), view.par(totals))
        if ref and cat in ref[0].by_type:
            rc, rt = ref[0].by_type[cat], ref[0].totals
            ops_share = ops_share if ops_share is not None else share(view.ops(rc), view.ops(rt))
            par_share = par_share if par_share is not None else share(view.par(rc), view.par(rt))
        g.add_row(cat, view.count(view.ops(c)), pct(ops_share), view.count(view.par(c)),
                  pct(par_share))
    return g


def other_ops(totals: Cost, view: View) -> str:
    def n(name: str) -> str:
        m = next(m for m in METRICS if m.name == name)
        return view.count(m(totals, view.dtype_bytes))

    return (f"other ops: {n('elementwise')} elementwise, {n('comparisons')} comparisons; memory access "
            f"{n('memory')} elements = {n('bytes')} bytes at {view.dtype_bytes} B/element; {n('activations')} "
            "activation elements (the outputs of every layer)")


# ----------------------------------------------------------------------------------------------
# JSON and CSV


def cost_json(c: Cost, dtype_bytes: int = 4) -> dict[str, Any]:
    """Every metric of a cost, by name (the metrics table's order)."""
    return {m.name: to_json(m(c, dtype_bytes)) for m in METRICS}


def net_json(obj: Any, view: View) -> dict[str, Any]:
    net = as_network(obj)
    sel = shown(net, view)
    spec = net.spec
    picked = [r for r, _ in sel.rows]
    doc: dict[str, Any] = {
        "name": net.name,
        "source": net.source,
        "vars": {k: var_json(v) for k, v in spec.vars.items()},
        "input": shape_json(net.input),
        "output": shape_json(net.out_shape),
        "convention": CONVENTION,
        "dtype_bytes": view.dtype_bytes,
        "layers": [
            {"path": r.path, "type": r.type, "category": r.category, "in_shape": shape_json(r.in_shape),
             "out_shape": shape_json(r.out_shape), **cost_json(r.cost, view.dtype_bytes)}
            for r in picked if r.leaf
        ],
        "blocks": [
            {"path": r.path, "type": r.type, "in_shape": shape_json(r.in_shape), "out_shape": shape_json(r.out_shape),
             "macs": to_json(r.cost.macs), "params": to_json(r.cost.params)}
            for r in picked if not r.leaf
        ],
        "totals": cost_json(net.totals, view.dtype_bytes),
        "by_type": {k: cost_json(v, view.dtype_bytes) for k, v in by_type_sorted(net, view)},
        "assumptions": net.conditions.to_json() if net.symbolic else [],
        "exact_for_every_value": not net.conditions.derived() and not net.conditions.never,
        "notes": notes(net, view),
        "unknown": [{"path": path, "op": op} for path, op in net.unknown],
    }
    if view.top or view.depth is not None or sel.shares_at:
        doc["view"] = {"depth": view.depth, "top": view.top, "order": sel.order or None,
                       "rows_shown": len(sel.rows), "rows_total": sel.total_rows,
                       "shares_at": {k: var_json(v) for k, v in sel.shares_at.items()} or None}
    return doc


CSV_COLUMNS = ("path", "type", "category", "depth", "leaf", "in_shape", "out_shape", *(m.name for m in METRICS))


def net_csv(obj: Any, view: View) -> str:
    import csv  # only CSV output needs it

    net = as_network(obj)
    sel = shown(net, view)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)

    def line(path: str, type_: str, cat: str, depth: int, leaf: int, i: Any, o: Any, c: Cost) -> None:
        values = cost_json(c, view.dtype_bytes)
        fields = {"path": path, "type": type_, "category": cat, "depth": depth, "leaf": leaf,
                  "in_shape": "x".join(map(str, shape_json(i))), "out_shape": "x".join(map(str, shape_json(o))),
                  **values}
        w.writerow([fields[k] for k in CSV_COLUMNS])

    for r, depth in sel.rows:
        line(r.path, r.type, r.category, depth, int(r.leaf), r.in_shape, r.out_shape, r.cost)
    line("TOTAL", "", "", 0, 0, net.input, net.out_shape, net.totals)
    return out.getvalue()


# ----------------------------------------------------------------------------------------------
# Markdown, LaTeX, math


def net_markdown(obj: Any, view: View) -> str:
    net = as_network(obj)
    sel = shown(net, view)
    total_ops = view.ops(net.totals)
    lines = [f"**{title(net)}**", "", f"| layer | type | input → output | {view.ops_label} | {view.par_label} | "
             f"% {view.ops_label} |", "|---|---|---|--:|--:|--:|"]
    for r, depth in sel.rows:
        name = "&nbsp;&nbsp;" * depth + f"`{r.path}`"
        cells = [name, r.type, f"{shape_text(r.in_shape)} → {shape_text(r.out_shape)}",
                 view.count(view.ops(r.cost)), view.count(view.par(r.cost)),
                 pct(sel.shares.get(r.path))]
        lines.append("| " + " | ".join(c if r.leaf or i else f"**{c}**" for i, c in enumerate(cells)) + " |")
    lines.append(f"| **total** | | {shape_text(net.input)} → {shape_text(net.out_shape)} | "
                 f"**{view.count(total_ops)}** | **{view.count(view.par(net.totals))}** | 100% |")
    lines += ["", f"| type | {view.ops_label} | % | {view.par_label} | % |", "|---|--:|--:|--:|--:|"]
    for cat, c in by_type_sorted(net, view):
        lines.append(f"| {cat} | {view.count(view.ops(c))} | "
                     f"{pct(share(view.ops(c), total_ops))} | {view.count(view.par(c))} | "
                     f"{pct(share(view.par(c), view.par(net.totals)))} |")
    lines += [""] + [f"{n}" for n in notes(net, view, sel)] + ["", f"_{CONVENTION}_"]
    return "\n".join(lines) + "\n"


def net_latex(obj: Any, view: View) -> str:
    net = as_network(obj)
    sel = shown(net, view)
    total_ops = view.ops(net.totals)
    lines = [f"% {title(net)}", r"\begin{tabular}{llrrr}", r"\hline",
             f"layer & type & {view.ops_label} & {view.par_label} & \\% {view.ops_label} \\\\", r"\hline"]
    for r, depth in sel.rows:
        name = r"\quad " * depth + tex_escape(row_name(r, bool(view.top)))
        lines.append(f"{name} & {tex_escape(r.type)} & {tex_cell(view.ops(r.cost), view.human)} & "
                     f"{tex_cell(view.par(r.cost), view.human)} & {tex_escape(pct(sel.shares.get(r.path)))} \\\\")
    lines += [r"\hline", f"total & & {tex_cell(total_ops, view.human)} & "
              f"{tex_cell(view.par(net.totals), view.human)} & 100\\% \\\\", r"\hline"]
    for n in notes(net, view, sel):
        lines.append(rf"\multicolumn{{5}}{{l}}{{\footnotesize {tex_escape(n)}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def net_math(obj: Any, view: View) -> str:
    """The totals as LaTeX math (Jupyter's ``_repr_latex_``)."""
    net = as_network(obj)
    rows = [rf"\text{{{view.ops_label}}} &= {tex_math(view.ops(net.totals))}",
            rf"\text{{{view.par_label}}} &= {tex_math(view.par(net.totals))}"]
    cond = (exact_sentence(net) if net.exact else net.conditions.sentence("")) if net.symbolic else ""
    if cond:
        rows.append(rf"&\text{{{tex_escape(cond)}}}")
    return "$$\\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$$"


__all__ = ["CSV_COLUMNS", "Shown", "as_network", "by_type_grid", "by_type_sorted", "cost_json", "net_blocks",
           "net_csv", "net_json", "net_latex", "net_markdown", "net_math", "notes", "row_name", "shown", "title"]
