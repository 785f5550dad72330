"""Layer descriptors, the block builder, and the type registry.

A *leaf* layer (conv, batchnorm, add, ...) knows its output shape and its :class:`~costcalc.cost.Cost`.
A *block* (separable, bottleneck, ...) knows how it expands into named children; its cost is the
sum of theirs. Both are small frozen dataclasses whose fields are the layer's dimensions, named by
the dimension symbols of the README (``M`` output channels, ``K`` kernel, ``S`` stride, ``G`` groups, ...).

Every type is registered by name with :func:`register`; variants are registrations of one class
with some fields fixed (``pointwise`` is ``conv`` with ``K=1``), never copies of code.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, ClassVar, Mapping, NamedTuple

from costcalc.cost import Cost, Shape
from costcalc.errors import CostcalcError
from costcalc.num import Num, is_int, is_symbolic


class DimError(CostcalcError):
    """A dimension value that the layer cannot accept. The boundary (CLI option, spec line) adds
    where it came from; ``field`` and ``value`` say what."""

    def __init__(self, field_name: str, value: Any, reason: str) -> None:
        self.field = field_name
        self.value = value
        self.reason = reason
        super().__init__(f"{field_name}={_show(value)}: {reason}")


def _show(v: Any) -> str:
    return str(v)


# ----------------------------------------------------------------------------------------------
# Field helpers: every field carries its documentation and whether it is a symbolic dimension.


def dim(default: Any = MISSING, doc: str = "", *, minimum: int = 1, symbol: bool = True,
        unit_default: bool = False, pair: bool = False, structural: bool = False) -> Any:
    """A dimension field (a positive int or a sympy expression). ``symbol=True`` marks the
    dimensions that appear as symbols in formulas (M, K, G, T, B); structural ones (stride,
    padding, dilation) stay at their given value in formulas. ``unit_default=True`` (the ``M`` of
    residual units) means that when not given, the default (``None``: as many channels as the
    input) is used in formulas too, so a unit's formula is the repeated unit's, N in = N out.
    ``pair=True``: a window dimension that may differ along height and width, given as
    ``(h, w)`` (``K: [1, 7]`` in a spec); equal values collapse to one. ``structural=True``: the
    value decides which layers the block has (a stride-1 unit adds its input, a stride-2 unit
    concatenates), so it must be a number in every world: a symbol is an error, never a guess."""
    meta = {"doc": doc, "kind": "dim", "minimum": minimum, "symbol": symbol, "unit_default": unit_default,
            "pair": pair, "structural": structural}
    return field(default=default, metadata=meta)


def opt(default: Any, doc: str = "", *, choices: tuple[Any, ...] | None = None, kind: str = "bool") -> Any:
    """A non-numeric option (bias on/off, activation name, where the stride sits)."""
    return field(default=default, metadata={"doc": doc, "kind": kind, "choices": choices})


@functools.lru_cache(maxsize=None)
def _dim_fields(cls: type) -> tuple[tuple[str, int, bool], ...]:
    """(name, minimum, pair) of the dimension fields of a layer class (computed once per class: a
    spec with ``repeat: 100000`` builds that many layers)."""
    return tuple((f.name, f.metadata["minimum"], bool(f.metadata.get("pair")))
                 for f in fields(cls) if f.metadata.get("kind") == "dim")


def _check_dim(name: str, v: Any, minimum: int) -> None:
    if isinstance(v, bool) or not (is_int(v) or is_symbolic(v)) or (is_int(v) and v < minimum):
        raise DimError(name, v, "must be a positive integer" if minimum else "must be a non-negative integer")


class Layer:
    """Base of all layer and block descriptors (frozen dataclasses)."""

    #: number of input tensors (2 for add/concat)
    arity: ClassVar[int] = 1
    #: set by :func:`register` on the class for its first registered name
    type_name: ClassVar[str] = "?"

    def __post_init__(self) -> None:
        for name, minimum, pair in _dim_fields(type(self)):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, (tuple, list)):
                if not pair or len(v) != 2:
                    raise DimError(name, list(v), "must be one number" if not pair else
                                   "must be one number or [height, width]")
                for part in v:
                    _check_dim(name, part, minimum)
                # [3, 3] is 3: one layer, one row label, one formula
                object.__setattr__(self, name, v[0] if v[0] == v[1] else tuple(v))
                continue
            _check_dim(name, v, minimum)

    def check(self, *inputs: Shape) -> None:
        """Raise :class:`DimError` if this layer cannot take these inputs."""

    def out_shape(self, *inputs: Shape) -> Shape:
        raise NotImplementedError

    def standalone_inputs(self, x: Shape, extra_channels: Num) -> tuple[Shape, ...]:
        """Inputs for evaluating this layer on its own (``costcalc layer``): one tensor of shape
        ``x``; multi-input layers override this."""
        return (x,)

    @property
    def category(self) -> str:
        """Label for the by-type breakdown (MobileNet Table 2 style)."""
        return self.type_name


class Leaf(Layer):
    def cost(self, *inputs: Shape) -> Cost:
        raise NotImplementedError


class Node(NamedTuple):
    name: str
    layer: Layer
    inputs: tuple[Shape, ...]
    out: Shape


class Builder:
    """Collects a block's children in order while propagating shapes.

    ``y = b("conv1", Conv(M=64, K=1), x)`` checks the child, records it, and returns its output
    shape, so a block's ``expand`` reads like the paper's figure.
    """

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def __call__(self, name: str, layer: Layer, *inputs: Shape) -> Shape:
        try:
            layer.check(*inputs)
            out = layer.out_shape(*inputs)
        except DimError as e:
            raise DimError(f"{name}.{e.field}", e.value, e.reason) from None
        self.nodes.append(Node(name, layer, inputs, out))
        return out


class Block(Layer):
    """A layer made of named children. Subclasses implement :meth:`build`."""

    def build(self, b: Builder, x: Shape) -> None:
        raise NotImplementedError

    def expand(self, x: Shape) -> tuple[Node, ...]:
        return _expand(self, x)

    def out_shape(self, *inputs: Shape) -> Shape:
        return self.expand(inputs[0])[-1].out


@functools.lru_cache(maxsize=8192)
def _expand(block: Block, x: Shape) -> tuple[Node, ...]:
    b = Builder()
    block.build(b, x)
    return tuple(b.nodes)


# ----------------------------------------------------------------------------------------------
# The registry.


@dataclass(frozen=True)
class LayerType:
    """A registered layer or block type: a class plus fixed field values."""

    name: str
    cls: type
    summary: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()
    #: fields a spec must give (the CLI gives every dimension, as a number or a symbol)
    required: tuple[str, ...] = ()
    #: accepts ``bn``/``act`` options that append BatchNorm and an activation
    post_ops: bool = False

    @property
    def params(self) -> tuple[str, ...]:
        """Deprecated name of :attr:`fields`."""
        return self.fields

    @functools.cached_property
    def fields(self) -> tuple[str, ...]:
        """Field names a user may set for this type (computed once: the registry is fixed)."""
        names = [f.name for f in fields(self.cls) if f.name not in self.fixed and f.name not in self.hidden
                 and f.metadata.get("kind") != "internal"]
        if self.post_ops:
            names += ["bn", "act"]
        return tuple(names)

    def field_info(self, name: str) -> Mapping[str, Any]:
        if name in self._metadata:
            return self._metadata[name]
        if name == "bn":
            return _BN_INFO
        if name == "act":
            return _act_info()
        return self._metadata[name]

    @functools.cached_property
    def _metadata(self) -> Mapping[str, Mapping[str, Any]]:
        return {f.name: f.metadata for f in fields(self.cls)}

    def default(self, name: str) -> Any:
        for f in fields(self.cls):
            if f.name == name:
                return None if f.default is MISSING else f.default
        return None

    def is_symbol(self, name: str) -> bool:
        """Whether ``name`` appears as a symbol in this type's formulas: dimensions marked as
        symbols (M, K, T, B, ...) and the fields this type requires (G of ``grouped``)."""
        if name not in self.fields:
            return False
        return name in self.required or bool(self.field_info(name).get("symbol"))

    @property
    def doc(self) -> str:
        return (self.cls.__doc__ or "").strip()

    def bind(self, **values: Any) -> Layer:
        """The one way user input becomes a layer (a spec item, ``costcalc layer`` options, a
        ``derive`` call, ``verify --type``, the Python API): check every value against its field's
        descriptor (kind, minimum, choices, structural), then build. Values are already numbers,
        symbols, booleans or text; a field not given takes its documented default. Errors are
        :class:`DimError` naming the field and the value; the caller adds where it came from."""
        allowed = self.fields
        for k, v in values.items():
            if k not in allowed:
                raise DimError(k, v, f"not a field of {self.name}{suggest(k, allowed)}; "
                               f"fields: {', '.join(allowed) or 'none'}")
            values[k] = self._checked(k, v)
        for k in self.required:
            if values.get(k) is None:
                raise DimError(k, "missing", f"{self.name} needs {k} ({self.field_info(k).get('doc', '')})")
        if "variant" in self._metadata and "variant" not in self.fixed:
            values["variant"] = self.name  # the row shows the type the user wrote
        if not self.post_ops:
            return self.cls(**{**self.fixed, **values})
        bn = values.pop("bn", False)
        act = values.pop("act", None)
        layer = self.cls(**{**self.fixed, **values})
        if bn or act:
            from costcalc.layers.primitives import Activation, BatchNorm, Sequential

            steps: list[tuple[str, Layer]] = [(layer.type_name, layer)]
            if bn:
                steps.append(("bn", BatchNorm()))
            if act:
                steps.append((str(act), Activation.named(str(act))))
            return Sequential(tuple(steps), name=self.name)
        return layer

    #: the former name of :meth:`bind`
    make = bind

    def _checked(self, name: str, v: Any) -> Any:
        info = self.field_info(name)
        kind = info.get("kind")
        if v is None:
            if self.default(name) is None:
                return None  # null is "the default" where the default is "none / from the input"
            raise DimError(name, "null", f"give a value or leave the field out (default {self.default(name)})")
        if kind == "dim":
            from fractions import Fraction

            if isinstance(v, Fraction):
                if v.denominator != 1:
                    raise DimError(name, f"{float(v):g}", "is not an integer")
                v = int(v)
            if info.get("structural") and is_symbolic(v):
                raise DimError(name, v, f"decides the structure of {self.name} ({info.get('doc', '')}); "
                               "give it as a number")
            return v  # numbers and symbols are checked by the layer itself (minimum, [h, w])
        if kind == "bool":
            if not isinstance(v, bool):
                raise DimError(name, v, "must be true or false")
            return v
        if not isinstance(v, str):
            raise DimError(name, v, "must be text")
        choices = info.get("choices")
        if choices and v not in choices:
            raise DimError(name, v, f"must be one of {', '.join(map(str, choices))}{suggest(v, choices)}")
        return v


_BN_INFO: Mapping[str, Any] = {"doc": "follow with BatchNorm", "kind": "bool"}


@functools.lru_cache(maxsize=1)
def _act_info() -> Mapping[str, Any]:
    """The ``act`` option's metadata (made once: it is read for every field of every layer)."""
    from costcalc.layers.primitives import ACTIVATIONS

    return {"doc": f"follow with an activation ({', '.join(ACTIVATIONS)})", "kind": "str"}


