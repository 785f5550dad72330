"""``costcalc ratio`` and ``costcalc derive``: symbolic algebra over layer costs.

Thin commands: options become a ``dims`` mapping for :mod:`costcalc.derive`, whose
:class:`~costcalc.derive.Derivation` is rendered as text, JSON or LaTeX here. sympy is imported
only inside the commands.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any, Callable

import click

from costcalc.commands.options import dimension_options
from costcalc.errors import CostcalcError, UsageError
from costcalc.num import to_sympy

FORMATS = ("table", "json", "latex")
METRIC_CHOICES = ("macs", "params", "flops", "weights", "memory", "bytes", "elementwise", "comparisons",
                  "activations")
METRIC_LABELS = {
    "macs": "MACs (multiply-adds)",
    "flops": "FLOPs (2 × MACs)",
    "params": "params (PyTorch count)",
    "weights": "params, weights only",
    "memory": "memory access (elements)",
    "bytes": "bytes moved",
    "elementwise": "elementwise ops",
    "comparisons": "comparisons",
    "activations": "output elements",
}
DIM_ORDER = ("H", "W", "N", "K", "M", "G", "T", "B", "S")  # the seed's order, H·W·N·K²·M


def _dim_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The shared dimension, metric and format options (applied bottom-up)."""
    options = [
        click.option("--metric", type=click.Choice(METRIC_CHOICES), default="macs", show_default=True,
                     help="Which count to derive."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True),
        click.option("--dtype-bytes", type=click.IntRange(1, 16), default=4, show_default=True,
                     help="Bytes per element for --metric bytes."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return dimension_options(
        "HWNMKGTBS", H="Input height: a number, or a name to rename H.", W="Input width (default: H when -H is given).",
        K="Kernel size.", S="Stride (ratio: the stride of both layers; derive: a number for S).")(f)


def _dims(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: raw[k] for k in DIM_ORDER if raw.get(k) is not None}


# ----------------------------------------------------------------------------------------------
# Rendering


def _value_text(v: Any) -> str:
    if isinstance(v, Fraction):
        text = f"{v.numerator}/{v.denominator} ≈ {float(v):.4g}"
    elif isinstance(v, int):
        text = f"{v:,}"
    else:
        text = f"{v:.6g}"
    if isinstance(v, (Fraction, float)) and 0 < v < 1:
        text += f" (1/{1 / float(v):.4g})"
    return text


def _dims_text(dims: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in dims.items())


def _as_json(v: Any) -> Any:
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    return v


def derivation_json(d: Any) -> dict[str, Any]:
    from costcalc.derive import show

    return {
        "expression": d.expression,
        "metric": d.metric,
        "dims": dict(d.dims or {}),
        "result": str(d.result),
        "result_pretty": show(d.result),
        "expanded": str(d.expanded),
        "expanded_pretty": show(d.expanded),
        "at": None if d.at is None else str(d.at),
        "value": _as_json(d.value),
        "value_float": None if d.value is None else float(d.value),
    }


def derivation_table(d: Any) -> str:
    from costcalc.derive import combined_form, show

    lines = [f"{d.expression}    [{METRIC_LABELS[d.metric]}]",
             f"  combined  {show(d.result)}"]
    if d.expanded != d.result:
        lines.append(f"  expanded  {show(d.expanded)}")
    if d.dims:
        at = f"  at        {_dims_text(dict(d.dims))}"
        if d.value is None and d.at is not None:
            at += f":  {show(combined_form(d.at))}"
        lines.append(at)
    if d.value is not None:
        lines.append(f"  value     {_value_text(d.value)}")
    return "\n".join(lines)


def derivation_latex(d: Any) -> str:
    import sympy

    def tex(e: Any) -> str:
        return str(sympy.latex(e))

    lines = [f"% costcalc: {d.expression} ({d.metric})", r"\begin{aligned}",
             rf"\text{{{_tex_escape(d.expression)}}} &= {tex(d.result)}"]
    if d.expanded != d.result:
        lines[-1] += r" \\"
        lines.append(rf"&= {tex(d.expanded)}")
    if d.value is not None:
        v = to_sympy(d.value)
        lines[-1] += r" \\"
        at = r",\ ".join(f"{k}={v}" for k, v in (d.dims or {}).items())
        approx = rf" \approx {float(d.value):.4g}" if isinstance(d.value, Fraction) else ""
        lines.append(rf"&= {tex(v)}{approx} && ({at})")
    lines.append(r"\end{aligned}")
    return "\n".join(lines)


def _tex_escape(s: str) -> str:
    return s.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("{", r"\{").replace("}", r"\}") \
        .replace("%", r"\%").replace("&", r"\&").replace("#", r"\#").replace("$", r"\$")


def _emit(d: Any, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(derivation_json(d), indent=2, ensure_ascii=False))
    elif fmt == "latex":
        click.echo(derivation_latex(d))
    else:
        click.echo(derivation_table(d))


# ----------------------------------------------------------------------------------------------
# Commands


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
    from costcalc.derive import ratio_derivation
    from costcalc.layers.base import get_type

    for name in (a, b):
        try:
            get_type(name)
        except CostcalcError as e:
            raise UsageError(str(e)) from None
    _emit(ratio_derivation(a, b, _dims(raw), metric, dtype_bytes), fmt)


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
    from costcalc.derive import derive as run_derive

    _emit(run_derive(expr, metric, _dims(raw), dtype_bytes), fmt)


COMMANDS = (ratio, derive)
