"""Explore designs as data: compare several networks, sweep a network's variables over a grid.

Nothing here prints. :func:`compare` returns a :class:`~costcalc.results.Comparison` (one
:class:`~costcalc.results.Network` per spec, and the ratio of each total to the first network's); :func:`sweep` returns one :class:`SweepPoint` per
grid point. Renderers (:mod:`costcalc.render.explore`, :mod:`costcalc.render.plot`) format them.

Sweeps re-walk the spec at every point, exactly as ``costcalc net`` would, so every number is the
exact count (specs round channel widths with ``int()``/``make_divisible()`` and stride-2 layers
floor odd sizes: a symbolic closed form evaluated at the point would drop both). The work that does
not depend on the point is done once: the YAML is read and parsed a single time and each point only
rebuilds the spec from the parsed document.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

from costcalc.cost import Cost
from costcalc.errors import SpecError, UsageError
from costcalc.metrics import NAMES, value
from costcalc.network import evaluate_network
from costcalc.num import is_int, normalize, to_sympy

#: Quantities compared and swept, in display order (the metrics table's names).
QUANTITIES: tuple[str, ...] = NAMES

#: Largest grid a sweep accepts (each point re-walks the spec).
MAX_POINTS = 100_000


def quantity(c: Cost, name: str, dtype_bytes: int = 4) -> Any:
    """One named quantity of a cost (see :mod:`costcalc.metrics`)."""
    return value(c, name, dtype_bytes)


def ratio(a: Any, b: Any) -> Any:
    """Exact ``a / b``: a :class:`Fraction` (or int) for numbers, a simplified sympy quotient for
    symbols, ``None`` when ``b`` is zero (no ratio to a network that has none of it)."""
    if is_int(a) and is_int(b):
        return None if b == 0 else normalize(Fraction(a, b))
    import sympy

    if b == 0:
        return None
    return normalize(sympy.factor(sympy.cancel(to_sympy(a) / to_sympy(b))))


# ----------------------------------------------------------------------------------------------
# Loading with shared --set values


def spec_vars(doc: Any) -> list[str]:
    """Names of the variables a parsed spec document declares (empty if it has none or is malformed:
    :func:`costcalc.spec.build_spec` reports malformed documents with their line)."""
    raw = doc.get("vars") if isinstance(doc, dict) else None
    return list(raw) if isinstance(raw, dict) else []


def _read(path: str) -> Any:
    from costcalc.spec import read_yaml

    return read_yaml(path)


# ----------------------------------------------------------------------------------------------
# compare


def compare(paths: Sequence[Any], overrides: Mapping[str, str] | None = None, dtype_bytes: int = 4,
            assume: Sequence[str] = (), exact: bool = False) -> Any:
    """Evaluate every spec in ``paths`` (paths or spec mappings) into a
    :class:`~costcalc.results.Comparison`. Each ``--set`` override applies to every spec that
    declares that variable; an override no spec declares is an error naming the specs'
    variables."""
    from costcalc.results import Comparison, _document, load_network

    if not paths:
        raise UsageError("compare needs at least one spec")
    overrides = dict(overrides or {})
    docs = [_document(p) for p in paths]
    declared = [spec_vars(d) for d, _ in docs]
    for k in overrides:
        if not any(k in names for names in declared):
            known = sorted({n for names in declared for n in names})
            raise SpecError(f"--set {k}: none of the specs has a variable {k!r} "
                            f"(variables: {', '.join(known) or 'none'})")
    networks = []
    for (doc, file), names in zip(docs, declared):
        mine = {k: v for k, v in overrides.items() if k in names}
        networks.append(load_network(doc, mine, assume, exact, file=file, assume_where_symbolic=len(docs) > 1))
    return Comparison(networks, dtype_bytes)


# ----------------------------------------------------------------------------------------------
# sweep


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: the swept values (as given), every variable of the spec, the totals."""

    swept: dict[str, str]
    vars: dict[str, Any]
    totals: Cost
    by_type: dict[str, Cost]
    #: where the point's formulas hold (symbolic points only)
    conditions: Any = None


@dataclass
class Sweep:
    name: str
    source: str
    #: swept variable → the values, as text, in the order given
    axes: dict[str, list[str]]
    #: variables fixed by a single-valued --set
    fixed: dict[str, str]
    points: list[SweepPoint]

    def grid(self) -> dict[tuple[str, ...], SweepPoint]:
        """Points keyed by their swept values, in axis order."""
        return {tuple(p.swept[k] for k in self.axes): p for p in self.points}


