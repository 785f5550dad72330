"""The mobile families after MobileNetV2: squeeze-and-excitation, MBConv (MobileNetV3, EfficientNet,
MnasNet), Fused-MBConv (EfficientNetV2), and GhostNet's Ghost module and bottleneck.

Extra dimensions these blocks introduce:

- ``E``: expanded channels of an inverted residual, given directly (MobileNetV3's 72 from 24 is not
  a whole ratio); ``T`` is the same as a ratio, E = N·T.
- ``R``: squeeze-and-excitation reduction: the squeeze conv has B = C/R channels, where C is the
  base the family divides (the SE's own input, an MBConv's input or its expanded width).
- ``s``, ``d``, ``k``: the GhostNet paper's letters: ``s`` the ratio (a primary conv makes M/s
  channels, cheap d×d depthwise operations the rest), ``k`` the primary conv's kernel.

Rounding that a family applies to channel counts is a field, stated where it is used; with symbols
the rounding passes the value through (the closed form is the unrounded one).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from costcalc.cost import Cost, Shape
from costcalc.layers.base import Block, Builder, DimError, Leaf, dim, opt, register
from costcalc.layers.conv import Conv
from costcalc.layers.primitives import ACTIVATIONS, Activation, Add, BatchNorm, ChannelSplit, Concat, Mul, Pool
from costcalc.num import Num, div, is_int, may_equal, same

BN = BatchNorm()

#: the gate activations a squeeze-and-excitation path may end with
GATES: tuple[str, ...] = ("sigmoid", "hardsigmoid")

#: where an inverted residual's SE reduction is measured from
SE_BASES: tuple[str, ...] = ("input", "expanded")

#: how an SE path rounds base/R to its squeeze width (see :func:`squeeze_width`)
SE_ROUNDINGS: tuple[str, ...] = ("floor", "divisible", "floor_divisible")


# ----------------------------------------------------------------------------------------------
# The channel multiply of SE


# ----------------------------------------------------------------------------------------------
# Squeeze-and-excitation


def _make_divisible(v: Any, divisor: int) -> int:
    """torchvision's ``_make_divisible(v, divisor)``, exactly (the rule of :mod:`costcalc.expr`)."""
    from costcalc.expr import FUNCTIONS

    return int(FUNCTIONS["make_divisible"](v, divisor))


def squeeze_width(base: Num, r: Num, rounding: str = "floor", divisor: Num = 8) -> Num:
    """Channels of an SE path's squeeze conv from ``base`` channels and reduction ``r``:

    - ``floor``: ⌊C/R⌋ (EfficientNet's ``input_channels // 4``, SENet's ``C // r``);
    - ``divisible``: ``make_divisible(C/R, divisor)`` (GhostNet's ``_make_divisible(C · 0.25, 4)``);
    - ``floor_divisible``: ``make_divisible(⌊C/R⌋, divisor)`` (torchvision's MobileNetV3,
      ``_make_divisible(expanded // 4, 8)``).

    The last two differ only when R does not divide C and the 10 % rule of ``make_divisible``
    falls between ⌊C/R⌋ and C/R (C = 107, R = 4, divisor 8: 24 against 32). With symbols: C/R."""
    if not (is_int(base) and is_int(r) and is_int(divisor)):
        return div(base, r)
    if rounding == "divisible":
        return _make_divisible(Fraction(base, r), divisor)
    q = base // r
    if rounding == "floor_divisible":
        return _make_divisible(q, divisor)
    if q == 0:
        raise DimError("R", r, f"squeeze width {base}//{r} = 0 channels: the reduction is larger than the "
                       f"{base} channels it divides")
    return q


@register("se", "squeeze-and-excitation: global pool → 1×1 N→B → act → 1×1 B→N → gate → channel "
          "multiply: 2·N·B MACs, B = N/R")
