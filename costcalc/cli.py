"""The ``costcalc`` command line: thin click commands that wire options to the engine and renderers.

Errors from the user's input are one line on stderr and an exit status (1: analysis error in a spec
or expression, 2: usage error in options), never a traceback; ``--debug`` (or ``COSTCALC_DEBUG=1``)
shows the traceback for bug reports.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from costcalc.errors import CostcalcError, UsageError

FORMATS_LAYER = ("table", "json", "latex")


class CostcalcGroup(click.Group):
    """Turns :class:`CostcalcError` into a one-line message and exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CostcalcError as e:
            if _debug(ctx):
                raise
            click.echo(f"Error: {e}", err=True)
            ctx.exit(e.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except RecursionError:
            if _debug(ctx):
                raise
            click.echo("Error: input nested too deeply", err=True)
            ctx.exit(1)
        except Exception as e:  # noqa: BLE001 - the last line of defence: no tracebacks for users
            if _debug(ctx):
                raise
            click.echo(f"Error: internal error: {type(e).__name__}: {e} (run with --debug and report it)",
                       err=True)
            ctx.exit(3)


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool((root.params or {}).get("debug")) or os.environ.get("COSTCALC_DEBUG", "") not in ("", "0")


@click.group(cls=CostcalcGroup, context_settings={"help_option_names": ["--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks (for bug reports).")
@click.version_option(package_name="costcalc")
def main(debug: bool) -> None:
    """Analytic multiply-add, FLOP and parameter counts for convolutional networks: exact numbers,
    closed-form formulas, and the ratios that explain why a design is fast."""


# ----------------------------------------------------------------------------------------------
# Option values: a dimension is a positive integer or the name of a symbol.


class DimValue(click.ParamType):
    name = "INT|SYMBOL"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        opt = param.opts[0] if param is not None and param.opts else "value"
        if text.lstrip("+-").isdigit():
            n = int(text)
            if n < self.minimum:
                kind = "a positive integer" if self.minimum else "a non-negative integer"
                raise UsageError(f"option {opt}: {text!r} is not {kind}")
            if n.bit_length() > 62:
                raise UsageError(f"option {opt}: {text!r} is too large")
            return n
        from costcalc.engine import is_symbol_name

        if is_symbol_name(text) and len(text) <= 32:
            return text
        raise UsageError(f"option {opt}: {text!r} is not {'a positive' if self.minimum else 'a non-negative'} "
                         "integer or a symbol name")


def _parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"option --param: {item!r} is not NAME=VALUE")
        k, v = (s.strip() for s in item.split("=", 1))
        low = v.lower()
        if low in ("true", "yes", "on"):
            out[k] = True
        elif low in ("false", "no", "off"):
            out[k] = False
        elif v.isdigit():
            out[k] = int(v)
        else:
            out[k] = v
    return out


#: the dimension options shared by ``layer``, ``verify``, ``ratio`` and ``derive``
DIMENSION_OPTIONS: tuple[tuple[tuple[str, ...], str, int], ...] = (
    (("-H", "H"), "Input height (a number or a symbol name).", 1),
    (("-W", "W"), "Input width (default: H).", 1),
    (("-N", "N"), "Input channels.", 1),
    (("-M", "M"), "Output channels.", 1),
    (("-K", "K"), "Kernel size (default 3).", 1),
    (("-G", "G"), "Groups / cardinality.", 1),
    (("-T", "T"), "Expansion factor (inverted_residual).", 1),
    (("-B", "B"), "Bottleneck width (bottleneck, resnext, shufflenet_unit).", 1),
    (("--stride", "-S", "S"), "Stride (default 1).", 1),
    (("--padding", "-P", "P"), "Padding (default: 'same', D·(K−1)//2).", 0),
    (("--dilation", "-D", "D"), "Dilation (default 1).", 1),
)


def dimension_options(names: str = "HWNMKGTBSPD", **help_overrides: str) -> Any:
    """Decorator adding the dimension options ``names`` (one letter each) to a command; each
    arrives as a keyword argument named by its symbol, an int or a symbol name (or None)."""

    def deco(f: Any) -> Any:
        for decls, help_, minimum in reversed(DIMENSION_OPTIONS):
            symbol = decls[-1]
            if symbol in names:
                f = click.option(*decls, type=DimValue(minimum), help=help_overrides.get(symbol, help_))(f)
        return f

    return deco


def layer_field_options(f: Any) -> Any:
    """``--bias/--no-bias`` and ``--param NAME=VALUE`` for the fields without a letter."""
    f = click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Any other field of the type, e.g. stride_on=3x3, group_first=false, act=relu.")(f)
    return click.option("--bias/--no-bias", default=None, help="Conv/FC bias (conv default off, fc on).")(f)


class ChoiceValue(click.ParamType):
    """One of fixed names; anything else is a one-line usage error (exit 2) naming the choices."""

    name = "CHOICE"

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices
        self.name = "|".join(choices)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in self.choices:
            return value
        opt = param.opts[0] if param is not None and param.opts else "value"
        raise UsageError(f"option {opt}: unknown value {str(value)!r}; choose from {', '.join(self.choices)}")


class BatchValue(click.ParamType):
    """A batch size: an integer from 1 to ``costcalc.training.MAX_BATCH``."""

    name = "INT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from costcalc.training import MAX_BATCH

        text = str(value).strip()
        if not text.lstrip("+-").isdigit():
            raise UsageError(f"option --batch: {text[:40]!r} is not an integer")
        n = int(text) if len(text) < 20 else MAX_BATCH + 1
        if not 1 <= n <= MAX_BATCH:
            raise UsageError(f"option --batch: {text[:40]} is outside 1 to {MAX_BATCH:,}")
        return n


#: ``--mode`` and the optimizers of ``costcalc.training.OPTIMIZERS`` (kept here: no import of the model)
MODES = ("inference", "train")
OPTIMIZER_NAMES = ("sgd", "momentum", "adam", "adamw")


def train_options(optimizer: bool = True) -> Any:
    """``--mode inference|train``, ``--batch`` and (for networks) ``--optimizer``."""

    def deco(f: Any) -> Any:
        if optimizer:
            f = click.option("--optimizer", type=ChoiceValue(OPTIMIZER_NAMES), default=None,
                             help="With --mode train: optimizer state to count (default sgd: none; momentum: "
                                  "one buffer; adam/adamw: two buffers and a step counter per tensor).")(f)
        f = click.option("--batch", type=BatchValue(), default=None,
                         help="With --mode train: the batch size (default 1, at most 1,000,000).")(f)
        return click.option("--mode", type=ChoiceValue(MODES), default="inference", show_default=True,
                            help="inference: the forward pass; train: forward, backward and memory of one "
                                 "training step.")(f)

    return deco


def train_settings(mode: str, batch: int | None, optimizer: str | None, fmt: str,
                   formats: tuple[str, ...]) -> tuple[int, str] | None:
    """(batch, optimizer) for ``--mode train``, None for inference; options that do not fit the mode
    are usage errors."""
    if mode != "train":
        if batch is not None or optimizer is not None:
            raise UsageError("options --batch and --optimizer apply to --mode train")
        return None
    if fmt not in formats:
        raise UsageError(f"--mode train: --format {fmt} is not available; use {', '.join(formats)}")
    return (1 if batch is None else batch), (optimizer or "sgd")


@main.command()
@click.option("--type", "-t", "type_name", required=True, metavar="TYPE",
              help="Layer or block type (see `costcalc types`).")
@dimension_options()
@layer_field_options
@click.option("--format", "fmt", type=click.Choice(FORMATS_LAYER), default="table", show_default=True)
@click.option("--dtype-bytes", type=click.IntRange(1, 16), default=4, show_default=True,
              help="Bytes per element for 'bytes moved'.")
@train_options(optimizer=False)
def layer(type_name: str, params: tuple[str, ...], fmt: str, dtype_bytes: int, bias: bool | None,
          mode: str, batch: int | None, **dims: Any) -> None:
    """Cost of one layer or block: formulas, values, output shape, ratio to a standard conv.

    \b
    costcalc layer --type depthwise -H 56 -N 64
    costcalc layer --type conv -H 56 -N 64 -M 128 -K 3 -G 4 --stride 2
    costcalc layer --type separable          # no numbers: the formulas themselves
    costcalc layer --type depthwise --mode train   # forward, input- and weight-gradient formulas
    """
    from costcalc.engine import analyze_layer
    from costcalc.layers.base import DimError

    given: dict[str, Any] = {k: v for k, v in dims.items() if v is not None}
    if bias is not None:
        given["bias"] = bias
    given.update(_parse_params(params))
    try:
        report = analyze_layer(type_name, given)
    except DimError as e:
        flag = _FLAG.get(e.field.split(".")[0], e.field)
        raise UsageError(f"{type_name}: {flag} {e.value}: {e.reason}") from None
    except CostcalcError as e:
        raise UsageError(str(e)) from None
    train = train_settings(mode, batch, None, fmt, ("table", "json"))
    if train is not None:
        from costcalc.render.training import echo_layer_train

        return echo_layer_train(report, fmt, train[0], dtype_bytes)
    if fmt == "json":
        from costcalc.render.layer import layer_json

        click.echo(json.dumps(layer_json(report, dtype_bytes), indent=2))
    elif fmt == "latex":
        from costcalc.render.layer import layer_latex

        click.echo(layer_latex(report))
    else:
        from costcalc.render.layer import layer_table

        layer_table(report, _console(), dtype_bytes)


_FLAG = {"S": "--stride", "P": "--padding", "D": "--dilation", "bias": "--bias"}
_FLAG.update({k: f"-{k}" for k in "HWNMKGTB"})


def _console() -> Any:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 120)


@main.command()
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def types(name: str | None, fmt: str) -> None:
    """Every layer and block type: its dimensions and its formulas (or one type in detail)."""
    from costcalc.engine import type_formulas
    from costcalc.layers import all_types, get_type
    from costcalc.num import pretty, to_json

    chosen = [get_type(name)] if name else list(all_types().values())
    if fmt == "json":
        doc = []
        for lt in chosen:
            f, _ = type_formulas(lt)
            doc.append({"type": lt.name, "summary": lt.summary, "fields": list(lt.params),
                        "required": list(lt.required), "macs": to_json(f.macs), "params": to_json(f.params)})
        click.echo(json.dumps(doc, indent=2))
        return
    from rich.table import Table

    t = Table(title="costcalc layer types (formulas at stride 1, W×H input, N channels)")
    for col in ("type", "fields", "MACs", "params", "what it is"):
        t.add_column(col)
    for lt in chosen:
        f, _ = type_formulas(lt)
        fields_ = ", ".join(lt.params)
        t.add_row(lt.name, fields_, pretty(f.macs, True), pretty(f.params, True), lt.summary)
    console = _console()
    console.print(t)
    if name:
        lt = chosen[0]
        console.print(lt.doc)
        for p in lt.params:
            info = lt.field_info(p)
            console.print(f"  [bold]{p}[/]: {info.get('doc', '')}"
                          + (f" (default {lt.default(p)})" if lt.default(p) is not None else ""))


def run() -> None:  # pragma: no cover - console entry for `python -m costcalc`
    main()


#: modules that add commands to ``main`` (extend by adding a module here)
COMMAND_MODULES = (
    "costcalc.commands.net",  # net
    "costcalc.commands.derive",  # ratio, derive
    "costcalc.commands.verify",  # verify
    "costcalc.commands.explore",  # compare, sweep, plot
    "costcalc.commands.latency",  # latency, calibrate
)


def _load_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # a module that exists but fails to import is a bug: show it
                raise


_load_commands()
