"""Import a PyTorch or ONNX model as a costcalc spec, with its input size kept symbolic.

``costcalc import SOURCE`` and ``costcalc net SOURCE`` accept

- ``package.module:callable``: a Python callable returning a ``torch.nn.Module`` (importing the
  module runs its code), traced by ``torch.export`` (:mod:`~costcalc.importer.torch_import`);
- ``model.onnx``: an ONNX file, read without its weights (:mod:`~costcalc.importer.onnx_import`).

Both build a :class:`~costcalc.importer.ir.Graph`; :func:`finish` writes it as a spec
(:mod:`~costcalc.importer.writer`), loads that spec back through :mod:`costcalc.spec` like any
file, checks that costcalc's shape rules give every layer the framework's output shape at the
traced size, and states where the closed form in the input size is exact.

This module imports nothing heavy: ``costcalc net spec.yaml`` only asks :func:`is_importable`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from costcalc.importer.ir import (
    EXPORT_TIMEOUT,
    Graph,
    ImportFailure,
    ImportUsageError,
    SizeVars,
    Unsupported,
    is_target,
)

#: most unsupported operators listed in one error message
MAX_LISTED = 12


@dataclass
class Condition:
    """Where the closed form in a size variable is exact: ``var`` ≡ one of ``residues`` (mod
    ``modulus``); ``modulus`` 1 means at every size."""

    var: str
    modulus: int
    residues: tuple[int, ...]

    def holds(self, value: int) -> bool:
        return value % self.modulus in self.residues

    def text(self) -> str:
        if self.modulus == 1:
            return f"at every {self.var}"
        if self.residues == (0,):
            return f"where {self.var} is a multiple of {self.modulus}"
        rs = ", ".join(str(r) for r in self.residues)
        if len(self.residues) == 1:
            return f"where {self.var} = {self.modulus}·k + {rs}"
        return f"where {self.var} mod {self.modulus} is one of {rs}"


@dataclass
class ImportResult:
    """An imported model: the spec text (YAML) and document, what was noted on the way, the
    operators kept as ``unknown`` rows, and where the closed form is exact."""

    name: str
    source: str
    text: str
    doc: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    unknown: list[Unsupported] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    #: the spec evaluated at the traced size (a costcalc NetResult)
    result: Any = None
    layers: int = 0


def is_importable(arg: str) -> bool:
    """Whether a command-line SOURCE is a model to import rather than a spec file: a ``.onnx``
    path, or ``package.module:callable`` that is not an existing file."""
    if arg.lower().endswith(".onnx"):
        return True
    return is_target(arg) and not os.path.exists(arg)


def import_source(source: str, *, kwargs: Mapping[str, Any] | None = None,
                  input_shape: tuple[int, int, int] | None = None, allow_unknown: bool = False,
                  check: bool = False, export_timeout: float | None = EXPORT_TIMEOUT) -> ImportResult:
    """Import ``source`` (a ``.onnx`` file or ``package.module:callable``). ``input_shape`` is
    (C, H, W); ``check`` also runs the PyTorch model under FlopCounterMode at that size and
    compares (a PyTorch source only); ``export_timeout`` bounds the trace with a dynamic size (None:
    no limit), after which it is traced at the fixed size."""
    if source.lower().endswith(".onnx"):
        if kwargs:
            raise ImportUsageError("--kwargs applies to a Python callable, not an ONNX file")
        try:
            from costcalc.importer.onnx_import import import_onnx
        except ModuleNotFoundError as e:
            raise ImportUsageError(f"reading ONNX needs the onnx package ({e.name} is not installed): "
                                   "pip install 'costcalc[onnx]'") from None
        graph, sizes, name, notes = import_onnx(source, input_shape, allow_unknown)
        res = finish(graph, sizes, name, source, allow_unknown, ["Imported by costcalc import from the ONNX "
                                                                   f"file {os.path.basename(source)}."])
        res.notes[:0] = notes
        return res
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        raise ImportUsageError("importing a PyTorch model needs PyTorch: pip install 'costcalc[torch]'") from None
    from costcalc.importer.torch_import import import_torch

    shape = input_shape or (3, 224, 224)
    ti = import_torch(source, kwargs, shape, export_timeout)
    return finish_torch(ti, source, allow_unknown, check)


def finish_torch(ti: Any, source: str, allow_unknown: bool = False, check: bool = False,
                 fold_blocks: bool = True) -> ImportResult:
    """The spec of a traced PyTorch model; ``check`` compares with FlopCounterMode at the traced size."""
    import torch as _torch

    from costcalc.importer.torch_import import torch_reference

    shape = ti.input_shape
    res = finish(ti.graph, ti.sizes, ti.name, source, allow_unknown,
                 [f"Imported by costcalc import from {source} (torch.export, PyTorch "
                  f"{_torch.__version__.split('+')[0]}); the module's code ran to build it."], fold_blocks)
    if check:
        flops = torch_reference(ti.model, shape)
        params = ti.params_used
        totals = res.result.totals
        at = "×".join(str(s) for s in shape[1:])
        if totals.macs * 2 == flops and totals.params == params:
            res.notes.append(f"checked at {at}: MACs = FlopCounterMode {flops:,} / 2 and params = "
                             f"{params:,} (the parameters the traced forward pass reads), exactly")
        elif not res.unknown:
            res.notes.append(f"CHECK FAILED at {at}: costcalc {totals.macs:,} MACs, {totals.params:,} params; "
                             f"PyTorch FlopCounterMode {flops:,} / 2, {params:,} params used")
    return res


def document_from_argument(arg: str, notes: list[str] | None = None) -> tuple[Any, str | None]:
    """The hook of ``costcalc net`` and the API: (spec document or path, name for messages). A spec
    file is returned as (its path, None); a model (``.onnx`` or ``package.module:callable``) is imported
    (unknown operators are an error, as in ``costcalc import``) and its written spec parsed. What
    the import noted is appended to ``notes``."""
    from costcalc.spec import parse_yaml

    if not is_importable(arg):
        return arg, None
    res = import_source(arg)
    if notes is not None:
        notes.extend(res.notes)
    name = f"{arg} (imported)"
    return parse_yaml(res.text, name), name


def unknown_layers(spec: Any) -> list[tuple[str, str]]:
    """(path, operator) of every ``unknown`` layer of a loaded spec: counted as 0, and said so."""
    from costcalc.results import unknown_layers as of_spec

    return of_spec(spec)


def load_text(text: str, name: str, overrides: Mapping[str, str] | None = None) -> Any:
    """A spec from YAML text, through the same loader as a file."""
    from costcalc.spec import build_spec, parse_yaml

    return build_spec(parse_yaml(text, name), name, overrides)


# ----------------------------------------------------------------------------------------------
# From graph to spec


def _arity() -> dict[str, int]:
    from costcalc.layers.base import all_types

    return {name: lt.cls.arity for name, lt in all_types().items()}


def unsupported_message(items: Sequence[Unsupported], allow_unknown: bool = False) -> str:
    """One line listing every unsupported operator: grouped by operator and reason, each with its
    node names (where they ran) and the shapes of the first."""
    groups: dict[tuple[str, str], list[Unsupported]] = {}
    for u in items:
        groups.setdefault((u.op, u.reason), []).append(u)
    parts = []
    for (op, reason), us in groups.items():
        first = us[0]
        nodes = [first.describe_node()] + [u.node for u in us[1:MAX_LISTED]]
        more = f", and {len(us) - MAX_LISTED} more" if len(us) > MAX_LISTED else ""
        count = f" ×{len(us)}" if len(us) > 1 else ""
        why = f": {reason}" if reason else ": no costcalc rule for it"
        parts.append(f"{op}{count}{why} (node{'s' if len(us) > 1 else ''} {', '.join(nodes)}{more})")
    tail = " — kept as 'unknown' rows counted as 0" if allow_unknown else \
        " (--allow-unknown keeps them as 'unknown' rows counted as 0)"
    return (f"{len(items)} operator{'s' if len(items) != 1 else ''} costcalc cannot count: "
            f"{'; '.join(parts)}{tail}")


def finish(graph: Graph, sizes: SizeVars, name: str, source: str, allow_unknown: bool,
           header: Sequence[str] = (), fold_blocks: bool = True) -> ImportResult:
    """Write ``graph`` as a spec, load it back, check its shapes and state where its closed form
    holds. Unsupported operators are an error unless ``allow_unknown``. ``fold_blocks``: fold
    squeeze-and-excitation modules into ``se`` layers where this costcalc has the type. ``graph``
    itself is left as it was (folding works on a copy), so one traced graph can be written twice."""
    import copy

    from costcalc.importer.writer import spec_items, to_yaml

    if graph.unsupported and not allow_unknown:
        raise ImportFailure(unsupported_message(graph.unsupported))
    if not graph.ops:
        raise ImportFailure(f"{source}: the model has no operators costcalc counts")
    from costcalc.importer.ir import fold_se

    if fold_blocks:
        graph = copy.deepcopy(graph)
    se = fold_se(graph) if fold_blocks else 0
    items, paths = spec_items(graph, sizes, _arity())
    if graph.spec_input is not None:
        h, w, c = graph.spec_input
    else:
        _, c, h, w = _input_dims(graph)
    doc: dict[str, Any] = {
        "name": name,
        "vars": dict(sizes.defaults),
        "input": [sizes.text(h), sizes.text(w), c],
        "layers": items,
    }
    lines = list(header)
    text = to_yaml(doc, lines)
    from costcalc.spec import build_spec, parse_yaml

    name_shown = f"{source} (imported)"
    parsed = parse_yaml(text, name_shown)
    spec = build_spec(parsed, name_shown)
    from costcalc.network import evaluate_network

    _check_wiring(graph, paths, spec)
    result = evaluate_network(spec)
    _check_shapes(graph, paths, result, sizes)
    conditions = closed_form_conditions(parsed, sizes) if sizes.defaults else []
    if conditions:
        lines.append("Closed form in the input size exact " + "; ".join(cd.text() for cd in conditions)
                     + " (costcalc net --set " + next(iter(sizes.defaults)) + "=R).")
        text = to_yaml(doc, lines)
    notes = list(graph.notes)
    if se:
        notes.append(f"{se} squeeze-and-excitation module{'s' if se != 1 else ''} folded into 'se' layers")
    if graph.unsupported:
        notes.append(unsupported_message(graph.unsupported, allow_unknown=True))
    return ImportResult(name, source, text, doc, notes, list(graph.unsupported), conditions, result,
                        len(graph.ops))


def _input_dims(graph: Graph) -> tuple[Any, Any, Any, Any]:
    s = graph.input.shape
    if len(s) != 4:
        raise ImportFailure(f"the model's input has shape {s}; costcalc imports models on one N×C×H×W image")
    return s[0], s[1], s[2], s[3]


def _check_wiring(graph: Graph, paths: Mapping[int, str], spec: Any) -> None:
    """Every layer of the loaded spec takes exactly the tensors its operator took: the references
    the writer chose resolve, by the spec loader's own rules, to the intended layers."""
    layers = {nl.path: nl for nl in spec.layers}
    for op in graph.ops:
        path = paths[id(op)]
        nl = layers.get(path)
        want = tuple("input" if t.producer is None else paths[id(t.producer)] for t in op.inputs)
        if nl is None or tuple(nl.inputs) != want:
            got = tuple(nl.inputs) if nl is not None else "nothing"
            raise ImportFailure(f"internal: layer {path} takes {got} in the written spec, not {want}")


