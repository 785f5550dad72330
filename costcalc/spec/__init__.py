"""YAML network specs → a validated graph of layers (with file lines for every error).

The format (README "Network specs" documents it for users)::

    name: MobileNet v1
    vars: {alpha: 1.0, resolution: 224}        # defaults; --set NAME=VALUE overrides
    input: [resolution, resolution, 3]         # H, W, C
    defaults: {bn: true, act: relu}            # fields applied to every type that has them
    layers:
      - {type: conv, name: conv1, M: "int(32*alpha)", S: 2}
      - {type: separable, M: "int(512*alpha)", repeat: 5}
      - {name: stage2, repeat: 3, first: {S: 2}, layers: [{type: bottleneck, B: 64, M: 256}]}
      - {name: fire, layers: [{type: pointwise, M: 16},
                              {branches: [[{type: pointwise, M: 64}], [{type: conv, M: 64}]], join: concat}]}
      - {type: add, from: conv1}               # merge with an earlier output
      - {type: conv, from: stage2, M: 32}      # any layer may take an earlier tensor

The package is split by concern: :mod:`~costcalc.spec.yamlio` reads files (bounded, with line and
column of every key), :mod:`~costcalc.spec.values` evaluates variables and field values (through the
allow-list evaluator of :mod:`costcalc.expr`, never ``eval``), :mod:`~costcalc.spec.graph` turns items
into layers and groups and resolves references, :mod:`~costcalc.spec.messages` formats places and values.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from costcalc.cost import Shape
from costcalc.errors import SpecError, UsageError
from costcalc.spec.graph import (
    ITEM_KEYS,
    MAX_LAYERS,
    MAX_REPEAT,
    Group,
    NetLayer,
    NetworkSpec,
    build_graph,
)
from costcalc.spec.messages import _at, _brief, _kind, _kind_a, _suggest
from costcalc.spec.values import MAX_NAME, MAX_SYMBOL, _dim, _expr, _override_value, _show_value, parse_override
from costcalc.spec.yamlio import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_YAML_DEPTH,
    LDict,
    LList,
    parse_yaml,
    read_yaml,
    shown_path,
)

TOP_KEYS = ("name", "description", "vars", "input", "defaults", "layers")

__all__ = [
    "load_spec", "build_spec", "spec_header", "parse_override", "read_yaml", "parse_yaml", "shown_path", "NetworkSpec",
    "NetLayer", "Group", "LDict", "LList", "MAX_FILE_BYTES", "MAX_DEPTH", "MAX_YAML_DEPTH", "MAX_LAYERS",
    "MAX_REPEAT", "MAX_NAME", "MAX_SYMBOL", "TOP_KEYS", "ITEM_KEYS",
]


def load_spec(path: str, overrides: Mapping[str, str] | None = None) -> NetworkSpec:
    """Load, validate and flatten a spec file. ``overrides`` are ``--set`` values (text)."""
    return build_spec(read_yaml(path), shown_path(path), overrides)


def build_spec(doc: Any, file: str, overrides: Mapping[str, str] | None = None) -> NetworkSpec:
    from costcalc.num import paused_gc

    with paused_gc():
        return _build_spec(doc, file, overrides)


def _build_spec(doc: Any, file: str, overrides: Mapping[str, str] | None) -> NetworkSpec:
    name, description, values, shape = spec_header(doc, file, overrides)
    defaults = doc.get("defaults")
    if defaults is None:
        defaults = LDict()
    if not isinstance(defaults, dict):
        raise SpecError(f"{_at(file, doc, 'defaults')}: defaults must be a mapping of field: value, "
                        f"not {_kind_a(defaults)}")
    layers = doc["layers"]
    if not isinstance(layers, list) or not layers:
        raise SpecError(f"{_at(file, doc, 'layers')}: layers must be a non-empty list, got {_brief(layers)}")
    _check_defaults_known(file, defaults)
    net_layers, groups, output = build_graph(file, values, defaults, layers)
    return NetworkSpec(str(name), file, dict(values), shape, tuple(net_layers), tuple(groups), description,
                       output)


def spec_header(doc: Any, file: str, overrides: Mapping[str, str] | None = None) -> tuple[str, str, dict[str, Any],
                                                                                          Shape]:
    """What a spec says before its layers: (name, description, variables, input shape), checked
    as :func:`build_spec` checks them (which calls this first). A sweep evaluates it per point."""
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
        named = False
        shown_choices = ""
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
            # choices given as names (variant: b0 … b7) are a closed set: no symbol stands for one
            named = bool(choices) and any(isinstance(c, str) and c.isidentifier() for c in choices)
            shown_choices = ", ".join(str(c) for c in choices) if named else ""
            choices = [_expr(c, values, f"{_at(file, v, 'choices')}: vars.{k}.choices") for c in choices] \
                if choices else None
            where = f"{_at(file, v, 'default')}: vars.{k}"
            v = v["default"]
        from_option = k in overrides
        if from_option and choices is not None and named and overrides[k] not in values \
                and overrides[k].isidentifier():
            raise UsageError(f"option --set {k}={_brief(overrides[k], quote=False)}: {k} is one of "
                             f"{shown_choices}")
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
    return str(name), description, values, shape


def _check_defaults_known(file: str, defaults: Mapping[str, Any]) -> None:
    if not defaults:
        return
    from costcalc.layers.base import all_types

    fields_any = {f for lt in all_types().values() for f in lt.fields}
    for k in defaults:
        if k not in fields_any:
            raise SpecError(f"{_at(file, defaults, k)}: defaults.{_brief(k, quote=False)}: no layer type has a "
                            f"field {_brief(k)}{_suggest(k, fields_any)}")
