"""Render comparisons and sweeps (:class:`~costcalc.results.Comparison`, :class:`~costcalc.results.SweepResult`).

JSON is the machine contract and carries the same data as the tables:

- compare: ``{"convention", "dtype_bytes", "networks": [{name, source, vars, totals, by_type,
  ratio_to_first, assumptions}]}`` (``totals``/``by_type`` as in ``costcalc net``; ratios are floats,
  ``null`` where the first network has none of that quantity, formulas as text when symbolic).
- sweep: ``{"name", "source", "swept": {var: [values]}, "fixed", "convention", "dtype_bytes",
  "points": [{vars, totals, assumptions}]}``.
"""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

from costcalc.cost import CONVENTION
from costcalc.metrics import BY_NAME, METRICS
from costcalc.num import is_int, normalize, to_json, var_json
from costcalc.render.boxtable import Blocks, Grid, Text
from costcalc.render.net import by_type_sorted, cost_json, title
from costcalc.render.text import pct, ratio_text, share, tex_cell, tex_escape, tex_math, vars_text
from costcalc.render.view import View


def _rows(view: View) -> list[tuple[str, str]]:
    """(metric, label) rows of a totals table: the view's ops and params first, then the rest."""
    first = [view.ops_metric.name, view.par_metric.name]
    rest = [m.name for m in METRICS if m.name not in first and m.name not in ("macs", "flops")]
    out = []
    for name in first + rest:
        m = BY_NAME[name]
        label = m.label if name not in first else (m.short if name in ("macs", "flops") else m.label)
        out.append((name, label))
    return out


def ratio_json(x: Any) -> Any:
    if x is None:
        return None
    x = normalize(x)
    if is_int(x) or isinstance(x, Fraction):
        return float(x)
    return to_json(x)


def _headers(cmp: Any) -> list[str]:
    """Column headers: the network names (numbered when two are alike)."""
    names = [n.name for n in cmp.networks]
    if len(set(names)) < len(names):
        names = [f"{i + 1}. {n}" for i, n in enumerate(names)]
    return names


def _value(view: View, m: str, v: Any) -> str:
    return view.count(v)


# ----------------------------------------------------------------------------------------------
# compare


def _legend(cmp: Any) -> list[Text]:
    out = []
    for head, n in zip(_headers(cmp), cmp.networks):
        vars_ = vars_text(n.shown_vars)
        out.append(Text(f"{head}: {vars_ or 'no variables'}  ({n.source})"))
    return out


def _conditions(cmp: Any) -> list[Text]:
    out = []
    for head, n in zip(_headers(cmp), cmp.networks):
        if n.symbolic:
            from costcalc.render.net import exact_sentence

            out.append(Text(f"{head}: {exact_sentence(n) if n.exact else n.conditions.sentence()}"))
        out += [Text(f"{head}: {note}") for note in n.notes]
    return out


def compare_blocks(cmp: Any, view: View) -> Blocks:
    """Totals side by side with the ratio to the first network, then ops and params by type."""
    heads = _headers(cmp)
    first = heads[0]
    ratios = [cmp.ratios(i, view.dtype_bytes) for i in range(len(cmp.networks))]
    symbolic = any(n.symbolic for n in cmp.networks)
    kind = "formula" if symbolic else "number"
    g = Grid(name="totals")
    g.add_column("")
    for i, h in enumerate(heads):
        g.add_column(h, justify="right", kind=kind)
        if i:
            g.add_column(f"× {first}" if len(heads) == 2 else "×", justify="right", kind=kind, style="cyan")
    for m, label in _rows(view):
        cells = [label]
        for i, n in enumerate(cmp.networks):
            cells.append(_value(view, m, BY_NAME[m](n.totals, view.dtype_bytes)))
            if i:
                cells.append(ratio_text(ratios[i][m]))
        g.add_row(*cells)
    out = Blocks([Text(f"totals (×: ratio to {first})", "bold"), *_legend(cmp), g, Text(CONVENTION, "dim")])
    out += _conditions(cmp)
    for metric, label in ((view.ops_metric, view.ops_label), (view.par_metric, view.par_label)):
        out += [Text(f"{label} by layer type", "bold"), _by_type_grid(cmp, view, metric, heads)]
    return out


def _by_type_grid(cmp: Any, view: View, metric: Any, heads: list[str]) -> Grid:
    def get(c: Any) -> Any:
        return metric(c, view.dtype_bytes)

    symbolic = any(not is_int(get(n.totals)) for n in cmp.networks)
    g = Grid(name=f"{metric.short} by layer type")
    g.add_column("type")
    for h in heads:
        g.add_column(h, justify="right", kind="formula" if symbolic else "number")
        g.add_column("%", justify="right", kind="number", style="dim")
    for cat in cmp.categories(get):
        present = [n.by_type[cat] for n in cmp.networks if cat in n.by_type]
        if all(get(c) == 0 for c in present):
            continue  # e.g. relu has no MACs and no params: it lives in the other-ops rows
        cells = [cat]
        for n in cmp.networks:
            c = n.by_type.get(cat)
            if c is None:
                cells += ["", ""]
            else:
                cells += [_value(view, metric.name, get(c)), pct(share(get(c), get(n.totals)))]
        g.add_row(*cells)
    return g


