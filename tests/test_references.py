"""Independent references for the rules the rest of the suite checked least.

1. Bias, without PyTorch: closed forms written out here for conv, grouped, depthwise, pointwise and
   fc with and without a bias, one layer at a time, on the command line and inside a network spec.
   A bias adds M parameters and M·H′·W′ elementwise adds, never a multiply-add.
2. Blocks against modules written by hand in this file (``nn.Sequential`` and small ``nn.Module``
   classes following the papers' figures, not :mod:`costcalc.torch_build`): separable, basic (identity,
   projection and zero-padding shortcuts), bottleneck with the zero-padding shortcut and ShuffleNet v1
   units (stride 1 and 2, first 1×1 grouped or not). MACs are PyTorch's ``FlopCounterMode`` total / 2,
   params ``sum(p.numel())``, the shape the module's output has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from costcalc.cli import main
from costcalc.cost import Shape
from costcalc.engine import evaluate
from costcalc.layers import get_type
from costcalc.network import evaluate_network
from costcalc.spec import load_spec


def out_size(h: int, k: int, s: int, p: int) -> int:
    """``torch.nn.Conv2d`` output length: floor((H + 2P − K) / S) + 1."""
    return (h + 2 * p - k) // s + 1


# ----------------------------------------------------------------------------------------------
# 1. Bias, closed forms (no PyTorch)

# (type, fields, input H×W×N, expected (macs, params, elementwise)) — with H′ the output size:
# MACs H′·W′·K²·(N/G)·M; params K²·(N/G)·M (+ M with bias); elementwise H′·W′·M bias adds.
BIAS_CASES = [
    ("conv", dict(M=32, K=3, bias=True), (14, 14, 16),
     (14 * 14 * 9 * 16 * 32, 9 * 16 * 32 + 32, 14 * 14 * 32)),
    ("conv", dict(M=32, K=3, bias=False), (14, 14, 16),
     (14 * 14 * 9 * 16 * 32, 9 * 16 * 32, 0)),
    ("conv", dict(M=24, K=5, S=2, bias=True), (15, 15, 8),  # H′ = (15 + 4 − 5)//2 + 1 = 8
     (8 * 8 * 25 * 8 * 24, 25 * 8 * 24 + 24, 8 * 8 * 24)),
    ("pointwise", dict(M=64, bias=True), (7, 7, 32),
     (7 * 7 * 32 * 64, 32 * 64 + 64, 7 * 7 * 64)),
    ("grouped", dict(M=48, G=4, bias=True), (10, 10, 32),  # 8 input channels per filter
     (10 * 10 * 9 * 8 * 48, 9 * 8 * 48 + 48, 10 * 10 * 48)),
    ("grouped", dict(M=48, G=4, bias=False), (10, 10, 32),
     (10 * 10 * 9 * 8 * 48, 9 * 8 * 48, 0)),
    ("depthwise", dict(K=3, bias=True), (12, 12, 20),  # one 3×3 filter (and one bias) per channel
     (12 * 12 * 9 * 20, 9 * 20 + 20, 12 * 12 * 20)),
    ("depthwise", dict(K=3, S=2, bias=True), (12, 12, 20),
     (6 * 6 * 9 * 20, 9 * 20 + 20, 6 * 6 * 20)),
    ("fc", dict(M=10), (4, 4, 8),  # PyTorch's nn.Linear default: bias on
     (4 * 4 * 8 * 10, 4 * 4 * 8 * 10 + 10, 10)),
    ("fc", dict(M=10, bias=False), (4, 4, 8),
     (4 * 4 * 8 * 10, 4 * 4 * 8 * 10, 0)),
]


@pytest.mark.parametrize("type_name, fields, x, expect", BIAS_CASES,
                         ids=[f"{c[0]}-{'bias' if c[1].get('bias', c[0] == 'fc') else 'nobias'}-{i}"
                              for i, c in enumerate(BIAS_CASES)])
def test_bias_closed_form(type_name: str, fields: dict, x: tuple[int, int, int], expect: tuple[int, int, int]) -> None:
    _, cost, _ = evaluate(get_type(type_name).make(**fields), (Shape(*x),))
    assert (cost.macs, cost.params, cost.elementwise) == expect
    has_bias = cost.params != cost.weights
    assert has_bias == fields.get("bias", type_name == "fc")


@pytest.mark.parametrize("flag, params", [("--bias", 9 * 16 * 32 + 32), ("--no-bias", 9 * 16 * 32)])
def test_bias_on_the_command_line(flag: str, params: int) -> None:
    r = CliRunner().invoke(main, ["layer", "--type", "conv", "-H", "14", "-N", "16", "-M", "32", flag,
                                  "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert (doc["macs"], doc["params"], doc["weights"]) == (14 * 14 * 9 * 16 * 32, params, 9 * 16 * 32)
    assert doc["elementwise"] == (14 * 14 * 32 if flag == "--bias" else 0)


BIAS_NET = """\
name: biased
input: [16, 16, 8]
layers:
  - {type: conv, name: c1, M: 16, K: 3, S: 2, bias: true}     # 16 -> 8
  - {type: grouped, name: g1, M: 32, G: 4, bias: true}       # 8x8, 4 input channels per filter
  - {type: depthwise, name: d1, bias: true}                  # 8x8x32
  - {type: pointwise, name: p1, M: 16}                       # no bias
  - {type: global_avgpool}
  - {type: fc, name: f1, M: 10}                              # bias (default)
  - {type: fc, name: f2, M: 5, bias: false}
