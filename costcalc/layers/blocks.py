"""The seed architectures' building blocks, composed of primitives.

Each block's ``build`` reads like its paper's figure. Extra dimensions a block introduces:

- ``B``: bottleneck width (ResNet/ResNeXt/ShuffleNet: the channels of the inner 3×3 stage).
- ``T``: expansion factor (MobileNetV2: the inner stage has T·N channels).
"""

from __future__ import annotations

from dataclasses import dataclass

from costcalc.cost import Shape
from costcalc.layers.base import Block, Builder, DimError, dim, opt, register
from costcalc.layers.conv import Conv
from costcalc.layers.primitives import (
    Activation,
    Add,
    BatchNorm,
    ChannelShuffle,
    ChannelSplit,
    Concat,
    PadShortcut,
    Pool,
)
from costcalc.num import Num, div, is_int, may_equal, same

BN = BatchNorm()
RELU = Activation("relu")
RELU6 = Activation("relu6")


def _out_channels(block: Block, x: Shape) -> Num:
    m = getattr(block, "M", None)
    return x.c if m is None else m


def _identity_shortcut(block_name: str, x: Shape, m: Num, s: Num) -> bool:
    """Whether a residual block keeps the identity shortcut (same channels, stride 1).

    A number on one side and a symbol on the other cannot be decided: the block's structure
    depends on it, so that is a missing dimension, not a guess."""
    eq = same(x.c, m)
    if eq is None:
        raise DimError("M", m, f"{block_name} cannot decide its shortcut with N={x.c}; "
                       "give M as a number (or N as a symbol)")
    return bool(eq) and s == 1


#: the ResNet paper's shortcut options for a change of shape (§3.3): A zero-pads, B projects
SHORTCUT_OPTIONS = ("A", "B")


def _check_shortcut(option: str) -> None:
    if option not in SHORTCUT_OPTIONS:
        raise DimError("shortcut", option, "must be 'A' (zero-padding) or 'B' (1×1 projection)")


def _shortcut(b: Builder, x: Shape, m: Num, s: Num, identity: bool, option: str = "B") -> Shape:
    if identity:
        return x
    if option == "A":
        return b("shortcut", PadShortcut(M=m, S=s), x)
    y = b("downsample", Conv(M=m, K=1, S=s, P=0), x)
    return b("downsample_bn", BN, y)


def _default_width(b: Num | None, m: Num) -> Num:
    """Bottleneck width: B if given, else M/4 (ResNet, ShuffleNet), which must be a whole number."""
    if b is not None:
        return b
    if is_int(m) and m % 4:
        raise DimError("B", "M/4", f"default bottleneck width needs M={m} divisible by 4; give B")
    return div(m, 4)


def _stride1_channels(x: Shape, m: Num, reason: str) -> Num:
    """Output channels of a unit whose stride-1 form requires M = N.

    Numbers must be equal. Two symbols that may be equal (``M`` and ``N`` in the formula of
    ``costcalc layer -N 240 -M 240``) take the constraint: the unit's formula is written in N, the
    numbers are checked separately. Symbols that provably differ (``480·α`` vs ``240·α``) and a
    number against a symbol are errors."""
    eq = same(x.c, m)
    if eq is True:
        return m
    if eq is False and not is_int(x.c) and not is_int(m) and may_equal(x.c, m):
        return x.c
    raise DimError("M", m, f"{reason}={x.c}")


@register("separable", "depthwise K×K + pointwise 1×1 (MobileNet): H·W·N·(K² + M)")
@dataclass(frozen=True)
class Separable(Block):
    """Depthwise separable convolution (MobileNet): a depthwise K×K conv (stride S) followed by a
    pointwise 1×1 conv N → M. MACs = H·W·N·K² + H·W·N·M = H·W·N·(K² + M) at stride 1.
    With ``bn``/``act`` each conv is followed by BatchNorm and the activation (MobileNet Fig. 3).
    """

    M: Num | None = dim(None, "output channels (default: input channels)")
    K: Num = dim(3, "depthwise kernel size")
    S: Num = dim(1, "stride of the depthwise conv", symbol=False)
    bn: bool = opt(False, "BatchNorm after each conv")
    act: str | None = opt(None, "activation after each conv (relu, relu6, ...)", kind="str")

    def build(self, b: Builder, x: Shape) -> None:
        post = [("bn", BN)] if self.bn else []
        a = [(str(self.act), Activation.named(self.act))] if self.act else []
        y = b("dw", Conv(K=self.K, S=self.S, depthwise=True), x)
        for name, layer in post + a:
            y = b(f"dw_{name}", layer, y)
        y = b("pw", Conv(M=_out_channels(self, x), K=1, P=0), y)
        for name, layer in post + a:
            y = b(f"pw_{name}", layer, y)


