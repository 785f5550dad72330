"""Safe, exact evaluation of the arithmetic in spec values and on the command line.

Spec values such as ``64*alpha``, ``make_divisible(32*alpha, 8)`` or ``2 if i == 0 else 1`` are
*data*, never code: they are parsed with :func:`ast.parse` and evaluated by walking
the tree; nothing from the text is ever executed (no ``eval``/``exec``/``sympify``/``parse_expr``).

Allowed grammar (everything else is rejected with :class:`~costcalc.errors.ExprError`)::

    expr    := number | True | False | name
             | expr (+ - * / // % **) expr | (- + not) expr
             | expr (== != < <= > >=) expr ...      (chains allowed)
             | expr and expr | expr or expr
             | expr if expr else expr
             | function(expr, ..., keyword=expr, ...)
    number  := Python int or decimal literal (224, 0x10, 1_000, 0.75, 1e3)
    name    := a key of ``names``;  function := a key of FUNCTIONS or of ``functions=``

Rejected, with a message naming what was found: attribute access, subscripts and slices, lambda,
comprehensions, string/bytes/f-string literals, complex numbers, None, lists/tuples/dicts/sets,
``:=``, ``*``/``**`` argument unpacking, shifts and bitwise operators, ``is``/``in`` tests, calls of
anything but a bare allowed function name, and dunder names (``__import__``).

Arithmetic is exact. Float literals are read from their decimal text (``0.75`` is
``Fraction(3, 4)``), ``int / int`` is a ``Fraction``, a ``Fraction`` with denominator 1 collapses
to ``int``, and a Python ``float`` is never returned. Values in ``names`` may be sympy
expressions: operators then build sympy expressions, ``/`` stays ``/``, and ``//`` on a symbolic
operand is plain ``/`` (the same convention as ``int``/``round``/``floor``/``ceil``/
``make_divisible``, which return symbolic arguments unchanged: symbolic closed forms are the
unrounded ones, and each such step notes the condition under which it is exact for
:mod:`costcalc.conditions`; :func:`costcalc.num.exact_floors` keeps the rounding as ``floor``
terms instead). ``%`` on a symbolic operand is an
error. ``min``/``max`` with a symbolic argument give ``sympy.Min``/``sympy.Max``. sympy is never
imported by this module except inside ``min``/``max`` when a value already is a sympy object.

Limits (:data:`LIMITS`, read at each call, all enforced before any expensive work):

* ``max_length`` (500): characters of expression text.
* ``max_nodes`` (200): AST expression nodes (literals, names, operations, calls, keyword args).
* ``max_exponent`` (64): largest ``|exponent|`` of ``**`` when the exponent is a number.
* ``max_int_bits`` (256): largest bit length of any literal, name value, intermediate or final
  ``int`` (or ``Fraction`` numerator/denominator), including the result of ``**``.

Why simpleeval, and what is overridden: the evaluation loop is :class:`simpleeval.SimpleEval`
(a maintained library: node dispatch, ``and``/``or``/``not``, comparison chains, conditional
expressions, and its checks that no module or dangerous builtin ever becomes a value). Out of the
box it evaluates floats, allows attribute access, subscripts, strings, shifts and powers up to
4,000,000, and gives messages that are not ours. So it is locked down: its node table holds only
the node types of the grammar above, its operator table only exact, bounded operators, and the
handlers for literals, names and calls are replaced. A separate validation pass over the whole
tree runs first, so hostile text is rejected with a precise one-line message before anything is
evaluated, and names that are unknown are reported even in branches that would not be taken.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any, NoReturn, TypeAlias, Union

import simpleeval

from costcalc.errors import ExprError

__all__ = ["FUNCTIONS", "LIMITS", "Value", "evaluate", "parse_number"]

#: An exact value: ``int``, ``Fraction``, or a sympy expression when symbols are involved.
Value: TypeAlias = Union[int, Fraction, Any]

#: Resource limits, documented in the module docstring; read at every call.
LIMITS: dict[str, int] = {
    "max_length": 500,
    "max_nodes": 200,
    "max_exponent": 64,
    "max_int_bits": 256,
}


def _is_symbolic(value: object) -> bool:
    """True for sympy objects, recognised by module name so that sympy is never imported here."""
    return type(value).__module__.partition(".")[0] == "sympy"


# --------------------------------------------------------------------------- allowed functions


def _int(x: Value) -> Value:
    """``int(x)``: truncate toward zero, like Python's ``int``; symbolic values unchanged."""
    return _rounded("int", x) if _is_symbolic(x) else math.trunc(x)