def compare_json(cmp: Any, view: View) -> dict[str, Any]:
    nets = []
    for i, n in enumerate(cmp.networks):
        nets.append({
            "name": n.name,
            "source": n.source,
            "vars": {k: var_json(v) for k, v in n.vars.items()},
            "totals": cost_json(n.totals, view.dtype_bytes),
            "by_type": {k: cost_json(v, view.dtype_bytes) for k, v in by_type_sorted(n, view)},
            "ratio_to_first": {q: ratio_json(v) for q, v in cmp.ratios(i, view.dtype_bytes).items()},
            "assumptions": n.conditions.to_json() if n.symbolic else [],
            "notes": list(n.notes),
        })
    return {"convention": CONVENTION, "dtype_bytes": view.dtype_bytes, "networks": nets}


def compare_csv(cmp: Any, view: View) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    names = [m.name for m in METRICS]
    w.writerow(["name", "source", "vars", *names, *(f"{q}_ratio" for q in names)])
    for i, n in enumerate(cmp.networks):
        c = cost_json(n.totals, view.dtype_bytes)
        ratios = cmp.ratios(i, view.dtype_bytes)
        w.writerow([n.name, n.source, ";".join(f"{k}={var_json(v)}" for k, v in n.vars.items()),
                    *(c[q] for q in names), *(ratio_json(ratios[q]) for q in names)])
    return out.getvalue()


