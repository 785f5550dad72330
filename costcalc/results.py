"""Results as the Python API and the commands see them: a network, a layer, a derivation, a
comparison, a sweep.

Each wraps what the engine computed (a :class:`~costcalc.network.NetResult`, a
:class:`~costcalc.engine.LayerReport`, ...) with what a reader needs to trust it: the conditions
under which a formula holds (:mod:`costcalc.conditions`), the variables worth naming in a title,
notes, and the values at the spec's defaults (for the share of a formula and the order of
``--top``). Every result has ``to_dict()`` (the JSON contract, exactly what ``--format json``
prints), ``to_dataframe()`` (pandas, when installed), and displays in Jupyter as an HTML table
(``_repr_html_``) with its formulas in LaTeX (``_repr_latex_``). Formulas are in one canonical form
(:func:`costcalc.render.text.canonical`) that every format prints.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

from costcalc.conditions import Conditions, Relation
from costcalc.cost import Cost, Shape
from costcalc.errors import UsageError
from costcalc.num import is_int, is_symbolic

__all__ = ["Comparison", "Derived", "LayerResult", "Network", "SweepResult", "load_network"]


class _Displayable:
    """``to_dict``, ``_repr_html_``, ``_repr_latex_`` and ``table()`` through the renderer
    registry, for a result of :attr:`kind`."""

    kind = ""

    def to_dict(self, view: Any = None) -> dict[str, Any]:
        """The JSON contract: what ``--format json`` prints."""
        from costcalc.render import render

        return render(self.kind, "json", self, view)  # type: ignore[no-any-return]

    def render(self, fmt: str = "table", view: Any = None) -> Any:
        """The result in a format (``table`` gives printable blocks; see :mod:`costcalc.render`)."""
        from costcalc.render import render

        return render(self.kind, fmt, self, view)

    def table(self, width: int = 100, view: Any = None) -> str:
        """The table ``costcalc`` prints, as plain text of at most ``width`` columns."""
        from costcalc.render.boxtable import render_plain
        from costcalc.render.layout import fit
        from costcalc.render.boxtable import Grid

        out = []
        for b in self.render("table", view):
            out.append(render_plain(fit(b, width) if isinstance(b, Grid) else b, width))
        return "".join(out)

    def _repr_html_(self) -> str:
        return self.render("html")  # type: ignore[no-any-return]

    def _repr_latex_(self) -> str:
        return self.render("math")  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------------
# Networks


@dataclass
class Network(_Displayable):
    """A network's costs: ``rows`` (every layer, block and group, subtotals first), ``totals``,
    ``by_type``; ``conditions`` where its formulas hold; ``shown_vars`` (the variables a title
    names: the spec's knobs and anything set, not derived helpers)."""

    kind = "net"

    result: Any  # NetResult, in canonical form
    conditions: Conditions = field(default_factory=Conditions)
    shown_vars: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    exact: bool = False
    assumed: tuple[Relation, ...] = ()
    #: rebuild(overrides, exact) → (NetResult, roundings): the same spec with other variables
    rebuild: Callable[[Mapping[str, str], bool], tuple[Any, list[Any]]] | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    _reference: Any = None

    # -- what the engine computed ------------------------------------------------------------------
    @property
    def spec(self) -> Any:
        return self.result.spec

    @property
    def name(self) -> str:
        return str(self.result.spec.name)

    @property
    def source(self) -> str:
        return str(self.result.spec.source)

    @property
    def vars(self) -> dict[str, Any]:
        return dict(self.result.spec.vars)

    @property
    def input(self) -> Shape:
        return self.result.spec.input

    @property
    def rows(self) -> list[Any]:
        return list(self.result.rows)

    @property
    def leaves(self) -> list[Any]:
        return [r for r in self.result.rows if r.leaf]

    @property
    def totals(self) -> Cost:
        return self.result.totals

    @property
    def by_type(self) -> dict[str, Cost]:
        return dict(self.result.by_type)

    @property
    def out_shape(self) -> Shape:
        return self.result.out_shape

    @property
    def unknown(self) -> list[tuple[str, str]]:
        """(path, operator) of every ``unknown`` layer (an imported operator costcalc has no rule
        for): each counted as 0, so every total is a lower bound, and the output says so."""
        return unknown_layers(self.result.spec)

    @property
    def symbolic(self) -> bool:
        return bool(self.conditions.symbols) or any(is_symbolic(v) for v in self.vars.values())

    def formula(self, metric: str = "macs", exact: bool = False, dtype_bytes: int = 4) -> Any:
        """The total of ``metric`` (see :mod:`costcalc.metrics`): an ``int``, or a sympy expression
        when a variable is symbolic. ``exact=True``: the form with ``ceiling``/``floor`` terms that
        holds for every value of the variables (the plain form holds under :attr:`conditions`)."""
        from costcalc.metrics import metric as get

        m = get(metric)
        if exact and not self.exact and self.symbolic:
            return m(self.exact_form().totals, dtype_bytes)
        return m(self.totals, dtype_bytes)

    def exact_form(self) -> Network:
        """The same network with every rounding kept (``ceiling(R/32)``): exact for every value."""
        if self.exact or not self.symbolic:
            return self
        if self.rebuild is None:
            raise UsageError("an exact form needs the spec (give a path or a document)")
        result, roundings = self.rebuild(self.overrides, True)
        return _network(result, roundings, self.assumed, self.shown_vars, self.notes, True, self.rebuild,
                        self.overrides)

    def reference(self) -> tuple[Any, dict[str, Any]] | None:
        """For a symbolic network: the numeric walk at the spec's defaults for the symbolic
        variables (the other variables as set) and those values; None when numeric or unknown.
        Shares and the order of ``--top`` of formulas are taken there."""
        if not self.symbolic or self.rebuild is None:
            return None
        if self._reference is None:
            symbolic = {k for k, v in self.vars.items() if is_symbolic(v)}
            numeric = {k: v for k, v in self.overrides.items() if k not in symbolic}
            try:
                result, _ = self.rebuild(numeric, False)
            except Exception:  # noqa: BLE001 - the defaults may not build (then there is no reference)
                self._reference = (None, {})
            else:
                at = {k: v for k, v in result.spec.vars.items() if k in symbolic}
                self._reference = (None, {}) if result.spec.symbolic else (result, at)
        return None if self._reference[0] is None else self._reference

    def holds(self, **values: Any) -> bool | None:
        """Whether the formulas are exact at these values of the variables (an exact form holds
        everywhere, but where a block's structure assumed two widths differ)."""
        return self.conditions.holds(values)

    def to_dataframe(self) -> Any:
        """One row per layer, block and group (pandas needed: ``pip install pandas``)."""
        pd = _pandas()
        from costcalc.metrics import METRICS
        from costcalc.render.text import shape_text

        records = []
        for r in self.result.rows:
            rec: dict[str, Any] = {"path": r.path, "type": r.type, "category": r.category, "depth": r.depth,
                                   "leaf": r.leaf, "in_shape": shape_text(r.in_shape),
                                   "out_shape": shape_text(r.out_shape)}
            rec.update({m.name: m(r.cost) for m in METRICS})
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def __repr__(self) -> str:
        from costcalc.render.text import count, vars_text

        t = self.totals
        vars_ = vars_text(self.shown_vars)
        return f"<Network {self.name}{f' ({vars_})' if vars_ else ''}: {count(t.macs)} MACs, {count(t.params)} params>"


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise UsageError("to_dataframe() needs pandas: pip install pandas") from None
    return pandas


def unknown_layers(spec: Any) -> list[tuple[str, str]]:
    """(path, operator) of every ``unknown`` layer of a built spec."""
    return [(nl.path, str(getattr(nl.layer, "op", "?"))) for nl in spec.layers if nl.layer.type_name == "unknown"]


def unknown_sentence(unknown: Sequence[tuple[str, str]], shown: int = 10) -> str:
    """One line naming the layers of unknown cost (the first ``shown``)."""
    listed = ", ".join(f"{path} ({op})" for path, op in unknown[:shown]) + (" ..." if len(unknown) > shown else "")
    n = len(unknown)
    return (f"{n} layer{'s' if n != 1 else ''} of unknown cost counted as 0 (every total is a lower bound): "
            f"{listed}")


def _document(source: Any) -> tuple[Any, str]:
    """(parsed document, file name for messages) of a path or a mapping."""
    from costcalc.spec import read_yaml, shown_path

    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return read_yaml(path), shown_path(path)
    if isinstance(source, Mapping):
        return source, "<dict>"
    raise UsageError(f"expected a spec file path or a spec mapping, got {type(source).__name__}")


def shown_vars(doc: Any, values: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """The variables a title names: those whose default in the spec is a number (the knobs), and
    every one the user set. A variable defined by an expression over others (ShuffleNet's ``c2``)
    is an internal helper and stays out of titles (JSON still lists every variable)."""
    raw = doc.get("vars") if isinstance(doc, Mapping) else None
    if not isinstance(raw, Mapping):
        return dict(values)
    out = {}
    for k, v in values.items():
        default = raw.get(k)
        if isinstance(default, Mapping):
            default = default.get("default")
        literal = isinstance(default, (int, float)) and not isinstance(default, bool)
        if literal or k in overrides:
            out[k] = v
    return out


def load_network(source: Any, overrides: Mapping[str, str] | None = None, assume: Sequence[str] = (),
                 exact: bool = False, file: str | None = None, assume_where_symbolic: bool = False) -> Network:
    """Build and evaluate a network: ``source`` is a spec path, a spec mapping (``file``: its name
    in messages), a :class:`~costcalc.spec.NetworkSpec` or a :class:`~costcalc.network.NetResult`;
    ``overrides`` are ``--set`` values as text; ``assume`` relations such as ``"alpha>=0.25"``;
    ``exact`` keeps every rounding (``ceiling(R/32)``); ``assume_where_symbolic`` skips an
    assumption about a variable this network does not have as a symbol (``compare``)."""
    from costcalc.network import NetResult, evaluate_network
    from costcalc.num import exact_floors, noting_roundings
    from costcalc.spec import NetworkSpec, build_spec

    overrides = dict(overrides or {})
    rebuild: Callable[[Mapping[str, str], bool], tuple[Any, list[Any]]] | None
    if isinstance(source, (NetResult, NetworkSpec)):
        if overrides:
            raise UsageError("variables can be set only on a spec path or mapping, not on a built spec")
        spec = source.spec if isinstance(source, NetResult) else source

        def rebuild(_ovr: Mapping[str, str], exact_mode: bool) -> tuple[Any, list[Any]]:
            with exact_floors() if exact_mode else nullcontext():
                return evaluate_network(spec), []

        doc: Any = None
        if isinstance(source, NetResult) and not exact:
            result, roundings = source, []
        else:
            result, roundings = rebuild({}, exact)
    else:
        doc, name = _document(source)
        file = file or name

        def rebuild(ovr: Mapping[str, str], exact_mode: bool) -> tuple[Any, list[Any]]:
            with exact_floors() if exact_mode else nullcontext(), noting_roundings() as notes:
                r = evaluate_network(build_spec(doc, file, dict(ovr)))
            return r, notes

        result, roundings = rebuild(overrides, exact)
    shown = shown_vars(doc, result.spec.vars, overrides)
    notes = _symbol_notes(result.spec.vars, overrides)
    relations = _relations(assume, result.spec.vars, not assume_where_symbolic)
    return _network(result, roundings, tuple(relations), shown, notes, exact, rebuild, overrides)


def _network(result: Any, roundings: list[Any], relations: tuple[Relation, ...], shown: dict[str, Any],
             notes: list[str], exact: bool, rebuild: Any, overrides: dict[str, str]) -> Network:
    from costcalc.conditions import collect

    symbolic = result.spec.symbolic
    if not symbolic:
        return Network(result, Conditions(), shown, notes, exact, relations, rebuild, overrides)
    result = canonical_result(result, relations)
    # exact: every floor kept, so only what the structure assumed remains (sizes that must differ)
    conds = collect((), roundings, relations) if exact else collect(result.rows, roundings, relations)
    names = {str(x) for v in (*result.spec.vars.values(), *result.spec.input) if is_symbolic(v) for x in v.free_symbols}
    conds = Conditions(conds.items, tuple(sorted(set(conds.symbols) | names)), conds.never)
    return Network(result, conds, shown, notes, exact, relations, rebuild, overrides)


def canonical_result(result: Any, relations: Sequence[Relation] = ()) -> Any:
    """A symbolic NetResult with every value in canonical form, simplified under ``relations``."""
    from costcalc.conditions import apply_assumptions
    from costcalc.render.text import canonical

    cache: dict[Any, Any] = {}

    def f(v: Any) -> Any:
        if is_int(v):
            return v
        try:
            return cache[v]
        except KeyError:
            out = cache[v] = canonical(apply_assumptions(v, relations))
            return out
        except TypeError:
            return canonical(apply_assumptions(v, relations))

    def shape(s: Any) -> Shape:
        return Shape(*(f(v) for v in s))

    rows = [replace(r, cost=r.cost.map(f), in_shape=shape(r.in_shape), out_shape=shape(r.out_shape))
            for r in result.rows]
    return replace(result, rows=rows, totals=result.totals.map(f), out_shape=shape(result.out_shape),
                   by_type={k: c.map(f) for k, c in result.by_type.items()})


def _symbol_notes(values: Mapping[str, Any], overrides: Mapping[str, str]) -> list[str]:
    """Say when ``--set NAME=TEXT`` made a variable symbolic (a name is a symbol, not a typo we
    could know about)."""
    out = []
    for k, text in overrides.items():
        v = values.get(k)
        if is_symbolic(v) and text.strip().isidentifier():
            out.append(f"{k}={text.strip()} is a symbol: the counts are formulas in {text.strip()}")
    return out


def _relations(assume: Sequence[str], values: Mapping[str, Any], strict: bool = True) -> list[Relation]:
    import re

    from costcalc.conditions import parse_assumption

    if not assume:
        return []
    symbols = {}
    for v in values.values():
        if is_symbolic(v):
            for s in v.free_symbols:
                symbols[str(s)] = s
    out: list[Relation] = []
    for text in assume:
        if not strict and not set(re.findall(r"[A-Za-z_]\w*", text)) <= set(symbols):
            continue
        if not symbols:
            raise UsageError(f"option --assume {text!r}: every variable is a number; set one to a name "
                             "(--set alpha=a) to get a formula to assume about")
        out += parse_assumption(text, symbols)
    return out


# ----------------------------------------------------------------------------------------------
# One layer


@dataclass
class LayerResult(_Displayable):
    """One layer or block (``costcalc layer``): its formulas (every dimension a symbol), its
    values at the given dimensions, its output shape, its ratio to a standard convolution."""

    kind = "layer"

    report: Any  # engine.LayerReport, formulas in canonical form
    conditions: Conditions = field(default_factory=Conditions)
    dtype_bytes: int = 4

    @property
    def type(self) -> str:
        return str(self.report.type)

    @property
    def dims(self) -> dict[str, Any]:
        return dict(self.report.dims)

    @property
    def totals(self) -> Cost:
        return self.report.cost

    @property
    def rows(self) -> list[Any]:
        return list(self.report.rows)

    @property
    def out_shape(self) -> Shape:
        return self.report.out_shape

    def formula(self, metric: str = "macs") -> Any:
        """The formula of ``metric`` with every dimension symbolic (``H·W·N·K²`` for depthwise)."""
        from costcalc.metrics import metric as get

        return get(metric)(self.report.formula, self.dtype_bytes)

    def value(self, metric: str = "macs") -> Any:
        """``metric`` at the given dimensions (a number, or a formula in those not given)."""
        from costcalc.metrics import metric as get

        return get(metric)(self.report.cost, self.dtype_bytes)

    def to_dataframe(self) -> Any:
        pd = _pandas()
        from costcalc.metrics import METRICS

        return pd.DataFrame.from_records(
            [{"quantity": m.name, "label": m.label, "formula": str(m(self.report.formula, self.dtype_bytes)),
              "value": m(self.report.cost, self.dtype_bytes)} for m in METRICS])

    def __repr__(self) -> str:
        from costcalc.num import pretty

        return f"<LayerResult {self.type}: {pretty(self.value('macs'))} MACs, {pretty(self.value('params'))} params>"


def layer_result(type_name: str, given: Mapping[str, Any], dtype_bytes: int = 4) -> LayerResult:
    """Evaluate one type (``given``: ints or symbol names, options) with formulas in canonical form."""
    from costcalc.conditions import collect
    from costcalc.engine import analyze_layer
    from costcalc.num import noting_roundings

    with noting_roundings() as roundings:
        report = analyze_layer(type_name, dict(given))
    report = _canonical_report(report)
    from costcalc.algebra import DIM_SYMBOLS

    conds = collect(report.rows, roundings, (), extra_shapes=[report.formula_out_shape], integers=DIM_SYMBOLS)
    return LayerResult(report, conds, dtype_bytes)


def _canonical_report(report: Any) -> Any:
    """A layer's formulas the way papers write them, factored (``H·W·N·(K² + M)``), the same object
    in every format."""
    def f(v: Any) -> Any:
        if is_int(v) or isinstance(v, (Fraction, bool, str)) or v is None:
            return v
        import sympy

        from costcalc.num import normalize

        return normalize(sympy.factor_terms(v))

    return replace(report, formula=report.formula.map(f), cost=report.cost.map(f),
                   formula_out_shape=Shape(*(f(v) for v in report.formula_out_shape)))


# ----------------------------------------------------------------------------------------------
# ratio and derive


@dataclass
class Derived(_Displayable):
    """A derivation (``costcalc ratio``/``derive``): ``result`` (one fraction, the papers' form),
    ``expanded`` (a sum of simple terms), ``value`` at the given numbers, and ``conditions`` (a
    stride in the expression makes ``H/2`` a size: exact for even ``H``)."""

    kind = "derivation"

    derivation: Any  # derive.Derivation
    conditions: Conditions = field(default_factory=Conditions)

    @property
    def expression(self) -> str:
        return str(self.derivation.expression)

    @property
    def metric(self) -> str:
        return str(self.derivation.metric)

    @property
    def result(self) -> Any:
        return self.derivation.result

    @property
    def expanded(self) -> Any:
        return self.derivation.expanded

    @property
    def value(self) -> Any:
        return self.derivation.value

    @property
    def dims(self) -> dict[str, Any]:
        return dict(self.derivation.dims or {})

    @property
    def totals(self) -> dict[str, Any]:
        return {self.metric: self.value if self.value is not None else self.result}

    @property
    def rows(self) -> list[Any]:
        return []

    def formula(self, form: str = "combined") -> Any:
        """``combined`` (one fraction), ``expanded`` (a sum of terms) or ``at`` (the given numbers
        substituted)."""
        return {"combined": self.result, "expanded": self.expanded, "at": self.derivation.at}[form]

    def holds(self, **values: Any) -> bool | None:
        return self.conditions.holds(values)

    def to_dataframe(self) -> Any:
        pd = _pandas()
        return pd.DataFrame.from_records([self.to_dict()])

    def __repr__(self) -> str:
        from costcalc.num import pretty

        return f"<Derived {self.expression} [{self.metric}] = {pretty(self.result)}>"


def derived(run: Callable[[], Any]) -> Derived:
    """Run a derivation, collecting the shapes its layers saw (for the conditions)."""
    from costcalc.conditions import collect
    from costcalc.algebra import collecting_rows

    from costcalc.algebra import DIM_SYMBOLS
    from costcalc.num import noting_roundings

    with collecting_rows() as rows, noting_roundings() as roundings:
        d = run()
    given = [v for r in rows if r.depth == 0 for v in r.in_shape]  # the inputs written in the expression
    conds = collect(rows, roundings, given=given, integers=DIM_SYMBOLS)
    return Derived(d, conds)


# ----------------------------------------------------------------------------------------------
# compare and sweep


@dataclass
class Comparison(_Displayable):
    """Networks side by side: each total and its ratio to the first network's."""

    kind = "compare"

    networks: list[Network]
    dtype_bytes: int = 4

    @property
    def results(self) -> list[Any]:
        return [n.result for n in self.networks]

    @property
    def totals(self) -> list[Cost]:
        return [n.totals for n in self.networks]

    @property
    def rows(self) -> list[Any]:
        return [n.totals for n in self.networks]

    def ratios(self, i: int, dtype_bytes: int | None = None) -> dict[str, Any]:
        """Each quantity of network ``i`` divided by the first network's (exact)."""
        from costcalc.explore import ratio
        from costcalc.metrics import METRICS

        b = self.dtype_bytes if dtype_bytes is None else dtype_bytes
        first, this = self.networks[0].totals, self.networks[i].totals
        return {m.name: ratio(m(this, b), m(first, b)) for m in METRICS}

    def categories(self, ops: Callable[[Cost], Any] | None = None) -> list[str]:
        """Every layer category of any network, by cost (the sum of ``ops`` over the networks,
        where numeric), most expensive first; formulas keep the first network's order."""
        seen: dict[str, Any] = {}
        get = ops or (lambda c: c.macs)
        for n in self.networks:
            for k, c in n.by_type.items():
                v = get(c)
                prev = seen.get(k, 0)
                seen[k] = prev + v if is_int(v) and is_int(prev) else None
        keys = list(seen)
        if all(v is not None for v in seen.values()):
            keys.sort(key=lambda k: -seen[k])
        return keys

    def formula(self, metric: str = "macs", i: int = -1) -> Any:
        """The ratio of network ``i``'s total ``metric`` to the first network's."""
        return self.ratios(i)[metric]

    def to_dataframe(self) -> Any:
        pd = _pandas()
        from costcalc.metrics import METRICS

        return pd.DataFrame.from_records([{"name": n.name, **{m.name: m(n.totals, self.dtype_bytes) for m in METRICS}}
                                          for n in self.networks])

    def __repr__(self) -> str:
        return f"<Comparison {', '.join(n.name for n in self.networks)}>"


@dataclass
class SweepResult(_Displayable):
    """Totals of one spec over a grid of variable values (``costcalc sweep``)."""

    kind = "sweep"

    sweep: Any  # explore.Sweep
    conditions: Conditions = field(default_factory=Conditions)
    shown_fixed: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.sweep.name)

    @property
    def axes(self) -> dict[str, list[str]]:
        return dict(self.sweep.axes)

    @property
    def points(self) -> list[Any]:
        return list(self.sweep.points)

    @property
    def rows(self) -> list[Any]:
        return self.points

    @property
    def totals(self) -> list[Cost]:
        return [p.totals for p in self.sweep.points]

    def formula(self, metric: str = "macs") -> list[Any]:
        from costcalc.metrics import metric as get

        return [get(metric)(p.totals) for p in self.sweep.points]

    def to_dataframe(self) -> Any:
        pd = _pandas()
        from costcalc.metrics import METRICS

        return pd.DataFrame.from_records([{**p.swept, **{m.name: m(p.totals) for m in METRICS}}
                                          for p in self.sweep.points])

    def __repr__(self) -> str:
        return f"<SweepResult {self.name}: {len(self.sweep.points)} points over {', '.join(self.sweep.axes)}>"