def _round(x: Value) -> Value:
    """``round(x)``: Python's round-half-to-even, to an ``int``; symbolic values unchanged."""
    return _rounded("round", x) if _is_symbolic(x) else round(x)


def _floor(x: Value) -> Value:
    """``floor(x)``: largest integer <= x; symbolic values unchanged."""
    return _rounded("floor", x) if _is_symbolic(x) else math.floor(x)


def _ceil(x: Value) -> Value:
    """``ceil(x)``: smallest integer >= x; symbolic values unchanged."""
    return _rounded("ceil", x) if _is_symbolic(x) else math.ceil(x)


def _rounded(kind: str, x: Any, divisor: Value = 1, min_value: Value | None = None) -> Value:
    """A rounding function applied to a symbolic ``x``. Closed forms are the unrounded ones: ``x``
    is returned, and the condition under which that is exact (``x/divisor`` is an integer, ``x``
    at least ``min_value``) is noted for :mod:`costcalc.conditions`. Under
    :func:`costcalc.num.exact_floors` the rounding is kept as sympy ``floor``/``ceiling`` terms."""
    from costcalc.num import EXACT_FLOORS, note_rounding

    if not EXACT_FLOORS.get():
        note_rounding(x / divisor, None if min_value is None else min_value / divisor)
        return x / divisor if kind == "//" else x
    import sympy  # lazy: only reached when a value already is a sympy object

    if kind == "floor":
        return sympy.floor(x)
    if kind == "ceil":
        return sympy.ceiling(x)
    if kind == "int":  # toward zero
        return sympy.Piecewise((sympy.floor(x), x >= 0), (sympy.ceiling(x), True))
    if kind == "round":  # half to even, as Python's round
        n = sympy.floor(x + sympy.Rational(1, 2))
        tie = sympy.And(sympy.Eq(n, x + sympy.Rational(1, 2)), sympy.Eq(sympy.Mod(n, 2), 1))
        return sympy.Piecewise((n - 1, tie), (n, True))
    if kind == "make_divisible":
        new_v = sympy.Max(divisor if min_value is None else min_value,
                          sympy.floor(x / divisor + sympy.Rational(1, 2)) * divisor)
        return sympy.Piecewise((new_v + divisor, new_v < sympy.Rational(9, 10) * x), (new_v, True))
    if kind == "//":
        return sympy.floor(x / divisor)
    raise ValueError(f"unknown rounding {kind}")


def _min(first: Value, *rest: Value) -> Value:
    """``min(a, b, ...)``; ``sympy.Min`` when any argument is symbolic."""
    if any(_is_symbolic(v) for v in (first, *rest)):
        import sympy  # lazy: only reached when a value already is a sympy object

        return sympy.Min(first, *rest)
    return min(first, *rest) if rest else first


def _max(first: Value, *rest: Value) -> Value:
    """``max(a, b, ...)``; ``sympy.Max`` when any argument is symbolic."""
    if any(_is_symbolic(v) for v in (first, *rest)):
        import sympy  # lazy: only reached when a value already is a sympy object

        return sympy.Max(first, *rest)
    return max(first, *rest) if rest else first


def _abs(x: Value) -> Value:
    """``abs(x)``."""
    return abs(x)


