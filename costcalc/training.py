"""Training cost: backward multiply-adds, backward elementwise work, memory saved for backward,
parameters, gradients and optimizer state.

One training step of a network at batch size ``B`` costs, per layer:

- the forward pass (the inference counts × B);
- the *input gradient* (dL/dx): a convolution's or a linear layer's costs as many multiply-adds as
  its forward pass, and it is computed only where the layer's input needs a gradient: not for the
  first layer with parameters, nor for anything before it (autograd records nothing there);
- the *weight gradient* (dL/dW): again as many multiply-adds as the forward pass, groups included
  (each weight meets each output position once: H′·W′·M·K²·N/G);
- the elementwise work of the backward pass (activation masks, BatchNorm's gradient, bias
  gradients, pooling scatters, gradient accumulation where a tensor feeds several layers);
- the tensors autograd saves for backward, by the rules PyTorch follows (measured with
  ``torch.autograd.graph.saved_tensors_hooks``, counted as unique storages).

Then the network holds its parameters, their gradients and the optimizer's state. The peak is
estimated as saved activations + parameters + gradients + optimizer state: a sum of tensors, not a
prediction of what an allocator reserves.

Rules are small pure functions registered per layer *class* with :func:`backward_rule`; a leaf class
without a rule is an error naming it, never a zero. Like the forward cost rules they are plain
arithmetic over the layer's dimensions, so the same rule gives an ``int`` for numbers and a sympy
expression for symbols. Every rule returns per-image counts; :func:`train_steps` multiplies by the
batch size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from costcalc.cost import COST_FIELDS, Cost, Shape
from costcalc.errors import CostcalcError
from costcalc.layers.base import Block, Builder, Layer
from costcalc.layers.conv import FC, Conv
from costcalc.layers.modern import ChannelGate, ConvTranspose, LayerScale, Upsample
from costcalc.layers.norm import GroupNorm, LayerNorm
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
    Unknown,
)
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
from costcalc.num import Num, div, is_int, pair

#: largest batch size accepted (a clear bound for a sanity check; the arithmetic itself is exact)
MAX_BATCH = 1_000_000

#: bytes of one element of an index tensor (max pooling's argmax: int64 whatever the dtype)
INDEX_BYTES = 8

#: bytes of Adam's per-parameter ``step`` counter (a float32 scalar tensor per parameter tensor)
STEP_BYTES = 4


class TrainingError(CostcalcError):
    """A network or layer whose training cost cannot be stated (a layer class without a rule)."""


# ----------------------------------------------------------------------------------------------
# What a rule says about one leaf layer


@dataclass(frozen=True)
class Saved:
    """One tensor a layer saves for backward.

    ``tensor`` is ``"input"`` (its input number ``index``), ``"output"``, or ``"new"``: a tensor
    the layer creates for backward (BatchNorm's statistics, max pooling's indices) of ``elements``
    elements, per image if ``per_image`` else in total, ``itemsize`` bytes each (``None``: the
    training dtype). An input or output is counted as its whole storage: a view (channel split)
    keeps its base alive. ``batch_one_view``: a ``"new"`` tensor that is a copy at every batch
    size but 1, where it is a view of input ``index`` instead (PyTorch reshapes without copying
    when the batch axis has one element): at batch 1 that input's storage is saved.
    """

    tensor: str
    index: int = 0
    elements: Num = 0
    per_image: bool = True
    itemsize: int | None = None
    label: str = ""
    batch_one_view: bool = False


INPUT = Saved("input")
OUTPUT = Saved("output")


@dataclass(frozen=True)
class Backward:
    """The backward pass of one leaf layer, per image (the batch multiplies everything but
    ``param_tensors`` and non-per-image saved tensors).

    - ``input_macs`` / ``input_elementwise`` / ``input_comparisons``: work of the input gradient,
      counted only where the layer's input needs a gradient;
    - ``weight_macs`` / ``weight_elementwise``: work of the parameter gradients (bias sums,
      BatchNorm's γ and β), counted whenever the layer has parameters;
    - ``saves``: the tensors autograd keeps for this layer's backward (parameters excluded: they
      are counted once, as parameters);
    - ``param_tensors``: how many parameter tensors (Adam keeps a step counter per tensor);
    - ``view``: the output is a view of input 0 (shares its storage).
    """

    input_macs: Num = 0
    weight_macs: Num = 0
    input_elementwise: Num = 0
    input_comparisons: Num = 0
    weight_elementwise: Num = 0
    saves: tuple[Saved, ...] = ()
    param_tensors: int = 0
    view: bool = False


Rule = Callable[..., Backward]

#: layer class → its rule (exact class: a subclass may change what is saved, so it states its own)
RULES: dict[type, Rule] = {}


def backward_rule(cls: type) -> Callable[[Rule], Rule]:
    """Register ``fn(layer, inputs, out) -> Backward`` as the training rule of leaf class ``cls``.

    ``inputs`` are the layer's input shapes, ``out`` its output shape (ints or sympy expressions);
    the counts are per image. Adding a layer class means adding one such function.
    """

    def deco(fn: Rule) -> Rule:
        if cls in RULES:
            raise ValueError(f"training rule for {cls.__name__} registered twice")
        RULES[cls] = fn
        return fn

    return deco


def backward_of(layer: Layer, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """The training rule of ``layer``'s class applied to it; a class without one is an error."""
    rule = RULES.get(type(layer))
    if rule is None:
        raise TrainingError(f"no training rule for layer type {layer.type_name!r} ({type(layer).__name__}); "
                            "add one with @backward_rule in costcalc/training.py")
    return rule(layer, inputs, out)


