"""Where a closed form holds, derived from the network itself.

A symbolic size has no floor: a stride-2 convolution of an ``R``-pixel input gives ``R/2`` where
PyTorch gives ``floor((R + 2p - d(k-1) - 1)/2) + 1``, and ``int(32*alpha)`` in a spec gives
``32·alpha``. The closed form is therefore exact exactly when every such value is an integer: then
each floor it dropped changes nothing. This module walks a result's rows, collects every symbolic
size and channel count (the shapes the strides, paddings and spec roundings produced), adds the
roundings a spec function skipped (``make_divisible(24*alpha, 8)`` needs ``3·alpha`` to be an
integer, which the channel count ``24·alpha`` alone does not say), and reduces them to one
condition per variable:

- ``a·x + b`` is an integer for each collected value with one variable ``x``: ``x`` lies in a coset
  ``c + g·ℤ``; the cosets of all such values meet in one coset (Chinese remainder theorem over the
  rationals), e.g. ``R/2, R/4, …, R/32`` give "R is a multiple of 32" for ResNet-50;
- ``max``/``min`` of values is an integer when its arguments are (a sufficient condition);
- anything else is stated as it is: "``expr`` is an integer".

Sizes must also be at least 1, which gives a lower bound when the coset alone does not imply it.
The conditions are sufficient: where they hold, the closed form equals the count of the numeric walk
(``tests/test_conditions.py`` checks this at every ``R`` of a range). Where they do not,
:func:`costcalc.num.exact_floors` gives a form with ``ceiling``/``floor`` terms that is exact for
every value.

User assumptions (``--assume 'alpha>=0.25'``) are parsed by the safe evaluator (never ``sympify``)
into a relation that this module builds itself, then used to simplify formulas (sympy's
assumptions: a bound ``x ≥ c`` is applied by writing ``x = c + t`` with ``t`` non-negative, so that
``max(8, 32·alpha)`` becomes ``32·alpha`` where ``alpha ≥ 1/4``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping, Sequence

from costcalc.errors import UsageError
from costcalc.num import is_int, normalize

__all__ = ["Assumption", "Conditions", "Relation", "apply_assumptions", "collect", "parse_assumption"]


# ----------------------------------------------------------------------------------------------
# One condition


@dataclass(frozen=True)
class Assumption:
    """One condition on the variables.

    ``variable`` ∈ ``offset + step·ℤ`` and ``variable ≥ at_least`` (a congruence; any part may be
    None), or, for values that mix variables, ``integers`` (expressions that must be integers).
    ``assumed`` marks a bound the user stated rather than one derived from the network;
    ``sources`` names the rows whose sizes impose it."""

    text: str
    variable: str | None = None
    step: Fraction | None = None
    offset: Fraction | None = None
    at_least: Fraction | None = None
    at_most: Fraction | None = None
    strict: bool = False
    integers: tuple[Any, ...] = ()
    sources: tuple[str, ...] = ()
    assumed: bool = False
    #: pairs of sizes that must differ (a block's structure was chosen for unequal channels)
    distinct: tuple[tuple[Any, Any], ...] = ()

    def holds(self, values: Mapping[str, Any]) -> bool | None:
        """Whether the condition holds at ``values`` (name → number); None when a variable it
        needs is not given."""
        if self.variable is not None:
            if self.variable not in values:
                return None
            x = Fraction(values[self.variable])
            if self.step is not None and ((x - (self.offset or 0)) / self.step).denominator != 1:
                return False
            if self.at_least is not None and (x < self.at_least or (self.strict and x == self.at_least)):
                return False
            if self.at_most is not None and (x > self.at_most or (self.strict and x == self.at_most)):
                return False
            return True
        from costcalc.num import to_sympy

        exprs = [*self.integers, *(to_sympy(a) - to_sympy(b) for a, b in self.distinct)]
        subs = {s: to_sympy(Fraction(values[str(s)])) for e in exprs for s in e.free_symbols if str(s) in values}
        for e in self.integers:
            v = e.subs(subs)
            if v.free_symbols:
                return None
            if not v.is_Integer:
                return False
        for a, b in self.distinct:
            v = (to_sympy(a) - to_sympy(b)).subs(subs)
            if v.free_symbols:
                return None
            if v == 0:
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        def num(x: Fraction | None) -> Any:
            from costcalc.num import var_json

            return None if x is None else var_json(x)

        doc: dict[str, Any] = {"text": self.text, "variable": self.variable}
        if self.variable is not None:
            doc.update(step=num(self.step), offset=num(self.offset), at_least=num(self.at_least),
                       at_most=num(self.at_most), strict=self.strict)
        if self.integers:
            doc["integers"] = [str(e) for e in self.integers]
        if self.distinct:
            doc["distinct"] = [[str(a), str(b)] for a, b in self.distinct]
        doc["assumed"] = self.assumed
        if self.sources:
            doc["from"] = list(self.sources)
        return doc


@dataclass(frozen=True)
class Conditions:
    """Every condition of a symbolic result. ``symbols``: the variables the result depends on;
    empty ``items`` with symbols means the closed form is exact for every value; ``never`` means
    no value satisfies the derived conditions (the closed form is exact nowhere)."""

    items: tuple[Assumption, ...] = ()
    symbols: tuple[str, ...] = ()
    never: tuple[str, ...] = ()

    @property
    def symbolic(self) -> bool:
        return bool(self.symbols)

    def holds(self, values: Mapping[str, Any] | None = None, **kw: Any) -> bool | None:
        """Whether every condition holds at the given values (None: some variable not given)."""
        values = {**(values or {}), **kw}
        if self.never:
            return False
        results = [a.holds(values) for a in self.items]
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True

    def derived(self) -> tuple[Assumption, ...]:
        return tuple(a for a in self.items if not a.assumed)

    def assumed(self) -> tuple[Assumption, ...]:
        return tuple(a for a in self.items if a.assumed)

    def sentence(self, exact_hint: str = "--exact", quiet: bool = False) -> str:
        """One line for a table footer (``quiet``: nothing when the formula holds everywhere)."""
        if not self.symbols or (quiet and not self.items and not self.never):
            return ""
        assumed = [a.text for a in self.assumed()]
        head = f"assuming {', '.join(assumed)}: " if assumed else ""
        if self.never:
            return (f"{head}the closed form is not exact for any value ({'; '.join(self.never)}); "
                    f"{exact_hint} gives the exact form with floor terms")
        derived = _grouped(self.derived())
        if not derived:
            names = ", ".join(self.symbols)
            return f"{head}the closed form is exact for every value of {names}"
        hint = f" ({exact_hint} gives a form exact for every value)" if exact_hint else ""
        return f"{head}the closed form is exact when {' and '.join(derived)}{hint}"

    def to_json(self) -> list[dict[str, Any]]:
        out = [a.to_json() for a in self.items]
        out += [{"text": f"not exact for any value: {n}", "variable": None, "assumed": False} for n in self.never]
        return out


def _grouped(items: Sequence[Assumption]) -> list[str]:
    """Texts of ``items``, with variables that share one congruence named together: "H and W are
    multiples of 2"."""
    groups: dict[tuple[Any, ...], list[Assumption]] = {}
    for a in items:
        key = (a.step, a.offset, a.at_least) if a.variable is not None and a.step is not None else (id(a),)
        groups.setdefault(key, []).append(a)
    out = []
    for members in groups.values():
        a = members[0]
        if len(members) == 1 or a.step is None or a.step.denominator != 1 or a.offset or a.at_least is not None:
            out += [m.text for m in members]
            continue
        names = [m.variable for m in members]
        out.append(f"{', '.join(names[:-1])} and {names[-1]} are multiples of {a.step.numerator}"
                   if a.step != 1 else f"{', '.join(names[:-1])} and {names[-1]} are integers")
    return out


