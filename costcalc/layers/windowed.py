"""Windowed attention: Swin Transformer V1 and V2 (Liu et al. 2021, 2022) and MaxViT (Tu et al.
2022), as torchvision builds them.

**Windows.** The H × W map is cut into non-overlapping w × w windows (padded at the bottom and
right to Hp × Wp, multiples of w, when it does not divide: torchvision pads with zeros and crops
the result back), and each token attends only to the n = w² tokens of its own window. With
L = Hp·Wp tokens of width C, h heads:

- QKV projection C → 3C: 3·L·C² MACs, 3·C² + 3·C params (``bias``);
- scores Q·Kᵀ per window and head: L·n·C MACs (``matmul``: FlopCounterMode sees a ``bmm``), the
  scores an n × n × (nW·h) shape (query × key, per window and head: PyTorch's (B·nW, h, n, n)); V1 scales Q by 1/√(C/h) (L·C
  multiplies);
- relative position bias added to every score (h·L·n adds) from a table of (2w − 1)²·h learnable
  values (V1, MaxViT) or, V2, from an MLP 2 → ``cpb`` (bias) → ReLU → h (no bias) over the
  (2w − 1)² relative coordinates: (2w − 1)²·(2·cpb + cpb·h) MACs, 3·cpb + cpb·h params, then
  16·sigmoid of the n²·h gathered biases;
- shifted windows (``shift`` > 0, where the map is larger than one window): the map is rolled by
  the shift (a copy, no arithmetic) and a mask added to every score (h·L·n adds) so that tokens
  from different regions do not attend to each other;
- softmax over each query's n keys: 1 comparison and 4 ops per score;
- context softmax(·)·V: L·n·C MACs;
- output projection C → C: L·C² MACs, C² + C params.

MACs = 4·L·C² + 2·L·n·C (+ the V2 position-bias MLP); params = 4·C² + 4·C + (2w − 1)²·h (V1).
V2 (``v2``) uses cosine attention instead of the scaled dot product: Q and K normalised per head
vector, the cosine scores times a learnable per-head logit scale (h params, clamped at log 100 and
exponentiated). FlopCounterMode counts exactly the MACs above (the linears and matmuls); the rest
is elementwise and counted by the convention of ``attention``.

The position-bias MLP of V2 runs on a constant table, once per forward pass whatever the batch;
costcalc counts it with the layer (per image: exact at batch 1, as every import check is).

The closed form in a symbolic size assumes the window divides it (no padding): exact where H and
W are multiples of w, the condition costcalc states for the strides anyway.

MaxViT's ``partition_attention`` is a pre-norm transformer block whose attention is windowed
without a shift: its block ("window") partition attends inside w × w windows, its grid partition
to a w × w grid of tokens spread over the map, n = w² tokens either way, so the counts are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from costcalc.cost import Cost, Shape
from costcalc.layers.base import Block, Builder, DimError, Leaf, dim, opt, register
from costcalc.layers.norm import LayerNorm
from costcalc.layers.primitives import ACTIVATIONS, Add
from costcalc.layers.transformer import MLP, AttentionSoftmax, Linear, _check_heads
from costcalc.num import Num, div, is_int, note_rounding

#: Swin V2's multiplier of the sigmoid of its continuous position bias (``16 * sigmoid(bias)``)
CPB_SCALE = 16


def padded(size: Num, window: Num) -> Num:
    """``size`` rounded up to a multiple of ``window`` (torchvision pads the map so that the
    windows tile it). A symbolic size is taken to be a multiple already, and that is recorded as
    the condition where the closed form holds (``size/window`` an integer), in the exact form
    too: padding adds a copy and its crop only where it is needed, which a polynomial cannot say."""
    if is_int(size) and is_int(window):
        return -(-size // window) * window
    note_rounding(div(size, window))
    return size


def _window_tokens(window: Num) -> Num:
    return window * window


def _table(window: Num) -> Num:
    """Relative offsets between two tokens of a w × w window: (2w − 1)² (one bias per offset)."""
    return (2 * window - 1) * (2 * window - 1)


# ----------------------------------------------------------------------------------------------
# Leaves (internal: the children of window_attention and patch_merging)


@dataclass(frozen=True)
class WindowPad(Leaf):
    """Zero-pad the bottom and right of the map to multiples of the window (``F.pad``): a copy,
    no arithmetic."""

    window: Num = dim(7, "window size w")
    type_name = "window_pad"
    category = "window_pad"

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        return Shape(padded(x.h, self.window), padded(x.w, self.window), x.c)

    def cost(self, *inputs: Shape) -> Cost:
        out = self.out_shape(*inputs)
        return Cost(activations=out.elements, memory=inputs[0].elements + out.elements)


@dataclass(frozen=True)
class WindowCrop(Leaf):
    """Crop the padded map back to OH × OW (``x[:, :H, :W].contiguous()``): a copy."""

    OH: Num = dim(1, "output height")
    OW: Num = dim(1, "output width")
    type_name = "window_crop"
    category = "window_pad"

    def out_shape(self, *inputs: Shape) -> Shape:
        return Shape(self.OH, self.OW, inputs[0].c)

    def cost(self, *inputs: Shape) -> Cost:
        n = self.OH * self.OW * inputs[0].c
        return Cost(activations=n, memory=2 * n)


@dataclass(frozen=True)
class WindowScores(Leaf):
    """Q·Kᵀ within each w × w window, per head: input the packed Q, K, V (Hp × Wp × 3C), output
    the scores as an n × n × (nW·h) shape (query × key, per window and head: nW = L/n windows of
    n = w² tokens, L = Hp·Wp, h heads; PyTorch's (B·nW, h, n, n)). MACs L·n·C.

    V1 (and MaxViT) scale Q (or K) by 1/√(C/h): L·C multiplies. V2 (``cosine``): Q and K are
    normalised per head vector (per element a square, an add and a divide: 3·L·C each; per vector
    a square root and a clamp at ε: 2·h·L sqrt + 2·h·L comparisons), the logit scale is clamped
    and exponentiated (h comparisons, h ops) and multiplies every score (h·L·n); h params."""

    heads: Num = dim(None, "attention heads h")
    window: Num = dim(7, "window size w")
    cosine: bool = opt(False, "Swin V2's cosine attention with a learnable logit scale per head")
    type_name = "window_scores"
    category = "attention matmul"

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        n = _window_tokens(self.window)
        return Shape(n, n, div(x.h * x.w, n) * self.heads)

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        L, c, n = x.h * x.w, div(x.c, 3), _window_tokens(self.window)
        scores = L * n * self.heads
        if self.cosine:
            elementwise = 6 * L * c + 2 * self.heads * L + self.heads + scores
            return Cost(macs=L * n * c, params=self.heads, elementwise=elementwise,
                        comparisons=2 * self.heads * L + self.heads, activations=scores,
                        memory=2 * L * c + self.heads + scores)
        return Cost(macs=L * n * c, elementwise=L * c, activations=scores, memory=2 * L * c + scores)


@dataclass(frozen=True)
class PositionBias(Leaf):
    """The relative position bias added to the scores (n × n × nW·h, unchanged shape): one add per
    score, and with ``masked`` (shifted windows) one more for the mask.

    ``cpb`` = 0: a learnable table of (2w − 1)²·h biases, gathered per (query, key) pair (Swin V1,
    MaxViT). ``cpb`` > 0: Swin V2's continuous position bias, an MLP 2 → cpb (bias) → ReLU → h
    (no bias) over the T = (2w − 1)² relative coordinates: MACs T·cpb·(2 + h), params
    cpb·(3 + h), elementwise T·cpb bias adds, T·cpb ReLU comparisons, then 16·sigmoid of the
    n²·h gathered biases (3 + 1 ops each)."""

    heads: Num = dim(None, "attention heads h")
    window: Num = dim(7, "window size w")
    cpb: Num = dim(1, "hidden width of Swin V2's position-bias MLP (0: a table, V1)", minimum=0)
    masked: bool = opt(False, "add the shifted windows' mask too")
    type_name = "position_bias"
    category = "position_bias"

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        s = inputs[0].elements
        adds = 2 * s if self.masked else s
        t, n = _table(self.window), _window_tokens(self.window)
        if is_int(self.cpb) and self.cpb == 0:
            params = t * self.heads
            return Cost(params=params, elementwise=adds, activations=s, memory=2 * s + params)
        hidden, h = self.cpb, self.heads
        weights = hidden * (2 + h)
        params = weights + hidden
        gathered = n * n * h
        return Cost(macs=t * weights, params=params, weights=weights,
                    elementwise=adds + t * hidden + 4 * gathered, comparisons=t * hidden,
                    activations=s, memory=2 * s + params + 2 * t + t * hidden + t * h + gathered)


@dataclass(frozen=True)
class WindowContext(Leaf):
    """softmax(Q·Kᵀ)·V within each window: inputs the n × n × nW·h weights and the packed Q, K, V
    (Hp × Wp × 3C); output Hp × Wp × C (the heads concatenated, the windows put back). MACs
    L·n·C."""

    arity = 2
    type_name = "window_context"
    category = "attention matmul"

    def out_shape(self, *inputs: Shape) -> Shape:
        qkv = inputs[1]
        return Shape(qkv.h, qkv.w, div(qkv.c, 3))

    def cost(self, *inputs: Shape) -> Cost:
        weights, qkv = inputs[0], inputs[1]
        L, c = qkv.h * qkv.w, div(qkv.c, 3)
        return Cost(macs=L * weights.w * c, activations=L * c, memory=weights.elements + 2 * L * c)


@dataclass(frozen=True)
class PatchConcat(Leaf):
    """Swin's patch merging gather: each 2 × 2 neighbourhood's four C-vectors concatenated
    (``_patch_merging_pad``; an odd size is zero-padded first): ⌈H/2⌉ × ⌈W/2⌉ × 4C. A copy, no
    arithmetic."""

    type_name = "patch_concat"
    category = "patch_concat"

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        return Shape(div(padded(x.h, 2), 2), div(padded(x.w, 2), 2), 4 * x.c)

    def cost(self, *inputs: Shape) -> Cost:
        out = self.out_shape(*inputs)
        return Cost(activations=out.elements, memory=inputs[0].elements + out.elements)


# ----------------------------------------------------------------------------------------------
# Blocks


def _check_window(heads: Num, window: Num, x: Shape) -> None:
    _check_heads(heads, x.c)
    if isinstance(window, tuple):
        raise DimError("window", list(window), "a square window only (torchvision's are)")


@register("window_attention", "Swin's (shifted) window attention: QKV, Q·Kᵀ in w×w windows, position "
          "bias, softmax, ·V, projection: 4·L·C² + 2·L·w²·C with L = H·W, C = N", required=("heads",))
@dataclass(frozen=True)
class WindowAttention(Block):
    """Multi-head self-attention inside w × w windows of the H × W map (torchvision's
    ``ShiftedWindowAttention``, V2: ``ShiftedWindowAttentionV2``): see the module docstring for
    each part. On L = H·W tokens (H, W multiples of w) of width C = N, n = w²:
    MACs = 4·L·C² + 2·L·n·C, params = 4·C² + 4·C + (2w − 1)²·h (V1, with ``bias``);
    V2 adds (2w − 1)²·cpb·(2 + h) MACs and has cpb·(3 + h) + h params instead of the table.
    ``shift`` > 0 rolls the map and masks the scores where the map is larger than one window
    (torchvision drops the shift where the window covers the map)."""

    heads: Num = dim(None, "attention heads h, dividing N")
    window: Num = dim(7, "window size w (w × w tokens per window)")
    shift: Num = dim(0, "shift of the windows (Swin's odd blocks: w/2); 0: no shift", minimum=0, symbol=False)
    bias: bool = opt(True, "biases on the QKV and output projections")
    v2: bool = opt(False, "Swin V2: cosine attention with a logit scale, position bias from an MLP")
    cpb: Num = dim(512, "hidden width of V2's position-bias MLP", symbol=False)

    def check(self, *inputs: Shape) -> None:
        _check_window(self.heads, self.window, inputs[0])

    def _masked(self, hp: Num, wp: Num) -> bool:
        """Whether the shifted-window mask applies: a shift, and the padded map larger than one
        window along an axis (torchvision zeroes the shift of an axis the window covers; a
        symbolic size is taken to be larger)."""
        if is_int(self.shift) and self.shift == 0:
            return False
        return any(not (is_int(s) and is_int(self.window) and s <= self.window) for s in (hp, wp))

    def build(self, b: Builder, x: Shape) -> None:
        hp, wp = padded(x.h, self.window), padded(x.w, self.window)
        pad = is_int(x.h) and is_int(x.w) and (hp != x.h or wp != x.w)  # a symbol: no padding
        y = b("pad", WindowPad(self.window), x) if pad else x
        qkv = b("qkv", Linear(M=3 * x.c, bias=self.bias), y)
        s = b("scores", WindowScores(self.heads, self.window, self.v2), qkv)
        s = b("position_bias", PositionBias(self.heads, self.window, self.cpb if self.v2 else 0,
                                            self._masked(hp, wp)), s)
        a = b("softmax", AttentionSoftmax(), s)
        y = b("context", WindowContext(), a, qkv)
        y = b("proj", Linear(M=x.c, bias=self.bias), y)
        if pad:
            b("crop", WindowCrop(x.h, x.w), y)


@register("patch_merging", "Swin's patch merging: 2×2 neighbours concatenated (4N), LayerNorm, linear "
          "4N → M (no bias; V2: linear, then LayerNorm): H·W·N·M")
@dataclass(frozen=True)
class PatchMerging(Block):
    """Swin's downsampling between stages (torchvision's ``PatchMerging``; V2: ``PatchMergingV2``):
    the four C-vectors of each 2 × 2 neighbourhood concatenated (an odd size zero-padded first),
    then LayerNorm(4C) and a linear 4C → M without bias (V2: the linear, then LayerNorm(M)).
    M defaults to 2N. On an H × W map (H, W even): MACs = (H/2)·(W/2)·4N·M = H·W·N·M;
    params = 4N·M + 8N (V1) or 4N·M + 2M (V2)."""

    M: Num | None = dim(None, "output channels (default: 2·N)")
    v2: bool = opt(False, "Swin V2: the LayerNorm after the linear layer, over its M outputs")

    def build(self, b: Builder, x: Shape) -> None:
        m = 2 * x.c if self.M is None else self.M
        y = b("concat", PatchConcat(), x)
        if self.v2:
            y = b("reduction", Linear(M=m, bias=False), y)
            b("norm", LayerNorm(), y)
        else:
            y = b("norm", LayerNorm(), y)
            b("reduction", Linear(M=m, bias=False), y)


@register("partition_attention", "MaxViT's block or grid attention: LayerNorm, window attention "
          "(w×w, relative position bias), add, LayerNorm, MLP, add", required=("heads",))
@dataclass(frozen=True)
class PartitionAttention(Block):
    """MaxViT's ``PartitionAttentionLayer``: the map partitioned into w × w windows (``grid``:
    a w × w grid of tokens spread over the map; the same count), then a pre-norm transformer
    block on it: x + attention(LN(x)) with windowed attention (no shift, a (2w − 1)²·h bias
    table), then y + MLP(LN(y)) with hidden width B (default 4·N) and ``act`` (GELU). torchvision
    requires the partition size to divide the map; costcalc pads a map it does not divide, as
    ``window_attention`` does. On an
    H × W × C map (multiples of w), L = H·W, n = w², B = 4C: MACs = 12·L·C² + 2·L·n·C; params
    = 12·C² + 13·C + (2w − 1)²·h."""

    heads: Num = dim(None, "attention heads h, dividing N")
    window: Num = dim(7, "partition size w (w × w tokens attend together)")
    B: Num | None = dim(None, "MLP hidden width (default: 4·N)")
    act: str = opt("gelu", "activation of the MLP", choices=tuple(ACTIVATIONS), kind="str")
    grid: bool = opt(False, "grid partition (tokens spread over the map) instead of windows")

    def check(self, *inputs: Shape) -> None:
        _check_window(self.heads, self.window, inputs[0])

    def build(self, b: Builder, x: Shape) -> None:
        y = b("ln_1", LayerNorm(), x)
        y = b("attention", WindowAttention(heads=self.heads, window=self.window), y)
        y = b("add_1", Add(), y, x)
        z = b("ln_2", LayerNorm(), y)
        z = b("mlp", MLP(B=self.B, act=self.act), z)
        b("add_2", Add(), z, y)