@dataclass(frozen=True)
class SqueezeExcite(Block):
    """Squeeze-and-excitation (Hu et al. 2018, Fig. 1; torchvision ``SqueezeExcitation``): global
    average pool to 1×1×N, 1×1 conv N→B (with bias), activation, 1×1 conv B→N (with bias), gate
    activation, channel-wise multiply of the input by the gate. MACs = 2·N·B; params = 2·N·B + B + N;
    the pool (H·W·N), the multiply (H·W·N) and the activations count as elementwise.

    The squeeze width B is given directly, or is C/R where C is ``base`` (default: the SE's input
    channels N; MBConv passes its block input for EfficientNet, its expanded width for MobileNetV3)
    and R the reduction (default 4), rounded as ``rounding`` says: ``floor``, ⌊C/R⌋ (EfficientNet,
    SENet); ``floor_divisible``, make_divisible(⌊C/R⌋, divisor) (torchvision's MobileNetV3, divisor
    8); ``divisible``, make_divisible(C/R, divisor) (GhostNet, divisor 4). Giving both B and R is
    accepted only when they agree."""

    R: Num | None = dim(None, "reduction ratio: B = base/R (default 4 unless B is given)")
    B: Num | None = dim(None, "squeeze channels, given directly instead of R", symbol=False)
    base: Num | None = dim(None, "channels the reduction divides (default: the input channels N)",
                           symbol=False)
    rounding: str = opt("floor", "base/R to channels: floor (EfficientNet), floor_divisible "
                        "(make_divisible(⌊base/R⌋, divisor): MobileNetV3), divisible (make_divisible(base/R, "
                        "divisor): GhostNet)", choices=SE_ROUNDINGS, kind="str")
    divisor: Num = dim(8, "multiple the divisible roundings round to (MobileNetV3: 8, GhostNet: 4)",
                       symbol=False)
    act: str = opt("relu", "activation after the squeeze conv (relu: SENet, MobileNetV3, GhostNet; "
                   "silu: EfficientNet)", choices=tuple(ACTIVATIONS), kind="str")
    gate: str = opt("sigmoid", "gate activation (sigmoid: SENet, EfficientNet; hardsigmoid: "
                    "MobileNetV3, GhostNet)", choices=GATES, kind="str")
    bias: bool = opt(True, "biases on the two 1×1 convs (torchvision: yes)")

    def check(self, *inputs: Shape) -> None:
        if self.gate not in GATES:
            raise DimError("gate", self.gate, f"must be one of {', '.join(GATES)}")
        if self.rounding not in SE_ROUNDINGS:
            raise DimError("rounding", self.rounding, f"must be one of {', '.join(SE_ROUNDINGS)}")
        Activation.named(self.act)
        self.width(inputs[0])

    def width(self, x: Shape) -> Num:
        """The squeeze width B for input ``x`` (checked: B and R agree when both are given)."""
        base = x.c if self.base is None else self.base
        if self.B is None:
            return squeeze_width(base, 4 if self.R is None else self.R, self.rounding, self.divisor)
        if self.R is not None and is_int(base) and is_int(self.R) and is_int(self.divisor) and is_int(self.B):
            b = squeeze_width(base, self.R, self.rounding, self.divisor)
            if b != self.B:
                raise DimError("B", self.B, f"contradicts R={self.R}, which gives {b} squeeze channels "
                               f"from {base}; give one of B and R")
        return self.B

    def build(self, b: Builder, x: Shape) -> None:
        width = self.width(x)
        s = b("avgpool", Pool(mode="avg", glob=True), x)
        s = b("fc1", Conv(M=width, K=1, P=0, bias=self.bias), s)
        s = b(self.act, Activation.named(self.act), s)
        s = b("fc2", Conv(M=x.c, K=1, P=0, bias=self.bias), s)
        g = b(self.gate, Activation.named(self.gate), s)
        b("scale", Mul(), x, g)


# ----------------------------------------------------------------------------------------------
# Inverted residuals with SE: MBConv and Fused-MBConv


