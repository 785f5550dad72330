"""Pictures of costs with matplotlib (the optional extra ``costcalc[plot]``).

- :func:`plot_network`: per top-level layer/block, MACs and params as horizontal bars stacked by
  layer category, above the by-type shares.
- :func:`plot_sweep`: totals against the first swept variable, one line per value of the second.
- :func:`plot_compare`: networks side by side (totals stacked by type) and every total relative to
  the first network.

matplotlib is imported only here, with the non-interactive Agg backend; the format follows the
output file's suffix (.png, .svg, .pdf).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from costcalc.cost import Cost
from costcalc.errors import CostcalcError, UsageError
from costcalc.explore import quantity, ratio
from costcalc.num import is_int, pretty
from costcalc.render.view import View

#: the install hint, as the README's set-up installs the extra from the source tree
NEEDS_MATPLOTLIB = "costcalc plot needs matplotlib: pip install -e '.[plot]' in the costcalc tree"
SUFFIXES = (".png", ".svg", ".pdf")

#: most x tick labels a sweep plot shows (more values: matplotlib chooses the ticks)
MAX_TICKS = 12

#: figure geometry (inches)
WIDTH = 12.0
BAR_HEIGHT = 0.24  # per layer bar
MIN_HEIGHT = 3.0


def check_output(path: str) -> None:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"-o {path}: unknown image format {suffix or '(no suffix)'!r}; use "
                         f"{', '.join(SUFFIXES)}")


def require_matplotlib() -> Any:
    """Import matplotlib with the Agg backend, or fail with the one-line install hint."""
    try:
        import matplotlib
    except ImportError:
        raise CostcalcError(NEEDS_MATPLOTLIB) from None
    matplotlib.use("Agg", force=True)
    matplotlib.rcParams["svg.hashsalt"] = "costcalc"  # stable SVG ids: the same input gives the same file
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------------------------------------
# helpers


def _numeric(value: Any, what: str) -> int:
    if not is_int(value):
        raise UsageError(f"plot needs numbers, but {what} is a formula ({pretty(value)}); "
                         "give every variable a number with --set")
    return value


def scale(values: Sequence[float]) -> tuple[float, str]:
    """A divisor and its name for axis labels: (1e6, "millions") for values up to a few billion."""
    top = max((abs(v) for v in values), default=0)
    for div, name in ((1e9, "billions"), (1e6, "millions"), (1e3, "thousands")):
        if top >= div:
            return div, name
    return 1.0, ""


def _label(what: str, unit: str) -> str:
    return f"{what} ({unit})" if unit else what


def _human(v: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


#: Categories of the seed networks get the same colour in every figure; others take the rest in order.
PREFERRED = ("conv 1×1", "depthwise 3×3", "conv 3×3", "fc", "batchnorm", "grouped conv 1×1", "conv 7×7",
             "grouped conv 3×3", "depthwise 5×5", "conv 5×5")


def _colors(categories: Sequence[str]) -> dict[str, Any]:
    """One colour per category: fixed for the common ones (tab10), then tab20's lighter shades."""
    import matplotlib

    palette = list(matplotlib.colormaps["tab10"].colors) + list(matplotlib.colormaps["tab20"].colors[1::2])
    out = {c: palette[i] for i, c in enumerate(PREFERRED) if c in categories}
    spare = iter(palette[len(PREFERRED):] + palette)
    for c in categories:
        if c not in out:
            out[c] = next(spare)
    return out


def _share_text(s: float) -> str:
    return f" {s:.1f}%" if s == 0 or s >= 0.05 else " <0.1%"


def _save(fig: Any, path: str, dpi: int) -> None:
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=dpi, metadata=_metadata(path))
    except OSError as e:
        raise CostcalcError(f"-o {path}: cannot write: {e.strerror or e}") from None
    finally:
        plt.close(fig)


def _metadata(path: str) -> dict[str, Any]:
    # no timestamps or version strings: the same input gives the same file
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".svg":
        return {"Date": None, "Creator": "costcalc"}
    if suffix == ".pdf":
        return {"CreationDate": None, "ModDate": None, "Creator": "costcalc", "Producer": "costcalc"}
    return {"Software": "costcalc"}


