"""Spec values: variables and ``--set`` overrides, expressions (through the safe evaluator in
:mod:`costcalc.expr`, never ``eval``), dimensions and option values."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Mapping

from costcalc.errors import ExprError, SpecError, UsageError
from costcalc.layers.base import LayerType
from costcalc.spec.messages import _brief, _suggest

MAX_NAME = 100  # characters of a layer name or a text value


def parse_override(text: str, where: str = "--set") -> tuple[str, str]:
    """``NAME=VALUE`` → (name, value text). A malformed option is a usage error (exit status 2)."""
    if "=" not in text:
        raise UsageError(f"option {where} {_brief(text)}: expected NAME=VALUE")
    k, v = (s.strip() for s in text.split("=", 1))
    if not k.isidentifier():
        raise UsageError(f"option {where}: {_brief(text)}: {_brief(k)} is not a variable name")
    return k, v


#: longest symbol name accepted from ``--set NAME=SYMBOL`` (as for ``costcalc layer`` options)
MAX_SYMBOL = 32


def _override_value(name: str, text: str, known: Mapping[str, Any]) -> Any:
    """A ``--set`` value: a number, a new symbol name, or an expression over the other vars.
    A value that cannot be read is a usage error (exit status 2): the option is wrong, not the file."""
    from costcalc.expr import evaluate, parse_number

    where = f"option --set {name}={_brief(text, quote=False)}"
    try:
        n = parse_number(text)
    except ExprError as e:
        raise UsageError(f"{where}: {e}") from None
    if n is not None:
        return n
    if text.isidentifier() and text not in known and not text.startswith("_"):
        if len(text) > MAX_SYMBOL:
            raise UsageError(f"{where}: symbol names are at most {MAX_SYMBOL} characters")
        from costcalc.engine import symbol

        return symbol(text)
    try:
        return evaluate(text, known)
    except ExprError as e:
        raise UsageError(f"{where}: {e}") from None


def _field(lt: LayerType, name: str, value: Any, names: Mapping[str, Any], where: str) -> Any:
    info = lt.field_info(name)
    kind = info.get("kind")
    if value is None:
        if lt.default(name) is None:
            return None  # null means "the default" where the default is "none / from the input"
        raise SpecError(f"{where}: {name} is null; give a value or leave the field out "
                        f"(default {lt.default(name)})")
    if kind == "dim":
        if isinstance(value, list) and info.get("pair"):
            if len(value) != 2:
                raise SpecError(f"{where}: {name} must be one number or [height, width], got {_brief(value)}")
            return tuple(_dim(v, names, f"{where}: {name}[{j}]", name, info.get("minimum", 1))
                         for j, v in enumerate(value))
        return _dim(value, names, f"{where}: {name}", name, info.get("minimum", 1))
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"{where}: {name} must be true or false, got {_brief(value)}")
        return value
    if not isinstance(value, str):
        raise SpecError(f"{where}: {name} must be text, got {_brief(value)}")
    if len(value) > MAX_NAME:
        raise SpecError(f"{where}: {name}={_brief(value)} is not a valid value (longer than {MAX_NAME} "
                        "characters)")
    choices = info.get("choices")
    if choices and value not in choices:
        raise SpecError(f"{where}: {name}={_brief(value)} is not one of {', '.join(map(str, choices))}"
                        f"{_suggest(value, choices)}")
    return value


def _expr(value: Any, names: Mapping[str, Any], where: str) -> Any:
    from costcalc.expr import evaluate

    if isinstance(value, bool) or not isinstance(value, (int, float, str, Fraction)):
        raise SpecError(f"{where}: expected a number or an expression, got {_brief(value)}")
    try:
        return evaluate(value, names)
    except ExprError as e:
        raise SpecError(f"{where}: {e}") from None


#: largest accepted dimension: 2**62 - 1 (any real network is many orders of magnitude smaller)
MAX_DIM_BITS = 62


def _dim(value: Any, names: Mapping[str, Any], where: str, name: str, minimum: int = 1) -> Any:
    from costcalc.num import is_int, is_symbolic

    v = _expr(value, names, where)
    if type(v) is int and minimum <= v and v.bit_length() <= MAX_DIM_BITS:
        return v  # the common case, before any message text is made
    shown = _brief(value) if isinstance(value, str) else None  # an expression: show it and its value
    if isinstance(v, Fraction):
        if v.denominator != 1:
            value_text = f"{shown} = {float(v):g}" if shown else f"{float(v):g}"
            raise SpecError(f"{where} = {value_text} is not an integer "
                            "(round it with int(), round() or make_divisible())")
        v = int(v)
    if is_int(v):
        value_text = f"{shown} = {v}" if shown and shown.strip("'") != str(v) else str(v)
        if v < minimum:
            kind = "positive" if minimum else "non-negative"
            raise SpecError(f"{where} = {value_text} must be a {kind} integer")
        if v.bit_length() > MAX_DIM_BITS:
            raise SpecError(f"{where} = {_brief(value_text, quote=False)} is too large "
                            f"(limit 2**{MAX_DIM_BITS} - 1)")
        return v
    if isinstance(v, bool) or not is_symbolic(v):
        raise SpecError(f"{where}: expected a number, got {_brief(value)}")
    return v


def _show_value(v: Any) -> str:
    if isinstance(v, Fraction):
        return f"{float(v):g}"
    return _brief(v, quote=False)


