"""Many evaluations of one network at once: compiled sweeps, batch scoring, parallel sweeps.

A sweep point is ``build_spec`` (variables → layers) followed by the network walk (layers + input
shape → costs). Both are exact and both are slow when repeated thousands of times. This module
compiles the work so that each part is done once per distinct input it depends on:

1. **Structure once per distinct layer-relevant values.** The layers a spec builds depend only on
   the variables its ``layers:`` and ``defaults:`` text mentions (an expression can only read names
   it contains; every other variable reaches the walk through ``input:`` alone). Points are grouped
   by the values of those variables (and the input's channels); each group builds its layers once.
2. **One walk per group, over every spatial size at once.** Inside a group only the input's height
   and width differ. The walk runs once with ``h`` and ``w`` replaced by :class:`IntVec` values —
   one exact int per distinct size — through the same cost rules, the same ``conv_out`` floors and
   the same checks as the scalar walk. Arithmetic on an :class:`IntVec` is exact integer
   arithmetic per point (``+ - * // %`` and powers; int64 with a magnitude guard that switches to
   Python ints before anything could overflow). Every *decision* (a comparison, a truth value, an
   ``int()``) is taken only if it comes out the same at every point, which makes the control flow
   the scalar walk's at each point; otherwise :class:`Undecided` is raised.
3. **Fall back to the walk wherever that is not proven.** Any exception in the compiled path (an
   undecided branch, a rational, a symbol, an operation :class:`IntVec` does not implement, an
   error of the spec) sends that group to the scalar walk, point by point; any error while grouping
   sends the whole sweep to the plain loop, so errors are raised by the same code, for the same
   point, with the same message, as without this module.

numpy is optional and imported lazily; without it :class:`IntVec` holds a tuple of Python ints
(exact, slower). The results are identical to ``build_spec`` + ``evaluate_network`` at every point;
``tests/test_compiled.py`` checks that on every example over grids where rounding flips.
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from costcalc.cost import COST_FIELDS, Cost, Shape
from costcalc.num import Lifted

#: int64 results stay below this magnitude; beyond it IntVec computes with Python ints
_INT64_SAFE = 2 ** 62


class Undecided(Exception):
    """A decision on an :class:`IntVec` that differs between points: the compiled path cannot take
    it once for all of them (the caller falls back to the scalar walk)."""


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # numpy is an optional extra: exact tuples of ints instead
        return None
    return numpy


class IntVec(Lifted):
    """One exact integer per grid point, behaving like ``int`` in the cost rules.

    ``values`` is a numpy int64 array (``bound`` = the largest magnitude, kept so that no int64
    operation can overflow), a numpy object array of Python ints after a large product, or a
    tuple of Python ints without numpy. Only ints and IntVecs of the same length are operands; a
    Fraction, float, bool or symbol operand is a ``TypeError`` (the scalar walk then decides).
    """

    __slots__ = ("values", "bound")

    def __init__(self, values: Any, bound: int | None = None) -> None:
        self.values = values
        self.bound = bound

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def of(cls, ints: Sequence[int]) -> IntVec:
        np = _numpy()
        if np is None:
            return cls(tuple(ints))
        b = max((abs(v) for v in ints), default=0)
        if b < _INT64_SAFE:
            return cls(np.array(ints, dtype=np.int64), b)
        return cls(np.array(list(ints), dtype=object))

    def tolist(self) -> list[int]:
        if isinstance(self.values, tuple):
            return list(self.values)
        return [int(v) for v in self.values.tolist()]

    def __len__(self) -> int:
        return len(self.values)

    def _bound(self) -> int | None:
        if self.bound is None and not isinstance(self.values, tuple) and self.values.dtype != object:
            self.bound = int(abs(self.values).max()) if len(self.values) else 0
        return self.bound

    # -- arithmetic ---------------------------------------------------------------------------
    def _binary(self, other: Any, op: Callable[[Any, Any], Any], bound: Callable[[int, int], int] | None,
                reverse: bool = False, divides: bool = False) -> Any:
        if isinstance(other, IntVec):
            if len(other.values) != len(self.values):
                return NotImplemented
            ob: int | None = other._bound() if not isinstance(other.values, tuple) else None
            ov: Any = other.values
        elif type(other) is int:
            ob, ov = abs(other), other
        else:
            return NotImplemented
        a, b = (ov, self.values) if reverse else (self.values, ov)
        if divides and (0 in b if isinstance(b, tuple) else
                        (b == 0 if type(b) is int else bool((b == 0).any()))):
            raise ZeroDivisionError("integer division or modulo by zero")
        if isinstance(self.values, tuple):  # no numpy: exact Python ints
            ia = a if isinstance(a, tuple) else itertools.repeat(a)
            ib = b if isinstance(b, tuple) else itertools.repeat(b)
            return IntVec(tuple(op(x, y) for x, y in zip(ia, ib)))
        sb = self._bound()
        if sb is not None and ob is not None and bound is not None and bound(sb, ob) < _INT64_SAFE:
            return IntVec(op(a, b), bound(sb, ob))
        if divides and sb is not None and ob is not None:  # // and % never grow past the dividend
            return IntVec(op(a, b), max(sb, ob))
        # too large for int64 (or already Python ints): exact object arrays
        np = _numpy()
        a = a.astype(object) if hasattr(a, "astype") else a
        b = b.astype(object) if hasattr(b, "astype") else b
        return IntVec(np.asarray(op(a, b), dtype=object))

    def __add__(self, o: Any) -> Any:
        return self._binary(o, operator.add, lambda x, y: x + y)

    def __radd__(self, o: Any) -> Any:
        return self._binary(o, operator.add, lambda x, y: x + y, True)

    def __sub__(self, o: Any) -> Any:
        return self._binary(o, operator.sub, lambda x, y: x + y)

    def __rsub__(self, o: Any) -> Any:
        return self._binary(o, operator.sub, lambda x, y: x + y, True)

    def __mul__(self, o: Any) -> Any:
        return self._binary(o, operator.mul, lambda x, y: x * y)

    def __rmul__(self, o: Any) -> Any:
        return self._binary(o, operator.mul, lambda x, y: x * y, True)

    def __floordiv__(self, o: Any) -> Any:
        return self._binary(o, operator.floordiv, None, divides=True)

    def __rfloordiv__(self, o: Any) -> Any:
        return self._binary(o, operator.floordiv, None, True, divides=True)

    def __mod__(self, o: Any) -> Any:
        return self._binary(o, operator.mod, None, divides=True)

    def __rmod__(self, o: Any) -> Any:
        return self._binary(o, operator.mod, None, True, divides=True)

    def __divmod__(self, o: Any) -> Any:
        return self // o, self % o

    def __rdivmod__(self, o: Any) -> Any:
        return o // self, o % self

    def __neg__(self) -> IntVec:
        return 0 - self  # type: ignore[no-any-return]

    def __pos__(self) -> IntVec:
        return self

    def __abs__(self) -> IntVec:
        if isinstance(self.values, tuple):
            return IntVec(tuple(abs(v) for v in self.values))
        return IntVec(abs(self.values), self.bound)

    def __pow__(self, e: Any) -> Any:
        if type(e) is not int or e < 0:
            return NotImplemented
        out: Any = 1
        for _ in range(e):
            out = self * out
        return out

    def __truediv__(self, o: Any) -> Any:
        raise TypeError("IntVec: true division (the scalar walk gives a rational)")

    __rtruediv__ = __truediv__

    # -- decisions: only when every point agrees ------------------------------------------------
    def _decide(self, other: Any, op: Callable[[Any, Any], Any]) -> bool:
        if not (isinstance(other, IntVec) or type(other) is int):
            raise TypeError(f"IntVec compared with {type(other).__name__}")
        ov = other.values if isinstance(other, IntVec) else other
        if isinstance(self.values, tuple):
            res = [op(x, y) for x, y in zip(self.values, ov if isinstance(ov, tuple) else itertools.repeat(ov))]
            every, some = all(res), any(res)
        else:
            r = op(self.values, ov)
            every, some = bool(r.all()), bool(r.any())
        if every:
            return True
        if not some:
            return False
        raise Undecided("a comparison differs between grid points")

    def __eq__(self, o: Any) -> bool:  # type: ignore[override]
        if not (isinstance(o, IntVec) or type(o) is int):
            return NotImplemented  # type: ignore[no-any-return]
        return self._decide(o, operator.eq)

    def __ne__(self, o: Any) -> bool:  # type: ignore[override]
        if not (isinstance(o, IntVec) or type(o) is int):
            return NotImplemented  # type: ignore[no-any-return]
        return self._decide(o, operator.ne)

    def __lt__(self, o: Any) -> bool:
        return self._decide(o, operator.lt)

    def __le__(self, o: Any) -> bool:
        return self._decide(o, operator.le)

    def __gt__(self, o: Any) -> bool:
        return self._decide(o, operator.gt)

    def __ge__(self, o: Any) -> bool:
        return self._decide(o, operator.ge)

    def __bool__(self) -> bool:
        return self._decide(0, operator.ne)

    def __int__(self) -> int:
        first = self.tolist()[0]
        if self._decide(first, operator.eq):
            return first
        raise Undecided("int() of a value that differs between grid points")

    __index__ = __int__

    # identity hash: caches keyed on shapes (block expansion) never confuse two IntVecs
    __hash__ = object.__hash__

    def _sympy_(self) -> Any:
        raise TypeError("IntVec has no symbolic form")

    def __repr__(self) -> str:
        return f"IntVec({self.tolist()!r})"

    def __str__(self) -> str:
        # text made from a lifted value (a row label, a category) would differ from every
        # point's own text: refuse, so that the scalar walk makes it
        raise TypeError("IntVec has no text form")

    def __format__(self, spec: str) -> str:
        raise TypeError("IntVec has no text form")

    def at(self, j: int) -> int:
        v = self.values[j]
        return v if type(v) is int else int(v)


def _sum(values: list[Any]) -> Any:
    """Exact sum of ints and IntVecs (one numpy reduction for the IntVecs)."""
    ints = [v for v in values if type(v) is int]
    vecs = [v for v in values if isinstance(v, IntVec)]
    if len(ints) + len(vecs) != len(values):
        raise TypeError("not an exact int")  # a rational or a symbol: the scalar walk decides
    const = sum(ints)
    if not vecs:
        return const
    if isinstance(vecs[0].values, tuple):
        return IntVec(tuple(const + sum(col) for col in zip(*(v.values for v in vecs))))
    bounds = [v._bound() for v in vecs]
    if all(b is not None for b in bounds):
        bound = sum(bounds) + abs(const)  # type: ignore[arg-type]
        if bound < _INT64_SAFE:
            return IntVec(_numpy().add.reduce([v.values for v in vecs]) + const, bound)
    total: Any = const
    for v in vecs:
        total = v + total
    return total


def _leaf_costs(layer: Any, inputs: tuple[Shape, ...], out: list[tuple[str, Cost]]) -> Shape:
    """The walk of :func:`costcalc.engine.walk` without rows or subtotals: append (category,
    cost) of every leaf under ``layer`` to ``out``; return the output shape."""
    from costcalc.layers.base import Block

    if isinstance(layer, Block):
        nodes = layer.expand(inputs[0])
        for node in nodes:
            _leaf_costs(node.layer, node.inputs, out)
        return nodes[-1].out  # type: ignore[no-any-return]
    out.append((layer.category, layer.cost(*inputs)))
    return layer.out_shape(*inputs)  # type: ignore[no-any-return]


def lifted_totals(spec: Any) -> tuple[Cost, dict[str, Cost]]:
    """(totals, by_type) of ``spec`` as ``evaluate_network`` computes them, for an input shape of
    :class:`IntVec` sizes: the same checks and rules, in the same order, without rows. Totals are
    the exact sum of the leaves' costs (which is what the walk's block and network sums add up).
    Raises on anything the scalar walk would have to decide per point, or report as an error."""
    from costcalc.num import is_int
    from costcalc.spec import MAX_LAYERS

    shapes: dict[str, Shape] = {"input": spec.input}
    leaves: list[tuple[str, Cost]] = []
    for nl in spec.layers:
        inputs = tuple(shapes[t] for t in nl.inputs)
        nl.layer.check(*inputs)
        x = _leaf_costs(nl.layer, inputs, leaves)
        if any(is_int(v) and v < 1 for v in x):
            raise Undecided("a size below 1 (the walk reports it)")
        shapes[nl.path] = x
    if len(leaves) > MAX_LAYERS:
        raise Undecided("too many layers (the walk reports it)")
    per_type: dict[str, list[Cost]] = {}
    for category, cost in leaves:
        per_type.setdefault(category, []).append(cost)
    by_type = {k: Cost(*(_sum([getattr(c, f) for c in costs]) for f in COST_FIELDS))
               for k, costs in per_type.items()}
    totals = Cost(*(_sum([getattr(c, f) for _, c in leaves]) for f in COST_FIELDS))
    return totals, by_type


def _columns(c: Cost, n: int) -> list[list[int]]:
    """Each field of a lifted cost as a list of ``n`` ints."""
    return [v.tolist() if isinstance(v, IntVec) else [v] * n for v in (getattr(c, f) for f in COST_FIELDS)]


# ----------------------------------------------------------------------------------------------
# Evaluating one network at many input sizes


@dataclass(frozen=True)
class PointResult:
    """What a sweep keeps of one point: every variable, the totals, the totals by layer type."""

    vars: dict[str, Any]
    totals: Cost
    by_type: dict[str, Cost]


def evaluate_sizes(spec: Any, sizes: Sequence[tuple[int, int]]) -> list[tuple[Cost, dict[str, Cost]]]:
    """``evaluate_network(spec)`` with the input's (height, width) replaced by each of ``sizes``:
    (totals, by_type) per size, identical to the scalar walk. One walk over :class:`IntVec` sizes
    when every decision agrees; otherwise (or on any error) one scalar walk per size."""
    from costcalc.network import evaluate_network

    c = spec.input.c
    n = len(sizes)
    if n > 1:
        try:
            hv = IntVec.of([h for h, _ in sizes])
            wv = IntVec.of([w for _, w in sizes])
            totals, by_type = lifted_totals(replace(spec, input=Shape(hv, wv, c)))
            cols = list(zip(*_columns(totals, n)))
            type_cols = {k: list(zip(*_columns(v, n))) for k, v in by_type.items()}
            return [(Cost(*cols[j]), {k: Cost(*v[j]) for k, v in type_cols.items()}) for j in range(n)]
        except Exception:  # noqa: BLE001 - not proven for all sizes at once: the scalar walk decides
            pass
    out = []
    for h, w in sizes:
        res = evaluate_network(replace(spec, input=Shape(h, w, c)))
        out.append((res.totals, res.by_type))
    return out


def _strings(x: Any) -> Iterable[str]:
    """Every string in a parsed YAML document (keys and values, at any depth)."""
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)


def layer_variables(doc: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The variables among ``names`` that the layers may read: those whose name occurs anywhere in
    the text of ``layers:`` or ``defaults:`` (a substring test, so it can only over-include). The
    layers a spec builds are a function of these variables' values alone."""
    text = "\0".join(itertools.chain(_strings(doc.get("layers")), _strings(doc.get("defaults"))))
    return [n for n in names if n in text]


