"""Render comparisons and sweeps (:mod:`costcalc.explore`): rich tables, JSON, CSV, Markdown, LaTeX.

JSON is the machine contract and carries the same data as the tables:

- compare: ``{"convention", "dtype_bytes", "networks": [{name, source, vars, totals, by_type,
  ratio_to_first}]}`` (``totals``/``by_type`` as in ``costcalc net``; ratios are floats, ``null`` where the first network has none of that quantity, formulas as text
  when symbolic).
- sweep: ``{"name", "source", "swept": {var: [values]}, "fixed", "convention", "dtype_bytes",
  "points": [{vars, totals}]}``.
"""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

from costcalc.cost import CONVENTION
from costcalc.explore import QUANTITIES, Compared, Sweep, quantity
from costcalc.num import is_int, pretty, to_json, var_json
from costcalc.render.net import View, cost_json, share

#: Row labels of the totals table (quantity → label); ops and params follow the View.
_LABELS = {"elementwise": "elementwise ops", "comparisons": "comparisons", "activations": "activation elements",
           "memory": "memory access (elements)", "bytes": "memory access (bytes)"}


def _rows(view: View) -> list[tuple[str, str]]:
    """(quantity, label) rows of a totals table for this view."""
    ops = "flops" if view.units == "flops" else "macs"
    par = "weights" if view.params == "weights" else "params"
    other_par = "params" if par == "weights" else "weights"
    return [(ops, view.ops_label), (par, view.par_label),
            (other_par, "weights (conv/FC only)" if other_par == "weights" else "params (PyTorch)"),
            *((q, _LABELS[q]) for q in ("elementwise", "comparisons", "activations", "memory", "bytes"))]


def _total_cells(cmp: Any, view: View) -> list[list[str]]:
    """One row per quantity: its label, then each network's total and (after the first) its
    ratio to the first network."""
    ratios = [cmp.ratios(i) for i in range(len(cmp.results))]
    body = []
    for q, label in _rows(view):
        cells = [label]
        for i, r in enumerate(cmp.results):
            cells.append(pretty(quantity(r.totals, q, view.dtype_bytes), True))
            if i:
                cells.append(ratio_text(ratios[i][q]))
        body.append(cells)
    return body


def _long_rows(view: View) -> list[tuple[str, str]]:
    """Columns of a long sweep table: short labels, so that a row fits a 120-column terminal."""
    ops = "flops" if view.units == "flops" else "macs"
    par = "weights" if view.params == "weights" else "params"
    return [(ops, view.ops_label), (par, view.par_label), ("elementwise", "elementwise"),
            ("comparisons", "comparisons"), ("activations", "activations"),
            ("bytes", f"bytes ({view.dtype_bytes} B/elt)")]


def ratio_json(x: Any) -> Any:
    if x is None:
        return None
    if is_int(x) or isinstance(x, Fraction):
        return float(x)
    return to_json(x)


def ratio_text(x: Any) -> str:
    if x is None:
        return "—"
    if is_int(x) or isinstance(x, Fraction):
        return f"{float(x):.2f}×"
    return pretty(x)


def _title(r: Any) -> str:
    """Column header: the network's name, then one variable per line (keeps columns narrow)."""
    vars_ = "\n".join(f"{k}={pretty(v).replace(',', '')}" for k, v in r.spec.vars.items())
    return r.spec.name + (f"\n[dim]{vars_}[/]" if vars_ else "")


def _plain_title(r: Any) -> str:
    vars_ = ", ".join(f"{k}={pretty(v).replace(',', '')}" for k, v in r.spec.vars.items())
    return r.spec.name + (f" ({vars_})" if vars_ else "")


# ----------------------------------------------------------------------------------------------
# compare


def compare_json(cmp: Compared, view: View = View()) -> dict[str, Any]:
    from costcalc.render.net import _by_type_sorted

    nets = []
    for i, r in enumerate(cmp.results):
        nets.append({
            "name": r.spec.name,
            "source": r.spec.source,
            "vars": {k: var_json(v) for k, v in r.spec.vars.items()},
            "totals": cost_json(r.totals, view.dtype_bytes),
            "by_type": {k: cost_json(v, view.dtype_bytes) for k, v in _by_type_sorted(r)},
            "ratio_to_first": {q: ratio_json(v) for q, v in cmp.ratios(i).items()},
        })
    return {"convention": CONVENTION, "dtype_bytes": view.dtype_bytes, "networks": nets}


