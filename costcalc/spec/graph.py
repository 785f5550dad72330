"""Spec items → a graph of layers: groups, branches, repeats and references between tensors.

The result is flat and in topological order (the order of the file): a list of :class:`NetLayer`,
each naming the tensors it consumes, and a list of :class:`Group` ranges over it for subtotals.
A tensor is named by the path of the layer that produced it (``stage2.0.conv1``), or ``input``.

References (``from:``, ``inputs:``) are resolved here, once, by lexical scope:

- ``NAME`` is looked up in the innermost enclosing group (this repetition, for a repeated group),
  then outward; only items *before* the referring one are visible, so a graph cannot have a cycle.
- ``a.b`` reaches inside group ``a``; ``a.2.b`` inside repetition 2 of a repeated ``a``. A bare
  repeated name (``a``) is its last repetition's output; ``a.b`` of a repeated ``a`` is ambiguous,
  and is an error listing the choices (never repetition 0 silently).
- ``in``: the enclosing group's input (this repetition's input). ``/input``: the network input
  (``input`` alone means the same at the top level; inside a group it is ambiguous and refused).
  ``/a.b``: an absolute path from the top. In a repeated group, ``in`` of repetition k > 0 is
  repetition k − 1's output (the repetitions are a chain), so "the previous repetition" needs no
  name of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from costcalc.errors import CostcalcError, SpecError
from costcalc.layers.base import DimError, Layer, LayerType, get_type
from costcalc.spec.messages import _at, _brief, _suggest
from costcalc.spec.values import MAX_NAME, _expr, _field
from costcalc.spec.yamlio import MAX_DEPTH

MAX_LAYERS = 100_000  # layers after repeats; also leaf layers after blocks are expanded (network walk)
MAX_REPEAT = MAX_LAYERS

#: keys of a layer item and of a group item (besides a layer type's own fields)
LAYER_KEYS = ("type", "name", "repeat", "first", "from", "inputs")
GROUP_KEYS = ("name", "repeat", "first", "from", "layers")
BRANCH_KEYS = ("name", "repeat", "first", "from", "branches", "join")
ITEM_KEYS = tuple(dict.fromkeys(LAYER_KEYS + GROUP_KEYS + BRANCH_KEYS))
#: how the outputs of parallel branches are joined
JOINS = ("concat", "add", "mul")
#: names with a meaning in references; no layer or group may take them
RESERVED = ("in", "input")


@dataclass(frozen=True)
class NetLayer:
    """One top-level layer or block of a network, after repeats."""

    path: str
    layer: Layer
    #: the tensors it consumes, in order: ``input`` or the path of the layer that produced each
    inputs: tuple[str, ...]
    line: int
    depth: int
    col: int = 0

    @property
    def where(self) -> str:
        """``line:col`` (or ``line``) of the layer's item in the spec file."""
        return f"{self.line}:{self.col}" if self.col else str(self.line)


@dataclass(frozen=True)
class Group:
    """A group of layers (a stage, a module, one branch): ``layers[start:end]``, for subtotal rows.
    ``input`` and ``output`` name the tensors it takes and gives."""

    path: str
    start: int
    end: int
    depth: int
    line: int
    input: str = "input"
    output: str = ""
    kind: str = "group"  # "group", "branches" (a module of parallel branches) or "branch"


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    source: str
    vars: Mapping[str, Any]
    input: Any  # Shape
    layers: tuple[NetLayer, ...]
    groups: tuple[Group, ...] = ()
    description: str = ""
    #: the tensor the network outputs (the last item's output)
    output: str = ""

    @property
    def symbolic(self) -> bool:
        from costcalc.num import is_symbolic

        return any(is_symbolic(v) for v in self.vars.values()) or any(is_symbolic(v) for v in self.input)


# ----------------------------------------------------------------------------------------------
# Scopes: what a name means where it is written


@dataclass
class _Entry:
    """A name in a scope: a layer (``scope`` None) or a group (its scope) with its output tensor,
    or a repeated item (``reps``: one entry per repetition)."""

    output: str
    line: int
    scope: _Scope | None = None
    reps: list[_Entry] | None = None


