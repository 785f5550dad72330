"""costcalc: exact multiply-add, FLOP and parameter counts of neural networks, as numbers or as
formulas that state where they hold.

The Python API mirrors the commands (``docs/api.md``)::

    import costcalc
    costcalc.net("examples/resnet50.yaml", resolution="R").formula("macs")   # 76848*R**2 + 2048000
    costcalc.layer("depthwise", H=56, N=64).value("macs")                    # 1806336
    costcalc.ratio("separable", "conv", K=3, M=512).value                    # Fraction(521, 4608)

Importing costcalc is cheap: the functions load their modules (and sympy, only for formulas) when
first called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["__version__", "compare", "derive", "layer", "net", "ratio", "sweep",
           "Network", "LayerResult", "Derived", "Comparison", "SweepResult", "Cost", "Shape", "View"]

#: where each public name lives (imported on first use)
_LAZY = {
    "net": "costcalc.api", "layer": "costcalc.api", "ratio": "costcalc.api", "derive": "costcalc.api",
    "compare": "costcalc.api", "sweep": "costcalc.api",
    "Network": "costcalc.results", "LayerResult": "costcalc.results", "Derived": "costcalc.results",
    "Comparison": "costcalc.results", "SweepResult": "costcalc.results",
    "Cost": "costcalc.cost", "Shape": "costcalc.cost", "View": "costcalc.render.view",
}


#: pyproject.toml's version, for a source tree that is not installed
_SOURCE_VERSION = "0.1.0"


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("costcalc")
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover
        pass
    return _SOURCE_VERSION


def __getattr__(name: str) -> Any:
    if name == "__version__":  # importlib.metadata costs more than the rest of the import: on demand
        globals()[name] = _version()
        return globals()[name]
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'costcalc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from costcalc.api import compare, derive, layer, net, ratio, sweep
    from costcalc.cost import Cost, Shape
    from costcalc.render.view import View
    from costcalc.results import Comparison, Derived, LayerResult, Network, SweepResult
