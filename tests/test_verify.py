"""costcalc's counts against PyTorch's own counters (``costcalc verify``, :mod:`costcalc.torch_build`).

The expectations are PyTorch's: ``FlopCounterMode`` total / 2 for MACs, ``sum(p.numel())`` for params,
the tensor's shape for output shapes — for every registered type, random conv configurations,
hand-written reference modules, and every example network.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import sys

import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'costcalc[torch]'")

from click.testing import CliRunner  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from costcalc import torch_build  # noqa: E402
from costcalc.cli import main  # noqa: E402
from costcalc.cost import Shape  # noqa: E402
from costcalc.engine import evaluate  # noqa: E402
from costcalc.layers import DimError, all_types, get_type  # noqa: E402
from costcalc.layers.conv import Conv  # noqa: E402
from costcalc.torch_build import to_torch, verify_layer  # noqa: E402

EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "examples", "*.yaml")))


def torch_count(module: nn.Module, *shapes: Shape, device: str = "cpu") -> tuple[int, int, tuple[int, ...]]:
    """(flops, params, output shape NCHW) of one forward pass on zeros: PyTorch's numbers only."""
    module = module.to(device)
    xs = [torch.zeros(1, s.c, s.h, s.w, device=device) for s in shapes]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = module.eval()(*xs)
    return counter.get_total_flops(), sum(p.numel() for p in module.parameters()), tuple(y.shape)


# ----------------------------------------------------------------------------------------------
# Every registered type, several configurations each (stride 2, padding, dilation, groups, bias).

