"""Evaluate layers and blocks: rows of costs, exact numbers, symbolic formulas and ratios.

The same cost rules serve both worlds (exact ints and sympy formulas): :func:`walk` is called with int
shapes and dimensions for numbers, and with sympy symbols for formulas. sympy is imported only by
:func:`symbol` and the functions that need formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Mapping

from costcalc.cost import Cost, Shape, total
from costcalc.layers.base import Block, DimError, Layer, LayerType, get_type
from costcalc.num import Num, is_int, is_symbolic, normalize, to_sympy


@dataclass(frozen=True)
class Row:
    """One line of a cost table: a leaf layer, or a block's subtotal (``leaf=False``)."""

    path: str
    type: str
    category: str
    in_shape: Shape
    out_shape: Shape
    cost: Cost
    depth: int
    leaf: bool = True


def walk(layer: Layer, inputs: tuple[Shape, ...], path: str, depth: int = 0,
         rows: list[Row] | None = None) -> tuple[Shape, Cost, list[Row]]:
    """Evaluate ``layer`` on ``inputs``; append its rows (subtotal first for a block) to ``rows``.

    The caller checks a top-level layer; a block's children are checked as it expands.
    Returns the output shape, the total cost, and the rows.
    """
    if rows is None:
        rows = []
    # Networks repeat the same layer on the same shapes (``repeat: n``, a stage of equal blocks):
    # evaluate each (layer, input shapes) once and replay its rows under the new path. For int
    # and symbolic shapes (formulas are built and simplified once per pair); rules are pure, so
    # the replay is exact.
    numeric = all(type(v) is int for s in inputs for v in s)
    if numeric or all(type(v) is int or is_symbolic(v) for s in inputs for v in s):
        # a symbolic evaluation depends on the mode (closed form or exact floors) and records what
        # its closed form assumed (num.note_rounding): both are part of the replay
        from costcalc.num import EXACT_FLOORS, ROUNDINGS

        key: Any = (layer, inputs) if numeric else (layer, inputs, EXACT_FLOORS.get())
        try:
            hit = _EVALUATED.get(key)
        except TypeError:  # an unhashable field value: evaluate as usual
            hit, key = None, None
        notes = None if numeric else ROUNDINGS.get()
        if hit is not None and notes is not None and hit[3] is None:
            hit = None  # evaluated before without recording its notes: again, recording them
        if hit is None and key is not None:
            sub: list[Row] = []
            before = len(notes) if notes is not None else 0
            out, cost, _ = _walk(layer, inputs, "", 0, sub)
            made = tuple(notes[before:]) if notes is not None else None
            hit = (out, cost, tuple((r.path, r.type, r.category, r.in_shape, r.out_shape, r.cost, r.depth, r.leaf)
                                    for r in sub), made)
            if len(_EVALUATED) >= 4096:
                _EVALUATED.clear()
            _EVALUATED[key] = hit
        elif hit is not None and notes is not None:
            notes.extend(hit[3] or ())
        if hit is not None:
            out, cost, template, _ = hit
            rows.extend(Row(path + p, t, c, i, o, k, depth + d, leaf) for p, t, c, i, o, k, d, leaf in template)
            return out, cost, rows
    return _walk(layer, inputs, path, depth, rows)


#: (layer, input shapes) -> (output shape, cost, rows relative to the layer); see :func:`walk`
_EVALUATED: dict[Any, tuple[Shape, Cost, tuple[Any, ...], Any]] = {}


def _walk(layer: Layer, inputs: tuple[Shape, ...], path: str, depth: int,
          rows: list[Row]) -> tuple[Shape, Cost, list[Row]]:
    if isinstance(layer, Block):
        at = len(rows)
        rows.append(None)  # type: ignore[arg-type]  # the subtotal, filled in below
        nodes = layer.expand(inputs[0])
        parts = []
        for node in nodes:
            _, c, _ = walk(node.layer, node.inputs, f"{path}.{node.name}", depth + 1, rows)
            parts.append(c)
        acc = total(parts)
        out = nodes[-1].out
        rows[at] = Row(path, layer.type_name, layer.category, inputs[0], out, acc, depth, leaf=False)
        return out, acc, rows
    cost = layer.cost(*inputs)  # type: ignore[attr-defined]
    out = layer.out_shape(*inputs)
    rows.append(Row(path, layer.type_name, layer.category, inputs[0], out, cost, depth))
    return out, cost, rows


def evaluate(layer: Layer, inputs: tuple[Shape, ...], path: str = "") -> tuple[Shape, Cost, list[Row]]:
    """Check and evaluate one top-level layer."""
    layer.check(*inputs)
    return walk(layer, inputs, path or layer.type_name)


# ----------------------------------------------------------------------------------------------
# Symbols


def symbol(name: str) -> Any:
    """The sympy symbol for a dimension. All dimensions are positive, so sympy may cancel them."""
    import sympy

    return sympy.Symbol(name, positive=True)


def is_symbol_name(text: str) -> bool:
    return text.isidentifier() and not text.startswith("_")


# ----------------------------------------------------------------------------------------------
# One layer on its own: ``costcalc layer``

@dataclass
class LayerReport:
    """Everything ``costcalc layer`` shows, as data (renderers format it)."""

    type: str
    dims: dict[str, Any]
    in_shape: Shape
    out_shape: Shape
    cost: Cost
    rows: list[Row]
    formula: Cost
    formula_out_shape: Shape
    ratio_formula: Any
    ratio_expanded: Any
    ratio_value: Any
    baseline: str
    notes: list[str] = field(default_factory=list)
    #: the layers and inputs evaluated (value world, formula world), for other models over them
    layer: Layer | None = None
    inputs: tuple[Shape, ...] = ()
    formula_layer: Layer | None = None
    formula_inputs: tuple[Shape, ...] = ()


