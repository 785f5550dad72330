"""Networks: shape propagation, rows and totals, symbolic = numeric, formats, golden tables.

Expected numbers are written out as closed forms here; paper numbers live in test_examples.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from costcalc.cost import COST_FIELDS, Cost
from costcalc.network import evaluate_network
from costcalc.spec import build_spec, load_spec, parse_yaml

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("COSTCALC_UPDATE_GOLDEN") == "1"

TINY = """\
name: tiny
vars: {width: 16, resolution: 32}
input: [resolution, resolution, 3]
layers:
  - {type: conv, name: stem, M: width, S: 2, bn: true, act: relu}     # 3x3 s2: 32 -> 16
  - {type: pointwise, name: expand, M: 2*width}                        # 16x16x16 -> 16x16x32
  - {type: depthwise, name: dw}                                        # 3x3 on 32 channels
  - {type: pointwise, name: project, M: width}                         # back to 16 channels
  - {type: add, from: stem}                                            # residual with the stem
  - name: stage
    repeat: 2
    first: {S: 2}
    layers:
      - {type: separable, M: 2*width}
  - {type: global_avgpool}
  - {type: fc, M: 10}
"""


def spec_from(text: str, tmp_path: Path, overrides: dict[str, str] | None = None):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return load_spec(str(p), overrides)


def tiny_expected() -> dict[str, int]:
    """The TINY network counted by hand."""
    stem = 16 * 16 * 3 * 9 * 16  # output 16x16, N=3, K=3, M=16
    expand = 16 * 16 * 16 * 32
    dw = 16 * 16 * 32 * 9
    project = 16 * 16 * 32 * 16
    sep1 = 8 * 8 * 16 * 9 + 8 * 8 * 16 * 32  # stride 2 on the depthwise: 16 -> 8
    sep2 = 8 * 8 * 32 * 9 + 8 * 8 * 32 * 32
    fc = 32 * 10
    macs = stem + expand + dw + project + sep1 + sep2 + fc
    weights = 3 * 9 * 16 + 16 * 32 + 32 * 9 + 32 * 16 + (16 * 9 + 16 * 32) + (32 * 9 + 32 * 32) + 32 * 10
    params = weights + 2 * 16 + 10  # stem BatchNorm (γ, β) + fc bias
    return {"macs": macs, "weights": weights, "params": params}


def test_tiny_network_counted_by_hand(tmp_path: Path) -> None:
    result = evaluate_network(spec_from(TINY, tmp_path))
    exp = tiny_expected()
    assert result.totals.macs == exp["macs"]
    assert result.totals.weights == exp["weights"]
    assert result.totals.params == exp["params"]
    assert tuple(result.out_shape) == (1, 1, 10)
    paths = [r.path for r in result.rows if r.leaf]
    assert paths[:3] == ["stem.conv", "stem.bn", "stem.relu"]
    assert "stage.0.separable1.dw" in paths and "stage.1.separable1.pw" in paths
    adds = [r for r in result.rows if r.type == "add"]
    assert len(adds) == 1 and adds[0].cost.elementwise == 16 * 16 * 16


def test_tiny_network_other_counts_by_hand(tmp_path: Path) -> None:
    """The columns besides MACs and params, layer by layer (the counting contract in README.md): BatchNorm 2 ops per
    element, ReLU 1 comparison, residual add 1 op, average pool H·W ops per output, FC bias 1 op;
    memory = elements read + written (+ params) per layer. Independent of the rows-sum checks below."""
    stem, mid, half = 16 * 16 * 16, 16 * 16 * 32, 8 * 8 * 16  # output elements of stem, expand, first dw
    elementwise = 2 * stem + stem + 8 * 8 * 32 + 10  # stem BN, add, global average pool (64 per output), FC bias
    comparisons = stem  # stem ReLU
    activations = (3 * stem + mid + mid + stem + stem  # stem conv/BN/ReLU, expand, dw, project, add
                   + half + 2 * half + 2 * half + 2 * half + 32 + 10)  # sep1 dw/pw, sep2 dw/pw, pool, fc
    memory = ((32 * 32 * 3 + stem + 3 * 9 * 16) + (2 * stem + 2 * 16) + 2 * stem  # stem conv, BN, ReLU
              + (stem + mid + 16 * 32) + (mid + mid + 32 * 9) + (mid + stem + 32 * 16)  # expand, dw, project
              + 3 * stem  # add: two inputs read, one output written
              + (stem + half + 16 * 9) + (half + 2 * half + 16 * 32)  # separable 1 (stride 2)
              + (2 * half + 2 * half + 32 * 9) + (2 * half + 2 * half + 32 * 32)  # separable 2
              + (2 * half + 32) + (32 + 10 + 32 * 10 + 10))  # pool, fc
    t = evaluate_network(spec_from(TINY, tmp_path)).totals
    assert (t.elementwise, t.comparisons, t.activations, t.memory) == (elementwise, comparisons, activations, memory)


# Consistency checks, not evidence: the engine makes every total and subtotal by adding its rows,
# so the three tests below hold by construction (no mutation of a cost rule has ever failed them).
# The evidence is the hand counts above.
@pytest.mark.parametrize("field", COST_FIELDS)
def test_rows_sum_to_total(tmp_path: Path, field: str) -> None:
    result = evaluate_network(spec_from(TINY, tmp_path))
    leaves = [r for r in result.rows if r.leaf]
    assert sum(getattr(r.cost, field) for r in leaves) == getattr(result.totals, field)
    # every subtotal row equals the sum of the leaves under it
    for i, r in enumerate(result.rows):
        if r.leaf:
            continue
        under = Cost()
        for s in result.rows[i + 1:]:
            if s.depth <= r.depth:
                break
            if s.leaf:
                under = under + s.cost
        assert getattr(under, field) == getattr(r.cost, field), r.path


def test_by_type_sums_to_total(tmp_path: Path) -> None:
    result = evaluate_network(spec_from(TINY, tmp_path))
    assert sum(c.macs for c in result.by_type.values()) == result.totals.macs
    assert sum(c.params for c in result.by_type.values()) == result.totals.params
    assert result.by_type["fc"].macs == 320


def test_symbolic_total_equals_numeric_total_at_the_numbers(tmp_path: Path) -> None:
    import sympy

    # resolution 32 halves exactly twice: no floor effects, so the closed form is exact there
    sym = evaluate_network(spec_from(TINY, tmp_path, {"resolution": "R", "width": "c"}))
    R, c = sympy.Symbol("R", positive=True), sympy.Symbol("c", positive=True)
    for field in COST_FIELDS:
        closed = sympy.sympify(getattr(sym.totals, field))
        for res, width in ((32, 16), (64, 8), (128, 24)):
            num = evaluate_network(spec_from(TINY, tmp_path, {"resolution": str(res), "width": str(width)}))
            assert closed.subs({R: res, c: width}) == getattr(num.totals, field), (field, res, width)


def test_symbolic_resolution_gives_a_polynomial_in_R(tmp_path: Path) -> None:
    import sympy

    sym = evaluate_network(spec_from(TINY, tmp_path, {"resolution": "R"}))
    R = sympy.Symbol("R", positive=True)
    poly = sympy.Poly(sympy.expand(sym.totals.macs), R)
    # conv costs scale with R²; the FC layer after global pooling does not
    assert poly.degree() == 2
    assert poly.coeff_monomial(1) == 32 * 10


def test_numeric_path_does_not_import_sympy(tmp_path: Path) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(TINY)
    code = textwrap.dedent(f"""
        import sys
        from costcalc.spec import load_spec
        from costcalc.network import evaluate_network
        from costcalc.render.net import net_json
        evaluate_network(load_spec({str(p)!r}))
        from click.testing import CliRunner
        from costcalc.cli import main
        r = CliRunner().invoke(main, ["net", {str(p)!r}, "--format", "json"])
        assert r.exit_code == 0, r.output
        assert "sympy" not in sys.modules, "numeric path imported sympy"
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the command ----------------------------------------------------------------------------------