def _unit_out(block: Block, x: Shape) -> Num:
    m = getattr(block, "M", None)
    return x.c if m is None else m


def _expanded(block: Block, x: Shape) -> Num:
    """Expanded width from ``T`` (E = N·T) or ``E``; both given must agree."""
    t, e = block.T, block.E  # type: ignore[attr-defined]
    if e is None:
        return x.c * (6 if t is None else t)
    if t is not None and not may_equal(x.c * t, e):
        raise DimError("E", e, f"contradicts T={t}, which gives N·T = {x.c * t} expanded channels "
                       f"from N={x.c}; give one of T and E")
    return e


def _residual(name: str, x: Shape, m: Num, s: Num) -> bool:
    """Identity shortcut when the stride is 1 and N = M (undecidable N vs M is an error)."""
    eq = same(x.c, m)
    if s == 1 and eq is None:
        raise DimError("M", m, f"{name} cannot decide its residual with N={x.c}; give M as a number")
    return s == 1 and bool(eq)


def _expands(x: Shape, e: Num) -> bool:
    """Whether there is an expansion conv: not when E = N (T = 1, or MobileNetV3's 16 → 16). A
    number against a symbol (E = 72 in the formula of ``costcalc layer -N 24 --param E=72``) is the
    general case, an expansion, as ``inverted_residual`` takes a symbolic T ≠ 1."""
    return same(x.c, e) is not True


class _SEFields:
    """The squeeze-and-excitation options shared by MBConv and Fused-MBConv: the dataclass fields
    are declared on each class (annotations here only type them); this holds the rule that turns
    them into an SE layer."""

    act: str
    se_R: Num
    se_base: str
    se_rounding: str
    se_divisor: Num
    se_act: str | None
    se_gate: str

    def _se(self, block_in: Shape, expanded: Num) -> SqueezeExcite:
        base = block_in.c if self.se_base == "input" else expanded
        return SqueezeExcite(R=self.se_R, base=base, rounding=self.se_rounding, divisor=self.se_divisor,
                             act=self.se_act or self.act, gate=self.se_gate)

    def _check_se(self) -> None:
        for name, value, choices in (("se_base", self.se_base, SE_BASES), ("se_gate", self.se_gate, GATES),
                                     ("se_rounding", self.se_rounding, SE_ROUNDINGS)):
            if value not in choices:
                raise DimError(name, value, f"must be one of {', '.join(choices)}")
        Activation.named(self.act)
        if self.se_act:
            Activation.named(self.se_act)


_ACT_DOC = "activation after the expansion and depthwise convs (relu: MnasNet, MobileNetV3; hardswish: " \
    "MobileNetV3's later blocks; silu: EfficientNet)"


@register("mbconv", "MBConv (MobileNetV3, EfficientNet, MnasNet): expand 1×1 N→E → depthwise K×K → [SE] → "
          "project 1×1 E→M: H·W·E·(N + K² + M) at stride 1, E = N·T")
