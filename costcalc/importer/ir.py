"""The graph an importer builds: costcalc layers over the framework's tensors, before it is a spec.

Both front ends (:mod:`~costcalc.importer.torch_import`, :mod:`~costcalc.importer.onnx_import`) walk
their framework's graph in execution order and, for every operator, either

- emit an :class:`Op` (one costcalc layer: a registered type, its fields, the tensors it takes),
- fold it into the op that produced its input (BatchNorm and an activation after a convolution:
  ``conv`` with ``bn: true, act: relu`` is exactly conv → BatchNorm → ReLU),
- alias its output to its input (dropout at inference, ``contiguous``, a flatten before an ``fc``:
  costcalc's shapes are H × W × C and ``fc`` reads all H·W·C of them), or
- record it as :class:`Unsupported` (an operator costcalc has no rule for: never a silent zero).

Each op carries its *scope*, the module path it ran in (``layer1.0``), which becomes the spec's
group nesting, and the framework's shape of its output, which checks costcalc's own shape rules
(:func:`check_shapes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from costcalc.errors import CostcalcError
from costcalc.num import to_sympy

#: activations costcalc can append to a convolution (``act:``) and has as layers of their own
ACTIVATION_TYPES = ("relu", "relu6", "hardswish", "hardsigmoid", "sigmoid", "silu", "gelu", "tanh")


#: seconds a trace with a dynamic input size may take before the import traces at the fixed size
#: instead (PyTorch's symbolic shape solver can take hours on some models, MaxViT's window grids)
EXPORT_TIMEOUT = 300.0

#: ``package.module:callable`` (the callable may be a dotted attribute path)
TARGET = re.compile(r"^(?P<module>[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):(?P<attr>[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)$")


def is_target(text: str) -> bool:
    """Whether ``text`` looks like ``package.module:callable``."""
    return bool(TARGET.match(text))


class ImportFailure(CostcalcError):
    """A model costcalc cannot import: the message names the operator, node and shapes (exit 1)."""


class ImportUsageError(CostcalcError):
    """A SOURCE argument or option that cannot be used (exit 2)."""

    exit_code = 2


@dataclass(eq=False)
class Tensor:
    """A tensor of the framework's graph: its shape, batch first (``(1, C, H, W)`` or ``(1, F)``;
    ints or sympy expressions in the framework's size symbols), and the op that produced it
    (``None``: the network input)."""

    shape: tuple[Any, ...]
    producer: Op | None = None


@dataclass(eq=False)
class Op:
    """One costcalc layer: ``type`` with ``fields``, consuming ``inputs``, producing ``output``.
    ``scope`` is the module path it ran in; ``name`` its name there; ``source`` the framework
    operators it stands for (for messages)."""

    type: str
    fields: dict[str, Any]
    inputs: list[Tensor]
    output: Tensor
    scope: tuple[str, ...]
    name: str
    source: str
    #: the module of the convolution itself, when BatchNorm/activation folds moved the op up to a
    #: common module (what later folds are related to)
    anchor: tuple[str, ...] | None = None

    @property
    def path(self) -> str:
        return ".".join((*self.scope, self.name))


@dataclass(frozen=True)
class Unsupported:
    """An operator costcalc has no rule for, where it is and what it touched."""

    op: str
    node: str
    where: str
    inputs: tuple[str, ...]
    output: str
    reason: str = ""

    def describe_node(self) -> str:
        """``node`` in ``where``, ``inputs → output`` shapes."""
        at = f" in {self.where}" if self.where else ""
        return f"{self.node}{at}: {', '.join(self.inputs) or 'no tensor inputs'} → {self.output}"


@dataclass
class Graph:
    """What a front end builds. ``ops`` in execution order; ``output`` the model's output tensor."""

    input: Tensor
    ops: list[Op] = field(default_factory=list)
    output: Tensor | None = None
    unsupported: list[Unsupported] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the spec's ``input: [H, W, C]`` (sizes as the spec variables' symbols); None: from ``input``
    spec_input: list[Any] | None = None

    def emit(self, type_: str, fields: Mapping[str, Any], inputs: Sequence[Tensor], shape: tuple[Any, ...],
             scope: tuple[str, ...], name: str, source: str) -> Tensor:
        """Add a layer; returns its output tensor."""
        out = Tensor(tuple(shape))
        op = Op(type_, dict(fields), list(inputs), out, scope, name, source)
        out.producer = op
        self.ops.append(op)
        return out

    def fold_post(self, x: Tensor, what: str, value: Any, scope: tuple[str, ...], sole_consumer: bool,
                  source: str) -> Tensor | None:
        """Fold a BatchNorm (``what="bn"``) or an activation (``what="act"``, ``value`` its name)
        into the convolution that produced ``x``, if that is exact: ``x`` is a conv's output used
        only here, in the same module or a sibling module (the conv's module's parent), and the conv
        has no activation yet (a BatchNorm folds only before the activation). Returns the new output
        tensor (the conv's), or None when it does not fold."""
        op = x.producer
        if op is None or not sole_consumer or op.type not in CONV_TYPES:
            return None
        if op.fields.get("act") or (what == "bn" and op.fields.get("bn")):
            return None
        anchor = op.anchor if op.anchor is not None else op.scope
        if not _related(anchor, scope):
            return None
        op.fields[what] = True if what == "bn" else value
        op.source += f" + {source}"
        # the layer now stands for ops in both modules: it belongs to their common module
        common = _common(op.scope, scope)
        if len(op.scope) > len(common):
            op.anchor = anchor
            op.name = op.scope[len(common)]
            op.scope = common
        return x


