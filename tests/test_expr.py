"""Tests for costcalc.expr, the safe exact evaluator. Every expectation is worked out by hand."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costcalc.errors import ExprError
from costcalc.expr import FUNCTIONS, LIMITS, evaluate, parse_number

R = sympy.Symbol("R")
NAMES = {"alpha": 1, "i": 0}

# --------------------------------------------------------------------------- good expressions

GOOD = [
    # (expression, names, exact result computed by hand)
    ("64*alpha", {"alpha": 0.5}, 32),
    ("64*alpha", {"alpha": 0.75}, 48),
    ("0.75*64", {}, 48),
    ("7/2", {}, Fraction(7, 2)),
    ("8/2", {}, 4),
    ("-7/2", {}, Fraction(-7, 2)),
    ("7//2", {}, 3),
    ("-7//2", {}, -4),
    ("7 % 3", {}, 1),
    ("-7 % 3", {}, 2),
    ("2**10", {}, 1024),
    ("2**-2", {}, Fraction(1, 4)),
    ("(1/2)**3", {}, Fraction(1, 8)),
    ("10**64", {}, 10**64),
    ("2**64*2**64*2**64*2**63", {}, 2**255),  # 256 bits: exactly at the limit
    ("0.1 + 0.2", {}, Fraction(3, 10)),
    ("0.1 + 0.2 == 0.3", {}, True),
    ("1e3", {}, 1000),
    ("2.5e-1", {}, Fraction(1, 4)),
    ("1_000", {}, 1000),
    ("0x10", {}, 16),
    ("  64 * alpha  ", {"alpha": 2}, 128),
    ("(1 +\n 2)", {}, 3),
    ("alpha", {"alpha": 0.1}, Fraction(1, 10)),
    ("int(1024*0.25)", {}, 256),
    ("int(1024*alpha)", {"alpha": 0.35}, 358),  # 358.4 truncated
    ("int(-7/2)", {}, -3),  # toward zero
    ("floor(-7/2)", {}, -4),
    ("ceil(7/2)", {}, 4),
    ("round(7/2)", {}, 4),
    ("round(5/2)", {}, 2),  # Python rounds half to even
    ("abs(-3/4)", {}, Fraction(3, 4)),
    ("min(3, 1, 2)", {}, 1),
    ("max(7)", {}, 7),
    ("max(8, int(c*alpha))", {"c": 16, "alpha": 0.25}, 8),  # int(4) = 4 < 8
    ("max(8, int(c*alpha))", {"c": 64, "alpha": 0.5}, 32),
    # make_divisible: new_v = max(min_value or divisor, int(v + d/2) // d * d), +d if < 0.9 v
    ("make_divisible(32*0.75, 8)", {}, 24),  # 24+4=28 -> 24; 24 >= 21.6
    ("make_divisible(0.35*32, 8)", {}, 16),  # 11.2+4=15.2 -> 15 -> 8; 8 < 10.08 -> 16
    ("make_divisible(32*alpha)", {"alpha": 1.4}, 48),  # 44.8+4=48.8 -> 48 -> 48; 48 >= 40.32
    ("make_divisible(v=3, divisor=8)", {}, 8),  # 3+4=7 -> 0; max(8, 0) = 8
    ("make_divisible(100, 8, min_value=120)", {}, 120),  # 104 -> max(120, 104)
    ("make_divisible(13.1, 8)", {}, 16),  # 17.1 -> 17 -> 16; 16 >= 11.79
    ("make_divisible(20, 16)", {}, 32),  # 28 -> 16; 16 < 18 -> 32
    ("resolution // 32", {"resolution": 224}, 7),
    ("2 if i == 0 else 1", {"i": 0}, 2),
    ("2 if i == 0 else 1", {"i": 3}, 1),
    ("1 < 2 <= 2", {}, True),
    ("1 < 2 > 3", {}, False),
    ("not 0", {}, True),
    ("0 or 5", {}, 5),
    ("3 and 0", {}, 0),
    ("-(-3) + +4", {}, 7),
    ("True + 1", {}, 2),
]


@pytest.mark.parametrize(("text", "names", "expected"), GOOD)
def test_good_expressions(text: str, names: dict[str, object], expected: object) -> None:
    result = evaluate(text, names)
    assert result == expected
    assert type(result) is type(expected)  # int stays int, Fraction only when not integral


def test_float_literal_times_int_is_an_int() -> None:
    result = evaluate("0.75*64", {})
    assert result == 48 and type(result) is int


@pytest.mark.parametrize(
    ("value", "expected"),
    [(224, 224), (0.75, Fraction(3, 4)), (0.1, Fraction(1, 10)), (1.0, 1), (Fraction(6, 3), 2)],
)
def test_number_inputs_are_returned_exactly(value: object, expected: object) -> None:
    result = evaluate(value, {})  # type: ignore[arg-type]
    assert result == expected and type(result) is type(expected)


def test_extra_functions_with_keyword_arguments() -> None:
    def conv(H: int, N: int) -> int:
        return H * N

    result = evaluate("conv(H=H/2, N=2*N)", {"H": 224, "N": 3}, functions={"conv": conv})
    assert result == 672  # 112 * 6
    assert evaluate("max(1, 2)", {}, functions={"max": lambda a, b: a}) == 1  # extras override


def test_default_function_names() -> None:
    expected = {"abs", "ceil", "floor", "int", "make_divisible", "max", "min", "round"}
    assert set(FUNCTIONS) == expected
    assert LIMITS == {"max_length": 500, "max_nodes": 200, "max_exponent": 64, "max_int_bits": 256}


# --------------------------------------------------------------------------- parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("224", 224),
        ("0.75", Fraction(3, 4)),
        ("1e3", 1000),
        (" -2.5 ", Fraction(-5, 2)),
        ("+1_000", 1000),
        (".5", Fraction(1, 2)),
        ("5.", 5),
        ("0e999999999", 0),
        ("abc", None),
        ("", None),
        ("1/2", None),
        ("64*alpha", None),
        ("inf", None),
        ("nan", None),
        ("0x10", None),
        ("1e", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits are not a plain literal
    ],
)
def test_parse_number(text: str, expected: object) -> None:
    result = parse_number(text)
    assert result == expected and type(result) is type(expected)


def test_parse_number_too_large() -> None:
    with pytest.raises(ExprError, match=r"^number too large in '1e400' \(limit 256 bits\)$"):
        parse_number("1e400")


# --------------------------------------------------------------------------- symbolic values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64*R/2", 32 * R),
        ("R//32", R / 32),  # documented: '//' on symbols is plain '/', no sympy.floor
        ("0.75*R", sympy.Rational(3, 4) * R),
        ("R**2 + 1", R**2 + 1),
        ("int(R)", R),
        ("round(R)", R),
        ("floor(R)", R),
        ("ceil(R/2)", R / 2),
        ("make_divisible(R*alpha, 8)", R / 2),
        ("max(R, 3)", sympy.Max(R, 3)),
        ("min(R, 3)", sympy.Min(R, 3)),
    ],
)
def test_symbolic(text: str, expected: object) -> None:
    assert evaluate(text, {"R": R, "alpha": 0.5}) == expected


def test_symbolic_number_collapses_to_int() -> None:
    result = evaluate("R - R + 3", {"R": R})
    assert result == 3 and type(result) is int


@given(st.integers(min_value=1, max_value=10_000))
def test_symbolic_formula_at_a_number_equals_numeric(n: int) -> None:
    text = "64*R/2 + R**2 - 3*R + 7/2"
    symbolic = evaluate(text, {"R": R})
    assert symbolic.subs(R, n) == evaluate(text, {"R": n}) == Fraction(2 * n * n + 58 * n + 7, 2)


# --------------------------------------------------------------------------- bad expressions

ALLOWED = "abs, ceil, floor, int, make_divisible, max, min, round"

BAD = [
    # injection attempts
    ("__import__('os').system('echo hi')", "'__import__('os').system('echo hi')' is not allowed: attribute access"),
    ("__import__('os')", "'__import__('os')' is not allowed: dunder name '__import__'"),
    ("__builtins__", "'__builtins__' is not allowed: dunder name '__builtins__'"),
    ("().__class__.__bases__", "'().__class__.__bases__' is not allowed: attribute access"),
    ("alpha.__dict__", "'alpha.__dict__' is not allowed: attribute access"),
    ("x.__class__", "'x.__class__' is not allowed: attribute access"),
    ("open('/etc/passwd')", "'open('/etc/passwd')' is not allowed: string literal"),
    ("open(1)", f"unknown function 'open' in 'open(1)' (allowed: {ALLOWED})"),
    ("lambda: 1", "'lambda: 1' is not allowed: lambda"),
    ("(lambda: 1)()", "'(lambda: 1)()' is not allowed: lambda"),
    ("[x for x in range(9)]", "'[x for x in range(9)]' is not allowed: comprehension"),
    ("max(x for x in alpha)", "'max(x for x in alpha)' is not allowed: comprehension"),
    ('"a"*10**9', "'\"a\"*10**9' is not allowed: string literal"),
    ("alpha[0]", "'alpha[0]' is not allowed: subscript"),
    ("f'{alpha}'", "'f'{alpha}'' is not allowed: f-string"),
    ("b'x'", "'b'x'' is not allowed: bytes literal"),
    ("[1, 2]", "'[1, 2]' is not allowed: list"),
    ("(1, 2)", "'(1, 2)' is not allowed: tuple"),
    ("{1: 2}", "'{1: 2}' is not allowed: dict"),
    ("{1}", "'{1}' is not allowed: set"),
    ("(y := 1)", "'(y := 1)' is not allowed: assignment expression (:=)"),
    ("max(*alpha)", "'max(*alpha)' is not allowed: starred argument"),
    ("max(**alpha)", "'max(**alpha)' is not allowed: '**' argument unpacking"),
    ("max(1)(2)", "'max(1)(2)' is not allowed: call of something other than a function name"),
    ("1j", "'1j' is not allowed: complex number"),
    ("None", "'None' is not allowed: None"),
    ("...", "'...' is not allowed: ellipsis"),
    ("1 is 1", "'1 is 1' is not allowed: identity test 'is'"),
    ("1 in alpha", "'1 in alpha' is not allowed: membership test 'in'"),
    ("6 & 3", "'6 & 3' is not allowed: bitwise operator '&'"),
    ("~1", "'~1' is not allowed: bitwise operator '~'"),
    ("alpha ^ 2", "'alpha ^ 2' is not allowed: bitwise operator '^' (use '**' for powers)"),
    # bombs
    ("1<<10**9", "'1<<10**9' is not allowed: shift operator '<<'"),
    ("8 >> 1", "'8 >> 1' is not allowed: shift operator '>>'"),
    ("9**9**9", "exponent too large in '9**9**9' (limit 64)"),
    ("2**10**6", "exponent too large in '2**10**6' (limit 64)"),
    ("10**300", "exponent too large in '10**300' (limit 64)"),
    ("2**1000", "exponent too large in '2**1000' (limit 64)"),
    ("2**65", "exponent too large in '2**65' (limit 64)"),
    ("2**64*2**64*2**64*2**64", "number too large in '2**64*2**64*2**64*2**64' (limit 256 bits)"),
    ("1/2**64/2**64/2**64/2**64", "number too large in '1/2**64/2**64/2**64/2**64' (limit 256 bits)"),
    ("(2**64)**64", "number too large in '(2**64)**64' (limit 256 bits)"),
    ("1e300", "number too large in '1e300' (limit 256 bits)"),
    ("1e-400", "number too large in '1e-400' (limit 256 bits)"),
    ("1e999999999", "number too large in '1e999999999' (limit 256 bits)"),
    ("9" * 100, f"number too large in '{'9' * 100}' (limit 256 bits)"),  # 100 nines: 333 bits
    ("a" * 10000, "expression too long (10000 characters, limit 500)"),
    ("1+" * 5000 + "1", "expression too long (10001 characters, limit 500)"),
    ("1+" * 150 + "1", f"expression too complex in '{('1+' * 49)[:97]}...' (301 nodes, limit 200)"),
    # unknown names and functions
    ("64*alhpa", "unknown name 'alhpa' in '64*alhpa' (did you mean 'alpha'?)"),
    ("maxx(1, 2)", f"unknown function 'maxx' in 'maxx(1, 2)' (allowed: {ALLOWED})"),
    ("mx + 1", "unknown name 'mx' in 'mx + 1' (did you mean 'max'?)"),
    ("zzz + 1", "unknown name 'zzz' in 'zzz + 1' (known names: alpha, i)"),
    ("1 if i == 0 else zzz", "unknown name 'zzz' in '1 if i == 0 else zzz' (known names: alpha, i)"),
    ("foo(2)", f"unknown function 'foo' in 'foo(2)' (allowed: {ALLOWED})"),
    ("alpha(2)", f"unknown function 'alpha' in 'alpha(2)' (allowed: {ALLOWED})"),
    ("max + 1", "function 'max' used without a call in 'max + 1'"),
    ("(1 +\n zzz)", "unknown name 'zzz' in '(1 +  zzz)' (known names: alpha, i)"),
    # malformed
    ("3 +* 4", "malformed expression '3 +* 4': invalid syntax"),
    ("(", "malformed expression '(': '(' was never closed"),
    ("", "empty expression"),
    ("   ", "empty expression"),
    # arithmetic
    ("1/0", "division by zero in '1/0'"),
    ("1//0", "division by zero in '1//0'"),
    ("1 % 0", "division by zero in '1 % 0'"),
    ("0**-1", "division by zero in '0**-1'"),
    ("alpha/i", "division by zero in 'alpha/i'"),
    ("make_divisible(1/0)", "division by zero in 'make_divisible(1/0)'"),
    ("4**0.5", "non-integer exponent in '4**0.5' (result would not be exact)"),
    # failures inside allowed functions name the call
    (
        "make_divisible()",
        "invalid call to make_divisible() in 'make_divisible()': "
        "missing 1 required positional argument: 'v'",
    ),
    (
        "make_divisible(10, 0)",
        "invalid call to make_divisible() in 'make_divisible(10, 0)': "
        "divisor must be a positive integer, got 0",
    ),
    ("int(1, 2)", "invalid call to int() in 'int(1, 2)': takes 1 positional argument but 2 were given"),
    ("max(1, key=2)", "invalid call to max() in 'max(1, key=2)': got an unexpected keyword argument 'key'"),
    ("min()", "invalid call to min() in 'min()': missing 1 required positional argument: 'first'"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_expressions(text: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        evaluate(text, NAMES)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "names", "message"),
    [
        ("x", {}, "unknown name 'x' in 'x' (no names are defined)"),
        (
            "zzz",
            {f"n{k}": k for k in range(12)},
            "unknown name 'zzz' in 'zzz' (known names: n0, n1, n10, n11, n2, n3, n4, n5, n6, n7, ...)",
        ),
        ("R % 2", {"R": R}, "'%' needs numbers, not symbolic values, in 'R % 2'"),
        ("alpha", {"alpha": float("nan")}, "nan is not a finite number in 'alpha'"),
        ("s*2", {"s": "ab"}, "name 's' in 's*2' is a str, not a number"),
    ],
)
def test_bad_with_names(text: str, names: dict[str, object], message: str) -> None:
    with pytest.raises(ExprError) as info:
        evaluate(text, names)
    assert str(info.value) == message


def test_undecidable_symbolic_condition() -> None:
    with pytest.raises(ExprError, match=r"^cannot evaluate '1 if R > 3 else 2': "):
        evaluate("1 if R > 3 else 2", {"R": R})


def test_error_from_extra_function_names_the_call() -> None:
    def boom() -> int:
        raise ValueError("bad layer")

    with pytest.raises(ExprError) as info:
        evaluate("boom()", {}, functions={"boom": boom})
    assert str(info.value) == "invalid call to boom() in 'boom()': bad layer"


def test_limits_are_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LIMITS, "max_length", 10)
    with pytest.raises(ExprError, match=r"^expression too long \(11 characters, limit 10\)$"):
        evaluate("1+1+1+1+1+1", {})


# --------------------------------------------------------------------------- fuzzing

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _evaluates_or_explains(text: str) -> None:
    try:
        result = evaluate(text, NAMES)
    except ExprError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert not isinstance(result, float)


@_FUZZ
@given(st.text(max_size=60))
def test_fuzz_any_text(text: str) -> None:
    _evaluates_or_explains(text)


@_FUZZ
@given(st.text(alphabet="0123456789+-*/%()<>=.,abcdefghijklmnopqrstuvwxyz_ ", max_size=60))
def test_fuzz_grammar_ish_text(text: str) -> None:
    _evaluates_or_explains(text)


@given(st.integers(min_value=1, max_value=4096), st.sampled_from([1, 2, 4, 8, 16, 32]))
def test_make_divisible_matches_torchvision(v: int, divisor: int) -> None:
    # torchvision's _make_divisible, written out with floats (exact for these small integers)
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    assert evaluate(f"make_divisible({v}, {divisor})", {}) == new_v


# --------------------------------------------------------------------------- startup cost


def test_numeric_evaluation_does_not_import_sympy() -> None:
    code = (
        "import sys; from costcalc.expr import evaluate; "
        "assert evaluate('64*alpha', {'alpha': 0.5}) == 32; "
        "assert evaluate('max(8, make_divisible(32*alpha))', {'alpha': 0.5}) == 16; "
        "assert 'sympy' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
