"""The graph-syntax examples against torchvision's own models.

``examples/{squeezenet1_0,googlenet,inception_v3,densenet121,alexnet,vgg16}.yaml`` write each
network the way its paper draws it (Fire and Inception modules as ``branches:``, DenseNet's dense
layer as a repeated group concatenating with ``in``). The expectations here are PyTorch's counts
on torchvision's models, built with ``weights=None`` (no download): MACs = ``FlopCounterMode``
total / 2 on the meta device, params = ``sum(p.numel())``. Nothing is copied from costcalc's output.

The closed forms (``--set resolution=R``) drop floors; each network's entry in R_CONDITIONS states,
from its strides and pools, the resolutions where every size is divided exactly, and the test
checks that the closed form equals the numeric walk there, and only there.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'costcalc[torch]'")
torchvision = pytest.importorskip("torchvision", reason="torchvision not installed: the zoo tests compare "
                                  "with torchvision's models")

from click.testing import CliRunner  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from costcalc.cli import main  # noqa: E402
from costcalc.cost import COST_FIELDS, Cost  # noqa: E402
from costcalc.network import evaluate_network  # noqa: E402
from costcalc.spec import load_spec  # noqa: E402
from costcalc.torch_build import verify_network  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: example -> (torchvision constructor, its keyword arguments, default resolution)
ZOO: dict[str, tuple[str, dict[str, Any], int]] = {
    "squeezenet1_0": ("squeezenet1_0", {}, 224),
    # the inference model: no auxiliary classifiers (they do not run in eval mode, but own params)
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}, 224),
    "inception_v3": ("inception_v3", {"aux_logits": False, "init_weights": False}, 299),
    "densenet121": ("densenet121", {}, 224),
    "alexnet": ("alexnet", {}, 224),
    "vgg16": ("vgg16", {}, 224),
}
NAMES = list(ZOO)


@functools.lru_cache(maxsize=None)
def torchvision_counts(ctor: str, resolution: int, kwargs: tuple[tuple[str, Any], ...] = ()) -> tuple[int, int]:
    """(MACs, params) of ``torchvision.models.<ctor>(weights=None, **kwargs)`` on a
    ``resolution``² RGB input: FlopCounterMode total / 2 on the meta device, sum(p.numel())."""
    build = getattr(torchvision.models, ctor)
    try:
        with torch.device("meta"):
            model = build(weights=None, **dict(kwargs))
    except Exception:  # an initializer that cannot run on meta: build on the CPU, then move
        model = build(weights=None, **dict(kwargs)).to("meta")
    x = torch.zeros(1, 3, resolution, resolution, device="meta")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = model.eval()(x)
    assert tuple(y.shape) == (1, 1000)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2, sum(p.numel() for p in model.parameters())


def tv(name: str, resolution: int | None = None) -> tuple[int, int]:
    ctor, kwargs, default = ZOO[name]
    return torchvision_counts(ctor, resolution or default, tuple(sorted(kwargs.items())))


@functools.lru_cache(maxsize=None)
def walk(name: str, **overrides: str) -> Cost:
    return evaluate_network(load_spec(str(EXAMPLES / f"{name}.yaml"), overrides or None)).totals


# ----------------------------------------------------------------------------------------------
# Exactly torchvision's model, at its default resolution and at a second one


@pytest.mark.parametrize("name", NAMES)
def test_example_equals_torchvision(name: str) -> None:
    spec = load_spec(str(EXAMPLES / f"{name}.yaml"))
    assert tuple(spec.input) == (ZOO[name][2], ZOO[name][2], 3)  # the default resolution is torchvision's
    result = evaluate_network(spec)
    assert tuple(result.out_shape) == (1, 1, 1000)
    assert (result.totals.macs, result.totals.params) == tv(name)


@pytest.mark.parametrize("name, resolution", [
    ("squeezenet1_0", 256),  # not ≡ 6 (mod 16): the closed form does not hold here, the walk does
    ("googlenet", 320),
    ("inception_v3", 320),
    ("densenet121", 256),
    ("alexnet", 256),  # the last max pool gives 7×7: the adaptive pool to 6×6 has overlapping windows
    ("vgg16", 320),  # 10×10 → 7×7: likewise
])
def test_second_resolution_equals_torchvision(name: str, resolution: int) -> None:
    t = walk(name, resolution=str(resolution))
    assert (t.macs, t.params) == tv(name, resolution)


@pytest.mark.parametrize("name", NAMES)
def test_every_row_agrees_with_pytorch(name: str) -> None:
    """costcalc's own PyTorch build of the spec, row by row (and the totals)."""
    v = verify_network(load_spec(str(EXAMPLES / f"{name}.yaml")))
    assert v.ok, [f"{c.path}: {c.problems}" for c in v.mismatches] + v.total_problems
    assert (v.torch_flops, v.torch_params) == (2 * tv(name)[0], tv(name)[1])