# ----------------------------------------------------------------------------------------------
# Collecting


def collect(rows: Iterable[Any], roundings: Sequence[tuple[Any, Any]] = (),
            assumed: Sequence[Relation] = (), extra_shapes: Iterable[Any] = (),
            given: Iterable[Any] = (), integers: Iterable[str] = ()) -> Conditions:
    """The conditions of a result from its ``rows`` (anything with ``path``, ``in_shape`` and
    ``out_shape``; a :class:`~costcalc.network.NetResult`'s rows, a layer's rows), the
    ``roundings`` noted while its spec was built (:func:`costcalc.num.noting_roundings`), the
    user's ``assumed`` relations and any ``extra_shapes`` (e.g. a formula's output shape).
    ``given``: sizes the user wrote as inputs (``derive "conv(H=H/2)"``): premises, not conditions.
    ``integers``: names that are integers by nature (dimensions H, N, M...); a variable that is a
    whole size or channel count somewhere (the input resolution R) is one too.

    Numeric results never reach sympy: with no symbolic value there is nothing to state."""
    values: list[tuple[Any, str]] = []
    symbols: set[str] = set()
    premises = {v for v in given if not _numeric(v)}
    for r in rows:
        for shape in (r.in_shape, r.out_shape):
            for v in shape:
                if not _numeric(v) and v not in premises:
                    values.append((v, r.path))
    for shape in extra_shapes:
        for v in shape:
            if not _numeric(v):
                values.append((v, ""))
    bounds: list[tuple[Any, Any, str]] = []
    distinct: list[tuple[Any, Any]] = []
    for kind, x, y in roundings:
        if kind == "distinct":
            distinct.append((x, y))
        elif not _numeric(x):
            values.append((x, "spec"))
            if y is not None:
                bounds.append((x, y, "spec"))
    if not values and not assumed and not distinct:
        return Conditions()
    # each distinct value once, with the first row that has it (the rows of a network repeat the same
    # sizes; only a value's first source is ever named)
    first: dict[Any, str] = {}
    for v, src in values:
        first.setdefault(v, src)
    values = list(first.items())
    import sympy

    from costcalc.num import to_sympy

    ints = set(integers)
    for v, _ in values:
        e = to_sympy(v)
        symbols |= {str(s) for s in e.free_symbols}
        if e.is_Symbol:
            ints.add(str(e))
    for rel in assumed:
        symbols.add(rel.variable)
    for a, b in distinct:
        symbols |= {str(s) for s in (to_sympy(a) - to_sympy(b)).free_symbols}
    out = _reduce(values, bounds, assumed, tuple(sorted(symbols, key=_symbol_order)), sympy, ints)
    seen: dict[Any, None] = {}
    for a, b in distinct:
        seen.setdefault((to_sympy(a), to_sympy(b)), None)
    extra = tuple(Assumption(f"{_pretty(a)} ≠ {_pretty(b)}", distinct=((a, b),)) for a, b in seen)
    return Conditions(out.items[: len(out.items) - len(assumed)] + extra + out.items[len(out.items) - len(assumed):],
                      out.symbols, out.never)