def _check_shapes(graph: Graph, paths: Mapping[int, str], result: Any, sizes: SizeVars) -> None:
    """Every layer's output shape by costcalc's rules equals the framework's at the traced size:
    the spec is the model, not an approximation of it."""
    rows = {r.path: r for r in result.rows}
    for op in graph.ops:
        path = paths[id(op)]
        row = rows.get(path)
        if row is None:
            raise ImportFailure(f"internal: layer {path} has no row")
        want = [sizes.concrete(s) for s in op.output.shape]
        got = tuple(row.out_shape)
        ok = _matches(got, want)
        if not ok:
            raise ImportFailure(f"layer {path} ({op.source}): costcalc's shape rules give "
                                f"{'×'.join(map(str, got))} (H×W×C) where the model has "
                                f"{'×'.join(map(str, want))}: costcalc cannot represent this layer exactly")


def _matches(got: Sequence[int], want: Sequence[int]) -> bool:
    h, w, c = got
    if len(want) == 4:
        return (h, w, c) == (want[2], want[3], want[1])
    n = 1
    for s in want[1:]:
        n *= s
    return h * w * c == n


# ----------------------------------------------------------------------------------------------
# Where the closed form holds


#: largest modulus searched for the closed form's condition
MAX_MODULUS = 1 << 16