def _categories_by_size(parts: Sequence[dict[str, Cost]], view: View) -> list[str]:
    """Categories that cost anything (ops or params), largest ops first."""
    acc: dict[str, tuple[int, int]] = {}
    for p in parts:
        for cat, c in p.items():
            o, q = acc.get(cat, (0, 0))
            acc[cat] = (o + view.ops(c), q + view.par(c))
    return [c for c, (o, q) in sorted(acc.items(), key=lambda kv: (-kv[1][0], -kv[1][1])) if o or q]


def _stacked(ax: Any, labels: Sequence[str], parts: Sequence[dict[str, Cost]], cats: Sequence[str],
             colors: dict[str, Any], get: Any, div: float) -> None:
    """Horizontal bars, one per label, stacked by category in ``cats`` order."""
    import numpy as np

    y = np.arange(len(labels))
    left = np.zeros(len(labels))
    for cat in cats:
        widths = np.array([get(p[cat]) / div if cat in p else 0.0 for p in parts])
        if widths.any():
            ax.barh(y, widths, left=left, height=0.75, color=colors[cat], label=cat, linewidth=0)
        left += widths
    ax.set_yticks(y, labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first layer on top
    ax.set_xlim(0, max(float(left.max()), 1e-9) * 1.04)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _title(net: Any) -> str:
    from costcalc.render.net import title

    return title(net)


# ----------------------------------------------------------------------------------------------
# one network


def top_level(result: Any) -> tuple[list[str], list[dict[str, Cost]]]:
    """Top-level (depth 0) layers and blocks with their cost split by leaf category."""
    labels: list[str] = []
    parts: list[dict[str, Cost]] = []
    for r in result.rows:
        if r.depth == 0:
            labels.append(r.path)
            parts.append({})
        if r.leaf:
            d = parts[-1]
            d[r.category] = d.get(r.category, Cost()) + r.cost
    return labels, parts


def plot_network(result: Any, path: str, view: View = View(), dpi: int = 110) -> None:
    """Per-layer MACs and params stacked by category (a legend names the colours), with the by-type
    shares below. ``result``: a :class:`~costcalc.results.Network` (or a bare NetResult)."""
    from costcalc.render.net import as_network

    net = as_network(result)
    result = net.result
    plt = require_matplotlib()
    total_ops = _numeric(view.ops(result.totals), view.ops_label)
    total_par = _numeric(view.par(result.totals), view.par_label)
    labels, parts = top_level(result)
    cats = _categories_by_size(parts, view)
    colors = _colors(cats)
    ops_div, ops_unit = scale([sum(view.ops(c) for c in p.values()) for p in parts])
    par_div, par_unit = scale([sum(view.par(c) for c in p.values()) for p in parts])

    top_h = max(MIN_HEIGHT, BAR_HEIGHT * len(labels) + 1.0)
    bottom_h = max(1.6, 0.28 * len(cats) + 0.9)
    fig = plt.figure(figsize=(WIDTH, top_h + bottom_h + 0.9), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[top_h, bottom_h])
    ax_ops = fig.add_subplot(grid[0, 0])
    ax_par = fig.add_subplot(grid[0, 1], sharey=ax_ops)
    _stacked(ax_ops, labels, parts, cats, colors, view.ops, ops_div)
    _stacked(ax_par, labels, parts, cats, colors, view.par, par_div)
    ax_par.tick_params(labelleft=False)
    handles, names = ax_ops.get_legend_handles_labels()
    seen = dict(zip(names, handles))
    for h, lab in zip(*ax_par.get_legend_handles_labels()):
        seen.setdefault(lab, h)
    ordered = [c for c in cats if c in seen]
    if ordered:
        ax_par.legend([seen[c] for c in ordered], ordered, fontsize=8, frameon=False, loc="lower right",
                      title="layer type", title_fontsize=8)
    ax_ops.set_xlabel(_label(view.ops_label, ops_unit))
    ax_par.set_xlabel(_label(view.par_label, par_unit))
    ax_ops.set_title(f"{view.ops_label} per layer (total {_human(total_ops)})", loc="left", fontsize=10)
    ax_par.set_title(f"{view.par_label} per layer (total {_human(total_par)})", loc="left", fontsize=10)
    fontsize = 9 if len(labels) <= 40 else 8
    ax_ops.tick_params(axis="y", labelsize=fontsize)

    by_type = {cat: result.by_type.get(cat, Cost()) for cat in cats}
    for col, (label, get, tot) in enumerate(((view.ops_label, view.ops, total_ops),
                                             (view.par_label, view.par, total_par))):
        ax = fig.add_subplot(grid[1, col])
        shares = [100 * get(by_type[c]) / tot if tot else 0.0 for c in cats]
        y = range(len(cats))
        ax.barh(list(y), shares, color=[colors[c] for c in cats], height=0.7)
        ax.set_yticks(list(y), cats if col == 0 else [""] * len(cats))
        ax.set_ylim(len(cats) - 0.5, -0.5)
        ax.set_xlim(0, max(shares + [1.0]) * 1.18)
        for yi, s in zip(y, shares):
            ax.text(s, yi, _share_text(s), va="center", fontsize=8)
        ax.set_xlabel(f"share of {label} (%)")
        ax.set_title(f"{label} by layer type", loc="left", fontsize=10)
        ax.tick_params(axis="y", labelsize=9)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.suptitle(f"{_title(net)}: {_human(total_ops)} {view.ops_label}, {_human(total_par)} {view.par_label}",
                 fontsize=12, fontweight="bold")
    _save(fig, path, dpi)


# ----------------------------------------------------------------------------------------------
# sweep


def _axis_values(values: Sequence[str]) -> tuple[list[float], bool]:
    """Numbers for the x axis when every value is a number; else positions 0..n-1."""
    from fractions import Fraction

    from costcalc.expr import parse_number

    nums = [parse_number(v) for v in values]
    if all(n is not None for n in nums):
        return [float(Fraction(n)) for n in nums], True  # type: ignore[arg-type]
    return [float(i) for i in range(len(values))], False


def plot_sweep(sw: Any, path: str, view: View = View(), dpi: int = 110) -> None:
    """Totals against the first swept variable, one line per value of the second."""
    sw = getattr(sw, "sweep", sw)  # a SweepResult or an explore.Sweep
    plt = require_matplotlib()
    axes = list(sw.axes)
    if not 1 <= len(axes) <= 2:
        raise UsageError(f"plot --sweep draws one or two swept variables, got {len(axes)}"
                         + (f" ({', '.join(axes)})" if axes else " (give a list: --set NAME=V1,V2,...)"))
    xname = axes[0]
    xs, numeric = _axis_values(sw.axes[xname])
    lines = sw.axes[axes[1]] if len(axes) == 2 else [None]
    grid = sw.grid()
    fig, (ax_ops, ax_par) = plt.subplots(1, 2, figsize=(WIDTH, 4.8), layout="constrained")
    for ax, label, get in ((ax_ops, view.ops_label, view.ops), (ax_par, view.par_label, view.par)):
        series = []
        for lv in lines:
            key = (lambda xv: (xv, lv)) if lv is not None else (lambda xv: (xv,))
            series.append([_numeric(get(grid[key(xv)].totals), label) for xv in sw.axes[xname]])
        div, unit = scale([v for s in series for v in s])
        cmap = plt.get_cmap("viridis")
        for j, (lv, ys) in enumerate(zip(lines, series)):
            color = cmap(0.1 + 0.8 * j / max(1, len(lines) - 1)) if len(lines) > 1 else "C0"
            ax.plot(xs, [v / div for v in ys], marker="o", color=color,
                    label=f"{axes[1]} = {lv}" if lv is not None else None)
        ax.set_xlabel(xname)
        ax.set_ylabel(_label(label, unit))
        ax.set_title(f"{label} against {xname}", loc="left", fontsize=10)
        if len(xs) <= MAX_TICKS:
            ax.set_xticks(xs, sw.axes[xname])  # every value, as the user wrote it
        elif not numeric:  # categories: every k-th label, so that labels never run into each other
            step = -(-len(xs) // MAX_TICKS)
            ax.set_xticks(xs[::step], sw.axes[xname][::step])
        # many numeric values: matplotlib's own ticks (a label per point would overlap)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if len(lines) > 1:
        ax_ops.legend(title=None, fontsize=9, frameon=False)
    fixed = ", ".join(f"{k}={v}" for k, v in sw.fixed.items())
    fig.suptitle(f"{sw.name}: sweep of {' × '.join(axes)}" + (f" ({fixed})" if fixed else ""),
                 fontsize=12, fontweight="bold")
    _save(fig, path, dpi)


# ----------------------------------------------------------------------------------------------
# compare


RATIO_QUANTITIES = ("ops", "par", "elementwise", "comparisons", "activations", "memory")


def plot_compare(cmp: Any, path: str, view: View = View(), dpi: int = 110) -> None:
    """Totals per network stacked by type, and every total relative to the first network."""
    import numpy as np

    plt = require_matplotlib()
    results = cmp.results
    import textwrap

    from costcalc.render.text import vars_text

    short = [r.spec.name for r in results]
    if len(set(short)) < len(short):  # the same network twice: tell them apart by position
        short = [f"{i + 1}. {n}" for i, n in enumerate(short)]
    shown = [getattr(n, "shown_vars", None) or n.spec.vars for n in getattr(cmp, "networks", results)]
    names = [n + ("\n" + textwrap.fill(vars_text(v), 26) if v else "") for n, v in zip(short, shown)]
    for r in results:
        _numeric(view.ops(r.totals), f"{view.ops_label} of {r.spec.name}")
        _numeric(view.par(r.totals), f"{view.par_label} of {r.spec.name}")
    parts = [r.by_type for r in results]
    cats = _categories_by_size(parts, view)
    colors = _colors(cats)
    n = len(results)
    top_h = max(2.6, 0.55 * n + 1.2)
    fig = plt.figure(figsize=(WIDTH, top_h + 3.9), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[top_h, 3.9])
    ax_ops = fig.add_subplot(grid[0, 0])
    ax_par = fig.add_subplot(grid[0, 1], sharey=ax_ops)
    for ax, label, get in ((ax_ops, view.ops_label, view.ops), (ax_par, view.par_label, view.par)):
        totals = [get(r.totals) for r in results]
        div, unit = scale(totals)
        _stacked(ax, names, parts, cats, colors, get, div)
        ax.set_xlabel(_label(label, unit))
        ax.set_title(f"total {label}, by layer type", loc="left", fontsize=10)
        ax.set_xlim(0, max(totals) / div * 1.3 if max(totals) else 1)
        for i, t in enumerate(totals):
            rel = ratio(t, totals[0])
            text = f" {_human(t)}" + (f"  ({float(rel):.2f}×)" if i and rel is not None else "")
            ax.text(t / div, i, text, va="center", fontsize=8)
    ax_par.tick_params(labelleft=False)
    ax_ops.tick_params(axis="y", labelsize=9)
    handles, labels = ax_ops.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    for h, lab in zip(*ax_par.get_legend_handles_labels()):
        seen.setdefault(lab, h)
    ordered = [c for c in cats if c in seen]
    ax_par.legend([seen[c] for c in ordered], ordered, fontsize=8, frameon=False, loc="lower right",
                  bbox_to_anchor=(1.0, 1.08), ncols=min(4, len(ordered)))

    ax = fig.add_subplot(grid[1, :])
    labels = {"ops": view.ops_label, "par": view.par_label, "elementwise": "elementwise ops",
              "comparisons": "comparisons", "activations": "activation\nelements", "memory": "memory\naccess"}
    x = np.arange(len(RATIO_QUANTITIES))
    width = 0.8 / n
    net_colors = plt.get_cmap("Set2").colors
    for i, r in enumerate(results):
        vals = []
        for q in RATIO_QUANTITIES:
            get = view.ops if q == "ops" else view.par if q == "par" else (lambda c, q=q: quantity(c, q))
            rel = ratio(_numeric(get(r.totals), q), _numeric(get(results[0].totals), q))
            vals.append(float(rel) if rel is not None else np.nan)
        bars = ax.bar(x - 0.4 + width * (i + 0.5), vals, width * 0.92, color=net_colors[i % len(net_colors)],
                      label=short[i])
        if n <= 4:
            ax.bar_label(bars, labels=[f"{v:.2f}" if v == v else "" for v in vals], fontsize=7, padding=2)
    ax.axhline(1.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, [labels[q] for q in RATIO_QUANTITIES])
    ax.set_ylabel(f"relative to {results[0].spec.name} (×)")
    ax.set_title(f"every total relative to {results[0].spec.name}", loc="left", fontsize=10)
    ax.margins(y=0.15)
    ax.legend(fontsize=8, frameon=False, ncols=min(3, n), loc="upper left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.suptitle("comparison: " + " vs ".join(r.spec.name for r in results), fontsize=12, fontweight="bold")
    _save(fig, path, dpi)
