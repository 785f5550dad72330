"""costcalc descriptions as PyTorch modules, and PyTorch's own counts of them.

:func:`to_torch` turns a layer, a block or a network spec into the equivalent ``torch.nn.Module``
(DESIGN.md §1: costcalc's ``params`` are defined as ``sum(p.numel())`` of this module, its ``macs``
as ``FlopCounterMode`` total / 2). :func:`verify_layer` and :func:`verify_network` run one forward
pass on a zero tensor under ``torch.utils.flop_counter.FlopCounterMode`` and compare, row by row,
costcalc's numbers with PyTorch's.

Blocks are not translated by hand: a *tracing* :class:`~costcalc.layers.base.Builder` runs the
block's own ``build`` and records which earlier output each child consumes, which gives a dataflow
graph that :class:`BlockModule` replays. A new block type therefore needs no code here.

Every module that corresponds to a costcalc row carries that row's path in ``costcalc_path``.
The modules keep costcalc's shape model: tensors stay 4-D (N, C, H, W) throughout; ``fc`` flattens
its input and returns ``(1, M, 1, 1)``, costcalc's 1×1×M. A whole network whose last layer is an
``fc`` returns ``(1, M)`` like torchvision's classifiers.

PyTorch is an optional dependency: this module imports it at import time, so only
``costcalc verify`` and its tests import this module.
"""

from __future__ import annotations

import functools
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
    Add,
    BatchNorm,
    ChannelShuffle,
    ChannelSplit,
    Concat,
    PadShortcut,
    Pool,
)
from costcalc.num import is_int


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
    k, s, d = (_int(layer, f, getattr(layer, f)) for f in ("K", "S", "D"))
    p = d * (k - 1) // 2 if layer.P is None else _int(layer, "P", layer.P)
    return nn.Conv2d(n, m, k, stride=s, padding=p, dilation=d, groups=g, bias=bool(layer.bias))


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
    "hardsigmoid": nn.Hardsigmoid,
}


@_leaf.register
def _(layer: Activation, *inputs: Shape) -> nn.Module:
    try:
        return ACTIVATION_MODULES[layer.kind]()
    except KeyError:
        raise VerifyError(f"no PyTorch equivalent for activation {layer.kind!r}") from None


@_leaf.register
def _(layer: Pool, *inputs: Shape) -> nn.Module:
    if layer.glob:
        return nn.AdaptiveMaxPool2d(1) if layer.mode == "max" else nn.AdaptiveAvgPool2d(1)
    k = _int(layer, "K", layer.K)
    s = k if layer.S is None else _int(layer, "S", layer.S)
    p = _int(layer, "P", layer.P)
    return nn.MaxPool2d(k, s, p) if layer.mode == "max" else nn.AvgPool2d(k, s, p)


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
    (-1: the network input) whose outputs follow the previous output as extra inputs (add/concat)."""

    def __init__(self, names: Sequence[str], modules: Sequence[nn.Module],
                 sources: Sequence[tuple[int, ...]], name: str = "network", flatten: bool = False):
        super().__init__()
        self.layers = nn.ModuleDict({module_name(n): m for n, m in zip(names, modules)})
        self.order = [module_name(n) for n in names]
        self.sources = [tuple(s) for s in sources]
        self.spec_name = name
        #: a classifier (last layer fc) returns (N, M) logits, as torchvision's models do
        self.flatten = flatten

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        y = x
        for key, src in zip(self.order, self.sources):
            extra = [x if i < 0 else outs[i] for i in src]
            y = self.layers[key](y, *extra)
            outs.append(y)
        return y.flatten(1) if self.flatten else y


def _network_inputs(spec: Any) -> list[tuple[tuple[Shape, ...], tuple[int, ...]]]:
    """For each layer of ``spec``: its input shapes and the indices of its extra sources."""
    index: dict[str, int] = {"input": -1}
    shapes: dict[int, Shape] = {-1: spec.input}
    prev: Shape = spec.input
    result = []
    for i, nl in enumerate(spec.layers):
        src: tuple[int, ...] = ()
        if nl.sources:
            try:
                src = tuple(index[s] for s in nl.sources)
            except KeyError as e:
                raise VerifyError(f"{nl.path}: unknown source {e.args[0]!r}") from None
        inputs = (prev, *(shapes[j] for j in src))
        prev = nl.layer.out_shape(*inputs)
        shapes[i] = prev
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
        last = obj.layers[-1].layer if obj.layers else None
        return NetworkModule([nl.path for nl in obj.layers], mods, [s for _, s in plan],
                             getattr(obj, "name", "network"), flatten=isinstance(last, FC))
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