def _make_divisible(v: Value, divisor: Value = 8, min_value: Value | None = None) -> Value:
    """Round channels ``v`` to a multiple of ``divisor`` (MobileNetV2 / torchvision rule, exact).

    ``new_v = max(min_value, int(v + divisor/2) // divisor * divisor)`` with ``min_value``
    defaulting to ``divisor``; then ``new_v += divisor`` if ``new_v < 0.9 * v`` (never round down by
    more than 10 %). Symbolic arguments: ``v`` is returned unchanged.
    """
    if _is_symbolic(v) and not any(_is_symbolic(a) for a in (divisor, min_value)):
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor <= 0:
            raise ValueError(f"divisor must be a positive integer, got {divisor}")
        return _rounded("make_divisible", v, divisor, min_value)
    if any(_is_symbolic(a) for a in (v, divisor, min_value)):
        return v
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor <= 0:
        raise ValueError(f"divisor must be a positive integer, got {divisor}")
    exact_v = Fraction(v)
    floor_value = divisor if min_value is None else min_value
    new_v = max(floor_value, math.trunc(exact_v + Fraction(divisor, 2)) // divisor * divisor)
    if new_v < Fraction(9, 10) * exact_v:
        new_v += divisor
    return new_v


#: Functions callable by bare name in every expression (extend per call with ``functions=``).
FUNCTIONS: dict[str, Callable[..., Value]] = {
    "abs": _abs,
    "ceil": _ceil,
    "floor": _floor,
    "int": _int,
    "make_divisible": _make_divisible,
    "max": _max,
    "min": _min,
    "round": _round,
}

# --------------------------------------------------------------------------- messages


def _quote(text: str) -> str:
    """The expression as quoted in messages: one line, at most 100 characters."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    return f"'{flat[:97]}...'" if len(flat) > 100 else f"'{flat}'"


def _fail(message: str, cause: BaseException | None = None) -> NoReturn:
    """Raise ExprError with ``message`` forced onto one line."""
    raise ExprError("".join(ch if ch.isprintable() else " " for ch in message)) from cause


def _too_large(text: str) -> NoReturn:
    _fail(f"number too large in {_quote(text)} (limit {LIMITS['max_int_bits']} bits)")


def _divide_by_zero(text: str, cause: BaseException | None = None) -> NoReturn:
    _fail(f"division by zero in {_quote(text)}", cause)


# --------------------------------------------------------------------------- exact numbers

_DIGITS = r"[0-9](?:_?[0-9])*"
_DECIMAL = re.compile(
    rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
)
_NOT_NUMBERS = (str, bytes, bytearray, list, tuple, dict, set, frozenset)


def _exact(value: object, text: str) -> Value:
    """Normalise a value: exact ints/Fractions within the size limit; sympy and others pass."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > LIMITS["max_int_bits"]:
            _too_large(text)
        return value
    if isinstance(value, Fraction):
        bits = LIMITS["max_int_bits"]
        if value.numerator.bit_length() > bits or value.denominator.bit_length() > bits:
            _too_large(text)
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, float):
        if not math.isfinite(value):
            _fail(f"{value} is not a finite number in {_quote(text)}")
        return _exact(_decimal(repr(value), text), text)
    if _is_symbolic(value) and getattr(value, "is_Rational", False):
        return _exact(Fraction(int(value.p), int(value.q)), text)  # type: ignore[attr-defined]
    if isinstance(value, _NOT_NUMBERS):
        _fail(f"a {type(value).__name__} is not a number, in {_quote(text)}")
    return value


def _decimal(literal: str, text: str) -> Value:
    """Exact value of a decimal literal (``0.75``, ``1e3``, ``-2.5E-1``), size-checked first."""
    s = literal.replace("_", "").lower()
    sign = -1 if s.startswith("-") else 1
    mantissa, _, exponent = s.lstrip("+-").partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    if not digits:
        return 0
    exp_sign = -1 if exponent.startswith("-") else 1
    exp_digits = exponent.lstrip("+-").lstrip("0") or "0"
    significant = digits.rstrip("0")
    # Past these bounds the numerator or the reduced denominator surely exceeds max_int_bits;
    # checking first keeps 1e999999999 from building a huge power of ten.
    if len(exp_digits) > 6 or len(significant) > 1000:
        _too_large(text)
    scale = exp_sign * int(exp_digits) - len(frac) + (len(digits) - len(significant))
    if abs(scale) > 1000:
        _too_large(text)
    m = sign * int(significant)
    return _exact(Fraction(m * 10**scale) if scale >= 0 else Fraction(m, 10**-scale), text)


@functools.lru_cache(maxsize=4096)
def parse_number(text: str) -> int | Fraction | None:
    """A plain number literal (``"224"``, ``"0.75"``, ``"-1e3"``) as an exact value, else None.

    Accepts an optional sign, decimal digits with ``_`` separators, a decimal point and an
    exponent; surrounding whitespace is ignored. Raises ExprError if the number is too large.
    """
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if not _DECIMAL.fullmatch(stripped):
        return None
    return _decimal(stripped, stripped)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- validation

