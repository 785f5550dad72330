"""``costcalc compare``, ``costcalc sweep`` and ``costcalc plot``: explore designs side by side."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Callable, Iterator

import click

from costcalc.cli import _console, main
from costcalc.commands.net import parse_sets, view_options
from costcalc.errors import UsageError

COMPARE_FORMATS = ("table", "json", "csv", "markdown", "latex")
SWEEP_FORMATS = ("table", "json", "csv", "markdown")
#: sweeps with at least this many points show a progress bar (on a terminal)
PROGRESS_MIN_POINTS = 20


def _view(units: str, params_view: str, dtype_bytes: int) -> Any:
    from costcalc.render.net import View

    return View(units=units, params=params_view, dtype_bytes=dtype_bytes)


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a variable in every spec that has it (an error if none has it).")
@click.option("--format", "fmt", type=click.Choice(COMPARE_FORMATS), default="table", show_default=True)
@view_options
def compare(specs: tuple[str, ...], sets: tuple[str, ...], fmt: str, units: str, params_view: str,
            dtype_bytes: int) -> None:
    """Networks side by side: totals, the ratio of each to the first, and the breakdown by type.

    \b
    costcalc compare examples/mobilenet_v1.yaml examples/shufflenet_v1.yaml examples/mobilenet_v2.yaml
    costcalc compare examples/resnet50.yaml examples/resnext50_32x4d.yaml --set resolution=160
    """
    from costcalc.explore import compare as run_compare
    from costcalc.render.explore import COMPARE_RENDERERS, compare_json, compare_tables

    view = _view(units, params_view, dtype_bytes)
    cmp = run_compare(specs, parse_sets(sets), dtype_bytes)
    if fmt == "json":
        click.echo(json.dumps(compare_json(cmp, view), indent=2))
    elif fmt in COMPARE_RENDERERS:
        click.echo(COMPARE_RENDERERS[fmt](cmp, view), nl=False)
    else:
        console = _console()
        for t in compare_tables(cmp, view):
            console.print(t)


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


@main.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--set", "sets", multiple=True, metavar="NAME=V1,V2,...",
              help="Values of a variable: a list (0.25,0.5,1.0), a range START:STOP:STEP (128:224:32), "
                   "or one value to fix it. The grid is every combination.")
@click.option("--format", "fmt", type=click.Choice(SWEEP_FORMATS), default="table", show_default=True)
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Processes to share the grid between (the same output as one).")
@view_options
def sweep(spec: str, sets: tuple[str, ...], fmt: str, jobs: int, units: str, params_view: str,
          dtype_bytes: int) -> None:
    """Totals of SPEC over a grid of variable values. With two swept variables the table is a grid
    (rows: the first, columns: the second); otherwise one row per point.

    \b
    costcalc sweep examples/mobilenet_v1.yaml --set alpha=0.25,0.5,0.75,1.0 --set resolution=128,160,192,224
    costcalc sweep examples/resnet50.yaml --set resolution=128:320:32 --format csv
    """
    from costcalc.render.explore import SWEEP_RENDERERS, sweep_json, sweep_tables

    view = _view(units, params_view, dtype_bytes)
    sw = _run_sweep(spec, sets, jobs)
    if fmt == "json":
        click.echo(json.dumps(sweep_json(sw, view), indent=2))
    elif fmt in SWEEP_RENDERERS:
        click.echo(SWEEP_RENDERERS[fmt](sw, view), nl=False)
    else:
        console = _console()
        for t in sweep_tables(sw, view):
            console.print(t)


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Image file; the suffix picks the format: .png, .svg or .pdf.")
@click.option("--sweep", "mode", flag_value="sweep", help="Plot totals against the swept variable(s) of one SPEC.")
@click.option("--compare", "mode", flag_value="compare", help="Plot several SPECS side by side.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a variable; with --sweep a list or range of values (as in `costcalc sweep`).")
@click.option("--dpi", type=click.IntRange(50, 600), default=110, show_default=True, help="Resolution of PNG output.")
@view_options
def plot(specs: tuple[str, ...], output: str, mode: str | None, sets: tuple[str, ...], dpi: int, units: str,
         params_view: str, dtype_bytes: int) -> None:
    """Pictures of costs (needs matplotlib: pip install 'costcalc[plot]').

    \b
    costcalc plot examples/mobilenet_v1.yaml -o mobilenet.png       # per layer, with by-type shares
    costcalc plot --sweep examples/mobilenet_v1.yaml --set resolution=128:224:32 \\
        --set alpha=0.25,0.5,0.75,1.0 -o sweep.png                  # x: first swept var; a line per second
    costcalc plot --compare examples/mobilenet_v1.yaml examples/shufflenet_v1.yaml -o compare.svg
    """
    from costcalc.render import plot as plots

    plots.check_output(output)
    plots.require_matplotlib()
    view = _view(units, params_view, dtype_bytes)
    if mode == "compare":
        from costcalc.explore import compare as run_compare

        plots.plot_compare(run_compare(specs, parse_sets(sets), dtype_bytes), output, view, dpi)
        return
    if len(specs) != 1:
        raise UsageError(f"plot{' --sweep' if mode else ''} takes one SPEC, got {len(specs)} "
                         "(use --compare to plot several)")
    if mode == "sweep":
        plots.plot_sweep(_run_sweep(specs[0], sets), output, view, dpi)
        return
    from costcalc.network import evaluate_network
    from costcalc.spec import load_spec

    from costcalc.explore import split_values

    for item in sets:
        if "=" in item and len(split_values(item.split("=", 1)[1], f"--set {item}")) > 1:
            raise UsageError(f"--set {item}: several values need --sweep")
    plots.plot_network(evaluate_network(load_spec(specs[0], parse_sets(sets))), output, view, dpi)
