"""costcalc descriptions as PyTorch modules, and PyTorch's own counts of them.

:func:`to_torch` turns a layer, a block or a network spec into the equivalent ``torch.nn.Module``
(the counting contract in README.md: costcalc's ``params`` are defined as ``sum(p.numel())`` of this module, its ``macs``
as ``FlopCounterMode`` total / 2). :func:`verify_layer` and :func:`verify_network` run one forward
pass on a zero tensor under ``torch.utils.flop_counter.FlopCounterMode`` and compare, row by row,
costcalc's numbers with PyTorch's.

Blocks are not translated by hand: a *tracing* :class:`~costcalc.layers.base.Builder` runs the
block's own ``build`` and records which earlier output each child consumes, which gives a dataflow
graph that :class:`BlockModule` replays. A new block type therefore needs no code here.

Every module that corresponds to a costcalc row carries that row's path in ``costcalc_path``.
The modules keep costcalc's shape model: tensors stay 4-D (N, C, H, W) throughout; ``fc`` flattens
its input and returns ``(1, M, 1, 1)``, costcalc's 1×1×M; a sequence of L tokens of width D
(costcalc's L×1×D) is ``(1, D, L, 1)``, and per-position modules (``nn.Linear``, ``nn.LayerNorm``)
run channels-last on it. A whole network whose output is 1×1×M (an ``fc``, or a global pool as in
SqueezeNet) returns ``(1, M)`` like torchvision's classifiers.

PyTorch is an optional dependency: this module imports it at import time, so only
``costcalc verify`` and its tests import this module.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

# torch wheels built without NumPy warn on first use of some tensor paths; irrelevant here.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from costcalc.cost import Cost, Shape
from costcalc.errors import CostcalcError
from costcalc.layers.base import Block, Builder, DimError, Layer, Node
from costcalc.layers.conv import FC, Conv
from costcalc.layers.primitives import (
    Activation,
    AdaptivePool,
    Add,
    BatchNorm,
    ChannelShuffle,
    ChannelSplit,
    Concat,
    Mul,
    PadShortcut,
    Pool,
    Softmax,
)
from costcalc.layers.modern import ChannelGate, ConvTranspose, LayerScale, Upsample
from costcalc.layers.norm import GroupNorm, LayerNorm
from costcalc.layers.transformer import (
    AttentionContext,
    AttentionScores,
    AttentionSoftmax,
    ClassToken,
    Linear,
    PosEmbed,
    SelectToken,
    Tokens,
)
from costcalc.layers.windowed import PatchConcat, PositionBias, WindowContext, WindowCrop, WindowPad, WindowScores
from costcalc.num import is_int, pair


#: where verification runs by default: "meta" (shapes only, the same operators and counts) or "cpu"
#: (a real forward pass on zeros)
DEFAULT_DEVICE = "meta"


class VerifyError(CostcalcError):
    """A layer or network that cannot be built in PyTorch (symbolic dimensions, unknown layer)."""


# ----------------------------------------------------------------------------------------------
# Leaf layers: one small builder per class (dispatch on the class, never on type names).


class AddModule(nn.Module):
    """Elementwise sum of two (or more) tensors: a residual connection."""

    def forward(self, x: torch.Tensor, *others: torch.Tensor) -> torch.Tensor:
        for o in others:
            x = x + o
        return x


class ConcatModule(nn.Module):
    """Concatenation along channels."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class ChannelShuffleModule(nn.Module):
    """ShuffleNet channel shuffle: reshape C → (G, C/G), transpose, flatten."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.reshape(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class ChannelSplitModule(nn.Module):
    """ShuffleNet V2 channel split: the first ``keep`` channels (a view, as ``chunk``)."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(1, 0, self.keep)

    def extra_repr(self) -> str:
        return f"keep={self.keep}"


def _int(layer: Layer, name: str, v: Any) -> int:
    if not is_int(v):
        raise VerifyError(f"{layer.type_name}: {name}={v} is not a number; PyTorch needs every "
                          "dimension as a number")
    return int(v)


@functools.singledispatch
def _leaf(layer: Layer, *inputs: Shape) -> nn.Module:
    raise VerifyError(f"no PyTorch equivalent for layer type {layer.type_name!r} "
                      f"({type(layer).__name__}); add one in costcalc/torch_build.py")


@_leaf.register
def _(layer: Conv, *inputs: Shape) -> nn.Module:
    x = inputs[0]
    n = _int(layer, "N", x.c)
    m = _int(layer, "M", layer._m(x))
    g = _int(layer, "G", layer._g(x))
    k, s, d = (_pair(layer, f, getattr(layer, f)) for f in ("K", "S", "D"))
    p = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d)) if layer.P is None else _pair(layer, "P", layer.P)
    return nn.Conv2d(n, m, k, stride=s, padding=p, dilation=d, groups=g, bias=bool(layer.bias))


def _pair(layer: Layer, name: str, v: Any) -> tuple[int, int]:
    """A window dimension as PyTorch's (height, width)."""
    h, w = pair(v)
    return _int(layer, name, h), _int(layer, name, w)


@_leaf.register
def _(layer: FC, *inputs: Shape) -> nn.Module:
    x = inputs[0]
    features = _int(layer, "H·W·N", x.h * x.w * x.c)
    m = _int(layer, "M", layer.M)
    return nn.Sequential(nn.Flatten(), nn.Linear(features, m, bias=bool(layer.bias)), nn.Unflatten(1, (m, 1, 1)))


@_leaf.register
def _(layer: BatchNorm, *inputs: Shape) -> nn.Module:
    return nn.BatchNorm2d(_int(layer, "N", inputs[0].c))


#: activation kind → module class (costcalc's ACTIVATIONS)
ACTIVATION_MODULES: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hardswish": nn.Hardswish,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "hardsigmoid": nn.Hardsigmoid,
}


@_leaf.register
def _(layer: Activation, *inputs: Shape) -> nn.Module:
    try:
        return ACTIVATION_MODULES[layer.kind]()
    except KeyError:
        raise VerifyError(f"no PyTorch equivalent for activation {layer.kind!r}") from None


@_leaf.register
def _(layer: Softmax, *inputs: Shape) -> nn.Module:
    return nn.Softmax(dim=1)  # over the channels of (B, C, H, W): a vector is (B, N, 1, 1) here


