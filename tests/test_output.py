"""Output that never misleads, at any width and in any pipe.

Every count the JSON contract holds for a quantity the table shows appears *whole* in the text
output (never ``295,436,2…``), on a pseudo-terminal of 80 and 200 columns and through a pipe (at
the default width and at ``COLUMNS=60``); ``--width`` and ``COLUMNS`` are honoured; a reader that
closes the pipe early (``| head -1``) ends the output quietly with status 0.

The expected numbers come from the JSON output of the same command (the machine contract, checked
against closed forms and PyTorch elsewhere); this file checks that the text shows each of them
uncut.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from conftest import appears_whole, cli_json, example, json_int_texts, run_cli, run_pipeline, run_process, run_pty

from costcalc.metrics import NAMES

SHOWN_TOTALS = [n for n in NAMES if n not in ("flops", "weights")]  # the table's --units/--params views


def _net_numbers(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for row in doc["layers"] + doc["blocks"]:
        out += json_int_texts(row["macs"]) + json_int_texts(row["params"])
    for q in SHOWN_TOTALS:
        out += json_int_texts(doc["totals"][q])
    for c in doc["by_type"].values():
        out += json_int_texts(c["macs"]) + json_int_texts(c["params"])
    return out


def _compare_numbers(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    nets = doc["networks"]
    for n in nets:
        for q in (*SHOWN_TOTALS, "weights"):
            out += json_int_texts(n["totals"][q])
    for q in ("macs", "params"):
        cats = {c for n in nets for c in n["by_type"]}
        for cat in cats:
            values = [n["by_type"][cat][q] for n in nets if cat in n["by_type"]]
            if any(v != 0 for v in values):  # categories with none of it are left out of that table
                for v in values:
                    out += json_int_texts(v)
    return out


def _sweep_numbers(doc: dict[str, Any]) -> list[str]:
    grid = len(doc["swept"]) == 2
    qs = ("macs", "params") if grid else ("macs", "params", "elementwise", "comparisons", "activations", "bytes")
    return [t for p in doc["points"] for q in qs for t in json_int_texts(p["totals"][q])]


def _layer_numbers(doc: dict[str, Any]) -> list[str]:
    out = [t for q in (*NAMES, "output_elements") for t in json_int_texts(doc[q])]
    for row in doc.get("layers", []):
        out += json_int_texts(row["macs"]) + json_int_texts(row["params"])
    return out


CASES: dict[str, tuple[list[str], Callable[[dict[str, Any]], list[str]]]] = {
    "net": (["net", example("resnet50"), "--depth", "0"], _net_numbers),
    "net-every-row": (["net", example("mobilenet_v2")], _net_numbers),
    "net-formula": (["net", example("resnet50"), "--set", "resolution=R", "--depth", "1"], _net_numbers),
    "net-top": (["net", example("mobilenet_v1"), "--set", "alpha=a", "--assume", "a>=0.25", "--top", "4"],
                _net_numbers),
    "compare": (["compare", example("mobilenet_v1"), example("shufflenet_v1"), example("mobilenet_v2")],
                _compare_numbers),
    "compare-formula": (["compare", example("resnet18"), example("resnet34"), example("resnet50"),
                         "--set", "resolution=R"], _compare_numbers),
    "sweep-grid": (["sweep", example("mobilenet_v1"), "--set", "alpha=0.25,0.5,0.75,1.0",
                    "--set", "resolution=128,160,192,224"], _sweep_numbers),
    "sweep-long": (["sweep", example("resnet50"), "--set", "resolution=128:320:32"], _sweep_numbers),
    "layer": (["layer", "--type", "bottleneck", "-H", "56", "-N", "256", "-B", "64", "--stride", "2"],
              _layer_numbers),
}


def _expected(case: str) -> list[str]:
    args, numbers = CASES[case]
    got = numbers(cli_json(*args))
    assert got, f"{case}: no numbers to look for"
    return got


def _check(case: str, text: str, width: int | None) -> None:
    missing = [n for n in _expected(case) if not appears_whole(n, text)]
    assert not missing, f"{case}: numbers cut or missing from the text: {missing[:10]}\n{text[:3000]}"
    if width is not None:
        wide = [line for line in text.splitlines() if len(line) > width]
        assert not wide, f"{case}: lines wider than {width}: {wide[:3]}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_pipe_default_width(case: str) -> None:
    r = run_cli(*CASES[case][0])
    assert r.exit_code == 0, r.output
    _check(case, r.output, 120)


@pytest.mark.parametrize("case", sorted(CASES))
def test_pipe_columns_60(case: str) -> None:
    r = run_cli(*CASES[case][0], env={"COLUMNS": "60"})
    assert r.exit_code == 0, r.output
    _check(case, r.output, 60)


@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("case", ["net", "net-formula", "compare", "compare-formula", "sweep-grid", "layer"])
def test_terminal(case: str, columns: int) -> None:
    status, text = run_pty(CASES[case][0], columns)
    assert status == 0, text
    _check(case, text, columns)


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("case", ["net-every-row", "net-top", "sweep-long"])
def test_terminal_more(case: str, columns: int) -> None:
    status, text = run_pty(CASES[case][0], columns)
    assert status == 0, text
    _check(case, text, columns)


def test_width_option_wins_over_columns() -> None:
    args = CASES["compare"][0]
    r = run_cli(*args, "--width", "200", env={"COLUMNS": "60"})
    assert r.exit_code == 0
    assert max(len(line) for line in r.output.splitlines()) > 100  # laid out wide: --width won
    _check("compare", r.output, 200)
    narrow = run_cli(*args, env={"COLUMNS": "60"})
    assert max(len(line) for line in narrow.output.splitlines()) <= 60


def test_200_columns_is_one_table_row_per_layer() -> None:
    status, text = run_pty(["net", example("resnet50"), "--depth", "0"], 200)
    assert status == 0
    table = text.split("by layer type")[0]
    assert sum(1 for line in table.splitlines() if line.startswith("│ conv")) == 1 + 16  # conv1 + 16 blocks


def test_narrow_net_table_merges_type_under_layer() -> None:
    r = run_cli("net", example("resnet50"), "--depth", "0", "--width", "80")
    assert "layer / type" in r.output
    assert "│   global_avgpool" in r.output


def test_too_narrow_for_any_table_stacks_records() -> None:
    r = run_cli("net", example("resnet50"), "--depth", "0", "--width", "40")
    assert r.exit_code == 0
    assert "┏" not in r.output.split("by layer type")[0]  # the layer table is stacked
    _check("net", r.output, None)


# -- closed pipes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    "costcalc net examples/resnet152.yaml | head -1",
    "costcalc net examples/resnet152.yaml --format json | head -1",
    "costcalc sweep examples/resnet50.yaml --set resolution=32:3200:32 | head -1",
])
def test_head_ends_quietly(command: str) -> None:
    status, out, err = run_pipeline(command)
    assert status == 0
    assert err == ""
    assert len(out.splitlines()) == 1


@pytest.mark.slow
def test_verify_head_ends_quietly() -> None:
    pytest.importorskip("torch", reason="PyTorch not installed: pip install torch")
    status, out, err = run_pipeline("costcalc verify examples/resnet50.yaml --depth 2 | head -1")
    assert (status, err) == (0, "")


def test_errors_still_reach_stderr_through_a_pipe() -> None:
    status, out, err = run_pipeline("costcalc net examples/no_such.yaml | head -1")
    assert status == 1
    assert err.startswith("Error: ")


def test_plain_output_does_not_import_rich_and_equals_the_terminal_layout() -> None:
    """Through a pipe the table is written without rich; on a terminal rich draws the same layout."""
    p = run_process(["net", example("mobilenet_v1"), "--width", "100"])
    assert p.returncode == 0
    status, text = run_pty(["net", example("mobilenet_v1"), "--width", "100"], 100)
    assert [line.rstrip() for line in text.splitlines()] == [line.rstrip() for line in p.stdout.splitlines()]


def test_json_is_unaffected_by_width() -> None:
    a = run_cli("net", example("resnet18"), "--format", "json", "--width", "30")
    b = run_cli("net", example("resnet18"), "--format", "json")
    assert json.loads(a.output) == json.loads(b.output)