@dataclass
class _Scope:
    label: str  # the group's path ("" at the top)
    parent: _Scope | None
    input: str
    names: dict[str, _Entry] = field(default_factory=dict)
    #: names declared further down (for "comes later" messages): name → line
    later: dict[str, int] = field(default_factory=dict)

    def shown(self) -> str:
        return self.label or "the top level"


@dataclass
class _Ctx:
    file: str
    vars: dict[str, Any]
    defaults: Mapping[str, Any]
    layers: list[NetLayer] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    #: the variables' values (with their types), part of the key of every layer built (``_LAYERS``)
    vars_key: Any = None

    def at(self, d: Any, key: str | None = None) -> str:
        """``file:line:col`` of ``key`` in mapping ``d`` (or of ``d`` itself)."""
        return _at(self.file, d, key)


def build_graph(file: str, values: dict[str, Any], defaults: Mapping[str, Any],
                items: list[Any]) -> tuple[list[NetLayer], list[Group], str]:
    """Flatten the top-level ``items`` into layers and groups; returns them and the output tensor."""
    ctx = _Ctx(file, values, defaults, vars_key=tuple((k, type(v), v) for k, v in values.items()))
    try:
        hash(ctx.vars_key)
    except TypeError:  # not hashable: layers are built without the cache
        ctx.vars_key = None
    from costcalc.num import is_symbolic

    if any(is_symbolic(v) for v in values.values()):
        # a symbolic build records what its expressions' closed forms assume (num.note_rounding)
        # and depends on the exact-floors mode: each build evaluates its own layers
        ctx.vars_key = None
    root = _Scope("", None, "input")
    out = _items(ctx, items, root, "", 0, (), "input")
    return ctx.layers, ctx.groups, out


# ----------------------------------------------------------------------------------------------
# Items


