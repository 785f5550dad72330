"""``costcalc compare``, ``costcalc sweep`` and ``costcalc plot``: explore designs side by side."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator

import click

from costcalc.commands.latency import device_option
from costcalc.commands.options import formula_options, make_view, parse_sets, view_options
from costcalc.errors import UsageError

COMPARE_FORMATS = ("table", "json", "csv", "markdown", "latex")
SWEEP_FORMATS = ("table", "json", "csv", "markdown")
#: sweeps with at least this many points show a progress bar (on a terminal)
PROGRESS_MIN_POINTS = 20


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a variable in every spec that has it (an error if none has it).")
@click.option("--format", "fmt", type=click.Choice(COMPARE_FORMATS), default="table", show_default=True)
@formula_options
@view_options
@device_option
def compare(specs: tuple[str, ...], sets: tuple[str, ...], fmt: str, assume: tuple[str, ...], exact: bool,
            units: str, params_view: str, dtype_bytes: int, human: bool, device: str | None,
            dtype: str | None) -> None:
    """Networks side by side: totals, the ratio of each to the first, and the breakdown by type.

    \b
    costcalc compare examples/mobilenet_v1.yaml examples/shufflenet_v1.yaml examples/mobilenet_v2.yaml
    costcalc compare examples/resnet50.yaml examples/resnext50_32x4d.yaml --set resolution=160
    """
    from costcalc.commands.latency import compare_latency
    from costcalc.explore import compare as run_compare
    from costcalc.render import emit

    cmp = run_compare(specs, parse_sets(sets), dtype_bytes, assume, exact)
    latency = compare_latency(cmp, device, dtype, fmt)  # --device: predicted latency columns
    view = make_view(units, params_view, dtype_bytes, human)
    if device is None:
        emit("compare", fmt, cmp, view)
        return
    from costcalc.render import render
    from costcalc.render.output import console, emit as write

    rendered = render("compare", fmt, cmp, view)
    if fmt == "json":
        write({**rendered, **latency.json()})
    elif isinstance(rendered, str):
        write(rendered + latency.text())
    else:
        write(rendered)
        out = console()
        for t in latency.tables():
            out.print(t)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar on stderr for long sweeps, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = None

        def update(done: int, total: int) -> None:
            nonlocal task
            if total < PROGRESS_MIN_POINTS:
                return
            if task is None:
                task = bar.add_task(label, total=total)
            bar.update(task, completed=done)

        yield update


def _run_sweep(spec: str, sets: tuple[str, ...], jobs: int = 1) -> Any:
    from costcalc.explore import parse_sweep_sets, sweep as run_sweep

    axes, fixed = parse_sweep_sets(sets)
    with _progress(f"sweep {spec}") as update:
        return run_sweep(spec, axes, fixed, update, jobs)


@click.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--set", "sets", multiple=True, metavar="NAME=V1,V2,...",
              help="Values of a variable: a list (0.25,0.5,1.0), a range START:STOP:STEP (128:224:32), "
                   "or one value to fix it. The grid is every combination.")
@click.option("--format", "fmt", type=click.Choice(SWEEP_FORMATS), default="table", show_default=True)
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Processes to share the grid between (the same output as one).")
@view_options
def sweep(spec: str, sets: tuple[str, ...], fmt: str, jobs: int, units: str, params_view: str,
          dtype_bytes: int, human: bool) -> None:
    """Totals of SPEC over a grid of variable values. With two swept variables the table is a grid
    (rows: the first, columns: the second); otherwise one row per point.

    \b
    costcalc sweep examples/mobilenet_v1.yaml --set alpha=0.25,0.5,0.75,1.0 --set resolution=128,160,192,224
    costcalc sweep examples/resnet50.yaml --set resolution=128:320:32 --format csv
    """
    from costcalc.render import emit
    from costcalc.results import SweepResult

    emit("sweep", fmt, SweepResult(_run_sweep(spec, sets, jobs)), make_view(units, params_view, dtype_bytes, human))


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Image file; the suffix picks the format: .png, .svg or .pdf.")
@click.option("--sweep", "mode", flag_value="sweep", help="Plot totals against the swept variable(s) of one SPEC.")
@click.option("--compare", "mode", flag_value="compare", help="Plot several SPECS side by side.")
@click.option("--roofline", "mode", flag_value="roofline",
              help="Each layer of SPEC under the roofline of --device (arithmetic intensity × predicted rate).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a variable; with --sweep a list or range of values (as in `costcalc sweep`).")
@click.option("--dpi", type=click.IntRange(50, 600), default=110, show_default=True, help="Resolution of PNG output.")
@view_options
@device_option
def plot(specs: tuple[str, ...], output: str, mode: str | None, sets: tuple[str, ...], dpi: int, units: str,
         params_view: str, dtype_bytes: int, human: bool, device: str | None, dtype: str | None) -> None:
    """Pictures of costs (needs matplotlib: pip install -e '.[plot]'). Prints where the file went.

    \b
    costcalc plot examples/mobilenet_v1.yaml -o mobilenet.png       # per layer, with by-type shares
    costcalc plot --sweep examples/mobilenet_v1.yaml --set resolution=128:224:32 \\
        --set alpha=0.25,0.5,0.75,1.0 -o sweep.png                  # x: first swept var; a line per second
    costcalc plot --compare examples/mobilenet_v1.yaml examples/shufflenet_v1.yaml -o compare.svg
    costcalc plot --roofline examples/mobilenet_v2.yaml --device cortex-a76 -o roofline.png
    """
    from costcalc.render import plot as plots

    if (device or dtype) and mode != "roofline":
        raise UsageError("--device and --dtype apply to plot --roofline")
    plots.check_output(output)
    plots.require_matplotlib()
    view = make_view(units, params_view, dtype_bytes, human)
    what = _plot(plots, specs, output, mode, sets, dpi, view, device, dtype)
    click.echo(f"wrote {output}: {what}")


def _plot(plots: Any, specs: tuple[str, ...], output: str, mode: str | None, sets: tuple[str, ...], dpi: int,
          view: Any, device: str | None = None, dtype: str | None = None) -> str:
    if mode == "compare":
        from costcalc.explore import compare as run_compare

        cmp = run_compare(specs, parse_sets(sets), view.dtype_bytes)
        plots.plot_compare(cmp, output, view, dpi)
        return f"{' vs '.join(n.name for n in cmp.networks)} side by side"
    if len(specs) != 1:
        raise UsageError(f"plot{' --sweep' if mode else ''} takes one SPEC, got {len(specs)} "
                         "(use --compare to plot several)")
    if mode == "sweep":
        sw = _run_sweep(specs[0], sets)
        plots.plot_sweep(sw, output, view, dpi)
        return f"{sw.name}, {len(sw.points)} points over {' × '.join(sw.axes) or 'no variable'}"
    if mode == "roofline":
        from costcalc.commands.latency import plot_roofline_command

        plot_roofline_command(specs[0], parse_sets(sets), device, dtype, output, dpi)
        return f"roofline of {specs[0]} on {device}"
    from costcalc.explore import split_values
    from costcalc.results import load_network

    for item in sets:
        if "=" in item and len(split_values(item.split("=", 1)[1], f"--set {item}")) > 1:
            raise UsageError(f"--set {item}: several values need --sweep")
    network = load_network(specs[0], parse_sets(sets))
    plots.plot_network(network, output, view, dpi)
    return f"{network.name}, {len(network.leaves)} layers"


COMMANDS = (compare, sweep, plot)