#: the conv types a BatchNorm and an activation fold into (``bn``/``act`` post-ops)
CONV_TYPES = ("conv", "pointwise", "grouped", "depthwise")


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _related(conv_scope: tuple[str, ...], scope: tuple[str, ...]) -> bool:
    """Whether an op in ``scope`` may fold into a conv in ``conv_scope``: the same module, the
    conv's module's parent, or a sibling of the conv's module (``features.0.0`` conv,
    ``features.0.1`` BatchNorm). Never across blocks: the last conv of one block and the first
    BatchNorm of the next stay apart, so every block keeps its own layers."""
    parent = conv_scope[:-1]
    return scope == conv_scope or scope == parent or (len(scope) == len(conv_scope) and scope[:-1] == parent)


# ----------------------------------------------------------------------------------------------
# Sizes: the framework's symbols as spec expressions


@dataclass(frozen=True)
class SizeVars:
    """How the framework's size symbols appear in the spec: ``names`` maps each symbol (by its
    string) to a spec variable; ``defaults`` gives each variable's default value."""

    names: Mapping[str, str]
    defaults: Mapping[str, int]

    def concrete(self, v: Any) -> int:
        """``v`` at the defaults (the size the model was traced at)."""
        if isinstance(v, int):
            return v
        subs = {s: self.defaults[self.names[str(s)]] for s in v.free_symbols}
        return int(v.subs(subs))

    def text(self, v: Any) -> Any:
        """``v`` as a spec value: an int, or expression text over the spec variables."""
        if isinstance(v, int):
            return v
        try:
            return int(v)
        except TypeError:
            pass
        return expr_text(v, self.names)


def expr_text(e: Any, names: Mapping[str, str]) -> str:
    """A sympy size expression (with torch's ``FloorDiv``/``CeilDiv``) as spec expression text
    (``(resolution - 1)//2 + 1``). Only integer arithmetic appears in shapes; anything else is an
    :class:`ImportFailure`, never a guess."""
    import sympy

    fn = type(e).__name__
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        if str(e) not in names:
            raise ImportFailure(f"size symbol {e} is not one of the input's sizes")
        return names[str(e)]
    if e.is_Add:
        parts = [expr_text(a, names) for a in e.args]
        out = parts[0]
        for p in parts[1:]:
            out += f" - {p[1:]}" if p.startswith("-") else f" + {p}"
        return f"({out})"
    if e.is_Mul:
        return "*".join(_atom(expr_text(a, names)) for a in e.args)
    if fn in ("FloorDiv", "floor_div"):
        a, b = e.args
        return f"({_atom(expr_text(a, names))}//{_atom(expr_text(b, names))})"
    if fn == "CeilDiv" or fn == "IntTrueDiv":
        a, b = e.args
        return f"(-((-{_atom(expr_text(a, names))})//{_atom(expr_text(b, names))}))"
    if isinstance(e, sympy.Rational):
        return f"({e.p}/{e.q})"
    raise ImportFailure(f"size expression {e} ({fn}) cannot be written in a spec")


def _atom(s: str) -> str:
    return s if s.replace("_", "").isalnum() or (s.startswith("(") and s.endswith(")")) else f"({s})"


# ----------------------------------------------------------------------------------------------
# Op tables: one entry per operator, so a new costcalc type is one new line


#: handler signature shared by the front ends: (context, framework node) -> None
Handler = Callable[[Any, Any], None]


def pair(v: Sequence[int] | int) -> int | list[int]:
    """A kernel/stride/padding/dilation as a spec value: one number when square, else [h, w]."""
    if isinstance(v, (list, tuple)):
        if len(v) == 1 or v[0] == v[1]:
            return int(v[0])
        return [int(v[0]), int(v[1])]
    return int(v)


