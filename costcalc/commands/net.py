"""``costcalc net SPEC``: a network's costs, layer by layer."""

from __future__ import annotations

import json
from typing import Any

import click

from costcalc.commands.options import parse_sets, view_options
from costcalc.render.output import console as _console
from costcalc.errors import SpecError

NET_FORMATS = ("table", "json", "csv", "markdown", "latex")


@click.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a spec variable; a name (e.g. resolution=R) keeps it symbolic.")
@click.option("--format", "fmt", type=click.Choice(NET_FORMATS), default="table", show_default=True)
@click.option("--by-type", is_flag=True, help="Only the breakdown by layer type.")
@click.option("--depth", type=click.IntRange(0, None), default=None,
              help="Hide rows nested deeper than this (0: top-level layers and blocks only).")
@click.option("--top", type=click.IntRange(1, None), default=None, help="Only the N most expensive layers.")
@view_options
def net(spec: str, sets: tuple[str, ...], fmt: str, by_type: bool, depth: int | None, top: int | None,
        units: str, params_view: str, dtype_bytes: int) -> None:
    """Costs of the network in SPEC (a YAML file), layer by layer, with totals and a breakdown by type.

    \b
    costcalc net examples/mobilenet_v1.yaml
    costcalc net examples/mobilenet_v1.yaml --set alpha=0.5 --set resolution=160
    costcalc net examples/resnet50.yaml --set resolution=R --format json
    """
    from costcalc.network import evaluate_network
    from costcalc.render.net import RENDERERS, View, by_type_table, net_json, net_table
    from costcalc.spec import load_spec

    result = evaluate_network(load_spec(spec, parse_sets(sets)))
    view = View(units=units, params=params_view, depth=depth, top=top, dtype_bytes=dtype_bytes)
    if fmt == "json":
        doc = net_json(result, view)
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




COMMANDS = (net,)