"""


def test_bias_in_a_network(tmp_path: Path) -> None:
    p = tmp_path / "biased.yaml"
    p.write_text(BIAS_NET)
    t = evaluate_network(load_spec(str(p))).totals
    macs = (8 * 8 * 9 * 8 * 16) + (8 * 8 * 9 * 4 * 32) + (8 * 8 * 9 * 32) + (8 * 8 * 32 * 16) + 16 * 10 + 10 * 5
    weights = 9 * 8 * 16 + 9 * 4 * 32 + 9 * 32 + 32 * 16 + 16 * 10 + 10 * 5
    biases = 16 + 32 + 32 + 10  # c1, g1, d1, f1
    bias_adds = 8 * 8 * 16 + 8 * 8 * 32 + 8 * 8 * 32 + 10
    pool = 8 * 8 * 16  # global average pool: H·W ops per output channel
    assert (t.macs, t.weights, t.params) == (macs, weights, weights + biases)
    assert t.elementwise == bias_adds + pool


def test_bias_from_defaults(tmp_path: Path) -> None:
    """``defaults: {bias: true}`` gives every conv a bias; an fc keeps its own."""
    p = tmp_path / "defaults.yaml"
    p.write_text("name: d\ninput: [8, 8, 4]\ndefaults: {bias: true}\nlayers:\n"
                 "  - {type: conv, M: 8}\n  - {type: pointwise, M: 6}\n  - {type: fc, M: 3, bias: false}\n")
    t = evaluate_network(load_spec(str(p))).totals
    assert t.params - t.weights == 8 + 6


# ----------------------------------------------------------------------------------------------
# 2. Blocks against modules written by hand here


@pytest.fixture(scope="module")
def nn() -> Any:
    torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'costcalc[torch]'")
    return torch.nn


def torch_counts(module: Any, x: Shape) -> tuple[int, int, tuple[int, int, int]]:
    """(MACs = FlopCounterMode / 2, params, output H×W×C) of one forward pass on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    module = module.to("meta").eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = module(torch.zeros(1, x.c, x.h, x.w, device="meta"))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    shape = (y.shape[2], y.shape[3], y.shape[1]) if y.dim() == 4 else (1, 1, y.shape[1])  # nn.Linear: N×C
    return flops // 2, sum(p.numel() for p in module.parameters()), shape