def _items(ctx: _Ctx, items: list[Any], scope: _Scope, prefix: str, depth: int,
           firsts: tuple[Mapping[str, Any], ...], current: str) -> str:
    """Add ``items`` (layers and groups, a chain) to the graph, starting from tensor ``current``.
    ``firsts`` are the ``first:`` mappings of enclosing groups, applied to the first item
    (outermost first). Returns the output tensor of the last item."""
    if depth > MAX_DEPTH:
        raise SpecError(f"{ctx.at(items)}: groups nested deeper than {MAX_DEPTH} levels")
    counters: dict[str, int] = {}
    group_name = prefix.rstrip(".") or "layers"
    scope.later = {str(it["name"]): getattr(it, "line", 0) for it in items
                   if isinstance(it, dict) and isinstance(it.get("name"), (str, int))
                   and not isinstance(it.get("name"), bool)}
    for pos, item in enumerate(items):
        where = _Where(ctx, item, items)  # formatted only in a message
        if not isinstance(item, dict):
            raise SpecError(f"{where}: {group_name}[{pos}] must be a mapping like {{type: conv, M: 64}}, "
                            f"got {_brief(item)}")
        kinds = [k for k in ("type", "layers", "branches") if k in item]
        if len(kinds) > 1:
            what = {"type": "'type' (a layer)", "layers": "'layers' (a group)",
                    "branches": "'branches' (parallel branches)"}
            raise SpecError(f"{where}: {group_name}[{pos}] has both {what[kinds[0]]} and {what[kinds[1]]}; "
                            "an item is one of a layer, a group or a set of branches")
        if not kinds:
            raise SpecError(f"{where}: {group_name}[{pos}] has no 'type' (a layer), no 'layers' (a group) and "
                            "no 'branches'")
        kind_key = kinds[0]
        explicit = _explicit_name(ctx, item, scope)
        label = f"{prefix}{explicit}" if explicit is not None else f"{group_name}[{pos}]"
        lt: LayerType | None = None
        if kind_key == "type":
            kind = item["type"]
            if not isinstance(kind, str):
                raise SpecError(f"{ctx.at(item, 'type')}: layer {label}: type must be a name, got {_brief(kind)}")
            try:
                lt = get_type(kind) if len(kind) <= 64 else None
            except CostcalcError as e:
                raise SpecError(f"{ctx.at(item, 'type')}: layer {label}: {e}") from None
            if lt is None:
                raise SpecError(f"{ctx.at(item, 'type')}: layer {label}: unknown layer type {_brief(kind)}")
            noun = "layer"
        else:
            kind = "group" if kind_key == "layers" else "branches"
            noun = "group"
            allowed = GROUP_KEYS if kind_key == "layers" else BRANCH_KEYS
            for k in item:
                if k not in allowed:
                    raise SpecError(f"{ctx.at(item, k)}: {noun} {label}: unknown key {_brief(k)}"
                                    f"{_suggest(k, allowed)}; a {'group' if kind_key == 'layers' else 'set of branches'}"
                                    f" has {', '.join(allowed[:-1])} and {allowed[-1]} (layer fields belong to "
                                    "its layers)")
            _check_body(ctx, item, kind_key, label)
        repeat = _repeat(item, ctx, f"{noun} {label}")
        first = item.get("first")
        if first is not None:
            if not isinstance(first, dict):
                raise SpecError(f"{ctx.at(item, 'first')}: {label}: 'first' must be a mapping of fields, "
                                f"got {_brief(first)}")
            for k in first:
                if k in ITEM_KEYS:
                    raise SpecError(f"{ctx.at(first, k)}: {label}: 'first' sets layer fields; {k!r} cannot "
                                    "be set there")
        if lt is not None and len(ctx.layers) + repeat > MAX_LAYERS:
            raise SpecError(f"{ctx.at(item)}: more than {MAX_LAYERS:,} layers after repeats")
        reps: list[_Entry] = []
        for r in range(repeat):
            if explicit is not None:
                name = explicit if repeat == 1 else f"{explicit}.{r}"
            else:
                counters[kind] = counters.get(kind, 0) + 1
                name = f"{kind}{counters[kind]}"
                while name in scope.names or name in scope.later:
                    counters[kind] += 1
                    name = f"{kind}{counters[kind]}"
            path = prefix + name
            if r == 0 and "from" in item and (lt is None or lt.cls.arity < 2):
                current = _resolve_one(ctx, item, "from", scope, f"{noun} {path}")
            over: tuple[Mapping[str, Any], ...] = firsts if pos == 0 else ()
            if r == 0 and first:
                over = over + (first,)
            # `i` is the repetition index of the innermost repeated item: an item that does not
            # repeat keeps the enclosing repetition's (it is 0 only outside every repeat)
            local = {**ctx.vars, "i": r} if repeat > 1 or "i" not in ctx.vars else ctx.vars
            line = getattr(item, "line", 0)
            if lt is None:
                sub = _Scope(path, scope, current)
                saved = ctx.vars
                ctx.vars = local
                start = len(ctx.layers)
                try:
                    if kind_key == "layers":
                        out = _items(ctx, item["layers"], sub, path + ".", depth + 1, over, current)
                    else:
                        out = _branches(ctx, item, sub, path + ".", depth + 1, over, current)
                finally:
                    ctx.vars = saved
                ctx.groups.append(Group(path, start, len(ctx.layers), depth, line, current, out,
                                        "group" if kind_key == "layers" else "branches"))
                entry = _Entry(out, line, scope=sub)
            else:
                out = _layer(ctx, lt, item, path, local, over, depth, scope, current, label)
                entry = _Entry(out, line)
            if repeat == 1:
                scope.names[name] = entry
            else:
                reps.append(entry)
                if explicit is None:
                    scope.names[name] = entry
            current = out
            if len(ctx.layers) > MAX_LAYERS:
                raise SpecError(f"{where}: more than {MAX_LAYERS:,} layers after repeats")
        if explicit is not None and repeat > 1:
            scope.names[explicit] = _Entry(current, getattr(item, "line", 0), reps=reps)
        if explicit is not None:
            scope.later.pop(explicit, None)
    return current


