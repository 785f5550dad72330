"""``costcalc layer``: the cost of one layer or block."""

from __future__ import annotations

from typing import Any

import click

from costcalc.commands.options import (_FLAG, dimension_options, layer_field_options, make_view, parse_params,
                                       train_options, train_settings, width_option)
from costcalc.errors import CostcalcError, UsageError

FORMATS_LAYER = ("table", "json", "latex", "markdown")


@click.command()
@click.option("--type", "-t", "type_name", required=True, metavar="TYPE",
              help="Layer or block type (see `costcalc types`).")
@dimension_options()
@layer_field_options
@click.option("--format", "fmt", type=click.Choice(FORMATS_LAYER), default="table", show_default=True)
@click.option("--dtype-bytes", type=click.IntRange(1, 16), default=4, show_default=True,
              help="Bytes per element for 'bytes moved'.")
@click.option("--human", is_flag=True, help="Counts with SI prefixes (1.81 M) instead of exact integers.")
@width_option
@train_options(optimizer=False)
def layer(type_name: str, params: tuple[str, ...], fmt: str, dtype_bytes: int, bias: bool | None, human: bool,
          mode: str, batch: int | None, **dims: Any) -> None:
    """Cost of one layer or block: formulas, values, output shape, ratio to a standard conv.

    \b
    costcalc layer --type depthwise -H 56 -N 64
    costcalc layer --type conv -H 56 -N 64 -M 128 -K 3 -G 4 --stride 2
    costcalc layer --type separable          # no numbers: the formulas themselves
    costcalc layer --type depthwise --mode train   # forward, input- and weight-gradient formulas
    """
    from costcalc.layers.base import DimError
    from costcalc.render import emit
    from costcalc.results import layer_result

    given: dict[str, Any] = {k: v for k, v in dims.items() if v is not None}
    if bias is not None:
        given["bias"] = bias
    given.update(parse_params(params))
    try:
        result = layer_result(type_name, given, dtype_bytes)
    except DimError as e:
        flag = _FLAG.get(e.field.split(".")[0], e.field)
        raise UsageError(f"{type_name}: {flag} {e.value}: {e.reason}") from None
    except CostcalcError as e:
        raise UsageError(str(e)) from None
    train = train_settings(mode, batch, None, fmt, ("table", "json"))
    if train is not None:
        from costcalc.render.training import echo_layer_train

        return echo_layer_train(result.report, fmt, train[0], dtype_bytes)
    emit("layer", fmt, result, make_view(dtype_bytes=dtype_bytes, human=human))


COMMANDS = (layer,)