def separable(nn: Any, n: int, m: int, k: int = 3, s: int = 1, bn: bool = False, act: Any = None) -> Any:
    """MobileNet Fig. 3: depthwise K×K (stride s) [BN, act], pointwise 1×1 [BN, act]."""
    def post(c: int) -> list[Any]:
        return ([nn.BatchNorm2d(c)] if bn else []) + ([act()] if act else [])

    return nn.Sequential(nn.Conv2d(n, n, k, s, k // 2, groups=n, bias=False), *post(n),
                         nn.Conv2d(n, m, 1, bias=False), *post(m))


def make_basic(nn: Any, n: int, m: int, s: int, shortcut: str) -> Any:
    """ResNet basic block (He et al. 2015, Fig. 2): 3×3 s, BN, ReLU, 3×3, BN, + shortcut, ReLU.
    Shortcut on a change of shape: B, 1×1 conv stride s + BN; A, take every s-th pixel and append
    M − N zero channels (no parameters, no multiply-adds)."""
    import torch.nn.functional as F

    class Basic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(n, m, 3, s, 1, bias=False), nn.BatchNorm2d(m), nn.ReLU(),
                                      nn.Conv2d(m, m, 3, 1, 1, bias=False), nn.BatchNorm2d(m))
            self.project = None
            if (n != m or s != 1) and shortcut == "B":
                self.project = nn.Sequential(nn.Conv2d(n, m, 1, s, bias=False), nn.BatchNorm2d(m))

        def forward(self, x: Any) -> Any:
            if self.project is not None:
                sc = self.project(x)
            elif n != m or s != 1:
                sc = F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, 0, m - n))
            else:
                sc = x
            return F.relu(self.body(x) + sc)

    return Basic()


def make_bottleneck_a(nn: Any, n: int, b: int, m: int, s: int) -> Any:
    """ResNet bottleneck (Fig. 5), stride on the first 1×1 (the paper), zero-padding shortcut."""
    import torch.nn.functional as F

    class BottleneckA(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(n, b, 1, s, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
                nn.Conv2d(b, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
                nn.Conv2d(b, m, 1, bias=False), nn.BatchNorm2d(m))

        def forward(self, x: Any) -> Any:
            return F.relu(self.body(x) + F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, 0, m - n)))

    return BottleneckA()