def closed_form_conditions(parsed: Any, sizes: SizeVars) -> list[Condition]:
    """For each size variable: the sizes at which costcalc's closed form (shapes without floors:
    ``(H + 2P − D(K−1) − 1)/S + 1``) equals PyTorch's floor arithmetic. By induction over the
    layers, that is exactly where every intermediate size of the closed form is a whole number:
    each size is linear in the variable with rational coefficients, so the condition is a set of
    residues modulo the least common multiple of their denominators."""
    import math

    import sympy

    from costcalc.engine import symbol

    out: list[Condition] = []
    for var in sizes.defaults:
        sym_name = "R" if var == "resolution" else var[:1].upper()
        from costcalc.spec import build_spec

        spec = build_spec(parsed, "(closed form)", {var: sym_name})
        v = symbol(sym_name)
        exprs = [e for e in _all_sizes(spec) if v in getattr(e, "free_symbols", ())]
        modulus = 1
        polys = []
        for e in set(exprs):
            try:
                p = sympy.Poly(e, v)
            except sympy.PolynomialError:
                return []
            if p.degree() > 1 or len(p.free_symbols - {v}) > 0:
                return []
            for coef in p.all_coeffs():
                if not coef.is_Rational:
                    return []
                modulus = math.lcm(modulus, int(coef.q))
            polys.append([(int(a.p), int(a.q)) for a in p.all_coeffs()])
        if modulus > MAX_MODULUS:
            continue
        residues = tuple(r for r in range(modulus) if all(_integral(p, r) for p in polys))
        out.append(Condition(var, modulus, residues))
    return out


def _integral(coeffs: Sequence[tuple[int, int]], r: int) -> bool:
    from fractions import Fraction

    val = Fraction(0)
    for num, den in coeffs:
        val = val * r + Fraction(num, den)
    return val.denominator == 1


def _all_sizes(spec: Any) -> list[Any]:
    """Every height and width of every tensor of ``spec`` (inside blocks too), by costcalc's rules."""
    from costcalc.layers.base import Block

    shapes = {"input": spec.input}
    found: list[Any] = []

    def visit(layer: Any, inputs: tuple[Any, ...]) -> Any:
        if isinstance(layer, Block):
            for node in layer.expand(inputs[0]):
                visit(node.layer, node.inputs)
        out = layer.out_shape(*inputs)
        for s in (*inputs, out):
            found.extend((s.h, s.w))
        return out

    for nl in spec.layers:
        ins = tuple(shapes[t] for t in nl.inputs)
        shapes[nl.path] = visit(nl.layer, ins)
    return found


__all__ = ["ImportResult", "Condition", "ImportFailure", "ImportUsageError", "import_source", "is_importable",
           "document_from_argument", "unknown_layers", "finish", "closed_form_conditions", "load_text"]