_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscript",
    ast.Slice: "slice",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Dict: "dict",
    ast.Set: "set",
    ast.NamedExpr: "assignment expression (:=)",
    ast.Starred: "starred argument",
    ast.Await: "await",
}
_OPERATOR_NAMES: dict[type[ast.AST], str] = {
    ast.LShift: "shift operator '<<'",
    ast.RShift: "shift operator '>>'",
    ast.BitAnd: "bitwise operator '&'",
    ast.BitOr: "bitwise operator '|'",
    ast.BitXor: "bitwise operator '^' (use '**' for powers)",
    ast.Invert: "bitwise operator '~'",
    ast.MatMult: "matrix operator '@'",
    ast.Is: "identity test 'is'",
    ast.IsNot: "identity test 'is not'",
    ast.In: "membership test 'in'",
    ast.NotIn: "membership test 'not in'",
}
_CALL_OF_EXPRESSION = "call of something other than a function name"
_LITERAL_NAMES: dict[type, str] = {
    str: "string literal",
    bytes: "bytes literal",
    complex: "complex number",
    type(None): "None",
    type(...): "ellipsis",
}


def _did_you_mean(word: str, candidates: list[str]) -> list[str]:
    import difflib  # lazy: only error messages need it

    return difflib.get_close_matches(word, candidates, n=1)


def _validate(
    tree: ast.Expression,
    text: str,
    names: Mapping[str, object],
    functions: Mapping[str, Callable[..., Value]],
) -> None:
    """Reject anything outside the grammar, then the first unknown name, before evaluating."""
    count = sum(isinstance(n, (ast.expr, ast.keyword)) for n in ast.walk(tree))
    if count > LIMITS["max_nodes"]:
        limit = LIMITS["max_nodes"]
        _fail(f"expression too complex in {_quote(text)} ({count} nodes, limit {limit})")
    quoted = _quote(text)
    name_errors: list[str] = []

    def forbid(what: str) -> NoReturn:
        _fail(f"{quoted} is not allowed: {what}")

    def check_identifier(name: str) -> None:
        if name.startswith("__") and name.endswith("__"):
            forbid(f"dunder name '{name}'")

    def check_op(op: ast.AST, allowed: tuple[type[ast.AST], ...]) -> None:
        if not isinstance(op, allowed):
            forbid(_OPERATOR_NAMES.get(type(op), f"operator {type(op).__name__}"))

    def visit(node: ast.AST) -> None:
        if type(node) in _FORBIDDEN:
            forbid(_FORBIDDEN[type(node)])
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)):
                forbid(_LITERAL_NAMES.get(type(node.value), "literal"))
        elif isinstance(node, ast.Name):
            check_identifier(node.id)
            if node.id in names:
                return
            if node.id in functions:
                name_errors.append(f"function '{node.id}' used without a call in {quoted}")
                return
            close = _did_you_mean(node.id, [*names, *functions])
            if close:
                hint = f"did you mean '{close[0]}'?"
            elif names:
                known = sorted(names)
                more = ", ..." if len(known) > 10 else ""
                hint = "known names: " + ", ".join(known[:10]) + more
            else:
                hint = "no names are defined"
            name_errors.append(f"unknown name '{node.id}' in {quoted} ({hint})")
        elif isinstance(node, ast.UnaryOp):
            check_op(node.op, _UNARY_OPS)
            visit(node.operand)
        elif isinstance(node, ast.BinOp):
            check_op(node.op, _BINARY_OPS)
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                visit(value)
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                check_op(op, _COMPARISONS)
            for operand in (node.left, *node.comparators):
                visit(operand)
        elif isinstance(node, ast.IfExp):
            for part in (node.test, node.body, node.orelse):
                visit(part)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                forbid(_FORBIDDEN.get(type(node.func), _CALL_OF_EXPRESSION))
            check_identifier(node.func.id)
            if node.func.id not in functions:
                allowed = ", ".join(sorted(functions))
                name_errors.append(
                    f"unknown function '{node.func.id}' in {quoted} (allowed: {allowed})"
                )
            for arg in node.args:
                visit(arg)
            for keyword in node.keywords:
                if keyword.arg is None:
                    forbid("'**' argument unpacking")
                check_identifier(keyword.arg)
                visit(keyword.value)
        else:
            forbid(f"unsupported syntax ({type(node).__name__})")

    visit(tree.body)
    if name_errors:
        _fail(name_errors[0])


_UNARY_OPS: tuple[type[ast.AST], ...] = (ast.USub, ast.UAdd, ast.Not)
_BINARY_OPS: tuple[type[ast.AST], ...] = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
)
_COMPARISONS: tuple[type[ast.AST], ...] = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)

# --------------------------------------------------------------------------- evaluation

_CALL_PREFIX = re.compile(r"^[\w.<>]+\(\) ")  # "_make_divisible() missing ..." -> "missing ..."