def compare_markdown(cmp: Any, view: View) -> str:
    heads = [title(n) for n in cmp.networks]
    ratios = [cmp.ratios(i, view.dtype_bytes) for i in range(len(cmp.networks))]
    lines = ["| |" + "".join(f" {h} |" + (" × |" if i else "") for i, h in enumerate(heads)),
             "|---|" + "|".join("--:" if i == 0 else "--:|--:" for i in range(len(heads))) + "|"]
    for m, label in _rows(view):
        cells = [label]
        for i, n in enumerate(cmp.networks):
            cells.append(_value(view, m, BY_NAME[m](n.totals, view.dtype_bytes)))
            if i:
                cells.append(ratio_text(ratios[i][m]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Ratios (×) are to {heads[0]}.", ""]
    for metric, label in ((view.ops_metric, view.ops_label), (view.par_metric, view.par_label)):
        g = _by_type_grid(cmp, view, metric, heads)
        lines += [f"| {label} by type | " + " | ".join(f"{h} | %" for h in heads) + " |",
                  "|---|" + "--:|--:|" * len(heads)]
        lines += ["| " + " | ".join(cells) + " |" for cells, _ in g.rows]
        lines.append("")
    lines += [t.text for t in _conditions(cmp)]
    lines.append(f"_{CONVENTION}_")
    return "\n".join(lines) + "\n"


def compare_latex(cmp: Any, view: View) -> str:
    n = len(cmp.networks)
    ratios = [cmp.ratios(i, view.dtype_bytes) for i in range(n)]
    lines = [r"\begin{tabular}{l" + "r" * (2 * n - 1) + "}", r"\hline",
             " & ".join([""] + [tex_escape(title(net)) + (r" & $\times$" if i else "")
                                for i, net in enumerate(cmp.networks)]) + r" \\", r"\hline"]
    for m, label in _rows(view):
        cells = [tex_escape(label)]
        for i, net in enumerate(cmp.networks):
            cells.append(tex_cell(BY_NAME[m](net.totals, view.dtype_bytes), view.human))
            if i:
                r = ratios[i][m]
                cells.append(tex_escape(ratio_text(r)).replace("×", r"$\times$") if r is None or is_int(r)
                             or isinstance(normalize(r), Fraction) else f"${tex_math(r)}$")
        lines.append(" & ".join(cells) + r" \\")
    lines.append(r"\hline")
    for t in _conditions(cmp):
        lines.append(rf"\multicolumn{{{2 * n}}}{{l}}{{\footnotesize {tex_escape(t.text)}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def compare_math(cmp: Any, view: View) -> str:
    rows = [rf"\text{{{tex_escape(n.name)}}} &= {tex_math(view.ops(n.totals))}\ \text{{{view.ops_label}}}"
            for n in cmp.networks]
    return "$$\\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$$"


# ----------------------------------------------------------------------------------------------
# sweep


def _long_rows(view: View) -> list[tuple[str, str]]:
    """Columns of a long sweep table, with short labels."""
    return [(view.ops_metric.name, view.ops_label), (view.par_metric.name, view.par_label),
            ("elementwise", "elementwise"), ("comparisons", "comparisons"), ("activations", "activations"),
            ("bytes", f"bytes ({view.dtype_bytes} B/elt)")]


def _sweep_header(sw: Any) -> str:
    fixed = ", ".join(f"{k}={v}" for k, v in sw.sweep.fixed.items())
    return f"{sw.name}" + (f" ({fixed})" if fixed else "")


def _sweep_conditions(sw: Any) -> list[str]:
    seen: dict[str, None] = {}
    for p in sw.points:
        c = getattr(p, "conditions", None)
        if c is not None and c.symbolic:
            seen.setdefault(c.sentence(""), None)
    return list(seen)


def sweep_blocks(sw: Any, view: View) -> Blocks:
    """Two swept variables: one grid per quantity (rows: the first variable, columns: the second).
    Otherwise a long table, one row per point with every total."""
    axes = list(sw.axes)
    points = sw.points
    symbolic = any(not is_int(view.ops(p.totals)) for p in points)
    kind = "formula" if symbolic else "number"
    out = Blocks()
    if len(axes) == 2:
        a, b = axes
        grid = sw.sweep.grid()
        for label, metric in ((view.ops_label, view.ops_metric), (view.par_label, view.par_metric)):
            g = Grid(name=label)
            g.add_column(f"{a} \\ {b}")
            for vb in sw.axes[b]:
                g.add_column(vb, justify="right", kind=kind)
            for va in sw.axes[a]:
                g.add_row(va, *(view.count(metric(grid[(va, vb)].totals, view.dtype_bytes))
                                for vb in sw.axes[b]))
            out += [Text(f"{_sweep_header(sw)}: {label}", "bold"), g]
    else:
        g = Grid(name=sw.name)
        for k in axes:
            g.add_column(k, kind="number")
        rows = _long_rows(view)
        for _, label in rows:
            g.add_column(label, justify="right", kind=kind)
        for p in points:
            g.add_row(*(p.swept[k] for k in axes),
                      *(view.count(BY_NAME[q](p.totals, view.dtype_bytes)) for q, _ in rows))
        out += [Text(_sweep_header(sw), "bold"), g]
    out.append(Text(CONVENTION, "dim"))
    out += [Text(c) for c in _sweep_conditions(sw)]
    return out


def sweep_json(sw: Any, view: View) -> dict[str, Any]:
    def point(p: Any) -> dict[str, Any]:
        d = {"vars": {k: var_json(v) for k, v in p.vars.items()}, "totals": cost_json(p.totals, view.dtype_bytes)}
        c = getattr(p, "conditions", None)
        d["assumptions"] = c.to_json() if c is not None and c.symbolic else []
        return d

    return {
        "name": sw.name,
        "source": sw.sweep.source,
        "swept": sw.axes,
        "fixed": sw.sweep.fixed,
        "convention": CONVENTION,
        "dtype_bytes": view.dtype_bytes,
        "points": [point(p) for p in sw.points],
    }


def sweep_csv(sw: Any, view: View) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    names = list(sw.points[0].vars) if sw.points else list(sw.axes)
    metrics = [m.name for m in METRICS]
    w.writerow([*names, *metrics])
    for p in sw.points:
        c = cost_json(p.totals, view.dtype_bytes)
        w.writerow([*(var_json(p.vars[k]) for k in names), *(c[q] for q in metrics)])
    return out.getvalue()


def sweep_markdown(sw: Any, view: View) -> str:
    lines = []
    for b in sweep_blocks(sw, view):
        if isinstance(b, Text):
            lines += [f"**{b.text}**" if b.style == "bold" else (f"_{b.text}_" if b.style == "dim" else b.text), ""]
        elif isinstance(b, Grid):
            lines.append("| " + " | ".join(c.header for c in b.columns) + " |")
            lines.append("|" + "".join("--:|" if c.justify == "right" else "---|" for c in b.columns))
            lines += ["| " + " | ".join(cells) + " |" for cells, _ in b.rows]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def sweep_math(sw: Any, view: View) -> str:
    rows = [rf"\text{{{tex_escape(', '.join(f'{k}={v}' for k, v in p.swept.items()))}}} &= {tex_math(view.ops(p.totals))}"
            for p in sw.points[:50]]
    return "$$\\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$$"


__all__ = ["compare_blocks", "compare_csv", "compare_json", "compare_latex", "compare_markdown", "compare_math",
           "ratio_json", "sweep_blocks", "sweep_csv", "sweep_json", "sweep_markdown", "sweep_math"]
