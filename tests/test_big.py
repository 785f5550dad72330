"""Big valid input: specs with 10,000 layers after repeats evaluate correctly.

Expected totals are closed forms written out here (H·W·N·M for a 1×1 conv, H·W·N·K² for a
depthwise conv), not costcalc's own output. No timing assertions:
these run in a few seconds; benchmarks/ is the place for timings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from costcalc.cli import main
from costcalc.errors import SpecError
from costcalc.network import evaluate_network
from costcalc.spec import MAX_LAYERS, MAX_REPEAT, build_spec, load_spec, parse_yaml

N_LAYERS = 10_000


def net_json(spec: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["net", str(spec), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ten_thousand_identical_pointwise_convs(tmp_path: Path) -> None:
    h, w, n = 7, 7, 16
    spec = tmp_path / "deep_pointwise.yaml"
    spec.write_text(f"name: deep\ninput: [{h}, {w}, {n}]\nlayers:\n"
                    f"  - {{type: pointwise, M: {n}, repeat: {N_LAYERS}}}\n")
    doc = net_json(spec)
    macs_one = h * w * n * n  # H·W·N·M with M = N
    params_one = n * n  # weights, no bias, no BatchNorm
    assert len(doc["layers"]) == N_LAYERS
    assert doc["totals"]["macs"] == N_LAYERS * macs_one == 125_440_000
    assert doc["totals"]["flops"] == 2 * N_LAYERS * macs_one
    assert doc["totals"]["params"] == N_LAYERS * params_one == 2_560_000
    assert {row["macs"] for row in doc["layers"]} == {macs_one}
    assert doc["layers"][0]["path"] == "pointwise1" and doc["layers"][-1]["path"] == f"pointwise{N_LAYERS}"
    assert doc["layers"][-1]["out_shape"] == [h, w, n]
    assert sum(row["macs"] for row in doc["layers"]) == doc["totals"]["macs"]


def test_repeated_group_of_four_layers(tmp_path: Path) -> None:
    """2,500 repeats of a 4-layer group (expand 1×1, ReLU, depthwise 3×3, project 1×1) = 10,000
    layers; the first repeat's first layer has stride 2 (``first:``), so every layer runs at 7×7."""
    reps, n, t = 2_500, 16, 2
    spec = tmp_path / "deep_group.yaml"
    spec.write_text(
        "name: deep group\n"
        f"vars: {{width: {n}, t: {t}}}\n"
        "input: [14, 14, width]\n"
        "layers:\n"
        "  - name: stage\n"
        f"    repeat: {reps}\n"
        "    first: {S: 2}\n"
        "    layers:\n"
        "      - {type: pointwise, name: expand, M: t*width}\n"
        "      - {type: relu}\n"
        "      - {type: depthwise, name: dw}\n"
        "      - {type: pointwise, name: project, M: width}\n")
    doc = net_json(spec)
    hw, m = 7 * 7, t * n
    macs_rep = hw * n * m + hw * m * 3 * 3 + hw * m * n  # expand + depthwise + project
    params_rep = n * m + m * 3 * 3 + m * n
    assert len(doc["layers"]) == 4 * reps == N_LAYERS
    assert doc["totals"]["macs"] == reps * macs_rep == 160_720_000
    assert doc["totals"]["params"] == reps * params_rep == 3_280_000
    assert doc["totals"]["comparisons"] == reps * hw * m  # one ReLU comparison per element
    paths = [row["path"] for row in doc["layers"]]
    assert paths[:4] == ["stage.0.expand", "stage.0.relu1", "stage.0.dw", "stage.0.project"]
    assert paths[-1] == f"stage.{reps - 1}.project"
    assert doc["layers"][0]["in_shape"] == [14, 14, n] and doc["layers"][0]["out_shape"] == [7, 7, m]
    assert doc["layers"][-1]["out_shape"] == [7, 7, n]


SYMBOLIC_LAYERS = 1_000  # the symbolic path is slower per layer (sympy); 10,000 take ~25 s


def test_a_thousand_layers_with_symbolic_resolution(tmp_path: Path) -> None:
    """Symbols through 1,000 layers: the total is the closed form in R, and R = 7 gives the
    numeric total."""
    spec = tmp_path / "sym.yaml"
    spec.write_text("vars: {resolution: 7}\ninput: [resolution, resolution, 8]\nlayers:\n"
                    f"  - {{type: pointwise, M: 8, repeat: {SYMBOLIC_LAYERS}}}\n")
    import sympy

    doc = net_json(spec, "--set", "resolution=R")
    r = sympy.Symbol("R", positive=True)
    total = sympy.sympify(doc["totals"]["macs"], locals={"R": r})
    assert sympy.expand(total - SYMBOLIC_LAYERS * 64 * r**2) == 0
    assert net_json(spec)["totals"]["macs"] == SYMBOLIC_LAYERS * 64 * 7 * 7


def test_residual_adds_across_ten_thousand_layers(tmp_path: Path) -> None:
    """A 'from:' reference to the input after 10,000 layers (the shape is kept, not recomputed)."""
    spec = tmp_path / "res.yaml"
    spec.write_text("input: [4, 4, 8]\nlayers:\n"
                    f"  - {{type: pointwise, M: 8, repeat: {N_LAYERS - 1}}}\n"
                    "  - {type: add, from: input}\n")
    doc = net_json(spec)
    assert len(doc["layers"]) == N_LAYERS
    assert doc["totals"]["macs"] == (N_LAYERS - 1) * 4 * 4 * 8 * 8
    assert doc["totals"]["elementwise"] == 4 * 4 * 8  # the add


def test_spec_limit_is_exact() -> None:
    """MAX_LAYERS layers after repeats are accepted by the loader; one more is refused."""
    assert MAX_REPEAT == MAX_LAYERS
    ok = build_spec(parse_yaml(f"input: [1, 1, 1]\nlayers:\n  - {{type: relu, repeat: {MAX_LAYERS}}}\n"), "x")
    assert len(ok.layers) == MAX_LAYERS
    too_many = parse_yaml(f"input: [1, 1, 1]\nlayers:\n  - {{type: relu}}\n"
                          f"  - {{type: relu, repeat: {MAX_LAYERS}}}\n")
    with pytest.raises(SpecError, match=f"more than {MAX_LAYERS:,} layers after repeats"):
        build_spec(too_many, "x")


def test_repeats_share_one_layer_object(tmp_path: Path) -> None:
    """Identical repeated layers are built once (what keeps 10,000-layer specs cheap to load),
    and layers whose expressions use the repeat index ``i`` are not shared."""
    spec = tmp_path / "share.yaml"
    spec.write_text("input: [4, 4, 8]\nlayers:\n"
                    "  - {type: pointwise, M: 8, repeat: 100}\n"
                    "  - {type: pointwise, M: 8*i + 8, repeat: 3}\n")
    loaded = load_spec(str(spec))
    assert len({id(nl.layer) for nl in loaded.layers[:100]}) == 1
    assert [nl.layer.M for nl in loaded.layers[100:]] == [8, 16, 24]
    result = evaluate_network(loaded)
    assert result.totals.macs == 100 * 16 * 8 * 8 + 16 * (8 * 8 + 8 * 16 + 16 * 24)
