"""Exact numbers in two worlds: plain ``int`` for numbers, sympy expressions for symbols.

Cost rules are written once in ordinary arithmetic (``h * w * n * k * k * m``) and are called either
with ints (the numeric path, which never imports sympy) or with sympy symbols (the symbolic path).
The few operations that differ between the worlds live here: exact division, structural equality,
spatial output size, and conversion to JSON / human-readable text.
"""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction
from typing import Any, Iterator, Union

#: A count or dimension: an exact ``int`` or a sympy expression.
Num = Union[int, Any]


class paused_gc:  # noqa: N801 - used as a context manager, like contextlib's
    """Pause the cyclic garbage collector while a network is built or walked.

    Those steps allocate hundreds of thousands of small objects that stay alive (layers, rows,
    shapes); each allocation burst triggers collections that traverse everything allocated so
    far, which makes 100,000 layers superlinear (about 45% of the time). Reference counting
    still frees everything at once; cycles made meanwhile are collected after the block.
    Re-entrant: only the outermost block re-enables the collector."""

    __slots__ = ("was",)

    def __enter__(self) -> None:
        import gc

        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            import gc

            gc.enable()


class Lifted:
    """Base of a value that stands for one exact int at each of many grid points
    (:class:`costcalc.compiled.IntVec`). The numeric path treats it as an int; every decision taken
    on it (a comparison, a truth value) must come out the same at every point, or it raises."""

    __slots__ = ()


def is_int(x: object) -> bool:
    return isinstance(x, (int, Lifted)) and not isinstance(x, bool)


def is_symbolic(x: object) -> bool:
    """True for sympy objects that are not plain numbers."""
    if is_int(x) or isinstance(x, Fraction):
        return False
    if "sympy" not in sys.modules:  # nothing symbolic can exist before sympy is imported
        return False
    import sympy

    return isinstance(x, sympy.Basic) and not x.is_Number


def normalize(x: Any) -> Num:
    """Turn sympy integers and integral Fractions into ``int``; leave the rest alone."""
    if is_int(x):
        return x
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else x
    if "sympy" in sys.modules:
        import sympy

        if isinstance(x, sympy.Basic):
            if x.is_Integer:
                return int(x)
            if x.is_Rational:
                return Fraction(int(x.p), int(x.q))
    return x


def div(a: Num, b: Num) -> Num:
    """Exact ``a / b``: integer division for ints (callers validate divisibility first), a sympy
    quotient otherwise."""
    if is_int(a) and is_int(b):
        q, r = divmod(a, b)
        if r:
            return Fraction(a, b)
        return q
    return normalize(_sym(a) / _sym(b))


def to_sympy(x: Any) -> Any:
    """A number or expression as a sympy object. Never parses text: ``strict=True`` converts
    ints, Fractions, bools and sympy objects only, and refuses strings (sympify on a string would
    evaluate it as code). Every conversion to sympy in costcalc goes through here."""
    import sympy

    return sympy.sympify(x, strict=True)  # safe: strict=True refuses strings; only numbers and sympy objects


def _sym(x: Num) -> Any:
    return to_sympy(x)


def same(a: Num, b: Num) -> bool | None:
    """Structural equality of two dimensions: True/False when decidable, None when one side is a
    number and the other a symbol (a block cannot decide its structure then)."""
    if is_int(a) and is_int(b):
        return a == b
    if is_int(a) or is_int(b):
        return None
    if a == b:
        return True
    if EXACT_FLOORS.get() and ROUNDINGS.get() is not None and _difference_may_vanish(a, b):
        # floor terms that differ as expressions may be equal at some values (two widths both
        # rounded to 8): the structure chosen (no identity shortcut) holds where they differ
        note_distinct(a, b)
    return False


def may_equal(a: Num, b: Num) -> bool:
    """Whether ``a == b`` is possible: False for different ints, or for symbolic dimensions whose
    difference sympy proves non-zero (``480·α`` vs ``240·α``); True when equal or undecidable
    (two independent symbols ``M`` and ``N``)."""
    if is_int(a) and is_int(b):
        return a == b
    if not is_int(a) and not is_int(b) and a == b:
        return True
    return _difference_may_vanish(a, b)


def _difference_may_vanish(a: Num, b: Num) -> bool:
    diff = normalize(_sym(a) - _sym(b))
    if is_int(diff) or isinstance(diff, Fraction):
        return diff == 0
    return diff.is_zero is not False