X = Shape(14, 14, 32)
CASES: list[tuple[str, dict, Shape]] = [
    ("conv", {"M": 64}, X),
    ("conv", {"M": 48, "K": 5, "S": 2, "bias": True}, Shape(15, 17, 16)),
    ("conv", {"M": 24, "K": 3, "S": 3, "P": 0, "D": 2, "G": 4}, Shape(23, 19, 8)),
    ("conv", {"M": 16, "K": 7, "S": 2, "P": 3, "bias": True, "bn": True, "act": "relu"}, Shape(32, 32, 3)),
    ("conv", {"M": 8, "K": 2, "P": 1}, Shape(5, 6, 4)),  # even kernel, explicit padding
    ("pointwise", {"M": 128}, X),
    ("pointwise", {"M": 96, "S": 2, "G": 4, "bias": True, "bn": True, "act": "relu6"}, X),
    ("grouped", {"M": 64, "G": 8}, X),
    ("grouped", {"M": 96, "G": 32, "K": 5, "S": 2, "D": 2, "bias": True}, X),
    ("depthwise", {}, X),
    ("depthwise", {"K": 5, "S": 2, "bias": True, "bn": True, "act": "hardswish"}, X),
    ("depthwise", {"K": 3, "D": 3, "P": 1}, Shape(11, 9, 6)),
    ("fc", {"M": 10}, Shape(7, 7, 32)),
    ("fc", {"M": 1000, "bias": False}, Shape(1, 1, 1280)),
    ("batchnorm", {}, X),
    ("relu", {}, X),
    ("relu6", {}, X),
    ("hardsigmoid", {}, X),
    ("hardswish", {}, X),
    ("sigmoid", {}, X),
    ("silu", {}, X),
    ("gelu", {}, X),
    ("tanh", {}, X),
    ("maxpool", {}, X),
    ("maxpool", {"K": 3, "S": 2, "P": 1}, Shape(112, 112, 64)),
    ("avgpool", {"K": 3, "S": 1, "P": 1}, X),
    ("avgpool", {"K": 2}, Shape(15, 15, 8)),
    ("global_avgpool", {}, Shape(7, 7, 1280)),
    ("global_maxpool", {}, Shape(5, 3, 16)),
    ("add", {}, X),
    ("concat", {}, X),
    ("mul", {}, X),
    ("adaptive_avgpool", {"out": 6}, Shape(13, 13, 16)),
    ("adaptive_avgpool", {"out": (7, 3)}, Shape(14, 9, 8)),
    ("adaptive_maxpool", {"out": 5}, Shape(11, 7, 8)),
    ("maxpool", {"K": 3, "S": 2, "ceil_mode": True}, Shape(112, 112, 8)),
    ("maxpool", {"K": 3, "S": 2, "P": 1, "ceil_mode": True}, Shape(8, 8, 4)),
    ("maxpool", {"K": 2, "S": 2, "P": 1, "ceil_mode": True}, Shape(7, 7, 4)),
    ("avgpool", {"K": 3, "S": 2, "P": 1, "ceil_mode": True, "count_include_pad": False}, Shape(9, 9, 4)),
    ("conv", {"M": 16, "K": (1, 7)}, Shape(17, 17, 8)),
    ("conv", {"M": 8, "K": (3, 1), "S": (2, 1), "P": (1, 0), "D": (1, 2)}, Shape(9, 9, 4)),
    ("channel_shuffle", {"G": 4}, X),
    ("channel_split", {}, X),
    ("channel_split", {"M": 8}, X),
    ("separable", {"M": 64}, X),
    ("separable", {"M": 128, "S": 2, "K": 5, "bn": True, "act": "relu"}, X),
    ("bottleneck", {}, Shape(14, 14, 256)),
    ("bottleneck", {"M": 256}, Shape(56, 56, 64)),
    ("bottleneck", {"M": 512, "S": 2, "stride_on": "3x3"}, Shape(28, 28, 256)),
    ("bottleneck", {"M": 512, "B": 128, "S": 2}, Shape(28, 28, 256)),
    ("resnext", {"G": 32, "B": 128, "M": 256}, Shape(28, 28, 256)),
    ("resnext", {"G": 32, "B": 256, "M": 512, "S": 2, "stride_on": "3x3"}, Shape(28, 28, 256)),
    ("basic", {}, Shape(14, 14, 64)),
    ("basic", {"M": 128, "S": 2}, Shape(28, 28, 64)),
    ("basic", {"M": 128, "S": 2, "shortcut": "A"}, Shape(28, 28, 64)),
    ("bottleneck", {"M": 256, "shortcut": "A"}, Shape(56, 56, 64)),
    ("pad_shortcut", {"M": 96, "S": 2}, Shape(15, 15, 32)),
    ("shufflenet_unit", {"G": 3}, Shape(28, 28, 240)),
    ("shufflenet_unit", {"G": 3, "M": 240, "S": 2, "group_first": False}, Shape(56, 56, 24)),
    ("shufflenet_unit", {"G": 8, "M": 768, "S": 2, "B": 96}, Shape(28, 28, 384)),
    ("inverted_residual", {}, Shape(28, 28, 32)),
    ("inverted_residual", {"T": 1, "M": 16}, Shape(112, 112, 32)),
    ("inverted_residual", {"M": 64, "S": 2, "K": 5}, Shape(28, 28, 32)),
    ("shufflenet_v2_unit", {}, Shape(28, 28, 116)),
    ("shufflenet_v2_unit", {"M": 116, "S": 2}, Shape(56, 56, 24)),
    ("layernorm", {}, X),
    ("layernorm", {}, Shape(50, 1, 64)),
    ("softmax", {}, X),
    ("softmax", {}, Shape(1, 1, 10)),
    ("groupnorm", {"G": 8}, X),
    ("groupnorm", {"G": 1}, Shape(5, 3, 6)),
    ("linear", {"M": 48}, Shape(50, 1, 32)),
    ("linear", {"M": 7, "bias": False}, Shape(3, 5, 9)),
    ("tokens", {}, X),
    ("class_token", {}, Shape(49, 1, 32)),
    ("class_token", {}, Shape(7, 7, 32)),  # an H×W map is flattened into tokens first
    ("pos_embed", {}, Shape(50, 1, 32)),
    ("select_token", {}, Shape(50, 1, 32)),
    ("patch_embed", {"M": 64, "K": 16}, Shape(64, 48, 3)),
    ("patch_embed", {"M": 32, "K": 7}, Shape(30, 30, 8)),  # 30/7: the last 2 rows are dropped
    ("attention", {"heads": 4}, Shape(50, 1, 32)),
    ("attention", {"heads": 1, "bias": False}, Shape(5, 7, 24)),
    ("mlp", {}, Shape(50, 1, 32)),
    ("mlp", {"B": 40, "M": 16, "act": "relu"}, Shape(3, 3, 8)),
    ("encoder_block", {"heads": 8}, Shape(17, 1, 64)),
    ("encoder_block", {"heads": 2, "B": 24}, Shape(4, 4, 8)),
    ("window_attention", {"heads": 3, "window": 7}, Shape(14, 14, 48)),
    ("window_attention", {"heads": 2, "window": 4, "shift": 2, "bias": False}, Shape(10, 9, 16)),  # padded
    ("window_attention", {"heads": 4, "window": 4, "shift": 2, "v2": True, "cpb": 32}, Shape(8, 8, 32)),
    ("patch_merging", {}, Shape(8, 8, 16)),
    ("patch_merging", {"v2": True, "M": 24}, Shape(7, 9, 16)),  # odd: zero-padded
    ("partition_attention", {"heads": 2, "window": 4}, Shape(8, 8, 32)),
    ("partition_attention", {"heads": 4, "window": 2, "grid": True, "B": 40}, Shape(4, 6, 16)),
    ("conv_transpose", {"M": 16, "K": 4, "S": 2, "P": 1}, X),
    ("conv_transpose", {"M": 12, "K": 3, "S": 3, "P": 2, "output_padding": 1, "D": 2, "G": 4, "bias": True},
     Shape(5, 6, 8)),
    ("upsample", {}, X),
    ("upsample", {"scale": 3, "mode": "bilinear", "align_corners": True}, Shape(5, 4, 8)),
    ("layer_scale", {}, X),
    ("regnet_x", {"M": 64, "g": 16, "S": 2}, Shape(28, 28, 32)),
    ("regnet_x", {"g": 8}, Shape(14, 14, 48)),
    ("regnet_y", {"M": 104, "g": 8, "S": 2}, Shape(28, 28, 48)),
    ("regnet_y", {"g": 5}, Shape(8, 8, 10)),
    ("regnet_y", {"M": 64, "B": 32, "g": 16, "R": 8}, Shape(7, 7, 24)),
    ("convnext_block", {}, X),
    ("convnext_block", {"K": 3, "T": 2, "layer_scale": False}, Shape(7, 7, 16)),
    ("convnext_downsample", {"M": 64}, X),
    ("convnext_downsample", {"M": 16, "K": 4}, Shape(9, 9, 8)),
    ("repvgg", {}, X),
    ("repvgg", {"M": 64, "S": 2}, X),
    ("repvgg", {"M": 64, "S": 2, "G": 4, "form": "deploy"}, X),
    ("repvgg", {"G": 2}, Shape(9, 7, 16)),
    ("se", {}, X),
    ("se", {"R": 16, "act": "silu"}, Shape(7, 9, 96)),
    ("se", {"B": 24, "rounding": "floor_divisible", "gate": "hardsigmoid", "bias": False}, Shape(5, 5, 72)),
    ("se", {"R": 4, "rounding": "divisible", "divisor": 4, "gate": "hardsigmoid"}, Shape(6, 6, 54)),
    ("se", {"R": 4, "base": 16, "act": "silu"}, Shape(7, 7, 96)),  # EfficientNet: a quarter of the block input
    ("mbconv", {}, Shape(14, 14, 24)),
    ("mbconv", {"T": 1, "M": 16, "se": True, "act": "silu"}, Shape(28, 28, 32)),
    ("mbconv", {"E": 72, "M": 40, "K": 5, "S": 2, "se": True, "se_base": "expanded",
                "se_rounding": "floor_divisible", "se_act": "relu", "se_gate": "hardsigmoid", "act": "hardswish"},
     Shape(28, 28, 24)),
    ("mbconv", {"E": 16, "M": 16, "S": 2, "se": True, "se_base": "expanded", "se_rounding": "floor_divisible",
                "se_gate": "hardsigmoid"}, Shape(56, 56, 16)),
    ("fused_mbconv", {"T": 1}, Shape(28, 28, 24)),
    ("fused_mbconv", {"T": 4, "M": 48, "S": 2}, Shape(28, 28, 24)),
    ("fused_mbconv", {"E": 96, "M": 32, "K": 5, "se": True, "act": "relu"}, Shape(15, 15, 32)),
    ("ghost", {"M": 64}, Shape(14, 14, 32)),
    ("ghost", {"M": 41, "s": 3, "d": 5, "k": 3, "S": 2, "relu": False}, Shape(15, 13, 24)),
    ("ghost_bottleneck", {"E": 72}, Shape(14, 14, 24)),
    ("ghost_bottleneck", {"E": 120, "M": 40, "K": 5, "S": 2, "se": True}, Shape(28, 28, 24)),
]


