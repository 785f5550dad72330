"""Walk a network spec: shape propagation, one row per layer, totals, breakdown by type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from costcalc.cost import COST_FIELDS, Cost, Shape, total
from costcalc.engine import Row, walk
from costcalc.errors import SpecError
from costcalc.layers.base import DimError
from costcalc.num import is_int, paused_gc
from costcalc.spec import MAX_LAYERS, NetworkSpec


@dataclass
class NetResult:
    """A network's costs, as data: ``rows`` in order (group and block subtotal rows first, then
    their children, ``leaf=True`` for layers that are counted), ``totals`` over the leaves."""

    spec: NetworkSpec
    rows: list[Row]
    totals: Cost
    out_shape: Shape
    by_type: dict[str, Cost] = field(default_factory=dict)

    @property
    def leaves(self) -> list[Row]:
        return [r for r in self.rows if r.leaf]


def evaluate_network(spec: NetworkSpec) -> NetResult:
    """Evaluate every layer of ``spec`` in order (the graph is flat and topologically sorted: each
    layer names the tensors it takes). Errors name the file, line, layer and value."""
    with paused_gc():
        return _evaluate_network(spec)


def _evaluate_network(spec: NetworkSpec) -> NetResult:
    rows: list[Row] = []
    shapes: dict[str, Shape] = {"input": spec.input}
    group_at: dict[int, list[Any]] = {}
    for g in spec.groups:
        if g.end > g.start:
            group_at.setdefault(g.start, []).append(g)
    open_groups: list[tuple[Any, int]] = []  # (group, row index of its subtotal)
    leaves = 0
    parts: list[Cost] = []
    x = spec.input
    for idx, nl in enumerate(spec.layers):
        while open_groups and open_groups[-1][0].end <= idx:
            _close_group(rows, open_groups.pop(), shapes)
        for g in sorted(group_at.get(idx, []), key=lambda g: -g.end):
            open_groups.append((g, len(rows)))
            rows.append(None)  # type: ignore[arg-type]  # the group's subtotal, filled in on close
        inputs = tuple(shapes[t] for t in nl.inputs)
        before = len(rows)
        try:
            nl.layer.check(*inputs)
            x, cost, _ = walk(nl.layer, inputs, nl.path, nl.depth, rows)
        except DimError as e:
            raise SpecError(f"{spec.source}:{nl.where}: layer {nl.path}: {e}") from None
        leaves += sum(1 for r in rows[before:] if r.leaf)
        if leaves > MAX_LAYERS:
            raise SpecError(f"{spec.source}:{nl.where}: layer {nl.path}: more than {MAX_LAYERS:,} layers "
                            "after repeats and blocks expanded")
        # Every layer's check() refuses what would make a size non-positive; this guards the
        # contract (a wrong number must never be printed instead of an error).
        if any(is_int(v) and v < 1 for v in x):
            raise SpecError(f"{spec.source}:{nl.where}: layer {nl.path}: output shape {tuple(x)} has a "
                            "size below 1 (stride or kernel too large for the input)")
        parts.append(cost)
        shapes[nl.path] = x
    while open_groups:
        _close_group(rows, open_groups.pop(), shapes)
    out = shapes[spec.output] if spec.output else x
    per_type: dict[str, list[Cost]] = {}
    for r in rows:
        if r.leaf:
            per_type.setdefault(r.category, []).append(r.cost)
    by_type = {k: total(v) for k, v in per_type.items()}
    return NetResult(spec, rows, total(parts), out, by_type)


def _close_group(rows: list[Row], item: tuple[Any, int], shapes: dict[str, Shape]) -> None:
    g, at = item
    acc = total(r.cost for r in rows[at + 1:] if r is not None and r.leaf)
    rows[at] = Row(g.path, "group", "group", shapes[g.input], shapes[g.output], acc, g.depth, leaf=False)


def symbolic_totals(result: NetResult) -> Cost:
    """Totals of a symbolic network, expanded into a canonical polynomial form."""
    import sympy

    return result.totals.map(lambda v: v if isinstance(v, int) else sympy.expand(v))


__all__ = ["NetResult", "evaluate_network", "symbolic_totals", "COST_FIELDS"]
