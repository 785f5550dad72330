"""Transformer pieces for the Vision Transformer (Dosovitskiy et al. 2020, as torchvision builds it).

**Tokens in a Shape.** costcalc's shapes are H × W × C. A sequence of L tokens of width D is the
shape **L × 1 × D**: one "row" per token, the token's features as channels. Every per-position layer
(``linear``, ``layernorm``, ``mlp``, ``attention``, the activations) treats an H × W × C map as H·W
tokens of width C, so it works on both: on L × 1 × D, H·W = L. A convolution must not follow a
token sequence (it would see an L × 1 image); ``fc`` flattens what it is given, so a classifier
head first keeps the class token (``select_token``: 1 × 1 × D), as torchvision's ``x[:, 0]``.

**Attention, in tokens L, width D and heads h** (``attention``, self-attention as
``torch.nn.MultiheadAttention``):

- QKV projection, one D → 3D linear: 3·L·D² MACs, 3·D² + 3·D params;
- scores Q·Kᵀ, h heads of L × (D/h) by (D/h) × L: L²·D MACs (FlopCounterMode: ``bmm``), scaled by
  1/√(D/h) (1 multiply per score: h·L² elementwise);
- softmax over each row of scores: per score 1 comparison (running max) and 4 ops (subtract the
  max, exp, add to the sum, divide);
- context softmax(·)·V: L²·D MACs (``bmm``);
- output projection D → D: L·D² MACs, D² + D params.

MACs = 4·L·D² + 2·L²·D (independent of h); params = 4·D² + 4·D. In ``costcalc layer`` the formula
reads with L = H·W and D = N; ``costcalc derive "attention(H=L, W=1, N=D, heads=h)"`` writes it in
L, D and h.
"""

from __future__ import annotations

from dataclasses import dataclass

from costcalc.cost import Cost, Shape
from costcalc.layers.base import Block, Builder, DimError, Leaf, dim, opt, register
from costcalc.layers.norm import LayerNorm
from costcalc.layers.primitives import ACTIVATIONS, Activation, Add
from costcalc.num import Num, div, is_int

LN = LayerNorm()


def _positions(x: Shape) -> Num:
    """Tokens of a shape: H·W (L for an L × 1 × D token sequence)."""
    return x.h * x.w


# ----------------------------------------------------------------------------------------------
# Leaves


@register("linear", "linear layer applied to every position / token (nn.Linear on channels-last): "
          "H·W·N·M")
@dataclass(frozen=True)
class Linear(Leaf):
    """A fully-connected layer applied to each of the H·W positions (each of the L tokens), as
    ``torch.nn.Linear(N, M)`` on a channels-last tensor: ConvNeXt's pointwise layers, the
    transformer's projections and MLP. Unlike ``fc``, which flattens its whole input.

    MACs = H·W·N·M (the same as a 1×1 conv); params = N·M + M (bias, on by default as in PyTorch)."""

    M: Num | None = dim(None, "output features (default: input features N)")
    bias: bool = opt(True, "add a bias per output feature")

    category = "linear"

    def _m(self, x: Shape) -> Num:
        return x.c if self.M is None else self.M

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        return Shape(x.h, x.w, self._m(x))

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        m = self._m(x)
        weights = x.c * m
        params = weights + (m if self.bias else 0)
        out = _positions(x) * m
        return Cost(macs=_positions(x) * weights, params=params, weights=weights,
                    elementwise=out if self.bias else 0, activations=out,
                    memory=x.elements + out + params)


@register("tokens", "flatten an H×W×N map into H·W tokens (L×1×N): a view, no arithmetic")
@dataclass(frozen=True)
class Tokens(Leaf):
    """Flatten the H × W positions of a map into a sequence of L = H·W tokens, the shape L × 1 × N
    (ViT's ``x.reshape(n, D, L).permute(0, 2, 1)``). A reshape: no arithmetic, no data moved."""

    category = "tokens"

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        return Shape(_positions(x), 1, x.c)

    def cost(self, *inputs: Shape) -> Cost:
        return Cost(activations=inputs[0].elements)