@register("resnext", "ResNeXt bottleneck, grouped 3×3 of cardinality G: H·W·(N·B + K²·B²/G + B·M)",
          required=("G", "B"))
@register("bottleneck", "ResNet bottleneck 1×1 → 3×3 → 1×1 + shortcut: H·W·(N·B + K²·B² + B·M)",
          hidden=("G",))
@dataclass(frozen=True)
class Bottleneck(Block):
    """ResNet bottleneck (He et al. 2015, Fig. 5): 1×1 N→B, K×K B→B (G groups: ResNeXt), 1×1 B→M,
    each followed by BatchNorm, ReLU after the first two and after the residual add. The shortcut is
    the identity when N = M at stride 1, else a 1×1 projection with BatchNorm (the paper's option B)
    or, with ``shortcut: A``, the parameter-free zero-padding shortcut (option A).

    With N = M = c, B = m, K = 3, stride 1: MACs = hw(2cm + 9m²) (ResNet) and hw(2cm + 9m²/G)
    (ResNeXt), the ShuffleNet paper's expressions. ``stride_on`` places the stride on the first 1×1
    (the ResNet paper) or on the 3×3 (torchvision, "ResNet v1.5").
    """

    M: Num | None = dim(None, "output channels (default: input channels)", unit_default=True)
    B: Num | None = dim(None, "bottleneck width (default: M/4)")
    K: Num = dim(3, "kernel of the middle conv")
    S: Num = dim(1, "stride", symbol=False, structural=True)
    G: Num = dim(1, "cardinality: groups of the middle conv (ResNeXt)")
    stride_on: str = opt("1x1", "where the stride sits: first 1x1 (paper) or 3x3 (torchvision)",
                         choices=("1x1", "3x3"), kind="str")
    shortcut: str = opt("B", "shortcut on a change of shape: B, a 1×1 projection; A, zero-padding",
                        choices=SHORTCUT_OPTIONS, kind="str")

    def check(self, *inputs: Shape) -> None:
        if self.stride_on not in ("1x1", "3x3"):
            raise DimError("stride_on", self.stride_on, "must be '1x1' or '3x3'")
        _check_shortcut(self.shortcut)

    def build(self, b: Builder, x: Shape) -> None:
        m = _out_channels(self, x)
        width = _default_width(self.B, m)
        s1, s3 = (self.S, 1) if self.stride_on == "1x1" else (1, self.S)
        identity = _identity_shortcut(self.type_name, x, m, self.S)
        y = b("conv1", Conv(M=width, K=1, S=s1, P=0), x)
        y = b("bn1", BN, y)
        y = b("relu1", RELU, y)
        y = b("conv2", Conv(M=width, K=self.K, S=s3, G=self.G), y)
        y = b("bn2", BN, y)
        y = b("relu2", RELU, y)
        y = b("conv3", Conv(M=m, K=1, P=0), y)
        y = b("bn3", BN, y)
        sc = _shortcut(b, x, m, self.S, identity, self.shortcut)
        y = b("add", Add(), y, sc)
        b("relu3", RELU, y)

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return "bottleneck" if self.G == 1 else "resnext"


