"""Symbolic derivations over layer costs (the module behind ``costcalc ratio`` and ``costcalc derive``;
the Python API calls it through ``costcalc.ratio`` and ``costcalc.derive``).

Nothing here re-implements a formula. :func:`layer_cost` builds a registered layer type with its
dimensions as sympy symbols (the engine's :func:`~costcalc.engine.symbol`, positive) or as
expressions the caller gives (``H=H/2``, ``N=2*N``), evaluates it with the engine, and returns one
metric of the total. :func:`ratio` and :func:`derive` are arithmetic over such costs.

How names in a ``derive`` expression are resolved (the expression goes through the safe evaluator
:func:`costcalc.expr.evaluate`; it is never ``eval``-ed or ``sympify``-ed):

- every registered type name is a *function*: ``separable(H=H/2, M=2*M)``; its keyword arguments
  override ``H``, ``W``, ``N`` (the input shape) and the type's own fields; positional arguments
  are refused. A dimension not given is the type's symbol (``M``, ``K``, ``G``, ``T``, ``B``) or,
  for structural fields (stride, padding, dilation), its default.
- every other identifier written in the text (found with a regular expression over the text, not
  by parsing it) is a positive sympy symbol of that name: ``H``, ``W``, ``N``, ``M``, ``K``, ``G``,
  ``T``, ``B``, ``S`` and anything else (``alpha``, ``rho``). Names that the evaluator refuses
  (dunder names, ``_private``) are not turned into symbols, so the evaluator reports them.

Numbers for the dimensions (``dims``) are substituted into the result afterwards, giving
``value``: the closed form at those numbers (so ``H/2`` of an odd ``H`` is a fraction, not the
floor PyTorch would take; ``costcalc layer`` gives the floored count). A dimension given as a name
(``N="c"``) renames the symbol in the result instead, to write a formula in a paper's letters.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Mapping

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from costcalc.cost import Cost, Shape
from costcalc.errors import CostcalcError, ExprError
from costcalc.metrics import NAMES
from costcalc.metrics import metric as _metric
from costcalc.num import to_sympy

#: metrics a derivation can use (the names of :data:`costcalc.metrics.METRICS`)
METRICS: tuple[str, ...] = NAMES

#: dimensions of the input shape every type accepts
SHAPE_DIMS: tuple[str, ...] = ("H", "W", "N")

#: the dimension symbols (README.md), always available in an expression
DIM_SYMBOLS: tuple[str, ...] = ("H", "W", "N", "M", "K", "G", "T", "B", "S")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = frozenset({"and", "or", "not", "if", "else", "True", "False", "None", "in", "is",
                       "lambda", "for"})


# ----------------------------------------------------------------------------------------------
# One layer's formula


def type_dimensions(type_name: str) -> tuple[str, ...]:
    """The names a type accepts in ``layer_cost``/``derive``: H, W, N and its fields."""
    from costcalc.layers.base import get_type

    lt = get_type(type_name)
    names = list(SHAPE_DIMS) + list(lt.params)
    if "M" not in lt.params and lt.cls.arity > 1:
        names.append("M")  # channels of the second input (concat)
    return tuple(names)


def _metric_of(cost: Cost, metric: str, dtype_bytes: int) -> Any:
    return _metric(metric)(cost, dtype_bytes)


def check_metric(metric: str) -> None:
    _metric(metric)  # an unknown name raises with the closest names


#: While a list (see :func:`collecting_rows`), :func:`layer_cost` appends the rows it evaluated.
_ROWS: ContextVar[list[Any] | None] = ContextVar("costcalc_derive_rows", default=None)


@contextmanager
def collecting_rows() -> Iterator[list[Any]]:
    """Collect the rows (shapes) of every layer a derivation evaluates, for
    :mod:`costcalc.conditions` (``conv(S=2)`` makes ``H/2`` a size: exact for even ``H``)."""
    rows: list[Any] = []
    token = _ROWS.set(rows)
    try:
        yield rows
    finally:
        _ROWS.reset(token)


def _sym_value(v: Any) -> Any:
    """A dimension value as the engine takes it: ints stay ints, Fractions become sympy."""
    if isinstance(v, Fraction):
        import sympy

        return sympy.Rational(v.numerator, v.denominator)
    return v


def layer_cost(type_name: str, metric: str = "macs", dtype_bytes: int = 4, **dims: Any) -> Any:
    """The ``metric`` of one registered layer/block type as a sympy expression (or ``int``).

    Dimensions not given are the engine's symbols (``H``, ``W``, ``N``, and the type's symbolic
    fields such as ``M``, ``K``, ``G``, ``T``, ``B``); ``dims`` override any of them with numbers or
    expressions (``H=H/2``, ``N=2*N``). Structural fields (``S``, ``P``, ``D``) keep their defaults
    unless given; the ``M`` of residual units defaults to ``N`` (the repeated unit).

    >>> layer_cost("separable", H=56, W=56, N=32, M=64, K=3)
    7325696
    """

    from costcalc.engine import evaluate, symbol
    from costcalc.layers.base import DimError, get_type
    from costcalc.layers.base import suggest as _suggest

    check_metric(metric)
    lt = get_type(type_name)
    allowed = type_dimensions(type_name)
    for k, v in dims.items():
        if k not in allowed:
            raise DimError(k, v, f"no such dimension{_suggest(k, allowed)}; "
                           f"{lt.name} takes {', '.join(allowed)}")
    for k in SHAPE_DIMS:
        v = dims.get(k)
        if isinstance(v, bool) or (isinstance(v, (int, Fraction)) and v <= 0):
            raise DimError(k, v, "must be positive")
    fields_: dict[str, Any] = {}
    for name in lt.params:
        info = lt.field_info(name)
        if name in dims:
            v = dims[name]
            if info.get("kind") == "dim":
                if isinstance(v, bool):
                    raise DimError(name, v, "must be a positive integer")
                fields_[name] = _sym_value(v)
            elif info.get("kind") == "bool":
                if not isinstance(v, bool):
                    raise DimError(name, v, "must be True or False")
                fields_[name] = v
            else:
                raise DimError(name, v, f"is a {info.get('kind')} option; it cannot be set here")
        elif lt.is_symbol(name) and not info.get("unit_default"):
            fields_[name] = symbol(name)
    h = _sym_value(dims.get("H", symbol("H")))
    w = _sym_value(dims.get("W", symbol("W")))
    n = _sym_value(dims.get("N", symbol("N")))
    m_extra = _sym_value(dims.get("M", symbol("M")))
    layer = lt.make(**fields_)
    _, cost, rows = evaluate(layer, layer.standalone_inputs(Shape(h, w, n), m_extra), lt.name)
    collected = _ROWS.get()
    if collected is not None:
        collected.extend(rows)
    out = _metric_of(cost, metric, dtype_bytes)
    return to_sympy(out) if isinstance(out, int) else out


# ----------------------------------------------------------------------------------------------
# Forms a person writes


def is_rational_function(e: Any) -> bool:
    """True when ``e`` has a symbol in its denominator."""
    import sympy

    return bool(sympy.denom(sympy.together(e)).free_symbols)


def _is_monomial(t: Any) -> bool:
    return all(b.is_Symbol and x.is_Integer for b, x in
               (f.as_base_exp() for f in t.as_ordered_factors() if not f.is_Number))


def is_laurent(e: Any) -> bool:
    """True when expanded ``e`` is a sum of monomials (a cost such as ``H·W·N·K²·M/G``), False
    when a sum sits in a denominator (a ratio such as ``(K² + 2·M)/(2·(K² + M))``)."""
    import sympy

    return all(_is_monomial(t) for t in sympy.Add.make_args(sympy.expand(e)))


def combined_form(e: Any) -> Any:
    """One expression the way the papers write it.

    A cost (a sum of monomials) has its terms grouped by their spatial factor (the powers of H, W,
    h, w) and each group's common factors pulled out: ``H·W·N·(K²/2 + M)``,
    ``H·W·m·(2·c + 9·m/G)``, ``c1·c2 + H·W·(c1 + c2)``. A ratio, or a sum without a common
    factor, is one factored fraction: ``(K² + M)/(K²·M)``."""
    import sympy

    e = to_sympy(e)
    if e.is_Number:
        return e
    expanded = sympy.expand(e)
    if not is_laurent(expanded):
        return sympy.factor(sympy.cancel(e))
    spatial = sorted((s for s in expanded.free_symbols if str(s) in ("H", "W", "h", "w")), key=str)
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for t in sympy.Add.make_args(expanded):
        powers = t.as_powers_dict()
        groups[tuple(powers.get(s, 0) for s in spatial)].append(t)
    parts = [_pull_common(ts) for ts in groups.values()]
    if len(parts) == 1 and parts[0] == expanded and is_rational_function(expanded) \
            and len(sympy.Add.make_args(expanded)) > 1:
        return sympy.factor(sympy.cancel(e))  # 1/M + 1/K² → (K² + M)/(K²·M)
    return parts[0] if len(parts) == 1 else sympy.Add(*parts, evaluate=False)


def _pull_common(terms: list[Any]) -> Any:
    """``a·x + a·y`` → ``a·(x + y)`` for the symbols common to all terms with positive exponents
    (a ``/G`` stays inside: ``H·W·m·(2·c + 9·m/G)``, the ResNeXt paper's way)."""
    import sympy

    total = sympy.Add(*terms)
    if len(terms) < 2:
        return total
    powers = [t.as_powers_dict() for t in terms]
    common = sympy.Integer(1)
    for s in total.free_symbols:
        e = to_sympy(min(p.get(s, 0) for p in powers))
        if e.is_number and e > 0:
            common *= s**e
    inner = sympy.expand(total / common)
    content, primitive = inner.as_content_primitive()
    if content.is_Integer and content > 1:  # 2·K² + 2·M → 2·(K² + M)
        common, inner = common * content, primitive
    if common == 1:
        return total
    return sympy.Mul(*sympy.Mul.make_args(common), inner, evaluate=False)


def expanded_form(e: Any) -> Any:
    """The sum of simple terms: ``1/M + 1/K²``, ``H·W·N·K²/2 + H·W·N·M``; a ratio with a sum in
    its denominator as one term per numerator term: ``K²/(2·(K² + M)) + M/(K² + M)``."""
    import sympy

    e = to_sympy(e)
    if is_laurent(e):
        return sympy.expand(e)
    num, den = sympy.fraction(sympy.cancel(e))
    den = sympy.factor(den)
    return sympy.Add(*(sympy.factor(t / den) for t in sympy.Add.make_args(sympy.expand(num))))


def show(e: Any) -> str:
    """Human-readable text of a form made by :func:`combined_form`/:func:`expanded_form`."""
    from costcalc.num import pretty

    return pretty(e)


# ----------------------------------------------------------------------------------------------
# Substitution of the given dimensions


def _split_dims(dims: Mapping[str, Any] | None) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(renames, numbers): symbol → symbol for names given, symbol → number for numbers.
    ``W`` follows ``H`` when only ``H`` is given (a square input, as in ``costcalc layer``)."""
    import sympy

    from costcalc.engine import symbol

    dims = {k: v for k, v in (dims or {}).items() if v is not None}
    if "H" in dims and "W" not in dims:
        dims["W"] = dims["H"]
    renames: dict[Any, Any] = {}
    numbers: dict[Any, Any] = {}
    for k, v in dims.items():
        if isinstance(v, str):
            renames[symbol(k)] = symbol(v)
        elif isinstance(v, Fraction):
            numbers[symbol(k)] = sympy.Rational(v.numerator, v.denominator)
        else:
            numbers[symbol(k)] = to_sympy(v)
    return renames, numbers


def exact_value(e: Any) -> int | Fraction | float | None:
    """``e`` as an exact number (int, Fraction; float when irrational), None if symbolic."""
    import sympy

    e = to_sympy(e)
    if e.free_symbols:
        return None
    e = sympy.nsimplify(e) if e.is_Float else e
    if e.is_Integer:
        return int(e)
    if e.is_Rational:
        return Fraction(int(e.p), int(e.q))
    if e.is_real and e.is_finite:
        return float(e)
    return None


def _check_finite(e: Any, what: str) -> None:
    import sympy

    if e.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise ExprError(what)


# ----------------------------------------------------------------------------------------------
# ratio and derive


@dataclass(frozen=True)
class Derivation:
    """A derived quantity: what was asked, its combined and expanded forms, and its value.

    ``result`` and ``expanded`` are sympy expressions with names given as dimensions renamed;
    ``at`` is the result with the given numbers substituted (a number or a partly symbolic
    expression); ``value`` is that number exactly (int/Fraction, float when irrational), or None
    while symbols remain."""

    expression: str
    result: Any
    expanded: Any
    value: int | Fraction | float | None
    at: Any = None
    metric: str = "macs"
    dims: Mapping[str, Any] | None = None


def _finish(expression: str, raw: Any, metric: str, dims: Mapping[str, Any] | None) -> Derivation:
    import sympy

    raw = to_sympy(raw)
    renames, numbers = _split_dims(dims)
    raw = raw.subs(renames, simultaneous=True) if renames else raw
    result = combined_form(raw)
    expanded = expanded_form(raw)
    at = sympy.simplify(raw.subs(numbers)) if numbers else None
    value = exact_value(at if at is not None else raw)
    if at is not None:
        _check_finite(at, f"{expression} is undefined at the given dimensions (division by zero)")
    return Derivation(expression, result, expanded, value, at, metric,
                      {k: v for k, v in (dims or {}).items() if v is not None})


def _structural(type_name: str, dims: Mapping[str, Any] | None) -> dict[str, Any]:
    """Dimensions passed into the layer itself rather than substituted: the stride."""
    out: dict[str, Any] = {}
    if dims and dims.get("S") is not None and "S" in type_dimensions(type_name):
        from costcalc.engine import symbol

        s = dims["S"]
        out["S"] = symbol(s) if isinstance(s, str) else s
    return out


def ratio(a: str, b: str, dims: Mapping[str, Any] | None = None, metric: str = "macs",
          dtype_bytes: int = 4) -> tuple[Any, Any, int | Fraction | float | None]:
    """Cost of type ``a`` over type ``b`` for the same input (H, W, N) and the same symbols:
    ``(combined, expanded, value)``, e.g. for separable over conv ``((K² + M)/(K²·M),
    1/M + 1/K², 521/4608)`` at K = 3, M = 512. ``dims``: numbers (substituted for ``value``) or
    names (renaming a symbol); ``S`` is the stride of both layers."""
    d = ratio_derivation(a, b, dims, metric, dtype_bytes)
    return d.result, d.expanded, d.value


def ratio_derivation(a: str, b: str, dims: Mapping[str, Any] | None = None, metric: str = "macs",
                     dtype_bytes: int = 4) -> Derivation:

    from costcalc.engine import ratio_forms

    check_metric(metric)
    ca = layer_cost(a, metric, dtype_bytes, **_structural(a, dims))
    cb = layer_cost(b, metric, dtype_bytes, **_structural(b, dims))
    if to_sympy(cb) == 0:
        raise CostcalcError(f"{b} has 0 {metric}: a ratio to it is undefined"
                            + (" (its cost is memory traffic: try --metric memory)" if metric in (
                                "macs", "flops") else ""))
    combined, _ = ratio_forms(ca, cb)
    d = _finish(f"{a} / {b}", combined, metric, dims)
    return d


def _type_function(type_name: str, metric: str, dtype_bytes: int, text: str,
                   zero_calls: list[str]) -> Callable[..., Any]:
    from costcalc.layers.base import DimError

    def call(*args: Any, **kwargs: Any) -> Any:
        if args:
            raise ExprError(f"{type_name}() takes dimensions as keywords, e.g. {type_name}(M=2*M), "
                            f"in '{text}'")
        try:
            cost = layer_cost(type_name, metric, dtype_bytes, **kwargs)
        except DimError as e:
            raise ExprError(f"{type_name}({e.field}={e.value}): {e.reason}, in '{text}'") from None
        if cost == 0:
            given = ", ".join(f"{k}={v}" for k, v in kwargs.items())
            zero_calls.append(f"{type_name}({given})")
        return cost

    return call


_UNKNOWN_FUNCTION = re.compile(r"unknown function '([^']*)'")


def derive(expr_text: str, metric: str = "macs", dims: Mapping[str, Any] | None = None,
           dtype_bytes: int = 4) -> Derivation:
    """Evaluate arithmetic over layer costs, e.g. ``"separable(H=H/2, W=W/2, N=2*N, M=2*M) /
    separable()"``, symbolically; then substitute ``dims`` (see the module docstring)."""
    from costcalc.engine import is_symbol_name, symbol
    from costcalc.expr import FUNCTIONS, evaluate
    from costcalc.layers.base import all_types, suggest

    check_metric(metric)
    if not isinstance(expr_text, str):
        raise ExprError("expected an expression")
    text = expr_text.strip()
    types = all_types()
    zero_calls: list[str] = []
    functions = {name: _type_function(name, metric, dtype_bytes, text, zero_calls) for name in types}
    names: dict[str, Any] = {n: symbol(n) for n in DIM_SYMBOLS}
    for ident in _IDENT.findall(text):
        if (ident not in types and ident not in FUNCTIONS and ident not in _KEYWORDS
                and is_symbol_name(ident) and len(ident) <= 32):
            names[ident] = symbol(ident)
    try:
        raw = evaluate(text, names, functions=functions)
    except ExprError as e:
        m = _UNKNOWN_FUNCTION.match(str(e))
        if m:
            bad = m.group(1)
            hint = suggest(bad, types)
            raise ExprError(f"unknown layer type {bad!r} in '{text}'"
                            + (hint if hint else " (`costcalc types` lists the known types)")) from None
        raise
    import sympy

    from sympy.logic.boolalg import BooleanAtom, BooleanFunction

    if isinstance(raw, (bool, BooleanAtom, BooleanFunction)) or getattr(raw, "is_Relational", False):
        raise ExprError(f"'{text}' is a comparison, not a cost")
    raw = to_sympy(_sym_value(raw))
    if raw.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        culprit = f": {', '.join(zero_calls)} has 0 {metric}" if zero_calls else ""
        raise ExprError(f"division by zero in '{text}'{culprit}")
    return _finish(text, raw, metric, dims)