class _Where:
    """``file:line:col`` of an item (or of its list when the item has no position), formatted
    only when a message needs it: building a spec formats no message text."""

    __slots__ = ("ctx", "item", "items")

    def __init__(self, ctx: _Ctx, item: Any, items: Any) -> None:
        self.ctx, self.item, self.items = ctx, item, items

    def __str__(self) -> str:
        return self.ctx.at(self.item) if getattr(self.item, "line", 0) else self.ctx.at(self.items)



def _explicit_name(ctx: _Ctx, item: Mapping[str, Any], scope: _Scope) -> str | None:
    explicit = item.get("name")
    if explicit is None:
        return None
    at = ctx.at(item, "name")
    if isinstance(explicit, bool) or not isinstance(explicit, (str, int)) or "." in str(explicit) \
            or "/" in str(explicit) or not str(explicit).strip():
        raise SpecError(f"{at}: name must be a word without dots, got {_brief(explicit)}")
    explicit = str(explicit)
    if len(explicit) > MAX_NAME:
        raise SpecError(f"{at}: name {_brief(explicit)} is longer than {MAX_NAME} characters")
    if explicit in RESERVED:
        raise SpecError(f"{at}: name {explicit!r} is reserved for references (in: this group's input, "
                        "input: the network's); choose another")
    if explicit in scope.names:
        raise SpecError(f"{at}: duplicate layer name {explicit!r} in {scope.label or 'layers'}")
    return explicit


def _check_body(ctx: _Ctx, item: Mapping[str, Any], key: str, label: str) -> None:
    sub = item[key]
    if key == "layers":
        if not isinstance(sub, list) or not sub:
            raise SpecError(f"{ctx.at(item, 'layers')}: group {label}: layers must be a non-empty list, "
                            f"got {_brief(sub)}")
        return
    if not isinstance(sub, list) or len(sub) < 2:
        raise SpecError(f"{ctx.at(item, 'branches')}: group {label}: branches must be a list of at least two "
                        f"branches (each a list of layers, [] for the identity), got {_brief(sub)}")
    join = item.get("join", "concat")
    if join not in JOINS:
        raise SpecError(f"{ctx.at(item, 'join')}: group {label}: join must be one of {', '.join(JOINS)}, got "
                        f"{_brief(join)}{_suggest(join, JOINS)}")


def _branches(ctx: _Ctx, item: Mapping[str, Any], scope: _Scope, prefix: str, depth: int,
              firsts: tuple[Mapping[str, Any], ...], current: str) -> str:
    """Parallel branches, each starting from ``current``, joined by concat/add/mul into ``join``.
    ``firsts`` apply to the first item of every branch (the branches must agree in shape to be
    joined, so a stride on "the first layer" is a stride on each branch's first layer)."""
    outputs: list[str] = []
    line = getattr(item, "line", 0)
    names: set[str] = set()
    for j, branch in enumerate(item["branches"]):
        where = ctx.at(branch) if getattr(branch, "line", 0) else ctx.at(item, "branches")
        name = f"branch{j + 1}"
        body = branch
        if isinstance(branch, dict) and ("type" in branch or "branches" in branch):
            raise SpecError(f"{where}: group {prefix}{name}: a branch is a list of layers; write this layer in "
                            "brackets, [{type: ...}], or give the branch as {name: ..., layers: [...]}")
        if isinstance(branch, dict):
            for k in branch:
                if k not in ("name", "layers"):
                    raise SpecError(f"{ctx.at(branch, k)}: group {prefix}{name}: unknown key {_brief(k)}; "
                                    "a branch is a list of layers, or a mapping with name and layers")
            if "name" in branch:
                name = _explicit_name(ctx, branch, scope) or name
            body = branch.get("layers", [])
        if not isinstance(body, list):
            raise SpecError(f"{where}: group {prefix}{name}: a branch must be a list of layers ([] for the "
                            f"identity), got {_brief(body)}")
        if name in names:
            raise SpecError(f"{where}: duplicate branch name {name!r} in {prefix.rstrip('.')}")
        names.add(name)
        path = prefix + name
        if not body:  # the identity: the branch's output is its input
            scope.names[name] = _Entry(current, getattr(branch, "line", line), scope=_Scope(path, scope, current))
            outputs.append(current)
            continue
        sub = _Scope(path, scope, current)
        start = len(ctx.layers)
        out = _items(ctx, body, sub, path + ".", depth + 1, firsts, current)
        ctx.groups.append(Group(path, start, len(ctx.layers), depth, getattr(branch, "line", line), current, out,
                                "branch"))
        scope.names[name] = _Entry(out, getattr(branch, "line", line), scope=sub)
        outputs.append(out)
    join = item.get("join", "concat")
    lt = get_type(join)
    path = prefix + "join"
    layer = lt.make()
    ctx.layers.append(NetLayer(path, layer, tuple(outputs), line, depth, getattr(item, "col", 0)))
    scope.names["join"] = _Entry(path, line)
    return path