@dataclass(frozen=True)
class MBConv(Block, _SEFields):
    """Mobile inverted bottleneck (MobileNetV3 §5, EfficientNet Table 1, MnasNet; torchvision
    ``InvertedResidual`` / ``MBConv``): 1×1 conv N→E, BatchNorm, activation (omitted when E = N);
    depthwise K×K conv (stride S), BatchNorm, activation; optional squeeze-and-excitation on the E
    channels; linear 1×1 conv E→M, BatchNorm; residual add when S = 1 and N = M.

    E = N·T (``T``, default 6) or given directly (``E``: MobileNetV3's 72 from 24). EfficientNet's
    ``make_divisible(N·T, 8)`` is N·T for its channels (multiples of 8); give E otherwise.
    SE: B = base/R with ``se_base`` ``input`` (EfficientNet: the block's N) or ``expanded``
    (MobileNetV3: E), rounded as ``se_rounding`` says (floor: EfficientNet; floor_divisible with
    ``se_divisor`` 8: MobileNetV3; see ``se``). Stochastic depth and BatchNorm's eps change no
    count. With stride 1, no SE: MACs = H·W·E·(N + K² + M); the SE adds 2·E·B MACs and
    2·E·B + B + E params."""

    M: Num | None = dim(None, "output channels (default: input channels)", unit_default=True)
    T: Num | None = dim(None, "expansion ratio, E = N·T (default 6 unless E is given)")
    E: Num | None = dim(None, "expanded channels, given directly instead of T", symbol=False)
    K: Num = dim(3, "depthwise kernel")
    S: Num = dim(1, "stride of the depthwise conv", symbol=False)
    act: str = opt("relu", _ACT_DOC, choices=tuple(ACTIVATIONS), kind="str")
    se: bool = opt(False, "squeeze-and-excitation on the expanded channels, after the depthwise conv")
    se_R: Num = dim(4, "SE reduction ratio: B = base/R", symbol=False)
    se_base: str = opt("input", "what the SE reduction divides: input (EfficientNet) or expanded "
                       "(MobileNetV3)", choices=SE_BASES, kind="str")
    se_rounding: str = opt("floor", "SE base/R to channels: floor (EfficientNet), floor_divisible "
                           "(MobileNetV3), divisible (see se)", choices=SE_ROUNDINGS, kind="str")
    se_divisor: Num = dim(8, "SE rounding multiple for the divisible roundings (MobileNetV3: 8)", symbol=False)
    se_act: str | None = opt(None, "activation inside the SE (default: act; MobileNetV3: relu)",
                             choices=tuple(ACTIVATIONS), kind="str")
    se_gate: str = opt("sigmoid", "SE gate: sigmoid (EfficientNet) or hardsigmoid (MobileNetV3)",
                       choices=GATES, kind="str")

    def check(self, *inputs: Shape) -> None:
        self._check_se()
        _expanded(self, inputs[0])

    def build(self, b: Builder, x: Shape) -> None:
        m = _unit_out(self, x)
        e = _expanded(self, x)
        residual = _residual("mbconv", x, m, self.S)
        act = Activation.named(self.act)
        y = x
        if _expands(x, e):
            y = b("expand", Conv(M=e, K=1, P=0), y)
            y = b("expand_bn", BN, y)
            y = b(f"expand_{self.act}", act, y)
        y = b("dw", Conv(K=self.K, S=self.S, depthwise=True), y)
        y = b("dw_bn", BN, y)
        y = b(f"dw_{self.act}", act, y)
        if self.se:
            y = b("se", self._se(x, e), y)
        y = b("project", Conv(M=m, K=1, P=0), y)
        y = b("project_bn", BN, y)
        if residual:
            b("add", Add(), y, x)


@register("fused_mbconv", "Fused-MBConv (EfficientNetV2): K×K N→E → [SE] → 1×1 E→M (one K×K N→M when "
          "E = N): H·W·E·(N·K² + M) at stride 1, E = N·T")
