"""The compiled sweep (costcalc/compiled.py) against the walk it replaces.

The reference at every point is the plain path: ``build_spec`` of the document with the point's
``--set`` values, then ``evaluate_network``. The grids include the values where rounding flips:
widths where ``int(32·α)`` or ``make_divisible(c·α, 8)`` changes (α = 0.96875 = 31/32 against 0.97
and 1), resolutions not divisible by 32 (odd sizes floor at every stride-2 layer), and sizes where
a ceil-mode pool drops its last window at some points and not at others.
"""

from __future__ import annotations

import glob
import json
import operator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from costcalc.cli import main
from costcalc.compiled import IntVec, Undecided, evaluate_points, grid_overrides, layer_variables, sweep_points
from costcalc.cost import Shape
from costcalc.errors import CostcalcError
from costcalc.network import evaluate_network
from costcalc.spec import build_spec, parse_yaml, read_yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(glob.glob(str(ROOT / "examples" / "*.yaml")))

#: widths around the places where int(c·α) and make_divisible(c·α, 8) change
ALPHAS = ["0.25", "0.35", "0.5", "0.74", "0.75", "0.96875", "0.97", "1.0", "1.3"]
#: resolutions: multiples of 32, odd sizes, and sizes that floor differently at each stride
RESOLUTIONS = ["224", "225", "193", "161", "130", "97", "67"]


def _axes(doc: Any) -> dict[str, list[str]]:
    """A grid for a spec's variables: declared choices, widths for float variables, resolutions
    for sizes, the default for the rest (computed variables keep their expression)."""
    axes: dict[str, list[str]] = {}
    for name, v in (doc.get("vars") or {}).items():
        if isinstance(v, dict):
            if v.get("choices"):
                axes[name] = [str(c) for c in v["choices"]]
            continue
        if isinstance(v, float):
            axes[name] = ALPHAS
        elif isinstance(v, int) and not isinstance(v, bool) and v >= 64:
            # a size: the resolution sweeps the usual and the awkward values; another size (a
            # transformer's width D, its MLP width) keeps its default and a multiple of it, since
            # it must stay divisible by the heads
            axes[name] = RESOLUTIONS if name == "resolution" else [str(v), str(2 * v)]
    return axes


def _walk(doc: Any, path: str, overrides: dict[str, str]) -> Any:
    """The reference: the point as `costcalc net` evaluates it (result, or the error's text)."""
    try:
        spec = build_spec(doc, path, overrides)
        res = evaluate_network(spec)
    except CostcalcError as e:
        return f"error: {e}"
    return dict(spec.vars), res.totals, res.by_type, list(res.by_type)


def _assert_agree(doc: Any, path: str, overrides: list[dict[str, str]]) -> int:
    want = [_walk(doc, path, o) for o in overrides]
    errors = [w for w in want if isinstance(w, str)]
    if errors:  # the compiled path raises the first point's error, with the same message
        with pytest.raises(CostcalcError) as e:
            evaluate_points(doc, path, overrides)
        assert f"error: {e.value}" == errors[0]
    valid = [o for o, w in zip(overrides, want) if not isinstance(w, str)]
    _, got = evaluate_points(doc, path, valid)
    assert len(got) == len(valid)
    for o, w, g in zip(valid, [w for w in want if not isinstance(w, str)], got):
        assert (g.vars, g.totals, g.by_type, list(g.by_type)) == w, o
    return len(valid)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: Path(p).stem)
def test_compiled_equals_walk_on_every_example(path: str) -> None:
    doc = read_yaml(path)
    axes = _axes(doc)
    if len(axes) > 2:  # keep the grid small: the first two swept variables, the others at two values
        names = list(axes)
        for k in names[2:]:
            axes[k] = axes[k][:2]
    overrides = grid_overrides(axes, {})
    assert _assert_agree(doc, path, overrides) > 0


@pytest.mark.parametrize("path", [str(ROOT / "examples" / n) for n in ("resnet50.yaml", "mobilenet_v2.yaml")],
                         ids=lambda p: Path(p).stem)
def test_vector_walk_is_taken_and_exact(path: str) -> None:
    """The vector walk itself (not the fallback) gives each size's exact totals and rows."""
    doc = read_yaml(path)
    spec = build_spec(doc, path, {})
    sizes = [224, 225, 193, 97, 67, 32, 33]
    res = evaluate_network(replace(spec, input=Shape(IntVec.of(sizes), IntVec.of(sizes), 3)))
    for j, r in enumerate(sizes):
        ref = evaluate_network(build_spec(doc, path, {"resolution": str(r)}))
        assert [f.at(j) if isinstance(f, IntVec) else f for f in vars(res.totals).values()] == \
            list(vars(ref.totals).values())
        assert len(res.rows) == len(ref.rows)
        for a, b in zip(res.rows, ref.rows):
            assert (a.path, a.type, a.category, a.depth, a.leaf) == (b.path, b.type, b.category, b.depth, b.leaf)
            assert tuple(v.at(j) if isinstance(v, IntVec) else v for v in a.out_shape) == tuple(b.out_shape)


