"""The quantities costcalc reports, as one table of data.

Every command, renderer and the Python API read a quantity's name, label, unit and value from
:data:`METRICS`; nothing else spells a metric's label or knows how to get it from a
:class:`~costcalc.cost.Cost`. A new quantity is one new row here (and a field of ``Cost`` when it is
counted per layer). The order of the table is the display order.

``activations`` is the number of elements every counted layer writes (the sum, over the layers,
of each layer's output tensor): for one layer it is the elements of its output; for a block or a
network it is the sum over its layers (ResNet's bottleneck writes the outputs of its three convs,
BatchNorms, ReLUs and the add), the same quantity ``costcalc net`` totals. The elements of a block's
*output* tensor alone are ``H·W·C`` of its output shape, which ``costcalc layer`` shows as
"output elements".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from costcalc.cost import Cost
from costcalc.num import Num


@dataclass(frozen=True)
class Metric:
    """One reported quantity: ``name`` (the JSON and CSV key, the ``--metric`` choice), ``label``
    (table rows and headers), ``short`` (narrow headers), ``unit`` (for ``--human``: ``MACs``,
    ``params``, ``B``...), ``doc`` (one sentence: what it counts), and ``get(cost, dtype_bytes)``."""

    name: str
    label: str
    short: str
    unit: str
    doc: str
    get: Callable[[Cost, int], Num]

    def __call__(self, cost: Cost, dtype_bytes: int = 4) -> Num:
        return self.get(cost, dtype_bytes)


def _field(name: str) -> Callable[[Cost, int], Num]:
    return lambda c, _b: getattr(c, name)


#: Every quantity, in display order.
METRICS: tuple[Metric, ...] = (
    Metric("macs", "MACs (multiply-adds)", "MACs", "MACs",
           "multiply-adds of convolutions and fully-connected layers (bias adds excluded)", _field("macs")),
    Metric("flops", "FLOPs (2 × MACs)", "FLOPs", "FLOPs", "2 × MACs, PyTorch FlopCounterMode's total",
           lambda c, _b: c.flops),
    Metric("params", "params (PyTorch count)", "params", "params",
           "learnable parameters as sum(p.numel()) counts them: weights, biases, BatchNorm γ and β",
           _field("params")),
    Metric("weights", "params, weights only", "weights", "params", "conv and fully-connected weights only "
           "(the papers' parameter count)", _field("weights")),
    Metric("elementwise", "elementwise ops", "elementwise", "ops", "arithmetic outside conv/FC: BatchNorm, "
           "residual adds, bias adds, average-pool sums, hard-swish", _field("elementwise")),
    Metric("comparisons", "comparisons", "comparisons", "ops", "ReLU (1 per element), ReLU6 (2), max pooling "
           "(K²−1 per output)", _field("comparisons")),
    Metric("activations", "activation elements", "activations", "elements",
           "elements written by every layer: the sum of each layer's output tensor", _field("activations")),
    Metric("memory", "memory access (elements)", "memory", "elements", "elements read and written: inputs + "
           "outputs + parameters (ShuffleNet V2's memory access cost)", _field("memory")),
    Metric("bytes", "memory access (bytes)", "bytes", "B", "memory access × bytes per element",
           lambda c, b: c.bytes(b)),
)

#: name → metric
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}

#: metric names in display order (``--metric`` choices, JSON/CSV keys)
NAMES: tuple[str, ...] = tuple(BY_NAME)


def metric(name: str) -> Metric:
    """The metric called ``name``; an unknown name is a one-line error with the closest names."""
    try:
        return BY_NAME[name]
    except KeyError:
        from costcalc.errors import CostcalcError
        from costcalc.layers.base import suggest

        raise CostcalcError(f"unknown metric {name!r}{suggest(name, NAMES)}; metrics: {', '.join(NAMES)}") from None


def value(cost: Cost, name: str, dtype_bytes: int = 4) -> Num:
    """One named quantity of a cost."""
    return metric(name).get(cost, dtype_bytes)


def values(cost: Cost, dtype_bytes: int = 4) -> dict[str, Any]:
    """Every quantity of a cost, by name, in display order."""
    return {m.name: m.get(cost, dtype_bytes) for m in METRICS}


__all__ = ["BY_NAME", "METRICS", "NAMES", "Metric", "metric", "value", "values"]