@dataclass(frozen=True)
class FusedMBConv(Block, _SEFields):
    """Fused-MBConv (Tan & Le 2021, EfficientNetV2 Fig. 2; torchvision ``FusedMBConv``): a K×K conv
    N→E (stride S), BatchNorm, activation; optional squeeze-and-excitation; linear 1×1 conv E→M,
    BatchNorm. When E = N (T = 1) it is one K×K conv N→M, BatchNorm, activation. Residual add when
    S = 1 and N = M. With stride 1, no SE: MACs = H·W·E·(N·K² + M) (E ≠ N), H·W·N·K²·M (E = N).
    E, T and the SE fields are as in ``mbconv``; EfficientNetV2's fused stages have no SE."""

    M: Num | None = dim(None, "output channels (default: input channels)", unit_default=True)
    T: Num | None = dim(None, "expansion ratio, E = N·T (default 6 unless E is given)")
    E: Num | None = dim(None, "expanded channels, given directly instead of T", symbol=False)
    K: Num = dim(3, "kernel of the fused conv")
    S: Num = dim(1, "stride of the fused conv", symbol=False)
    act: str = opt("silu", "activation after the fused conv (EfficientNetV2: silu)",
                   choices=tuple(ACTIVATIONS), kind="str")
    se: bool = opt(False, "squeeze-and-excitation on the expanded channels, after the fused conv")
    se_R: Num = dim(4, "SE reduction ratio: B = base/R", symbol=False)
    se_base: str = opt("input", "what the SE reduction divides: input or expanded", choices=SE_BASES,
                       kind="str")
    se_rounding: str = opt("floor", "SE base/R to channels: floor, floor_divisible or divisible (see se)",
                           choices=SE_ROUNDINGS, kind="str")
    se_divisor: Num = dim(8, "SE rounding multiple for the divisible roundings", symbol=False)
    se_act: str | None = opt(None, "activation inside the SE (default: act)", choices=tuple(ACTIVATIONS),
                             kind="str")
    se_gate: str = opt("sigmoid", "SE gate: sigmoid or hardsigmoid", choices=GATES, kind="str")

    def check(self, *inputs: Shape) -> None:
        self._check_se()
        _expanded(self, inputs[0])

    def build(self, b: Builder, x: Shape) -> None:
        m = _unit_out(self, x)
        e = _expanded(self, x)
        residual = _residual("fused_mbconv", x, m, self.S)
        act = Activation.named(self.act)
        expands = _expands(x, e)
        y = b("fused", Conv(M=e if expands else m, K=self.K, S=self.S), x)
        y = b("fused_bn", BN, y)
        y = b(f"fused_{self.act}", act, y)
        if self.se:
            y = b("se", self._se(x, e), y)
        if expands:
            y = b("project", Conv(M=m, K=1, P=0), y)
            y = b("project_bn", BN, y)
        if residual:
            b("add", Add(), y, x)


# ----------------------------------------------------------------------------------------------
# GhostNet


