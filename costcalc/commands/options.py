"""Options shared by several commands, in one place: dimension options (``-H -N -M ...``), layer
field options (``--bias``, ``--param``), the network view options (``--units``, ``--params``,
``--dtype-bytes``) and ``--set``. Command modules import from here, never private helpers of
:mod:`costcalc.cli`."""

from __future__ import annotations

from typing import Any

import click

from costcalc.errors import UsageError

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


def parse_params(items: tuple[str, ...]) -> dict[str, Any]:
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


#: the option that sets each field, for messages
_FLAG = {"S": "--stride", "P": "--padding", "D": "--dilation", "bias": "--bias"}
_FLAG.update({k: f"-{k}" for k in "HWNMKGTB"})


def parse_sets(items: tuple[str, ...]) -> dict[str, str]:
    """``--set NAME=VALUE`` options → {name: value text} (values are parsed by the spec loader)."""
    from costcalc.spec import parse_override

    out: dict[str, str] = {}
    for item in items:
        k, v = parse_override(item)
        out[k] = v
    return out


def view_options(f: Any) -> Any:
    """Options shared by the commands that print network tables: ``--units``, ``--params``,
    ``--dtype-bytes``, ``--human`` and ``--width``. They arrive as ``units``, ``params_view``,
    ``dtype_bytes`` and ``human`` (see :func:`make_view`); ``--width`` is applied on parsing."""
    f = click.option("--units", type=click.Choice(("macs", "flops")), default="macs", show_default=True,
                     help="Count multiply-adds (MACs) or FLOPs (= 2 × MACs).")(f)
    f = click.option("--params", "params_view", type=click.Choice(("torch", "weights")), default="torch",
                     show_default=True,
                     help="Params as PyTorch counts them, or conv/FC weights only (the papers' count).")(f)
    f = click.option("--dtype-bytes", type=click.IntRange(1, 16), default=4, show_default=True,
                     help="Bytes per element for memory traffic.")(f)
    f = click.option("--human", is_flag=True,
                     help="Counts with SI prefixes (3.86 G MACs, 25.6 M params) instead of exact integers.")(f)
    return width_option(f)


def make_view(units: str = "macs", params_view: str = "torch", dtype_bytes: int = 4, human: bool = False,
              **kw: Any) -> Any:
    """The :class:`~costcalc.render.view.View` of :func:`view_options`' values (``kw``: depth, top, ...)."""
    from costcalc.render.view import View

    return View(units=units, params=params_view, dtype_bytes=dtype_bytes, human=human, **kw)


def _set_width(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    from costcalc.render.output import set_width

    set_width(value)


def width_option(f: Any) -> Any:
    """``--width N``: lay tables out in N columns (default: COLUMNS, the terminal, or 120 for a
    pipe). Numbers and formulas are never cut: tables wrap names, merge columns, or stack."""
    from costcalc.render.output import MIN_WIDTH

    return click.option("--width", type=click.IntRange(MIN_WIDTH, 100_000), default=None, expose_value=False,
                        callback=_set_width, is_eager=True, metavar="N",
                        help="Output width in columns (default: $COLUMNS, the terminal, or 120 for a pipe).")(f)


def formula_options(f: Any) -> Any:
    """``--assume`` and ``--exact`` for commands whose results may be formulas."""
    f = click.option("--assume", "assume", multiple=True, metavar="RELATION",
                     help="A bound on a symbolic variable that simplifies formulas, e.g. 'alpha>=0.25' "
                          "(max(int(64*alpha), 8) becomes 64·alpha).")(f)
    return click.option("--exact", is_flag=True,
                        help="Keep PyTorch's floors in formulas (⌈R/32⌉ terms): exact for every value, "
                             "not only where the closed form's conditions hold.")(f)


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
                   formats: tuple[str, ...], inference_only: dict[str, bool] | None = None) -> tuple[int, str] | None:
    """(batch, optimizer) for ``--mode train``, None for inference; options that do not fit the mode
    are usage errors. ``inference_only``: option → whether the user gave it; each given one is an
    error under ``--mode train`` (the training table does not apply it, and would not say so)."""
    if mode != "train":
        if batch is not None or optimizer is not None:
            raise UsageError("options --batch and --optimizer apply to --mode train")
        return None
    if fmt not in formats:
        raise UsageError(f"--mode train: --format {fmt} is not available; use {', '.join(formats)}")
    given = [name for name, set_ in (inference_only or {}).items() if set_]
    if given:
        raise UsageError(f"--mode train: option {given[0]} applies to the inference table only; the training "
                         "table does not use it")
    return (1 if batch is None else batch), (optimizer or "sgd")
