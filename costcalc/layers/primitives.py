"""Layers without multiply-adds: normalization, activations, pooling, merges, channel shuffles.

None of these count toward ``macs``; each has its own ``elementwise`` / ``comparisons`` /
``memory`` counts instead (the counting contract in README.md), so that nothing is silently zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from costcalc.cost import Cost, Shape
from costcalc.layers.base import Block, Builder, DimError, Layer, Leaf, dim, opt, register
from costcalc.num import Num, conv_out, div, is_int, pair, same


@register("batchnorm", "BatchNorm: 2 elementwise ops per element (inference affine), params 2·N")
@dataclass(frozen=True)
class BatchNorm(Leaf):
    """Batch normalization, as ``torch.nn.BatchNorm2d``: params γ and β (2·N); at inference an
    affine map, 2 elementwise ops (multiply, add) per element. Running statistics are buffers,
    not parameters."""

    category = "batchnorm"

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        n = x.elements
        return Cost(params=2 * x.c, elementwise=2 * n, activations=n, memory=2 * n + 2 * x.c)


#: per-element (comparisons, elementwise ops) of each activation
ACTIVATIONS: dict[str, tuple[int, int]] = {
    "relu": (1, 0),  # max(x, 0)
    "relu6": (2, 0),  # min(max(x, 0), 6)
    "hardsigmoid": (2, 2),  # relu6(x + 3) / 6
    "hardswish": (2, 3),  # x · relu6(x + 3) / 6
    "sigmoid": (0, 3),  # 1 / (1 + exp(−x)): exp, add, divide
    "silu": (0, 4),  # x · sigmoid(x) (swish)
    "gelu": (0, 5),  # x · (1 + erf(x/√2)) / 2: scale, erf, add, multiply, halve
    "tanh": (0, 5),  # (e^{2x} − 1) / (e^{2x} + 1): double, exp, subtract, add, divide
}


@register("tanh", "tanh (e^{2x}−1)/(e^{2x}+1): 5 ops per element", kind="tanh")
@register("gelu", "GELU x·(1+erf(x/√2))/2: 5 ops per element", kind="gelu")
@register("silu", "SiLU (swish) x·sigmoid(x): 4 ops per element", kind="silu")
@register("sigmoid", "sigmoid 1/(1+exp(−x)): 3 ops per element", kind="sigmoid")
@register("hardswish", "hard-swish x·relu6(x+3)/6: 2 comparisons + 3 ops per element", kind="hardswish")
@register("hardsigmoid", "hard-sigmoid relu6(x+3)/6: 2 comparisons + 2 ops per element", kind="hardsigmoid")
@register("relu6", "ReLU6: 2 comparisons per element", kind="relu6")
@register("relu", "ReLU: 1 comparison per element", kind="relu")
@dataclass(frozen=True)
class Activation(Leaf):
    """Elementwise activation. Comparisons and arithmetic per element are listed in
    ``ACTIVATIONS``; no parameters, no MACs."""

    kind: str = opt("relu", "activation function", choices=tuple(ACTIVATIONS), kind="str")

    @classmethod
    def named(cls, kind: str) -> Activation:
        if kind not in ACTIVATIONS:
            from costcalc.layers.base import suggest

            raise DimError("act", kind, f"unknown activation{suggest(kind, ACTIVATIONS)}; "
                           f"known: {', '.join(ACTIVATIONS)}")
        return cls(kind)

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return self.kind

    @property
    def category(self) -> str:
        return self.kind

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        n = inputs[0].elements
        cmp, ops = ACTIVATIONS[self.kind]
        return Cost(comparisons=cmp * n, elementwise=ops * n, activations=n, memory=2 * n)


#: per element of a softmax: (comparisons, elementwise ops); see :class:`Softmax`
SOFTMAX_PER_ELEMENT: tuple[int, int] = (1, 4)


@register("softmax", "softmax over the channels at each position (a classifier's N logits): 1 comparison "
          "+ 4 ops per element")
@dataclass(frozen=True)
class Softmax(Leaf):
    """Softmax over the N channels at each of the H·W positions, as ``torch.nn.Softmax(dim=1)`` on
    an N×C×H×W map or on a vector of N features (a classifier's logits, 1 × 1 × N), or over the
    width of each token of an L × 1 × D sequence. No parameters, no MACs (``FlopCounterMode``
    counts none). Per element, the convention of the attention's softmax: 1 comparison (the running
    maximum, subtracted for stability) and 4 ops (subtract the maximum, exp, add to the sum, divide
    by it): comparisons = H·W·N, elementwise = 4·H·W·N."""

    category = "softmax"

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        n = inputs[0].elements
        cmp, ops = SOFTMAX_PER_ELEMENT
        return Cost(comparisons=cmp * n, elementwise=ops * n, activations=n, memory=2 * n)


@register("global_maxpool", "global max pool to 1×1: (H·W−1)·N comparisons", mode="max", glob=True,
          hidden=("K", "S", "P", "ceil_mode", "count_include_pad"))
@register("global_avgpool", "global average pool to 1×1: H·W·N ops", mode="avg", glob=True,
          hidden=("K", "S", "P", "ceil_mode", "count_include_pad"))
@register("avgpool", "K×K average pool: K² ops per output element", mode="avg", hidden=("glob",))
@register("maxpool", "K×K max pool: K²−1 comparisons per output element", mode="max",
          hidden=("glob", "count_include_pad"))
@dataclass(frozen=True)
class Pool(Leaf):
    """Max or average pooling, as ``torch.nn.MaxPool2d`` / ``AvgPool2d`` (stride defaults to the
    kernel size, padding to 0) or their global (adaptive 1×1) forms. Max: K²−1 comparisons per
    output element; average: K²−1 adds and one divide = K² ops per output element (also where the
    window overlaps the padding: ``count_include_pad`` changes the divisor, not the work).
    ``ceil_mode`` rounds the output size up, as PyTorch does (GoogLeNet, SqueezeNet)."""

    K: Num = dim(2, "window size, or [height, width]", pair=True)
    S: Num | None = dim(None, "stride (default: K), or [height, width]", symbol=False, pair=True)
    P: Num = dim(0, "padding, or [height, width]", minimum=0, symbol=False, pair=True)
    mode: str = opt("max", "max or avg", choices=("max", "avg"), kind="str")
    glob: bool = opt(False, "pool the whole map to 1×1")
    ceil_mode: bool = opt(False, "round the output size up (PyTorch ceil_mode)")
    count_include_pad: bool = opt(True, "average over the padded window (PyTorch's default); the op count "
                                  "is the same either way")

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return f"global_{self.mode}pool" if self.glob else f"{self.mode}pool"

    @property
    def category(self) -> str:
        return self.type_name

    def check(self, *inputs: Shape) -> None:
        x = inputs[0]
        if self.glob:
            return
        for axis, size, k, p in zip(("H", "W"), (x.h, x.w), pair(self.K), pair(self.P)):
            if is_int(size) and is_int(k) and is_int(p) and k > size + 2 * p:
                raise DimError("K", self.K, f"window is larger than the padded input {axis}={size}+2·{p}")
            if is_int(k) and is_int(p) and 2 * p > k:
                raise DimError("P", self.P, f"padding must be at most half the window K={self.K}")

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        if self.glob:
            return Shape(1, 1, x.c)
        (kh, kw), (ph, pw) = pair(self.K), pair(self.P)
        sh, sw = (kh, kw) if self.S is None else pair(self.S)
        return Shape(conv_out(x.h, kh, sh, ph, ceil=self.ceil_mode), conv_out(x.w, kw, sw, pw, ceil=self.ceil_mode),
                     x.c)

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        y = self.out_shape(x)
        kh, kw = pair(self.K)
        window = x.h * x.w if self.glob else kh * kw
        per_out = y.elements
        mem = x.elements + per_out
        if self.mode == "max":
            return Cost(comparisons=per_out * (window - 1), activations=per_out, memory=mem)
        return Cost(elementwise=per_out * window, activations=per_out, memory=mem)


def adaptive_span(size: Num, out: Num) -> Num:
    """Total length of the ``out`` windows adaptive pooling puts over ``size`` positions: window i
    covers ``floor(i·size/out)`` to ``ceil((i+1)·size/out)`` (PyTorch). Equal to ``size`` when
    ``out`` divides it (the windows tile the input), more when they overlap; a symbolic size is
    taken to be divisible."""
    if is_int(size) and is_int(out):
        return sum(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))
    return size


@register("adaptive_maxpool", "adaptive max pool to a fixed output size: window area − 1 comparisons per output",
          mode="max")
@register("adaptive_avgpool", "adaptive average pool to a fixed output size (AlexNet, VGG): window area ops "
          "per output", mode="avg")
@dataclass(frozen=True)
class AdaptivePool(Leaf):
    """Adaptive pooling, as ``torch.nn.AdaptiveAvgPool2d(out)``: the output is ``out`` × ``out``
    (or [height, width]) whatever the input size; output cell i covers input positions
    floor(i·H/out) to ceil((i+1)·H/out). Average: as many ops as the window has elements (adds and
    one divide) per output element, H·W·N in all when out divides H and W. Max: one comparison fewer
    per output. When the input is already ``out`` × ``out`` it is the identity but still counted, as
    PyTorch runs it. This is what makes AlexNet's and VGG's classifiers cost the same at any input size.
    """

    out: Num = dim(1, "output size, or [height, width]", symbol=False, pair=True)
    mode: str = opt("avg", "max or avg", choices=("max", "avg"), kind="str")

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return f"adaptive_{self.mode}pool"

    @property
    def category(self) -> str:
        return self.type_name

    def out_shape(self, *inputs: Shape) -> Shape:
        oh, ow = pair(self.out)
        return Shape(oh, ow, inputs[0].c)

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        y = self.out_shape(x)
        oh, ow = pair(self.out)
        summed = adaptive_span(x.h, oh) * adaptive_span(x.w, ow) * x.c
        mem = x.elements + y.elements
        if self.mode == "max":
            return Cost(comparisons=summed - y.elements, activations=y.elements, memory=mem)
        return Cost(elementwise=summed, activations=y.elements, memory=mem)


@register("add", "residual add of equal-shaped tensors: H·W·N ops per extra input")
@dataclass(frozen=True)
class Add(Leaf):
    """Elementwise sum of k tensors of equal shape (a residual connection, k = 2): (k−1)·H·W·N
    adds; memory = k inputs read + one output written."""

    arity = 2
    category = "add"

    def standalone_inputs(self, x: Shape, extra_channels: Num) -> tuple[Shape, ...]:
        return (x, x)

    def check(self, *inputs: Shape) -> None:
        a = inputs[0]
        for b in inputs[1:]:
            for name, u, v in zip(("H", "W", "channels"), a, b):
                if same(u, v) is False:
                    raise DimError("input", f"{tuple(a)} + {tuple(b)}", f"add needs equal shapes ({name} differs)")

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        n = inputs[0].elements
        k = len(inputs)
        return Cost(elementwise=(k - 1) * n, activations=n, memory=(k + 1) * n)


def _is_gate(x: Shape) -> bool:
    """A 1×1×C tensor (numbers only: a symbolic size is a feature map)."""
    return is_int(x.h) and is_int(x.w) and x.h == 1 and x.w == 1


@register("mul", "elementwise product, e.g. a feature map times a 1×1×N gate (squeeze-and-excitation): "
          "H·W·N ops")
@dataclass(frozen=True)
class Mul(Leaf):
    """Elementwise product of two tensors, one of which may be a 1×1×N per-channel gate broadcast
    over H×W (the channel multiply of squeeze-and-excitation). H·W·N multiplies; memory = both
    inputs read + the output written."""

    arity = 2
    category = "mul"

    def standalone_inputs(self, x: Shape, extra_channels: Num) -> tuple[Shape, ...]:
        return (x, Shape(1, 1, x.c))

    def _big(self, *inputs: Shape) -> Shape:
        a, b = inputs[0], inputs[1]
        return b if _is_gate(a) and not _is_gate(b) else a

    def check(self, *inputs: Shape) -> None:
        if len(inputs) != 2:
            raise DimError("input", len(inputs), "mul multiplies exactly two tensors")
        a, b = inputs
        shown = f"{tuple(a)} × {tuple(b)}"
        if same(a.c, b.c) is False:
            raise DimError("input", shown, "mul needs equal channels")
        if _is_gate(a) or _is_gate(b):
            return
        for name, u, v in zip(("H", "W"), a, b):
            if same(u, v) is False:
                raise DimError("input", shown, f"mul needs a 1×1×C gate or equal shapes ({name} differs)")

    def out_shape(self, *inputs: Shape) -> Shape:
        return self._big(*inputs)

    def cost(self, *inputs: Shape) -> Cost:
        y = self._big(*inputs)
        n = y.elements
        return Cost(elementwise=n, activations=n, memory=inputs[0].elements + inputs[1].elements + n)


@register("concat", "channel concatenation: no arithmetic, memory traffic only")
@dataclass(frozen=True)
class Concat(Leaf):
    """Concatenation along channels. No arithmetic; memory = every input read + output written.
    On its own (``costcalc layer``) the second input has M channels."""

    arity = 2
    category = "concat"

    def standalone_inputs(self, x: Shape, extra_channels: Num) -> tuple[Shape, ...]:
        return (x, Shape(x.h, x.w, extra_channels))

    def check(self, *inputs: Shape) -> None:
        a = inputs[0]
        for b in inputs[1:]:
            for name, u, v in zip(("H", "W"), a, b):
                if same(u, v) is False:
                    raise DimError("input", f"{tuple(a)} ++ {tuple(b)}", f"concat needs equal {name}")

    def out_shape(self, *inputs: Shape) -> Shape:
        c = inputs[0].c
        for x in inputs[1:]:
            c = c + x.c
        return Shape(inputs[0].h, inputs[0].w, c)

    def cost(self, *inputs: Shape) -> Cost:
        y = self.out_shape(*inputs)
        n = y.elements
        return Cost(activations=n, memory=2 * n)


@register("channel_shuffle", "ShuffleNet channel shuffle: 0 MACs, memory traffic 2·H·W·N", required=("G",))
@dataclass(frozen=True)
class ChannelShuffle(Leaf):
    """Channel shuffle (reshape N → (G, N/G), transpose, flatten). No multiply-adds (the seed:
    "cannot be defined by multiply-adds"); its cost is memory traffic: read and write H·W·N."""

    G: Num = dim(None, "groups")
    category = "channel_shuffle"

    def check(self, *inputs: Shape) -> None:
        c = inputs[0].c
        if is_int(self.G) and is_int(c) and c % self.G:
            raise DimError("G", self.G, f"groups must divide the channels N={c}")

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        n = inputs[0].elements
        return Cost(activations=n, memory=2 * n)


@register("channel_split", "ShuffleNet V2 channel split: a view, keeps M of N channels (default N/2)")
@dataclass(frozen=True)
class ChannelSplit(Leaf):
    """Channel split (ShuffleNet V2): the first M channels continue (default N/2). It is a view in
    PyTorch (``chunk``): no arithmetic and no data moved, so every count is 0 by definition."""

    M: Num | None = dim(None, "channels kept (default: N/2)")
    category = "channel_split"

    def _m(self, x: Shape) -> Num:
        return div(x.c, 2) if self.M is None else self.M

    def check(self, *inputs: Shape) -> None:
        c = inputs[0].c
        if self.M is None and is_int(c) and c % 2:
            raise DimError("N", c, "channel split in halves needs an even channel count")
        if self.M is not None and is_int(c) and is_int(self.M) and self.M >= c:
            raise DimError("M", self.M, f"must be less than the channels N={c}")

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        return Shape(x.h, x.w, self._m(x))

    def cost(self, *inputs: Shape) -> Cost:
        return Cost(activations=self.out_shape(*inputs).elements)


@register("pad_shortcut", "ResNet option A shortcut: subsample by S, zero-pad to M channels; 0 MACs, 0 params")
@dataclass(frozen=True)
class PadShortcut(Leaf):
    """The ResNet paper's option A shortcut (He et al. 2015, §3.3): identity with stride-S
    subsampling and zero channels appended up to M. Parameter-free, no arithmetic; memory = the
    subsampled input read + the output written. Output size ceil(H/S), like a 1×1 conv of stride S."""

    M: Num | None = dim(None, "output channels, at least N (default: N)")
    S: Num = dim(1, "stride (subsampling)", symbol=False)
    category = "pad_shortcut"

    def check(self, *inputs: Shape) -> None:
        c = inputs[0].c
        if self.M is not None and same(self.M, c) is False and is_int(self.M) and is_int(c) and self.M < c:
            raise DimError("M", self.M, f"a zero-padding shortcut cannot drop channels (N={c})")

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        m = x.c if self.M is None else self.M
        return Shape(conv_out(x.h, 1, self.S, 0), conv_out(x.w, 1, self.S, 0), m)

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        y = self.out_shape(x)
        return Cost(activations=y.elements, memory=y.h * y.w * x.c + y.elements)


@register("unknown", "an operator of an imported model costcalc has no rule for: counted as 0, and said so")
@dataclass(frozen=True)
class Unknown(Leaf):
    """An operator of an imported model that costcalc cannot count (``costcalc import
    --allow-unknown``). Every count is 0 — a known undercount, never a silent one: ``costcalc net``
    lists these rows in a warning and in its JSON. ``op`` names the operator; the output has the
    input's shape unless ``M`` (channels), ``OH`` and ``OW`` (height, width) say otherwise."""

    op: str = opt("?", "the operator (e.g. aten.roll.default, Softmax)", kind="str")
    M: Num | None = dim(None, "output channels (default: the input's)")
    OH: Num | None = dim(None, "output height (default: the input's)", symbol=False)
    OW: Num | None = dim(None, "output width (default: the input's)", symbol=False)
    category = "unknown"

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        return Shape(x.h if self.OH is None else self.OH, x.w if self.OW is None else self.OW,
                     x.c if self.M is None else self.M)

    def cost(self, *inputs: Shape) -> Cost:
        return Cost()


@dataclass(frozen=True)
class Sequential(Block):
    """A chain of layers, e.g. conv → BatchNorm → ReLU from ``conv`` with ``bn``/``act``."""

    steps: tuple[tuple[str, Layer], ...] = ()
    name: str = "sequential"

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return self.name

    def build(self, b: Builder, x: Shape) -> None:
        for step_name, layer in self.steps:
            x = b(step_name, layer, x)