def test_costcalc_verify_command_passes() -> None:
    r = CliRunner().invoke(main, ["verify", str(EXAMPLES / "squeezenet1_0.yaml")])
    assert r.exit_code == 0, r.output
    assert "agrees with PyTorch exactly" in r.output


# ----------------------------------------------------------------------------------------------
# The spec's variables reach the other members of each family (torchvision's models again)


@pytest.mark.parametrize("overrides, ctor", [
    ({"n1": 1, "n2": 1, "n3": 2, "n4": 2, "n5": 2}, "vgg11"),  # Table 1, column A
    ({"n1": 2, "n2": 2, "n3": 2, "n4": 2, "n5": 2}, "vgg13"),  # column B
    ({"n1": 2, "n2": 2, "n3": 4, "n4": 4, "n5": 4}, "vgg19"),  # column E
])
def test_vgg_columns(overrides: dict[str, int], ctor: str) -> None:
    t = walk("vgg16", **{k: str(v) for k, v in overrides.items()})
    assert (t.macs, t.params) == torchvision_counts(ctor, 224)


@pytest.mark.parametrize("overrides, ctor", [
    pytest.param({"b3": 32, "b4": 32}, "densenet169"),
    pytest.param({"b3": 48, "b4": 32}, "densenet201", marks=pytest.mark.slow),
    pytest.param({"k": 48, "init": 96, "b3": 36, "b4": 24}, "densenet161", marks=pytest.mark.slow),
])
def test_densenet_columns(overrides: dict[str, int], ctor: str) -> None:
    t = walk("densenet121", **{k: str(v) for k, v in overrides.items()})
    assert (t.macs, t.params) == torchvision_counts(ctor, 224)


# ----------------------------------------------------------------------------------------------
# The papers' own numbers, where they give one


def test_squeezenet_paper_parameters() -> None:
    # Table 1, "# parameter before pruning": 1,248,424 in total (with biases)
    assert walk("squeezenet1_0").params == 1_248_424


@pytest.mark.parametrize("overrides, paper_m", [
    ({}, 138),  # Table 2: D
    ({"n1": 1, "n2": 1, "n3": 2, "n4": 2, "n5": 2}, 133),  # A
    ({"n1": 2, "n2": 2, "n3": 2, "n4": 2, "n5": 2}, 133),  # B
    ({"n1": 2, "n2": 2, "n3": 4, "n4": 4, "n5": 4}, 144),  # E
])
def test_vgg_paper_parameters(overrides: dict[str, int], paper_m: int) -> None:
    params = walk("vgg16", **{k: str(v) for k, v in overrides.items()}).params
    assert abs(params - paper_m * 10**6) < 0.5 * 10**6


def test_inception_v3_paper_claims() -> None:
    # abstract: "less than 25 million parameters" (true of the inference model, without the
    # auxiliary classifier) at "5 billion multiply-adds" (5.7 G: the paper rounds loosely)
    t = walk("inception_v3")
    assert t.params < 25 * 10**6
    assert 5 * 10**9 <= t.macs < 6 * 10**9


