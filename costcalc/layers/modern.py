"""Convolutional blocks after MobileNet that are not mobile blocks: RegNet, ConvNeXt, RepVGG, and the
upsampling layers of segmentation and detection heads (transposed convolution, interpolation).

Extra dimensions these blocks introduce:

- ``g``: RegNet's group width (channels per group of the 3×3; groups = B/g).
- ``B``: bottleneck width (RegNet: w/b, the paper's bottleneck ratio b; default b = 1).
- ``R``: squeeze-and-excitation reduction (RegNetY: squeeze width round(N/R) of the block input).
- ``T``: expansion of ConvNeXt's inverted bottleneck (4).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from costcalc.cost import Cost, Shape
from costcalc.layers.base import Block, Builder, DimError, Leaf, dim, opt, register
from costcalc.layers.conv import Conv
from costcalc.layers.norm import LayerNorm
from costcalc.layers.primitives import Activation, Add, BatchNorm, Pool
from costcalc.layers.transformer import Linear
from costcalc.num import Num, div, is_int, same

BN = BatchNorm()
LN = LayerNorm()
RELU = Activation("relu")


def _out_channels(m: Num | None, x: Shape) -> Num:
    return x.c if m is None else m


def _identity(block_name: str, x: Shape, m: Num, s: Num) -> bool:
    """Whether a residual block keeps its identity shortcut (same channels, stride 1); a number
    against a symbol cannot be decided, which is a missing dimension, never a guess."""
    eq = same(x.c, m)
    if eq is None:
        raise DimError("M", m, f"{block_name} cannot decide its shortcut with N={x.c}; "
                       "give M as a number (or N as a symbol)")
    return bool(eq) and s == 1


# ----------------------------------------------------------------------------------------------
# Upsampling: transposed convolution and interpolation


def conv_transpose_out(size: Num, k: Num, s: Num, p: Num, d: Num, output_padding: Num) -> Num:
    """PyTorch's output length of a transposed convolution (``torch.nn.ConvTranspose2d``):
    ``(size − 1)·S − 2P + D·(K − 1) + output_padding + 1``, exact in both worlds (no floor)."""
    return (size - 1) * s - 2 * p + d * (k - 1) + output_padding + 1


@register("conv_transpose", "transposed K×K conv (stride S upsamples): H·W·N·K²·M/G, counted on the input")
@dataclass(frozen=True)
class ConvTranspose(Leaf):
    """Transposed 2-D convolution, as ``torch.nn.ConvTranspose2d`` (padding P and output_padding
    default 0 as in PyTorch; ``bias`` off as for ``conv``).

    Each of the H·W·N input elements is multiplied by K² weights for each of M/G output channels,
    so MACs = H·W·N·K²·M/G: the true count, on the *input* size (``FlopCounterMode`` counts the
    same). Several peers count a transposed conv like a conv on its *output* size, H′·W′·M·K²·N/G,
    which over-counts by about S² (4× for the usual stride 2). Params = K²·(M/G)·N (+ M with bias).
    Output size: (H − 1)·S − 2P + D·(K − 1) + output_padding + 1 (PyTorch's arithmetic)."""

    M: Num | None = dim(None, "output channels (default: input channels)")
    K: Num = dim(3, "kernel size")
    S: Num = dim(1, "stride (the upsampling factor)", symbol=False)
    P: Num = dim(0, "padding (removed from each side of the output)", minimum=0, symbol=False)
    output_padding: Num = dim(0, "extra rows/columns on one side of the output (< S or D)", minimum=0,
                              symbol=False)
    D: Num = dim(1, "dilation", symbol=False)
    G: Num = dim(1, "groups", symbol=False)
    bias: bool = opt(False, "add a bias per output channel")

    category = "conv_transpose"

    def _m(self, x: Shape) -> Num:
        return x.c if self.M is None else self.M

    def check(self, *inputs: Shape) -> None:
        x = inputs[0]
        m = self._m(x)
        if is_int(self.G) and is_int(x.c) and x.c % self.G:
            raise DimError("G", self.G, f"groups must divide the input channels N={x.c}")
        if is_int(self.G) and is_int(m) and m % self.G:
            raise DimError("G", self.G, f"groups must divide the output channels M={m}")
        op, s, d = self.output_padding, self.S, self.D
        if is_int(op) and is_int(s) and is_int(d) and op >= max(s, d):
            raise DimError("output_padding", op, f"must be smaller than the stride S={s} or the dilation D={d}")
        for axis, size in (("H", x.h), ("W", x.w)):
            out = conv_transpose_out(size, self.K, s, self.P, d, op)
            if is_int(out) and out < 1:
                raise DimError("P", self.P, f"padding leaves no output: {axis}′ = ({size}−1)·{s} − 2·{self.P} + "
                               f"{d}·({self.K}−1) + {op} + 1 = {out}")

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        args = (self.K, self.S, self.P, self.D, self.output_padding)
        return Shape(conv_transpose_out(x.h, *args), conv_transpose_out(x.w, *args), self._m(x))

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        y = self.out_shape(x)
        m = y.c
        weights = x.c * div(m, self.G) * self.K * self.K
        params = weights + (m if self.bias else 0)
        out = y.elements
        return Cost(macs=x.h * x.w * weights, params=params, weights=weights,
                    elementwise=out if self.bias else 0, activations=out,
                    memory=x.elements + out + params)


#: elementwise ops per output element of each interpolation mode
UPSAMPLE_OPS: dict[str, int] = {
    "nearest": 0,  # a copy of the nearest input element
    "bilinear": 7,  # four neighbours weighted and summed: 4 multiplies + 3 adds
}


@register("upsample", "upsample by an integer scale: nearest (a copy, 0 ops) or bilinear (7 ops per "
          "output element)")
@dataclass(frozen=True)
class Upsample(Leaf):
    """Upsampling by an integer ``scale``, as ``torch.nn.Upsample(scale_factor=scale, mode=mode)``:
    output H·scale × W·scale × N. No MACs and no params. ``nearest`` copies (0 ops); ``bilinear``
    weights the four neighbouring input elements of each output element and sums them, 4 multiplies
    + 3 adds = 7 elementwise ops per output element (the interpolation weights depend only on the
    output row and column and are computed once)."""

    scale: Num = dim(2, "scale factor", symbol=False)
    mode: str = opt("nearest", "interpolation", choices=tuple(UPSAMPLE_OPS), kind="str")
    align_corners: bool = opt(False, "bilinear: align the corner pixels (no effect on the counts)")

    category = "upsample"

    def check(self, *inputs: Shape) -> None:
        if self.mode not in UPSAMPLE_OPS:
            raise DimError("mode", self.mode, f"must be one of {', '.join(UPSAMPLE_OPS)}")
        if self.align_corners and self.mode == "nearest":
            raise DimError("align_corners", True, "applies to mode bilinear only (PyTorch refuses it with nearest)")

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        return Shape(x.h * self.scale, x.w * self.scale, x.c)

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        out = self.out_shape(x).elements
        return Cost(elementwise=UPSAMPLE_OPS[self.mode] * out, activations=out, memory=x.elements + out)


# ----------------------------------------------------------------------------------------------
# Small leaves of the blocks below


@register("layer_scale", "learnable per-channel scale (ConvNeXt, CaiT): N params, H·W·N multiplies")
@dataclass(frozen=True)
class LayerScale(Leaf):
    """Multiply each channel by a learnable scale (ConvNeXt's ``layer_scale``, a C × 1 × 1
    parameter): params N, H·W·N elementwise multiplies, no MACs."""

    category = "layer_scale"

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        n = x.elements
        return Cost(params=x.c, elementwise=n, activations=n, memory=2 * n + x.c)


@dataclass(frozen=True)
class ChannelGate(Leaf):
    """The excitation's channel multiply of RegNetY's squeeze-and-excitation: a map (first input)
    times a 1 × 1 × N gate (second input), H·W·N multiplies. Private to ``regnet_y`` until a
    general squeeze-and-excitation type takes its place."""

    arity = 2
    type_name = "se_scale"
    category = "se_scale"

    def check(self, *inputs: Shape) -> None:
        x, g = inputs[0], inputs[1]
        if same(x.c, g.c) is False:
            raise DimError("input", f"{tuple(x)} × {tuple(g)}", "the gate needs as many channels as the map")

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        n = x.elements
        return Cost(elementwise=n, activations=n, memory=2 * n + x.c)


@dataclass(frozen=True)
class RegNetSE(Block):
    """Squeeze-and-excitation as torchvision's ``SqueezeExcitation`` inside RegNetY: global average
    pool, 1×1 conv N → E with bias, ReLU, 1×1 conv E → N with bias, sigmoid, channel multiply.
    MACs 2·N·E; params 2·N·E + E + N. Private to ``regnet_y`` (named ``regnet_se`` in rows)."""

    E: Num = dim(None, "squeeze width")
    type_name = "regnet_se"

    def build(self, b: Builder, x: Shape) -> None:
        s = b("avgpool", Pool(mode="avg", glob=True), x)
        s = b("fc1", Conv(M=self.E, K=1, P=0, bias=True), s)
        s = b("relu", RELU, s)
        s = b("fc2", Conv(M=x.c, K=1, P=0, bias=True), s)
        s = b("sigmoid", Activation("sigmoid"), s)
        b("scale", ChannelGate(), x, s)


# ----------------------------------------------------------------------------------------------
# RegNet (Radosavovic et al. 2020), as torchvision builds it


def se_width(n: Num, r: Num) -> Num:
    """RegNetY's squeeze width: torchvision's ``int(round(se_ratio · width_in))`` with se_ratio =
    1/R. Numbers round half to even, as Python's ``round``; a symbol passes through as N/R."""
    if is_int(n) and is_int(r):
        return round(Fraction(n, r))
    return div(n, r)


@register("regnet_y", "RegNetY block: regnet_x with squeeze-and-excitation (squeeze width round(N/R)) "
          "after the 3×3", se=True, required=("g",))
@register("regnet_x", "RegNetX block: 1×1 → grouped 3×3 (group width g) → 1×1 + shortcut: "
          "H·W·(N·B + 9·B·g + B·M)", se=False, hidden=("R",), required=("g",))
@dataclass(frozen=True)
class RegNetBlock(Block):
    """RegNet's residual bottleneck block (X block; Y adds squeeze-and-excitation), as torchvision's
    ``ResBottleneckBlock``: 1×1 N→B, BatchNorm, ReLU; 3×3 B→B of stride S in B/g groups of g
    channels, BatchNorm, ReLU; [Y: SE with squeeze width round(N/R), on the B channels]; 1×1 B→M,
    BatchNorm; residual add with the input (identity when N = M at stride 1, else a 1×1 projection
    of stride S with BatchNorm); ReLU.

    B defaults to M (bottleneck ratio b = 1, every RegNet of the paper's Table and torchvision).
    With N = M = B at stride 1: MACs = H·W·(2·N² + 9·N·g) (X) plus 2·N·round(N/R) (Y)."""

    M: Num | None = dim(None, "output width w (default: input width N)", unit_default=True)
    g: Num = dim(None, "group width: channels per group of the 3×3, dividing B")
    B: Num | None = dim(None, "bottleneck width w/b (default: M, bottleneck ratio b = 1)")
    S: Num = dim(1, "stride of the 3×3 and of the projection", symbol=False)
    R: Num = dim(4, "SE reduction: squeeze width round(N/R) of the block input (se_ratio = 1/R = 0.25)")
    se: bool = opt(False, "squeeze-and-excitation after the 3×3 (RegNetY)")

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return "regnet_y" if self.se else "regnet_x"

    def build(self, b: Builder, x: Shape) -> None:
        m = _out_channels(self.M, x)
        width = m if self.B is None else self.B
        if is_int(width) and is_int(self.g) and width % self.g:
            raise DimError("g", self.g, f"group width must divide the bottleneck width B={width}")
        identity = _identity(self.type_name, x, m, self.S)
        y = b("a", Conv(M=width, K=1, P=0), x)
        y = b("a_bn", BN, y)
        y = b("a_relu", RELU, y)
        y = b("b", Conv(M=width, K=3, S=self.S, G=div(width, self.g)), y)
        y = b("b_bn", BN, y)
        y = b("b_relu", RELU, y)
        if self.se:
            squeeze = se_width(x.c, self.R)
            if is_int(squeeze) and squeeze < 1:
                raise DimError("R", self.R, f"squeeze width round(N/R) = round({x.c}/{self.R}) is 0 channels")
            y = b("se", RegNetSE(E=squeeze), y)
        y = b("c", Conv(M=m, K=1, P=0), y)
        y = b("c_bn", BN, y)
        sc = x
        if not identity:
            sc = b("proj", Conv(M=m, K=1, S=self.S, P=0), x)
            sc = b("proj_bn", BN, sc)
        y = b("add", Add(), y, sc)
        b("relu", RELU, y)


# ----------------------------------------------------------------------------------------------
# ConvNeXt (Liu et al. 2022), as torchvision builds it


@register("convnext_block", "ConvNeXt block: depthwise 7×7, LayerNorm, linear ×T, GELU, linear, layer scale, "
          "residual: H·W·N·(K² + 2·T·N)")
@dataclass(frozen=True)
class ConvNeXtBlock(Block):
    """ConvNeXt block (Liu et al. 2022, Fig. 4; torchvision's ``CNBlock``): depthwise K×K conv with
    bias, LayerNorm over the channels, linear N → T·N, GELU, linear T·N → N (both with bias; the
    1×1 convs of the paper, run channels-last), layer scale (N params), residual add. Stochastic
    depth is the identity at inference. MACs = H·W·N·(K² + 2·T·N); params = N·(K² + 1) + 2·N +
    2·T·N² + T·N + N + N (dwconv, LayerNorm, the two linears, layer scale)."""

    K: Num = dim(7, "depthwise kernel")
    T: Num = dim(4, "expansion of the inverted bottleneck")
    layer_scale: bool = opt(True, "learnable per-channel scale before the residual add")

    def build(self, b: Builder, x: Shape) -> None:
        y = b("dwconv", Conv(K=self.K, depthwise=True, bias=True), x)
        y = b("norm", LN, y)
        y = b("pwconv1", Linear(M=self.T * x.c), y)
        y = b("gelu", Activation("gelu"), y)
        y = b("pwconv2", Linear(M=x.c), y)
        if self.layer_scale:
            y = b("layer_scale", LayerScale(), y)
        b("add", Add(), y, x)


@register("convnext_downsample", "ConvNeXt downsampling layer: LayerNorm, then a K×K conv of stride K "
          "(default 2×2/2) to M channels, with bias", required=("M",))
@dataclass(frozen=True)
class ConvNeXtDownsample(Block):
    """ConvNeXt's downsampling layer between stages (§2.6 of the paper; torchvision's
    ``LayerNorm2d`` + ``Conv2d(kernel_size=2, stride=2)``): LayerNorm over the channels, then a
    K×K conv of stride K with bias from N to M channels. MACs = (H/K)·(W/K)·M·K²·N = H·W·N·M."""

    M: Num = dim(None, "output channels")
    K: Num = dim(2, "kernel and stride")

    def build(self, b: Builder, x: Shape) -> None:
        y = b("norm", LN, x)
        b("conv", Conv(M=self.M, K=self.K, S=self.K, P=0, bias=True), y)


# ----------------------------------------------------------------------------------------------
# RepVGG (Ding et al. 2021): a re-parameterizable block


REPVGG_FORMS = ("train", "deploy")


@register("repvgg", "RepVGG block: train form 3×3+BN, 1×1+BN, identity BN, ReLU; deploy form one 3×3 "
          "conv with bias, ReLU: H·W·9·N·M/G")
@dataclass(frozen=True)
class RepVGGBlock(Block):
    """RepVGG block (Ding et al. 2021, Fig. 2 and Fig. 4), in one of two forms of the same function:

    - ``train``: a 3×3 conv (stride S, padding 1) + BatchNorm, a 1×1 conv (stride S) + BatchNorm and,
      when N = M at stride 1, an identity branch that is a BatchNorm; the branches are summed, ReLU.
      MACs = H′·W′·M·N·(9 + 1)/G; params add the three BatchNorms.
    - ``deploy``: the branches and BatchNorms folded into one 3×3 conv with bias (structural
      re-parameterization), ReLU. MACs = H′·W′·9·M·N/G; params 9·N·M/G + M.

    Both as the authors' ``RepVGGBlock`` (``deploy=False`` / ``True``); G groups both convs."""

    M: Num | None = dim(None, "output channels (default: input channels)", unit_default=True)
    S: Num = dim(1, "stride", symbol=False)
    G: Num = dim(1, "groups of the 3×3 and 1×1 convs", symbol=False)
    form: str = opt("train", "train: three branches with BatchNorm; deploy: one 3×3 conv with bias",
                    choices=REPVGG_FORMS, kind="str")

    def check(self, *inputs: Shape) -> None:
        if self.form not in REPVGG_FORMS:
            raise DimError("form", self.form, "must be 'train' or 'deploy'")

    def build(self, b: Builder, x: Shape) -> None:
        m = _out_channels(self.M, x)
        if self.form == "deploy":
            y = b("rbr_reparam", Conv(M=m, K=3, S=self.S, P=1, G=self.G, bias=True), x)
            b("relu", RELU, y)
            return
        identity = _identity("repvgg", x, m, self.S)
        d = b("rbr_dense", Conv(M=m, K=3, S=self.S, P=1, G=self.G), x)
        d = b("rbr_dense_bn", BN, d)
        p = b("rbr_1x1", Conv(M=m, K=1, S=self.S, P=0, G=self.G), x)
        p = b("rbr_1x1_bn", BN, p)
        y = b("add", Add(), d, p)
        if identity:
            i = b("rbr_identity", BN, x)
            y = b("add_identity", Add(), y, i)
        b("relu", RELU, y)