def _case_id(case: tuple[str, dict, Shape]) -> str:
    t, kw, x = case
    return f"{t}-{'-'.join(f'{k}{v}' for k, v in kw.items())}-{x.h}x{x.w}x{x.c}"


def test_every_registered_type_has_cases() -> None:
    # 'unknown' (an operator an import could not count) has no PyTorch equivalent by definition
    assert set(all_types()) - {"unknown"} <= {t for t, _, _ in CASES}


def test_unknown_layer_is_refused_by_verify() -> None:
    layer = get_type("unknown").make(op="aten.roll.default")
    with pytest.raises(torch_build.VerifyError, match="no PyTorch equivalent for layer type 'unknown'"):
        verify_layer(layer, Shape(8, 8, 4))


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_type_agrees_with_pytorch(case: tuple[str, dict, Shape]) -> None:
    type_name, fields, x = case
    layer = get_type(type_name).make(**fields)
    inputs = layer.standalone_inputs(x, 24)
    v = verify_layer(layer, *inputs, path=type_name)
    assert v.ok, [f"{c.path}: {c.problems}" for c in v.mismatches] + v.total_problems
    # and the totals, straight from PyTorch (no costcalc bookkeeping in between)
    out, cost, rows = evaluate(layer, inputs, type_name)
    flops, params, y = torch_count(to_torch(layer, *inputs), *inputs)
    assert 2 * cost.macs == flops
    assert cost.params == params
    assert (out.c, out.h, out.w) == (y[1], y[2], y[3])
    # every row was checked against a module that actually ran
    assert [c.path for c in v.checks] == [r.path for r in rows]
    assert all(c.torch_out_shape is not None for c in v.checks)