def _ceil_div(a: Num, b: Num) -> Num:
    """⌈a/b⌉ for numbers; a/b for symbols."""
    if is_int(a) and is_int(b):
        return -(-a // b)
    return div(a, b)


@register("ghost", "Ghost module (GhostNet): primary k×k N→M/s, cheap d×d depthwise for the rest: "
          "H·W·(N·k²·M/s + (M − M/s)·d²)")
@dataclass(frozen=True)
class Ghost(Block):
    """Ghost module (Han et al. 2020, Fig. 2b and the official code's ``GhostModule``): a primary
    k×k conv N→m with m = ⌈M/s⌉ (stride S), BatchNorm, ReLU; a cheap d×d depthwise operation making
    s−1 maps from each of the m (a conv m→m·(s−1) with m groups), BatchNorm, ReLU; the two
    concatenated, m·s channels, sliced to the first M (a view, when m·s > M).

    MACs (stride 1) = H·W·(N·k²·m + m·(s−1)·d²), i.e. H·W·(N·k²·M/s + (M − M/s)·d²) when s divides
    M. Against an ordinary k×k conv N→M the saving is s·N·k²/(N·k² + (s−1)·d²) ≈ s (the paper's
    eq. 4, d ≈ k, s ≪ N). ``relu: false`` drops both ReLUs (the bottleneck's second module)."""

    M: Num | None = dim(None, "output channels (default: input channels)")
    s: Num = dim(2, "ratio: the primary conv makes ⌈M/s⌉ channels (GhostNet: 2)")
    d: Num = dim(3, "kernel of the cheap depthwise operation (GhostNet: 3)")
    k: Num = dim(1, "kernel of the primary conv (GhostNet: 1)", symbol=False)
    S: Num = dim(1, "stride of the primary conv", symbol=False)
    relu: bool = opt(True, "ReLU after the primary and the cheap operation")

    def check(self, *inputs: Shape) -> None:
        if is_int(self.s) and self.s < 2:
            raise DimError("s", self.s, "the ratio must be at least 2 (s = 1 leaves no channels for "
                           "the cheap operation: that is a plain conv)")

    def build(self, b: Builder, x: Shape) -> None:
        m = _unit_out(self, x)
        primary = _ceil_div(m, self.s)
        relu = Activation("relu")
        y1 = b("primary", Conv(M=primary, K=self.k, S=self.S), x)
        y1 = b("primary_bn", BN, y1)
        if self.relu:
            y1 = b("primary_relu", relu, y1)
        y2 = b("cheap", Conv(M=primary * self.s - primary, K=self.d, G=primary), y1)
        y2 = b("cheap_bn", BN, y2)
        if self.relu:
            y2 = b("cheap_relu", relu, y2)
        y = b("concat", Concat(), y1, y2)
        if same(y.c, m) is False:
            b("slice", ChannelSplit(M=m), y)


@register("ghost_bottleneck", "Ghost bottleneck (GhostNet): Ghost N→E → [depthwise K×K stride S] → [SE] → "
          "Ghost E→M + shortcut", required=("E",))
@dataclass(frozen=True)
class GhostBottleneck(Block):
    """Ghost bottleneck (Han et al. 2020, Fig. 3 and the official code's ``GhostBottleneck``): Ghost
    module N→E with ReLU; at stride 2 a depthwise K×K conv (stride 2) and BatchNorm; optional
    squeeze-and-excitation (ReLU, hard-sigmoid gate, B = make_divisible(E/R, 4)); Ghost module E→M
    without ReLU; plus the shortcut: the identity when S = 1 and N = M, otherwise depthwise K×K
    (stride S), BatchNorm, 1×1 N→M, BatchNorm. No activation after the add."""

    M: Num | None = dim(None, "output channels (default: input channels)", unit_default=True)
    E: Num = dim(None, "expanded (hidden) channels, the first Ghost module's output")
    K: Num = dim(3, "kernel of the depthwise convs (stride-2 and shortcut)")
    S: Num = dim(1, "stride", symbol=False)
    se: bool = opt(False, "squeeze-and-excitation on the E channels")
    se_R: Num = dim(4, "SE reduction ratio (GhostNet: se_ratio 0.25 → 4)", symbol=False)
    se_divisor: Num = dim(4, "SE squeeze width make_divisible(E/R, divisor) (GhostNet: 4)", symbol=False)
    s: Num = dim(2, "ratio of both Ghost modules", symbol=False)
    d: Num = dim(3, "cheap-operation kernel of both Ghost modules", symbol=False)

    def build(self, b: Builder, x: Shape) -> None:
        if self.E is None:
            raise DimError("E", "missing", "ghost_bottleneck needs E (expanded channels)")
        m = _unit_out(self, x)
        residual = _residual("ghost_bottleneck", x, m, self.S)
        y = b("ghost1", Ghost(M=self.E, s=self.s, d=self.d), x)
        if self.S != 1:
            y = b("dw", Conv(K=self.K, S=self.S, depthwise=True), y)
            y = b("dw_bn", BN, y)
        if self.se:
            y = b("se", SqueezeExcite(R=self.se_R, rounding="divisible", divisor=self.se_divisor, act="relu",
                                      gate="hardsigmoid"), y)
        y = b("ghost2", Ghost(M=m, s=self.s, d=self.d, relu=False), y)
        if residual:
            sc = x
        else:
            sc = b("shortcut_dw", Conv(K=self.K, S=self.S, depthwise=True), x)
            sc = b("shortcut_dw_bn", BN, sc)
            sc = b("shortcut_pw", Conv(M=m, K=1, P=0), sc)
            sc = b("shortcut_pw_bn", BN, sc)
        b("add", Add(), y, sc)