#: While set (see :func:`exact_floors`), symbolic sizes keep PyTorch's rounding: a spatial size is a
#: ``ceiling`` term instead of the closed form ``size/s``, and the spec functions ``int``, ``floor``,
#: ``ceil``, ``round``, ``make_divisible`` and ``//`` keep theirs. The result is a form that is exact
#: for every value of the symbols; :mod:`costcalc.conditions` states where the plain closed form is.
EXACT_FLOORS: ContextVar[bool] = ContextVar("costcalc_exact_floors", default=False)


@contextmanager
def exact_floors() -> Iterator[None]:
    """Evaluate with the rounding of sizes and spec functions kept symbolically (see
    :data:`EXACT_FLOORS`). Block expansions cached from a closed-form evaluation are dropped on the
    way in and out, so that neither world sees the other's shapes."""
    token = EXACT_FLOORS.set(True)
    _clear_expansions()
    try:
        yield
    finally:
        EXACT_FLOORS.reset(token)
        _clear_expansions()


def _clear_expansions() -> None:
    from costcalc.layers import base

    clear = getattr(getattr(base, "_expand", None), "cache_clear", None)
    if clear is not None:
        clear()


#: While a list (see :func:`noting_roundings`), what a symbolic evaluation assumed is appended:
#: ``("integer", expression, lower bound or None)`` for a rounding a spec function skipped (exact
#: when the expression is an integer), ``("distinct", a, b)`` for a block structure chosen because
#: two symbolic sizes differ (a shortcut kept or not) while some values could make them equal.
ROUNDINGS: ContextVar[list[tuple[Any, ...]] | None] = ContextVar("costcalc_roundings", default=None)


def note_rounding(integer: Any, at_least: Any = None) -> None:
    """Record that a closed form dropped a rounding: it is exact when ``integer`` is an integer
    (and the rounded value is at least ``at_least``)."""
    notes = ROUNDINGS.get()
    if notes is not None:
        notes.append(("integer", integer, at_least))


def note_distinct(a: Any, b: Any) -> None:
    """Record that a structure was chosen because symbolic ``a`` and ``b`` differ."""
    notes = ROUNDINGS.get()
    if notes is not None:
        notes.append(("distinct", a, b))


@contextmanager
def noting_roundings() -> Iterator[list[tuple[Any, ...]]]:
    """Collect :func:`note_rounding` calls made inside the block (spec expressions with symbols)."""
    notes: list[tuple[Any, Any]] = []
    token = ROUNDINGS.set(notes)
    try:
        yield notes
    finally:
        ROUNDINGS.reset(token)


def pair(v: Any) -> tuple[Any, Any]:
    """A window dimension as (height, width): ``K: [1, 7]`` is (1, 7), ``K: 3`` is (3, 3)."""
    return (v[0], v[1]) if isinstance(v, tuple) else (v, v)