def make_shufflenet_v1(nn: Any, n: int, m: int, g: int, s: int, group_first: bool = True) -> Any:
    """ShuffleNet unit (Zhang et al. 2017, Fig. 2b/c; bottleneck M/4 as the authors' code): grouped
    1×1 N→B, BN, ReLU, channel shuffle, depthwise 3×3 stride s, BN, grouped 1×1 B→M′, BN; stride 1:
    add the input (M′ = M); stride 2: concat the 3×3/2 average-pooled input (M′ = M − N); ReLU."""
    import torch
    import torch.nn.functional as F

    b = m // 4
    out = m if s == 1 else m - n

    class ShuffleV1(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gconv1 = nn.Sequential(nn.Conv2d(n, b, 1, groups=g if group_first else 1, bias=False),
                                        nn.BatchNorm2d(b), nn.ReLU())
            self.dw = nn.Sequential(nn.Conv2d(b, b, 3, s, 1, groups=b, bias=False), nn.BatchNorm2d(b))
            self.gconv2 = nn.Sequential(nn.Conv2d(b, out, 1, groups=g, bias=False), nn.BatchNorm2d(out))

        def forward(self, x: Any) -> Any:
            y = self.gconv1(x)
            bs, c, h, w = y.shape
            y = y.view(bs, g, c // g, h, w).transpose(1, 2).reshape(bs, c, h, w)  # channel shuffle
            y = self.gconv2(self.dw(y))
            if s == 1:
                return F.relu(y + x)
            return F.relu(torch.cat((y, F.avg_pool2d(x, 3, s, 1)), dim=1))

    return ShuffleV1()


# (costcalc type, fields, input, the hand-written module)
HAND_WRITTEN = [
    ("separable", dict(M=64), Shape(28, 28, 32), lambda nn: separable(nn, 32, 64)),
    ("separable", dict(M=128, S=2, bn=True, act="relu"), Shape(28, 28, 64),
     lambda nn: separable(nn, 64, 128, s=2, bn=True, act=nn.ReLU)),
    ("separable", dict(M=40, K=5, S=2, bn=True, act="relu6"), Shape(15, 15, 24),
     lambda nn: separable(nn, 24, 40, k=5, s=2, bn=True, act=nn.ReLU6)),
    ("basic", dict(M=64), Shape(56, 56, 64), lambda nn: make_basic(nn, 64, 64, 1, "B")),
    ("basic", dict(M=128, S=2), Shape(56, 56, 64), lambda nn: make_basic(nn, 64, 128, 2, "B")),
    ("basic", dict(M=128, S=2, shortcut="A"), Shape(56, 56, 64), lambda nn: make_basic(nn, 64, 128, 2, "A")),
    ("basic", dict(M=96, shortcut="A"), Shape(15, 15, 32), lambda nn: make_basic(nn, 32, 96, 1, "A")),
    ("basic", dict(M=64, S=2, shortcut="B"), Shape(15, 15, 64), lambda nn: make_basic(nn, 64, 64, 2, "B")),
    ("bottleneck", dict(M=512, S=2, shortcut="A"), Shape(28, 28, 256),
     lambda nn: make_bottleneck_a(nn, 256, 128, 512, 2)),
    ("shufflenet_unit", dict(G=3), Shape(28, 28, 240), lambda nn: make_shufflenet_v1(nn, 240, 240, 3, 1)),
    ("shufflenet_unit", dict(G=3, M=480, S=2), Shape(28, 28, 240),
     lambda nn: make_shufflenet_v1(nn, 240, 480, 3, 2)),
    ("shufflenet_unit", dict(G=3, M=240, S=2, group_first=False), Shape(56, 56, 24),
     lambda nn: make_shufflenet_v1(nn, 24, 240, 3, 2, group_first=False)),
    ("shufflenet_unit", dict(G=2, group_first=False), Shape(14, 14, 200),
     lambda nn: make_shufflenet_v1(nn, 200, 200, 2, 1, group_first=False)),
    ("shufflenet_unit", dict(G=8, M=768, S=2), Shape(15, 15, 384),
     lambda nn: make_shufflenet_v1(nn, 384, 768, 8, 2)),
]


@pytest.mark.parametrize("type_name, fields, x, module", HAND_WRITTEN,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(HAND_WRITTEN)])
def test_block_matches_a_module_written_here(nn: Any, type_name: str, fields: dict, x: Shape, module: Any) -> None:
    macs, params, shape = torch_counts(module(nn), x)
    out, cost, _ = evaluate(get_type(type_name).make(**fields), (x,))
    assert (cost.macs, cost.params) == (macs, params)
    assert tuple(out) == shape


def test_conv_bias_matches_pytorch(nn: Any) -> None:
    """PyTorch agrees with the closed forms above: a bias adds parameters, not multiply-adds."""
    for (type_name, fields, x, (macs, params, _)) in BIAS_CASES:
        n = x[2]
        if type_name == "fc":
            module = nn.Sequential(nn.Flatten(), nn.Linear(x[0] * x[1] * n, fields["M"], bias=fields.get("bias", True)))
        else:
            m = n if type_name == "depthwise" else fields["M"]
            g = n if type_name == "depthwise" else fields.get("G", 1)
            k = 1 if type_name == "pointwise" else fields.get("K", 3)
            module = nn.Conv2d(n, m, k, fields.get("S", 1), k // 2, groups=g, bias=fields.get("bias", False))
        assert torch_counts(module, Shape(*x))[:2] == (macs, params), (type_name, fields)


# ----------------------------------------------------------------------------------------------
# 3. The columns besides MACs and params on whole example networks, closed forms (no PyTorch)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def by_type(name: str) -> dict[str, Any]:
    return evaluate_network(load_spec(str(EXAMPLES / f"{name}.yaml"))).by_type


def test_resnet50_adds_and_max_pool() -> None:
    """16 residual adds, one per bottleneck, each over the block's output (conv2_x … conv5_x: 3, 4,
    6, 3 blocks); the 3×3/2 max pool makes 8 comparisons per output element of 56×56×64."""
    t = by_type("resnet50")
    adds = 3 * 56 * 56 * 256 + 4 * 28 * 28 * 512 + 6 * 14 * 14 * 1024 + 3 * 7 * 7 * 2048
    assert (t["add"].elementwise, t["add"].memory) == (adds, 3 * adds)  # two inputs read, one written
    assert t["maxpool"].comparisons == 56 * 56 * 64 * 8
    assert t["maxpool"].memory == 112 * 112 * 64 + 56 * 56 * 64


def test_mobilenet_v2_residual_adds() -> None:
    """Residual adds where the stride is 1 and N = M: 1 of the 24-channel sequence at 56×56, 2 of
    the 32 at 28×28, 3 of the 64 and 2 of the 96 at 14×14, 2 of the 160 at 7×7 (Table 2)."""
    adds = 56 * 56 * 24 + 2 * 28 * 28 * 32 + 3 * 14 * 14 * 64 + 2 * 14 * 14 * 96 + 2 * 7 * 7 * 160
    assert by_type("mobilenet_v2")["add"].elementwise == adds


def test_shufflenet_v1_concat_pool_and_shuffle() -> None:
    """g = 3 (Table 1: 240/480/960 channels). The three stride-2 units concatenate to 28×28×240,
    14×14×480, 7×7×960 after a 3×3/2 average pool of their input (24, 240, 480 channels; 9 ops per
    output). Each of the 16 units shuffles its bottleneck (M/4 channels) at its input resolution."""
    t = by_type("shufflenet_v1")
    concat_out = 28 * 28 * 240 + 14 * 14 * 480 + 7 * 7 * 960
    assert t["concat"].memory == 2 * concat_out  # inputs read, output written
    assert t["avgpool"].elementwise == 9 * (28 * 28 * 24 + 14 * 14 * 240 + 7 * 7 * 480)
    shuffled = (56 * 56 * 60 + 3 * 28 * 28 * 60) + (28 * 28 * 120 + 7 * 14 * 14 * 120) + \
        (14 * 14 * 240 + 3 * 7 * 7 * 240)
    assert t["channel_shuffle"].memory == 2 * shuffled


def test_shufflenet_v2_concat_and_shuffle() -> None:
    """1×: every unit (4, 8, 4 per stage) ends in a concat and a shuffle of its output, 28×28×116,
    14×14×232, 7×7×464: each reads and writes it once (ShuffleNet V2's memory access cost)."""
    t = by_type("shufflenet_v2")
    outputs = 4 * 28 * 28 * 116 + 8 * 14 * 14 * 232 + 4 * 7 * 7 * 464
    assert t["concat"].memory == t["channel_shuffle"].memory == 2 * outputs


def test_activation_counts_in_a_network(tmp_path: Path) -> None:
    """Per element (the counting contract in README.md): ReLU6 min(max(x, 0), 6) 2 comparisons; hard-sigmoid relu6(x + 3)/6
    2 comparisons + 2 ops; hard-swish x·relu6(x + 3)/6 2 + 3; sigmoid 1/(1 + exp(−x)) 3 ops; SiLU
    x·sigmoid(x) 4; GELU x·(1 + erf(x/√2))/2 5. Each acts on 8×8×4 = 256 elements."""
    p = tmp_path / "acts.yaml"
    p.write_text("name: acts\ninput: [8, 8, 4]\nlayers:\n" + "".join(
        f"  - {{type: {a}}}\n" for a in ("relu6", "hardsigmoid", "hardswish", "sigmoid", "silu", "gelu")))
    t = evaluate_network(load_spec(str(p))).totals
    n = 8 * 8 * 4
    assert t.comparisons == (2 + 2 + 2) * n
    assert t.elementwise == (2 + 3 + 3 + 4 + 5) * n
    assert (t.macs, t.params) == (0, 0)