def compare_tables(cmp: Compared, view: View = View()) -> list[Any]:
    """Totals side by side with the ratio to the first network, then MACs and params by type."""
    from rich.table import Table

    first = cmp.results[0]
    totals = Table(title=f"[bold]totals[/] (ratio: × {first.spec.name})", title_justify="left",
                   caption=CONVENTION, caption_justify="left")
    body = _total_cells(cmp, view)
    widths = [max(len(row[j]) for row in body) for j in range(len(body[0]))]
    totals.add_column("", min_width=widths[0])
    j = 1
    for i, r in enumerate(cmp.results):
        totals.add_column(_title(r), justify="right", min_width=widths[j])
        j += 1
        if i:
            totals.add_column("×", justify="right", style="cyan", min_width=widths[j])
            j += 1
    for cells in body:
        totals.add_row(*cells)
    out = [totals]
    cats = cmp.categories()
    for label, get in ((view.ops_label, view.ops), (view.par_label, view.par)):
        t = Table(title=f"[bold]{label} by layer type[/]", title_justify="left")
        body = []
        for cat in cats:
            if all(get(r.by_type[cat]) == 0 for r in cmp.results if cat in r.by_type):
                continue  # e.g. relu has no MACs and no params: it lives in the other-ops columns
            cells = [cat]
            for r in cmp.results:
                c = r.by_type.get(cat)
                if c is None:
                    cells += ["", ""]
                else:
                    s = share(get(c), get(r.totals))
                    cells += [pretty(get(c)), "—" if s is None else f"{100 * s:.1f}%"]
            body.append(cells)
        widths = [max([len(row[j]) for row in body] + [1]) for j in range(1 + 2 * len(cmp.results))]
        t.add_column("type", min_width=widths[0])
        for i, r in enumerate(cmp.results):
            t.add_column(_title(r), justify="right", min_width=widths[1 + 2 * i])
            t.add_column("%", justify="right", style="dim", min_width=widths[2 + 2 * i])
        for cells in body:
            t.add_row(*cells)
        out.append(t)
    return out


def compare_csv(cmp: Compared, view: View = View()) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["name", "source", "vars", *QUANTITIES, *(f"{q}_ratio" for q in QUANTITIES)])
    for i, r in enumerate(cmp.results):
        c = cost_json(r.totals, view.dtype_bytes)
        ratios = cmp.ratios(i)
        w.writerow([r.spec.name, r.spec.source, ";".join(f"{k}={var_json(v)}" for k, v in r.spec.vars.items()),
                    *(c[q] for q in QUANTITIES), *(ratio_json(ratios[q]) for q in QUANTITIES)])
    return out.getvalue()


