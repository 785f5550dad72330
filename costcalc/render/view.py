"""What the user asked to see, the same for every format: the :class:`View`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costcalc.cost import Cost
from costcalc.metrics import BY_NAME, Metric


@dataclass(frozen=True)
class View:
    """FLOPs or MACs, PyTorch params or weights only, which rows, exact or human units.

    ``depth`` hides rows nested deeper; ``top`` keeps the N most expensive leaves (ordered by value,
    or for formulas by value at the spec's defaults); both apply to every format alike.
    ``by_type`` shows only the breakdown by layer type. ``human`` prints counts with SI prefixes
    (3.86 G) instead of exact integers."""

    units: str = "macs"  # or "flops"
    params: str = "torch"  # or "weights"
    depth: int | None = None
    top: int | None = None
    dtype_bytes: int = 4
    human: bool = False
    by_type: bool = False

    @property
    def ops_metric(self) -> Metric:
        return BY_NAME["flops" if self.units == "flops" else "macs"]

    @property
    def par_metric(self) -> Metric:
        return BY_NAME["weights" if self.params == "weights" else "params"]

    def ops(self, c: Cost) -> Any:
        return self.ops_metric(c, self.dtype_bytes)

    def par(self, c: Cost) -> Any:
        return self.par_metric(c, self.dtype_bytes)

    @property
    def ops_label(self) -> str:
        return self.ops_metric.short

    @property
    def par_label(self) -> str:
        return self.par_metric.short

    def count(self, v: Any, unit: str = "") -> str:
        """A cell: exact, or with ``human`` an SI-prefixed number."""
        from costcalc.render.text import count

        return count(v, self.human, unit)


__all__ = ["View"]
