"""Normalization layers that compute their statistics at inference: LayerNorm and GroupNorm.

Unlike BatchNorm (a fixed affine map at inference, 2 ops per element), these normalize with the
statistics of the tensor itself, so their elementwise count includes computing mean and variance.
The convention, for a group of n elements normalized together:

- per element, 7 ops: add to the mean (1), subtract the mean (1), square and add to the variance
  (2), multiply by 1/σ (1), the affine γ·x + β (2);
- per group, 4 ops: divide the two sums by n (2), add ε (1), reciprocal square root (1).

None of this is a multiply-add (``macs`` = 0, as in ``FlopCounterMode``).
"""

from __future__ import annotations

from dataclasses import dataclass

from costcalc.cost import Cost, Shape
from costcalc.layers.base import DimError, Leaf, dim, register
from costcalc.num import Num, is_int

#: elementwise ops per normalized element, and per normalized group (see the module docstring)
PER_ELEMENT = 7
PER_GROUP = 4


@register("layernorm", "LayerNorm over the channels at each position (channels-last, as in ConvNeXt and "
          "ViT): params 2·N, 7 ops per element + 4 per position")
@dataclass(frozen=True)
class LayerNorm(Leaf):
    """Layer normalization over the channels of each position, as ``torch.nn.LayerNorm(N)`` on a
    channels-last tensor (ConvNeXt's ``LayerNorm2d``; ViT's LayerNorm on L×1×D tokens).

    Params γ and β: 2·N. Elementwise: 7·H·W·N + 4·H·W (each of the H·W positions is one group of N
    elements: mean, variance, normalize, affine; see the module docstring). No MACs."""

    category = "layernorm"

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        n = x.elements
        return Cost(params=2 * x.c, elementwise=PER_ELEMENT * n + PER_GROUP * x.h * x.w, activations=n,
                    memory=2 * n + 2 * x.c)


@register("groupnorm", "GroupNorm, G groups of channels: params 2·N, 7 ops per element + 4 per group",
          required=("G",))
@dataclass(frozen=True)
class GroupNorm(Leaf):
    """Group normalization, as ``torch.nn.GroupNorm(G, N)``: the N channels form G groups, each
    normalized over its H·W·N/G elements. Params γ and β: 2·N. Elementwise: 7·H·W·N + 4·G (see the
    module docstring). No MACs. G = 1 normalizes the whole map; G = N is InstanceNorm with affine."""

    G: Num = dim(None, "groups (must divide the channels N)")
    category = "groupnorm"

    def check(self, *inputs: Shape) -> None:
        x = inputs[0]
        c = x.c
        if is_int(self.G) and is_int(c) and c % self.G:
            raise DimError("G", self.G, f"groups must divide the channels N={c}")
        if all(is_int(v) for v in (self.G, *x)) and x.elements == self.G:
            # as PyTorch: a group of one element has no variance to normalize by
            raise DimError("G", self.G, f"each group would hold a single element ({x.h}×{x.w}×{c} in "
                           f"{self.G} groups); PyTorch refuses it")

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        n = x.elements
        return Cost(params=2 * x.c, elementwise=PER_ELEMENT * n + PER_GROUP * self.G, activations=n,
                    memory=2 * n + 2 * x.c)