class _Head(NamedTuple):
    """A point's variables and input shape (:func:`costcalc.spec.spec_header`)."""

    vars: dict[str, Any]
    input: Shape


class _NotCompiled(Exception):
    """The compiled path does not apply (symbols, errors): run the plain loop."""


Progress = Callable[[int, int], None]


def evaluate_points(doc: Any, path: str, overrides: Sequence[Mapping[str, str]],
                    on_point: Progress | None = None) -> tuple[str, list[PointResult]]:
    """``build_spec(doc, path, o)`` + ``evaluate_network`` for every ``o`` in ``overrides``, compiled
    (see the module docstring). Returns the spec's name and one result per point, in order.
    ``on_point(done, total)`` is called once per point, as its result becomes known."""
    from costcalc.network import evaluate_network
    from costcalc.spec import build_spec

    try:
        return _compiled_points(doc, path, overrides, on_point)
    except _NotCompiled:
        pass
    out, name = [], ""
    for n, o in enumerate(overrides, 1):
        spec = build_spec(doc, path, o)
        res = evaluate_network(spec)
        name = spec.name
        out.append(PointResult(dict(spec.vars), res.totals, res.by_type))
        if on_point is not None:
            on_point(n, len(overrides))
    return name, out


def _compiled_points(doc: Any, path: str, overrides: Sequence[Mapping[str, str]],
                     on_point: Progress | None) -> tuple[str, list[PointResult]]:
    from costcalc.spec import build_spec, spec_header

    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list) or not overrides:
        raise _NotCompiled
    raw_vars = doc.get("vars")
    relevant = layer_variables(doc, list(raw_vars) if isinstance(raw_vars, dict) else [])
    groups: dict[Any, list[int]] = {}
    heads = []
    name = ""
    try:
        for j, o in enumerate(overrides):
            name, _, values, shape = spec_header(doc, path, o)
            if not all(type(v) is int for v in shape) or any(not _exact(v) for v in values.values()):
                raise _NotCompiled
            hs = _Head(values, shape)
            heads.append(hs)
            groups.setdefault((tuple((type(values[k]), values[k]) for k in relevant), shape.c), []).append(j)
        # Values that differ can still build equal layers (make_divisible rounds several widths
        # alike): one walk per distinct network.
        networks: dict[Any, tuple[Any, list[int]]] = {}
        for key, members in groups.items():
            spec = build_spec(doc, path, overrides[members[0]])
            if spec.input.c != heads[members[0]].input.c:
                raise _NotCompiled
            structure: Any = (spec.layers, spec.groups, spec.output, spec.input.c)
            try:
                hash(structure)
            except TypeError:
                structure = key
            networks.setdefault(structure, (spec, []))[1].extend(members)
        results: list[PointResult | None] = [None] * len(overrides)
        done = 0
        for spec, members in networks.values():
            sizes = list(dict.fromkeys((heads[j].input.h, heads[j].input.w) for j in members))
            by_size = dict(zip(sizes, evaluate_sizes(spec, sizes)))
            for j in members:
                totals, by_type = by_size[(heads[j].input.h, heads[j].input.w)]
                results[j] = PointResult(heads[j].vars, totals, dict(by_type))
                done += 1
                if on_point is not None:
                    on_point(done, len(overrides))
    except _NotCompiled:
        raise
    except Exception:  # noqa: BLE001 - the plain loop raises the same error for the same point
        raise _NotCompiled from None
    return name, results  # type: ignore[return-value]