def _repeat(item: Mapping[str, Any], ctx: _Ctx, label: str) -> int:
    if "repeat" not in item:
        return 1
    where = f"{ctx.at(item, 'repeat')}: {label}: repeat"
    v = _expr(item["repeat"], ctx.vars, where)
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{where} must be a positive integer, got {_brief(item['repeat'])}")
    if v < 1:
        raise SpecError(f"{where} must be a positive integer, got {v}")
    if v > MAX_REPEAT:
        raise SpecError(f"{where} {v:,} exceeds the limit {MAX_REPEAT:,}")
    return v


def _layer(ctx: _Ctx, lt: LayerType, item: Mapping[str, Any], path: str, names: Mapping[str, Any],
           firsts: tuple[Mapping[str, Any], ...], depth: int, scope: _Scope, current: str, label: str) -> str:
    line = getattr(item, "line", 0)
    fields_: dict[str, Any] = {}
    #: where each field's value was written (its mapping); labelled only in a message
    origin: dict[str, Mapping[str, Any]] = {}
    if ctx.defaults:
        for k in lt.fields:
            if k in ctx.defaults:
                fields_[k] = ctx.defaults[k]
                origin[k] = ctx.defaults

    def label_of(k: str) -> str:
        return f"layer {path} (from defaults)" if origin[k] is ctx.defaults else f"layer {path}"
    known = _field_set(lt)
    for source in (item, *firsts) if firsts else (item,):
        for k, v in source.items():
            if k in _LAYER_KEY_SET:
                continue
            if k not in known:
                structural = k in ITEM_KEYS
                hint = " (it belongs to a group)" if structural else _suggest(k, lt.fields)
                raise SpecError(f"{ctx.at(source, k)}: layer {path}: unknown field {_brief(k)} for {lt.name}"
                                f"{hint}; fields: {', '.join(lt.fields) or 'none'}")
            fields_[k] = v
            origin[k] = source
    key = _cache_key(lt, fields_, names) if ctx.vars_key is not None else None
    if key is not None:  # shared by every build: the variables' values are part of the key
        key = (key, ctx.vars_key)
    layer = _LAYERS.get(key) if key is not None else None
    if layer is None:
        values = {k: _field(lt, k, v, names, f"{ctx.at(origin[k], k)}: {label_of(k)}")
                  for k, v in fields_.items()}
        try:
            layer = lt.make(**values)
        except DimError as e:
            f = e.field.split(".")[0]
            at = f"{ctx.at(origin[f], f)}: {label_of(f)}" if f in origin else f"{ctx.at(item)}: layer {path}"
            raise SpecError(f"{at}: {e}") from None
        if key is not None:
            if len(_LAYERS) >= 8192:
                _LAYERS.clear()
            _LAYERS[key] = layer
    inputs = _inputs(ctx, item, lt, path, scope, current, f"layer {path}")
    ctx.layers.append(NetLayer(path, layer, inputs, line, depth, getattr(item, "col", 0)))
    return path