class _Evaluator(simpleeval.SimpleEval):  # type: ignore[misc]
    """simpleeval restricted to the grammar above, with exact and bounded arithmetic."""

    def __init__(
        self, text: str, names: Mapping[str, object], functions: Mapping[str, Callable[..., Value]]
    ) -> None:
        operators: dict[type[ast.AST], Callable[..., Any]] = {
            ast.Add: operator.add,
            ast.Sub: operator.sub,
            ast.Mult: operator.mul,
            ast.Div: self._div,
            ast.FloorDiv: self._floordiv,
            ast.Mod: self._mod,
            ast.Pow: self._pow,
            ast.USub: operator.neg,
            ast.UAdd: operator.pos,
            ast.Not: operator.not_,
            ast.Eq: self._eq,
            ast.NotEq: self._ne,
            ast.Lt: operator.lt,
            ast.LtE: operator.le,
            ast.Gt: operator.gt,
            ast.GtE: operator.ge,
        }
        super().__init__(
            operators=operators, functions=dict(functions), names=dict(names), allowed_attrs={}
        )
        self.text = text
        self.nodes = {
            ast.Constant: self._eval_constant,
            ast.Name: self._eval_name,
            ast.UnaryOp: self._eval_unaryop,
            ast.BinOp: self._eval_binop,
            ast.BoolOp: self._eval_boolop,
            ast.Compare: self._eval_compare,
            ast.IfExp: self._eval_ifexp,
            ast.Call: self._eval_call,
        }

    def _eval(self, node: ast.AST) -> Value:
        return _exact(super()._eval(node), self.text)

    def _eval_constant(self, node: ast.Constant) -> Value:  # type: ignore[override]
        if isinstance(node.value, float):  # exact value of the literal as written
            literal = ast.get_source_segment(self.text, node) or repr(node.value)
            return _decimal(literal, self.text)
        return node.value

    def _eval_name(self, node: ast.Name) -> Value:
        value = self.names[node.id]
        if isinstance(value, _NOT_NUMBERS):
            kind = type(value).__name__
            _fail(f"name '{node.id}' in {_quote(self.text)} is a {kind}, not a number")
        return value

    def _eval_call(self, node: ast.Call) -> Value:
        name = node.func.id
        function = self.functions[name]
        args = [self._eval(arg) for arg in node.args]
        kwargs = {keyword.arg: self._eval(keyword.value) for keyword in node.keywords}
        try:
            return function(*args, **kwargs)
        except ExprError:
            raise
        except ZeroDivisionError as exc:
            _divide_by_zero(self.text, exc)
        except Exception as exc:  # any failure inside an allowed function, e.g. missing args
            reason = _CALL_PREFIX.sub("", str(exc)) or type(exc).__name__
            _fail(f"invalid call to {name}() in {_quote(self.text)}: {reason}", exc)

    def _eq(self, a: Value, b: Value) -> bool:
        """``a == b``; with a symbol, sympy decides (``2*x == x + x``) or it is an error: Python's
        ``==`` on sympy objects compares structure, so ``groups == 1`` would silently be False."""
        if not (_is_symbolic(a) or _is_symbolic(b)):
            return bool(a == b)
        import sympy  # lazy: only reached when a value already is a sympy object

        from costcalc.num import to_sympy

        diff = sympy.simplify(to_sympy(a) - to_sympy(b)) \
            if not isinstance(a, bool) and not isinstance(b, bool) else None
        if diff is not None and diff.is_zero is not None:
            return bool(diff.is_zero)
        _fail(f"cannot decide {a} == {b} in {_quote(self.text)}: it depends on a symbolic variable "
              "(give it a number)")

    def _ne(self, a: Value, b: Value) -> bool:
        return not self._eq(a, b)

    @staticmethod
    def _div(a: Value, b: Value) -> Value:
        if isinstance(a, int) and isinstance(b, int):
            return Fraction(a, b)  # int / int is exact, never a float
        return a / b

    @staticmethod
    def _floordiv(a: Value, b: Value) -> Value:
        # Symbolic closed forms are the unrounded ones: R // 32 is R/32, not floor(R/32).
        if _is_symbolic(a) or _is_symbolic(b):
            return _rounded("//", a, b)
        return a // b

    def _mod(self, a: Value, b: Value) -> Value:
        if _is_symbolic(a) or _is_symbolic(b):
            _fail(f"'%' needs numbers, not symbolic values, in {_quote(self.text)}")
        return a % b

    def _pow(self, base: Value, exponent: Value) -> Value:
        if isinstance(exponent, (int, Fraction)):
            if abs(exponent) > LIMITS["max_exponent"]:
                _fail(
                    f"exponent too large in {_quote(self.text)} (limit {LIMITS['max_exponent']})"
                )
            if isinstance(base, (int, Fraction)):
                if not isinstance(exponent, int):
                    quoted = _quote(self.text)
                    _fail(f"non-integer exponent in {quoted} (result would not be exact)")
                # |exponent| <= 64 and base <= max_int_bits bits: cheap to compute, then checked.
                return Fraction(base) ** exponent if exponent < 0 else base**exponent
        return base**exponent


