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
import stat
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Mapping

import yaml

from costcalc.cost import Shape
from costcalc.errors import CostcalcError, ExprError, SpecError, UsageError
from costcalc.layers.base import DimError, Layer, LayerType, get_type, suggest

#: Documented limits (README "Limits"). They keep every input fast and memory-bounded: the worst
#: accepted spec (MAX_LAYERS layers) evaluates in seconds, and nothing larger is ever built.
MAX_FILE_BYTES = 2_000_000
MAX_DEPTH = 32  # nesting of groups (a group in a group ...)
MAX_YAML_DEPTH = 2 * MAX_DEPTH  # nesting of YAML collections (each group level is a list and a mapping)
MAX_LAYERS = 100_000  # layers after repeats; also leaf layers after blocks are expanded (network walk)
MAX_REPEAT = MAX_LAYERS
MAX_NAME = 100  # characters of a layer name

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
    col: int = 0

    @property
    def where(self) -> str:
        """``line:col`` (or ``line``) of the layer's item in the spec file."""
        return f"{self.line}:{self.col}" if self.col else str(self.line)


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


class LDict(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers the 1-based line and column of itself and of each key."""

    line: int = 0
    col: int = 0
    key_lines: dict[str, int]
    key_cols: dict[str, int]


class LList(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers its 1-based line and column."""

    line: int = 0
    col: int = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader that records lines, refuses aliases and bounds nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise SpecError(f"{self.name}:{event.start_mark.line + 1}:{event.start_mark.column + 1}: "
                            "YAML aliases (*name) are not supported in specs")
        # Checked before PyYAML's own recursion (compose_node is recursive), so deep input is a
        # one-line error, never a RecursionError.
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise SpecError(f"{self.name}:{mark.line + 1}:{mark.column + 1}: YAML nested deeper than "
                                f"{MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    d = LDict()
    d.line, d.col = node.start_mark.line + 1, node.start_mark.column + 1
    d.key_lines = {}
    d.key_cols = {}
    for key_node, value_node in node.value:
        mark = key_node.start_mark
        at = f"{loader.name}:{mark.line + 1}:{mark.column + 1}"
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise SpecError(f"{at}: YAML merge keys (<<) are not supported in specs")
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise SpecError(f"{at}: mapping keys must be names, got {_brief(key)}")
        if key in d:
            raise SpecError(f"{at}: duplicate key {_brief(key)}")
        d[key] = loader.construct_object(value_node, deep=True)
        d.key_lines[key] = mark.line + 1
        d.key_cols[key] = mark.column + 1
    return d


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    lst = LList(loader.construct_object(n, deep=True) for n in node.value)
    lst.line, lst.col = node.start_mark.line + 1, node.start_mark.column + 1
    return lst


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_yaml(path: str) -> Any:
    """Read and parse a spec file; every failure is a one-line :class:`SpecError`."""
    name = shown_path(path)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise SpecError(f"{name}: is a directory, not a spec file")
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block forever, /dev/zero never ends
            raise SpecError(f"{name}: not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise SpecError(f"{name}: file too large ({st.st_size:,} bytes, limit {MAX_FILE_BYTES:,})")
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows while we read
        if len(data) > MAX_FILE_BYTES:
            raise SpecError(f"{name}: file too large (more than {MAX_FILE_BYTES:,} bytes)")
    except FileNotFoundError:
        raise SpecError(f"{name}: no such file") from None
    except PermissionError:
        raise SpecError(f"{name}: permission denied") from None
    except OSError as e:
        raise SpecError(f"{name}: cannot read: {e.strerror or e}") from None
    except ValueError as e:  # e.g. a NUL character in the path
        raise SpecError(f"{name}: cannot read: {e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError(f"{name}:{line}:{col}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset "
                        f"{e.start})") from None
    return parse_yaml(text, name)


def shown_path(path: str) -> str:
    """``path`` as messages show it: on one line (unprintable characters become ``?``)."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(path))


def parse_yaml(text: str, name: str = "<spec>") -> Any:
    try:
        loader = _Loader(text)  # the reader checks for unprintable characters right here
    except yaml.reader.ReaderError as e:
        raise SpecError(_reader_error(e, text, name)) from None
    loader.name = name
    try:
        return loader.get_single_data()
    except yaml.reader.ReaderError as e:
        raise SpecError(_reader_error(e, text, name)) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = " ".join(str(e.problem or e.context or "malformed YAML").split())
        if problem.startswith("could not determine a constructor for the tag"):
            problem = f"unsupported YAML tag {problem.rsplit(' ', 1)[-1]}"
        elif problem.startswith("but ") and e.context:
            problem = f"{' '.join(str(e.context).split())} {problem}"
        if len(problem) > 200:
            problem = problem[:197] + "..."
        if "\t" in text and ("tab" in problem or "'\\t'" in problem):
            problem += " (YAML does not allow tabs for indentation)"
        raise SpecError(f"{where}: malformed YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{name}: malformed YAML: {' '.join(str(e).split())}") from None
    except RecursionError:  # defence in depth: compose_node's guard fires first
        raise SpecError(f"{name}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def _reader_error(e: yaml.reader.ReaderError, text: str, name: str) -> str:
    """A control character (or a lone surrogate): where it is and which one."""
    pos = e.position if isinstance(e.position, int) else 0
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    char = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or "\0")
    return f"{name}:{line}:{col}: malformed YAML: control character U+{char:04X} is not allowed"


# ----------------------------------------------------------------------------------------------
# Values


def parse_override(text: str, where: str = "--set") -> tuple[str, str]:
    """``NAME=VALUE`` → (name, value text). A malformed option is a usage error (exit status 2)."""
    if "=" not in text:
        raise UsageError(f"option {where} {_brief(text)}: expected NAME=VALUE")
    k, v = (s.strip() for s in text.split("=", 1))
    if not k.isidentifier():
        raise UsageError(f"option {where}: {_brief(text)}: {_brief(k)} is not a variable name")
    return k, v


#: longest symbol name accepted from ``--set NAME=SYMBOL`` (as for ``costcalc layer`` options)
MAX_SYMBOL = 32


def _override_value(name: str, text: str, known: Mapping[str, Any]) -> Any:
    """A ``--set`` value: a number, a new symbol name, or an expression over the other vars.
    A value that cannot be read is a usage error (exit status 2): the option is wrong, not the file."""
    from costcalc.expr import evaluate, parse_number

    where = f"option --set {name}={_brief(text, quote=False)}"
    try:
        n = parse_number(text)
    except ExprError as e:
        raise UsageError(f"{where}: {e}") from None
    if n is not None:
        return n
    if text.isidentifier() and text not in known and not text.startswith("_"):
        if len(text) > MAX_SYMBOL:
            raise UsageError(f"{where}: symbol names are at most {MAX_SYMBOL} characters")
        from costcalc.engine import symbol

        return symbol(text)
    try:
        return evaluate(text, known)
    except ExprError as e:
        raise UsageError(f"{where}: {e}") from None


@dataclass
class _Ctx:
    file: str
    vars: dict[str, Any]
    defaults: Mapping[str, Any]
    layers: list[NetLayer]
    groups: list[Group]
    paths: set[str]
    #: identical layers built once (a repeat of 10,000 layers makes one Layer object)
    cache: dict[Any, Layer] = field(default_factory=dict)
    #: a group's path → the path of its last layer, whose output is the group's output
    group_outputs: dict[str, str] = field(default_factory=dict)

    def at(self, d: Any, key: str | None = None) -> str:
        """``file:line:col`` of ``key`` in mapping ``d`` (or of ``d`` itself)."""
        return _at(self.file, d, key)


def load_spec(path: str, overrides: Mapping[str, str] | None = None) -> NetworkSpec:
    """Load, validate and flatten a spec file. ``overrides`` are ``--set`` values (text)."""
    return build_spec(read_yaml(path), shown_path(path), overrides)


def build_spec(doc: Any, file: str, overrides: Mapping[str, str] | None = None) -> NetworkSpec:
    if doc is None:
        raise SpecError(f"{file}: empty spec (expected a mapping with 'input' and 'layers')")
    if not isinstance(doc, dict):
        where = _at(file, doc) if getattr(doc, "line", 0) else f"{file}:1"
        raise SpecError(f"{where}: the top level must be a mapping with 'input' and 'layers', "
                        f"not a {_kind(doc)}")
    for k in doc:
        if k not in TOP_KEYS:
            raise SpecError(f"{_at(file, doc, k)}: unknown top-level key {_brief(k)}{_suggest(k, TOP_KEYS)}; "
                            f"known: {', '.join(TOP_KEYS)}")
    for k in ("input", "layers"):
        if k not in doc:
            raise SpecError(f"{_at(file, doc)}: missing top-level key {k!r}")
    name = doc.get("name", os.path.splitext(os.path.basename(file))[0])
    if isinstance(name, bool) or not isinstance(name, (str, int, float)):
        raise SpecError(f"{_at(file, doc, 'name')}: name must be text, not {_kind_a(name)}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{_at(file, doc, 'description')}: description must be text, not {_kind_a(description)}")

    # -- vars, in order; --set replaces the default before the later vars are computed -----------
    raw_vars = doc.get("vars")
    if raw_vars is None:
        raw_vars = LDict()
    if not isinstance(raw_vars, dict):
        raise SpecError(f"{_at(file, doc, 'vars')}: vars must be a mapping of names to values, "
                        f"not {_kind_a(raw_vars)}")
    overrides = dict(overrides or {})
    for k in overrides:
        if k not in raw_vars:
            known = ", ".join(raw_vars) or "none"
            raise UsageError(f"option --set {k}: {file} has no variable {k!r}{_suggest(k, raw_vars)} "
                             f"(variables: {_brief(known, quote=False, limit=200)})")
    values: dict[str, Any] = {}
    for k, v in raw_vars.items():
        if not k.isidentifier() or k.startswith("_") or k == "i":
            why = " ('i' is the repeat index)" if k == "i" else ""
            raise SpecError(f"{_at(file, raw_vars, k)}: vars: {_brief(k)} is not a usable variable name{why}")
        where = f"{_at(file, raw_vars, k)}: vars.{k}"
        choices = None
        if isinstance(v, dict):  # {default: 3, choices: [1, 2, 3, 4, 8]}
            for key in v:
                if key not in ("default", "choices"):
                    raise SpecError(f"{_at(file, v, key)}: vars.{k}: unknown key {_brief(key)}"
                                    f"{_suggest(key, ('default', 'choices'))}; known: default, choices")
            if "default" not in v:
                raise SpecError(f"{where}: a variable given as a mapping needs a 'default'")
            choices = v.get("choices")
            if choices is not None and (not isinstance(choices, list) or not choices):
                raise SpecError(f"{_at(file, v, 'choices')}: vars.{k}.choices must be a non-empty list of "
                                f"values, got {_brief(choices)}")
            choices = [_expr(c, values, f"{_at(file, v, 'choices')}: vars.{k}.choices") for c in choices] \
                if choices else None
            where = f"{_at(file, v, 'default')}: vars.{k}"
            v = v["default"]
        from_option = k in overrides
        if from_option:
            values[k] = _override_value(k, overrides[k], values)
            where = f"option --set {k}={_brief(overrides[k], quote=False)}"
        else:
            values[k] = _expr(v, values, where)
        if choices is not None and values[k] not in choices:
            from costcalc.num import is_symbolic

            if not is_symbolic(values[k]):
                shown = ", ".join(_show_value(c) for c in choices)
                error = UsageError if from_option else SpecError
                raise error(f"{where}: {k}={_show_value(values[k])} is not one of {shown}")

    # -- input shape ----------------------------------------------------------------------------
    inp = doc["input"]
    if not isinstance(inp, list) or len(inp) != 3:
        raise SpecError(f"{_at(file, doc, 'input')}: input must be a list [H, W, C], got {_brief(inp)}")
    shape = Shape(*(_dim(v, values, f"{_at(file, doc, 'input')}: input[{j}]", "input")
                    for j, v in enumerate(inp)))

    defaults = doc.get("defaults")
    if defaults is None:
        defaults = LDict()
    if not isinstance(defaults, dict):
        raise SpecError(f"{_at(file, doc, 'defaults')}: defaults must be a mapping of field: value, "
                        f"not {_kind_a(defaults)}")
    layers = doc["layers"]
    if not isinstance(layers, list) or not layers:
        raise SpecError(f"{_at(file, doc, 'layers')}: layers must be a non-empty list, got {_brief(layers)}")
    ctx = _Ctx(file, values, defaults, [], [], {"input"})
    _check_defaults_known(ctx, defaults)
    _items(ctx, layers, prefix="", depth=0, firsts=())
    return NetworkSpec(str(name), file, dict(values), shape, tuple(ctx.layers), tuple(ctx.groups),
                       description)


def _check_defaults_known(ctx: _Ctx, defaults: Mapping[str, Any]) -> None:
    from costcalc.layers.base import all_types

    fields_any = {f for lt in all_types().values() for f in lt.params}
    for k in defaults:
        if k not in fields_any:
            raise SpecError(f"{ctx.at(defaults, k)}: defaults.{_brief(k, quote=False)}: no layer type has a "
                            f"field {_brief(k)}{_suggest(k, fields_any)}")


def _items(ctx: _Ctx, items: list[Any], prefix: str, depth: int, firsts: tuple[Mapping[str, Any], ...]) -> None:
    """Flatten ``items`` (a list of layers and groups) into ``ctx.layers``. ``firsts`` are the
    ``first:`` mappings of enclosing groups, applied to the first item (outermost first)."""
    if depth > MAX_DEPTH:
        raise SpecError(f"{ctx.at(items)}: groups nested deeper than {MAX_DEPTH} levels")
    counters: dict[str, int] = {}
    names: set[str] = set()
    group_name = prefix.rstrip(".") or "layers"
    for pos, item in enumerate(items):
        where = ctx.at(item) if getattr(item, "line", 0) else ctx.at(items)
        if not isinstance(item, dict):
            raise SpecError(f"{where}: {group_name}[{pos}] must be a mapping like {{type: conv, M: 64}}, "
                            f"got {_brief(item)}")
        is_group = "layers" in item
        if is_group and "type" in item:
            raise SpecError(f"{where}: {group_name}[{pos}] has both 'type' (a layer) and 'layers' (a group); "
                            "an item is one or the other")
        if not is_group and "type" not in item:
            raise SpecError(f"{where}: {group_name}[{pos}] has no 'type' (a layer) and no 'layers' (a group)")
        explicit = item.get("name")
        if explicit is not None:
            at = ctx.at(item, "name")
            if isinstance(explicit, bool) or not isinstance(explicit, (str, int)) or "." in str(explicit) \
                    or not str(explicit).strip():
                raise SpecError(f"{at}: name must be a word without dots, got {_brief(explicit)}")
            explicit = str(explicit)
            if len(explicit) > MAX_NAME:
                raise SpecError(f"{at}: name {_brief(explicit)} is longer than {MAX_NAME} characters")
            if explicit in names:
                raise SpecError(f"{at}: duplicate layer name {explicit!r} in {group_name}")
            names.add(explicit)
        label = f"{prefix}{explicit}" if explicit is not None else f"{group_name}[{pos}]"
        if is_group:
            kind = "group"
            for k in item:
                if k not in ("name", "repeat", "first", "layers"):
                    raise SpecError(f"{ctx.at(item, k)}: group {label}: unknown key {_brief(k)}"
                                    f"{_suggest(k, ('name', 'repeat', 'first', 'layers'))}; a group has name, "
                                    "repeat, first and layers (layer fields belong to its layers)")
            sub = item["layers"]
            if not isinstance(sub, list) or not sub:
                raise SpecError(f"{ctx.at(item, 'layers')}: group {label}: layers must be a non-empty list, "
                                f"got {_brief(sub)}")
            lt = None
        else:
            kind = item["type"]
            if not isinstance(kind, str):
                raise SpecError(f"{ctx.at(item, 'type')}: layer {label}: type must be a name, got {_brief(kind)}")
            try:
                lt = get_type(kind) if len(kind) <= 64 else None
            except CostcalcError as e:
                raise SpecError(f"{ctx.at(item, 'type')}: layer {label}: {e}") from None
            if lt is None:
                raise SpecError(f"{ctx.at(item, 'type')}: layer {label}: unknown layer type {_brief(kind)}")
        repeat = _repeat(item, ctx, f"{'group' if lt is None else 'layer'} {label}")
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
            over: tuple[Mapping[str, Any], ...] = firsts if pos == 0 else ()
            if r == 0 and first:
                over = over + (first,)
            local = {**ctx.vars, "i": r}
            if lt is None:
                start = len(ctx.layers)
                saved = ctx.vars
                ctx.vars = local
                try:
                    _items(ctx, item["layers"], path + ".", depth + 1, over)
                finally:
                    ctx.vars = saved
                ctx.groups.append(Group(path, start, len(ctx.layers), depth, item.line if isinstance(item, LDict) else 0))
                ctx.group_outputs[path] = ctx.layers[-1].path
            else:
                _layer(ctx, lt, item, path, local, over, depth)
            if len(ctx.layers) > MAX_LAYERS:
                raise SpecError(f"{where}: more than {MAX_LAYERS:,} layers after repeats")


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
           firsts: tuple[Mapping[str, Any], ...], depth: int) -> None:
    line = getattr(item, "line", 0)
    where = f"{ctx.at(item)}: layer {path}"
    fields_: dict[str, Any] = {}
    origin: dict[str, tuple[Mapping[str, Any], str]] = {}
    for k in lt.params:
        if k in ctx.defaults:
            fields_[k] = ctx.defaults[k]
            origin[k] = (ctx.defaults, f"layer {path} (from defaults)")
    for source in (item, *firsts):
        for k, v in source.items():
            if k in ITEM_KEYS:
                continue
            if k not in lt.params:
                raise SpecError(f"{ctx.at(source, k)}: layer {path}: unknown field {_brief(k)} for {lt.name}"
                                f"{_suggest(k, lt.params)}; fields: {', '.join(lt.params) or 'none'}")
            fields_[k] = v
            origin[k] = (source, f"layer {path}")
    key = _cache_key(lt, fields_, names)
    layer = ctx.cache.get(key) if key is not None else None
    if layer is None:
        values = {k: _field(lt, k, v, names, f"{ctx.at(origin[k][0], k)}: {origin[k][1]}")
                  for k, v in fields_.items()}
        try:
            layer = lt.make(**values)
        except DimError as e:
            f = e.field.split(".")[0]
            at = f"{ctx.at(origin[f][0], f)}: {origin[f][1]}" if f in origin else where
            raise SpecError(f"{at}: {e}") from None
        if key is not None:
            ctx.cache[key] = layer
    sources = _sources(ctx, item, lt, path)
    ctx.layers.append(NetLayer(path, layer, sources, line, depth, getattr(item, "col", 0)))
    ctx.paths.add(path)


def _cache_key(lt: LayerType, fields_: Mapping[str, Any], names: Mapping[str, Any]) -> Any:
    """A key under which an identical layer was built before, or None (not cacheable). Field
    values are compared with their types (``true`` is not ``1``); the repeat index ``i`` is part
    of the key when an expression might use it (the other names are fixed for the whole spec)."""
    uses_i = any(isinstance(v, str) and "i" in v for v in fields_.values())
    key = (lt.name, tuple((k, type(v), v) for k, v in fields_.items()), names.get("i") if uses_i else None)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _sources(ctx: _Ctx, item: Mapping[str, Any], lt: LayerType, path: str) -> tuple[str, ...] | None:
    value = item.get("from")
    if value is None:
        if lt.cls.arity > 1:
            raise SpecError(f"{ctx.at(item)}: layer {path}: {lt.name} needs 'from: <earlier layer>' "
                            "(or 'input') to merge with")
        return None
    where = f"{ctx.at(item, 'from')}: layer {path}"
    if lt.cls.arity < 2:
        raise SpecError(f"{where}: 'from' applies to add and concat only, not {lt.name}")
    refs = [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value
    if not isinstance(refs, list) or not refs or any(isinstance(r, bool) or not isinstance(r, (str, int))
                                                     for r in refs):
        raise SpecError(f"{where}: 'from' must name an earlier layer or list earlier layers, "
                        f"got {_brief(value)}")
    out = []
    for r in refs:
        r = str(r)
        r = ctx.group_outputs.get(r, r)  # a group's output is its last layer's
        if r not in ctx.paths:
            hint = _suggest(r, ctx.paths | set(ctx.group_outputs))
            if not hint:
                recent = [p for p in (nl.path for nl in ctx.layers[-5:])]
                hint = f" (earlier layers include: {', '.join(recent)}, input)" if recent else \
                    " (the only earlier output is 'input')"
            raise SpecError(f"{where}: from: no earlier layer {_brief(r)}{hint}")
        out.append(r)
    return tuple(out)


def _field(lt: LayerType, name: str, value: Any, names: Mapping[str, Any], where: str) -> Any:
    info = lt.field_info(name)
    kind = info.get("kind")
    if value is None:
        if lt.default(name) is None:
            return None  # null means "the default" where the default is "none / from the input"
        raise SpecError(f"{where}: {name} is null; give a value or leave the field out "
                        f"(default {lt.default(name)})")
    if kind == "dim":
        return _dim(value, names, f"{where}: {name}", name, info.get("minimum", 1))
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"{where}: {name} must be true or false, got {_brief(value)}")
        return value
    if not isinstance(value, str):
        raise SpecError(f"{where}: {name} must be text, got {_brief(value)}")
    if len(value) > MAX_NAME:
        raise SpecError(f"{where}: {name}={_brief(value)} is not a valid value (longer than {MAX_NAME} "
                        "characters)")
    choices = info.get("choices")
    if choices and value not in choices:
        raise SpecError(f"{where}: {name}={_brief(value)} is not one of {', '.join(map(str, choices))}"
                        f"{_suggest(value, choices)}")
    return value


def _expr(value: Any, names: Mapping[str, Any], where: str) -> Any:
    from costcalc.expr import evaluate

    if isinstance(value, bool) or not isinstance(value, (int, float, str, Fraction)):
        raise SpecError(f"{where}: expected a number or an expression, got {_brief(value)}")
    try:
        return evaluate(value, names)
    except ExprError as e:
        raise SpecError(f"{where}: {e}") from None


#: largest accepted dimension: 2**62 - 1 (any real network is many orders of magnitude smaller)
MAX_DIM_BITS = 62


def _dim(value: Any, names: Mapping[str, Any], where: str, name: str, minimum: int = 1) -> Any:
    from costcalc.num import is_int, is_symbolic

    v = _expr(value, names, where)
    shown = _brief(value) if isinstance(value, str) else None  # an expression: show it and its value
    if isinstance(v, Fraction):
        if v.denominator != 1:
            value_text = f"{shown} = {float(v):g}" if shown else f"{float(v):g}"
            raise SpecError(f"{where} = {value_text} is not an integer "
                            "(round it with int(), round() or make_divisible())")
        v = int(v)
    if is_int(v):
        value_text = f"{shown} = {v}" if shown and shown.strip("'") != str(v) else str(v)
        if v < minimum:
            kind = "positive" if minimum else "non-negative"
            raise SpecError(f"{where} = {value_text} must be a {kind} integer")
        if v.bit_length() > MAX_DIM_BITS:
            raise SpecError(f"{where} = {_brief(value_text, quote=False)} is too large "
                            f"(limit 2**{MAX_DIM_BITS} - 1)")
        return v
    if isinstance(v, bool) or not is_symbolic(v):
        raise SpecError(f"{where}: expected a number, got {_brief(value)}")
    return v


def _show_value(v: Any) -> str:
    if isinstance(v, Fraction):
        return f"{float(v):g}"
    return _brief(v, quote=False)


def _at(file: str, d: Any, key: str | None = None) -> str:
    """``file:line:col`` of ``key`` in the loaded mapping ``d``, or of ``d`` itself; ``file`` alone
    when the position is unknown (a document built in code)."""
    if key is not None and key in getattr(d, "key_lines", {}):
        return f"{file}:{d.key_lines[key]}:{d.key_cols[key]}"
    line = getattr(d, "line", 0)
    if line:
        return f"{file}:{line}:{d.col}"
    return file


def _line(d: Any, key: str) -> int:
    return getattr(d, "key_lines", {}).get(key, getattr(d, "line", 0))


def _suggest(word: str, options: Any) -> str:
    """`` (did you mean 'M'?)``: a case-insensitive exact match first, then close spellings."""
    if not isinstance(word, str):
        return ""
    opts = list(options)
    same_case = [o for o in opts if isinstance(o, str) and o.lower() == word.lower() and o != word]
    if same_case:
        return f" (did you mean {same_case[0]!r}?)"
    return suggest(word[:100], opts)


def _kind(v: Any) -> str:
    return {dict: "mapping", LDict: "mapping", list: "list", LList: "list", str: "string",
            bool: "boolean", int: "number", float: "number"}.get(type(v), type(v).__name__)


def _kind_a(v: Any) -> str:
    k = _kind(v)
    return f"an {k}" if k[0] in "aeiou" else f"a {k}"


def _brief(v: Any, quote: bool = True, limit: int = 60) -> str:
    """A value as shown in a message: its repr (or the text itself), on one line, at most ``limit``
    characters."""
    if isinstance(v, (LDict, LList)):
        v = type(v).__mro__[1](v)
    s = repr(v) if quote else str(v)
    s = "".join(ch if ch.isprintable() else " " for ch in s)
    return s if len(s) <= limit else s[: limit - 3] + "..."