@_leaf.register
def _(layer: Pool, *inputs: Shape) -> nn.Module:
    if layer.glob:
        return nn.AdaptiveMaxPool2d(1) if layer.mode == "max" else nn.AdaptiveAvgPool2d(1)
    k = _pair(layer, "K", layer.K)
    s = k if layer.S is None else _pair(layer, "S", layer.S)
    p = _pair(layer, "P", layer.P)
    if layer.mode == "max":
        return nn.MaxPool2d(k, s, p, ceil_mode=layer.ceil_mode)
    return nn.AvgPool2d(k, s, p, ceil_mode=layer.ceil_mode, count_include_pad=layer.count_include_pad)


@_leaf.register
def _(layer: AdaptivePool, *inputs: Shape) -> nn.Module:
    out = _pair(layer, "out", layer.out)
    return nn.AdaptiveMaxPool2d(out) if layer.mode == "max" else nn.AdaptiveAvgPool2d(out)


class MulModule(nn.Module):
    """Elementwise product (broadcasting a 1×1 gate over the map)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x * y


@_leaf.register
def _(layer: Mul, *inputs: Shape) -> nn.Module:
    return MulModule()


@_leaf.register
def _(layer: Add, *inputs: Shape) -> nn.Module:
    return AddModule()


@_leaf.register
def _(layer: Concat, *inputs: Shape) -> nn.Module:
    return ConcatModule()


@_leaf.register
def _(layer: ChannelShuffle, *inputs: Shape) -> nn.Module:
    return ChannelShuffleModule(_int(layer, "G", layer.G))


@_leaf.register
def _(layer: ChannelSplit, *inputs: Shape) -> nn.Module:
    return ChannelSplitModule(_int(layer, "M", layer._m(inputs[0])))


class PadShortcutModule(nn.Module):
    """ResNet option A: subsample by the stride, append zero channels (no parameters)."""

    def __init__(self, stride: int, extra: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return torch.nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra={self.extra}"


@_leaf.register
def _(layer: PadShortcut, *inputs: Shape) -> nn.Module:
    c = _int(layer, "N", inputs[0].c)
    m = c if layer.M is None else _int(layer, "M", layer.M)
    return PadShortcutModule(_int(layer, "S", layer.S), m - c)


# -- normalization, upsampling, tokens and attention ------------------------------------------
# A token sequence L × 1 × D is the NCHW tensor (1, D, L, 1); per-position modules (LayerNorm,
# Linear) run channels-last on it, exactly as ConvNeXt runs them on its maps.


class ChannelsLast(nn.Module):
    """Apply ``inner`` (``nn.Linear``, ``nn.LayerNorm``) over the channels of each position:
    NCHW → NHWC → inner → NCHW, as ConvNeXt's ``Permute`` and ``LayerNorm2d`` do."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@_leaf.register
def _(layer: LayerNorm, *inputs: Shape) -> nn.Module:
    return ChannelsLast(nn.LayerNorm(_int(layer, "N", inputs[0].c)))


@_leaf.register
def _(layer: GroupNorm, *inputs: Shape) -> nn.Module:
    return nn.GroupNorm(_int(layer, "G", layer.G), _int(layer, "N", inputs[0].c))


@_leaf.register
def _(layer: Linear, *inputs: Shape) -> nn.Module:
    x = inputs[0]
    return ChannelsLast(nn.Linear(_int(layer, "N", x.c), _int(layer, "M", layer._m(x)), bias=bool(layer.bias)))


@_leaf.register
def _(layer: ConvTranspose, *inputs: Shape) -> nn.Module:
    x = inputs[0]
    k, s, p, op, d, g = (_int(layer, f, getattr(layer, f)) for f in ("K", "S", "P", "output_padding", "D", "G"))
    return nn.ConvTranspose2d(_int(layer, "N", x.c), _int(layer, "M", layer._m(x)), k, stride=s, padding=p,
                              output_padding=op, groups=g, bias=bool(layer.bias), dilation=d)


@_leaf.register
def _(layer: Upsample, *inputs: Shape) -> nn.Module:
    align = bool(layer.align_corners) if layer.mode != "nearest" else None
    return nn.Upsample(scale_factor=_int(layer, "scale", layer.scale), mode=layer.mode, align_corners=align)