def shape_text(shape: Sequence[Any]) -> str:
    return "×".join(str(s) for s in shape)


def conv_fields(*, n: int, m: int, k: Sequence[int], s: Sequence[int], p: Sequence[int], d: Sequence[int],
                g: int, bias: bool) -> tuple[str, dict[str, Any]]:
    """The costcalc type and fields of a 2-D convolution (PyTorch's Conv2d arguments):
    ``depthwise`` when G = N = M, ``grouped`` when 1 < G, ``pointwise`` for an unpadded 1×1,
    else ``conv``. Fields equal to costcalc's defaults are left out (padding defaults to
    D·(K−1)//2, "same")."""
    kk, ss, pp, dd = pair(k), pair(s), pair(p), pair(d)
    fields: dict[str, Any] = {}
    if g == n and m == n and g > 1:
        type_ = "depthwise"
    elif g > 1:
        type_ = "grouped"
        fields["M"] = m
        fields["G"] = g
    elif kk == 1 and pp == 0:
        type_ = "pointwise"
        fields["M"] = m
    else:
        type_ = "conv"
        fields["M"] = m
    if type_ != "pointwise":
        if kk != 3:
            fields["K"] = kk
    if ss != 1:
        fields["S"] = ss
    if type_ != "pointwise":
        same = [dd_ * (k_ - 1) // 2 for dd_, k_ in zip(_two(d), _two(k))]
        if list(_two(p)) != same:
            fields["P"] = pp
        if dd != 1:
            fields["D"] = dd
    if bias:
        fields["bias"] = True
    return type_, fields


def _two(v: Sequence[int] | int) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1]))
    return (int(v), int(v))


def needs_pairs(*values: Any) -> bool:
    """Whether any of the values is a non-square [h, w] pair."""
    return any(isinstance(v, list) for v in values)


# ----------------------------------------------------------------------------------------------
# Views: how a front end follows a tensor through reshapes


@dataclass
class View:
    """A tensor as the framework's graph sees it: the costcalc tensor behind it, the framework's
    shape of this view (batch first), and whether costcalc's H×W×C differs from this view's layout
    (``flat``: a flattened spatial map, which only ``fc`` and elementwise layers read correctly)."""

    tensor: Tensor
    shape: tuple[Any, ...]
    flat: bool = False
    #: a 4-D view in channels-last order (1, H, W, C): ConvNeXt's permuted blocks
    cl: bool = False

    @property
    def tokens(self) -> bool:
        """A (1, L, D) token sequence: costcalc's L × 1 × D."""
        return len(self.shape) == 3 and not self.flat


@dataclass
class Shuffle:
    """A channel shuffle in progress: reshape (1, C, H, W) → (1, G, C/G, H, W) [stage 1],
    transpose of the two channel axes [stage 2], reshape back → ``channel_shuffle`` with G."""

    src: View
    groups: int
    stage: int
    node: str


#: input sizes at which two size expressions are compared when sympy cannot prove them equal
SAMPLES = tuple(range(1, 130)) + (224, 225, 255, 256, 299, 300, 384, 512, 600, 1023, 1024)


