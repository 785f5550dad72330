"""YAML network specs → a validated, flat list of layers (with file lines for every error).

The format (README "Network specs" documents it for users)::

    name: MobileNet v1
    vars: {alpha: 1.0, resolution: 224}        # defaults; --set NAME=VALUE overrides
    input: [resolution, resolution, 3]         # H, W, C
    defaults: {bn: true, act: relu}            # fields applied to every type that has them
    layers:
      - {type: conv, name: conv1, M: "int(32*alpha)", S: 2}
      - {type: separable, M: "int(512*alpha)", repeat: 5}
      - {name: stage2, repeat: 3, first: {S: 2}, layers: [{type: bottleneck, B: 64, M: 256}]}
      - {type: add, from: conv1}               # merge with an earlier output ("input": the input)

Spec values are data: arithmetic goes through :mod:`costcalc.expr` (an allow-list evaluator),
never ``eval``. YAML anchors/aliases are refused (no "billion laughs"), and the sizes below are
bounded so that no input can make costcalc hang or exhaust memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

import yaml

from costcalc.cost import Shape
from costcalc.errors import CostcalcError, ExprError, SpecError
from costcalc.layers.base import DimError, Layer, LayerType, get_type, suggest

#: Documented limits (README "Limits").
MAX_FILE_BYTES = 2_000_000
MAX_DEPTH = 32  # nesting of groups / YAML collections
MAX_LAYERS = 1_000_000  # layers after repeats
MAX_REPEAT = 1_000_000

TOP_KEYS = ("name", "description", "vars", "input", "defaults", "layers")
ITEM_KEYS = ("type", "name", "repeat", "first", "layers", "from")


@dataclass(frozen=True)
class NetLayer:
    """One top-level layer or block of a network, after repeats."""

    path: str
    layer: Layer
    #: extra inputs (paths of earlier layers or "input") for add/concat; None: the previous output
    sources: tuple[str, ...] | None
    line: int
    depth: int


@dataclass(frozen=True)
class Group:
    """A named group of layers (a stage), for subtotal rows: ``layers[start:end]``."""

    path: str
    start: int
    end: int
    depth: int
    line: int


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    source: str
    vars: Mapping[str, Any]
    input: Shape
    layers: tuple[NetLayer, ...]
    groups: tuple[Group, ...] = ()
    description: str = ""

    @property
    def symbolic(self) -> bool:
        from costcalc.num import is_symbolic

        return any(is_symbolic(v) for v in self.vars.values()) or any(is_symbolic(v) for v in self.input)


# ----------------------------------------------------------------------------------------------
# YAML with line numbers


class _Node:
    """Marks a loaded value with its 1-based line and column."""


class LDict(dict):  # type: ignore[type-arg]
    line: int = 0
    col: int = 0
    key_lines: dict[str, int]


class LList(list):  # type: ignore[type-arg]
    line: int = 0
    col: int = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader that records lines, refuses aliases and bounds nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise SpecError(f"{self.name}:{event.start_mark.line + 1}:{event.start_mark.column + 1}: "
                            "YAML aliases (*name) are not supported in specs")
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH * 2:
                mark = self.peek_event().start_mark
                raise SpecError(f"{self.name}:{mark.line + 1}: nesting deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    d = LDict()
    d.line, d.col = node.start_mark.line + 1, node.start_mark.column + 1
    d.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise SpecError(f"{loader.name}:{key_node.start_mark.line + 1}: mapping keys must be names, "
                            f"got {key!r}")
        if key in d:
            raise SpecError(f"{loader.name}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
        d[key] = loader.construct_object(value_node, deep=True)
        d.key_lines[key] = key_node.start_mark.line + 1
    return d


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    lst = LList(loader.construct_object(n, deep=True) for n in node.value)
    lst.line, lst.col = node.start_mark.line + 1, node.start_mark.column + 1
    return lst


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_yaml(path: str) -> Any:
    """Read and parse a spec file; every failure is a one-line :class:`SpecError`."""
    if os.path.isdir(path):
        raise SpecError(f"{path}: is a directory, not a spec file")
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise SpecError(f"{path}: file too large ({size:,} bytes, limit {MAX_FILE_BYTES:,})")
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except PermissionError:
        raise SpecError(f"{path}: permission denied") from None
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SpecError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, name: str = "<spec>") -> Any:
    loader = _Loader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = " ".join(str(e.problem or e.context or "malformed YAML").split())
        if "\t" in text and "tab" in problem:
            problem += " (YAML does not allow tabs for indentation)"
        raise SpecError(f"{where}: malformed YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{name}: malformed YAML: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise SpecError(f"{name}: nesting too deep") from None
    finally:
        loader.dispose()


# ----------------------------------------------------------------------------------------------
# Values


def parse_override(text: str, where: str = "--set") -> tuple[str, str]:
    if "=" not in text:
        raise SpecError(f"{where} {text!r}: expected NAME=VALUE")
    k, v = (s.strip() for s in text.split("=", 1))
    if not k.isidentifier():
        raise SpecError(f"{where} {text!r}: {k!r} is not a variable name")
    return k, v


def _override_value(name: str, text: str, known: Mapping[str, Any]) -> Any:
    """A ``--set`` value: a number, a new symbol name, or an expression over the other vars."""
    from costcalc.expr import evaluate, parse_number

    try:
        n = parse_number(text)
    except ExprError as e:
        raise SpecError(f"--set {name}={text}: {e}") from None
    if n is not None:
        return n
    if text.isidentifier() and text not in known and not text.startswith("_"):
        from costcalc.engine import symbol

        return symbol(text)
    try:
        return evaluate(text, known)
    except ExprError as e:
        raise SpecError(f"--set {name}={text}: {e}") from None


@dataclass
class _Ctx:
    file: str
    vars: dict[str, Any]
    defaults: Mapping[str, Any]
    layers: list[NetLayer]
    groups: list[Group]
    paths: set[str]


def load_spec(path: str, overrides: Mapping[str, str] | None = None) -> NetworkSpec:
    """Load, validate and flatten a spec file. ``overrides`` are ``--set`` values (text)."""
    return build_spec(read_yaml(path), path, overrides)


def build_spec(doc: Any, file: str, overrides: Mapping[str, str] | None = None) -> NetworkSpec:
    if doc is None:
        raise SpecError(f"{file}: empty spec (expected a mapping with 'input' and 'layers')")
    if not isinstance(doc, dict):
        raise SpecError(f"{file}:{getattr(doc, 'line', 1)}: the top level must be a mapping with 'input' and "
                        f"'layers', not a {_kind(doc)}")
    for k in doc:
        if k not in TOP_KEYS:
            raise SpecError(f"{file}:{_line(doc, k)}: unknown top-level key {k!r}{suggest(k, TOP_KEYS)}; "
                            f"known: {', '.join(TOP_KEYS)}")
    for k in ("input", "layers"):
        if k not in doc:
            raise SpecError(f"{file}:{doc.line}: missing top-level key {k!r}")
    name = doc.get("name", os.path.splitext(os.path.basename(file))[0])
    if not isinstance(name, (str, int, float)):
        raise SpecError(f"{file}:{_line(doc, 'name')}: name must be text, not a {_kind(name)}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{file}:{_line(doc, 'description')}: description must be text")

    # -- vars, in order; --set replaces the default before the later vars are computed -----------
    raw_vars = doc.get("vars") or LDict()
    if not isinstance(raw_vars, dict):
        raise SpecError(f"{file}:{_line(doc, 'vars')}: vars must be a mapping of names to values, "
                        f"not a {_kind(raw_vars)}")
    overrides = dict(overrides or {})
    for k in overrides:
        if k not in raw_vars:
            known = ", ".join(raw_vars) or "none"
            raise SpecError(f"--set {k}: {file} has no variable {k!r}{suggest(k, raw_vars)} (variables: {known})")
    values: dict[str, Any] = {}
    for k, v in raw_vars.items():
        if not k.isidentifier() or k.startswith("_") or k == "i":
            raise SpecError(f"{file}:{_line(raw_vars, k)}: {k!r} is not a usable variable name")
        where = f"{file}:{_line(raw_vars, k)}: vars.{k}"
        choices = None
        if isinstance(v, dict):  # {default: 3, choices: [1, 2, 3, 4, 8]}
            for key in v:
                if key not in ("default", "choices"):
                    raise SpecError(f"{file}:{_line(v, key)}: vars.{k}: unknown key {key!r}"
                                    f"{suggest(key, ('default', 'choices'))}; known: default, choices")
            if "default" not in v:
                raise SpecError(f"{where}: a variable given as a mapping needs a 'default'")
            choices = v.get("choices")
            if choices is not None and (not isinstance(choices, list) or not choices):
                raise SpecError(f"{where}: choices must be a non-empty list of values")
            choices = [_expr(c, values, f"{where}.choices") for c in choices] if choices else None
            v = v["default"]
        if k in overrides:
            values[k] = _override_value(k, overrides[k], values)
            where = f"--set {k}={overrides[k]}"
        else:
            values[k] = _expr(v, values, where)
        if choices is not None and values[k] not in choices:
            from costcalc.num import is_symbolic

            if not is_symbolic(values[k]):
                shown = ", ".join(_show_value(c) for c in choices)
                raise SpecError(f"{where}: {k}={_show_value(values[k])} is not one of {shown}")

    # -- input shape ----------------------------------------------------------------------------
    inp = doc["input"]
    if not isinstance(inp, list) or len(inp) != 3:
        raise SpecError(f"{file}:{_line(doc, 'input')}: input must be a list [H, W, C], got {_brief(inp)}")
    shape = Shape(*(_dim(v, values, f"{file}:{_line(doc, 'input')}: input[{j}]", "input")
                    for j, v in enumerate(inp)))

    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SpecError(f"{file}:{_line(doc, 'defaults')}: defaults must be a mapping of field: value")
    layers = doc["layers"]
    if not isinstance(layers, list) or not layers:
        raise SpecError(f"{file}:{_line(doc, 'layers')}: layers must be a non-empty list")
    ctx = _Ctx(file, values, defaults, [], [], {"input"})
    _items(ctx, layers, prefix="", depth=0, overrides_first=None)
    _check_defaults_used(ctx, defaults, doc)
    return NetworkSpec(str(name), file, dict(values), shape, tuple(ctx.layers), tuple(ctx.groups),
                       description)


def _check_defaults_used(ctx: _Ctx, defaults: Mapping[str, Any], doc: Any) -> None:
    from costcalc.layers.base import all_types

    fields_any = {f for lt in all_types().values() for f in lt.params}
    for k in defaults:
        if k not in fields_any:
            raise SpecError(f"{ctx.file}:{_line(defaults, k)}: defaults.{k}: no layer type has a field "
                            f"{k!r}{suggest(k, fields_any)}")


def _items(ctx: _Ctx, items: list[Any], prefix: str, depth: int, overrides_first: Mapping[str, Any] | None,
           index: Mapping[str, Any] | None = None) -> None:
    if depth > MAX_DEPTH:
        raise SpecError(f"{ctx.file}:{getattr(items, 'line', 0)}: groups nested deeper than {MAX_DEPTH}")
    counters: dict[str, int] = {}
    names: set[str] = set()
    for pos, item in enumerate(items):
        line = getattr(item, "line", getattr(items, "line", 0))
        where = f"{ctx.file}:{line}"
        if not isinstance(item, dict):
            raise SpecError(f"{where}: layer {prefix}[{pos}] must be a mapping like {{type: conv, M: 64}}, "
                            f"got {_brief(item)}")
        is_group = "layers" in item
        if is_group and "type" in item:
            raise SpecError(f"{where}: an item has either 'type' (a layer) or 'layers' (a group), not both")
        if not is_group and "type" not in item:
            raise SpecError(f"{where}: layer {prefix}[{pos}] has no 'type' (and no 'layers' for a group)")
        kind = "group" if is_group else item["type"]
        if not isinstance(kind, str):
            raise SpecError(f"{where}: type must be a name, got {_brief(kind)}")
        repeat = _repeat(item, ctx, where)
        first = item.get("first")
        if first is not None and not isinstance(first, dict):
            raise SpecError(f"{where}: 'first' must be a mapping of fields, got {_brief(first)}")
        explicit = item.get("name")
        if explicit is not None:
            if not isinstance(explicit, (str, int)) or "." in str(explicit) or not str(explicit).strip():
                raise SpecError(f"{where}: name must be a word without dots, got {_brief(explicit)}")
            explicit = str(explicit)
            if explicit in names:
                raise SpecError(f"{where}: duplicate layer name {explicit!r} in {prefix.rstrip('.') or 'layers'}")
            names.add(explicit)
        for r in range(repeat):
            if explicit is not None:
                name = explicit if repeat == 1 else f"{explicit}.{r}"
            else:
                counters[kind] = counters.get(kind, 0) + 1
                name = f"{kind}{counters[kind]}"
                while name in names:
                    counters[kind] += 1
                    name = f"{kind}{counters[kind]}"
                names.add(name)
            path = prefix + name
            over: dict[str, Any] = {}
            if pos == 0 and overrides_first:
                over.update(overrides_first)
            if r == 0 and first:
                over.update(first)
            local = {**ctx.vars, "i": r}
            if is_group:
                sub = item["layers"]
                if not isinstance(sub, list) or not sub:
                    raise SpecError(f"{where}: group {path}: layers must be a non-empty list")
                for k in item:
                    if k not in ("name", "repeat", "first", "layers"):
                        raise SpecError(f"{ctx.file}:{_line(item, k)}: group {path}: unknown key {k!r}"
                                        f"{suggest(k, ('name', 'repeat', 'first', 'layers'))}")
                start = len(ctx.layers)
                saved = ctx.vars
                ctx.vars = local
                _items(ctx, sub, path + ".", depth + 1, over or None)
                ctx.vars = saved
                ctx.groups.append(Group(path, start, len(ctx.layers), depth, line))
            else:
                _layer(ctx, item, path, local, over, depth, line)
            if len(ctx.layers) > MAX_LAYERS:
                raise SpecError(f"{where}: more than {MAX_LAYERS:,} layers after repeats")


def _repeat(item: Mapping[str, Any], ctx: _Ctx, where: str) -> int:
    if "repeat" not in item:
        return 1
    v = _expr(item["repeat"], ctx.vars, f"{where}: repeat")
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{where}: repeat must be a positive integer, got {_brief(item['repeat'])}")
    if v < 1:
        raise SpecError(f"{where}: repeat must be a positive integer, got {v}")
    if v > MAX_REPEAT:
        raise SpecError(f"{where}: repeat {v:,} exceeds the limit {MAX_REPEAT:,}")
    return v


def _layer(ctx: _Ctx, item: Mapping[str, Any], path: str, names: Mapping[str, Any], over: Mapping[str, Any],
           depth: int, line: int) -> None:
    where = f"{ctx.file}:{line}: layer {path}"
    try:
        lt = get_type(item["type"])
    except CostcalcError as e:
        raise SpecError(f"{where}: {e}") from None
    fields: dict[str, Any] = {}
    for k in lt.params:
        if k in ctx.defaults:
            fields[k] = ctx.defaults[k]
    for source in (item, over):
        for k, v in source.items():
            if k in ITEM_KEYS:
                continue
            if k not in lt.params:
                where_k = f"{ctx.file}:{_line(source, k) or line}: layer {path}"
                raise SpecError(f"{where_k}: unknown field {k!r} for {lt.name}{suggest(k, lt.params)}; "
                                f"fields: {', '.join(lt.params) or 'none'}")
            fields[k] = v
    values = {k: _field(lt, k, v, names, f"{ctx.file}:{_line(item, k) or line}: layer {path}")
              for k, v in fields.items()}
    try:
        layer = lt.make(**values)
    except DimError as e:
        raise SpecError(f"{where}: {e}") from None
    sources = _sources(ctx, item.get("from"), lt, where)
    ctx.layers.append(NetLayer(path, layer, sources, line, depth))
    ctx.paths.add(path)


def _sources(ctx: _Ctx, value: Any, lt: LayerType, where: str) -> tuple[str, ...] | None:
    if value is None:
        if lt.cls.arity > 1:
            raise SpecError(f"{where}: {lt.name} needs 'from: <earlier layer>' (or 'input') to merge with")
        return None
    if lt.cls.arity < 2:
        raise SpecError(f"{where}: 'from' applies to add and concat only, not {lt.name}")
    refs = [value] if isinstance(value, (str, int)) else value
    if not isinstance(refs, list) or not refs:
        raise SpecError(f"{where}: 'from' must name an earlier layer or a list of them")
    out = []
    for r in refs:
        r = str(r)
        if r not in ctx.paths:
            raise SpecError(f"{where}: from: no earlier layer {r!r}{suggest(r, ctx.paths)}")
        out.append(r)
    return tuple(out)


def _field(lt: LayerType, name: str, value: Any, names: Mapping[str, Any], where: str) -> Any:
    info = lt.field_info(name)
    kind = info.get("kind")
    if kind == "dim":
        if value is None:
            return None
        return _dim(value, names, f"{where}: {name}", name, info.get("minimum", 1))
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"{where}: {name} must be true or false, got {_brief(value)}")
        return value
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"{where}: {name} must be text, got {_brief(value)}")
    choices = info.get("choices")
    if choices and value not in choices:
        raise SpecError(f"{where}: {name}={value!r} is not one of {', '.join(map(str, choices))}"
                        f"{suggest(value, choices)}")
    return value


def _expr(value: Any, names: Mapping[str, Any], where: str) -> Any:
    from costcalc.expr import evaluate

    if isinstance(value, bool) or not isinstance(value, (int, float, str, Fraction)):
        raise SpecError(f"{where}: expected a number or an expression, got {_brief(value)}")
    try:
        return evaluate(value, names)
    except ExprError as e:
        raise SpecError(f"{where}: {e}") from None


def _dim(value: Any, names: Mapping[str, Any], where: str, name: str, minimum: int = 1) -> Any:
    from costcalc.num import is_int, is_symbolic

    v = _expr(value, names, where)
    if isinstance(v, Fraction):
        if v.denominator != 1:
            raise SpecError(f"{where} = {_brief(value)} = {float(v):g} is not an integer "
                            "(round it with int(), round() or make_divisible())")
        v = int(v)
    if is_int(v):
        if v < minimum:
            kind = "positive" if minimum else "non-negative"
            raise SpecError(f"{where} = {v} must be a {kind} integer")
        if v.bit_length() > 62:
            raise SpecError(f"{where} = {_brief(value)} is too large")
        return v
    if isinstance(v, bool) or not is_symbolic(v):
        raise SpecError(f"{where}: expected a number, got {_brief(value)}")
    return v


def _show_value(v: Any) -> str:
    if isinstance(v, Fraction):
        return f"{float(v):g}"
    return str(v)


def _line(d: Any, key: str) -> int:
    return getattr(d, "key_lines", {}).get(key, getattr(d, "line", 0))


def _kind(v: Any) -> str:
    return {dict: "mapping", LDict: "mapping", list: "list", LList: "list", str: "string",
            bool: "boolean", int: "number", float: "number"}.get(type(v), type(v).__name__)


def _brief(v: Any) -> str:
    s = repr(v) if not isinstance(v, (LDict, LList)) else repr(type(v).__mro__[1](v))
    return s if len(s) <= 60 else s[:57] + "..."
