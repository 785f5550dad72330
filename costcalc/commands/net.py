"""``costcalc net SPEC``: a network's costs, layer by layer."""

from __future__ import annotations

import os

import click

from costcalc.commands.options import (formula_options, make_view, parse_sets, train_options, train_settings,
                                       view_options)

NET_FORMATS = ("table", "json", "csv", "markdown", "latex")


@click.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a spec variable; a name (e.g. resolution=R) keeps it symbolic.")
@click.option("--format", "fmt", type=click.Choice(NET_FORMATS), default="table", show_default=True)
@click.option("--by-type", is_flag=True, help="Only the breakdown by layer type.")
@click.option("--depth", type=click.IntRange(0, None), default=None,
              help="Hide rows nested deeper than this (0: top-level layers and blocks only); every format.")
@click.option("--top", type=click.IntRange(1, None), default=None,
              help="Only the N most expensive layers (formulas: by value at the spec's defaults); every format.")
@formula_options
@view_options
@train_options()
def net(spec: str, sets: tuple[str, ...], fmt: str, by_type: bool, depth: int | None, top: int | None,
        assume: tuple[str, ...], exact: bool, units: str, params_view: str, dtype_bytes: int, human: bool,
        mode: str, batch: int | None, optimizer: str | None) -> None:
    """Costs of the network in SPEC, layer by layer, with totals and a breakdown by type.

    SPEC is a YAML file, or a model imported on the fly as `costcalc import` does: a .onnx file or
    PACKAGE.MODULE:CALLABLE (importing a Python module runs its code).

    \b
    costcalc net examples/mobilenet_v1.yaml
    costcalc net examples/mobilenet_v1.yaml --set alpha=0.5 --set resolution=160
    costcalc net examples/resnet50.yaml --set resolution=R --format json
    costcalc net examples/mobilenet_v1.yaml --set alpha=a --assume 'a>=0.25'
    costcalc net examples/resnet50.yaml --mode train --batch 256 --optimizer adam
    costcalc net model.onnx --set height=H --set width=W
    """
    from costcalc.render import emit
    from costcalc.results import load_network, unknown_layers, unknown_sentence

    train = train_settings(mode, batch, optimizer, fmt, ("table", "json", "csv"),
                           {"--params weights": params_view != "torch", "--human": human, "--assume": bool(assume),
                            "--exact": exact})
    source, file = spec, None  # a model is imported once the options are known to be valid
    if spec.lower().endswith(".onnx") or (":" in spec and not os.path.exists(spec)):
        from costcalc.importer import document_from_argument

        notes: list[str] = []
        source, file = document_from_argument(spec, notes)
        for note in notes:
            click.echo(f"note: {note}", err=True)
    if train is not None:
        from costcalc.render.training import echo_net_train
        from costcalc.spec import build_spec, load_spec

        loaded = load_spec(spec, parse_sets(sets)) if file is None else build_spec(source, file, parse_sets(sets))
        unknown = unknown_layers(loaded)
        if unknown:
            click.echo(f"warning: {unknown_sentence(unknown)}", err=True)
        return echo_net_train(loaded, fmt, *train, units, dtype_bytes, depth, top, by_type)
    network = load_network(source, parse_sets(sets), assume, exact, file=file)
    if network.unknown:
        click.echo(f"warning: {unknown_sentence(network.unknown)}", err=True)
    emit("net", fmt, network, make_view(units, params_view, dtype_bytes, human, depth=depth, top=top,
                                        by_type=by_type))


COMMANDS = (net,)
