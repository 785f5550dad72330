"""costcalc.algebra, ``costcalc ratio`` and ``costcalc derive``.

Expectations are closed forms written here with sympy (the seed article's and the papers'
formulas), never costcalc's own output; the last tests re-run docs/derivations.md so the page
cannot rot.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import shlex
from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from click.testing import CliRunner

from costcalc.cli import main
from costcalc.algebra import derive, layer_cost, ratio
from costcalc.errors import CostcalcError, ExprError

P = dict(positive=True)
H, W, N, M, K, G, T, B, S = sympy.symbols("H W N M K G T B S", **P)
c, m, g, c1, c2, h, w = sympy.symbols("c m g c1 c2 h w", **P)
alpha, rho = sympy.symbols("alpha rho", **P)

DOC = Path(__file__).resolve().parents[1] / "docs" / "derivations.md"
UPDATE = os.environ.get("COSTCALC_UPDATE_GOLDEN") == "1"  # as for the golden tables of test_network.py


def same(a: object, b: object) -> bool:
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


# ----------------------------------------------------------------------------------------------
# The claims


@pytest.mark.parametrize("type_name, expected", [
    ("conv", H * W * N * K**2 * M),
    ("pointwise", H * W * N * M),
    ("grouped", H * W * N * K**2 * M / G),
    ("depthwise", H * W * N * K**2),
    ("separable", H * W * N * (K**2 + M)),
    ("channel_shuffle", 0),
])
def test_seed_formulas(type_name: str, expected: object) -> None:
    assert same(layer_cost(type_name), expected)


@pytest.mark.parametrize("a, b, expected", [
    ("pointwise", "conv", 1 / K**2),
    ("grouped", "conv", 1 / G),
    ("depthwise", "conv", 1 / M),
    ("separable", "conv", 1 / M + 1 / K**2),
])
def test_ratios(a: str, b: str, expected: object) -> None:
    combined, expanded, value = ratio(a, b)
    assert same(combined, expected) and same(expanded, expected)
    assert value is None


def test_pointwise_is_a_ninth_of_3x3() -> None:
    assert ratio("pointwise", "conv", {"K": 3})[2] == Fraction(1, 9)


def test_separable_ratio_value_and_forms() -> None:
    combined, expanded, value = ratio("separable", "conv", {"K": 3, "M": 512})
    assert value == Fraction(521, 4608)
    assert abs(float(value) - 0.1131) < 1e-4
    assert sympy.srepr(combined) == sympy.srepr(sympy.factor((K**2 + M) / (K**2 * M)))
    assert set(sympy.Add.make_args(expanded)) == {1 / M, K**-2}


def test_separable_bound_for_m_at_least_32() -> None:
    # 1/9 + 1/M decreases in M: the largest ratio for M >= 32 is at M = 32, the infimum 1/9.
    values = [ratio("separable", "conv", {"K": 3, "M": mm})[2] for mm in (32, 33, 72, 512, 10**6)]
    assert values[0] == Fraction(1, 9) + Fraction(1, 32) == Fraction(41, 288)
    assert all(x > y for x, y in zip(values, values[1:]))
    assert all(v > Fraction(1, 9) for v in values)
    assert 7.02 < 1 / float(values[0]) < 7.03  # 7.02x, not the seed's 8x
    assert values[2] == Fraction(1, 8)  # "1/8 to 1/9" only from M = 72 on
    assert ratio("separable", "conv", {"K": 3, "M": 71})[2] > Fraction(1, 8)


def test_shufflenet_paper_unit_costs() -> None:
    dims = {"N": "c", "B": "m", "K": 3, "G": "g"}
    assert same(derive("bottleneck()", dims=dims).at, H * W * (2 * c * m + 9 * m**2))
    assert same(derive("resnext()", dims=dims).at, H * W * (2 * c * m + 9 * m**2 / g))
    assert same(derive("shufflenet_unit()", dims=dims).at, H * W * (2 * c * m / g + 9 * m))


def test_mobilenet_v2_block_and_rearranged_view() -> None:
    assert same(derive("inverted_residual(M=M)").result, H * W * N * T * (N + K**2 + M))
    two = derive("pointwise(M=N/T) + pointwise(N=N/T, M=N)").result
    one = derive("pointwise(M=N)").result
    assert same(two, 2 * H * W * N**2 / T)
    assert same(one, H * W * N**2)  # not the seed's H x W x T^2
    assert not same(one, H * W * T**2)
    assert same(derive("(pointwise(M=N/T) + pointwise(N=N/T, M=N)) / pointwise(M=N)").result, 2 / T)


def test_width_and_resolution_multipliers() -> None:
    d = derive("separable(H=rho*H, W=rho*W, N=alpha*N, M=alpha*M)")
    assert same(d.result, H * W * N * K**2 * alpha * rho**2 + H * W * N * M * alpha**2 * rho**2)
    assert same(derive("conv(H=rho*H, W=rho*W, N=alpha*N, M=alpha*M) / conv()").result, alpha**2 * rho**2)


def test_fd_mobilenet_fast_downsampling() -> None:
    d = derive("separable(H=H/2, W=W/2, N=2*N, M=2*M)")
    assert same(d.result, H * W * N * (K**2 / 2 + M))
    assert same(d.result, (H / 2) * (W / 2) * 2 * N * (K**2 + 2 * M))
    assert same(derive("conv(H=H/2, W=W/2, N=2*N, M=2*M) / conv()").result, 1)
    r = derive("separable(H=H/2, W=W/2, N=2*N, M=2*M) / separable()", dims={"K": 3, "M": 32})
    assert r.value == Fraction(9 + 64, 2 * (9 + 32))


def test_shufflenet_v2_memory_access_cost_and_bound() -> None:
    mac = derive("pointwise()", "memory", {"H": "h", "W": "w", "N": "c1", "M": "c2"}).result
    assert same(mac, h * w * (c1 + c2) + c1 * c2)
    flops = derive("pointwise()", "macs", {"H": "h", "W": "w", "N": "c1", "M": "c2"}).result
    assert same(flops, h * w * c1 * c2)
    bound = 2 * sympy.sqrt(h * w * flops) + flops / (h * w)
    assert same(mac - bound, h * w * (sympy.sqrt(c1) - sympy.sqrt(c2)) ** 2)
    at = {"H": 56}
    eq = derive("pointwise()", "memory", {**at, "N": 128, "M": 128}).value
    uneq = derive("pointwise()", "memory", {**at, "N": 64, "M": 256}).value
    assert eq == 56 * 56 * 256 + 128 * 128 == 2 * 56 * 56 * 128 + 128**2 < uneq


@pytest.mark.parametrize("metric, expected", [
    ("params", N * K**2 + N * M),
    ("weights", N * K**2 + N * M),
    ("flops", 2 * H * W * N * (K**2 + M)),
    ("memory", (H * W * N + H * W * N + N * K**2) + (H * W * N + H * W * M + N * M)),
    ("bytes", 4 * ((H * W * N + H * W * N + N * K**2) + (H * W * N + H * W * M + N * M))),
    ("activations", H * W * N + H * W * M),
])
def test_metrics(metric: str, expected: object) -> None:
    assert same(layer_cost("separable", metric), expected)


def test_value_exact_and_w_follows_h() -> None:
    d = derive("conv()", dims={"H": 56, "N": 64, "M": 128, "K": 3})
    assert d.value == 56 * 56 * 64 * 9 * 128 and isinstance(d.value, int)
    assert derive("separable()**(1/2)", dims={"H": 2, "N": 1, "K": 1, "M": 1}).value == pytest.approx(8**0.5)
    assert derive("separable()", dims={"K": 3}).value is None


# ----------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("text, message", [
    ("separable(Q=2)", "separable(Q=2): no such dimension; separable takes H, W, N, M, K, S, bn, act, "
                       "in 'separable(Q=2)'"),
    ("seperable()", "unknown layer type 'seperable' in 'seperable()' (did you mean 'separable'?)"),
    ("separable() / channel_shuffle(G=G)",
     "division by zero in 'separable() / channel_shuffle(G=G)': channel_shuffle(G=G) has 0 macs"),
    ("1/(conv() - conv())", "division by zero in '1/(conv() - conv())'"),
    ("separable(3)", "separable() takes dimensions as keywords, e.g. separable(M=2*M), in 'separable(3)'"),
    ("separable(M=0)", "separable(M=0): must be a positive integer, in 'separable(M=0)'"),
    ("separable() > 1", "'separable() > 1' is a comparison, not a cost"),
    ("separable(", "malformed expression 'separable(': '(' was never closed"),
])
def test_derive_errors(text: str, message: str) -> None:
    with pytest.raises(ExprError) as e:
        derive(text)
    assert str(e.value) == message


@pytest.mark.parametrize("text", ["__import__('os')", "separable().real", "(1).__class__", "9**9**9",
                                  "separable.__globals__", "[c for c in ()]", "'a' * 10**8"])
def test_hostile_input_rejected(text: str) -> None:
    r = CliRunner().invoke(main, ["derive", text])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "Traceback" not in r.output


BAD_CLI = [
    (["derive", "seperable()"], 1, "Error: unknown layer type 'seperable' in 'seperable()' "
                                   "(did you mean 'separable'?)"),
    (["derive", "separable(Q=2)"], 1, "Error: separable(Q=2): no such dimension; separable takes H, W, N, "
                                      "M, K, S, bn, act, in 'separable(Q=2)'"),
    (["derive", "separable() / channel_shuffle(G=G)"], 1,
     "Error: division by zero in 'separable() / channel_shuffle(G=G)': channel_shuffle(G=G) has 0 macs"),
    (["ratio", "separabel", "conv"], 2, "Error: unknown layer type 'separabel' (did you mean 'separable'?)"),
    (["ratio", "separable", "channel_shuffle"], 1, "Error: channel_shuffle has 0 macs: a ratio to it is "
                                                   "undefined (its cost is memory traffic: try --metric memory)"),
    (["ratio", "separable", "conv", "-K", "0"], 2, "Error: option -K: '0' is not a positive integer"),
    (["ratio", "separable", "conv", "-M", "1+2"], 2,
     "Error: option -M: '1+2' is not a positive integer or a symbol name"),
]


@pytest.mark.parametrize("args, code, message", BAD_CLI)
def test_cli_errors(args: list[str], code: int, message: str) -> None:
    r = CliRunner().invoke(main, args)
    assert r.exit_code == code
    assert r.output.strip() == message


def test_cli_bad_choice_exit_2() -> None:
    r = CliRunner().invoke(main, ["ratio", "separable", "conv", "--metric", "speed"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["derive", "conv()", "--format", "yaml"])
    assert r.exit_code == 2


def test_layer_cost_errors() -> None:
    with pytest.raises(CostcalcError, match="unknown layer type 'foo'"):
        layer_cost("foo")
    with pytest.raises(CostcalcError, match="unknown metric 'mac'"):
        layer_cost("conv", "mac")


# ----------------------------------------------------------------------------------------------
# CLI formats


def test_ratio_table() -> None:
    r = CliRunner().invoke(main, ["ratio", "separable", "conv", "-K", "3", "-M", "512"])
    assert r.exit_code == 0
    assert "(K² + M)/(K²·M)" in r.output and "1/M + 1/K²" in r.output
    assert "521/4608 ≈ 0.1131" in r.output


def test_ratio_json() -> None:
    r = CliRunner().invoke(main, ["ratio", "separable", "conv", "-K", "3", "-M", "512", "--format", "json"])
    doc = json.loads(r.output)
    assert doc["expression"] == "separable / conv"
    assert same(sympy.sympify(doc["result"], locals={"K": K, "M": M}), (K**2 + M) / (K**2 * M))
    assert same(sympy.sympify(doc["expanded"], locals={"K": K, "M": M}), 1 / M + 1 / K**2)
    assert doc["value"] == "521/4608" and doc["value_float"] == pytest.approx(521 / 4608)


def test_derive_json_symbolic_value_null() -> None:
    r = CliRunner().invoke(main, ["derive", "separable(H=H/2, W=W/2, N=2*N, M=2*M)", "--format", "json"])
    doc = json.loads(r.output)
    assert doc["value"] is None
    assert doc["result_pretty"] == "H·W·N·(K²/2 + M)"
    loc = {"H": H, "W": W, "N": N, "K": K, "M": M}
    assert same(sympy.sympify(doc["result"], locals=loc), H * W * N * (K**2 / 2 + M))


def test_derive_json_int_value() -> None:
    r = CliRunner().invoke(main, ["derive", "conv()", "-H", "7", "-N", "2", "-M", "3", "-K", "1",
                                  "--format", "json"])
    doc = json.loads(r.output)
    assert doc["value"] == 7 * 7 * 2 * 3 and doc["value_float"] == 294.0


@pytest.mark.parametrize("cmd", [["ratio", "separable", "conv", "-K", "3", "-M", "512"],
                                 ["derive", "separable(H=H/2, W=W/2, N=2*N, M=2*M) / separable()"]])
def test_latex(cmd: list[str]) -> None:
    r = CliRunner().invoke(main, [*cmd, "--format", "latex"])
    assert r.exit_code == 0
    assert r"\begin{aligned}" in r.output and r"\frac{" in r.output


def test_derive_table_paper_form() -> None:
    r = CliRunner().invoke(main, ["derive", "separable(H=H/2, W=W/2, N=2*N, M=2*M)"])
    assert "combined  H·W·N·(K²/2 + M)" in r.output


# ----------------------------------------------------------------------------------------------
# docs/derivations.md cannot rot


def _console_blocks() -> list[tuple[str, str]]:
    cases = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S):
        cmd, out = None, []
        for line in block.splitlines():
            if line.startswith("$ "):
                if cmd is not None:
                    cases.append((cmd, "\n".join(out)))
                cmd, out = line[2:], []
            else:
                out.append(line)
        if cmd is not None:
            cases.append((cmd, "\n".join(out)))
    return cases


DOC_CASES = _console_blocks()


def test_doc_has_commands() -> None:
    assert len(DOC_CASES) >= 30


def _console_text(cmd: str, output: str) -> str:
    """A command and its output as a console block holds them."""
    return "\n".join([f"$ {cmd}"] + ([output] if output else [])) + "\n"


@pytest.mark.parametrize("cmd, expected", DOC_CASES, ids=[c for c, _ in DOC_CASES])
def test_doc_console_block(cmd: str, expected: str) -> None:
    """The docs' console blocks are what the commands print. After an intended change of output:
    COSTCALC_UPDATE_GOLDEN=1 pytest -k doc_console rewrites them (then read the diff)."""
    args = shlex.split(cmd)
    assert args[0] == "costcalc"
    r = CliRunner().invoke(main, args[1:])
    actual = r.output.rstrip("\n")
    if UPDATE and actual != expected.rstrip("\n"):
        text = DOC.read_text(encoding="utf-8")
        old = _console_text(cmd, expected.rstrip("\n"))
        assert old in text, f"cannot find the block of {cmd!r} in {DOC.name}"
        DOC.write_text(text.replace(old, _console_text(cmd, actual), 1), encoding="utf-8")
        expected = actual
    assert actual == expected.rstrip("\n")


def test_doc_pycon_blocks() -> None:
    blocks = re.findall(r"```pycon\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for i, block in enumerate(blocks):
        runner.run(parser.get_doctest(block, {}, f"derivations.md pycon {i}", str(DOC), 0))
    assert runner.summarize(verbose=False).failed == 0