def _parse(text: str) -> ast.Expression:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for '1 is 1'
            return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        _fail(f"malformed expression {_quote(text)}: {exc.msg}", exc)
    except (RecursionError, MemoryError) as exc:
        _fail(f"malformed expression {_quote(text)}: too deeply nested", exc)
    except ValueError as exc:  # e.g. null bytes
        _fail(f"malformed expression {_quote(text)}: {exc}", exc)


_MISS = object()
_CACHE_SIZE = 8192
_RESULTS: dict[Any, Value] = {}
_VALID: dict[Any, bool] = {}


def _bounded_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parsed(source: str) -> tuple[ast.Expression, tuple[str, ...]]:
    """The tree of ``source`` and the names it mentions (variables and functions), in order.
    Syntax errors raise (and are not cached)."""
    tree = _parse(source)
    ids = tuple(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)))
    return tree, ids


def evaluate(
    text: str | int | float | Fraction,
    names: Mapping[str, object],
    *,
    functions: Mapping[str, Callable[..., Value]] | None = None,
) -> Value:
    """Evaluate a spec value exactly: a number, or an expression in the grammar of this module.

    ``names`` gives variable values (int, Fraction, float, or sympy objects); ``functions`` adds
    callables (keyword arguments allowed) to :data:`FUNCTIONS` for this call, overriding on clash.
    Returns an ``int`` when integral, else a ``Fraction``, or a sympy expression when symbols are
    involved. Raises :class:`ExprError` (one line, quoting the expression) for anything else.
    """
    if isinstance(text, (int, float, Fraction)):
        return _exact(text, repr(text))
    if not isinstance(text, str):
        _fail(f"expected an expression or a number, got {type(text).__name__}")
    if len(text) > LIMITS["max_length"]:
        _fail(f"expression too long ({len(text)} characters, limit {LIMITS['max_length']})")
    source = text.strip()
    if not source:
        _fail("empty expression")
    allowed = FUNCTIONS if functions is None else {**FUNCTIONS, **functions}
    tree, ids = _parsed(source)
    # Specs repeat the same text many times (``repeat: 1000``, every layer's ``M: 64*alpha``): the
    # value is a pure function of the text, the values of the names it uses and the limits, so it
    # is cached (successes only: an error is recomputed, and raised, every time).
    # Not with symbols: a symbolic value notes the roundings it skips (costcalc.conditions), and
    # under costcalc.num.exact_floors keeps them, so it must be computed every time.
    key: Any = None
    if functions is None and not any(_is_symbolic(names[n]) for n in ids if n in names):
        key = (source, tuple(LIMITS.values()),
               tuple((n, type(names[n]), names[n]) if n in names else n for n in ids))
        try:
            hit = _RESULTS.get(key, _MISS)
        except TypeError:  # an unhashable value among the names: no caching
            key, hit = None, _MISS
        if hit is not _MISS:
            return hit
    vkey = (source, LIMITS["max_nodes"], tuple((n in names, n in allowed) for n in ids))
    if functions is not None or vkey not in _VALID:
        _validate(tree, source, names, allowed)
        if functions is None:
            _bounded_put(_VALID, vkey, True)
    try:
        value = _Evaluator(source, names, allowed).eval(source, previously_parsed=tree.body)
        if key is not None:
            _bounded_put(_RESULTS, key, value)
        return value
    except ExprError:
        raise
    except ZeroDivisionError as exc:
        _divide_by_zero(source, exc)
    except RecursionError as exc:
        _fail(f"expression too deeply nested {_quote(source)}", exc)
    except Exception as exc:  # e.g. TypeError from mixing types, sympy's undecidable comparisons
        _fail(f"cannot evaluate {_quote(source)}: {exc}", exc)