def _numeric(v: Any) -> bool:
    return is_int(v) or isinstance(v, Fraction) or isinstance(v, bool)


def _symbol_order(name: str) -> tuple[int, str]:
    from costcalc.num import SYMBOL_ORDER

    return (SYMBOL_ORDER.index(name) if name in SYMBOL_ORDER else len(SYMBOL_ORDER), name)


@dataclass
class _Coset:
    """``x ∈ offset + step·ℤ``, ``x ≥ low`` (sizes at least 1), with the rows that impose it."""

    step: Fraction | None = None
    offset: Fraction = Fraction(0)
    low: Fraction | None = None
    sources: list[str] = field(default_factory=list)
    empty: bool = False


def _reduce(values: list[tuple[Any, str]], bounds: list[tuple[Any, Any, str]], assumed: Sequence[Relation],
            symbols: tuple[str, ...], sympy: Any, ints: set[str]) -> Conditions:
    from costcalc.num import to_sympy

    cosets: dict[str, _Coset] = {name: _Coset(Fraction(1)) for name in ints}  # integers by nature
    generic: dict[Any, list[str]] = {}
    seen: set[Any] = set()
    for v, src in values:
        for atom in _integral_parts(to_sympy(v), sympy):
            if atom in seen or atom.is_Symbol or _integer_valued(atom, ints, sympy):
                continue  # a size or channel count itself, or a polynomial in them: an integer by nature
            seen.add(atom)
            lin = _linear(atom, sympy)
            if lin is None:
                generic.setdefault(atom, []).append(src)
                continue
            name, a, b = lin
            c = cosets.setdefault(name, _Coset())
            if c.empty:
                continue
            step, offset = _coset_of(a, b)
            met = _meet(c.step, c.offset, step, offset)
            if met is None:
                c.empty = True
                c.sources.append(src)
                continue
            if met[0] != c.step:
                c.sources = [src]
            c.step, c.offset = met
            if a > 0 and src != "spec":  # a size: at least 1
                low = (1 - b) / a
                c.low = low if c.low is None else max(c.low, low)
    for integer, at_least, _src in bounds:  # make_divisible(v, d, min_value): v/d ≥ min_value/d
        lin = _linear(to_sympy(integer), sympy)
        if lin is not None and lin[1] > 0 and _numeric(at_least):
            name, a, b = lin
            c = cosets.setdefault(name, _Coset())
            low = (Fraction(at_least) - b) / a
            c.low = low if c.low is None else max(c.low, low)
    items: list[Assumption] = []
    never: list[str] = []
    for name in symbols:
        if name not in cosets:
            continue
        c = cosets[name]
        if c.empty:
            never.append(f"the sizes of {name} need incompatible remainders")
            continue
        if name in ints and c.step == 1 and c.offset == 0 and (c.low is None or c.low <= 1):
            continue  # "N is an integer": true of every dimension
        items.append(_congruence(name, c))
    for e, srcs in generic.items():
        items.append(Assumption(f"{_pretty(e)} is an integer", integers=(e,), sources=tuple(dict.fromkeys(srcs))))
    items += [rel.assumption() for rel in assumed]
    return Conditions(tuple(items), symbols, tuple(never))


