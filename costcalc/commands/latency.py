"""``costcalc latency`` and ``costcalc calibrate``: predicted (and measured) time, layer by layer.

``latency`` needs only a device profile (a shipped preset or a file); ``--measure`` and
``calibrate`` run PyTorch on this machine's CPU (the ``[torch]`` extra).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from costcalc.commands.options import parse_sets
from costcalc.render.output import console as _console
from costcalc.errors import CostcalcError, UsageError

LATENCY_FORMATS = ("table", "json", "csv", "markdown")
NEEDS_TORCH = "{what} needs PyTorch: pip install 'costcalc[torch]'"


def _need_torch(what: str) -> None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
            import torch  # noqa: F401
    except ImportError:
        raise CostcalcError(NEEDS_TORCH.format(what=what)) from None


def device_option(f: Any) -> Any:
    """``--device NAME|FILE`` and ``--dtype``: shared by ``latency``, ``compare`` and ``plot``."""
    f = click.option("--dtype", default=None, metavar="DTYPE",
                     help="Data type (fp32, fp16, bf16, int8, ...): picks the profile's peak and the bytes per "
                          "element (default: the profile's dtype).")(f)
    return click.option("--device", "device", default=None, metavar="NAME|FILE",
                        help="Device profile: a preset (cortex-a76, intel-i7-1185g7, nvidia-a100) or a YAML "
                             "file, e.g. one written by `costcalc calibrate`.")(f)


def load_device_option(device: str | None, dtype: str | None) -> Any:
    """The profile named by ``--device`` (a usage error when missing), with ``--dtype`` checked."""
    from costcalc.devices import DTYPE_BYTES, load_device, presets

    if device is None:
        raise UsageError(f"--device is required: a preset ({', '.join(presets())}) or a profile file "
                         "(costcalc calibrate -o FILE writes one)")
    d = load_device(device)
    if dtype is not None:
        if dtype not in DTYPE_BYTES:
            raise UsageError(f"--dtype {dtype}: unknown (dtypes: {', '.join(DTYPE_BYTES)})")
        if dtype not in d.peak:
            raise UsageError(f"--dtype {dtype}: the profile {d.file or d.name} has no peak for it "
                             f"(it has {', '.join(d.peak)})")
    return d


@click.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@device_option
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec variable.")
@click.option("--dtype-bytes", type=click.IntRange(1, 16), default=None,
              help="Bytes per element for memory traffic (default: from the dtype).")
@click.option("--measure", is_flag=True,
              help="Also build the network in PyTorch and time it on this CPU, whole and layer by layer.")
@click.option("--rounds", type=click.IntRange(1, 1000), default=7, show_default=True,
              help="With --measure: interleaved timing rounds (the statistic is the median over rounds).")
@click.option("--threads", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="With --measure: PyTorch intra-op threads.")
@click.option("--format", "fmt", type=click.Choice(LATENCY_FORMATS), default="table", show_default=True)
@click.option("--depth", type=click.IntRange(0, None), default=None,
              help="Hide rows nested deeper than this (0: top-level layers and blocks, with subtotals).")
@click.option("--top", type=click.IntRange(1, None), default=None, help="Only the N slowest layers.")
def latency(spec: str, device: str | None, dtype: str | None, sets: tuple[str, ...], dtype_bytes: int | None,
            measure: bool, rounds: int, threads: int, fmt: str, depth: int | None, top: int | None) -> None:
    """Predicted latency of the network in SPEC on a device: per layer (time, share, intensity, compute-
    or memory-bound), in total, and by layer type beside the share of MACs.

    \b
    costcalc latency examples/shufflenet_v2.yaml --device cortex-a76
    costcalc latency examples/mobilenet_v2.yaml --device here.yaml --measure
    costcalc latency examples/resnet50.yaml --device nvidia-a100 --dtype fp16 --depth 0
    """
    from costcalc.latency import predict_network
    from costcalc.network import evaluate_network
    from costcalc.render.latency import (LatencyView, latency_csv, latency_json, latency_markdown,
                                         print_latency)
    from costcalc.spec import load_spec

    dev = load_device_option(device, dtype)
    net = load_spec(spec, parse_sets(sets))
    result = evaluate_network(net)
    lat = predict_network(result, dev, dtype=dtype, dtype_bytes=dtype_bytes)
    measured = None
    if measure:
        _need_torch("costcalc latency --measure")
        from costcalc.measure import measure_network

        measured = measure_network(net, [lt.path for lt in lat.layers], rounds=rounds, threads=threads)
        w = measured.conditions.warning()
        if w:
            click.echo(f"Warning: {w}", err=True)
    view = LatencyView(depth=depth, top=top)
    if fmt == "json":
        click.echo(json.dumps(latency_json(lat, measured), indent=2))
    elif fmt == "csv":
        click.echo(latency_csv(lat, measured, view), nl=False)
    elif fmt == "markdown":
        click.echo(latency_markdown(lat, measured, view), nl=False)
    else:
        print_latency(lat, _console(), measured, view)


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the profile here (default: print it).")
@click.option("--short", is_flag=True, help="A few seconds instead of about a minute (less accurate; for tests).")
@click.option("--threads", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="PyTorch intra-op threads.")
@click.option("--pin/--no-pin", default=True, show_default=True,
              help="Pin the process to the CPU it runs on while timing.")
def calibrate(output: str | None, short: bool, threads: int, pin: bool) -> None:
    """Measure this machine with PyTorch microbenchmarks and write a device profile: matrix-multiply
    peak, streaming bandwidth (cache and DRAM), per-op-class efficiency and overhead fitted to a grid of
    single-layer probes. Records the CPU, threads, PyTorch version and load average; warns when the
    machine is busy.

    \b
    costcalc calibrate -o here.yaml
    costcalc latency examples/mobilenet_v2.yaml --device here.yaml --measure
    """
    _need_torch("costcalc calibrate")
    from costcalc.calibrate import calibrate as run
    from costcalc.devices import device_yaml

    def say(text: str) -> None:
        if sys.stderr.isatty():
            click.echo(f"calibrate: {text}", err=True)

    cal = run("short" if short else "full", threads=threads, pin=pin, progress=say)
    w = cal.conditions.warning()
    if w:
        click.echo(f"Warning: {w}", err=True)
    text = device_yaml(cal.profile())
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise UsageError(f"-o {output}: cannot write: {e.strerror}") from None
    _summary(cal, output)


def _summary(cal: Any, output: str) -> None:
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{output}[/]: peak {cal.peak / 1e9:.3g} GFLOP/s, bandwidth {cal.cache_bw / 1e9:.3g} GB/s "
                  f"(cache, up to {cal.cache_bytes / 1e6:.3g} MB moved) / {cal.dram_bw / 1e9:.3g} GB/s (DRAM), "
                  f"dispatch {cal.dispatch_s * 1e6:.2g} µs per layer")
    t = Table(title="per op class (fitted to the probes)", title_justify="left")
    for col in ("class", "probes", "efficiency", "bandwidth eff.", "overhead µs", "m½", "k½", "n½", "lanes",
                "median error", "max error"):
        t.add_column(col, justify="left" if col == "class" else "right")
    for k, f in cal.fits.items():
        t.add_row(k, str(f.probes), f"{f.efficiency:.3g}", f"{f.bandwidth_efficiency:.3g}",
                  f"{f.overhead_s * 1e6:.3g}", f"{f.m_half:g}", f"{f.k_half:g}", f"{f.n_half:g}", str(f.lanes),
                  f"{100 * f.median_error:.1f}%",
                  f"{100 * f.max_error:.1f}%")
    console.print(t)
    c = cal.conditions
    console.print(f"[dim]{c.cpu}, {c.threads} thread(s), PyTorch {c.torch}, load average {c.load_before:.2f} → "
                  f"{c.load_after:.2f} on {c.cores} cores[/]")


# ----------------------------------------------------------------------------------------------
# The small additions to ``compare`` and ``plot`` (kept here so commands/explore.py only calls them)


class LatencyColumns:
    """``compare --device``: predicted latency per network, rendered for each compare format
    (nothing at all without ``--device``)."""

    def __init__(self, lats: list[Any]) -> None:
        self.lats = lats

    def json(self) -> dict[str, Any]:
        if not self.lats:
            return {}
        from costcalc.latency import ASSUMPTIONS
        from costcalc.render.latency import compare_rows

        d = self.lats[0].device
        return {"latency": {"device": d.name, "device_file": d.file, "dtype": self.lats[0].dtype,
                            "assumptions": ASSUMPTIONS, "networks": compare_rows(self.lats)}}

    def text(self) -> str:
        if not self.lats:
            return ""
        from costcalc.render.latency import compare_latency_markdown

        return compare_latency_markdown(self.lats)

    def tables(self) -> list[Any]:
        if not self.lats:
            return []
        from costcalc.render.latency import compare_latency_table

        return [compare_latency_table(self.lats)]


def compare_latency(cmp: Any, device: str | None, dtype: str | None, fmt: str) -> LatencyColumns:
    """Predicted latency of every network of a ``compare`` on ``--device`` (table, json, markdown)."""
    if device is None:
        if dtype is not None:
            raise UsageError("--dtype applies with --device")
        return LatencyColumns([])
    if fmt not in ("table", "json", "markdown"):
        raise UsageError(f"--device works with --format table, json or markdown, not {fmt}")
    from costcalc.latency import predict_network

    dev = load_device_option(device, dtype)
    return LatencyColumns([predict_network(r, dev, dtype=dtype) for r in cmp.results])


def plot_roofline_command(spec: str, overrides: dict[str, str], device: str | None, dtype: str | None,
                          output: str, dpi: int) -> None:
    """``plot --roofline SPEC --device D -o FILE``."""
    from costcalc.latency import predict_network
    from costcalc.network import evaluate_network
    from costcalc.render.latency import plot_roofline
    from costcalc.render.plot import require_matplotlib
    from costcalc.spec import load_spec

    dev = load_device_option(device, dtype)
    require_matplotlib()
    lat = predict_network(evaluate_network(load_spec(spec, overrides)), dev, dtype=dtype)
    plot_roofline(lat, output, dpi)


COMMANDS = (latency, calibrate)
