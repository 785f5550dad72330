"""Layer and block types, registered by name (see :mod:`costcalc.layers.base`)."""

from costcalc.layers.base import (
    Block,
    Builder,
    DimError,
    Layer,
    LayerType,
    Leaf,
    Node,
    all_types,
    get_type,
)

__all__ = ["Block", "Builder", "DimError", "Layer", "LayerType", "Leaf", "Node", "all_types", "get_type"]