_LAYER_KEY_SET = frozenset(LAYER_KEYS)
#: the repeat index as a name in an expression (not the letter inside ``make_divisible``)
_NAME_I = re.compile(r"\bi\b")
_FIELD_SETS: dict[str, frozenset[str]] = {}


def _field_set(lt: LayerType) -> frozenset[str]:
    """A type's field names as a set (membership is tested for every field of every item)."""
    got = _FIELD_SETS.get(lt.name)
    if got is None:
        got = _FIELD_SETS[lt.name] = frozenset(lt.fields)
    return got


#: layers built before, by (type, field values as written, the variables' values): a batch of
#: candidate networks (or the points of a sweep) builds each distinct layer once
_LAYERS: dict[Any, Layer] = {}


def _cache_key(lt: LayerType, fields_: Mapping[str, Any], names: Mapping[str, Any]) -> Any:
    """A key under which an identical layer was built before, or None (not cacheable). Field
    values are compared with their types (``true`` is not ``1``); the repeat index ``i`` is part
    of the key when an expression might use it (a word ``i`` in its text: an over-approximation,
    so a layer that depends on ``i`` is never shared; the variables' values are added by the
    caller)."""
    uses_i = False
    parts = []
    for k, v in fields_.items():
        t = type(v)
        if t is list:
            parts.append((k, t, tuple(v)))
            continue
        if isinstance(v, str) and "i" in v and _NAME_I.search(v):
            uses_i = True
        parts.append((k, t, v))
    key = (lt.name, tuple(parts), names.get("i") if uses_i else None)
    try:
        hash(key)
    except TypeError:
        return None
    return key


# ----------------------------------------------------------------------------------------------
# References


def _inputs(ctx: _Ctx, item: Mapping[str, Any], lt: LayerType, path: str, scope: _Scope, current: str,
            label: str) -> tuple[str, ...]:
    """The tensors a layer consumes. One-input layers: ``from`` or the previous output. Merge
    layers (add, concat, mul): the previous output followed by the ``from`` tensors, or exactly
    the ``inputs`` list."""
    merge = lt.cls.arity > 1
    if "inputs" in item:
        where = f"{ctx.at(item, 'inputs')}: layer {path}"
        if not merge:
            raise SpecError(f"{where}: 'inputs' lists the tensors a merge layer (add, concat, mul) joins; "
                            f"{lt.name} takes one input: use 'from'")
        if "from" in item:
            raise SpecError(f"{where}: give either 'inputs' (every input) or 'from' (the inputs joined with the "
                            "previous output), not both")
        refs = _ref_list(ctx, item, "inputs", path)
        if len(refs) < 2:
            raise SpecError(f"{where}: {lt.name} joins at least two inputs, got {len(refs)}")
        return tuple(_resolve(ctx, item, "inputs", r, scope, label) for r in refs)
    if not merge:
        return (current,)  # 'from' was resolved by the caller (it applies to the first repetition)
    if "from" not in item:
        raise SpecError(f"{ctx.at(item)}: layer {path}: {lt.name} needs 'from: <earlier layer>' (or 'in', "
                        "'/input', or 'inputs: [...]') to merge with")
    refs = _ref_list(ctx, item, "from", path)
    return (current, *(_resolve(ctx, item, "from", r, scope, label) for r in refs))