def conv_out(size: Num, k: Num, s: Num, p: Num | None, d: Num = 1, ceil: bool = False) -> Num:
    """Output length of a convolution/pooling window along one axis.

    Numbers follow PyTorch's arithmetic ``floor((size + 2p - d(k-1) - 1) / s) + 1``; ``p=None`` means
    "same" padding ``p = d(k-1)//2``. ``ceil=True`` is pooling's ``ceil_mode``: the division rounds
    up, and a last window that would start in the right padding is dropped (PyTorch's rule).

    Symbols have no floor: with ``c = 2p - d(k-1) - 1`` a number, the closed form is
    ``size/s + floor(c/s) + 1`` (``ceil`` for ceil_mode), which equals PyTorch's size exactly when
    ``size/s`` is an integer (:mod:`costcalc.conditions` derives where that holds); "same" padding
    with an odd kernel gives ``size/s``. Under :func:`exact_floors` the size is the exact
    ``ceiling`` term instead (ceil_mode's dropped last window aside). With a symbolic window the
    floor is dropped.
    """
    if all(is_int(v) for v in (size, k, s, d)) and (p is None or is_int(p)):
        pad = d * (k - 1) // 2 if p is None else p
        span = size + 2 * pad - d * (k - 1) - 1
        if not ceil:
            return span // s + 1
        out = -(-span // s) + 1
        if (out - 1) * s >= size + pad:
            out -= 1
        return out
    if p is None and is_int(k) and is_int(d):
        p = d * (k - 1) // 2  # an even kernel pads one less than it covers: not size/s
    elif p is None:
        note_rounding(div(d * (k - 1), 2))  # "same" padding gives size/s only for an odd D·(K−1) + 1
    if EXACT_FLOORS.get() and all(is_int(v) for v in (k, s, d)) and is_int(p):
        c = 2 * p - d * (k - 1) - 1
        return _exact_out(size, c + s - 1 if ceil else c, s)
    if p is None or normalize(2 * p - d * (k - 1)) == 0:  # "same" padding
        return div(size, s)
    c = 2 * p - d * (k - 1) - 1
    if is_int(c) and is_int(s):
        return normalize(div(size, s) + (-(-c // s) if ceil else c // s) + 1)
    # a symbolic window: cancel, so (H − K)/K + 1 is H/K (a patch embedding, a K×K/K conv)
    import sympy

    return normalize(sympy.cancel(to_sympy(div(size + c, s) + 1)))


def _exact_out(size: Num, offset: int, s: int) -> Num:
    """``floor((size + offset)/s) + 1`` for an integer-valued symbolic ``size``, written as
    ``ceiling((size + offset + 1)/s)``; a ``size`` that is itself ``ceiling(v)`` gives
    ``ceiling((v + offset + 1)/s)`` (equal for integer ``offset`` and ``s > 0``), so a chain of
    strides stays one term: ``ceiling(R/32)``, not five nested ones."""
    import sympy

    if s == 1:
        return normalize(_sym(size) + offset + 1)
    inner = _sym(size)
    if isinstance(inner, sympy.ceiling):
        inner = inner.args[0]
    return sympy.ceiling((inner + offset + 1) / s)


def var_json(x: Any) -> Any:
    """JSON value for a spec variable: like :func:`to_json`, but a terminating decimal such as
    ``alpha = 3/4`` is written as the number 0.75 that the user typed."""
    x = normalize(x)
    if isinstance(x, Fraction):
        d = x.denominator
        for p in (2, 5):
            while d % p == 0:
                d //= p
        if d == 1:
            return float(x)
    return to_json(x)


def to_json(x: Any) -> Any:
    """JSON value for a count: ints stay ints, everything else becomes sympy-syntax text."""
    x = normalize(x)
    if is_int(x) or x is None or isinstance(x, (bool, str, float)):
        return x
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}"
    return _sympy_text(x)


@functools.lru_cache(maxsize=8192)
def _sympy_text(x: Any) -> str:
    """sympy's text of an expression, once per distinct expression: a network repeats the same
    shapes and costs in every identical block, and printing is the slowest step of a symbolic
    JSON (structurally equal expressions print alike)."""
    return str(x)


# ----------------------------------------------------------------------------------------------
# Human-readable formulas: H·W·N·K²·M in the seed's order, not sympy's alphabetical H*K**2*M*N*W.

#: Order in which symbols appear in a product, following the seed article (H·W·N·K²·M/G).
SYMBOL_ORDER = ["H", "h", "W", "w", "N", "K", "M", "G", "T", "B", "S", "P", "D"]
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _sym_key(sym: Any) -> tuple[int, str]:
    name = str(sym)
    return (SYMBOL_ORDER.index(name) if name in SYMBOL_ORDER else len(SYMBOL_ORDER), name)


def pretty(x: Any, factor: bool = False) -> str:
    """Render a count or formula for people: ``H·W·N·(K² + M)``, ``1/M + 1/K²``, ``1,806,336``.

    ``factor=True`` first pulls common factors out of sums (sympy ``factor_terms``), the way the
    papers write costs: ``H·W·N·(K² + M)`` rather than ``H·W·N·K² + H·W·N·M``.
    """
    x = normalize(x)
    if is_int(x):
        return f"{x:,}"
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}"
    if factor:
        import sympy

        x = sympy.factor_terms(x)
    return _pretty(x)


def _pretty(e: Any) -> str:
    import sympy

    if e.is_Symbol:
        return str(e)
    if e.is_Integer:
        return str(int(e))
    if e.is_Rational:
        return f"{e.p}/{e.q}"
    if e.is_Add:
        terms = sorted(e.args, key=lambda t: (t.could_extract_minus_sign(), -_degree(t), _degree(1 / t),
                                              _term_key(t)))
        out = _pretty(terms[0])
        for t in terms[1:]:
            s = _pretty(t)
            out += f" - {s[1:]}" if s.startswith("-") else f" + {s}"
        return out
    if e.is_Pow:
        base, exp = e.args
        if exp.is_Integer and int(exp) < 0:
            return f"1/{_pretty_factor(sympy.Pow(base, -exp))}"
        b = _pretty_atom(base)
        if exp.is_Integer:
            return b + str(int(exp)).translate(_SUPERSCRIPT)
        return f"{b}^({_pretty(exp)})"
    if e.is_Mul:
        return _pretty_mul(e)
    if e.is_Function:
        return _pretty_function(e)
    return str(e)


#: how functions of a formula are written: max(8, 32·α), ⌈R/32⌉, ⌊32·α⌋
_FUNCTIONS = {"Max": "max", "Min": "min", "Abs": "abs"}
_BRACKETS = {"floor": ("⌊", "⌋"), "ceiling": ("⌈", "⌉")}


def _pretty_function(e: Any) -> str:
    name = type(e).__name__
    if name in _BRACKETS:
        left, right = _BRACKETS[name]
        return f"{left}{_pretty(e.args[0])}{right}"
    if name == "Piecewise":
        parts = [f"{_pretty(v)} if {_pretty_condition(c)}" for v, c in e.args[:-1]]
        return "(" + " else ".join(parts + [_pretty(e.args[-1][0])]) + ")"
    args = sorted(e.args, key=lambda a: (not a.is_Number, _degree(a))) if name in ("Max", "Min") else e.args
    return f"{_FUNCTIONS.get(name, name)}({', '.join(_pretty(a) for a in args)})"


_RELATIONS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠"}


def _pretty_condition(c: Any) -> str:
    op = getattr(c, "rel_op", None)
    if op in _RELATIONS:
        return f"{_pretty(c.lhs)} {_RELATIONS[op]} {_pretty(c.rhs)}"
    return str(c)


def _degree(t: Any) -> int:
    """Degree of a term in its numerator symbols. Sums list terms with more numerator factors
    first, then fewer denominator factors: ``2·c/g + 9``, ``1/M + 1/K²``."""
    try:
        powers = t.as_powers_dict()
        return int(sum(max(x, 0) for b, x in powers.items() if not b.is_Number and x.is_Number))
    except Exception:  # noqa: BLE001 - ordering only, never affects a number
        return 0


def _term_key(t: Any) -> str:
    return "".join(str(_sym_key(s)[0]) for s in sorted(t.free_symbols, key=_sym_key))


def _pretty_atom(e: Any) -> str:
    if e.is_Symbol or (e.is_Integer and int(e) >= 0) or e.is_Function:
        return _pretty(e)
    return f"({_pretty(e)})"


def _pretty_factor(e: Any) -> str:
    s = _pretty(e)
    return s if (e.is_Symbol or e.is_Pow or e.is_Number or e.is_Function) else f"({s})"


def _pretty_mul(e: Any) -> str:
    import sympy

    coeff, rest = e.as_coeff_Mul()
    num, den = [], []
    for f in sympy.Mul.make_args(rest):
        if f.is_Pow and f.args[1].is_Number and f.args[1] < 0:
            den.append(sympy.Pow(f.args[0], -f.args[1]))
        else:
            num.append(f)
    num.sort(key=lambda f: _sym_key(f.as_base_exp()[0]) if f.as_base_exp()[0].is_Symbol else (99, str(f)))
    den.sort(key=lambda f: _sym_key(f.as_base_exp()[0]) if f.as_base_exp()[0].is_Symbol else (99, str(f)))
    sign = ""
    if coeff < 0:
        sign, coeff = "-", -coeff
    p, q = (int(coeff.p), int(coeff.q)) if coeff.is_Rational else (coeff, 1)
    parts = [] if p == 1 else [str(p)]
    parts += [_pretty_atom(f) if f.is_Add else _pretty(f) for f in num]
    top = "·".join(parts) if parts else "1"
    bottom = [str(q)] if q != 1 else []
    bottom += [_pretty_factor(f) for f in den]
    if not bottom:
        return sign + top
    b = bottom[0] if len(bottom) == 1 else "(" + "·".join(bottom) + ")"
    return f"{sign}{top}/{b}"