class ScaleModule(nn.Module):
    """A learnable per-channel scale (ConvNeXt's ``layer_scale``, a C × 1 × 1 parameter)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


@_leaf.register
def _(layer: LayerScale, *inputs: Shape) -> nn.Module:
    return ScaleModule(_int(layer, "N", inputs[0].c))


class MulModule(nn.Module):
    """A map times a gate broadcast over it (squeeze-and-excitation's channel multiply)."""

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return x * gate


@_leaf.register
def _(layer: ChannelGate, *inputs: Shape) -> nn.Module:
    return MulModule()


def _as_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, C, H·W, 1): the H·W positions as tokens, in row-major order (ViT's)."""
    return x.flatten(2).unsqueeze(-1)


class TokensModule(nn.Module):
    """Flatten the positions into tokens: (B, C, H, W) → (B, C, H·W, 1), a view."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _as_tokens(x)


@_leaf.register
def _(layer: Tokens, *inputs: Shape) -> nn.Module:
    return TokensModule()


class ClassTokenModule(nn.Module):
    """Prepend a learnable class token (ViT's ``class_token``) to the tokens."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, width, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _as_tokens(x)
        return torch.cat([self.class_token.expand(x.shape[0], -1, -1, -1), x], dim=2)


@_leaf.register
def _(layer: ClassToken, *inputs: Shape) -> nn.Module:
    return ClassTokenModule(_int(layer, "N", inputs[0].c))


class PosEmbedModule(nn.Module):
    """Add a learnable position embedding (ViT's ``pos_embedding``), one vector per position."""

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.zeros(1, int(shape.c), int(shape.h), int(shape.w)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos_embedding


@_leaf.register
def _(layer: PosEmbed, *inputs: Shape) -> nn.Module:
    x = inputs[0]
    return PosEmbedModule(Shape(*(_int(layer, a, v) for a, v in zip("HWN", x))))


class SelectTokenModule(nn.Module):
    """Keep the first token (torchvision's ``x[:, 0]``): (B, C, L, 1) → (B, C, 1, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _as_tokens(x)[:, :, :1]


@_leaf.register
def _(layer: SelectToken, *inputs: Shape) -> nn.Module:
    return SelectTokenModule()


def _heads_split(t: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, D) → (B, h, L, D/h)."""
    b, n, d = t.shape
    return t.reshape(b, n, heads, d // heads).transpose(1, 2)


def _qkv_tokens(qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The packed projections (B, 3D, H, W) as Q, K, V of shape (B, L, D) each, in
    ``nn.MultiheadAttention``'s order of its ``in_proj_weight``."""
    return qkv.flatten(2).transpose(1, 2).chunk(3, dim=-1)


class AttentionScoresModule(nn.Module):
    """Q·Kᵀ / √(D/h) per head: (B, 3D, H, W) → (B, h, L, L). The matmul is a ``bmm`` for
    ``FlopCounterMode`` (2·L²·D flops)."""

    def __init__(self, heads: int) -> None:
        super().__init__()
        self.heads = heads

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        q, k, _ = _qkv_tokens(qkv)
        q, k = _heads_split(q, self.heads), _heads_split(k, self.heads)
        return torch.matmul(q, k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)

    def extra_repr(self) -> str:
        return f"heads={self.heads}"


class SoftmaxModule(nn.Module):
    """Softmax over the keys (the last axis) of (B, h, L, L) scores."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)


class AttentionContextModule(nn.Module):
    """softmax(Q·Kᵀ)·V per head, heads concatenated: ((B, h, L, L), (B, 3D, H, W)) → (B, D, H, W).
    The matmul is a ``bmm`` for ``FlopCounterMode`` (2·L²·D flops)."""

    def forward(self, weights: torch.Tensor, qkv: torch.Tensor) -> torch.Tensor:
        _, _, v = _qkv_tokens(qkv)
        b, n, d = v.shape
        y = torch.matmul(weights, _heads_split(v, weights.shape[1]))  # (B, h, L, D/h)
        return y.transpose(1, 2).reshape(b, n, d).transpose(1, 2).reshape(b, d, qkv.shape[2], qkv.shape[3])


@_leaf.register
def _(layer: AttentionScores, *inputs: Shape) -> nn.Module:
    return AttentionScoresModule(_int(layer, "heads", layer.heads))


@_leaf.register
def _(layer: AttentionSoftmax, *inputs: Shape) -> nn.Module:
    return SoftmaxModule()


@_leaf.register
def _(layer: AttentionContext, *inputs: Shape) -> nn.Module:
    return AttentionContextModule()


# -- windowed attention (Swin, MaxViT) -----------------------------------------------------------
# The scores of a w × w window attention are (B, nW·h, n, n): per window and head, its n = w²
# queries against its n keys (costcalc's n × n × nW·h shape; PyTorch's (B·nW, h, n, n) as a view).


def _windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, C, Hp, Wp) → (B·nW, w², C): the tokens of each w × w window (torchvision's partition)."""
    b, c, hp, wp = x.shape
    x = x.permute(0, 2, 3, 1).reshape(b, hp // w, w, wp // w, w, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def _unwindows(y: torch.Tensor, b: int, hp: int, wp: int, w: int) -> torch.Tensor:
    """(B·nW, w², C) → (B, C, Hp, Wp): the windows put back."""
    c = y.shape[-1]
    y = y.reshape(b, hp // w, wp // w, w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
    return y.permute(0, 3, 1, 2)


def _scores_layout(s: torch.Tensor, b: int) -> torch.Tensor:
    """(B·nW, h, n, n) → (B, nW·h, n, n): costcalc's n × n × nW·h shape (a view)."""
    bw, h, n, _ = s.shape
    return s.reshape(b, (bw // b) * h, n, n)


class WindowPadModule(nn.Module):
    """Zero-pad the bottom and right to multiples of the window (torchvision's ``F.pad``)."""

    def __init__(self, window: int) -> None:
        super().__init__()
        self.window = window

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.window
        return nn.functional.pad(x, (0, (-x.shape[3]) % w, 0, (-x.shape[2]) % w))


class WindowCropModule(nn.Module):
    """Crop back to OH × OW (``x[..., :H, :W].contiguous()``)."""

    def __init__(self, oh: int, ow: int) -> None:
        super().__init__()
        self.oh, self.ow = oh, ow

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :self.oh, :self.ow].contiguous()


class WindowScoresModule(nn.Module):
    """Q·Kᵀ per window and head: (B, 3C, Hp, Wp) → (B, h, L, n); V1 scales Q by (C/h)^−½, V2
    (``cosine``) normalises Q and K and multiplies by its clamped, exponentiated logit scale."""

    def __init__(self, heads: int, window: int, cosine: bool) -> None:
        super().__init__()
        self.heads, self.window, self.cosine = heads, window, cosine
        if cosine:
            self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))))

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        t = _windows(qkv, self.window)
        bw, n, c3 = t.shape
        c = c3 // 3
        t = t.reshape(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k = t[0], t[1]
        if self.cosine:
            s = nn.functional.normalize(q, dim=-1) @ nn.functional.normalize(k, dim=-1).transpose(-2, -1)
            s = s * torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
        else:
            s = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
        return _scores_layout(s, qkv.shape[0])


class PositionBiasModule(nn.Module):
    """The relative position bias added to (B, h, L, n) scores: a table gathered per (query, key)
    offset, or V2's MLP over the relative coordinates (16·sigmoid); ``masked``: a mask added too
    (zeros here: its values do not change a count)."""

    def __init__(self, heads: int, window: int, cpb: int, masked: bool) -> None:
        super().__init__()
        self.heads, self.window, side = heads, window, 2 * window - 1
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("index", (rel[:, :, 0] * side + rel[:, :, 1]).flatten())
        if cpb:
            table = torch.stack(torch.meshgrid(torch.arange(side, dtype=torch.float32),
                                               torch.arange(side, dtype=torch.float32), indexing="ij"))
            self.register_buffer("coords", table.permute(1, 2, 0).reshape(1, side, side, 2))
            self.cpb_mlp = nn.Sequential(nn.Linear(2, cpb), nn.ReLU(inplace=True), nn.Linear(cpb, heads, bias=False))
        else:
            self.table = nn.Parameter(torch.zeros(side * side, heads))
        self.masked = masked

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        n = self.window * self.window
        table = self.cpb_mlp(self.coords).view(-1, self.heads) if hasattr(self, "cpb_mlp") else self.table
        bias = table[self.index].view(n, n, -1).permute(2, 0, 1)
        if hasattr(self, "cpb_mlp"):
            bias = 16 * torch.sigmoid(bias)
        b, wh, _, _ = s.shape
        y = s.reshape(b, wh // self.heads, self.heads, n, n) + bias
        if self.masked:
            y = y + torch.zeros(wh // self.heads, 1, n, n, device=s.device)
        return y.reshape(b, wh, n, n)


class WindowContextModule(nn.Module):
    """softmax(Q·Kᵀ)·V per window and head: ((B, nW·h, n, n), (B, 3C, Hp, Wp)) → (B, C, Hp, Wp)."""

    def __init__(self, window: int) -> None:
        super().__init__()
        self.window = window

    def forward(self, a: torch.Tensor, qkv: torch.Tensor) -> torch.Tensor:
        b, n = a.shape[0], a.shape[-1]
        t = _windows(qkv, self.window)
        bw, _, c3 = t.shape
        c = c3 // 3
        h = a.shape[1] * b // bw
        v = t.reshape(bw, n, 3, h, c // h).permute(2, 0, 3, 1, 4)[2]
        a = a.reshape(bw, h, n, n)
        y = (a @ v).transpose(1, 2).reshape(bw, n, c)
        return _unwindows(y, b, qkv.shape[2], qkv.shape[3], self.window)


class PatchConcatModule(nn.Module):
    """Swin's 2 × 2 gather: (B, C, H, W) → (B, 4C, ⌈H/2⌉, ⌈W/2⌉) (``_patch_merging_pad``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (0, x.shape[3] % 2, 0, x.shape[2] % 2))
        return torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], 1)


@_leaf.register
def _(layer: WindowPad, *inputs: Shape) -> nn.Module:
    return WindowPadModule(_int(layer, "window", layer.window))


@_leaf.register
def _(layer: WindowCrop, *inputs: Shape) -> nn.Module:
    return WindowCropModule(_int(layer, "OH", layer.OH), _int(layer, "OW", layer.OW))


@_leaf.register
def _(layer: WindowScores, *inputs: Shape) -> nn.Module:
    return WindowScoresModule(_int(layer, "heads", layer.heads), _int(layer, "window", layer.window),
                              bool(layer.cosine))


@_leaf.register
def _(layer: PositionBias, *inputs: Shape) -> nn.Module:
    return PositionBiasModule(_int(layer, "heads", layer.heads), _int(layer, "window", layer.window),
                              _int(layer, "cpb", layer.cpb), bool(layer.masked))


@_leaf.register
def _(layer: WindowContext, *inputs: Shape) -> nn.Module:
    n = _int(layer, "n", inputs[0].w)
    return WindowContextModule(math.isqrt(n))


@_leaf.register
def _(layer: PatchConcat, *inputs: Shape) -> nn.Module:
    return PatchConcatModule()


# ----------------------------------------------------------------------------------------------
# Blocks: trace the block's own build into a dataflow graph, then replay it.


class TracedShape(Shape):
    """A :class:`Shape` that remembers which node produced it (``-1``: the block's input).
    Equal to and hashed as the plain tuple, so the block's rules see no difference."""

    node: int


def _traced(shape: Shape, node: int) -> TracedShape:
    t = TracedShape(*shape)
    t.node = node
    return t


class TracingBuilder(Builder):
    """A :class:`Builder` that also records the dataflow: for each child, the indices of the
    nodes whose outputs it consumes (by identity of the returned shapes)."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[tuple[int, ...]] = []

    def __call__(self, name: str, layer: Layer, *inputs: Shape) -> Shape:
        src = []
        for i, s in enumerate(inputs):
            node = getattr(s, "node", None)
            if not isinstance(s, TracedShape) or node is None:
                raise VerifyError(f"{name}: input {i} is a shape the block built itself, not the output "
                                  "of an earlier child; the PyTorch builder cannot tell where it comes from")
            src.append(node)
        out = super().__call__(name, layer, *inputs)
        self.sources.append(tuple(src))
        return _traced(out, len(self.nodes) - 1)


def trace(block: Block, x: Shape) -> tuple[tuple[Node, ...], tuple[tuple[int, ...], ...]]:
    """The block's children and, for each, the indices of the children whose outputs it consumes
    (``-1``: the block's input)."""
    b = TracingBuilder()
    block.build(b, _traced(x, -1))
    return tuple(b.nodes), tuple(b.sources)


def module_name(name: str) -> str:
    """A costcalc name as a torch submodule name ('.' is not allowed there)."""
    return name.replace(".", "__") or "_"


class BlockModule(nn.Module):
    """Replays a traced block: ``nodes`` holds one module per child, ``sources`` which earlier
    outputs (-1: the input) each child takes. The output is the last child's."""

    def __init__(self, names: Sequence[str], modules: Sequence[nn.Module], sources: Sequence[tuple[int, ...]]):
        super().__init__()
        self.nodes = nn.ModuleDict({module_name(n): m for n, m in zip(names, modules)})
        self.order = [module_name(n) for n in names]
        self.sources = [tuple(s) for s in sources]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for key, src in zip(self.order, self.sources):
            args = [x if i < 0 else outs[i] for i in src]
            outs.append(self.nodes[key](*args))
        return outs[-1]

    def extra_repr(self) -> str:
        # the dataflow, where it is not a plain chain: "add ← bn3, input"
        lines = []
        for i, (key, src) in enumerate(zip(self.order, self.sources)):
            if src != (i - 1,):
                lines.append(f"{key} ← {', '.join('input' if j < 0 else self.order[j] for j in src)}")
        return "\n".join(lines)


def _layer_module(layer: Layer, inputs: Sequence[Shape], path: str) -> nn.Module:
    if isinstance(layer, Block):
        nodes, sources = trace(layer, inputs[0])
        mods = [_layer_module(n.layer, n.inputs, f"{path}.{n.name}") for n in nodes]
        mod: nn.Module = BlockModule([n.name for n in nodes], mods, sources)
    else:
        mod = _leaf(layer, *inputs)
    mod.costcalc_path = path  # type: ignore[assignment]
    return mod


# ----------------------------------------------------------------------------------------------
# Networks


class NetworkModule(nn.Module):
    """A network spec's layers in order. ``sources[i]`` lists, for layer i, the earlier layers
    (-1: the network input) whose outputs it takes; ``output`` is the index of the layer whose
    output the network returns."""

    def __init__(self, names: Sequence[str], modules: Sequence[nn.Module],
                 sources: Sequence[tuple[int, ...]], name: str = "network", output: int = -2,
                 flatten: bool = False):
        super().__init__()
        self.layers = nn.ModuleDict({module_name(n): m for n, m in zip(names, modules)})
        self.order = [module_name(n) for n in names]
        self.sources = [tuple(s) for s in sources]
        self.spec_name = name
        self.output = len(names) - 1 if output == -2 else output
        #: a classifier (a 1×1×M output) returns (N, M) logits, as torchvision's models do
        self.flatten = flatten

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for key, src in zip(self.order, self.sources):
            outs.append(self.layers[key](*(x if i < 0 else outs[i] for i in src)))
        y = x if self.output < 0 else outs[self.output]
        return y.flatten(1) if self.flatten else y


def _network_inputs(spec: Any) -> list[tuple[tuple[Shape, ...], tuple[int, ...]]]:
    """For each layer of ``spec``: its input shapes and the indices of the layers it takes them from."""
    index: dict[str, int] = {"input": -1}
    shapes: dict[int, Shape] = {-1: spec.input}
    result = []
    for i, nl in enumerate(spec.layers):
        try:
            src = tuple(index[s] for s in nl.inputs)
        except KeyError as e:
            raise VerifyError(f"{nl.path}: unknown source {e.args[0]!r}") from None
        inputs = tuple(shapes[j] for j in src)
        shapes[i] = nl.layer.out_shape(*inputs)
        index[nl.path] = i
        result.append((inputs, src))
    return result


def to_torch(obj: Any, *inputs: Shape, path: str | None = None) -> nn.Module:
    """The PyTorch module equivalent to a layer, block or network spec.

    ``to_torch(Conv(M=64), Shape(56, 56, 32))`` — a layer needs its input shape(s) (a conv needs
    its input channels, an ``fc`` its input features); ``to_torch(spec)`` takes the network's input
    shape from the spec. Every module that matches a costcalc row carries the row's path in
    ``costcalc_path``.
    """
    if isinstance(obj, Layer):
        if not inputs:
            raise TypeError("to_torch(layer, *input_shapes): a layer needs its input shape(s)")
        _check_numeric(inputs)
        if len(inputs) < obj.arity:
            raise TypeError(f"{obj.type_name} takes {obj.arity} inputs, got {len(inputs)}")
        return _layer_module(obj, inputs, path or obj.type_name)
    if hasattr(obj, "layers") and hasattr(obj, "input"):
        _check_numeric([obj.input])
        plan = _network_inputs(obj)
        mods = [_layer_module(nl.layer, ins, nl.path) for nl, (ins, _) in zip(obj.layers, plan)]
        index = {nl.path: i for i, nl in enumerate(obj.layers)}
        output = index.get(getattr(obj, "output", "") or obj.layers[-1].path, -1)
        out = obj.layers[output].layer.out_shape(*plan[output][0]) if output >= 0 else obj.input
        return NetworkModule([nl.path for nl in obj.layers], mods, [s for _, s in plan],
                             getattr(obj, "name", "network"), output, flatten=(out[0], out[1]) == (1, 1))
    raise TypeError(f"to_torch() takes a costcalc Layer or NetworkSpec, not {type(obj).__name__}")


def _check_numeric(shapes: Iterable[Shape]) -> None:
    for s in shapes:
        for axis, v in zip("HWN", s):
            if not is_int(v):
                raise VerifyError(f"input {axis}={v} is not a number; verify needs numbers "
                                  "(use --set / -H -N to give them)")


# ----------------------------------------------------------------------------------------------
# PyTorch's counts and the comparison


@dataclass(frozen=True)
class TorchCount:
    """What PyTorch says about one module."""

    flops: int
    params: int
    out_shape: Shape | None  # None: the module did not run


@dataclass(frozen=True)
class TorchRun:
    """PyTorch's counts of one forward pass: per row (keyed by ``costcalc_path``) and in total."""

    counts: dict[str, TorchCount]
    flops: int
    params: int
    out_shape: Shape


def torch_counts(model: nn.Module, *inputs: Shape, device: str | None = None) -> TorchRun:
    """Run ``model`` once on zero tensors of the given shapes (batch 1) under ``FlopCounterMode``:
    total and per-module flops, ``sum(p.numel())``, and every tagged module's output shape.

    ``device`` defaults to the model's (its first parameter's, else CPU). On the ``meta`` device
    PyTorch propagates shapes through the very same operators without computing values, so the
    counts are the same and a ResNet-152 takes a fraction of a second instead of a real pass."""
    from torch.utils.flop_counter import FlopCounterMode

    out_shapes: dict[str, Shape] = {}
    hooks = []
    tagged: dict[str, tuple[str, nn.Module]] = {}
    root = type(model).__name__
    for fqn, mod in model.named_modules():
        path = getattr(mod, "costcalc_path", None)
        if path is None:
            continue
        tagged[path] = (f"{root}.{fqn}" if fqn else root, mod)

        def hook(m: nn.Module, args: Any, out: torch.Tensor, path: str = path) -> None:
            out_shapes[path] = _shape_of(out)

        hooks.append(mod.register_forward_hook(hook))
    if device is None:
        first = next(model.parameters(), None)
        device = str(first.device) if first is not None else "cpu"
    xs = [torch.zeros(1, int(s.c), int(s.h), int(s.w), device=device) for s in inputs]
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            y = model.eval()(*xs)
    finally:
        for h in hooks:
            h.remove()
    per_module = {k: int(sum(v.values())) for k, v in counter.get_flop_counts().items()}
    counts = {
        path: TorchCount(per_module.get(key, 0), sum(p.numel() for p in mod.parameters()), out_shapes.get(path))
        for path, (key, mod) in tagged.items()
    }
    return TorchRun(counts, int(counter.get_total_flops()), sum(p.numel() for p in model.parameters()),
                    _shape_of(y))


def _shape_of(t: torch.Tensor) -> Shape:
    if t.dim() == 4:
        return Shape(int(t.shape[2]), int(t.shape[3]), int(t.shape[1]))
    if t.dim() == 2:
        return Shape(1, 1, int(t.shape[1]))
    raise VerifyError(f"unexpected output of rank {t.dim()}: {tuple(t.shape)}")


@dataclass(frozen=True)
class Check:
    """One row compared: costcalc's numbers beside PyTorch's."""

    path: str
    type: str
    depth: int
    leaf: bool
    macs: int
    torch_macs: Any  # int, or a Fraction-like text when flops are odd (never expected)
    params: int
    torch_params: int
    weights: int
    out_shape: Shape
    torch_out_shape: Shape | None

    @property
    def problems(self) -> list[str]:
        p = []
        if self.macs != self.torch_macs:
            p.append(f"MACs {self.macs:,} ≠ PyTorch {_fmt(self.torch_macs)}")
        if self.params != self.torch_params:
            p.append(f"params {self.params:,} ≠ PyTorch {self.torch_params:,}")
        if self.torch_out_shape is None:
            p.append("PyTorch module never ran")
        elif tuple(self.out_shape) != tuple(self.torch_out_shape):
            p.append(f"output {_fmt_shape(self.out_shape)} ≠ PyTorch {_fmt_shape(self.torch_out_shape)}")
        return p

    @property
    def ok(self) -> bool:
        return not self.problems


def _fmt(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def _fmt_shape(s: Shape) -> str:
    return "×".join(str(v) for v in s)


@dataclass
class Verification:
    """costcalc against PyTorch for one layer or network: per-row checks and totals."""

    name: str
    checks: list[Check]
    total: Cost
    torch_flops: int
    torch_params: int
    out_shape: Shape
    torch_out_shape: Shape | None
    notes: list[str] = field(default_factory=list)
    device: str = DEFAULT_DEVICE

    @property
    def torch_macs(self) -> Any:
        return _half(self.torch_flops)

    @property
    def total_problems(self) -> list[str]:
        p = []
        if self.total.macs != self.torch_macs:
            p.append(f"total MACs {self.total.macs:,} ≠ PyTorch {_fmt(self.torch_macs)} (FlopCounterMode "
                     f"{self.torch_flops:,} / 2)")
        if self.total.params != self.torch_params:
            p.append(f"total params {self.total.params:,} ≠ PyTorch {self.torch_params:,}")
        if self.torch_out_shape is None or tuple(self.out_shape) != tuple(self.torch_out_shape):
            p.append(f"output {_fmt_shape(self.out_shape)} ≠ PyTorch "
                     f"{_fmt_shape(self.torch_out_shape) if self.torch_out_shape else 'nothing'}")
        return p

    @property
    def mismatches(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.total_problems


def _half(flops: int) -> Any:
    return flops // 2 if flops % 2 == 0 else f"{flops}/2"


def _compare(name: str, rows: Sequence[Any], total: Cost, out: Shape, model: nn.Module,
             inputs: Sequence[Shape], groups: Sequence[tuple[str, Sequence[str]]] = (),
             device: str = "meta") -> Verification:
    run = torch_counts(model, *inputs, device=device)
    counts = dict(run.counts)
    for gpath, members in groups:  # a group (stage) of a network: the sum of its layers' modules
        parts = [counts[m] for m in members]
        counts[gpath] = TorchCount(sum(c.flops for c in parts), sum(c.params for c in parts),
                                   parts[-1].out_shape if parts else None)
    checks = []
    for r in rows:
        tc = counts.get(r.path)
        if tc is None:
            raise VerifyError(f"{r.path}: no PyTorch module was built for this row")
        for f in ("macs", "params"):
            if not is_int(getattr(r.cost, f)):
                raise VerifyError(f"{r.path}: {f} = {getattr(r.cost, f)} is not a number; verify needs numbers")
        checks.append(Check(r.path, r.type, r.depth, r.leaf, r.cost.macs, _half(tc.flops), r.cost.params,
                            tc.params, r.cost.weights, r.out_shape, tc.out_shape))
    return Verification(name, checks, total, run.flops, run.params, out, run.out_shape, notes(), device)


def notes() -> list[str]:
    """Where conventions differ, said once."""
    return [
        "MACs = FlopCounterMode total / 2 (convolutions and linear layers; bias adds, BatchNorm, "
        "activations, pooling, adds are not MACs in either tool).",
        "params = sum(p.numel()) including biases and BatchNorm γ, β (running statistics are buffers). "
        "The papers count weights only: costcalc's 'weights' column.",
    ]


def verify_layer(layer: Layer, *inputs: Shape, path: str | None = None,
                 device: str = DEFAULT_DEVICE) -> Verification:
    """costcalc's rows for ``layer`` on ``inputs`` against PyTorch's counts of :func:`to_torch`,
    built and run on ``device``."""
    from costcalc.engine import evaluate

    _check_numeric(inputs)
    try:
        out, cost, rows = evaluate(layer, tuple(inputs), path or layer.type_name)
    except DimError as e:
        raise VerifyError(f"{layer.type_name}: {e}") from None
    with torch.device(device):
        model = to_torch(layer, *inputs, path=path or layer.type_name)
    return _compare(path or layer.type_name, rows, cost, out, model, inputs, device=device)


def verify_network(spec: Any, device: str = DEFAULT_DEVICE) -> Verification:
    """costcalc's rows for a network spec against PyTorch's counts of :func:`to_torch`, built and
    run on ``device``."""
    from costcalc.network import evaluate_network

    _check_numeric([spec.input])
    result = evaluate_network(spec)
    with torch.device(device):
        model = to_torch(spec)
    groups = [(g.path, [nl.path for nl in spec.layers[g.start:g.end]]) for g in getattr(spec, "groups", ())]
    return _compare(getattr(spec, "name", "network"), result.rows, result.totals, result.out_shape,
                    model, [spec.input], groups, device=device)


# ----------------------------------------------------------------------------------------------
# Training: one forward and backward pass, its multiply-adds, the tensors autograd saves, and the
# optimizer's state (costcalc/training.py states the rules; this measures them)


def conv_backward_flop_grouped(grad_out_shape: Any, x_shape: Any, w_shape: Any, bias: Any, stride: Any,
                               padding: Any, dilation: Any, transposed: Any, output_padding: Any, groups: int,
                               output_mask: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """FlopCounterMode's ``convolution_backward`` formula with the weight gradient divided by the
    groups. PyTorch's own formula counts the weight gradient as a convolution over all N input
    channels (``conv_flop_count(t(x), t(grad_out), ...)``), G times the work a grouped weight
    gradient does (each weight sees its group's N/G channels): docs/papers.md has the reproducer."""
    args = (grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed, output_padding, groups)
    flops = _torch_conv_backward_flop(*args, output_mask, out_shape)
    if output_mask[1] and groups != 1:
        weight = _torch_conv_backward_flop(*args, [False, True, False], out_shape)
        flops -= weight - weight // groups
    return flops


def _torch_conv_backward_flop(*args: Any) -> int:
    """PyTorch's own formula on shapes (registered formulas are wrapped to take tensors)."""
    from torch.utils.flop_counter import conv_backward_flop

    raw = getattr(conv_backward_flop, "__wrapped__", conv_backward_flop)
    return int(raw(*args[:-1], out_shape=args[-1]))


@dataclass(frozen=True)
class TrainRun:
    """PyTorch's counts of one training step (forward, ``sum()`` of the output, backward, optimizer
    step): flops per tagged row (grouped weight gradients corrected) and in total, FlopCounterMode's
    uncorrected total, bytes saved for backward per row (unique storages, at the first module
    that saves each; parameters and buffers excluded) and in total, and the bytes of parameters,
    gradients and optimizer state."""

    flops: dict[str, int]
    saved: dict[str, int]
    total_flops: int
    raw_flops: int
    saved_bytes: int
    params_bytes: int
    grads_bytes: int
    optimizer_bytes: int | None


#: costcalc's optimizer names → torch.optim constructors
def _optimizer(name: str, params: Any) -> Any:
    makers: dict[str, Callable[[Any], Any]] = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
        "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        "adam": lambda p: torch.optim.Adam(p),
        "adamw": lambda p: torch.optim.AdamW(p),
    }
    if name not in makers:
        raise VerifyError(f"unknown optimizer {name!r}; known: {', '.join(makers)}")
    return makers[name](params)


def _storage_key(t: torch.Tensor) -> int:
    # one key per storage (views share it); on the meta device data pointers are all 0, so the
    # storage object's own address is the key (storages are kept alive while they are compared)
    return int(t.untyped_storage()._cdata)


def torch_train_counts(model: nn.Module, *inputs: Shape, batch: int = 1, device: str | None = None,
                       optimizer: str | None = None, dtype: Any = None, input_grad: bool = False) -> TrainRun:
    """Run one training step of ``model`` in training mode on zero tensors of the given shapes at
    ``batch`` (needing gradients if ``input_grad``, as inside a network): forward under
    ``saved_tensors_hooks``, ``sum()`` of the output, backward, all under ``FlopCounterMode`` (with
    :func:`conv_backward_flop_grouped`); then ``optimizer`` (a name of
    :data:`costcalc.training.OPTIMIZERS`) takes one step and its state is measured.

    Per row, forward ops count for the tagged module running them; backward ops for the module
    whose forward created the autograd node running them (FlopCounterMode's own attribution of
    backward ops to modules follows hooks that blur across parallel branches)."""
    from torch.autograd.graph import saved_tensors_hooks
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    aten = torch.ops.aten
    excess: list[int] = []

    def corrected(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        fixed = conv_backward_flop_grouped(*args, out_shape=out_shape)
        excess.append(_torch_conv_backward_flop(*args, out_shape) - fixed)
        return fixed

    if device is None:
        first = next(model.parameters(), None)
        device = str(first.device) if first is not None else "cpu"
    dtype = dtype or torch.float32
    model = model.to(dtype).train()
    tagged: list[str] = []
    stack: list[str] = []
    owner: dict[Any, str] = {}  # autograd node → the row whose forward created it
    node_hooks: list[Any] = []
    now: list[str] = [""]  # the row running in backward

    def claim(out: Any, path: str) -> None:
        """Mark the autograd nodes behind ``out`` not claimed yet (by earlier modules) as ``path``'s."""
        todo = [out.grad_fn] if isinstance(out, torch.Tensor) and out.grad_fn is not None else []
        while todo:
            node = todo.pop()
            if node is None or node in owner or type(node).__name__ == "AccumulateGrad":
                continue
            owner[node] = path
            node_hooks.append(node.register_prehook(lambda g, path=path: now.__setitem__(0, path)))
            todo.extend(n for n, _ in node.next_functions)

    hooks = []
    for mod in model.modules():
        path = getattr(mod, "costcalc_path", None)
        if path is None:
            continue
        tagged.append(path)

        def enter(m: nn.Module, args: Any, path: str = path) -> None:
            stack.append(path)

        def leave(m: nn.Module, args: Any, out: Any, path: str = path) -> None:
            stack.pop()
            claim(out, path)

        hooks += [mod.register_forward_pre_hook(enter), mod.register_forward_hook(leave)]
    state = {_storage_key(t) for t in (*model.parameters(), *model.buffers())}
    saved: dict[int, tuple[str, int]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        if key not in state and key not in saved:
            saved[key] = (stack[-1] if stack else "", t.untyped_storage().nbytes())
        return t

    formulas = {**flop_registry, aten.convolution_backward: shape_flops(corrected)}
    per_row: dict[str, int] = {}

    class RowFlops(TorchDispatchMode):
        """PyTorch's flop formulas, summed per row."""

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            f = formulas.get(func._overloadpacket)
            if f is not None:
                row = stack[-1] if stack else now[0]
                per_row[row] = per_row.get(row, 0) + int(f(*args, **(kwargs or {}), out_val=out))
            return out

    xs = [torch.zeros(batch, int(s.c), int(s.h), int(s.w), device=device, dtype=dtype, requires_grad=input_grad)
          for s in inputs]
    counter = FlopCounterMode(display=False, custom_mapping={aten.convolution_backward: corrected})
    try:
        with counter:
            with saved_tensors_hooks(pack, lambda t: t):
                y = model(*xs)
            y.sum().backward()
        excess.clear()  # the row counter below calls the same formula again
        with RowFlops():
            with saved_tensors_hooks(lambda t: t, lambda t: t):
                y = model(*xs)
            model.zero_grad(set_to_none=False)
            y.sum().backward()
    finally:
        for h in hooks + node_hooks:
            h.remove()
    per_saved: dict[str, int] = {}
    for path, nbytes in saved.values():
        per_saved[path] = per_saved.get(path, 0) + nbytes
    params = list(model.parameters())
    opt_bytes = None
    if optimizer is not None and not params:
        opt_bytes = 0  # nothing to optimise (torch.optim refuses an empty parameter list)
    elif optimizer is not None:
        opt = _optimizer(optimizer, params)
        opt.step()
        keys: dict[int, int] = {}
        for st in opt.state.values():
            for v in st.values():
                if torch.is_tensor(v):
                    keys[_storage_key(v)] = v.untyped_storage().nbytes()
        opt_bytes = sum(keys.values())
    total = int(counter.get_total_flops())
    return TrainRun({p: per_row.get(p, 0) for p in tagged}, per_saved, total, total + sum(excess),
                    sum(b for _, b in saved.values()), sum(p.untyped_storage().nbytes() for p in params),
                    sum(p.grad.untyped_storage().nbytes() for p in params if p.grad is not None), opt_bytes)


def shape_flops(f: Callable[..., int]) -> Callable[..., int]:
    """A flop formula on shapes as FlopCounterMode calls it (on tensors, with ``out_val``)."""
    from torch.utils.flop_counter import shape_wrapper

    return shape_wrapper(f)


@dataclass(frozen=True)
class TrainCheck:
    """One leaf row of a training step: costcalc's multiply-adds (forward + input gradient + weight
    gradient) and saved bytes beside PyTorch's."""

    path: str
    type: str
    depth: int
    macs: int
    torch_macs: Any
    saved: int
    torch_saved: int

    @property
    def problems(self) -> list[str]:
        p = []
        if self.macs != self.torch_macs:
            p.append(f"training MACs {self.macs:,} ≠ PyTorch {_fmt(self.torch_macs)}")
        if self.saved != self.torch_saved:
            p.append(f"saved bytes {self.saved:,} ≠ PyTorch {self.torch_saved:,}")
        return p

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class TrainVerification:
    """costcalc's training step against PyTorch's, per leaf and in total."""

    name: str
    batch: int
    optimizer: str
    checks: list[TrainCheck]
    result: Any  # costcalc.training.TrainResult
    run: TrainRun
    device: str = DEFAULT_DEVICE
    notes: list[str] = field(default_factory=list)

    @property
    def torch_macs(self) -> Any:
        return _half(self.run.total_flops)

    @property
    def total_problems(self) -> list[str]:
        t, m, run = self.result.totals, self.result.memory, self.run
        p = []
        if t.train_macs != self.torch_macs:
            p.append(f"total training MACs {t.train_macs:,} ≠ PyTorch {_fmt(self.torch_macs)}")
        outside = run.total_flops - sum(run.flops.values())
        if outside:
            p.append(f"PyTorch ran {outside:,} flops outside every row")
        for what, ours, theirs in (("saved bytes", m.activations, run.saved_bytes),
                                   ("parameter bytes", m.params, run.params_bytes),
                                   ("gradient bytes", m.gradients, run.grads_bytes),
                                   ("optimizer state bytes", m.optimizer, run.optimizer_bytes)):
            if theirs is not None and ours != theirs:
                p.append(f"{what} {ours:,} ≠ PyTorch {theirs:,}")
        return p

    @property
    def mismatches(self) -> list[TrainCheck]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.total_problems


def verify_training(obj: Any, *inputs: Shape, batch: int = 1, optimizer: str = "sgd",
                    device: str = DEFAULT_DEVICE, path: str | None = None) -> TrainVerification:
    """costcalc's training step of a network spec (or of a layer on ``inputs``, which then need
    gradients, as inside a network) against PyTorch's: multiply-adds per leaf, bytes saved for
    backward per leaf, parameter, gradient and optimizer-state bytes. Float32 (4 bytes)."""
    from costcalc import training

    if isinstance(obj, Layer):
        _check_numeric(inputs)
        name = path or obj.type_name
        steps = training.layer_steps(obj, tuple(inputs), name)
        rows = training.train_steps(steps, batch, 4, {-1 - i: (s, True) for i, s in enumerate(inputs)})
        totals = training.sum_rows(rows, "total", "", 0, inputs[0], steps[-1].out_shape)
        result = training.TrainResult(name, batch, optimizer, 4, rows, totals,
                                      training.memory_of(totals, optimizer, 4), inputs[0], steps[-1].out_shape)
        with torch.device(device):
            model = to_torch(obj, *inputs, path=name)
        run = torch_train_counts(model, *inputs, batch=batch, device=device, optimizer=optimizer,
                                 input_grad=True)
    else:
        _check_numeric([obj.input])
        result = training.train_network(obj, batch, optimizer, 4)
        with torch.device(device):
            model = to_torch(obj)
        run = torch_train_counts(model, obj.input, batch=batch, device=device, optimizer=optimizer)
    checks = []
    for r in result.rows:
        if not r.leaf:
            continue
        for f in ("train_macs", "saved_bytes"):
            if not is_int(getattr(r, f)):
                raise VerifyError(f"{r.path}: {f} = {getattr(r, f)} is not a number; verify needs numbers")
        checks.append(TrainCheck(r.path, r.type, r.depth, r.train_macs, _half(run.flops.get(r.path, 0)),
                                 r.saved_bytes, run.saved.get(r.path, 0)))
    notes = []
    if run.raw_flops != run.total_flops:
        notes.append(f"FlopCounterMode's own count is {run.raw_flops:,} flops ({_half(run.raw_flops):,} MACs): its "
                     "convolution_backward formula ignores groups in the weight gradient; compared here with "
                     f"that term divided by the groups ({run.total_flops:,} flops).")
    return TrainVerification(result.name, batch, optimizer, checks, result, run, device, notes)

