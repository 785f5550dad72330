"""``costcalc ratio`` and ``costcalc derive``: symbolic algebra over layer costs.

Thin commands: options become a ``dims`` mapping for :mod:`costcalc.algebra` (through the Python
API, :func:`costcalc.api.ratio` / :func:`costcalc.api.derive`); the result is rendered by
:mod:`costcalc.render.derive`. sympy is imported only inside the commands.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from costcalc.commands.options import dimension_options, make_view, width_option
from costcalc.errors import CostcalcError, UsageError
from costcalc.metrics import NAMES

FORMATS = ("table", "json", "latex")
DIM_ORDER = ("H", "W", "N", "K", "M", "G", "T", "B", "S")  # the seed's order, H·W·N·K²·M


def _dim_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The shared dimension, metric and format options (applied bottom-up)."""
    options = [
        click.option("--metric", type=click.Choice(NAMES), default="macs", show_default=True,
                     help="Which count to derive."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True),
        click.option("--dtype-bytes", type=click.IntRange(1, 16), default=4, show_default=True,
                     help="Bytes per element for --metric bytes."),
    ]
    for opt in reversed(options):
        f = opt(f)
    f = width_option(f)
    return dimension_options(
        "HWNMKGTBS", H="Input height: a number, or a name to rename H.", W="Input width (default: H when -H is given).",
        K="Kernel size.", S="Stride (ratio: the stride of both layers; derive: a number for S).")(f)


def _dims(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: raw[k] for k in DIM_ORDER if raw.get(k) is not None}


@click.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@_dim_options
def ratio(a: str, b: str, metric: str, fmt: str, dtype_bytes: int, **raw: Any) -> None:
    """Cost of layer type A over type B for the same input, derived symbolically.

    Prints the ratio as one fraction and as a sum of simple terms, and its value when the
    dimensions are numbers. A dimension given as a name renames its symbol.

    \b
    costcalc ratio separable conv              # (K² + M)/(K²·M) = 1/M + 1/K²
    costcalc ratio separable conv -K 3 -M 512  # ≈ 0.1131
    costcalc ratio grouped conv -G 4
    """
    from costcalc.algebra import ratio_derivation
    from costcalc.layers.base import get_type
    from costcalc.render import emit
    from costcalc.results import derived

    for name in (a, b):
        try:
            get_type(name)
        except CostcalcError as e:
            raise UsageError(str(e)) from None
    dims = _dims(raw)
    emit("derivation", fmt, derived(lambda: ratio_derivation(a, b, dims, metric, dtype_bytes)),
         make_view(dtype_bytes=dtype_bytes))


@click.command()
@click.argument("expr", metavar="EXPR")
@_dim_options
def derive(expr: str, metric: str, fmt: str, dtype_bytes: int, **raw: Any) -> None:
    """Arithmetic over layer costs at transformed dimensions, derived symbolically.

    Every layer type is a function whose keywords override its dimensions; every other name is a
    symbol. The text is parsed by the safe evaluator (never eval'd).

    \b
    costcalc derive "separable(H=H/2, W=W/2, N=2*N, M=2*M)"   # H·W·N·(K²/2 + M)
    costcalc derive "separable(H=H/2, W=W/2, N=2*N, M=2*M) / separable()"
    costcalc derive "pointwise()" --metric memory -N c1 -M c2
    """
    from costcalc.algebra import derive as run_derive
    from costcalc.render import emit
    from costcalc.results import derived

    dims = _dims(raw)
    emit("derivation", fmt, derived(lambda: run_derive(expr, metric, dims, dtype_bytes)),
         make_view(dtype_bytes=dtype_bytes))


COMMANDS = (ratio, derive)