@register("basic", "ResNet basic block, two K×K convs + shortcut: H·W·K²·M·(N + M) at stride 1")
@dataclass(frozen=True)
class Basic(Block):
    """ResNet basic block (ResNet-18/34): K×K N→M (stride S), BatchNorm, ReLU, K×K M→M, BatchNorm,
    residual add (identity, or on a change of shape a 1×1 projection + BatchNorm — option B — or
    the zero-padding shortcut with ``shortcut: A``), ReLU. The ResNet paper's 34-layer FLOPs
    (3.6×10⁹) are option A's."""

    M: Num | None = dim(None, "output channels (default: input channels)", unit_default=True)
    K: Num = dim(3, "kernel size")
    S: Num = dim(1, "stride of the first conv", symbol=False, structural=True)
    shortcut: str = opt("B", "shortcut on a change of shape: B, a 1×1 projection; A, zero-padding",
                        choices=SHORTCUT_OPTIONS, kind="str")

    def check(self, *inputs: Shape) -> None:
        _check_shortcut(self.shortcut)

    def build(self, b: Builder, x: Shape) -> None:
        m = _out_channels(self, x)
        identity = _identity_shortcut("basic", x, m, self.S)
        y = b("conv1", Conv(M=m, K=self.K, S=self.S), x)
        y = b("bn1", BN, y)
        y = b("relu1", RELU, y)
        y = b("conv2", Conv(M=m, K=self.K), y)
        y = b("bn2", BN, y)
        sc = _shortcut(b, x, m, self.S, identity, self.shortcut)
        y = b("add", Add(), y, sc)
        b("relu2", RELU, y)


@register("shufflenet_unit", "ShuffleNet unit: grouped 1×1 → shuffle → depthwise 3×3 → grouped 1×1: "
          "H·W·(2·N·B/G + K²·B) at stride 1", required=("G",))
@dataclass(frozen=True)
class ShuffleUnit(Block):
    """ShuffleNet unit (Zhang et al. 2017, Fig. 2): grouped 1×1 N→B, BatchNorm, ReLU, channel
    shuffle, depthwise K×K (stride S), BatchNorm, grouped 1×1 B→M′, BatchNorm; then at stride 1 a
    residual add (M′ = M = N), at stride 2 a concat with the 3×3 average-pooled input
    (M′ = M − N); ReLU. B defaults to M/4 (the paper: "bottleneck channels 1/4 of the output").
    ``group_first=false`` leaves the first 1×1 ungrouped (the paper's first unit of Stage 2).

    With N = M = c, B = m, K = 3 at stride 1: MACs = hw(2cm/G + 9m), the paper's expression.
    """

    M: Num | None = dim(None, "output channels (default: input channels)", unit_default=True)
    G: Num = dim(None, "groups of the 1×1 convs")
    B: Num | None = dim(None, "bottleneck channels (default: M/4)")
    K: Num = dim(3, "depthwise kernel")
    S: Num = dim(1, "stride (1: residual add, 2: concat with avg-pooled input)", symbol=False, structural=True)
    group_first: bool = opt(True, "group the first 1×1 conv")

    def build(self, b: Builder, x: Shape) -> None:
        m = _out_channels(self, x)
        width = _default_width(self.B, m)
        if self.S == 1:
            m = _stride1_channels(x, m, "a stride-1 ShuffleNet unit adds its input: M must equal N")
            main_out = m
        else:
            main_out = m - x.c
            if is_int(main_out) and main_out <= 0:
                raise DimError("M", m, f"a stride-2 ShuffleNet unit concatenates its input: M must exceed N={x.c}")
        g1 = self.G if self.group_first else 1
        y = b("gconv1", Conv(M=width, K=1, P=0, G=g1), x)
        y = b("bn1", BN, y)
        y = b("relu1", RELU, y)
        y = b("shuffle", ChannelShuffle(self.G), y)
        y = b("dwconv", Conv(K=self.K, S=self.S, depthwise=True), y)
        y = b("bn2", BN, y)
        y = b("gconv2", Conv(M=main_out, K=1, P=0, G=self.G), y)
        y = b("bn3", BN, y)
        if self.S == 1:
            y = b("add", Add(), y, x)
        else:
            sc = b("avgpool", Pool(K=3, S=self.S, P=1, mode="avg"), x)
            y = b("concat", Concat(), y, sc)
        b("relu", RELU, y)


@register("inverted_residual", "MobileNetV2 block: expand 1×1 by T → depthwise K×K → linear 1×1: "
          "H·W·N·T·(N + K² + M) at stride 1")
