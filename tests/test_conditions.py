"""Closed forms that state where they hold (costcalc/conditions.py), checked against the numeric walk.

The numeric walk (every size floored as PyTorch floors it; verified against PyTorch's own counters
in test_verify.py) is the reference. For every symbolic example:

- where the stated conditions hold, the closed form equals the numeric walk, in every metric;
- the exact form (``--exact``, ceiling/floor terms) equals the numeric walk at every value;
- the conditions are the ones the network's strides imply (written out here from the papers'
  architectures, e.g. ResNet-50 halves its input five times: R must be a multiple of 2⁵ = 32).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
import sympy
from conftest import cli_json, example, run_cli

from costcalc.conditions import _meet, parse_assumption
from costcalc.engine import symbol
from costcalc.errors import UsageError
from costcalc.metrics import METRICS
from costcalc.num import to_sympy
from costcalc.results import load_network
from costcalc.spec import build_spec, read_yaml
from costcalc.network import evaluate_network


def numeric_totals(name: str, **values: Any) -> Any:
    doc = read_yaml(example(name))
    return evaluate_network(build_spec(doc, name, {k: str(v) for k, v in values.items()})).totals


def at(expr: Any, var: str, value: Any) -> Any:
    e = to_sympy(expr)
    e = e.subs({s: to_sympy(Fraction(str(value))) for s in e.free_symbols if str(s) == var})
    assert not e.free_symbols, e
    return e


# -- ResNet-50: the example ----------------------------------------------------------------

#: ResNet-50's stride-2 layers (He et al., Table 1): conv1, the 3×3 max pool, conv3_1, conv4_1, conv5_1
RESNET_HALVINGS = 5


@pytest.fixture(scope="module")
def resnet50() -> Any:
    return load_network(example("resnet50"), {"resolution": "R"})


def test_resnet50_condition_comes_from_its_strides(resnet50: Any) -> None:
    (cond,) = resnet50.conditions.derived()
    assert (cond.variable, cond.step, cond.offset) == ("R", 2**RESNET_HALVINGS, 0)
    assert cond.text == "R is a multiple of 32"
    doc = cli_json("net", example("resnet50"), "--set", "resolution=R")
    assert doc["assumptions"][0]["variable"] == "R" and doc["assumptions"][0]["step"] == 32
    assert not doc["exact_for_every_value"]
    r = run_cli("net", example("resnet50"), "--set", "resolution=R", "--depth", "0")
    assert "exact when R is a multiple of 32" in r.output


def test_resnet50_closed_and_exact_forms_against_the_numeric_walk(resnet50: Any) -> None:
    closed = resnet50.formula("macs")
    R = symbol("R")
    assert sympy.expand(closed - (76848 * R**2 + 2048000)) == 0  # the closed form
    exact = resnet50.formula("macs", exact=True)
    assert exact.has(sympy.ceiling)
    differs = []
    for r in range(32, 257):
        numeric = numeric_totals("resnet50", resolution=r).macs
        assert at(exact, "R", r) == numeric, r
        holds = resnet50.holds(R=r)
        assert holds == (r % 2**RESNET_HALVINGS == 0)
        if holds:
            assert at(closed, "R", r) == numeric, r
        elif at(closed, "R", r) != numeric:
            differs.append(r)
    assert 225 in differs  # 76848·225² + 2048000 = 3,892,478,000: 11 % short of the count
    assert at(closed, "R", 225) == 3_892_478_000


def test_exact_flag_in_the_cli() -> None:
    doc = cli_json("net", example("resnet50"), "--set", "resolution=R", "--exact")
    assert doc["exact_for_every_value"] and doc["assumptions"] == []
    assert "ceiling(R/32)" in doc["totals"]["macs"]
    r = run_cli("net", example("resnet50"), "--set", "resolution=R", "--exact", "--depth", "0")
    assert "⌈R/32⌉" in r.output


# -- every symbolic example ------------------------------------------------------------------------

#: values to test each variable at (a variable's sizes, widths, group counts)
VALUES = {
    "resolution": [32, 64, 96, 100, 113, 128, 160, 192, 200, 224, 225, 256],
    "alpha": ["0.25", "0.3", "0.5", "0.75", "1", "1.25", "1.4", "2"],
    "groups": [1, 2, 3, 4, 8],
    "cardinality": [8, 16, 32],
    "c2": [240, 264, 288, 480],
}
#: (example, variable) pairs that can be symbolic (ShuffleNet's alpha picks channels by comparisons)
SYMBOLIC = [(p, v) for p, vs in {
    "mobilenet_v1": ["alpha", "resolution"], "fd_mobilenet": ["alpha", "resolution"],
    "mobilenet_v2": ["alpha", "resolution"], "resnet18": ["resolution"], "resnet34": ["resolution"],
    "resnet50": ["resolution"], "resnet50_v1_5": ["resolution"], "resnext50_32x4d": ["resolution", "cardinality"],
    "shufflenet_v1": ["resolution", "c2"], "shufflenet_v2": ["resolution"],
    "resnet101": ["resolution"], "resnet152": ["resolution"],
}.items() for v in vs]
SLOW = {"resnet101", "resnet152"}


@pytest.mark.parametrize("name, var", [pytest.param(p, v, marks=pytest.mark.slow if p in SLOW else ())
                                       for p, v in SYMBOLIC], ids=[f"{p}-{v}" for p, v in SYMBOLIC])
def test_every_symbolic_example_holds_where_it_says(name: str, var: str) -> None:
    net = load_network(example(name), {var: "x"})
    assert net.symbolic
    exact = net.exact_form()
    held = 0
    for value in VALUES[var]:
        numeric = numeric_totals(name, **{var: value})
        if exact.holds(x=Fraction(str(value))):  # every floor kept; a structure may assume widths differ
            for m in METRICS:
                assert at(m(exact.totals), "x", value) == m(numeric), (m.name, value)
        else:
            assert var == "alpha", f"the exact form of {name} should hold for every {var}"
        if net.holds(x=Fraction(str(value))):
            held += 1
            for m in METRICS:
                assert at(m(net.totals), "x", value) == m(numeric), (m.name, value)
    assert held, f"{name}: the conditions ({net.conditions.sentence()}) hold at none of {VALUES[var]}"


def test_mobilenet_width_conditions() -> None:
    """MobileNet v1's channels are int(c·α) for c = 32 … 1024: exact when 32·α is an integer.
    MobileNetV2 rounds c·α to a multiple of 8 for c = 16, 24, 32, 64, …: 24·α/8 and 32·α/8 must be
    integers together, so α must be an integer."""
    v1 = load_network(example("mobilenet_v1"), {"alpha": "a"})
    assert [(c.variable, c.step) for c in v1.conditions.derived()] == [("a", Fraction(1, 32))]
    v2 = load_network(example("mobilenet_v2"), {"alpha": "a"})
    assert [(c.variable, c.step) for c in v2.conditions.derived()] == [("a", 1)]


# -- assumptions -----------------------------------------------------------------------------------


def mobilenet_v1_macs(a: Any) -> Any:
    """MobileNet v1's multiply-adds at width α (Howard et al., Table 1), written out: the 3×3 stem,
    then (output size, input channels, output channels) of each depthwise-separable layer."""
    total = 112 * 112 * 3 * 9 * 32 * a
    layers = [(112, 32, 64), (56, 64, 128), (56, 128, 128), (28, 128, 256), (28, 256, 256), (14, 256, 512),
              *[(14, 512, 512)] * 5, (7, 512, 1024), (7, 1024, 1024)]
    for size, n, m in layers:
        total += size * size * 9 * n * a + size * size * n * m * a * a  # depthwise + pointwise
    return total + 1024 * a * 1000  # the classifier


def test_assume_gives_the_papers_polynomial() -> None:
    a = symbol("a")
    plain = load_network(example("mobilenet_v1"), {"alpha": "a"})
    assert plain.formula("macs").has(sympy.Max)
    net = load_network(example("mobilenet_v1"), {"alpha": "a"}, assume=["a>=0.25"])
    assert sympy.expand(net.formula("macs") - mobilenet_v1_macs(a)) == 0
    assert mobilenet_v1_macs(1) == 568_740_352  # the paper's 569 million
    assert [c.text for c in net.conditions.assumed()] == ["a ≥ 0.25"]
    below = load_network(example("mobilenet_v1"), {"alpha": "a"}, assume=["a>=0.125"])
    assert below.formula("macs").has(sympy.Max)  # 32·α = 4 < 8 there: max(8, 32·α) stays


def test_assume_on_the_command_line() -> None:
    doc = cli_json("net", example("mobilenet_v1"), "--set", "alpha=a", "--assume", "0.25 <= a <= 1")
    assert doc["totals"]["macs"] == "539492352*a**2 + 29248000*a"
    assert {x["text"] for x in doc["assumptions"] if x["assumed"]} == {"a ≥ 0.25", "a ≤ 1"}


@pytest.mark.parametrize("text, message", [
    ("a", "expected a comparison"),
    ("a >= b", "unknown name 'b'"),
    ("a*a >= 1", "compare one variable with a number"),
    ("1 >= 2", "compare one variable with a number"),
    ("__import__('os').system('true') >= 1", "option --assume"),
    ("a >= 'x'", "option --assume"),
])
def test_assume_text_is_data(text: str, message: str) -> None:
    with pytest.raises(UsageError, match="option --assume") as e:
        parse_assumption(text, {"a": symbol("a")})
    assert message in str(e.value)
    r = run_cli("net", example("mobilenet_v1"), "--set", "alpha=a", "--assume", text)
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "Traceback" not in r.output


def test_assume_needs_a_symbol() -> None:
    r = run_cli("net", example("mobilenet_v1"), "--assume", "alpha>=0.25")
    assert r.exit_code == 2 and "every variable is a number" in r.output


# -- layers, derivations, explicit paddings ----------------------------------------------------------


def test_layer_stride_two_needs_even_sizes() -> None:
    doc = cli_json("layer", "--type", "conv", "--stride", "2")
    conds = {(c["variable"], c["step"], c["offset"]) for c in doc["assumptions"]}
    assert conds == {("H", 2, 0), ("W", 2, 0), ("K", 2, 1)}  # even sizes; odd kernels ("same" padding)
    names = {s: symbol(s) for s in "HWNKM"}
    formula = sympy.sympify(doc["formulas"]["macs"], locals=names)
    for h in range(8, 21):
        numbers = cli_json("layer", "--type", "conv", "--stride", "2", "-H", str(h), "-N", "8", "-M", "8")
        value = formula.subs({names["H"]: h, names["W"]: h, names["N"]: 8, names["M"]: 8, names["K"]: 3})
        assert (value == numbers["macs"]) == (h % 2 == 0), h


def test_derive_states_the_stride_condition_not_the_premise() -> None:
    doc = cli_json("derive", "conv(S=2)")
    assert {(c["variable"], c["step"]) for c in doc["assumptions"]} == {("H", 2), ("W", 2), ("K", 2)}
    # H/2 is the user's premise, not a condition; an odd K remains ("same" padding)
    assert [c["text"] for c in cli_json("derive", "separable(H=H/2, W=W/2, N=2*N, M=2*M)")["assumptions"]] \
        == ["K is odd"]
    r = run_cli("derive", "conv(S=2)", "-H", "57")
    assert "not at the given dimensions, so the value is the formula's, not PyTorch's count" in " ".join(r.output.split())


def test_explicit_padding_needs_an_even_size(tmp_path: Any) -> None:
    """A 3×3 conv without padding at stride 2 gives floor((R − 3)/2) + 1. The closed form is
    R/2 + floor(−3/2) + 1 = R/2 − 1 (exact where the stride divides R, as at the usual
    resolutions): exact for even R, and at least 1 from R = 4 on."""
    spec = tmp_path / "valid.yaml"
    spec.write_text("vars: {resolution: 33}\ninput: [resolution, resolution, 3]\n"
                    "layers: [{type: conv, M: 8, K: 3, S: 2, P: 0}]\n")
    net = load_network(str(spec), {"resolution": "R"})
    (cond,) = net.conditions.derived()
    assert (cond.step, cond.offset, cond.at_least) == (2, 0, 4) and cond.text == "R is a multiple of 2 and R ≥ 4"
    doc = read_yaml(str(spec))
    for r in range(4, 40):
        numeric = evaluate_network(build_spec(doc, "v", {"resolution": str(r)})).totals.macs
        assert (at(net.formula("macs"), "R", r) == numeric) == (r % 2 == 0), r
        assert at(net.formula("macs", exact=True), "R", r) == numeric


def test_even_kernel_same_padding_loses_one() -> None:
    """PyTorch pads a 2×2 kernel by 0 for "same": the output is H − 1, for symbols as for numbers;
    a formula in a symbolic K says that it needs an odd K."""
    assert cli_json("layer", "--type", "conv", "-K", "2")["out_shape"][:2] == ["H - 1", "H - 1"]
    assert cli_json("layer", "--type", "conv", "-K", "2", "-H", "9")["out_shape"][:2] == [8, 8]
    doc = cli_json("layer", "--type", "depthwise")
    assert [c["text"] for c in doc["assumptions"]] == ["K is odd"]


def test_comparisons_with_a_symbol_are_decided_or_refused() -> None:
    """ShuffleNet picks its stage widths with ``groups == 1``: with a symbolic groups that is an
    error, never a silent False (which once gave every g the width of g = 8)."""
    r = run_cli("net", example("shufflenet_v1"), "--set", "groups=g")
    assert r.exit_code == 1 and "cannot decide g == 1" in r.output


def test_compare_and_sweep_carry_conditions() -> None:
    doc = cli_json("compare", example("resnet18"), example("mobilenet_v1"), "--set", "resolution=R")
    assert all(n["assumptions"][0]["step"] == 32 for n in doc["networks"])
    doc = cli_json("sweep", example("mobilenet_v1"), "--set", "alpha=0.5,1", "--set", "resolution=R")
    assert all(p["assumptions"][0]["text"] == "R is a multiple of 32" for p in doc["points"])


@pytest.mark.parametrize("c1, g1, c2, g2, expected", [
    (0, 2, 0, 4, (4, 0)),                       # R/2 and R/4 integers: multiples of 4
    (1, 2, 0, 3, (6, 3)),                       # odd and a multiple of 3: 3, 9, 15, ...
    (0, 2, 1, 4, None),                         # even and ≡ 1 (mod 4): nothing
    (0, Fraction(1, 32), 0, Fraction(1, 64), (Fraction(1, 32), 0)),  # 32·α and 64·α integers
    (Fraction(1, 2), 1, 0, Fraction(1, 4), (1, Fraction(1, 2))),   # α ∈ ½ + ℤ and 4·α integer
])
def test_cosets_meet_as_the_chinese_remainder_theorem_says(c1: Any, g1: Any, c2: Any, g2: Any,
                                                           expected: Any) -> None:
    got = _meet(Fraction(g1), Fraction(c1), Fraction(g2), Fraction(c2))
    assert got == (None if expected is None else (Fraction(expected[0]), Fraction(expected[1])))