def _integral_parts(e: Any, sympy: Any) -> list[Any]:
    """Values whose integrality implies ``e``'s: ``max(8, 32·a)`` → ``32·a``; ``160·max(1, a)`` →
    ``160·a``; integers need nothing."""
    if e.is_Number:
        return [] if e.is_Integer else [e]
    if isinstance(e, (sympy.Max, sympy.Min)):
        return [p for a in e.args for p in _integral_parts(a, sympy)]
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        return []
    if e.is_Mul:
        coeff, rest = e.as_coeff_Mul()
        if coeff.is_Rational and coeff > 0 and isinstance(rest, (sympy.Max, sympy.Min)):
            return [p for a in rest.args for p in _integral_parts(coeff * a, sympy)]  # c·max(x, y) = max(c·x, c·y)
    if e.is_Add and _linear(e, sympy) is None:
        return [p for t in e.args for p in _integral_parts(t, sympy)]
    return [e]


def _integer_valued(e: Any, ints: set[str], sympy: Any) -> bool:
    """Whether ``e`` is a polynomial with integer coefficients in integer variables (``N·T``, ``2·M``)."""
    syms = e.free_symbols
    if not syms or not all(str(s) in ints for s in syms):
        return False
    poly = e.as_poly(*syms)
    return poly is not None and all(c.is_Integer for c in poly.coeffs())


def _linear(e: Any, sympy: Any) -> tuple[str, Fraction, Fraction] | None:
    """``(name, a, b)`` when ``e = a·name + b`` with rational a ≠ 0 and b."""
    syms = e.free_symbols
    if len(syms) != 1:
        return None
    (x,) = syms
    poly = e.as_poly(x)
    if poly is None or poly.degree() != 1:
        return None
    a, b = poly.all_coeffs()
    if not (a.is_Rational and b.is_Rational):
        return None
    return str(x), Fraction(int(a.p), int(a.q)), Fraction(int(b.p), int(b.q))