@dataclass(frozen=True)
class InvertedResidual(Block):
    """MobileNetV2 inverted residual (Sandler et al. 2018, Table 1): 1×1 N→T·N, BatchNorm, ReLU6;
    depthwise K×K (stride S), BatchNorm, ReLU6; linear 1×1 T·N→M, BatchNorm; residual add when
    S = 1 and N = M. With T = 1 there is no expansion conv (as in the paper's first bottleneck and
    torchvision). With d′ = N, d″ = M, k = K at stride 1: MACs = h·w·d′·t·(d′ + k² + d″).
    """

    M: Num | None = dim(None, "output channels (default: input channels)", unit_default=True)
    T: Num = dim(6, "expansion factor")
    K: Num = dim(3, "depthwise kernel")
    S: Num = dim(1, "stride of the depthwise conv (1 with N = M: residual add)", symbol=False, structural=True)

    def build(self, b: Builder, x: Shape) -> None:
        m = _out_channels(self, x)
        residual = self.S == 1 and same(x.c, m)
        if self.S == 1 and same(x.c, m) is None:
            raise DimError("M", m, f"inverted_residual cannot decide its residual with N={x.c}; give M as a number")
        y = x
        if self.T != 1:
            y = b("expand", Conv(M=x.c * self.T, K=1, P=0), y)
            y = b("expand_bn", BN, y)
            y = b("expand_relu6", RELU6, y)
        y = b("dw", Conv(K=self.K, S=self.S, depthwise=True), y)
        y = b("dw_bn", BN, y)
        y = b("dw_relu6", RELU6, y)
        y = b("project", Conv(M=m, K=1, P=0), y)
        y = b("project_bn", BN, y)
        if residual:
            b("add", Add(), y, x)


@register("shufflenet_v2_unit", "ShuffleNet V2 unit: channel split, 1×1 → depthwise K×K → 1×1 on one half, "
          "concat, shuffle")
@dataclass(frozen=True)
class ShuffleV2Unit(Block):
    """ShuffleNet V2 unit (Ma et al. 2018, Fig. 3c/d). Stride 1: split the N channels in halves;
    one half passes through 1×1, BatchNorm, ReLU, depthwise K×K, BatchNorm, 1×1, BatchNorm, ReLU;
    concat with the other half (M = N); shuffle with 2 groups. Stride 2: no split; branch 1 is
    depthwise K×K (stride 2), BatchNorm, 1×1 N→M/2, BatchNorm, ReLU; branch 2 is 1×1 N→M/2,
    BatchNorm, ReLU, depthwise K×K (stride 2), BatchNorm, 1×1, BatchNorm, ReLU; concat; shuffle.
    """

    M: Num | None = dim(None, "output channels (default: input channels)", unit_default=True)
    K: Num = dim(3, "depthwise kernel")
    S: Num = dim(1, "stride", symbol=False, structural=True)

    def _branch(self, b: Builder, prefix: str, x: Shape, mid: Num, s: Num) -> Shape:
        y = b(f"{prefix}pw1", Conv(M=mid, K=1, P=0), x)
        y = b(f"{prefix}pw1_bn", BN, y)
        y = b(f"{prefix}pw1_relu", RELU, y)
        y = b(f"{prefix}dw", Conv(K=self.K, S=s, depthwise=True), y)
        y = b(f"{prefix}dw_bn", BN, y)
        y = b(f"{prefix}pw2", Conv(M=mid, K=1, P=0), y)
        y = b(f"{prefix}pw2_bn", BN, y)
        return b(f"{prefix}pw2_relu", RELU, y)

    def build(self, b: Builder, x: Shape) -> None:
        m = _out_channels(self, x)
        if is_int(m) and m % 2:
            raise DimError("M", m, "ShuffleNet V2 units need an even number of output channels")
        if self.S == 1:
            m = _stride1_channels(x, m, "a stride-1 ShuffleNet V2 unit keeps its channels: M must equal N")
        half = div(m, 2)
        if self.S == 1:
            left = b("split", ChannelSplit(), x)
            right = self._branch(b, "", left, half, 1)
            y = b("concat", Concat(), left, right)
        else:
            left = b("branch1_dw", Conv(K=self.K, S=self.S, depthwise=True), x)
            left = b("branch1_dw_bn", BN, left)
            left = b("branch1_pw", Conv(M=half, K=1, P=0), left)
            left = b("branch1_pw_bn", BN, left)
            left = b("branch1_pw_relu", RELU, left)
            right = self._branch(b, "branch2_", x, half, self.S)
            y = b("concat", Concat(), left, right)
        b("shuffle", ChannelShuffle(2), y)