def compare_markdown(cmp: Compared, view: View = View()) -> str:
    first = cmp.results[0]
    head = ["| |"] + [f" {_plain_title(r)} |" + (" × |" if i else "") for i, r in enumerate(cmp.results)]
    lines = ["".join(head), "|---|" + "|".join("--:" if i == 0 else "--:|--:" for i in range(len(cmp.results))) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in _total_cells(cmp, view)]
    lines += ["", f"Ratios (×) are to {_plain_title(first)}.", ""]
    for label, get in ((view.ops_label, view.ops), (view.par_label, view.par)):
        lines += [f"| {label} by type | " + " | ".join(f"{_plain_title(r)} | %" for r in cmp.results) + " |",
                  "|---|" + "--:|--:|" * len(cmp.results)]
        for cat in cmp.categories():
            if all(get(r.by_type[cat]) == 0 for r in cmp.results if cat in r.by_type):
                continue
            cells = [cat]
            for r in cmp.results:
                c = r.by_type.get(cat)
                s = share(get(c), get(r.totals)) if c is not None else None
                cells += ["" if c is None else pretty(get(c)), "" if s is None else f"{100 * s:.1f}%"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(f"_{CONVENTION}_")
    return "\n".join(lines) + "\n"


def compare_latex(cmp: Compared, view: View = View()) -> str:
    def esc(s: str) -> str:
        return s.replace("_", r"\_").replace("&", r"\&").replace("%", r"\%").replace("#", r"\#")

    def tex(v: Any) -> str:
        if is_int(v):
            return f"{v:,}".replace(",", "{,}")
        import sympy

        return f"${sympy.latex(v)}$"

    n = len(cmp.results)
    ratios = [cmp.ratios(i) for i in range(n)]
    lines = [r"\begin{tabular}{l" + "r" * (2 * n - 1) + "}", r"\hline",
             " & ".join([""] + [esc(_plain_title(r)) + (r" & $\times$" if i else "")
                                for i, r in enumerate(cmp.results)]) + r" \\", r"\hline"]
    for q, label in _rows(view):
        cells = [esc(label)]
        for i, r in enumerate(cmp.results):
            cells.append(tex(quantity(r.totals, q, view.dtype_bytes)))
            if i:
                cells.append(esc(ratio_text(ratios[i][q])).replace("×", r"$\times$"))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


COMPARE_RENDERERS = {"csv": compare_csv, "markdown": compare_markdown, "latex": compare_latex}


# ----------------------------------------------------------------------------------------------
# sweep


def sweep_json(sw: Sweep, view: View = View()) -> dict[str, Any]:
    return {
        "name": sw.name,
        "source": sw.source,
        "swept": sw.axes,
        "fixed": sw.fixed,
        "convention": CONVENTION,
        "dtype_bytes": view.dtype_bytes,
        "points": [{"vars": {k: var_json(v) for k, v in p.vars.items()}, "totals": cost_json(p.totals, view.dtype_bytes)}
                   for p in sw.points],
    }


def sweep_csv(sw: Sweep, view: View = View()) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    names = list(sw.points[0].vars) if sw.points else list(sw.axes)
    w.writerow([*names, *QUANTITIES])
    for p in sw.points:
        c = cost_json(p.totals, view.dtype_bytes)
        w.writerow([*(var_json(p.vars[k]) for k in names), *(c[q] for q in QUANTITIES)])
    return out.getvalue()


def _sweep_header(sw: Sweep) -> str:
    fixed = ", ".join(f"{k}={v}" for k, v in sw.fixed.items())
    return f"{sw.name}" + (f" ({fixed})" if fixed else "")


def sweep_tables(sw: Sweep, view: View = View()) -> list[Any]:
    """Two swept variables: one grid per quantity (rows: the first variable, columns: the second).
    Otherwise a long table, one row per point with every total."""
    from rich.table import Table

    axes = list(sw.axes)
    if len(axes) == 2:
        a, b = axes
        grid = sw.grid()
        out = []
        for label, get in ((view.ops_label, view.ops), (view.par_label, view.par)):
            t = Table(title=f"[bold]{_sweep_header(sw)}: {label}[/]", title_justify="left")
            t.add_column(f"{a} \\ {b}")
            for vb in sw.axes[b]:
                t.add_column(vb, justify="right")
            for va in sw.axes[a]:
                t.add_row(va, *(pretty(get(grid[(va, vb)].totals), True) for vb in sw.axes[b]))
            out.append(t)
        return out
    t = Table(title=f"[bold]{_sweep_header(sw)}[/]", title_justify="left", caption=CONVENTION, caption_justify="left")
    for k in axes:
        t.add_column(k, no_wrap=True)
    rows = _long_rows(view)
    for _, label in rows:
        t.add_column(label, justify="right", no_wrap=True)
    for p in sw.points:
        t.add_row(*(p.swept[k] for k in axes), *(pretty(quantity(p.totals, q, view.dtype_bytes), True) for q, _ in rows))
    return [t]


def sweep_markdown(sw: Sweep, view: View = View()) -> str:
    axes = list(sw.axes)
    lines = [f"**{_sweep_header(sw)}**", ""]
    if len(axes) == 2:
        a, b = axes
        grid = sw.grid()
        for label, get in ((view.ops_label, view.ops), (view.par_label, view.par)):
            lines += [f"| {label}: {a} \\ {b} | " + " | ".join(sw.axes[b]) + " |",
                      "|---|" + "--:|" * len(sw.axes[b])]
            for va in sw.axes[a]:
                lines.append(f"| {va} | " + " | ".join(pretty(get(grid[(va, vb)].totals), True)
                                                       for vb in sw.axes[b]) + " |")
            lines.append("")
    else:
        rows = _long_rows(view)
        lines += ["| " + " | ".join([*axes, *(label for _, label in rows)]) + " |",
                  "|" + "---|" * len(axes) + "--:|" * len(rows)]
        for p in sw.points:
            lines.append("| " + " | ".join([*(p.swept[k] for k in axes),
                                            *(pretty(quantity(p.totals, q, view.dtype_bytes), True) for q, _ in rows)])
                         + " |")
        lines.append("")
    lines.append(f"_{CONVENTION}_")
    return "\n".join(lines) + "\n"


SWEEP_RENDERERS = {"csv": sweep_csv, "markdown": sweep_markdown}
