"""``costcalc layer``: the cost of one layer or block."""

from __future__ import annotations

import json
from typing import Any

import click

from costcalc.commands.options import _FLAG, dimension_options, layer_field_options, parse_params
from costcalc.errors import CostcalcError, UsageError
from costcalc.render.output import console as _console

FORMATS_LAYER = ("table", "json", "latex")


@click.command()
@click.option("--type", "-t", "type_name", required=True, metavar="TYPE",
              help="Layer or block type (see `costcalc types`).")
@dimension_options()
@layer_field_options
@click.option("--format", "fmt", type=click.Choice(FORMATS_LAYER), default="table", show_default=True)
@click.option("--dtype-bytes", type=click.IntRange(1, 16), default=4, show_default=True,
              help="Bytes per element for 'bytes moved'.")
def layer(type_name: str, params: tuple[str, ...], fmt: str, dtype_bytes: int, bias: bool | None,
          **dims: Any) -> None:
    """Cost of one layer or block: formulas, values, output shape, ratio to a standard conv.

    \b
    costcalc layer --type depthwise -H 56 -N 64
    costcalc layer --type conv -H 56 -N 64 -M 128 -K 3 -G 4 --stride 2
    costcalc layer --type separable          # no numbers: the formulas themselves
    """
    from costcalc.engine import analyze_layer
    from costcalc.layers.base import DimError

    given: dict[str, Any] = {k: v for k, v in dims.items() if v is not None}
    if bias is not None:
        given["bias"] = bias
    given.update(parse_params(params))
    try:
        report = analyze_layer(type_name, given)
    except DimError as e:
        flag = _FLAG.get(e.field.split(".")[0], e.field)
        raise UsageError(f"{type_name}: {flag} {e.value}: {e.reason}") from None
    except CostcalcError as e:
        raise UsageError(str(e)) from None
    if fmt == "json":
        from costcalc.render.layer import layer_json

        click.echo(json.dumps(layer_json(report, dtype_bytes), indent=2))
    elif fmt == "latex":
        from costcalc.render.layer import layer_latex

        click.echo(layer_latex(report))
    else:
        from costcalc.render.layer import layer_table

        layer_table(report, _console(), dtype_bytes)


COMMANDS = (layer,)