CEIL_POOL = """
name: ceil
vars: {resolution: 224}
input: [resolution, resolution, 8]
layers:
  - {type: conv, M: 16, K: 3, S: 2}
  - {type: maxpool, K: 2, S: 3, P: 1, ceil_mode: true}   # drops its last window unless 3 divides the size
  - {type: conv, M: "32 if resolution > 100 else 24", K: 3, S: 2, P: 0}
  - {type: global_avgpool}
  - {type: fc, M: 10}
"""


def test_undecided_branches_and_resolution_dependent_layers_fall_back_exactly() -> None:
    """A ceil-mode pool drops its last window at some sizes only (the vector walk cannot take that
    branch once for all sizes), and a layer width that depends on the resolution makes the layers
    themselves differ between points."""
    doc = parse_yaml(CEIL_POOL, "ceil.yaml")
    assert layer_variables(doc, ["resolution"]) == ["resolution"]
    overrides = [{"resolution": str(r)} for r in range(40, 140)]
    assert _assert_agree(doc, "ceil.yaml", overrides) == 100
    spec = build_spec(doc, "ceil.yaml", {})
    with pytest.raises(Undecided):
        evaluate_network(replace(spec, input=Shape(IntVec.of([40, 41, 42, 43]), IntVec.of([40, 41, 42, 43]), 8)))


def test_input_only_variables_share_one_structure() -> None:
    doc = parse_yaml("vars: {r: 64, side: 'r + 1', width: 1.0}\ninput: [side, r, 3]\n"
                     "layers:\n  - {type: conv, M: 'int(32*width)', S: 2}\n  - {type: conv, M: 'int(48*width)', S: 2}\n"
                     "  - {type: global_avgpool}\n", "io.yaml")
    assert layer_variables(doc, ["r", "side", "width"]) == ["width"]
    overrides = grid_overrides({"r": [str(v) for v in range(7, 70, 3)], "width": ["0.5", "0.53", "1"]}, {})
    assert _assert_agree(doc, "io.yaml", overrides) == len(overrides)


SMALL = """
vars: {r: 32}
input: [r, r, 3]
layers:
  - {type: conv, M: 8, K: 5, P: 0}
  - {type: conv, M: 8, K: 5, P: 0, S: 2}
  - {type: global_avgpool}
"""


def test_errors_are_the_walks_errors() -> None:
    """Points whose output size falls below 1: the walk's message, for the first such point."""
    doc = parse_yaml(SMALL, "small.yaml")
    overrides = [{"r": str(r)} for r in (32, 12, 9, 8, 20, 7, 30)]
    want = [_walk(doc, "small.yaml", o) for o in overrides]
    assert [isinstance(w, str) for w in want] == [False, False, False, True, False, True, False]
    assert _assert_agree(doc, "small.yaml", overrides) == 5


# -- IntVec: exact integer arithmetic, decisions only when every point agrees -------------------


def test_intvec_arithmetic_is_pythons() -> None:
    xs = [-7, -1, 0, 1, 5, 224, 2**40]
    v = IntVec.of(xs)
    for op in (operator.add, operator.sub, operator.mul, operator.floordiv, operator.mod):
        for k in (3, -2, 7):
            assert op(v, k).tolist() == [op(x, k) for x in xs]
            assert op(k * 1000 + 1, IntVec.of([k, 2, 9, -4, 3, 11, 5])).tolist() == \
                [op(k * 1000 + 1, y) for y in (k, 2, 9, -4, 3, 11, 5)]
    assert (-v).tolist() == [-x for x in xs]
    assert (v ** 2).tolist() == [x ** 2 for x in xs]
    with pytest.raises(ZeroDivisionError):
        v // 0
    with pytest.raises(ZeroDivisionError):
        7 // IntVec.of([1, 0])