@register("class_token", "prepend a learnable class token: L×1×D → (L+1)×1×D, D params")
@dataclass(frozen=True)
class ClassToken(Leaf):
    """Prepend a learnable class token (ViT's ``class_token``, a D-vector) to the L = H·W tokens:
    output (L+1) × 1 × D. Params D; no arithmetic (a concatenation: memory = input + token read,
    output written)."""

    category = "class_token"

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        return Shape(_positions(x) + 1, 1, x.c)

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        out = (_positions(x) + 1) * x.c
        return Cost(params=x.c, activations=out, memory=x.elements + x.c + out)


@register("pos_embed", "add a learnable position embedding: L·D params, L·D adds")
@dataclass(frozen=True)
class PosEmbed(Leaf):
    """Add a learnable position embedding, one D-vector per token (ViT's ``pos_embedding``, for
    the L + 1 tokens after ``class_token``). Params = elementwise adds = L·D (H·W·N)."""

    category = "pos_embed"

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        n = inputs[0].elements
        return Cost(params=n, elementwise=n, activations=n, memory=3 * n)


@register("select_token", "keep the first (class) token: L×1×D → 1×1×D, a view")
@dataclass(frozen=True)
class SelectToken(Leaf):
    """Keep the first token, the class token (torchvision's ``x[:, 0]`` before the head): output
    1 × 1 × D, so that ``fc`` applies the classifier to that token only. A view: no arithmetic."""

    category = "select_token"

    def out_shape(self, *inputs: Shape) -> Shape:
        return Shape(1, 1, inputs[0].c)

    def cost(self, *inputs: Shape) -> Cost:
        return Cost(activations=inputs[0].c)


def _check_heads(heads: Num, width: Num) -> None:
    if is_int(heads) and is_int(width) and width % heads:
        raise DimError("heads", heads, f"heads must divide the width N={width}")


@dataclass(frozen=True)
class AttentionScores(Leaf):
    """Q·Kᵀ / √(D/h) of ``attention``: input the packed Q, K, V (H × W × 3D), output the scores
    as an L × L × h shape (query × key × head). MACs L²·D; one multiply per score for the scale."""

    heads: Num = dim(None, "attention heads")
    type_name = "attention_scores"
    category = "attention matmul"

    def out_shape(self, *inputs: Shape) -> Shape:
        L = _positions(inputs[0])
        return Shape(L, L, self.heads)

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        L, d = _positions(x), div(x.c, 3)
        scores = self.heads * L * L
        return Cost(macs=L * L * d, elementwise=scores, activations=scores, memory=2 * L * d + scores)


@dataclass(frozen=True)
class AttentionSoftmax(Leaf):
    """Softmax over the keys of each query, per head: per score 1 comparison and 4 ops."""

    type_name = "softmax"
    category = "softmax"

    def out_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def cost(self, *inputs: Shape) -> Cost:
        n = inputs[0].elements
        return Cost(comparisons=n, elementwise=4 * n, activations=n, memory=2 * n)


@dataclass(frozen=True)
class AttentionContext(Leaf):
    """softmax(Q·Kᵀ)·V of ``attention``: inputs the L × L × h weights and the packed Q, K, V
    (H × W × 3D); output H × W × D (the heads concatenated). MACs L²·D."""

    arity = 2
    type_name = "attention_context"
    category = "attention matmul"

    def out_shape(self, *inputs: Shape) -> Shape:
        qkv = inputs[1]
        return Shape(qkv.h, qkv.w, div(qkv.c, 3))

    def cost(self, *inputs: Shape) -> Cost:
        weights, qkv = inputs[0], inputs[1]
        L, d = _positions(qkv), div(qkv.c, 3)
        return Cost(macs=L * L * d, activations=L * d, memory=weights.elements + 2 * L * d)


# ----------------------------------------------------------------------------------------------
# Blocks


@register("patch_embed", "ViT patch embedding: K×K conv of stride K to M channels, then tokens: "
          "H·W·N·M (K² folds into the stride)", required=("M",))
