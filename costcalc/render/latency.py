"""Render a :class:`~costcalc.latency.Latency` (and, with ``--measure``, a measurement beside it):
rich tables, JSON, CSV, Markdown; the compare columns; the roofline plot.

Times are shown in microseconds per layer and milliseconds in total. The by-type table puts each
category's share of time beside its share of MACs: the answer to "why is it fast (or slow)".
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any, Sequence

from costcalc.engine import Row
from costcalc.latency import ASSUMPTIONS, Latency, LayerTime

#: the columns of the CSV output
CSV_FIELDS = ("path", "type", "category", "op_class", "depth", "leaf", "macs", "flops", "bytes", "intensity",
              "bound", "level", "predicted_us", "share", "measured_us")


@dataclass(frozen=True)
class LatencyView:
    """What to show: rows down to ``depth`` (None: all), or the ``top`` N slowest layers."""

    depth: int | None = None
    top: int | None = None


def us(seconds: float | None) -> str:
    """Seconds as microseconds for a table cell: 3 significant digits below 100 µs."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    v = seconds * 1e6
    if v == 0:
        return "0"
    if v < 10:
        return f"{v:.2f}"
    if v < 100:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _pct(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def _intensity(lt: LayerTime) -> str:
    i = lt.intensity
    if i is None:
        return "—"
    return f"{i:.3g}"


def _measured_of(measured: Any, path: str, lat: Latency) -> float | None:
    """Measured seconds of a row (a leaf's own, or the sum of a block's leaves)."""
    if measured is None:
        return None
    layers = measured.layers
    if path in layers:
        return layers[path].seconds
    prefix = path + "."
    parts = [t.seconds for p, t in layers.items() if p.startswith(prefix)]
    return sum(parts) if parts else None


def visible(lat: Latency, view: LatencyView) -> list[tuple[Row, LayerTime | None]]:
    """(row, its leaf time or None for a block/group) in table order."""
    by_path = {lt.path: lt for lt in lat.layers}
    if view.top:
        slow = sorted(lat.layers, key=lambda lt: -lt.time_s)[: view.top]
        rows = {r.path: r for r in lat.rows if r.leaf}
        return [(rows[lt.path], lt) for lt in slow]
    out = []
    for r in lat.rows:
        if view.depth is not None and r.depth > view.depth:
            continue
        out.append((r, by_path.get(r.path) if r.leaf else None))
    return out


def _name(r: Row, view: LatencyView) -> str:
    if view.top:
        return r.path
    parts = r.path.rsplit(".", 2)
    label = ".".join(parts[-2:]) if len(parts) > 1 and parts[-1].isdigit() else parts[-1]
    return "  " * r.depth + label


def _title(lat: Latency) -> str:
    return f"{lat.name} on {lat.device.name} ({lat.dtype})"


def layer_table(lat: Latency, measured: Any = None, view: LatencyView = LatencyView()) -> Any:
    from rich.table import Table

    total = lat.total_s
    from rich.markup import escape

    t = Table(title=f"[bold]{escape(_title(lat))}[/]: predicted latency", title_justify="left", show_footer=True)
    t.add_column("layer", footer="total")
    t.add_column("type")
    t.add_column("class")
    t.add_column("MACs", justify="right", footer=f"{lat.total_macs:,}")
    t.add_column("FLOP/B", justify="right")
    t.add_column("bound")
    t.add_column("pred µs", justify="right", footer=us(total))
    t.add_column("% time", justify="right", footer="100%")
    if measured is not None:
        t.add_column("meas µs", justify="right", footer=us(measured.layer_sum))
        t.add_column("meas/pred", justify="right",
                     footer=f"{measured.layer_sum / total:.2f}" if total else "—")
    for r, lt in visible(lat, view):
        pred = lt.time_s if lt is not None else lat.subtotal(r.path)
        cells = [_name(r, view), r.type, lt.op_class if lt else "", f"{int(r.cost.macs):,}",
                 _intensity(lt) if lt else "", (lt.bound if lt.fused_into is None else "fused") if lt else "",
                 us(pred), _pct(pred / total if total else None)]
        if measured is not None:
            m = _measured_of(measured, r.path, lat)
            cells += [us(m), f"{m / pred:.2f}" if m is not None and pred else "—"]
        t.add_row(*cells, style=None if r.leaf else "bold")
    return t


def by_type_rows(lat: Latency, measured: Any = None) -> list[tuple[str, int, float, float | None]]:
    """(category, MACs, predicted seconds, measured seconds) per layer category, slowest first."""
    out = []
    meas: dict[str, float] = {}
    if measured is not None:
        for lt in lat.layers:
            t = measured.layers.get(lt.path)
            if t is not None:
                meas[lt.category] = meas.get(lt.category, 0.0) + t.seconds
    for cat, (macs, secs) in lat.by("category").items():
        out.append((cat, macs, secs, meas.get(cat) if measured is not None else None))
    return out


def by_type_table(lat: Latency, measured: Any = None) -> Any:
    from rich.table import Table

    total_macs, total = lat.total_macs, lat.total_s
    msum = measured.layer_sum if measured is not None else None
    t = Table(title="[bold]by layer type[/]: share of time beside share of MACs", title_justify="left")
    for col in ("type", "MACs", "% MACs", "pred ms", "% time (pred)"):
        t.add_column(col, justify="left" if col == "type" else "right")
    if measured is not None:
        t.add_column("meas ms", justify="right")
        t.add_column("% time (meas)", justify="right")
    for cat, macs, secs, m in by_type_rows(lat, measured):
        cells = [cat, f"{macs:,}", _pct(macs / total_macs if total_macs else None), f"{secs * 1e3:.3f}",
                 _pct(secs / total if total else None)]
        if measured is not None:
            cells += ["—" if m is None else f"{m * 1e3:.3f}", _pct(m / msum if m is not None and msum else None)]
        t.add_row(*cells)
    return t


def headline(lat: Latency) -> str:
    """One sentence: the category whose share of time most exceeds its share of MACs."""
    total_macs, total = lat.total_macs, lat.total_s
    if not total_macs or not total:
        return ""
    best = None
    for cat, macs, secs, _ in by_type_rows(lat):
        gap = secs / total - macs / total_macs
        if best is None or gap > best[0]:
            best = (gap, cat, macs / total_macs, secs / total)
    if best is None or best[0] <= 0:
        return ""
    _, cat, sm, st = best
    return f"{cat} is {100 * sm:.1f} % of MACs and {100 * st:.1f} % of the predicted time."


def notes(lat: Latency, measured: Any = None) -> list[str]:
    d = lat.device
    out = [f"device: {d.name} [{d.file}]" if d.file else f"device: {d.name}",
           f"dtype {lat.dtype}, {lat.dtype_bytes} bytes/element; fused: {', '.join(sorted(d.fuse)) or 'nothing'}",
           ASSUMPTIONS]
    out += lat.notes
    if measured is not None:
        c = measured.conditions
        out.append(f"measured: {c.cpu}, {c.threads} thread(s), pinned to CPU {c.pinned}, PyTorch {c.torch}, "
                   f"{c.clock} clock, load average {c.load_before:.2f} → {c.load_after:.2f} on {c.cores} cores; "
                   f"whole network {ms(measured.total.seconds)} (round spread {100 * measured.total.spread:.0f} %), "
                   f"sum of layers timed inside it {ms(measured.layer_sum)}; BatchNorm folded into "
                   f"{len(measured.folded)} convs")
        if measured.untimed:
            out.append(f"not timed (no module of their own): {', '.join(measured.untimed[:5])}"
                       + (" …" if len(measured.untimed) > 5 else ""))
        w = c.warning()
        if w:
            out.append(f"WARNING: {w}")
    return out


def print_latency(lat: Latency, console: Any, measured: Any = None, view: LatencyView = LatencyView()) -> None:
    console.print(layer_table(lat, measured, view))
    console.print(by_type_table(lat, measured))
    total = f"predicted {ms(lat.total_s)}"
    if measured is not None:
        total += (f"; measured {ms(measured.total.seconds)} (predicted/measured "
                  f"{lat.total_s / measured.total.seconds:.2f})")
    from rich.markup import escape as esc

    console.print(f"[bold]{esc(lat.name)}: {total}[/]")
    h = headline(lat)
    if h:
        console.print(h)
    from rich.markup import escape

    for n in notes(lat, measured):
        console.print(f"[dim]{escape(n)}[/]" if not n.startswith("WARNING") else f"[bold yellow]{escape(n)}[/]")


def latency_json(lat: Latency, measured: Any = None) -> dict[str, Any]:
    d = lat.device
    doc: dict[str, Any] = {
        "name": lat.name,
        "device": {"name": d.name, "file": d.file, "dtype": lat.dtype, "dtype_bytes": lat.dtype_bytes,
                   "fuse": sorted(d.fuse)},
        "assumptions": ASSUMPTIONS,
        "predicted_s": lat.total_s,
        "macs": lat.total_macs,
        "layers": [_layer_json(lt, measured) for lt in lat.layers],
        "by_type": [{"type": cat, "macs": macs, "predicted_s": secs, **({"measured_s": m} if measured else {})}
                    for cat, macs, secs, m in by_type_rows(lat, measured)],
        "notes": lat.notes,
    }
    if measured is not None:
        doc["measured"] = {"total_s": measured.total.seconds, "rounds_s": list(measured.total.rounds),
                           "layer_sum_s": measured.layer_sum, "folded_batchnorm": measured.folded,
                           "conditions": measured.conditions.as_dict(), "busy": measured.conditions.busy}
    return doc


def _layer_json(lt: LayerTime, measured: Any) -> dict[str, Any]:
    e = lt.estimate
    d: dict[str, Any] = {
        "path": lt.path, "type": lt.type, "category": lt.category, "op_class": lt.op_class, "macs": lt.macs,
        "flops": lt.flops, "bytes": lt.bytes, "intensity": lt.intensity, "bound": lt.bound,
        "predicted_s": lt.time_s, "fused_into": lt.fused_into,
    }
    if e is not None:
        d.update({"compute_s": e.compute_s, "memory_s": e.memory_s, "overhead_s": e.overhead_s, "level": e.level,
                  "attainable_flops_per_s": lt.attainable})
    if measured is not None:
        t = measured.layers.get(lt.path)
        d["measured_s"] = None if t is None else t.seconds
    return d


def latency_csv(lat: Latency, measured: Any = None, view: LatencyView = LatencyView()) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    total = lat.total_s
    for r, lt in visible(lat, view):
        pred = lt.time_s if lt is not None else lat.subtotal(r.path)
        m = _measured_of(measured, r.path, lat)
        w.writerow([r.path, r.type, r.category, lt.op_class if lt else "", r.depth, int(r.leaf), int(r.cost.macs),
                    lt.flops if lt else "", lt.bytes if lt else "",
                    "" if lt is None or lt.intensity is None else f"{lt.intensity:.6g}",
                    lt.bound if lt else "", lt.estimate.level if lt and lt.estimate else "",
                    f"{pred * 1e6:.3f}", f"{pred / total:.6f}" if total else "",
                    "" if m is None else f"{m * 1e6:.3f}"])
    return out.getvalue()


def latency_markdown(lat: Latency, measured: Any = None, view: LatencyView = LatencyView()) -> str:
    total = lat.total_s
    head = "| layer | type | class | MACs | FLOP/B | bound | pred µs | % time |"
    sep = "|---|---|---|--:|--:|---|--:|--:|"
    if measured is not None:
        head += " meas µs | meas/pred |"
        sep += "--:|--:|"
    lines = [f"**{_title(lat)}**: predicted {ms(total)}" + (f", measured {ms(measured.total.seconds)}"
                                                            if measured is not None else ""), "", head, sep]
    for r, lt in visible(lat, view):
        pred = lt.time_s if lt is not None else lat.subtotal(r.path)
        name = "&nbsp;&nbsp;" * r.depth + f"`{r.path.rsplit('.', 1)[-1] if not view.top else r.path}`"
        cells = [name, r.type, lt.op_class if lt else "", f"{int(r.cost.macs):,}", _intensity(lt) if lt else "",
                 lt.bound if lt else "", us(pred), _pct(pred / total if total else None)]
        if measured is not None:
            m = _measured_of(measured, r.path, lat)
            cells += [us(m), f"{m / pred:.2f}" if m is not None and pred else "—"]
        lines.append("| " + " | ".join(c if r.leaf else f"**{c}**" if c else c for c in cells) + " |")
    lines += ["", "| type | % MACs | % time (pred) |" + (" % time (meas) |" if measured is not None else ""),
              "|---|--:|--:|" + ("--:|" if measured is not None else "")]
    msum = measured.layer_sum if measured is not None else None
    for cat, macs, secs, m in by_type_rows(lat, measured):
        cells = [cat, _pct(macs / lat.total_macs if lat.total_macs else None), _pct(secs / total if total else None)]
        if measured is not None:
            cells.append(_pct(m / msum if m is not None and msum else None))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"_{n}_" for n in notes(lat, measured)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# compare --device: one latency row per network


def compare_rows(lats: Sequence[Latency]) -> list[dict[str, Any]]:
    first = lats[0].total_s
    out = []
    for lat in lats:
        top = by_type_rows(lat)[0] if lat.layers else None
        out.append({"name": lat.name, "macs": lat.total_macs, "predicted_s": lat.total_s,
                    "ratio_to_first": lat.total_s / first if first else None,
                    "slowest_type": top[0] if top else None,
                    "slowest_type_share": (top[2] / lat.total_s) if top and lat.total_s else None})
    return out


def compare_latency_table(lats: Sequence[Latency]) -> Any:
    from rich.table import Table

    d = lats[0].device
    t = Table(title=f"[bold]predicted latency[/] on {d.name} ({lats[0].dtype})", title_justify="left",
              caption="Roofline model per layer, summed (costcalc latency explains each network).",
              caption_justify="left")
    for col in ("network", "MACs", "pred ms", "× first", "MACs × first", "slowest type", "% time"):
        t.add_column(col, justify="left" if col in ("network", "slowest type") else "right")
    rows = compare_rows(lats)
    m0 = rows[0]["macs"]
    for r in rows:
        t.add_row(r["name"], f"{r['macs']:,}", f"{r['predicted_s'] * 1e3:.3f}", f"{r['ratio_to_first']:.3f}",
                  f"{r['macs'] / m0:.3f}" if m0 else "—", r["slowest_type"] or "", _pct(r["slowest_type_share"]))
    return t


def compare_latency_markdown(lats: Sequence[Latency]) -> str:
    rows = compare_rows(lats)
    m0 = rows[0]["macs"]
    lines = ["", f"Predicted latency on {lats[0].device.name} ({lats[0].dtype}):", "",
             "| network | MACs | pred ms | × first | MACs × first | slowest type | % time |",
             "|---|--:|--:|--:|--:|---|--:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['macs']:,} | {r['predicted_s'] * 1e3:.3f} | {r['ratio_to_first']:.3f} | "
                     f"{r['macs'] / m0:.3f} | {r['slowest_type'] or ''} | {_pct(r['slowest_type_share'])} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# costcalc plot --roofline


def plot_roofline(lat: Latency, output: str, dpi: int = 110) -> None:
    """Each layer as a point at (arithmetic intensity, predicted rate = FLOPs / predicted time, its
    efficiency and fixed overhead included) under the device's roofs min(peak, bandwidth × intensity)
    for the cache and DRAM levels: the distance below the roof is what the layer loses. Point area
    follows the layer's share of predicted time; colour its op class. Layers without arithmetic
    (concat, shuffle) and fused layers have no point."""
    from costcalc.render.plot import require_matplotlib

    plt = require_matplotlib()
    d = lat.device
    peak = d.peak_for(lat.dtype)
    pts = [lt for lt in lat.layers if lt.estimate is not None and lt.flops and lt.intensity and lt.time_s]
    fig, ax = plt.subplots(figsize=(9.0, 6.0))
    xs = [lt.intensity for lt in pts] or [1.0]
    lo, hi = min(xs + [peak / d.cache_bandwidth]) / 4, max(xs + [peak / d.dram_bandwidth]) * 4
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax.plot(grid, [min(peak, d.dram_bandwidth * x) / 1e9 for x in grid], color="black", lw=1.5,
            label=f"roof: DRAM {d.dram_bandwidth / 1e9:.3g} GB/s, peak {peak / 1e9:.3g} GFLOP/s")
    if d.cache_bandwidth != d.dram_bandwidth:
        ax.plot(grid, [min(peak, d.cache_bandwidth * x) / 1e9 for x in grid], color="grey", lw=1, ls="--",
                label=f"roof: cache {d.cache_bandwidth / 1e9:.3g} GB/s")
    total = lat.total_s or 1.0
    classes = sorted({lt.op_class for lt in pts})
    cmap = plt.get_cmap("tab10")
    for i, cls in enumerate(classes):
        mine = [lt for lt in pts if lt.op_class == cls]
        ax.scatter([lt.intensity for lt in mine], [lt.flops / lt.time_s / 1e9 for lt in mine],  # type: ignore[misc]
                   s=[12 + 600 * lt.time_s / total for lt in mine], color=cmap(i % 10), alpha=0.7,
                   edgecolors="none", label=cls)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    ax.set_ylabel("predicted rate: FLOPs / predicted time (GFLOP/s)")
    ax.set_title(f"{lat.name} on {d.name}: {ms(lat.total_s)} predicted\n(point area ∝ share of time)", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(output, dpi=dpi)
    plt.close(fig)


__all__ = ["LatencyView", "print_latency", "latency_json", "latency_csv", "latency_markdown",
           "compare_latency_table", "compare_latency_markdown", "compare_rows", "plot_roofline", "headline",
           "by_type_rows", "us", "ms"]
