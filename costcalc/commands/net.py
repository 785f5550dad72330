"""``costcalc net SPEC``: a network's costs, layer by layer."""

from __future__ import annotations

import json
from typing import Any

import click

from costcalc.cli import _console, main, train_options, train_settings
from costcalc.errors import SpecError

NET_FORMATS = ("table", "json", "csv", "markdown", "latex")


def parse_sets(items: tuple[str, ...]) -> dict[str, str]:
    """``--set NAME=VALUE`` options → {name: value text} (values are parsed by the spec loader)."""
    from costcalc.spec import parse_override

    out: dict[str, str] = {}
    for item in items:
        k, v = parse_override(item)
        out[k] = v
    return out


def view_options(f: Any) -> Any:
    """Options shared by the commands that print network tables."""
    f = click.option("--units", type=click.Choice(("macs", "flops")), default="macs", show_default=True,
                     help="Count multiply-adds (MACs) or FLOPs (= 2 × MACs).")(f)
    f = click.option("--params", "params_view", type=click.Choice(("torch", "weights")), default="torch",
                     show_default=True,
                     help="Params as PyTorch counts them, or conv/FC weights only (the papers' count).")(f)
    f = click.option("--dtype-bytes", type=click.IntRange(1, 16), default=4, show_default=True,
                     help="Bytes per element for memory traffic.")(f)
    return f


@main.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a spec variable; a name (e.g. resolution=R) keeps it symbolic.")
@click.option("--format", "fmt", type=click.Choice(NET_FORMATS), default="table", show_default=True)
@click.option("--by-type", is_flag=True, help="Only the breakdown by layer type.")
@click.option("--depth", type=click.IntRange(0, None), default=None,
              help="Hide rows nested deeper than this (0: top-level layers and blocks only).")
@click.option("--top", type=click.IntRange(1, None), default=None, help="Only the N most expensive layers.")
@view_options
@train_options()
def net(spec: str, sets: tuple[str, ...], fmt: str, by_type: bool, depth: int | None, top: int | None,
        units: str, params_view: str, dtype_bytes: int, mode: str, batch: int | None, optimizer: str | None) -> None:
    """Costs of the network in SPEC, layer by layer, with totals and a breakdown by type.

    SPEC is a YAML file, or a model imported on the fly as `costcalc import` does: a .onnx file or
    PACKAGE.MODULE:CALLABLE (importing a Python module runs its code).

    \b
    costcalc net examples/mobilenet_v1.yaml
    costcalc net examples/mobilenet_v1.yaml --set alpha=0.5 --set resolution=160
    costcalc net examples/resnet50.yaml --set resolution=R --format json
    costcalc net examples/resnet50.yaml --mode train --batch 256 --optimizer adam
    costcalc net model.onnx --set height=H --set width=W
    """
    from costcalc.importer import spec_from_argument, unknown_layers
    from costcalc.network import evaluate_network
    from costcalc.render.net import RENDERERS, View, by_type_table, net_json, net_table

    notes: list[str] = []
    loaded = spec_from_argument(spec, parse_sets(sets), notes)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    unknown = unknown_layers(loaded)
    if unknown:
        listed = ", ".join(f"{path} ({op})" for path, op in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        click.echo(f"warning: {len(unknown)} layer{'s' if len(unknown) != 1 else ''} of unknown cost counted as 0: "
                   f"{listed}", err=True)
    train = train_settings(mode, batch, optimizer, fmt, ("table", "json", "csv"))
    if train is not None:
        from costcalc.render.training import echo_net_train

        return echo_net_train(loaded, fmt, *train, units, dtype_bytes, depth, top, by_type)
    result = evaluate_network(loaded)
    view = View(units=units, params=params_view, depth=depth, top=top, dtype_bytes=dtype_bytes)
    if fmt == "json":
        doc = net_json(result, view)
        if unknown:
            doc["unknown"] = [{"path": path, "op": op} for path, op in unknown]
        click.echo(json.dumps(doc, indent=2))
    elif fmt in RENDERERS:
        click.echo(RENDERERS[fmt](result, view), nl=False)
    else:
        from costcalc.render.boxtable import Output

        out = Output(_console)  # plain text without importing rich when stdout is not a terminal
        if by_type:
            out.print(by_type_table(result, view))
        else:
            net_table(result, out, view)


__all__ = ["net", "parse_sets", "view_options", "SpecError"]