def split_values(text: str, where: str) -> list[str]:
    """``0.25,0.5,1.0`` → three values; ``128:224:32`` → 128,160,192,224 (inclusive range);
    commas inside parentheses belong to the expression (``max(8,c)``)."""
    from costcalc.expr import parse_number

    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    parts.append(cur.strip())
    if any(p == "" for p in parts):
        raise UsageError(f"{where}: empty value in {text!r}")
    out: list[str] = []
    for p in parts:
        if ":" not in p:
            out.append(p)
            continue
        bits = p.split(":")
        nums = [parse_number(b) for b in bits]
        if len(bits) != 3 or any(n is None for n in nums):
            raise UsageError(f"{where}: {p!r} is not a range START:STOP:STEP of numbers")
        start, stop, step = (Fraction(n) for n in nums)  # type: ignore[arg-type]
        if step <= 0 or stop < start:
            raise UsageError(f"{where}: range {p!r} needs STEP > 0 and STOP >= START")
        count = int((stop - start) / step) + 1
        if count > MAX_POINTS:
            raise UsageError(f"{where}: range {p!r} has {count:,} values (limit {MAX_POINTS:,})")
        out += [_fmt(start + j * step) for j in range(count)]
    return out


def _fmt(x: Fraction) -> str:
    """A range value as text; ranges of decimals stay finite decimals (0.25:1:0.25 → 0.75)."""
    if x.denominator == 1:
        return str(x.numerator)
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 50
        text = format((Decimal(x.numerator) / Decimal(x.denominator)).normalize(), "f")
    return text if Fraction(text) == x else f"{x.numerator}/{x.denominator}"


def parse_sweep_sets(items: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """``--set NAME=V1,V2,...`` options → (swept axes, fixed single values)."""
    from costcalc.spec import parse_override

    axes: dict[str, list[str]] = {}
    fixed: dict[str, str] = {}
    for item in items:
        k, v = parse_override(item)
        if k in axes or k in fixed:
            raise UsageError(f"--set {k}: given twice (list every value in one option: {k}=A,B,C)")
        values = split_values(v, f"--set {k}")
        if len(values) == 1:
            fixed[k] = values[0]
        else:
            axes[k] = values
    return axes, fixed


def sweep(path: Any, axes: Mapping[str, Sequence[str]], fixed: Mapping[str, str] | None = None,
          on_point: Callable[[int, int], None] | None = None, jobs: int = 1) -> Sweep:
    """Evaluate ``path`` at every point of the grid ``axes`` (the product of the value lists, first
    axis slowest), compiled (:mod:`costcalc.compiled`: identical to walking each point), in ``jobs``
    processes. ``on_point(done, total)`` reports progress (for a progress bar). A grid where a
    variable is a symbol is walked point by point, each point a formula with its conditions."""
    from costcalc.compiled import grid_overrides, sweep_points
    from costcalc.num import noting_roundings
    from costcalc.spec import build_spec

    from costcalc.results import _document

    fixed = dict(fixed or {})
    doc, path = _document(path)  # parsed once; build_spec does not modify it
    names = list(axes)
    total = 1
    for k in names:
        total *= len(axes[k])
    if total > MAX_POINTS:
        raise UsageError(f"sweep of {total:,} points exceeds the limit {MAX_POINTS:,}")
    swept_all = [dict(zip(names, values)) for values in itertools.product(*(axes[k] for k in names))]
    symbolic = bool(swept_all) and build_spec(doc, path, {**fixed, **swept_all[0]}).symbolic
    points: list[SweepPoint] = []
    name = ""
    if not symbolic:
        name, results = sweep_points(doc, path, grid_overrides(axes, fixed), jobs, on_point)
        points = [SweepPoint(s, r.vars, r.totals, r.by_type) for s, r in zip(swept_all, results)]
    for n, swept in enumerate(swept_all if symbolic else [], 1):
        with noting_roundings() as roundings:
            spec = build_spec(doc, path, {**fixed, **swept})
            result = evaluate_network(spec)
        name = spec.name
        conditions = None
        if spec.symbolic:  # a variable fixed to a name: each point is a formula with its conditions
            from costcalc.conditions import collect
            from costcalc.results import canonical_result

            result = canonical_result(result)
            conditions = collect(result.rows, roundings)
        points.append(SweepPoint(swept, dict(spec.vars), result.totals, result.by_type, conditions))
        if on_point is not None:
            on_point(n, total)
    if not points:  # no axes and nothing fixed still gives one point, so only an empty list lands here
        raise UsageError("sweep: nothing to evaluate")
    return Sweep(name, path, {k: list(v) for k, v in axes.items()}, fixed, points)


__all__ = ["QUANTITIES", "Sweep", "SweepPoint", "compare", "parse_sweep_sets", "quantity", "ratio",
           "split_values", "sweep"]