# ----------------------------------------------------------------------------------------------
# The rules. Saved tensors are PyTorch's (autograd's derivatives.yaml, checked with
# saved_tensors_hooks in tests/test_training.py); elementwise counts are the arithmetic of the
# gradient formula, one per add, multiply, divide, exp or erf, comparisons apart, copies and
# scatters of a single value free — the forward convention applied to the backward formula.


@backward_rule(Conv)
def _conv(layer: Conv, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Input gradient: a transposed convolution of the output gradient with the weights, one
    multiply-add per (output position, weight) pair: H′·W′·M·K²·N/G, the forward count. Weight
    gradient: each weight meets each output position once: H′·W′·M·K²·N/G again (groups included:
    a weight sees only its group's N/G input channels). Bias gradient: a sum over positions, H′·W′·M.
    Saves its input (and its weight, a parameter)."""
    macs = layer.cost(*inputs).macs
    return Backward(input_macs=macs, weight_macs=macs, weight_elementwise=out.elements if layer.bias else 0,
                    saves=(INPUT,), param_tensors=2 if layer.bias else 1)


@backward_rule(FC)
def _fc(layer: FC, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """dx = dy·W (H·W·N·M MACs), dW = dyᵀ·x (H·W·N·M), db = Σ dy (M adds per image). Saves its
    input (a flattened view: the whole input storage) and its weight."""
    macs = inputs[0].elements * layer.M
    return Backward(input_macs=macs, weight_macs=macs, weight_elementwise=layer.M if layer.bias else 0,
                    saves=(INPUT,), param_tensors=2 if layer.bias else 1)


@backward_rule(BatchNorm)
def _batchnorm(layer: BatchNorm, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Training-mode BatchNorm. γ and β gradients: x̂ = (x − μ)·σ⁻¹ recomputed (2), dy·x̂ (1), the
    sums Σdy·x̂ and Σdy (2): 5 per element. Input gradient dx = (dy − mean(dy) − x̂·mean(dy·x̂))·γσ⁻¹:
    4 per element. Saves its input and two per-channel statistics (save_mean, save_invstd, in the
    dtype; PyTorch also saves γ and the running statistics, which are parameters and buffers)."""
    x = inputs[0]
    n = x.elements
    return Backward(input_elementwise=4 * n, weight_elementwise=5 * n,
                    saves=(INPUT, Saved("new", elements=2 * x.c, per_image=False, label="save_mean, save_invstd")),
                    param_tensors=2)


#: per activation kind: (what autograd saves, backward comparisons, backward ops) per element
ACTIVATION_BACKWARD: Mapping[str, tuple[str, int, int]] = {
    "relu": ("output", 1, 0),  # where(y > 0, dy, 0)
    "relu6": ("input", 2, 0),  # hardtanh: where(0 < x < 6, dy, 0)
    "hardsigmoid": ("input", 2, 1),  # where(−3 < x < 3, dy/6, 0)
    "hardswish": ("input", 2, 3),  # x < −3: 0; x ≤ 3: dy·(x/3 + 1/2); else dy
    "sigmoid": ("output", 0, 3),  # dy·y·(1 − y)
    "silu": ("input", 0, 8),  # s = sigmoid(x) (3); dy·s·(1 + x·(1 − s)) (5)
    "gelu": ("input", 0, 11),  # dy·(Φ(x) + x·φ(x)): Φ 4, φ 4, x·φ + Φ 2, ·dy 1
    "tanh": ("output", 0, 3),  # dy·(1 − y²)
}


@backward_rule(Activation)
def _activation(layer: Activation, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Per ``ACTIVATION_BACKWARD``: ReLU and sigmoid save their output, the others their input. In
    place, ReLU saves its output, which is its input's storage; hardtanh (ReLU6), hard-swish,
    hard-sigmoid and SiLU save a copy of their input: either way one storage of that size."""
    try:
        saved, cmp, ops = ACTIVATION_BACKWARD[layer.kind]
    except KeyError:
        raise TrainingError(f"no training rule for activation {layer.kind!r}; add it to "
                            "ACTIVATION_BACKWARD in costcalc/training.py") from None
    n = inputs[0].elements
    return Backward(input_elementwise=ops * n, input_comparisons=cmp * n,
                    saves=(OUTPUT if saved == "output" else INPUT,))


@backward_rule(Pool)
def _pool(layer: Pool, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Max pooling saves its input and the argmax indices (int64, one per output element) and
    scatter-adds each output gradient to its argmax: 1 add per output element. K×K average pooling
    saves its input; its backward divides each output gradient once and adds it into K² inputs:
    K² + 1 per output element. Global average pooling is a mean in PyTorch, which saves nothing;
    its backward divides the expanded gradient: 1 per input element."""
    x = inputs[0]
    if layer.mode == "max":
        return Backward(input_elementwise=out.elements,
                        saves=(INPUT, Saved("new", elements=out.elements, itemsize=INDEX_BYTES, label="indices")))
    if layer.glob:
        return Backward(input_elementwise=x.elements)
    kh, kw = pair(layer.K)
    return Backward(input_elementwise=(kh * kw + 1) * out.elements, saves=(INPUT,))


@backward_rule(AdaptivePool)
def _adaptive_pool(layer: AdaptivePool, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Adaptive max pooling is max pooling with computed windows: saves its input and the argmax
    indices, one scatter-add per output element. Adaptive average pooling saves its input; its
    backward divides each output gradient once and adds it into every position of its window:
    (window positions summed) + 1 per output element, the forward count plus one per output."""
    x = inputs[0]
    if layer.mode == "max":
        return Backward(input_elementwise=out.elements,
                        saves=(INPUT, Saved("new", elements=out.elements, itemsize=INDEX_BYTES, label="indices")))
    return Backward(input_elementwise=layer.cost(x).elementwise + out.elements, saves=(INPUT,))


@backward_rule(Mul)
def _mul(layer: Mul, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """z = x·y saves both factors: dx = dz·y and dy = dz·x, one multiply per output element each;
    a factor that was broadcast (a 1×1×N gate) sums its gradient over the map: one add per output
    element fewer than the gate has elements."""
    n = out.elements
    reduce = sum(n - s.elements for s in inputs[:2] if (s.h, s.w) == (1, 1) and (out.h, out.w) != (1, 1))
    return Backward(input_elementwise=2 * n + reduce, saves=(Saved("input", 0), Saved("input", 1)))


def _free(layer: Layer, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """A residual add passes its gradient on unchanged; a concatenation and a zero-padding
    shortcut slice it back. No arithmetic, nothing saved."""
    return Backward()


backward_rule(Add)(_free)  # any number of inputs: each receives the output gradient
backward_rule(Concat)(_free)
backward_rule(PadShortcut)(_free)
backward_rule(Unknown)(_free)  # an operator an import could not count: 0, as its forward (and said so)


@backward_rule(ChannelShuffle)
def _shuffle(layer: ChannelShuffle, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Reshape, transpose, reshape: a copy, except with 1 group or one channel per group, where the
    transpose moves nothing and the result is a view of the input. Nothing saved either way."""
    c = inputs[0].c
    return Backward(view=is_int(layer.G) and is_int(c) and layer.G in (1, c))


@backward_rule(ChannelSplit)
def _split(layer: ChannelSplit, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """A narrow view of the input: it shares the input's storage, so a layer saving the half keeps
    the whole input alive."""
    return Backward(view=True)


# -- normalization with statistics of the tensor itself -----------------------------------------


def _norm(x: Shape, groups: Num) -> Backward:
    """LayerNorm and GroupNorm: a group of n elements normalized together, γ and β per channel.
    γ and β gradients, summed over the batch and the positions: x̂ = (x − μ)·σ⁻¹ recomputed (2),
    dy·x̂ (1), Σdy·x̂ and Σdy (2): 5 per element. Input gradient, g = dy·γ (γ varies inside a
    group, unlike BatchNorm's): g (1), Σg and Σg·x̂ over the group (3), g − mean(g) − x̂·mean(g·x̂)
    (3), ·σ⁻¹ (1): 8 per element, and the two means (2) per group. Saves its input and the
    group's mean and 1/σ (``native_layer_norm`` / ``native_group_norm``: one each per group per
    image, in the dtype)."""
    return Backward(input_elementwise=8 * x.elements + 2 * groups, weight_elementwise=5 * x.elements,
                    saves=(INPUT, Saved("new", elements=2 * groups, label="mean, rstd")), param_tensors=2)


@backward_rule(LayerNorm)
def _layernorm(layer: LayerNorm, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Each of the H·W positions is a group of N elements: see :func:`_norm` (2·H·W statistics
    per image)."""
    x = inputs[0]
    return _norm(x, x.h * x.w)


@backward_rule(GroupNorm)
def _groupnorm(layer: GroupNorm, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """G groups of H·W·N/G elements per image: see :func:`_norm` (2·G statistics per image)."""
    return _norm(inputs[0], layer.G)


# -- per-position linear layers and transposed convolutions -------------------------------------


@backward_rule(Linear)
def _linear(layer: Linear, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """nn.Linear on each of the H·W positions: dx = dy·W and dW = dyᵀ·x, H·W·N·M multiply-adds
    each (the forward count); db = Σ dy over the positions: H·W·M adds per image. Saves its input
    as the (positions × N) matrix ``mm`` multiplies: the input's storage when the input is
    channels-last, a copy of the same size otherwise (``to_torch``'s NCHW tensors); either way
    H·W·N elements per image."""
    x = inputs[0]
    macs = x.elements * out.c
    return Backward(input_macs=macs, weight_macs=macs, weight_elementwise=out.elements if layer.bias else 0,
                    saves=(INPUT,), param_tensors=2 if layer.bias else 1)


@backward_rule(ConvTranspose)
def _conv_transpose(layer: ConvTranspose, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Input gradient: an ordinary convolution of the output gradient with the weights, one
    multiply-add per (input position, weight) pair: H·W·N·K²·M/G, the forward count. Weight
    gradient: each weight meets each input position once: H·W·N·K²·M/G again (a weight sees only
    its group's M/G output channels; FlopCounterMode counts all M, G times too many, as for a
    grouped conv). Bias gradient: a sum over the output positions, H′·W′·M. Saves its input (and
    its weight, a parameter)."""
    macs = layer.cost(*inputs).macs
    return Backward(input_macs=macs, weight_macs=macs, weight_elementwise=out.elements if layer.bias else 0,
                    saves=(INPUT,), param_tensors=2 if layer.bias else 1)


#: elementwise ops of the input gradient per *output* element of each interpolation mode
UPSAMPLE_BACKWARD: Mapping[str, int] = {
    "nearest": 1,  # each output gradient added into its source input element
    "bilinear": 8,  # each output gradient times its 4 weights, added into the 4 neighbours
}


@backward_rule(Upsample)
def _upsample(layer: Upsample, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """The input gradient scatters each output gradient back to the input elements it was made
    from: nearest, 1 add per output element (max pooling's scatter-add); bilinear, 4 multiplies by
    the interpolation weights and 4 adds per output element. ``upsample_nearest2d`` and
    ``upsample_bilinear2d`` save no tensor (sizes and scales only)."""
    return Backward(input_elementwise=UPSAMPLE_BACKWARD[layer.mode] * out.elements)


# -- per-channel scales -------------------------------------------------------------------------


@backward_rule(LayerScale)
def _layer_scale(layer: LayerScale, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """y = γ·x with γ per channel: dx = dy·γ (1 multiply per element), dγ = Σ dy·x over the
    positions (1 multiply + 1 add per element). Saves its input (for dγ) and γ (a parameter)."""
    n = inputs[0].elements
    return Backward(input_elementwise=n, weight_elementwise=2 * n, saves=(INPUT,), param_tensors=1)


backward_rule(ChannelGate)(_mul)  # RegNetY's SE multiply: a map times a 1×1×N gate, as ``mul``


# -- tokens --------------------------------------------------------------------------------------


@backward_rule(Tokens)
def _tokens(layer: Tokens, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """A reshape of a contiguous map (a conv's output, as in ViT's patch embedding): a view of
    its input; its gradient is the output gradient reshaped. Nothing saved, no arithmetic."""
    return Backward(view=True)


@backward_rule(ClassToken)
def _class_token(layer: ClassToken, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """A concatenation (saves nothing; the input gradient is a slice of the output gradient). The
    token is expanded over the batch, so its gradient sums the first row of the output gradient
    over the images: N adds per image."""
    return Backward(weight_elementwise=inputs[0].c, param_tensors=1)


@backward_rule(PosEmbed)
def _pos_embed(layer: PosEmbed, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """An add (saves nothing; the input gradient is the output gradient). The embedding is
    broadcast over the batch, so its gradient sums the output gradient over the images: H·W·N
    adds per image."""
    return Backward(weight_elementwise=inputs[0].elements, param_tensors=1)


@backward_rule(SelectToken)
def _select_token(layer: SelectToken, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """``x[:, 0]``: a view of its input (a layer saving the token keeps every token alive); the
    input gradient writes the output gradient into zeros (a copy). Nothing saved."""
    return Backward(view=True)


# -- attention -----------------------------------------------------------------------------------


def _head_operands(heads: Num, qkv: int, L: Num, d: Num, *labels: str) -> tuple[Saved, ...]:
    """The per-head Q, K or V operands ``bmm`` saves, cut from the packed Q, K, V (input ``qkv``).
    ``matmul`` folds (image, head) into one batch axis, which the packed layout allows only with one
    head or one image: then each operand is a view of the packed input (its storage, 3·L·D per
    image, kept whole, once); otherwise a copy of L·D elements per image. A symbolic h is taken to
    be more than one head."""
    if is_int(heads) and heads == 1:
        return (Saved("input", qkv),)
    return tuple(Saved("new", elements=L * d, label=label, batch_one_view=True, index=qkv) for label in labels)


@backward_rule(AttentionScores)
def _attention_scores(layer: AttentionScores, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """S = Q·Kᵀ·s per head: dQ = dS·K and dK = dSᵀ·Q, L²·D/h multiply-adds each per head: 2·L²·D
    (both flow into the packed Q, K, V input); the scale's gradient, 1 multiply per score
    (h·L²). Saves Q and Kᵀ as ``bmm`` multiplies them (see :func:`_head_operands`)."""
    x = inputs[0]
    L, d = x.h * x.w, div(x.c, 3)
    return Backward(input_macs=2 * L * L * d, input_elementwise=out.elements,
                    saves=_head_operands(layer.heads, 0, L, d, "Q", "Kᵀ"))


@backward_rule(AttentionSoftmax)
def _softmax(layer: AttentionSoftmax | Softmax, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """dx = y·(dy − Σ dy·y) over each row: dy·y (1), the row sum (1), the subtraction (1), ·y (1):
    4 per score. Saves its output."""
    return Backward(input_elementwise=4 * out.elements, saves=(OUTPUT,))


# the softmax over the channels (a classifier's head): the same gradient over each position's N values
backward_rule(Softmax)(_softmax)


@backward_rule(AttentionContext)
def _attention_context(layer: AttentionContext, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Y = A·V per head: dA = dY·Vᵀ and dV = Aᵀ·dY, L²·D/h multiply-adds each per head: 2·L²·D.
    Saves A (its first input: the softmax's output, already saved there) and V as ``bmm``
    multiplies it (see :func:`_head_operands`)."""
    qkv = inputs[1]
    L, d = qkv.h * qkv.w, div(qkv.c, 3)
    return Backward(input_macs=2 * L * L * d,
                    saves=(Saved("input", 0), *_head_operands(inputs[0].c, 1, L, d, "V")))


# -- windowed attention (Swin, MaxViT) ------------------------------------------------------------

backward_rule(WindowPad)(_free)  # F.pad: the input gradient is a slice of the output gradient
backward_rule(WindowCrop)(_free)  # a slice (copied): the input gradient is the output gradient padded
backward_rule(PatchConcat)(_free)  # strided slices and a concat: the gradient is scattered back, no arithmetic


@backward_rule(WindowScores)
def _window_scores(layer: WindowScores, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """S = Q·Kᵀ in each window and head: dQ = dS·K and dK = dSᵀ·Q, L·n·C/h multiply-adds each
    per head: 2·L·n·C. V1 scales Q before the product: its gradient, 1 multiply per element of Q
    (L·C). Saves the windowed Q and Kᵀ operands, copies of L·C elements each (the window
    partition is a permute that ``reshape`` copies). V2's cosine form (``cosine``) adds the
    normalisation's backward, by the same convention as the forward: per element of Q and K a
    multiply and an add for the projection on the unit vector and a divide (3 each, 6·L·C), the
    logit scale's gradient (1 multiply and 1 add per score) and its multiply of dS (1 per score);
    it saves the normalised Q and K and the cosine scores. The V1 form's multiply-adds and saved
    bytes agree with PyTorch (``verify --mode train``); V2's multiply-adds agree, its saved bytes
    are short of PyTorch's (``F.normalize`` also saves Q, K and their norms), and its normalisation
    work is the convention's estimate."""
    x = inputs[0]
    L, c = x.h * x.w, div(x.c, 3)
    macs = 2 * L * out.w * c
    if layer.cosine:
        return Backward(input_macs=macs, input_elementwise=6 * L * c + out.elements,
                        weight_elementwise=2 * out.elements, param_tensors=1,
                        saves=(Saved("new", elements=L * c, label="Q/|Q|"), Saved("new", elements=L * c, label="K/|K|"),
                               Saved("new", elements=out.elements, label="cosine scores")))
    return Backward(input_macs=macs, input_elementwise=L * c,
                    saves=(Saved("new", elements=L * c, label="Q"), Saved("new", elements=L * c, label="Kᵀ")))


@backward_rule(PositionBias)
def _position_bias(layer: PositionBias, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """An add (and the mask's): the input gradient is the output gradient. The bias gradient sums
    the score gradients over the windows and accumulates them into the table entries they were
    gathered from: 1 add per score. A table (V1, MaxViT): nothing saved, 1 parameter tensor.
    V2's MLP 2 → cpb → h on the constant coordinates: the sigmoid's gradient (16·y·(1 − y)·dy: 3
    per gathered bias), dW₂ and the hidden gradient (T·cpb·h multiply-adds each), the ReLU's mask
    (T·cpb comparisons), dW₁ (T·2·cpb) and db₁ (T·cpb adds); saves the hidden activations, the
    ReLU's output (T·cpb) and the sigmoid's output (n²·h), once per pass; 3 parameter tensors.
    The multiply-adds are counted per image, as the forward's (the MLP runs once per pass: exact
    at batch 1, B times PyTorch's above)."""
    s = out.elements
    if is_int(layer.cpb) and layer.cpb == 0:
        return Backward(weight_elementwise=s, param_tensors=1)
    t, n, h, hidden = (2 * layer.window - 1) ** 2, layer.window * layer.window, layer.heads, layer.cpb
    gathered = n * n * h
    return Backward(weight_macs=2 * t * hidden * h + 2 * t * hidden,
                    weight_elementwise=s + 3 * gathered + t * hidden,
                    saves=(Saved("new", elements=t * hidden, per_image=False, label="ReLU output"),
                           Saved("new", elements=gathered, per_image=False, label="sigmoid output")),
                    param_tensors=3)


@backward_rule(WindowContext)
def _window_context(layer: WindowContext, inputs: tuple[Shape, ...], out: Shape) -> Backward:
    """Y = A·V in each window and head: dA = dY·Vᵀ and dV = Aᵀ·dY, L·n·C/h multiply-adds each per
    head: 2·L·n·C. Saves A (its first input: the softmax's output, already saved there) and the
    windowed V, a copy of L·C elements."""
    qkv = inputs[1]
    L, c = qkv.h * qkv.w, div(qkv.c, 3)
    return Backward(input_macs=2 * L * inputs[0].w * c,
                    saves=(Saved("input", 0), Saved("new", elements=L * c, label="V")))


# ----------------------------------------------------------------------------------------------
# The dataflow of leaves: which tensor each leaf reads. This is the one place that knows how a
# network's layers and blocks connect.


@dataclass(frozen=True)
class Step:
    """One leaf layer in execution order: it reads tensors ``inputs`` (a step's index for its
    output, or a negative number for an external input) and writes tensor number = its index."""

    path: str
    layer: Layer
    inputs: tuple[int, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    depth: int


class _Tagged(Shape):
    """A shape that remembers which child produced it (-1: the block's input); equal to and hashed
    as the plain tuple, so the block's rules see no difference."""

    node: int


def _tag(shape: Shape, node: int) -> _Tagged:
    t = _Tagged(*shape)
    t.node = node
    return t


class _Tracer(Builder):
    """Records, for each child a block builds, which earlier children's outputs it reads."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[tuple[int, ...]] = []

    def __call__(self, name: str, layer: Layer, *inputs: Shape) -> Shape:
        src = []
        for i, s in enumerate(inputs):
            if not isinstance(s, _Tagged):
                raise TrainingError(f"{name}: input {i} is a shape the block built itself, not the output of "
                                    "an earlier child; its dataflow is unknown")
            src.append(s.node)
        out = super().__call__(name, layer, *inputs)
        self.sources.append(tuple(src))
        return _tag(out, len(self.nodes) - 1)


@functools.lru_cache(maxsize=4096)
def _template(block: Block, x: Shape) -> tuple[tuple[str, Layer, tuple[int, ...], tuple[Shape, ...]], ...]:
    """A block's children on input ``x``: (name, layer, sources, input shapes), sources being the
    indices of earlier children (-1: the block's input). Cached: a stage repeats equal blocks."""
    tracer = _Tracer()
    block.build(tracer, _tag(x, -1))
    if not tracer.nodes:
        raise TrainingError(f"block {block.type_name} has no layers")
    return tuple((n.name, n.layer, src, tuple(Shape(*s) for s in n.inputs))
                 for n, src in zip(tracer.nodes, tracer.sources))


def _expand(steps: list[Step], layer: Layer, ids: tuple[int, ...], shapes: tuple[Shape, ...], path: str,
            depth: int) -> int:
    """Append the steps of ``layer`` (its leaves, for a block) and return its output tensor."""
    if isinstance(layer, Block):
        outs: list[int] = []
        for name, child, src, child_shapes in _template(layer, Shape(*shapes[0])):
            child_ids = tuple(ids[0] if j < 0 else outs[j] for j in src)
            outs.append(_expand(steps, child, child_ids, child_shapes, f"{path}.{name}", depth + 1))
        return outs[-1]
    steps.append(Step(path, layer, ids, tuple(shapes), layer.out_shape(*shapes), depth))
    return len(steps) - 1


def network_steps(spec: Any) -> list[Step]:
    """The leaves of a network spec in the order :func:`costcalc.network.evaluate_network` lists
    them, each with the tensors it reads: the spec's graph names them (``input``: the network
    input, tensor -1; otherwise the path of the layer that produced it)."""
    steps: list[Step] = []
    outputs: dict[str, tuple[int, Shape]] = {"input": (-1, spec.input)}
    for nl in spec.layers:
        srcs = [outputs[s] for s in nl.inputs]
        tid = _expand(steps, nl.layer, tuple(t for t, _ in srcs), tuple(s for _, s in srcs), nl.path, nl.depth)
        outputs[nl.path] = (tid, steps[tid].out_shape)
    return steps


def layer_steps(layer: Layer, inputs: tuple[Shape, ...], path: str) -> list[Step]:
    """The leaves of one layer or block on its own; its inputs are tensors -1, -2, ..."""
    steps: list[Step] = []
    _expand(steps, layer, tuple(-1 - i for i in range(len(inputs))), inputs, path, 0)
    return steps


# ----------------------------------------------------------------------------------------------
# One training step over the steps


@dataclass(frozen=True)
class SavedStorage:
    """A storage kept for backward, counted once, at the first layer that saves it."""

    label: str
    elements: Num  # at the batch size
    bytes: Num


@dataclass(frozen=True)
class TrainRow:
    """A leaf's (or, ``leaf=False``, a block's or group's summed) training cost at batch B.

    ``forward`` is the forward pass's :class:`Cost` × B (parameters not multiplied). ``input_grad``
    says whether the layer computes an input gradient; ``recorded`` whether autograd records it at all
    (False before the first layer with parameters). The backward counts and ``saved_bytes`` are at
    batch B; ``saved`` lists the storages this row is the first to save.
    """

    path: str
    type: str
    category: str
    depth: int
    in_shape: Shape
    out_shape: Shape
    forward: Cost
    input_grad: bool
    recorded: bool
    input_macs: Num
    weight_macs: Num
    elementwise: Num
    comparisons: Num
    saved_bytes: Num
    param_tensors: int
    saved: tuple[SavedStorage, ...] = ()
    leaf: bool = True

    @property
    def backward_macs(self) -> Num:
        return self.input_macs + self.weight_macs

    @property
    def train_macs(self) -> Num:
        """Forward + input gradient + weight gradient: what FlopCounterMode counts over one training
        step, divided by 2."""
        return self.forward.macs + self.input_macs + self.weight_macs


#: optimizer → (buffers per parameter element, a step counter per parameter tensor), torch.optim's
OPTIMIZERS: Mapping[str, tuple[int, bool]] = {
    "sgd": (0, False),  # SGD without momentum keeps no state
    "momentum": (1, False),  # SGD(momentum=…): momentum_buffer
    "adam": (2, True),  # exp_avg, exp_avg_sq, step
    "adamw": (2, True),  # the same state as Adam
}


@dataclass(frozen=True)
class Memory:
    """Bytes of one training step's tensors. ``peak`` is their sum: an estimate of tensors alive at
    the end of the backward pass, not of what an allocator reserves (no fragmentation, workspace,
    or transient gradient buffers)."""

    activations: Num
    params: Num
    gradients: Num
    optimizer: Num

    @property
    def peak(self) -> Num:
        return self.activations + self.params + self.gradients + self.optimizer


@dataclass
class TrainResult:
    """A training step's costs, as data. ``rows`` in the order of the forward rows (subtotals first,
    leaf=False), ``totals`` over the leaves."""

    name: str
    batch: int
    optimizer: str
    dtype_bytes: int
    rows: list[TrainRow]
    totals: TrainRow
    memory: Memory
    in_shape: Shape
    out_shape: Shape
    spec: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def leaves(self) -> list[TrainRow]:
        return [r for r in self.rows if r.leaf]


def check_batch(batch: Any) -> int:
    """The batch size, or :class:`TrainingError` (an int from 1 to :data:`MAX_BATCH`)."""
    if not is_int(batch) or not 1 <= batch <= MAX_BATCH:
        raise TrainingError(f"batch size {batch!r} must be an integer from 1 to {MAX_BATCH:,}")
    return int(batch)


def check_optimizer(name: str) -> str:
    if name not in OPTIMIZERS:
        raise TrainingError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    return name


def train_steps(steps: Sequence[Step], batch: int, dtype_bytes: int,
                external: Mapping[int, tuple[Shape, bool]], views_batch: int | None = None) -> list[TrainRow]:
    """Training costs of ``steps`` at ``batch``. ``external`` gives each external input tensor's
    shape and whether it needs a gradient (a network's input does not; a layer studied on its own
    sits inside a network, so its inputs do). ``views_batch`` (default ``batch``) is the batch size
    that decides which saved tensors are views (``Saved.batch_one_view``): per-image formulas are
    counted at batch 1 but describe a step at another batch size."""
    batch = check_batch(batch)
    views_batch = batch if views_batch is None else views_batch
    requires: dict[int, bool] = {t: g for t, (_, g) in external.items()}
    storage: dict[int, int] = {t: t for t in external}  # tensor → the tensor owning its storage
    elements: dict[int, Num] = {t: s.elements for t, (s, _) in external.items()}  # per image
    rules: list[tuple[Backward, Cost]] = []
    memo: dict[Any, tuple[Backward, Cost]] = {}  # repeated layers on equal shapes: rules are pure
    for i, st in enumerate(steps):
        key = (st.layer, st.in_shapes)
        try:
            hit = memo.get(key)
        except TypeError:  # an unhashable field value
            hit, key = None, None
        if hit is None:
            hit = (backward_of(st.layer, st.in_shapes, st.out_shape), st.layer.cost(*st.in_shapes))  # type: ignore[attr-defined]
            if key is not None:
                memo[key] = hit
        rules.append(hit)
        bw = hit[0]
        needs = any(requires[t] for t in st.inputs)
        requires[i] = needs or bw.param_tensors > 0
        storage[i] = storage[st.inputs[0]] if bw.view else i
        elements[i] = st.out_shape.elements
    # gradient accumulation: a tensor that needs a gradient and feeds k recorded layers receives k
    # gradients, summed by autograd: (k − 1) adds per element, counted at the layer producing it
    uses: dict[int, int] = {}
    for i, st in enumerate(steps):
        if requires[i]:
            for t in st.inputs:
                if requires[t]:
                    uses[t] = uses.get(t, 0) + 1
    seen: set[Any] = set()
    rows: list[TrainRow] = []
    for i, (st, (bw, fwd)) in enumerate(zip(steps, rules)):
        recorded = requires[i]
        grad_in = recorded and any(requires[t] for t in st.inputs)
        has_params = bw.param_tensors > 0
        extra = (uses.get(i, 1) - 1) * elements[i] if uses.get(i, 0) > 1 else 0
        saved: list[SavedStorage] = []
        if recorded:
            for k, s in enumerate(bw.saves):
                if s.tensor == "new" and not (s.batch_one_view and views_batch == 1):
                    key: Any = (i, k)
                    count = s.elements * batch if s.per_image else s.elements
                    label = s.label or "new"
                else:
                    t = st.inputs[s.index] if s.tensor != "output" else i
                    key = storage[t]
                    count = elements[key] * batch
                    label = "output" if s.tensor == "output" else f"input {s.index}" if len(st.inputs) > 1 else "input"
                    if s.tensor == "new":  # batch_one_view at batch 1: the input's storage
                        label = f"{s.label}: {label}"
                    if key != t:
                        label += f" (a view of {_tensor_name(steps, key)})"
                if key in seen:
                    continue
                seen.add(key)
                saved.append(SavedStorage(label, count, count * (s.itemsize or dtype_bytes)))
        rows.append(TrainRow(
            path=st.path, type=st.layer.type_name, category=st.layer.category, depth=st.depth,
            in_shape=st.in_shapes[0], out_shape=st.out_shape,
            forward=_per_batch(fwd, batch),
            input_grad=grad_in, recorded=recorded,
            input_macs=bw.input_macs * batch if grad_in else 0,
            weight_macs=bw.weight_macs * batch if has_params else 0,
            elementwise=((bw.input_elementwise if grad_in else 0) + (bw.weight_elementwise if has_params else 0)
                         + extra) * batch if recorded else 0,
            comparisons=bw.input_comparisons * batch if grad_in else 0,
            saved_bytes=sum(s.bytes for s in saved), param_tensors=bw.param_tensors, saved=tuple(saved)))
    return rows


def _per_batch(c: Cost, batch: int) -> Cost:
    """A forward cost at ``batch`` images: everything × B but the parameters (memory traffic reads
    the parameters once)."""
    return Cost(macs=c.macs * batch, params=c.params, weights=c.weights, elementwise=c.elementwise * batch,
                comparisons=c.comparisons * batch, activations=c.activations * batch,
                memory=(c.memory - c.params) * batch + c.params)


def _tensor_name(steps: Sequence[Step], t: int) -> str:
    return "the input" if t < 0 else steps[t].path


def sum_rows(rows: Sequence[TrainRow], path: str, type_: str, depth: int, in_shape: Shape,
             out_shape: Shape) -> TrainRow:
    """A subtotal row over ``rows`` (leaves)."""
    fwd = Cost(*(sum(getattr(r.forward, f) for r in rows) for f in COST_FIELDS))
    return TrainRow(path, type_, type_, depth, in_shape, out_shape, fwd,
                    input_grad=any(r.input_grad for r in rows), recorded=any(r.recorded for r in rows),
                    input_macs=sum(r.input_macs for r in rows), weight_macs=sum(r.weight_macs for r in rows),
                    elementwise=sum(r.elementwise for r in rows), comparisons=sum(r.comparisons for r in rows),
                    saved_bytes=sum(r.saved_bytes for r in rows), param_tensors=sum(r.param_tensors for r in rows),
                    leaf=False)


def memory_of(totals: TrainRow, optimizer: str, dtype_bytes: int) -> Memory:
    """Parameters, gradients and optimizer state in bytes (torch.optim's state: SGD none, momentum
    one buffer per parameter, Adam/AdamW two buffers plus a float32 step counter per tensor)."""
    buffers, step = OPTIMIZERS[check_optimizer(optimizer)]
    p = totals.forward.params * dtype_bytes
    state = buffers * p + (STEP_BYTES * totals.param_tensors if step else 0)
    return Memory(activations=totals.saved_bytes, params=p, gradients=p, optimizer=state)


def train_network(spec: Any, batch: int = 1, optimizer: str = "sgd", dtype_bytes: int = 4) -> TrainResult:
    """One training step of the network ``spec`` at ``batch``: rows as the forward table's (blocks
    and groups summed), totals, and memory."""
    from costcalc.network import evaluate_network

    batch = check_batch(batch)
    check_optimizer(optimizer)
    result = evaluate_network(spec)  # validates the spec; its rows give the order and the subtotals
    steps = network_steps(spec)
    leaves = train_steps(steps, batch, dtype_bytes, {-1: (spec.input, False)})
    rows = _with_subtotals(result.rows, leaves)
    totals = sum_rows(leaves, "total", "", 0, spec.input, result.out_shape)
    return TrainResult(spec.name, batch, optimizer, dtype_bytes, rows, totals,
                       memory_of(totals, optimizer, dtype_bytes), spec.input, result.out_shape, spec)


def _with_subtotals(forward_rows: Sequence[Any], leaves: Sequence[TrainRow]) -> list[TrainRow]:
    """Interleave subtotal rows where the forward table has them. The forward rows are in
    pre-order: a block's or group's subtotal covers the rows after it that are nested deeper, so
    one pass with a stack of open subtotals sums them (linear in the rows, for 100,000 layers)."""
    fwd_leaves = [r.path for r in forward_rows if r.leaf]
    if fwd_leaves != [r.path for r in leaves]:  # both walks expand the same layers: a bug otherwise
        raise RuntimeError("training steps and forward rows disagree on the layers")
    rows: list[TrainRow] = []
    open_: list[tuple[int, Any, list[TrainRow]]] = []  # (index in rows, forward row, its leaves)

    def close() -> None:
        at, fr, members = open_.pop()
        rows[at] = sum_rows(members, fr.path, fr.type, fr.depth, fr.in_shape, fr.out_shape)

    li = 0
    for r in forward_rows:
        while open_ and open_[-1][1].depth >= r.depth:
            close()
        if r.leaf:
            rows.append(leaves[li])
            for _, _, members in open_:
                members.append(leaves[li])
            li += 1
        else:
            open_.append((len(rows), r, []))
            rows.append(None)  # type: ignore[arg-type]  # filled in by close()
    while open_:
        close()
    return rows


@dataclass
class LayerTrain:
    """``costcalc layer --mode train``: one layer's training cost as formulas and values."""

    type: str
    batch: int
    dtype_bytes: int
    formula: TrainRow
    value: TrainRow
    rows: list[TrainRow]
    notes: list[str] = field(default_factory=list)


def train_layer(report: Any, batch: int = 1, dtype_bytes: int = 4) -> LayerTrain:
    """The training cost of the layer of a :class:`costcalc.engine.LayerReport` (both worlds). On
    its own a layer is taken to sit inside a network: its inputs need gradients."""
    batch = check_batch(batch)
    out = []
    for layer, inputs, world in ((report.formula_layer, report.formula_inputs, "f"),
                                 (report.layer, report.inputs, "v")):
        steps = layer_steps(layer, tuple(inputs), report.type)
        ext = {-1 - i: (s, True) for i, s in enumerate(inputs)}
        leaves = train_steps(steps, batch if world == "v" else 1, dtype_bytes, ext, views_batch=batch)
        out.append((leaves, sum_rows(leaves, report.type, report.type, 0, inputs[0], steps[-1].out_shape)))
    notes = ["the layer's input is taken to need a gradient, as inside a network; as a network's first layer "
             "its input-gradient MACs are 0"]
    if batch != 1:
        notes.append(f"formulas per image; values at batch {batch}")
    return LayerTrain(report.type, batch, dtype_bytes, out[0][1], out[1][1], out[1][0], notes)


__all__ = [
    "Backward", "Saved", "INPUT", "OUTPUT", "backward_rule", "backward_of", "RULES", "ACTIVATION_BACKWARD",
    "Step", "network_steps", "layer_steps", "train_steps", "train_network", "train_layer", "TrainRow",
    "TrainResult", "Memory", "OPTIMIZERS", "MAX_BATCH", "TrainingError", "check_batch", "check_optimizer",
]