def test_intvec_switches_to_python_ints_before_int64_overflows() -> None:
    big = IntVec.of([2**40, 3 * 2**40])
    prod = big * big * big  # 2**120 and 27 * 2**120: far past int64
    assert prod.tolist() == [2**120, 27 * 2**120]
    assert (prod // 2**100).tolist() == [2**20, 27 * 2**20]


def test_intvec_decisions() -> None:
    v = IntVec.of([4, 6, 8])
    assert v > 3 and not (v > 9) and v == IntVec.of([4, 6, 8]) and v != 5
    assert max(v, 1) is v and int(IntVec.of([3, 3])) == 3
    for decide in (lambda: v > 5, lambda: bool(v % 4), lambda: int(v), lambda: v == 6):
        with pytest.raises(Undecided):
            decide()
    with pytest.raises(TypeError):
        v / 2  # the scalar walk would make a rational: not the vector walk's business
    from fractions import Fraction

    with pytest.raises(TypeError):
        v * Fraction(1, 2)


# -- several processes -----------------------------------------------------------------------------


def test_jobs_give_the_same_points_as_one_process() -> None:
    path = str(ROOT / "examples" / "mobilenet_v2.yaml")
    doc = read_yaml(path)
    overrides = grid_overrides({"alpha": ALPHAS, "resolution": RESOLUTIONS}, {})
    one = sweep_points(doc, path, overrides, jobs=1)
    two = sweep_points(doc, path, overrides, jobs=2)
    assert one == two


def test_jobs_raise_the_first_error_in_point_order() -> None:
    doc = parse_yaml(SMALL, "small.yaml")
    overrides = [{"r": str(r)} for r in (32, 31, 30, 29, 28, 27, 26, 7, 25, 24, 8, 23)]
    with pytest.raises(CostcalcError) as one:
        sweep_points(doc, "small.yaml", overrides, jobs=1)
    with pytest.raises(CostcalcError) as two:
        sweep_points(doc, "small.yaml", overrides, jobs=3)
    assert "small.yaml:" in str(one.value)
    assert str(one.value) == str(two.value)


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_sweep_jobs_option_prints_the_same(fmt: str) -> None:
    args = ["sweep", str(ROOT / "examples" / "mobilenet_v2.yaml"), "--set", "alpha=0.35,0.5,0.75,1.0",
            "--set", "resolution=96:224:16", "--format", fmt]
    one = CliRunner().invoke(main, args)
    two = CliRunner().invoke(main, [*args, "--jobs", "2"])
    assert one.exit_code == 0, one.output
    assert two.exit_code == 0, two.output
    assert one.output == two.output
    if fmt == "json":
        assert len(json.loads(one.output)["points"]) == 4 * 9


# -- scoring candidate networks given as dicts -------------------------------------------------------


def _candidate(rng: Any) -> dict[str, Any]:
    """A MobileNetV2-like network with random expansions, kernels and widths per block."""
    layers: list[dict[str, Any]] = [{"type": "conv", "M": 32, "S": 2, "bn": True, "act": "relu6"}]
    for c, n, s in ((16, 1, 1), (24, 2, 2), (32, 3, 2), (64, 4, 2), (96, 3, 1), (160, 3, 2), (320, 1, 1)):
        for r in range(n):
            layers.append({"type": "inverted_residual", "T": rng.choice((1, 3, 6)), "K": rng.choice((3, 5)),
                           "M": max(8, int(c * rng.choice((0.75, 1.0, 1.25))) // 8 * 8), "S": s if r == 0 else 1})
    if rng.random() < 0.3:  # a graph: two heads on the pooled features, added
        layers += [{"type": "global_avgpool", "name": "gp"}, {"type": "fc", "M": 10, "name": "h1"},
                   {"type": "fc", "M": 10, "from": "gp"}, {"type": "add", "from": "h1"}]
    else:
        layers += [{"type": "global_avgpool"}, {"type": "fc", "M": rng.choice((10, 1000))}]
    return {"name": "candidate", "vars": {"resolution": rng.choice((160, 193, 224))},
            "input": ["resolution", "resolution", 3], "layers": layers}


def test_score_equals_the_walks_totals() -> None:
    import random

    from costcalc.compiled import score

    rng = random.Random(7)
    docs = [_candidate(rng) for _ in range(60)]
    docs += docs[:5]  # repeated candidates hit every cache
    got = score(docs)
    for doc, g in zip(docs, got):
        assert g == evaluate_network(build_spec(doc, "<candidate>")).totals
    assert score(docs[:3], overrides={"resolution": "R"}) == \
        [evaluate_network(build_spec(d, "<candidate>", {"resolution": "R"})).totals for d in docs[:3]]


def test_score_raises_the_candidates_own_error() -> None:
    from costcalc.compiled import score

    bad = {"input": [8, 8, 3], "layers": [{"type": "conv", "M": 8, "K": 5, "P": 0},
                                          {"type": "conv", "M": 8, "K": 5, "P": 0}]}
    with pytest.raises(CostcalcError) as want:
        evaluate_network(build_spec(bad, "cand.py"))
    with pytest.raises(CostcalcError) as got:
        score([bad], "cand.py")
    assert str(got.value) == str(want.value)


def test_layers_that_read_the_repeat_index_are_built_per_repetition() -> None:
    """Layers are shared between repetitions and builds (a cache keyed by the text and the
    variables); a field that names ``i`` must still differ per repetition, also inside a call
    whose name contains the letter i."""
    doc = parse_yaml('vars: {w: 8}\ninput: [8, 8, 3]\nlayers:\n'
                     '  - {type: pointwise, M: "w*(i+1)", repeat: 3}\n'
                     '  - {type: pointwise, M: "make_divisible(w*(1+i), 8)", repeat: 2}\n'
                     '  - {type: pointwise, M: "make_divisible(w*3, 8)", repeat: 2}\n', "i.yaml")
    assert [nl.layer.M for nl in build_spec(doc, "i.yaml").layers] == [8, 16, 24, 8, 16, 24, 24]
    assert [nl.layer.M for nl in build_spec(doc, "i.yaml", {"w": "16"}).layers] == [16, 32, 48, 16, 32, 48, 48]
