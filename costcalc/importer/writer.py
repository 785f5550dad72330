"""An imported :class:`~costcalc.importer.ir.Graph` as a readable YAML spec.

The spec mirrors the model: one group per module (``layer1`` → ``0`` → its layers), a module that
became a single layer is that layer under the module's name (``downsample``: a 1×1 conv with
BatchNorm), and a layer states ``from:`` only where it does not take the previous item's output.
References are written in the shortest form the spec language resolves to the right tensor
(``in`` for a group's input, ``conv3`` inside the group, ``layer1.0.conv3`` or ``/stem`` from
further away); the writer resolves each one exactly as :mod:`costcalc.spec` will, so the shortest
form is never a different tensor.

Leaf layers are flow mappings on one line, groups block mappings, so the file reads like the
module tree it came from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from costcalc.importer.ir import Graph, ImportFailure, Op, SizeVars, Tensor

#: names with a meaning in references (``in``, ``input``, ``prev``); a module so named is renamed
RESERVED = ("in", "input", "prev")
MAX_NAME = 100


# ----------------------------------------------------------------------------------------------
# The module tree


@dataclass(eq=False)
class _Leaf:
    name: str
    op: Op


@dataclass(eq=False)
class _Group:
    name: str
    children: list[_Leaf | _Group] = field(default_factory=list)


def module_tree(ops: Sequence[Op]) -> _Group:
    """Ops in execution order → nested groups by scope. A module whose ops are interrupted by
    another module's (a module called twice) becomes two groups, named apart later."""
    root = _Group("")
    stack: list[tuple[tuple[str, ...], _Group]] = [((), root)]
    for op in ops:
        scope = op.scope
        while not (len(stack[-1][0]) <= len(scope) and scope[: len(stack[-1][0])] == stack[-1][0]):
            stack.pop()
        depth = len(stack[-1][0])
        for i in range(depth, len(scope)):
            g = _Group(scope[i])
            stack[-1][1].children.append(g)
            stack.append((scope[: i + 1], g))
        stack[-1][1].children.append(_Leaf(op.name, op))
    _collapse(root)
    _rename(root)
    return root


def _collapse(g: _Group) -> None:
    """A group whose only child is a layer is that layer under the group's name (``features.0``,
    whose conv, BatchNorm and ReLU folded into one layer, is the layer ``features.0``). A group
    holding one group stays: every module keeps its path."""
    for i, c in enumerate(g.children):
        if isinstance(c, _Group):
            _collapse(c)
            if len(c.children) == 1 and isinstance(c.children[0], _Leaf):
                only = c.children[0]
                only.name = c.name
                g.children[i] = only


def _clean(name: str) -> str:
    name = re.sub(r"[^\w\-]", "_", str(name)) or "layer"
    if name in RESERVED:
        name += "_"
    return name[:MAX_NAME]


def _rename(g: _Group) -> None:
    """Names unique within each group: the second ``relu`` is ``relu_2``."""
    seen: dict[str, int] = {}
    taken = set()
    for c in g.children:
        base = _clean(c.name)
        n = seen.get(base, 0) + 1
        seen[base] = n
        name = base if n == 1 else f"{base}_{n}"
        while name in taken:
            n += 1
            seen[base] = n
            name = f"{base}_{n}"
        taken.add(name)
        c.name = name
        if isinstance(c, _Group):
            _rename(c)


# ----------------------------------------------------------------------------------------------
# References, resolved as the spec loader resolves them


@dataclass(eq=False)
class _Entry:
    output: Tensor
    scope: _Scope | None = None


@dataclass(eq=False)
class _Scope:
    path: tuple[str, ...]
    parent: _Scope | None
    input: Tensor
    names: dict[str, _Entry] = field(default_factory=dict)


def _resolve(scope: _Scope, ref: str, net_input: Tensor) -> Tensor | None:
    """The tensor ``ref`` names from ``scope`` (None: not a valid reference), following
    costcalc.spec's rules: ``in``, ``input`` (top level) or ``/input``, ``/a.b`` absolute, else the
    first part looked up in the innermost scope that has it, then followed into groups."""
    absolute = ref.startswith("/")
    parts = (ref[1:] if absolute else ref).split(".")
    if parts[0] == "input":
        return net_input if len(parts) == 1 and (absolute or scope.parent is None) else None
    if absolute:
        s = scope
        while s.parent is not None:
            s = s.parent
    else:
        if parts[0] == "in":
            return scope.input if len(parts) == 1 else None
        s = scope
        while s is not None and parts[0] not in s.names:
            s = s.parent  # type: ignore[assignment]
        if s is None:
            return None
    entry = s.names.get(parts[0])
    for part in parts[1:]:
        if entry is None or entry.scope is None:
            return None
        entry = entry.scope.names.get(part)
    return entry.output if entry is not None else None