# ----------------------------------------------------------------------------------------------
# Random convolutions: PyTorch decides what is valid; costcalc must agree on that and on the counts.


@st.composite
def conv_configs(draw: st.DrawFn) -> dict:
    g = draw(st.sampled_from([1, 1, 1, 2, 3, 4, 8]))
    n = g * draw(st.integers(1, max(1, 64 // g)))
    m = g * draw(st.integers(1, max(1, 64 // g)))
    return {
        "N": n, "M": m, "G": g,
        "K": draw(st.integers(1, 7)), "S": draw(st.integers(1, 3)),
        "P": draw(st.one_of(st.none(), st.integers(0, 3))), "D": draw(st.integers(1, 3)),
        "H": draw(st.integers(1, 40)), "W": draw(st.integers(1, 40)),
        "bias": draw(st.booleans()), "depthwise": draw(st.sampled_from([False, False, False, True])),
    }


def _torch_conv(c: dict) -> nn.Conv2d:
    n = c["N"]
    m, g = (n, n) if c["depthwise"] else (c["M"], c["G"])
    p = c["D"] * (c["K"] - 1) // 2 if c["P"] is None else c["P"]
    return nn.Conv2d(n, m, c["K"], stride=c["S"], padding=p, dilation=c["D"], groups=g, bias=c["bias"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs())
def test_random_conv_agrees_with_pytorch(c: dict) -> None:
    x = Shape(c["H"], c["W"], c["N"])
    module = _torch_conv(c)  # written here from the config, not by costcalc's builder
    try:
        flops, params, y = torch_count(module, x)
    except RuntimeError:
        torch_ok = False
    else:
        torch_ok = True
    fields = {k: c[k] for k in ("K", "S", "P", "D", "bias", "depthwise")}
    if not c["depthwise"]:
        fields.update(M=c["M"], G=c["G"])
    layer = Conv(**fields)
    try:
        layer.check(x)
    except DimError:
        costcalc_ok = False
    else:
        costcalc_ok = True
    assert costcalc_ok == torch_ok, f"PyTorch {'accepts' if torch_ok else 'rejects'} {c}, costcalc does not"
    assume(torch_ok)
    out, cost, _ = evaluate(layer, (x,))
    assert 2 * cost.macs == flops
    assert cost.params == params
    assert (out.c, out.h, out.w) == y[1:]
    assert verify_layer(layer, x).ok


# ----------------------------------------------------------------------------------------------
# Blocks against reference modules written by hand, as torchvision writes them: guards against the
# builder and the engine sharing a mistake.


class TorchvisionBottleneck(nn.Module):
    """torchvision.models.resnet.Bottleneck (v1.5: stride on the 3×3), written out."""

    def __init__(self, n: int, width: int, m: int, stride: int, groups: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(n, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, m, 1, bias=False), nn.BatchNorm2d(m)
        self.down = None
        if stride != 1 or n != m:
            self.down = nn.Sequential(nn.Conv2d(n, m, 1, stride, bias=False), nn.BatchNorm2d(m))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class TorchvisionInvertedResidual(nn.Module):
    """torchvision.models.mobilenetv2.InvertedResidual, written out."""

    def __init__(self, n: int, m: int, stride: int, t: int) -> None:
        super().__init__()
        hidden = n * t
        layers: list[nn.Module] = []
        if t != 1:
            layers += [nn.Conv2d(n, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(), nn.Conv2d(hidden, m, 1, bias=False), nn.BatchNorm2d(m)]
        self.conv = nn.Sequential(*layers)
        self.res = stride == 1 and n == m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.res else self.conv(x)


class TorchvisionShuffleV2(nn.Module):
    """torchvision.models.shufflenetv2.InvertedResidual, written out."""

    def __init__(self, n: int, m: int, stride: int) -> None:
        super().__init__()
        half = m // 2
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(nn.Conv2d(n, n, 3, stride, 1, groups=n, bias=False), nn.BatchNorm2d(n),
                                         nn.Conv2d(n, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())
        cin = n if stride > 1 else half
        self.branch2 = nn.Sequential(nn.Conv2d(cin, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
                                     nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False),
                                     nn.BatchNorm2d(half), nn.Conv2d(half, half, 1, bias=False),
                                     nn.BatchNorm2d(half), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            y = torch.cat((a, self.branch2(b)), dim=1)
        else:
            y = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        n, c, h, w = y.shape
        return y.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


REFERENCES = [
    ("bottleneck", {"M": 256, "stride_on": "3x3"}, Shape(56, 56, 64), lambda: TorchvisionBottleneck(64, 64, 256, 1)),
    ("bottleneck", {"M": 1024, "S": 2, "stride_on": "3x3"}, Shape(28, 28, 512),
     lambda: TorchvisionBottleneck(512, 256, 1024, 2)),
    ("resnext", {"M": 256, "B": 128, "G": 32, "stride_on": "3x3"}, Shape(56, 56, 256),
     lambda: TorchvisionBottleneck(256, 128, 256, 1, groups=32)),
    ("inverted_residual", {"T": 1, "M": 16}, Shape(112, 112, 32), lambda: TorchvisionInvertedResidual(32, 16, 1, 1)),
    ("inverted_residual", {"M": 24, "S": 2}, Shape(112, 112, 16), lambda: TorchvisionInvertedResidual(16, 24, 2, 6)),
    ("inverted_residual", {"M": 96}, Shape(14, 14, 96), lambda: TorchvisionInvertedResidual(96, 96, 1, 6)),
    ("shufflenet_v2_unit", {"M": 116, "S": 2}, Shape(56, 56, 24), lambda: TorchvisionShuffleV2(24, 116, 2)),
    ("shufflenet_v2_unit", {}, Shape(28, 28, 116), lambda: TorchvisionShuffleV2(116, 116, 1)),
]


@pytest.mark.parametrize("type_name,fields,x,reference", REFERENCES,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(REFERENCES)])
def test_block_matches_hand_written_reference(type_name: str, fields: dict, x: Shape, reference) -> None:
    layer = get_type(type_name).make(**fields)
    out, cost, _ = evaluate(layer, (x,))
    flops, params, y = torch_count(reference(), x)
    assert 2 * cost.macs == flops
    assert cost.params == params
    assert (out.c, out.h, out.w) == y[1:]


# ----------------------------------------------------------------------------------------------
# The tracing builder: the dataflow of a block, by identity of the shapes it passes.


def test_trace_records_residual_dataflow() -> None:
    nodes, sources = torch_build.trace(get_type("basic").make(M=128, S=2), Shape(28, 28, 64))
    names = [n.name for n in nodes]
    by_name = dict(zip(names, sources))
    assert by_name["conv1"] == (-1,)
    assert by_name["downsample"] == (-1,)  # the projection reads the block input, not bn2
    assert by_name["add"] == (names.index("bn2"), names.index("downsample_bn"))


def test_trace_identity_shortcut_reads_block_input() -> None:
    nodes, sources = torch_build.trace(get_type("inverted_residual").make(), Shape(14, 14, 32))
    names = [n.name for n in nodes]
    assert sources[names.index("add")] == (names.index("project_bn"), -1)


def test_traced_shapes_equal_plain_shapes() -> None:
    t = torch_build._traced(Shape(2, 3, 4), 5)
    assert t == Shape(2, 3, 4) and hash(t) == hash(Shape(2, 3, 4)) and t.node == 5


# ----------------------------------------------------------------------------------------------
# The comparison is not vacuous: a wrong number is caught, named, and fails the command.


def test_wrong_count_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real = torch_build.torch_counts

    def off_by_one(model, *inputs, **kw):  # PyTorch "says" one more multiply-add for conv2
        run = real(model, *inputs, **kw)
        counts = dict(run.counts)
        c = counts["bottleneck.conv2"]
        counts["bottleneck.conv2"] = dataclasses.replace(c, flops=c.flops + 2, params=c.params + 1)
        return dataclasses.replace(run, counts=counts)

    monkeypatch.setattr(torch_build, "torch_counts", off_by_one)
    v = verify_layer(get_type("bottleneck").make(M=256), Shape(56, 56, 64))
    assert not v.ok
    assert [c.path for c in v.mismatches] == ["bottleneck.conv2"]
    (bad,) = v.mismatches
    assert bad.problems == [f"MACs {bad.macs:,} ≠ PyTorch {bad.macs + 1:,}",
                            f"params {bad.params:,} ≠ PyTorch {bad.params + 1:,}"]
    result = CliRunner().invoke(main, ["verify", "--type", "bottleneck", "-H", "56", "-N", "64", "-M", "256"])
    assert result.exit_code == 1
    assert "bottleneck.conv2 (conv)" in result.stderr and "≠ PyTorch" in result.stderr


# ----------------------------------------------------------------------------------------------
# The command


def test_cli_type_ok() -> None:
    r = CliRunner().invoke(main, ["verify", "--type", "conv", "-H", "15", "-N", "16", "-M", "32", "-K", "5",
                                  "--stride", "2", "--dilation", "2", "-G", "4", "--bias"])
    assert r.exit_code == 0, r.output
    assert "agrees with PyTorch exactly" in r.output
    assert "weights only" in r.output  # the params convention is said


def test_cli_json() -> None:
    r = CliRunner().invoke(main, ["verify", "--type", "shufflenet_unit", "-H", "28", "-N", "240", "-G", "3",
                                  "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["ok"] is True
    assert doc["total"]["torch_flops"] == 2 * doc["total"]["macs"]
    assert doc["rows"][0]["path"] == "shufflenet_unit" and len(doc["rows"]) > 5


@pytest.mark.parametrize("args,message", [
    (["verify"], "give a SPEC file or --type TYPE"),
    (["verify", "--type", "conv", "-N", "3"], "needs -H"),
    (["verify", "--type", "conv", "-H", "8", "-N", "3", "-M", "M"], "verify needs numbers, not symbols: -M M"),
    (["verify", "--type", "grouped", "-H", "8", "-N", "4"], "grouped needs G"),
    (["verify", "--type", "conv", "-H", "8", "-N", "6", "-M", "8", "-G", "4"], "groups must divide"),
    (["verify", "--type", "nope", "-H", "8", "-N", "4"], "unknown layer type 'nope'"),
])
def test_cli_usage_errors(args: list[str], message: str) -> None:
    r = CliRunner().invoke(main, args)
    assert r.exit_code in (1, 2), r.output
    assert message in r.stderr
    assert "Traceback" not in r.output + r.stderr


def test_cli_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    monkeypatch.delitem(sys.modules, "costcalc.torch_build")
    r = CliRunner().invoke(main, ["verify", "--type", "conv", "-H", "8", "-N", "3"])
    assert r.exit_code == 1
    assert r.stderr.strip() == "Error: costcalc verify needs PyTorch: pip install torch, then pip install -e '.[torch]' in the costcalc tree"


def test_to_torch_rejects_symbols() -> None:
    with pytest.raises(torch_build.VerifyError, match="needs numbers"):
        to_torch(Conv(M=8), Shape(8, 8, "N"))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Every example network, exactly


@pytest.mark.skipif(not EXAMPLES, reason="no examples/*.yaml yet")
@pytest.mark.parametrize("path", EXAMPLES, ids=[os.path.basename(p) for p in EXAMPLES])
def test_example_network_agrees_with_pytorch(path: str) -> None:
    from costcalc.network import evaluate_network
    from costcalc.spec import load_spec

    spec = load_spec(path)
    v = torch_build.verify_network(spec)  # on the meta device: shapes only, the same operators
    assert v.ok, [f"{c.path}: {c.problems}" for c in v.mismatches] + v.total_problems
    # the totals straight from PyTorch
    result = evaluate_network(spec)
    with torch.device("meta"):
        model = to_torch(spec)
    flops, params, y = torch_count(model, spec.input, device="meta")
    assert 2 * result.totals.macs == flops
    assert result.totals.params == params
    out = result.out_shape
    # every example is a classifier: (N, classes) logits, as torchvision's models return them
    assert (out.h, out.w) == (1, 1) and y[1:] == (out.c,)
    assert len(v.checks) == len(result.rows)


@pytest.mark.skipif(not EXAMPLES, reason="no examples/*.yaml yet")
def test_cli_network_with_override() -> None:
    path = next((p for p in EXAMPLES if "mobilenet_v2" in p), EXAMPLES[0])
    r = CliRunner().invoke(main, ["verify", path, "--set", "resolution=96", "--format", "json"])
    assert r.exit_code == 0, r.output + r.stderr
    doc = json.loads(r.output)
    assert doc["ok"] and doc["total"]["torch_flops"] == 2 * doc["total"]["macs"]


@pytest.mark.skipif(not EXAMPLES, reason="no examples/*.yaml yet")
def test_real_forward_pass_counts_like_meta() -> None:
    """One example on the CPU, a real forward pass on zeros: the same counts as on the meta device."""
    from costcalc.spec import load_spec

    path = next((p for p in EXAMPLES if "shufflenet_v2" in p), EXAMPLES[0])
    spec = load_spec(path)
    cpu = torch_build.verify_network(spec, device="cpu")
    meta = torch_build.verify_network(spec, device="meta")
    assert cpu.ok and meta.ok
    assert (cpu.torch_flops, cpu.torch_params, cpu.torch_out_shape) == \
        (meta.torch_flops, meta.torch_params, meta.torch_out_shape)
    assert [(c.torch_macs, c.torch_params, c.torch_out_shape) for c in cpu.checks] == \
        [(c.torch_macs, c.torch_params, c.torch_out_shape) for c in meta.checks]


MERGES = """
name: merges
vars: {c: 16}
input: [20, 20, 8]
layers:
  - {type: conv, name: stem, M: c, bn: true, act: relu}
  - {type: conv, M: c, S: 1}
  - {type: add, from: stem}
  - {type: concat, from: [input, stem]}
  - {type: channel_shuffle, G: 4}
  - {type: conv, M: 24, K: 3, S: 2, G: 4, bias: true}
  - {type: avgpool, K: 2}
  - {type: fc, M: 10}
"""


def test_network_with_merges_from_earlier_layers(tmp_path) -> None:
    """``from:`` sources: the extra inputs of add/concat come from the named earlier layers."""
    from costcalc.spec import load_spec

    path = tmp_path / "merges.yaml"
    path.write_text(MERGES)
    spec = load_spec(str(path))
    v = torch_build.verify_network(spec, device="cpu")
    assert v.ok, [f"{c.path}: {c.problems}" for c in v.mismatches] + v.total_problems
    concat = next(c for c in v.checks if c.type == "concat")
    assert concat.torch_out_shape == Shape(20, 20, 16 + 8 + 16)
    # conv M=24 G=4 on 40 channels, 10×10 out: 10·10·24·9·40/4 MACs
    assert v.torch_macs == 20 * 20 * 16 * 9 * 8 + 20 * 20 * 16 * 9 * 16 + 10 * 10 * 24 * 9 * 10 + 5 * 5 * 24 * 10


def test_cli_symbolic_spec_is_refused(tmp_path) -> None:
    path = tmp_path / "merges.yaml"
    path.write_text(MERGES)
    r = CliRunner().invoke(main, ["verify", str(path), "--set", "c=width"])
    assert r.exit_code == 2
    assert "verify needs numbers" in r.stderr


VGG11 = """\
# VGG-11 (Simonyan & Zisserman 2014, configuration A), as torchvision's vgg11 builds it
name: VGG-11
input: [224, 224, 3]
defaults: {bias: true, act: relu}
layers:
  - {type: conv, M: 64}
  - {type: maxpool, K: 2, S: 2, P: 0}
  - {type: conv, M: 128}
  - {type: maxpool, K: 2, S: 2, P: 0}
  - {type: conv, M: 256, repeat: 2}
  - {type: maxpool, K: 2, S: 2, P: 0}
  - {type: conv, M: 512, repeat: 2}
  - {type: maxpool, K: 2, S: 2, P: 0}
  - {type: conv, M: 512, repeat: 2}
  - {type: maxpool, K: 2, S: 2, P: 0}
  - {type: fc, M: 4096}
  - {type: relu}
  - {type: fc, M: 4096}
  - {type: relu}
  - {type: fc, M: 1000}
"""


def test_classifier_output_is_flat_like_torchvision(tmp_path) -> None:
    """A network ending in fc returns (N, classes) logits, as torchvision's models do, with the
    same parameters as torchvision's vgg11."""
    tv = pytest.importorskip("torchvision", reason="torchvision not installed")
    from costcalc.spec import load_spec

    spec_file = tmp_path / "vgg11.yaml"
    spec_file.write_text(VGG11)
    ours = to_torch(load_spec(str(spec_file))).to("meta")
    theirs = tv.models.vgg11(weights=None).to("meta")
    x = torch.zeros(1, 3, 224, 224, device="meta")
    assert tuple(ours(x).shape) == tuple(theirs(x).shape) == (1, 1000)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == 132_863_336
    r = CliRunner().invoke(main, ["verify", str(spec_file)])
    assert r.exit_code == 0, r.output


def test_one_row_reads_as_one_row() -> None:
    r = CliRunner().invoke(main, ["verify", "--type", "relu", "-H", "4", "-N", "2"])
    assert r.exit_code == 0, r.output
    assert "on its 1 row" in r.output and "all 1 rows" not in r.output