def test_googlenet_5x5_branches() -> None:
    """``--set k5=5`` gives the paper's "5×5" branches (torchvision has 3×3). The difference,
    written out from Table 1's "#5×5 reduce" and "#5×5" columns and the grid size of each module:
    (5² − 3²)·h²·reduce·out MACs and (5² − 3²)·reduce·out weights per module (BatchNorm unchanged)."""
    table = [  # (grid, #5×5 reduce, #5×5)
        (28, 16, 32), (28, 32, 96),  # 3a, 3b
        (14, 16, 48), (14, 24, 64), (14, 24, 64), (14, 32, 64), (14, 32, 128),  # 4a … 4e
        (7, 32, 128), (7, 48, 128),  # 5a, 5b
    ]
    three, five = walk("googlenet"), walk("googlenet", k5="5")
    assert five.macs - three.macs == sum(16 * h * h * r * m for h, r, m in table)
    assert five.params - three.params == sum(16 * r * m for _, r, m in table)


# ----------------------------------------------------------------------------------------------
# The closed form in R: exact where every stride and pool divides its input exactly
#
# Sizes follow PyTorch, floor((h + 2p − k)/s) + 1 (ceil with ceil_mode); the closed form drops the
# floor. A max pool 3×3/2 without padding halves an even h exactly (h/2 − 1, or h/2 with ceil_mode)
# and is off for an odd one; an adaptive average pool to o×o counts exactly H·W·C ops only when o
# divides H (otherwise its windows overlap).
#
# MACs_ok: the sizes that reach a conv or fc are exact; ALL_ok: every count (pool comparisons and
# adaptive-pool ops too).

R_CONDITIONS: dict[str, tuple[Callable[[int], bool], Callable[[int], bool], str]] = {
    # conv1 7×7/2 unpadded: R/2 − 3 (R even); three ceil-mode 3×3/2 pools halve it exactly when
    # R/2 − 3 is a multiple of 8
    "squeezenet1_0": (lambda r: r % 16 == 6, lambda r: r % 16 == 6, "R ≡ 6 (mod 16)"),
    # "same" convs and ceil-mode pools: five halvings, exact for multiples of 32
    "googlenet": (lambda r: r % 32 == 0, lambda r: r % 32 == 0, "R ≡ 0 (mod 32)"),
    # 3×3/2 unpadded (R/2 − 1, R even), 3×3 unpadded (−2), max pool 3×3/2 (needs even: R ≡ 2 mod 4),
    # 3×3 unpadded and max pool (R ≡ 2 mod 8), two grid reductions 3×3/2 (R ≡ 10 mod 16, mod 32)
    "inception_v3": (lambda r: r % 32 == 10, lambda r: r % 32 == 10, "R ≡ 10 (mod 32)"),
    # conv 7×7/2 and max pool 3×3/2 padded, three 2×2/2 average pools: multiples of 32
    "densenet121": (lambda r: r % 32 == 0, lambda r: r % 32 == 0, "R ≡ 0 (mod 32)"),
    # conv1 11×11/4 pad 2: R/4 − 1 (R ≡ 0 mod 4); pool1 needs it even (R ≡ 4 mod 8); pool2 needs
    # R/8 − 3/2 even (R ≡ 12 mod 16): conv3–5 then run at R/16 − 7/4. pool5 needs that even
    # (R ≡ 28 mod 32) and the 6×6 adaptive pool needs 6 | R/32 − 15/8 − … = (R − 60)/192 integer
    "alexnet": (lambda r: r % 16 == 12, lambda r: r % 192 == 60, "MACs: R ≡ 12 (mod 16); all: R ≡ 60 (mod 192)"),
    # 2×2/2 pools: conv5 runs at R/16 (MACs exact for 16 | R); the last pool needs 32 | R and the
    # 7×7 adaptive pool 7 | R/32
    "vgg16": (lambda r: r % 16 == 0, lambda r: r % 224 == 0, "MACs: R ≡ 0 (mod 16); all: R ≡ 0 (mod 224)"),
}

#: resolutions tried in the default run: around two points where each condition holds, and their
#: neighbours (odd sizes, the other residues); the slow test tries every R in a wide range
QUICK_R: dict[str, list[int]] = {
    "squeezenet1_0": [222, 223, 224, 226, 229, 230, 231, 238, 246, 254],
    "googlenet": [222, 223, 224, 225, 240, 248, 255, 256, 288],
    "inception_v3": [298, 299, 300, 302, 314, 330, 331, 362],
    "densenet121": [223, 224, 225, 240, 252, 256, 272, 288],
    "alexnet": [224, 227, 236, 252, 253, 254, 256, 268, 284, 444],
    "vgg16": [223, 224, 225, 232, 240, 248, 256, 448, 464],
}