@dataclass(frozen=True)
class PatchEmbed(Block):
    """ViT's patch embedding: a K × K convolution of stride K (non-overlapping patches, with
    bias, torchvision's ``conv_proj``) from N to M = D channels, then the (H/K)·(W/K) positions as
    tokens. MACs = (H/K)·(W/K)·M·K²·N = H·W·N·M; params = K²·N·M + M."""

    M: Num = dim(None, "embedding width D")
    K: Num = dim(16, "patch size (kernel and stride)")

    def build(self, b: Builder, x: Shape) -> None:
        from costcalc.layers.conv import Conv

        y = b("proj", Conv(M=self.M, K=self.K, S=self.K, P=0, bias=True), x)
        b("tokens", Tokens(), y)


@register("attention", "multi-head self-attention: QKV, Q·Kᵀ, softmax, ·V, projection: "
          "4·L·D² + 2·L²·D with L = H·W, D = N", required=("heads",))
@dataclass(frozen=True)
class Attention(Block):
    """Multi-head self-attention over the L = H·W tokens of width D = N, as
    ``torch.nn.MultiheadAttention(D, heads)`` with query = key = value (the module docstring
    gives each part). MACs = 4·L·D² + 2·L²·D; params = 4·D² + 4·D (with ``bias``, as PyTorch's
    default; 4·D² without)."""

    heads: Num = dim(None, "attention heads h, dividing N")
    bias: bool = opt(True, "biases on the QKV and output projections")

    def check(self, *inputs: Shape) -> None:
        _check_heads(self.heads, inputs[0].c)

    def build(self, b: Builder, x: Shape) -> None:
        qkv = b("qkv", Linear(M=3 * x.c, bias=self.bias), x)
        s = b("scores", AttentionScores(self.heads), qkv)
        a = b("softmax", AttentionSoftmax(), s)
        y = b("context", AttentionContext(), a, qkv)
        b("proj", Linear(M=x.c, bias=self.bias), y)


@register("mlp", "transformer MLP: linear N → B, GELU, linear B → M: H·W·B·(N + M)")
@dataclass(frozen=True)
class MLP(Block):
    """The transformer's MLP (torchvision's ``MLPBlock``): linear N → B with bias, activation
    (GELU), linear B → M with bias; dropout is the identity at inference. B defaults to 4·N (ViT's
    mlp_dim = 4·hidden_dim), M to N. MACs = H·W·B·(N + M); params = B·(N + M) + B + M."""

    M: Num | None = dim(None, "output features (default: N)")
    B: Num | None = dim(None, "hidden width (default: 4·N)")
    act: str = opt("gelu", "activation between the two linear layers", choices=tuple(ACTIVATIONS), kind="str")

    def build(self, b: Builder, x: Shape) -> None:
        hidden = 4 * x.c if self.B is None else self.B
        y = b("fc1", Linear(M=hidden), x)
        y = b(str(self.act), Activation.named(self.act), y)
        b("fc2", Linear(M=x.c if self.M is None else self.M), y)


@register("encoder_block", "ViT encoder block (pre-norm): LayerNorm, attention, add, LayerNorm, MLP, add",
          required=("heads",))
@dataclass(frozen=True)
class EncoderBlock(Block):
    """A pre-norm transformer encoder block, as torchvision's ``EncoderBlock``: x + attention(LN(x)),
    then y + MLP(LN(y)) with an MLP of hidden width B (default 4·N). On L tokens of width D with
    B = 4·D: MACs = 12·L·D² + 2·L²·D; params = 12·D² + 13·D."""

    heads: Num = dim(None, "attention heads h, dividing N")
    B: Num | None = dim(None, "MLP hidden width (default: 4·N)")

    def check(self, *inputs: Shape) -> None:
        _check_heads(self.heads, inputs[0].c)

    def build(self, b: Builder, x: Shape) -> None:
        y = b("ln_1", LN, x)
        y = b("self_attention", Attention(heads=self.heads), y)
        y = b("add_1", Add(), y, x)
        z = b("ln_2", LN, y)
        z = b("mlp", MLP(B=self.B), z)
        b("add_2", Add(), z, y)
