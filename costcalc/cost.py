"""The counting contract as data: shapes and the cost of one layer.

See the counting contract in README.md. Every field is an exact ``int`` or a sympy expression; no floats.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

from costcalc.num import Num

#: Printed beside every table and in every JSON document.
CONVENTION = (
    "MACs = multiply-adds of convolutions and fully-connected layers (bias adds excluded; "
    "FLOPs = 2 × MACs = PyTorch FlopCounterMode total). Params = sum(p.numel()) of the equivalent "
    "PyTorch module (weights, biases where present, BatchNorm γ and β)."
)


class Shape(NamedTuple):
    """An activation shape, height × width × channels (batch size 1)."""

    h: Num
    w: Num
    c: Num

    @property
    def elements(self) -> Num:
        return self.h * self.w * self.c

    def __str__(self) -> str:  # pragma: no cover - used by renderers
        from costcalc.num import pretty

        return "×".join(pretty(v).replace(",", "") for v in self)


@dataclass(frozen=True)
class Cost:
    """What one layer costs. Blocks and networks add these up.

    - ``macs``: multiply-adds of convolutions and fully-connected layers.
    - ``params``: learnable parameters as PyTorch counts them (weights + biases + BN γ, β).
    - ``weights``: conv and FC weights only — the papers' parameter convention.
    - ``elementwise``: arithmetic outside conv/FC: BN affine (2/element), residual adds,
      bias adds, average-pool sums, hard-swish arithmetic.
    - ``comparisons``: ReLU/ReLU6 clamps, max-pool comparisons.
    - ``activations``: elements of the layer's output tensor.
    - ``memory``: elements read and written: inputs + outputs + parameters (ShuffleNet V2's
      "memory access cost"); multiply by the dtype size for bytes.
    """

    macs: Num = 0
    params: Num = 0
    weights: Num = 0
    elementwise: Num = 0
    comparisons: Num = 0
    activations: Num = 0
    memory: Num = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(getattr(self, f) + getattr(other, f) for f in COST_FIELDS))

    @property
    def flops(self) -> Num:
        return 2 * self.macs

    def bytes(self, dtype_bytes: int = 4) -> Num:
        return self.memory * dtype_bytes

    def map(self, fn) -> Cost:  # type: ignore[no-untyped-def]
        return Cost(*(fn(getattr(self, f)) for f in COST_FIELDS))


COST_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Cost))


def total(costs) -> Cost:  # type: ignore[no-untyped-def]
    """Sum an iterable of costs, field by field. Numbers add as Python numbers; the formulas of a
    field go into one ``sympy.Add`` (the same canonical sum as adding them one at a time, without
    re-flattening a growing sum at every step, which makes n additions quadratic)."""
    from costcalc.num import is_symbolic

    costs = list(costs)
    out = []
    for f in COST_FIELDS:
        values = [getattr(c, f) for c in costs]
        terms = [v for v in values if type(v) is not int and is_symbolic(v)]
        if len(terms) < 2:
            out.append(sum(values, 0))
            continue
        import sympy

        out.append(sympy.Add(*terms) + sum((v for v in values if not is_symbolic(v)), 0))
    return Cost(*out)