def _exact(v: Any) -> bool:
    from fractions import Fraction

    from costcalc.num import is_int

    return is_int(v) or isinstance(v, (Fraction, float, str, bool)) or v is None


# ----------------------------------------------------------------------------------------------
# Scoring many candidate networks: totals only


#: (layer, input shapes) -> (output shape, cost as a tuple, leaf layers), for layers whose check
#: passed on those shapes (rules are pure: the same key always gives the same answer)
_TOTALS: dict[Any, tuple[Shape, tuple[int, ...], int]] = {}


def network_totals(spec: Any) -> Cost:
    """``evaluate_network(spec).totals``, without rows, subtotals or the by-type breakdown: each
    (layer, input shapes) pair is checked and walked once per process and then only added up.
    Anything that is not plain ints (symbols, rationals), and every error, goes through
    ``evaluate_network`` itself, so the result and the message are the walk's."""
    from costcalc.engine import walk
    from costcalc.network import evaluate_network
    from costcalc.spec import MAX_LAYERS

    shapes: dict[str, Shape] = {"input": spec.input}
    macs = params = weights = elementwise = comparisons = activations = memory = 0
    leaves = 0
    cache = _TOTALS
    try:
        for nl in spec.layers:
            inputs = tuple(shapes[t] for t in nl.inputs)
            key = (nl.layer, inputs)
            hit = cache.get(key)
            if hit is None:
                if not all(type(v) is int for s in inputs for v in s):
                    return evaluate_network(spec).totals
                nl.layer.check(*inputs)
                rows: list[Any] = []
                out, cost, _ = walk(nl.layer, inputs, "", 0, rows)
                parts = tuple(getattr(cost, f) for f in COST_FIELDS)
                if not all(type(v) is int for v in parts) or not all(type(v) is int and v >= 1 for v in out):
                    return evaluate_network(spec).totals
                hit = (out, parts, sum(1 for r in rows if r.leaf))
                if len(cache) >= 16384:
                    cache.clear()
                cache[key] = hit
            out, (m, p, w, e, c, a, mem), n = hit
            leaves += n
            macs += m
            params += p
            weights += w
            elementwise += e
            comparisons += c
            activations += a
            memory += mem
            shapes[nl.path] = out
    except Exception:  # noqa: BLE001 - the walk raises the same error with its message
        return evaluate_network(spec).totals
    if leaves > MAX_LAYERS:
        return evaluate_network(spec).totals
    return Cost(macs, params, weights, elementwise, comparisons, activations, memory)