def same_size(a: Any, b: Any) -> bool:
    """Whether two sizes (ints or sympy expressions in the input size) are equal. PyTorch writes one
    size in several floor forms (``(H − 1)//2 + 1`` and ``(H + 1)//2``) that sympy cannot always
    prove equal; those are compared at every input size in :data:`SAMPLES` (each symbol alone and
    all together), where two different floor expressions of the small strides of a network differ."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    try:
        import sympy

        ea, eb = to_sympy(a), to_sympy(b)
        if sympy.simplify(ea - eb) == 0:
            return True
        symbols = sorted(ea.free_symbols | eb.free_symbols, key=str)
        if not symbols:
            return False
        for v in SAMPLES:
            for chosen in ([{s: v for s in symbols}] + [{s: v if s == t else v + 1 for s in symbols} for t in symbols]):
                if ea.subs(chosen) != eb.subs(chosen):
                    return False
        return True
    except Exception:  # noqa: BLE001 - different kinds of object: not equal
        return False


def same_shape(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return len(a) == len(b) and all(same_size(u, v) for u, v in zip(a, b))


def is_gate(shape: Sequence[Any]) -> bool:
    """A (1, C, 1, 1) tensor: a squeeze-and-excitation gate."""
    return len(shape) == 4 and all(isinstance(s, int) and s == 1 for s in shape[2:])


def reshape(v: View | Shuffle, out: tuple[Any, ...], node: str,
            show: Callable[[Sequence[Any]], Sequence[Any]] = tuple) -> View | Shuffle | str:
    """What a reshape of ``v`` to ``out`` is to costcalc: the same tensor (a no-op, a flatten to
    (1, F), an unflatten of (1, C) to (1, C, 1, 1)), a step of a channel shuffle, or — as text —
    why costcalc cannot follow it. The finished shuffle is the caller's to emit (a Shuffle at
    stage 3). ``show`` turns a shape into what a message shows (its numbers at the traced size)."""
    if isinstance(v, Shuffle):
        if v.stage == 2 and same_shape(out, v.src.shape):
            return Shuffle(v.src, v.groups, 3, v.node)
        return f"a reshape to {len(v.src.shape) + 1}-D that is not a channel shuffle (node {v.node})"
    if same_shape(out, v.shape):
        return v
    if len(out) == 2 and out[0] == 1:
        spatial = len(v.shape) == 4 and not is_gate(v.shape)
        return View(v.tensor, tuple(out), v.flat or spatial)
    if len(v.shape) == 4 and len(out) == 5 and not v.flat and isinstance(out[1], int) and out[1] > 1 \
            and same_size(out[1] * out[2], v.shape[1]) and same_size(out[3], v.shape[2]) \
            and same_size(out[4], v.shape[3]):
        return Shuffle(v, int(out[1]), 1, node)
    if len(v.shape) == 2 and len(out) == 4 and not v.flat and same_size(out[1], v.shape[1]) \
            and out[2] == 1 and out[3] == 1:
        return View(v.tensor, tuple(out))
    return f"a reshape from {shape_text(show(v.shape))} to {shape_text(show(out))}"


def transpose(v: Any, perm: Sequence[int]) -> Shuffle | str:
    """A transpose is costcalc's only as the middle step of a channel shuffle."""
    if isinstance(v, Shuffle) and v.stage == 1 and list(perm) == [0, 2, 1, 3, 4]:
        return Shuffle(v.src, v.groups, 2, v.node)
    return "a transpose that is not part of a channel shuffle"


# ----------------------------------------------------------------------------------------------
# Whole-pattern folds, applied to the finished graph


#: the gates a squeeze-and-excitation ends with (costcalc's ``se`` type)
SE_GATES = ("sigmoid", "hardsigmoid")


def fold_se(graph: Graph) -> int:
    """Squeeze-and-excitation as one ``se`` layer where the match is exact: global average pool of
    x → 1×1 conv N→B with an activation → 1×1 conv B→N with a sigmoid or hard-sigmoid → x times the
    gate, each intermediate used only there, with biases on both convs or on neither. The four ops
    become one, in their common module; costcalc's ``se`` expands into the same layers (pool, conv,
    activation, conv, gate, channel multiply), so every count is unchanged. Returns how many were
    folded."""
    uses: dict[int, int] = {}
    for op in graph.ops:
        for t in op.inputs:
            uses[id(t)] = uses.get(id(t), 0) + 1
    if graph.output is not None:
        uses[id(graph.output)] = uses.get(id(graph.output), 0) + 1
    drop: set[int] = set()
    folded = 0
    for m in graph.ops:
        if m.type != "mul" or len(m.inputs) != 2:
            continue
        x, g = m.inputs
        f2 = g.producer
        f1 = f2.inputs[0].producer if f2 is not None and f2.inputs else None
        p = f1.inputs[0].producer if f1 is not None and f1.inputs else None
        if p is None or f1 is None or f2 is None or p.type != "global_avgpool" or p.inputs[0] is not x:
            continue
        if f1.type != "pointwise" or f2.type != "pointwise" or f2.fields.get("act") not in SE_GATES:
            continue
        if any(f.fields.get(k) for f in (f1, f2) for k in ("bn", "S", "G")) or not f1.fields.get("act"):
            continue
        if bool(f1.fields.get("bias")) != bool(f2.fields.get("bias")):
            continue
        if any(uses.get(id(t)) != 1 for t in (p.output, f1.output, f2.output)):
            continue
        fields = {"B": f1.fields["M"], "act": f1.fields["act"], "gate": f2.fields["act"]}
        if not f1.fields.get("bias"):
            fields["bias"] = False
        scope = _common(_common(p.scope, f1.scope), _common(f2.scope, m.scope))
        m.type, m.fields, m.inputs, m.scope, m.name = "se", fields, [x], scope, "se"
        m.source = f"{p.source} + {f1.source} + {f2.source} + {m.source}"
        drop.update(id(o) for o in (p, f1, f2))
        folded += 1
    graph.ops = [op for op in graph.ops if id(op) not in drop]
    return folded
