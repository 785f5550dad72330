"""`costcalc layer` and `costcalc types` through click's CliRunner.

Expected numbers are closed forms written out here; symbolic JSON values are parsed back with
sympify (our own output, in tests only) and compared with expressions built from the symbols.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sympy
from conftest import run_cli

from costcalc.engine import symbol
from costcalc.layers import all_types

H, W, N, M, K, G = (symbol(s) for s in "HWNMKG")
LOCALS = {s: symbol(s) for s in ("H", "W", "N", "M", "K", "G", "T", "B")}


run = run_cli  # the shared helper (tests/conftest.py)


def parse(text: Any) -> Any:
    """A JSON value back to sympy: ints stay ints, strings are sympy syntax."""
    if isinstance(text, int):
        return sympy.Integer(text)
    return sympy.sympify(text, locals=LOCALS)


def is_json_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# ----------------------------------------------------------------------------------------------
# The four commands


def test_depthwise_acceptance_table() -> None:
    r = run("layer", "--type", "depthwise", "-H", "56", "-N", "64")
    assert r.exit_code == 0, r.output
    assert f"{56 * 56 * 64 * 3 * 3:,}" == "1,806,336"
    assert "1,806,336" in r.output
    assert f"{64 * 3 * 3:,}" in r.output  # 576 params
    assert "H·W·N·K²" in r.output
    assert "1/M" in r.output
    assert "56 × 56 × 64" in r.output


def test_grouped_stride2_table() -> None:
    r = run("layer", "--type", "conv", "-H", "56", "-N", "64", "-M", "128", "-K", "3", "-G", "4", "--stride", "2")
    assert r.exit_code == 0, r.output
    assert f"{28 * 28 * 128 * 3 * 3 * (64 // 4):,}" in r.output
    assert f"{3 * 3 * (64 // 4) * 128:,}" in r.output
    assert "28 × 28 × 128" in r.output
    assert "1/4" in r.output


def test_separable_formulas_only() -> None:
    r = run("layer", "--type", "separable")
    assert r.exit_code == 0, r.output
    assert "H·W·N·(K² + M)" in r.output
    assert "1/M + 1/K²" in r.output


def test_types_lists_every_type() -> None:
    r = run("types")
    assert r.exit_code == 0, r.output
    for name in all_types():
        assert name in r.output, name
    # the seed formulas appear in the listing
    for formula in ("H·W·N·K²·M", "H·W·N·K²·M/G", "H·W·N·K²", "H·W·N·M"):
        assert formula in r.output, formula


def test_types_json_every_type() -> None:
    r = run("types", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert {d["type"] for d in doc} == set(all_types())
    by = {d["type"]: d for d in doc}
    assert sympy.simplify(parse(by["separable"]["macs"]) - H * W * N * (K**2 + M)) == 0
    assert sympy.simplify(parse(by["grouped"]["macs"]) - H * W * N * K**2 * M / G) == 0
    assert parse(by["channel_shuffle"]["macs"]) == 0


def test_types_one_type() -> None:
    r = run("types", "bottleneck")
    assert r.exit_code == 0, r.output
    assert "stride_on" in r.output


# ----------------------------------------------------------------------------------------------
# JSON: the machine contract

KEYS = {"type", "dims", "in_shape", "out_shape", "macs", "flops", "params", "formulas", "ratio_to_standard"}


def test_json_numbers() -> None:
    r = run("layer", "--type", "depthwise", "-H", "56", "-N", "64", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert KEYS <= set(doc)
    assert doc["type"] == "depthwise"
    assert doc["dims"]["H"] == 56 and doc["dims"]["W"] == 56 and doc["dims"]["N"] == 64 and doc["dims"]["K"] == 3
    assert doc["in_shape"] == [56, 56, 64]
    assert doc["out_shape"] == [56, 56, 64]
    for key in ("macs", "flops", "params"):
        assert is_json_int(doc[key]), key
    assert doc["macs"] == 56 * 56 * 64 * 3 * 3
    assert doc["flops"] == 2 * doc["macs"]
    assert doc["params"] == 64 * 3 * 3
    assert sympy.simplify(parse(doc["formulas"]["macs"]) - H * W * N * K**2) == 0
    assert sympy.simplify(parse(doc["formulas"]["params"]) - N * K**2) == 0
    assert sympy.simplify(parse(doc["ratio_to_standard"]["formula"]) - 1 / M) == 0
    assert sympy.simplify(parse(doc["ratio_to_standard"]["value"]) - 1 / M) == 0


def test_json_numbers_ratio_value() -> None:
    r = run("layer", "--type", "conv", "-H", "56", "-N", "64", "-M", "128", "-K", "3", "-G", "4", "--stride", "2",
            "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["out_shape"] == [28, 28, 128]
    assert doc["macs"] == 28 * 28 * 128 * 9 * 16
    assert doc["flops"] == 2 * 28 * 28 * 128 * 9 * 16
    assert doc["params"] == 9 * 16 * 128
    assert doc["dims"]["G"] == 4 and doc["dims"]["S"] == 2 and doc["dims"]["M"] == 128
    assert parse(doc["ratio_to_standard"]["value"]) == sympy.Rational(1, 4)
    # G is not a symbol of `conv`: the formula carries the given 4 and the stride-2 output H/2 × W/2
    assert sympy.simplify(parse(doc["formulas"]["macs"]) - (H / 2) * (W / 2) * M * K**2 * N / 4) == 0


def test_json_symbols() -> None:
    r = run("layer", "--type", "separable", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert KEYS <= set(doc)
    assert doc["type"] == "separable"
    assert doc["in_shape"] == ["H", "H", "N"]  # W defaults to H
    # value: the documented defaults K = 3 and M = N (output channels: the input's), W = H
    assert [parse(v) for v in doc["out_shape"]] == [H, H, N]
    assert sympy.simplify(parse(doc["macs"]) - H * H * N * (9 + N)) == 0
    assert sympy.simplify(parse(doc["flops"]) - 2 * parse(doc["macs"])) == 0
    assert sympy.simplify(parse(doc["params"]) - N * (9 + N)) == 0
    assert sympy.simplify(parse(doc["formulas"]["macs"]) - H * W * N * (K**2 + M)) == 0
    assert sympy.simplify(parse(doc["formulas"]["params"]) - N * (K**2 + M)) == 0
    assert sympy.simplify(parse(doc["ratio_to_standard"]["formula"]) - (1 / M + 1 / K**2)) == 0
    assert sympy.simplify(parse(doc["ratio_to_standard"]["value"]) - (1 / N + sympy.Rational(1, 9))) == 0


def test_json_block_layers_sum() -> None:
    r = run("layer", "--type", "bottleneck", "-H", "56", "-N", "256", "-M", "512", "-B", "128", "--stride", "2",
            "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    t = 28 * 28
    assert doc["macs"] == t * 256 * 128 + t * 128 * 9 * 128 + t * 128 * 512 + t * 256 * 512
    assert doc["params"] == 256 * 128 + 9 * 128 * 128 + 128 * 512 + 256 * 512 + 2 * (128 + 128 + 512 + 512)
    assert doc["out_shape"] == [28, 28, 512]
    leaves = [row for row in doc["layers"] if row["leaf"]]
    assert sum(row["macs"] for row in leaves) == doc["macs"]
    assert sum(row["params"] for row in leaves) == doc["params"]


def test_latex() -> None:
    r = run("layer", "--type", "separable", "--format", "latex")
    assert r.exit_code == 0, r.output
    assert r"\begin{align*}" in r.output
    assert r"\end{align*}" in r.output
    assert r"\frac" in r.output


def test_latex_numbers() -> None:
    r = run("layer", "--type", "depthwise", "-H", "56", "-N", "64", "--format", "latex")
    assert r.exit_code == 0, r.output
    assert f"{56 * 56 * 64 * 9:,}".replace(",", "{,}") in r.output  # LaTeX's thousands separator
    assert r"\frac" in r.output


def test_stride1_shufflenet_unit_with_m_equal_n() -> None:
    """A valid stride-1 ShuffleNet unit given -M = -N is accepted."""
    r = run("layer", "--type", "shufflenet_unit", "-H", "28", "-N", "240", "-M", "240", "-G", "3", "-B", "60",
            "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["macs"] == 28 * 28 * 60 * 80 + 28 * 28 * 60 * 9 + 28 * 28 * 240 * 20


# ----------------------------------------------------------------------------------------------
# Bad input: exact one-line message, exit status 2, no traceback

BAD = [
    (["--type", "depthwse", "-H", "56"],
     "Error: unknown layer type 'depthwse' (did you mean 'depthwise'?)"),
    (["--type", "conv", "-H", "0", "-N", "64"],
     "Error: option -H: '0' is not a positive integer"),
    (["--type", "conv", "-H", "-3", "-N", "64"],
     "Error: option -H: '-3' is not a positive integer"),
    (["--type", "conv", "-H", "56", "-N", "2.5"],
     "Error: option -N: '2.5' is not a positive integer or a symbol name"),
    (["--type", "conv", "-H", "56", "-N", "64", "-G", "3"],
     "Error: conv: -G 3: groups must divide the input channels N=64"),
    (["--type", "conv", "-H", "56", "-N", "64", "-M", "100", "-G", "8"],
     "Error: conv: -G 8: groups must divide the output channels M=100"),
    (["--type", "conv", "-H", "3", "-N", "64", "-K", "7", "-P", "0"],
     "Error: conv: -K 7: kernel (span 7) is larger than the padded input H=3+2·0"),
    (["--type", "bottleneck", "-H", "56", "-N", "256", "-M", "M"],
     "Error: bottleneck: -M M: bottleneck cannot decide its shortcut with N=256; "
     "give M as a number (or N as a symbol)"),
    (["--type", "depthwise", "-H", "56", "-N", "64", "-T", "6"],
     "Error: depthwise: -T 6: does not apply to type depthwise; its dimensions: "
     "H, W, N, K, S, P, D, bias, bn, act"),
    (["--type", "conv", "-H", "56", "-N", "64", "--param", "foo"],
     "Error: option --param: 'foo' is not NAME=VALUE"),
    (["--type", "shufflenet_unit", "-H", "56", "-N", "240", "-M", "480", "-G", "3"],
     "Error: shufflenet_unit: -M 480: a stride-1 ShuffleNet unit adds its input: M must equal N=240"),
    (["--type", "shufflenet_v2_unit", "-H", "28", "-N", "116", "-M", "100"],
     "Error: shufflenet_v2_unit: -M 100: a stride-1 ShuffleNet V2 unit keeps its channels: M must equal N=116"),
    (["--type", "conv", "-H", "8", "-N", "4", "--stride", "0"],
     "Error: option --stride: '0' is not a positive integer"),
    (["--type", "maxpool", "-H", "8", "-N", "4", "-K", "3", "-P", "2"],
     "Error: maxpool: --padding 2: padding must be at most half the window K=3"),
    (["--type", "shufflenet_v2_unit", "-H", "56", "-N", "24", "-M", "117", "--stride", "2"],
     "Error: shufflenet_v2_unit: -M 117: ShuffleNet V2 units need an even number of output channels"),
    (["--type", "shufflenet_unit", "-H", "56", "-N", "24", "-M", "24", "-G", "3", "--stride", "2"],
     "Error: shufflenet_unit: -M 24: a stride-2 ShuffleNet unit concatenates its input: M must exceed N=24"),
    (["--type", "bottleneck", "-H", "56", "-N", "64", "-M", "256", "--param", "stride_on=2x2"],
     "Error: bottleneck: stride_on 2x2: must be one of 1x1, 3x3"),
    (["--type", "depthwise", "-H", "56", "-N", "64", "--param", "act=mish"],
     "Error: depthwise: act mish: unknown activation; "
     "known: relu, relu6, hardsigmoid, hardswish, sigmoid, silu, gelu, tanh"),
    (["--type", "channel_shuffle", "-H", "28", "-N", "240", "-G", "7"],
     "Error: channel_shuffle: -G 7: groups must divide the channels N=240"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a[1:4]) + "…" + a[-1] for a, _ in BAD])
def test_bad_input(args: list[str], message: str) -> None:
    r = run("layer", *args)
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output
    assert r.stderr.strip() == message
    assert r.stdout == ""
