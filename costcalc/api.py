"""The Python API: the commands as functions that return results.

>>> import costcalc
>>> m = costcalc.net("examples/mobilenet_v1.yaml")
>>> m.totals.macs
568740352
>>> costcalc.layer("depthwise", H=56, N=64).value("macs")
1806336

Variables and dimensions accept numbers (``int``, ``Fraction``, ``float`` as written: ``0.75``),
strings (a name keeps a variable symbolic: ``resolution="R"``; an expression over the spec's other
variables is evaluated safely) and sympy symbols. Results are documented in
:mod:`costcalc.results`; ``docs/api.md`` has worked examples (the tests run them).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any, Iterable, Sequence

from costcalc.errors import UsageError

__all__ = ["compare", "derive", "layer", "net", "ratio", "sweep"]


def _text(name: str, v: Any) -> str:
    """A variable's value as the ``--set`` text the spec loader reads (never code)."""
    if isinstance(v, bool):
        raise UsageError(f"{name}={v!r}: a variable is a number or a name, not a boolean")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}" if v.denominator != 1 else str(v.numerator)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise UsageError(f"{name}={v!r}: not a finite number")
        return repr(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, str):
        return v
    if type(v).__module__.partition(".")[0] == "sympy":
        if getattr(v, "is_Symbol", False):
            return str(v)
        if getattr(v, "is_Rational", False):
            return _text(name, Fraction(int(v.p), int(v.q)))
        raise UsageError(f"{name}={v}: give a number or a single symbol (an expression over the spec's "
                         "variables can be written as text)")
    raise UsageError(f"{name}={v!r}: expected a number, a name or a sympy symbol")


def _dim(name: str, v: Any) -> Any:
    """A layer dimension: an int, a symbol name, or an option value (``True``, ``"3x3"``)."""
    if isinstance(v, bool) or isinstance(v, int) or isinstance(v, str):
        return v
    if type(v).__module__.partition(".")[0] == "sympy":
        if getattr(v, "is_Symbol", False):
            return str(v)
        if getattr(v, "is_Integer", False):
            return int(v)
    if isinstance(v, Fraction) and v.denominator == 1:
        return int(v)
    raise UsageError(f"{name}={v!r}: a dimension is a positive integer or a symbol name")


def _derive_dim(name: str, v: Any) -> Any:
    if type(v).__module__.partition(".")[0] == "sympy":
        if getattr(v, "is_Symbol", False):
            return str(v)
        if getattr(v, "is_Rational", False):
            return Fraction(int(v.p), int(v.q))
        raise UsageError(f"{name}={v}: give a number or a single symbol")
    if isinstance(v, float):
        return Fraction(repr(v))
    return v


def net(spec: Any, /, *, assume: str | Sequence[str] = (), exact: bool = False, **vars: Any) -> Any:
    """A network's costs (``costcalc net``): ``spec`` is a YAML path, a spec mapping, a built
    spec, or a model to import as ``costcalc import`` does (a ``.onnx`` path or
    ``"package.module:callable"``; importing a module runs its code); ``vars`` override the spec's
    variables. Returns a :class:`~costcalc.results.Network`.

    ``assume="alpha>=0.25"`` simplifies formulas under a bound; ``exact=True`` keeps PyTorch's
    floors (``ceiling(R/32)``) so that the formula holds for every value."""
    from costcalc.results import load_network

    file = None
    if isinstance(spec, str) and (spec.lower().endswith(".onnx") or ":" in spec):
        from costcalc.importer import document_from_argument

        spec, file = document_from_argument(spec)
    return load_network(spec, {k: _text(k, v) for k, v in vars.items()}, _list(assume), exact, file=file)


def layer(type: str, /, *, dtype_bytes: int = 4, **dims: Any) -> Any:
    """One layer or block (``costcalc layer``): ``dims`` are ``H, W, N, M, K, G, T, B, S, P, D``
    (numbers or symbol names) and the type's options (``bias=True``, ``stride_on="3x3"``). Returns a
    :class:`~costcalc.results.LayerResult`."""
    from costcalc.layers.base import DimError
    from costcalc.results import layer_result

    try:
        return layer_result(type, {k: _dim(k, v) for k, v in dims.items()}, dtype_bytes)
    except DimError as e:
        raise UsageError(f"{type}: {e}") from None


def ratio(a: str, b: str, /, *, metric: str = "macs", dtype_bytes: int = 4, **dims: Any) -> Any:
    """Cost of type ``a`` over type ``b`` for the same input (``costcalc ratio``). Returns a
    :class:`~costcalc.results.Derived`."""
    from costcalc.algebra import ratio_derivation
    from costcalc.results import derived

    d = {k: _derive_dim(k, v) for k, v in dims.items()}
    return derived(lambda: ratio_derivation(a, b, d, metric, dtype_bytes))


def derive(expr: str, /, *, metric: str = "macs", dtype_bytes: int = 4, **dims: Any) -> Any:
    """Arithmetic over layer costs (``costcalc derive``), e.g.
    ``derive("separable(H=H/2, W=W/2, N=2*N, M=2*M) / separable()")``. Returns a
    :class:`~costcalc.results.Derived`."""
    from costcalc.algebra import derive as run
    from costcalc.results import derived

    d = {k: _derive_dim(k, v) for k, v in dims.items()}
    return derived(lambda: run(expr, metric, d, dtype_bytes))


def compare(*specs: Any, assume: str | Sequence[str] = (), exact: bool = False, dtype_bytes: int = 4,
            **vars: Any) -> Any:
    """Networks side by side (``costcalc compare``); each variable applies to every spec that has
    it. Returns a :class:`~costcalc.results.Comparison`."""
    from costcalc.explore import compare as run

    return run(list(specs), {k: _text(k, v) for k, v in vars.items()}, dtype_bytes, _list(assume), exact)


def sweep(spec: Any, /, **axes: Any) -> Any:
    """Totals over a grid (``costcalc sweep``): each keyword is a variable with a list of values
    (``alpha=[0.5, 1]``, ``resolution=range(128, 225, 32)``), a range as text
    (``"128:224:32"``) or one value (fixed). Returns a :class:`~costcalc.results.SweepResult`."""
    from costcalc.explore import split_values, sweep as run
    from costcalc.results import SweepResult

    swept: dict[str, list[str]] = {}
    fixed: dict[str, str] = {}
    for k, v in axes.items():
        if isinstance(v, (list, tuple, range)):
            values = [_text(k, x) for x in v]
        else:
            values = split_values(_text(k, v), k)
        if len(values) == 1:
            fixed[k] = values[0]
        else:
            swept[k] = values
    return SweepResult(run(spec, swept, fixed))


def _list(x: str | Iterable[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)