class _Refs:
    """Where each tensor can be named from: the path of the layer that made it and of every
    finished group whose output it is."""

    def __init__(self, net_input: Tensor) -> None:
        self.net_input = net_input
        self.paths: dict[int, list[tuple[str, ...]]] = {}

    def add(self, t: Tensor, path: tuple[str, ...]) -> None:
        self.paths.setdefault(id(t), []).append(path)

    def name(self, t: Tensor, scope: _Scope) -> str:
        """The shortest reference to ``t`` from ``scope`` that resolves to ``t``."""
        if scope.input is t:
            return "in"
        if t is self.net_input:
            return "input" if scope.parent is None else "/input"
        best: str | None = None
        for path in self.paths.get(id(t), ()):
            for j in range(min(len(scope.path), len(path) - 1), -1, -1):
                if path[:j] != scope.path[:j]:
                    continue
                ref = ".".join(path[j:])
                if (best is None or len(ref) < len(best)) and _resolve(scope, ref, self.net_input) is t:
                    best = ref
            ref = "/" + ".".join(path)
            if best is None and _resolve(scope, ref, self.net_input) is t:
                best = ref
        if best is None:
            raise ImportFailure(f"internal: no reference to a tensor of shape {t.shape} from "
                                f"{'.'.join(scope.path) or 'the top level'}")
        return best


# ----------------------------------------------------------------------------------------------
# The document


def spec_items(graph: Graph, sizes: SizeVars, arity: Mapping[str, int]) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The spec's ``layers``: nested items with ``from``/``inputs`` references, and the path each
    op got (by ``id(op)``). ``arity`` gives the number of inputs of each merge type (add, concat,
    mul: more than one)."""
    tree = module_tree(graph.ops)
    refs = _Refs(graph.input)
    root = _Scope((), None, graph.input)
    paths: dict[int, str] = {}
    items, _ = _items(tree, root, graph.input, refs, sizes, arity, paths)
    return items, paths


def _items(g: _Group, scope: _Scope, current: Tensor, refs: _Refs, sizes: SizeVars,
           arity: Mapping[str, int], paths: dict[int, str]) -> tuple[list[dict[str, Any]], Tensor]:
    out: list[dict[str, Any]] = []
    for c in g.children:
        path = (*scope.path, c.name)
        if isinstance(c, _Group):
            sub = _Scope(path, scope, current)
            body, current = _items(c, sub, current, refs, sizes, arity, paths)
            out.append({"name": c.name, "layers": body})
            scope.names[c.name] = _Entry(current, sub)
            refs.add(current, path)
            continue
        op = c.op
        paths[id(op)] = ".".join(path)
        item: dict[str, Any] = {"type": op.type, "name": c.name}
        for k, v in op.fields.items():
            item[k] = _value(v, sizes)
        ins = op.inputs
        if arity.get(op.type, 1) > 1:
            if ins[0] is current:
                others = [refs.name(t, scope) for t in ins[1:]]
                item["from"] = others[0] if len(others) == 1 else others
            else:
                item["inputs"] = [refs.name(t, scope) for t in ins]
        elif ins and ins[0] is not current:
            item["from"] = refs.name(ins[0], scope)
        out.append(item)
        scope.names[c.name] = _Entry(op.output)
        refs.add(op.output, path)
        current = op.output
    return out, current


def _value(v: Any, sizes: SizeVars) -> Any:
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return [_value(x, sizes) for x in v]
    return sizes.text(v)


# ----------------------------------------------------------------------------------------------
# YAML text

#: text that YAML reads back as the same string when written plain: names and references
#: (``layer1.0.conv1``, ``/stem``), never a number, a boolean or a null
_PLAIN = re.compile(r"^/?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def scalar(v: Any) -> str:
    """One YAML scalar: numbers and booleans as such, words plain, anything else double-quoted
    (JSON strings are valid YAML)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(scalar(x) for x in v) + "]"
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS:
        return s
    return json.dumps(s, ensure_ascii=False)


def _flow(item: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {scalar(v)}" for k, v in item.items()) + "}"


def _lines(items: Sequence[Mapping[str, Any]], indent: int) -> Iterator[str]:
    pad = " " * indent
    for item in items:
        if "layers" not in item:
            yield f"{pad}- {_flow(item)}"
            continue
        yield f"{pad}- name: {scalar(item['name'])}"
        for k, v in item.items():
            if k not in ("name", "layers"):
                yield f"{pad}  {k}: {scalar(v)}"
        yield f"{pad}  layers:"
        yield from _lines(item["layers"], indent + 4)


def to_yaml(doc: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """The spec document as YAML text: ``header`` lines as comments, then name, description,
    vars, input and the layers."""
    lines = [f"# {h}" if h else "#" for h in header]
    lines.append(f"name: {scalar(doc['name'])}")
    if doc.get("description"):
        lines.append(f"description: {scalar(doc['description'])}")
    if doc.get("vars"):
        lines.append("vars:")
        lines += [f"  {k}: {scalar(v)}" for k, v in doc["vars"].items()]
    lines.append(f"input: {scalar(doc['input'])}")
    lines.append("layers:")
    lines += list(_lines(doc["layers"], 2))
    return "\n".join(lines) + "\n"