def _coset_of(a: Fraction, b: Fraction) -> tuple[Fraction, Fraction]:
    """``a·x + b ∈ ℤ`` ⇔ ``x ∈ offset + step·ℤ``."""
    step = 1 / abs(a)
    offset = (-b / a) % step
    return step, offset


def _meet(g1: Fraction | None, c1: Fraction, g2: Fraction, c2: Fraction) -> tuple[Fraction, Fraction] | None:
    """The intersection of ``c1 + g1·ℤ`` and ``c2 + g2·ℤ`` (``g1`` None: everything), or None."""
    if g1 is None:
        return g2, c2 % g2
    d = math.lcm(g1.denominator, g2.denominator, c1.denominator, c2.denominator)
    G1, G2, C1, C2 = (int(v * d) for v in (g1, g2, c1, c2))
    g = math.gcd(G1, G2)
    if (C2 - C1) % g:
        return None
    lcm = G1 // g * G2
    # C1 + G1·k ≡ C2 (mod G2)  →  k ≡ (C2 − C1)/g · (G1/g)⁻¹ (mod G2/g)
    m = G2 // g
    k = ((C2 - C1) // g * pow(G1 // g, -1, m)) % m if m > 1 else 0
    c = (C1 + G1 * k) % lcm
    return Fraction(lcm, d), Fraction(c, d)


def _congruence(name: str, c: _Coset) -> Assumption:
    step, offset = c.step, c.offset
    assert step is not None
    first = offset if offset > 0 else step  # the smallest positive member (variables are positive)
    low = c.low if c.low is not None and c.low > first else None
    text = _coset_text(name, step, offset)
    if low is not None:
        text += f" and {name} ≥ {_num_text(_first_at_least(low, step, offset))}"
    at_least = _first_at_least(low, step, offset) if low is not None else None
    return Assumption(text, name, step, offset, at_least, sources=tuple(dict.fromkeys(s for s in c.sources if s)))


def _first_at_least(low: Fraction, step: Fraction, offset: Fraction) -> Fraction:
    k = math.ceil((low - offset) / step)
    return offset + k * step


def _coset_text(name: str, step: Fraction, offset: Fraction) -> str:
    """``R is a multiple of 32``, ``R is odd``, ``R ≡ 1 (mod 4)``, ``32·alpha is an integer``."""
    if step == 1 and offset == 0:
        return f"{name} is an integer"
    if step.denominator == 1 and offset.denominator == 1:
        if offset == 0:
            return f"{name} is a multiple of {step.numerator}"
        if step == 2:
            return f"{name} is odd"
        return f"{name} ≡ {offset.numerator} (mod {step.numerator})"
    scale = math.lcm(step.denominator, offset.denominator)
    s, o = step * scale, offset * scale
    if s == 1:
        return f"{scale}·{name} is an integer"
    if o == 0:
        return f"{scale}·{name} is a multiple of {s}"
    return f"{scale}·{name} ≡ {o} (mod {s})"


def _num_text(x: Fraction) -> str:
    from costcalc.num import var_json

    v = var_json(x)
    return str(v)


def _pretty(e: Any) -> str:
    from costcalc.num import pretty

    return pretty(e)


# ----------------------------------------------------------------------------------------------
# User assumptions: --assume 'alpha>=0.25'

_OPERATORS = (">=", "<=", "≥", "≤", ">", "<")


@dataclass(frozen=True)
class Relation:
    """``variable`` (op) ``bound``: ``alpha ≥ 1/4``. Built from text by :func:`parse_assumption`."""

    variable: str
    op: str  # one of >=, >, <=, <
    bound: Fraction
    text: str

    def assumption(self) -> Assumption:
        low = self.bound if self.op in (">=", ">") else None
        high = self.bound if self.op in ("<=", "<") else None
        shown = {">=": "≥", "<=": "≤"}.get(self.op, self.op)
        return Assumption(f"{self.variable} {shown} {_num_text(self.bound)}", self.variable, at_least=low,
                          at_most=high, strict=self.op in (">", "<"), assumed=True)

    def apply(self, e: Any) -> Any:
        """Simplify ``e`` under this relation: substitute ``x = bound ± t`` with ``t ≥ 0`` (or
        ``t > 0``), let sympy decide every ``max``/``min`` it can, substitute back, expand."""
        import sympy

        from costcalc.num import to_sympy

        e = to_sympy(e)
        xs = [s for s in e.free_symbols if str(s) == self.variable]
        if not xs or not e.has(sympy.Max, sympy.Min, sympy.Piecewise, sympy.floor, sympy.ceiling, sympy.Abs):
            return normalize(e)
        (x,) = xs
        strict = self.op in (">", "<")
        t = sympy.Symbol("_t", positive=True) if strict else sympy.Symbol("_t", nonnegative=True)
        b = to_sympy(self.bound)
        sub = b + t if self.op in (">=", ">") else b - t
        out = sympy.refine(e.subs(x, sub)).subs(t, x - b if self.op in (">=", ">") else b - x)
        return normalize(sympy.expand(out))


def parse_assumption(text: str, symbols: Mapping[str, Any]) -> list[Relation]:
    """``'alpha>=0.25'``, ``'0.25 <= alpha <= 1'`` → relations. Each side is evaluated by
    :func:`costcalc.expr.evaluate` with the result's symbols as names (never ``sympify``); one side
    must be a variable (or a multiple of one, ``2*alpha >= 1``), the other a number."""
    from costcalc.expr import evaluate

    where = f"option --assume {text!r}"
    parts, ops = _split_relation(text)
    if not ops:
        raise UsageError(f"{where}: expected a comparison such as alpha>=0.25")
    try:
        sides = [evaluate(p, dict(symbols)) for p in parts]
    except Exception as e:  # noqa: BLE001 - ExprError or anything the evaluator refuses
        raise UsageError(f"{where}: {e}") from None
    out = []
    for (lhs, rhs), op in zip(zip(sides, sides[1:]), ops):
        out.append(_relation(lhs, op, rhs, text, where))
    return out


def _split_relation(text: str) -> tuple[list[str], list[str]]:
    parts, ops = [], []
    depth, i, start = 0, 0, 0
    while i < len(text):
        ch = text[i]
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    parts.append(text[start:i].strip())
                    ops.append({"≥": ">=", "≤": "<="}.get(op, op))
                    i += len(op)
                    start = i
                    break
            else:
                i += 1
            continue
        i += 1
    parts.append(text[start:].strip())
    return parts, ops


def _relation(lhs: Any, op: str, rhs: Any, text: str, where: str) -> Relation:
    flip = {">=": "<=", "<=": ">=", ">": "<", "<": ">"}
    if _numeric(lhs) and not _numeric(rhs):
        lhs, rhs, op = rhs, lhs, flip[op]
    if _numeric(lhs) or not _numeric(rhs):
        raise UsageError(f"{where}: compare one variable with a number, e.g. alpha>=0.25")
    import sympy

    from costcalc.num import to_sympy

    lin = _linear(to_sympy(lhs), sympy)
    if lin is None:
        raise UsageError(f"{where}: compare one variable with a number, e.g. alpha>=0.25")
    name, a, b = lin
    bound = (Fraction(rhs) - b) / a
    if a < 0:
        op = flip[op]
    return Relation(name, op, bound, text)


def apply_assumptions(value: Any, relations: Sequence[Relation]) -> Any:
    """``value`` simplified under every relation (numbers pass through)."""
    if not relations or _numeric(value):
        return value
    for rel in relations:
        value = rel.apply(value)
    return value


def mapper(relations: Sequence[Relation]) -> Callable[[Any], Any]:
    return lambda v: apply_assumptions(v, relations)