def score(docs: Iterable[Any], file: str = "<candidate>", overrides: Mapping[str, str] | None = None) -> list[Cost]:
    """Total cost of each network in ``docs`` (spec documents as Python dicts, as a YAML spec
    would parse), ``build_spec`` + ``evaluate_network(...).totals`` for each, with the work shared
    between candidates: a layer written alike in two candidates is built once, and a (layer, input
    shape) pair is evaluated once. An invalid candidate raises the spec error it would raise alone
    (``file`` names it in messages)."""
    from costcalc.spec import build_spec

    return [network_totals(build_spec(doc, file, overrides)) for doc in docs]


# ----------------------------------------------------------------------------------------------
# Sweeps over a grid, in one process or several


def grid_overrides(axes: Mapping[str, Sequence[str]], fixed: Mapping[str, str]) -> list[dict[str, str]]:
    """The ``--set`` values of every grid point (the product of the axes, first axis slowest)."""
    names = list(axes)
    return [{**fixed, **dict(zip(names, values))} for values in itertools.product(*(axes[k] for k in names))]


def _chunk_worker(args: tuple[Any, str, list[dict[str, str]]]) -> tuple[str, list[PointResult]]:
    """One process's share of a sweep (top level: the pool pickles it by name)."""
    doc, path, overrides = args
    return evaluate_points(doc, path, overrides)