@functools.lru_cache(maxsize=None)
def closed_form(name: str) -> Cost:
    return walk(name, resolution="R")


def _at(value: Any, r: int) -> Any:
    """A total of the closed form at R = r (an int stays as it is)."""
    import sympy

    return value if isinstance(value, int) else value.subs(sympy.Symbol("R", positive=True), r)


def _check_closed_form(name: str, resolutions: list[int]) -> dict[str, list[int]]:
    macs_ok, all_ok, _ = R_CONDITIONS[name]
    sym = closed_form(name)
    held: dict[str, list[int]] = {"macs": [], "all": []}
    for r in resolutions:
        num = walk(name, resolution=str(r))
        macs_equal = _at(sym.macs, r) == num.macs and _at(sym.params, r) == num.params
        all_equal = all(_at(getattr(sym, f), r) == getattr(num, f) for f in COST_FIELDS)
        assert macs_equal == macs_ok(r), (name, r, "MACs")
        assert all_equal == all_ok(r), (name, r, "all totals")
        held["macs"] += [r] * macs_equal
        held["all"] += [r] * all_equal
    return held


@pytest.mark.parametrize("name", NAMES)
def test_closed_form_in_R_holds_exactly_where_stated(name: str) -> None:
    held = _check_closed_form(name, QUICK_R[name])
    assert len(held["all"]) >= 2 and len(held["macs"]) < len(QUICK_R[name])  # both outcomes were tried


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_closed_form_in_R_over_a_wide_range(name: str) -> None:
    lo = {"inception_v3": 106, "alexnet": 76}.get(name, 32)  # smaller inputs collapse to nothing
    held = _check_closed_form(name, list(range(lo, 520)))
    assert held["all"]


# ----------------------------------------------------------------------------------------------
# Written as the papers draw them: modules once, repeated; never unrolled


@pytest.mark.parametrize("name, max_items, min_convs", [
    ("densenet121", 50, 120),  # 58 dense layers × 2 convs + stem + 3 transitions; unrolled: 400+ items
    ("inception_v3", 85, 94),  # Mixed_5c/5d, 6c/6d, 7b/7c written once each; unrolled: 118 items
    ("vgg16", 16, 13),  # a conv with repeat: per stage; unrolled: 24 items
])
def test_examples_are_not_unrolled(name: str, max_items: int, min_convs: int) -> None:
    from costcalc.spec import read_yaml

    def items(node: Any) -> int:
        if isinstance(node, dict):
            return ("type" in node) + sum(items(v) for v in node.values())
        if isinstance(node, list):
            return sum(items(v) for v in node)
        return 0

    doc = read_yaml(str(EXAMPLES / f"{name}.yaml"))
    rows = evaluate_network(load_spec(str(EXAMPLES / f"{name}.yaml"))).leaves
    convs = sum(1 for r in rows if r.category.startswith("conv"))
    assert items(doc["layers"]) <= max_items and convs >= min_convs, (items(doc["layers"]), convs)


# ----------------------------------------------------------------------------------------------
# Found while writing these examples


I_IN_GROUP = """
input: [4, 4, 8]
layers:
  - name: stage
    repeat: 3
    layers:
      - {type: pointwise, M: "8*(i + 1)"}
"""


def _macs_of(text: str, tmp_path: Path) -> int:
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return evaluate_network(load_spec(str(p))).totals.macs


def test_repeat_index_reaches_the_layers_of_a_repeated_group(tmp_path: Path) -> None:
    """`i` inside a repeated group is the group's repetition index (the items inside do not repeat)."""
    # 16 positions; repetition i maps 8·i channels (8 for i = 0) to 8·(i+1)
    assert _macs_of(I_IN_GROUP, tmp_path) == 16 * (8 * 8 + 8 * 16 + 16 * 24)