def _ref_list(ctx: _Ctx, item: Mapping[str, Any], key: str, path: str) -> list[str]:
    value = item[key]
    refs = [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value
    if not isinstance(refs, list) or not refs or any(isinstance(r, bool) or not isinstance(r, (str, int))
                                                     for r in refs):
        raise SpecError(f"{ctx.at(item, key)}: layer {path}: '{key}' must name an earlier layer or list earlier "
                        f"layers, got {_brief(value)}")
    return [str(r) for r in refs]


def _resolve_one(ctx: _Ctx, item: Mapping[str, Any], key: str, scope: _Scope, label: str) -> str:
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SpecError(f"{ctx.at(item, key)}: {label}: 'from' must name one earlier tensor, got "
                        f"{_brief(value)}" + (" (only merge layers take a list)" if isinstance(value, list) else ""))
    return _resolve(ctx, item, key, str(value), scope, label)


def _resolve(ctx: _Ctx, item: Mapping[str, Any], key: str, ref: str, scope: _Scope, label: str) -> str:
    """The tensor named by ``ref`` as seen from ``scope``."""
    where = f"{ctx.at(item, key)}: {label}: {key}"
    absolute = ref.startswith("/")
    parts = (ref[1:] if absolute else ref).split(".")
    if any(not p for p in parts):
        raise SpecError(f"{where}: {_brief(ref)} is not a reference (names separated by single dots)")
    head, rest = parts[0], parts[1:]
    if head == "input" and (absolute or scope.parent is None):
        if rest:
            raise SpecError(f"{where}: 'input' is the network input; it has no parts")
        return "input"
    if head == "input":
        raise SpecError(f"{where}: inside group {scope.label}, 'input' is ambiguous: write 'in' for this "
                        "group's input or '/input' for the network's input")
    if absolute:
        root = scope
        while root.parent is not None:
            root = root.parent
        return _descend(where, root, parts, ref)
    if head == "prev" and "prev" not in scope.names:
        raise SpecError(f"{where}: {_brief(ref)}: there is no 'prev' reference; in a repeated group, 'in' is "
                        "this repetition's input, which is the previous repetition's output")
    if head == "in":
        if rest:
            raise SpecError(f"{where}: 'in' is the enclosing group's input; it has no parts")
        return scope.input
    s: _Scope | None = scope
    while s is not None:
        if head in s.names:
            return _descend(where, s, parts, ref)
        s = s.parent
    # not found: say why
    s = scope
    while s is not None:
        if head in s.later:
            if s is scope and s.later[head] == getattr(item, "line", -1):
                raise SpecError(f"{where}: {head!r} is this item itself; a layer cannot take its own output")
            raise SpecError(f"{where}: {head!r} comes later (line {s.later[head]}); a layer can only take the "
                            "output of an earlier one")
        s = s.parent
    visible: list[str] = []
    s = scope
    while s is not None:
        visible += [n for n in s.names if n not in visible]
        s = s.parent
    hint = _suggest(head, visible)
    if not hint:
        recent = list(reversed(visible))[:6]
        hint = f" (earlier names here include: {', '.join(recent + ['in', '/input'])})" if recent else \
            " (the earlier tensors here are 'in' and '/input')"
    inside = f" in {scope.label}" if scope.label else ""
    raise SpecError(f"{where}: no earlier layer or group {_brief(head)}{inside}{hint}")


def _descend(where: str, scope: _Scope, parts: list[str], ref: str) -> str:
    """Follow ``parts`` from ``scope`` (the first part is a name in ``scope``)."""
    entry = scope.names.get(parts[0])
    if entry is None:
        raise SpecError(f"{where}: no layer or group {parts[0]!r} in {scope.shown()}"
                        f"{_suggest(parts[0], scope.names)}")
    done = [parts[0]]
    for part in parts[1:]:
        if entry.reps is not None:
            if part.isdigit():
                r = int(part)
                if r >= len(entry.reps):
                    raise SpecError(f"{where}: {'.'.join(done)} repeats {len(entry.reps)} times (0 to "
                                    f"{len(entry.reps) - 1}), no repetition {r}")
                entry = entry.reps[r]
                done.append(part)
                continue
            name = ".".join(done)
            n = len(entry.reps)
            raise SpecError(f"{where}: {_brief(ref)} is ambiguous: {name} repeats {n} times; write {name}.0.{part} … "
                            f"{name}.{n - 1}.{part} for one repetition (or, inside {name}, {part} for this "
                            "repetition's)")
        if entry.scope is None:
            raise SpecError(f"{where}: {'.'.join(done)} is a layer; it has no part {part!r}")
        nxt = entry.scope.names.get(part)
        if nxt is None:
            raise SpecError(f"{where}: {'.'.join(done)} has no layer or group {part!r}"
                            f"{_suggest(part, entry.scope.names)}")
        entry = nxt
        done.append(part)
    return entry.output