def sweep_points(doc: Any, path: str, overrides: Sequence[Mapping[str, str]], jobs: int = 1,
                 on_point: Callable[[int, int], None] | None = None) -> tuple[str, list[PointResult]]:
    """Evaluate every point; with ``jobs > 1`` in that many processes, each taking a contiguous
    share of the points (results and the first error, in point order, as in one process).
    ``on_point(done, total)`` reports progress per point (per share with several processes)."""
    total = len(overrides)
    if jobs <= 1 or total < 2 * jobs:
        return evaluate_points(doc, path, overrides, on_point)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = -(-total // jobs)
    chunks = [list(overrides[k:k + size]) for k in range(0, total, size)]
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    out: list[PointResult] = []
    name = ""
    with ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=ctx) as pool:
        futures = [pool.submit(_chunk_worker, (doc, path, ch)) for ch in chunks]
        for fut in futures:  # in order: the first failing chunk holds the first failing point
            name, res = fut.result()
            for point in res:
                out.append(point)
                if on_point is not None:
                    on_point(len(out), total)
    return name, out


__all__ = ["IntVec", "PointResult", "Undecided", "evaluate_points", "evaluate_sizes", "grid_overrides",
           "layer_variables", "lifted_totals", "network_totals", "score", "sweep_points"]