run = run_cli  # the shared helper (tests/conftest.py)


def test_net_json_contract(tmp_path: Path) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(TINY)
    r = run("net", str(p), "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    for key in ("name", "vars", "layers", "totals", "by_type"):
        assert key in doc
    assert doc["vars"] == {"width": 16, "resolution": 32}
    exp = tiny_expected()
    assert doc["totals"]["macs"] == exp["macs"] and doc["totals"]["flops"] == 2 * exp["macs"]
    assert doc["totals"]["params"] == exp["params"]
    assert sum(layer["macs"] for layer in doc["layers"]) == doc["totals"]["macs"]
    for layer in doc["layers"]:
        assert {"path", "type", "in_shape", "out_shape", "macs", "params"} <= set(layer)
        assert isinstance(layer["macs"], int) and isinstance(layer["params"], int)
    assert doc["layers"][0]["in_shape"] == [32, 32, 3]
    assert doc["layers"][-1]["out_shape"] == [1, 1, 10]


def test_net_json_symbolic_values_are_sympy_strings(tmp_path: Path) -> None:
    import sympy

    p = tmp_path / "spec.yaml"
    p.write_text(TINY)
    r = run("net", str(p), "--format", "json", "--set", "resolution=R")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["vars"]["resolution"] == "R"
    R = sympy.Symbol("R")
    total = sympy.sympify(doc["totals"]["macs"])
    assert total.subs(R, 32) == tiny_expected()["macs"]


def test_units_and_weights_views(tmp_path: Path) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(TINY)
    exp = tiny_expected()
    out = run("net", str(p), "--units", "flops", "--params", "weights", "--format", "markdown").output
    assert f"**{2 * exp['macs']:,}**" in out
    assert f"**{exp['weights']:,}**" in out
    assert "| layer | type | input → output | FLOPs | weights |" in out


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "latex"])
def test_formats_show_the_total(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(TINY)
    r = run("net", str(p), "--format", fmt)
    assert r.exit_code == 0, r.output
    macs = tiny_expected()["macs"]
    shown = {"table": f"{macs:,}", "markdown": f"{macs:,}", "csv": str(macs),
             "latex": f"{macs:,}".replace(",", "{,}")}[fmt]
    assert shown in r.output


def test_csv_rows_sum_to_total(tmp_path: Path) -> None:
    # a consistency check of the CSV renderer (rows against its TOTAL line), not evidence of a count
    import csv
    import io

    p = tmp_path / "spec.yaml"
    p.write_text(TINY)
    rows = list(csv.DictReader(io.StringIO(run("net", str(p), "--format", "csv").output)))
    total = next(r for r in rows if r["path"] == "TOTAL")
    assert sum(int(r["macs"]) for r in rows if r["leaf"] == "1") == int(total["macs"])


def test_top_shows_the_most_expensive_layers(tmp_path: Path) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(TINY)
    out = run("net", str(p), "--top", "2", "--format", "csv").output.splitlines()
    body = [line.split(",") for line in out[1:-1]]
    assert [b[0] for b in body] == ["expand", "project"]  # 131,072 MACs each; the largest two


# -- golden tables (rendering only; numbers are checked above) ------------------------------------


@pytest.mark.parametrize("name,args", [
    ("tiny_table", ["--depth", "1"]),
    ("tiny_markdown", ["--format", "markdown"]),
])
def test_golden(tmp_path: Path, name: str, args: list[str]) -> None:
    """Rendered output is stable. After an intended change: COSTCALC_UPDATE_GOLDEN=1 pytest."""
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    r = run("net", str(p), *args)
    assert r.exit_code == 0, r.output
    out = r.output.replace(str(p), "tiny.yaml")
    golden = GOLDEN / f"{name}.txt"
    if UPDATE or not golden.exists():
        if not UPDATE:
            pytest.fail(f"missing golden file {golden}; run with COSTCALC_UPDATE_GOLDEN=1")
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(out)
    assert out == golden.read_text()


def test_parse_yaml_records_lines() -> None:
    doc = parse_yaml("a: 1\nlayers:\n  - {type: conv}\n  - type: relu\n")
    assert doc.key_lines["layers"] == 2
    assert doc["layers"][0].line == 3 and doc["layers"][1].line == 4


def test_build_spec_from_document() -> None:
    doc = parse_yaml("input: [8, 8, 4]\nlayers:\n  - {type: pointwise, M: 8}\n")
    spec = build_spec(doc, "mem.yaml")
    result = evaluate_network(spec)
    assert result.totals.macs == 8 * 8 * 4 * 8


def test_from_may_name_a_group(tmp_path: Path) -> None:
    """A group's output is its last layer's: ``from: g`` merges with it."""
    spec = spec_from(textwrap.dedent("""\
        input: [8, 8, 4]
        layers:
          - {type: pointwise, name: a, M: 4}
          - name: g
            layers:
              - {type: pointwise, M: 8}
              - {type: pointwise, name: c, M: 4}
          - {type: add, from: a}
          - {type: concat, from: g}
        """), tmp_path)
    result = evaluate_network(spec)
    assert spec.layers[-1].inputs == ("add1", "g.c")
    assert tuple(result.out_shape) == (8, 8, 4 + 4)  # concat of the add's 4 channels and g.c's 4
    assert result.totals.macs == 8 * 8 * (4 * 4 + 4 * 8 + 8 * 4)