def _value(v: int | str) -> Num:
    return symbol(v) if isinstance(v, str) else v


def analyze_layer(type_name: str, given: Mapping[str, int | str | bool]) -> LayerReport:
    """Evaluate one layer type with the ``given`` dimensions (ints, or names of symbols).

    Two evaluations of the same rules: the *formula* with every symbolic dimension of the type as a
    symbol, and the *value* with the given numbers (W = H when not given). A field not given takes
    its documented default in the value (K = 3, S = 1, T = 6, B = M/4, M = N, ...), as it does in a
    spec; only dimensions without a default (the G of ``grouped``) stay symbols there.
    """
    lt = get_type(type_name)
    shape_keys = ("H", "W", "N")
    extra_m = "M" not in lt.fields  # -M is the baseline's output channels for such types
    for k in given:
        if k not in shape_keys and k not in lt.fields and not (k == "M" and extra_m):
            raise DimError(k, given[k], f"does not apply to type {lt.name}; its dimensions: "
                           f"{', '.join(['H', 'W', 'N', *lt.fields])}")
    f_fields: dict[str, Any] = {}
    v_fields: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    for name in lt.fields:
        g = given.get(name)
        info = lt.field_info(name)
        is_dim = info.get("kind") == "dim" and not isinstance(g, bool)
        gv = (_value(g) if is_dim else g) if g is not None else None  # type: ignore[arg-type]
        if info.get("unit_default") and (g is None or g == given.get("N", "N")):
            # M of a residual unit, not given or equal to N: as many channels as the input, in
            # the formula too (the repeated unit, N in = N out); the value uses the given M.
            if g is not None:
                v_fields[name] = gv
            continue
        if lt.is_symbol(name):
            f_fields[name] = symbol(name)
            if g is not None:
                v_fields[name] = gv
            elif name in lt.required:
                v_fields[name] = symbol(name)  # no default to apply
            elif lt.default(name) is not None:
                shown[name] = lt.default(name)
        elif g is not None:
            # options (bias, stride_on, act, ...) and structural dimensions (stride, padding) are
            # taken as given in both worlds; only symbolic dimensions become symbols
            f_fields[name] = v_fields[name] = gv
        elif name == "S" and lt.default(name) is not None:
            shown[name] = lt.default(name)
    h = _value(given["H"]) if "H" in given else symbol("H")  # type: ignore[arg-type]
    w = _value(given["W"]) if "W" in given else h  # type: ignore[arg-type]
    n = _value(given["N"]) if "N" in given else symbol("N")  # type: ignore[arg-type]
    m_extra = _value(given["M"]) if "M" in given and extra_m else symbol("M")  # type: ignore[arg-type]

    f_layer = lt.make(**f_fields)
    v_layer = lt.make(**v_fields)
    f_in = f_layer.standalone_inputs(Shape(symbol("H"), symbol("W"), symbol("N")), symbol("M"))
    v_in = v_layer.standalone_inputs(Shape(h, w, n), m_extra)
    # the numbers first: their errors name the values the user gave
    v_out, v_cost, rows = evaluate(v_layer, v_in, lt.name)
    f_out, f_cost, _ = evaluate(f_layer, f_in, lt.name)

    # -- ratio to a standard convolution with the same input, output channels, kernel and stride --
    from costcalc.layers.conv import Conv

    def baseline(fields_: Mapping[str, Any], out_c: Num, k_default: Num) -> Conv:
        return Conv(M=out_c, K=fields_.get("K", k_default), S=fields_.get("S", 1))

    f_std_m = f_out.c if not extra_m else symbol("M")
    v_std_m = v_out.c if not extra_m else m_extra
    k_default = lt.default("K") if "K" in lt.fields and lt.default("K") is not None else 3
    f_std = baseline(f_fields, f_std_m, symbol("K"))
    v_std = baseline(v_fields, v_std_m, k_default)
    f_std_cost = f_std.cost(f_in[0])
    v_std_cost = v_std.cost(v_in[0])
    ratio_f, ratio_e = ratio_forms(f_cost.macs, f_std_cost.macs)
    ratio_v = _ratio_value(v_cost.macs, v_std_cost.macs)
    base_txt = "standard K×K conv with the same input, output channels and stride"
    notes = []
    if extra_m:
        notes.append(f"{lt.name} has no output channels of its own: M is the output channels of the "
                     "standard conv it is compared with (-M sets it)")
    dims = {"H": h, "W": w, "N": n, **{k: v for k, v in v_fields.items()}}
    for k, v in shown.items():
        dims.setdefault(k, v)
    return LayerReport(lt.name, dims, v_in[0], v_out, v_cost, rows, f_cost, f_out,
                       ratio_f, ratio_e, ratio_v, base_txt, notes, v_layer, v_in, f_layer, f_in)


def ratio_forms(a: Num, b: Num) -> tuple[Any, Any]:
    """``a / b`` simplified the way a person writes it: (combined, expanded), e.g.
    ``((K² + M)/(K²·M), 1/M + 1/K²)``."""
    import sympy

    r = sympy.cancel(to_sympy(a) / to_sympy(b))
    combined = sympy.factor(r)
    expanded = sympy.expand(r)
    return normalize(combined), normalize(expanded)


def _ratio_value(a: Num, b: Num) -> Any:
    if is_int(a) and is_int(b):
        return normalize(Fraction(a, b))
    import sympy

    return normalize(sympy.cancel(to_sympy(a) / to_sympy(b)))


def type_formulas(lt: LayerType) -> tuple[Cost, Shape]:
    """The formula-world cost and output shape of a type (for ``costcalc types``)."""
    report = analyze_layer(lt.name, {})
    return report.formula, report.formula_out_shape