REGISTRY: dict[str, LayerType] = {}


def register(name: str, summary: str, **fixed: Any) -> Callable[[type], type]:
    """Class decorator: register ``cls`` under ``name`` with ``fixed`` field values.

    Special keys: ``hidden`` (fields not settable for this type), ``required`` (fields a spec
    must give), ``post_ops`` (accepts ``bn`` and
    ``act`` options that append BatchNorm / an activation).
    """
    hidden = tuple(fixed.pop("hidden", ()))
    required = tuple(fixed.pop("required", ()))
    post_ops = bool(fixed.pop("post_ops", False))

    def deco(cls: type) -> type:
        if name in REGISTRY:
            raise ValueError(f"layer type {name!r} registered twice")
        REGISTRY[name] = LayerType(name, cls, summary, dict(fixed), hidden, required, post_ops)
        if "type_name" not in cls.__dict__:
            cls.type_name = name  # type: ignore[attr-defined]
        return cls

    return deco


def suggest(name: str, options: Any) -> str:
    import difflib  # only an error message needs it

    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


#: every registered type name → the module that registers it, in the order ``costcalc types`` lists
#: them. Looking a type up imports only its module (``conv`` and ``bottleneck`` need three of the seven:
#: importing all of them was a third of ``costcalc net``'s start-up); :func:`all_types` imports them
#: all. Extend by adding a line here for each new type (``tests/test_perf_paths.py`` checks that this
#: table is exactly what importing every layer module registers).
TYPE_MODULES: dict[str, str] = {
    "conv": "costcalc.layers.conv",
    "pointwise": "costcalc.layers.conv",
    "grouped": "costcalc.layers.conv",
    "depthwise": "costcalc.layers.conv",
    "fc": "costcalc.layers.conv",
    "batchnorm": "costcalc.layers.primitives",
    "relu": "costcalc.layers.primitives",
    "relu6": "costcalc.layers.primitives",
    "hardsigmoid": "costcalc.layers.primitives",
    "hardswish": "costcalc.layers.primitives",
    "sigmoid": "costcalc.layers.primitives",
    "silu": "costcalc.layers.primitives",
    "gelu": "costcalc.layers.primitives",
    "tanh": "costcalc.layers.primitives",
    "softmax": "costcalc.layers.primitives",
    "maxpool": "costcalc.layers.primitives",
    "avgpool": "costcalc.layers.primitives",
    "global_avgpool": "costcalc.layers.primitives",
    "global_maxpool": "costcalc.layers.primitives",
    "adaptive_avgpool": "costcalc.layers.primitives",
    "adaptive_maxpool": "costcalc.layers.primitives",
    "add": "costcalc.layers.primitives",
    "mul": "costcalc.layers.primitives",
    "concat": "costcalc.layers.primitives",
    "channel_shuffle": "costcalc.layers.primitives",
    "channel_split": "costcalc.layers.primitives",
    "pad_shortcut": "costcalc.layers.primitives",
    "unknown": "costcalc.layers.primitives",
    "separable": "costcalc.layers.blocks",
    "bottleneck": "costcalc.layers.blocks",
    "resnext": "costcalc.layers.blocks",
    "basic": "costcalc.layers.blocks",
    "shufflenet_unit": "costcalc.layers.blocks",
    "inverted_residual": "costcalc.layers.blocks",
    "shufflenet_v2_unit": "costcalc.layers.blocks",
    "se": "costcalc.layers.mobile",
    "mbconv": "costcalc.layers.mobile",
    "fused_mbconv": "costcalc.layers.mobile",
    "ghost": "costcalc.layers.mobile",
    "ghost_bottleneck": "costcalc.layers.mobile",
    "layernorm": "costcalc.layers.norm",
    "groupnorm": "costcalc.layers.norm",
    "linear": "costcalc.layers.transformer",
    "tokens": "costcalc.layers.transformer",
    "class_token": "costcalc.layers.transformer",
    "pos_embed": "costcalc.layers.transformer",
    "select_token": "costcalc.layers.transformer",
    "patch_embed": "costcalc.layers.transformer",
    "attention": "costcalc.layers.transformer",
    "mlp": "costcalc.layers.transformer",
    "encoder_block": "costcalc.layers.transformer",
    "window_attention": "costcalc.layers.windowed",
    "patch_merging": "costcalc.layers.windowed",
    "partition_attention": "costcalc.layers.windowed",
    "conv_transpose": "costcalc.layers.modern",
    "upsample": "costcalc.layers.modern",
    "layer_scale": "costcalc.layers.modern",
    "regnet_x": "costcalc.layers.modern",
    "regnet_y": "costcalc.layers.modern",
    "convnext_block": "costcalc.layers.modern",
    "convnext_downsample": "costcalc.layers.modern",
    "repvgg": "costcalc.layers.modern",
}


def get_type(name: str) -> LayerType:
    """The registered type ``name``; unknown names raise with the closest valid names (among all
    types: the suggestion loads every module)."""
    lt = REGISTRY.get(name)
    if lt is not None:
        return lt
    module = TYPE_MODULES.get(name)
    if module is not None:
        importlib.import_module(module)
        lt = REGISTRY.get(name)
        if lt is not None:
            return lt
    _load()
    try:
        return REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(REGISTRY), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else \
            "`costcalc types` lists the known types"
        raise CostcalcError(f"unknown layer type {name!r} ({hint})") from None


def all_types() -> dict[str, LayerType]:
    """Every registered type (imports every layer module), in :data:`TYPE_MODULES`' order whatever
    order the modules were loaded in."""
    _load()
    return {**{n: REGISTRY[n] for n in TYPE_MODULES if n in REGISTRY}, **REGISTRY}


_LOADED: list[bool] = []


def _load() -> None:
    # Importing the modules registers their types. Once: an import statement costs a lookup per
    # call, and all_types runs for every "did you mean".
    if _LOADED:
        return
    for module in dict.fromkeys(TYPE_MODULES.values()):
        importlib.import_module(module)
    _LOADED.append(True)
