"""The mobile families after MobileNetV2: squeeze-and-excitation, MBConv, Fused-MBConv, Ghost.

Where the expectations come from (never from costcalc's own output):

- torchvision's own models, counted by PyTorch: MACs = ``FlopCounterMode`` total / 2 on the meta
  device, params = ``sum(p.numel())``; and torchvision's published weight metadata (``num_params``
  exact, ``_ops`` GFLOPS to 3 decimals);
- the papers' tables at the precision they print (docs/papers.md says which and why);
- ``nn.Module`` references written in this file from torchvision's and the GhostNet authors' code
  (not costcalc's PyTorch builder), checked on random configurations with hypothesis;
- closed forms written out with sympy.

Tests that need PyTorch skip with a visible reason without it; the whole EfficientNet B1–B7 sweep
against torchvision is marked slow.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import pytest
import sympy
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costcalc.cli import main
from costcalc.cost import Shape
from costcalc.algebra import derive
from costcalc.engine import evaluate
from costcalc.layers import get_type
from costcalc.network import evaluate_network
from costcalc.spec import load_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NEW_EXAMPLES = ("mobilenet_v3_large", "mobilenet_v3_small", "efficientnet", "efficientnet_v2_s", "mnasnet1_0",
                "ghostnet")

_cache: dict[Any, Any] = {}


def result(name: str, **overrides: Any) -> Any:
    """``costcalc net examples/<name>.yaml --set k=v ...`` as a NetResult (cached)."""
    key = (name, tuple(sorted((k, str(v)) for k, v in overrides.items())))
    if key not in _cache:
        _cache[key] = evaluate_network(load_spec(str(EXAMPLES / f"{name}.yaml"), dict(key[1])))
    return _cache[key]


def totals(name: str, **overrides: Any) -> Any:
    return result(name, **overrides).totals


def near(value: int, paper: float, unit: float) -> bool:
    """``value`` rounds to ``paper`` at the paper's precision (half a unit either side)."""
    return abs(value - paper) < unit / 2


def xfail(reason: str) -> Any:
    return pytest.mark.xfail(strict=True, reason=reason)


def _torch() -> Any:
    return pytest.importorskip("torch", reason="PyTorch not installed: pip install 'costcalc[torch]'")


def _torchvision() -> Any:
    _torch()
    return pytest.importorskip("torchvision", reason="torchvision not installed: the reference models come from it")


def torch_counts(model: Any, *shape_nchw: int) -> tuple[int, int, tuple[int, ...]]:
    """(MACs = FlopCounterMode total / 2, sum(p.numel()), output shape) of one pass on the meta device."""
    torch = _torch()
    from torch.utils.flop_counter import FlopCounterMode

    model = model.to("meta").eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = model(torch.zeros(*shape_nchw, device="meta"))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2, sum(p.numel() for p in model.parameters()), tuple(y.shape)


def torchvision_model(name: str) -> Any:
    torch = _torch()
    torchvision = _torchvision()
    with torch.device("meta"):  # no weights, no memory: only the operators and the shapes
        return getattr(torchvision.models, name)()


# ----------------------------------------------------------------------------------------------
# The examples against torchvision's models, exactly

B_RESOLUTIONS = {0: 224, 1: 240, 2: 260, 3: 300, 4: 380, 5: 456, 6: 528, 7: 600}

TORCHVISION = [
    pytest.param("mobilenet_v3_large", {}, "mobilenet_v3_large", 224, id="mobilenet_v3_large"),
    pytest.param("mobilenet_v3_small", {}, "mobilenet_v3_small", 224, id="mobilenet_v3_small"),
    pytest.param("efficientnet", {}, "efficientnet_b0", 224, id="efficientnet_b0"),
    pytest.param("efficientnet_v2_s", {}, "efficientnet_v2_s", 384, id="efficientnet_v2_s"),
    pytest.param("mnasnet1_0", {}, "mnasnet1_0", 224, id="mnasnet1_0"),
] + [
    pytest.param("efficientnet", {"variant": f"b{v}"}, f"efficientnet_b{v}", r, id=f"efficientnet_b{v}",
                 marks=pytest.mark.slow)
    for v, r in B_RESOLUTIONS.items() if v > 0  # B0 runs by default, above
] + [
    # torchvision's B2 weights are evaluated at 288 (their _ops, 1.088, is at that size)
    pytest.param("efficientnet", {"variant": "b2", "resolution": 288}, "efficientnet_b2", 288,
                 id="efficientnet_b2@288", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("spec, overrides, model, resolution", TORCHVISION)
def test_example_equals_torchvision(spec: str, overrides: dict, model: str, resolution: int) -> None:
    r = result(spec, **overrides)
    assert tuple(r.spec.input) == (resolution, resolution, 3)
    macs, params, y = torch_counts(torchvision_model(model), 1, 3, resolution, resolution)
    assert r.totals.macs == macs
    assert r.totals.params == params
    assert tuple(r.out_shape) == (1, 1, y[1])


def test_efficientnet_variant_picks_the_coefficients() -> None:
    # torchvision's efficientnet_b3: width 1.2, depth 1.4, at 300 px
    spec = result("efficientnet", variant="b3").spec
    assert (spec.vars["width"], spec.vars["depth"], spec.vars["resolution"]) == (Fraction(6, 5), Fraction(7, 5), 300)
    # the coefficients may also be set directly: B3's numbers from width/depth/resolution on a B0 base
    assert totals("efficientnet", width="1.2", depth="1.4", resolution=300) == totals("efficientnet", variant="b3")


# torchvision's published metadata (weights' num_params, _ops in GFLOPS = multiply-adds ×1e9, 3
# decimals), for every member: no PyTorch needed
TV_METADATA = [
    ("mobilenet_v3_large", {}, 5_483_032, 0.217),
    ("mobilenet_v3_small", {}, 2_542_856, 0.057),
    ("efficientnet", {"variant": "b0"}, 5_288_548, 0.386),
    ("efficientnet", {"variant": "b1"}, 7_794_184, 0.687),
    ("efficientnet", {"variant": "b2", "resolution": 288}, 9_109_994, 1.088),
    ("efficientnet", {"variant": "b3"}, 12_233_232, 1.827),
    ("efficientnet", {"variant": "b4"}, 19_341_616, 4.394),
    ("efficientnet", {"variant": "b5"}, 30_389_784, 10.266),
    ("efficientnet", {"variant": "b6"}, 43_040_704, 19.068),
    ("efficientnet", {"variant": "b7"}, 66_347_960, 37.746),
    ("efficientnet_v2_s", {}, 21_458_488, 8.366),
    ("mnasnet1_0", {}, 4_383_312, 0.314),
]


@pytest.mark.parametrize("spec, overrides, num_params, gflops", TV_METADATA,
                         ids=[f"{s}-{'-'.join(map(str, o.values()))}" for s, o, _, _ in TV_METADATA])
def test_torchvision_metadata(spec: str, overrides: dict, num_params: int, gflops: float) -> None:
    t = totals(spec, **overrides)
    assert t.params == num_params
    assert round(t.macs / 1e9, 3) == gflops


@pytest.mark.parametrize("spec", NEW_EXAMPLES)
def test_every_row_agrees_with_pytorch(spec: str) -> None:
    _torch()
    from costcalc.torch_build import verify_network

    v = verify_network(load_spec(str(EXAMPLES / f"{spec}.yaml")))
    assert v.ok, [f"{c.path}: {c.problems}" for c in v.mismatches] + v.total_problems
    assert len(v.checks) == len(result(spec).rows)


@pytest.mark.parametrize("spec, model", [("efficientnet", "efficientnet_b0"),
                                          ("mobilenet_v3_large", "mobilenet_v3_large")])
def test_se_rows_are_torchvisions_squeeze_excitation(spec: str, model: str) -> None:
    """The `se` rows hold exactly the parameters of torchvision's SqueezeExcitation modules."""
    _torchvision()
    from torchvision.ops import SqueezeExcitation

    m = torchvision_model(model)
    se_modules = [mod for mod in m.modules() if isinstance(mod, SqueezeExcitation)]
    se_rows = [r for r in result(spec).rows if r.type == "se"]
    assert len(se_rows) == len(se_modules) > 0
    assert [r.cost.params for r in se_rows] == [sum(p.numel() for p in mod.parameters()) for mod in se_modules]


# ----------------------------------------------------------------------------------------------
# The papers' tables

# EfficientNet, Table 2: FLOPs (multiply-adds) and params, each at the precision printed.
EFFICIENTNET_TABLE2 = {  # variant: (FLOPs, unit, params, unit)
    0: (0.39e9, 0.01e9, 5.3e6, 0.1e6),
    1: (0.70e9, 0.01e9, 7.8e6, 0.1e6),
    2: (1.0e9, 0.1e9, 9.2e6, 0.1e6),
    3: (1.8e9, 0.1e9, 12e6, 1e6),
    4: (4.2e9, 0.1e9, 19e6, 1e6),
    5: (9.9e9, 0.1e9, 30e6, 1e6),
    6: (19e9, 1e9, 43e6, 1e6),
    7: (37e9, 1e9, 66e6, 1e6),
}
_TV = "torchvision's model at the same resolution has the same count (test_torchvision_metadata)"


@pytest.mark.parametrize("variant", [
    0, 2, 3, 6,
    pytest.param(1, marks=xfail(f"paper 0.70B; the exact count 0.687B rounds to 0.69; {_TV}")),
    pytest.param(4, marks=xfail(f"paper 4.2B; the exact count is 4.394B; {_TV}")),
    pytest.param(5, marks=xfail(f"paper 9.9B; the exact count is 10.266B; {_TV}")),
    pytest.param(7, marks=xfail(f"paper 37B; the exact count 37.746B rounds to 38; {_TV}")),
])
def test_efficientnet_table2_flops(variant: int) -> None:
    flops, unit, _, _ = EFFICIENTNET_TABLE2[variant]
    assert near(totals("efficientnet", variant=f"b{variant}").macs, flops, unit)


@pytest.mark.parametrize("variant", [
    0, 1, 3, 4, 5, 6, 7,
    pytest.param(2, marks=xfail(f"paper 9.2M; the exact count 9,109,994 rounds to 9.1M (weights only: 9.0M); "
                                f"{_TV}")),
])
def test_efficientnet_table2_params(variant: int) -> None:
    _, _, params, unit = EFFICIENTNET_TABLE2[variant]
    assert near(totals("efficientnet", variant=f"b{variant}").params, params, unit)


# MobileNetV3, Table 3 (Large 219M / 5.4M, Small 56M / 2.5M). The authors truncate, as their
# MobileNetV2 numbers do (docs/papers.md); their TF-slim README lists Large at 217M MACs.
def test_mobilenet_v3_small_table3() -> None:
    t = totals("mobilenet_v3_small")
    assert math.floor(t.macs / 1e6) == 56
    assert math.floor(t.params / 1e5) == 25


def test_mobilenet_v3_large_table3_params() -> None:
    assert math.floor(totals("mobilenet_v3_large").params / 1e5) == 54


@xfail("paper 219M MAdds; the exact count is 216,589,760 (torchvision's model, and the authors' TF-slim README: "
       "217M)")
def test_mobilenet_v3_large_table3_macs() -> None:
    assert math.floor(totals("mobilenet_v3_large").macs / 1e6) == 219


def test_mobilenet_v3_large_tf_readme() -> None:
    assert near(totals("mobilenet_v3_large").macs, 217e6, 1e6)


# EfficientNetV2, Table 7: EfficientNetV2-S at 384: 22M params, 8.8B FLOPs.
@xfail("paper 8.8B FLOPs; the exact count of torchvision's efficientnet_v2_s at 384 is 8.366B")
def test_efficientnet_v2_s_table7_flops() -> None:
    assert near(totals("efficientnet_v2_s").macs, 8.8e9, 0.1e9)


@xfail("paper 22M params (its Fig. 1: 24M); the exact count of torchvision's efficientnet_v2_s is 21,458,488")
def test_efficientnet_v2_s_table7_params() -> None:
    assert near(totals("efficientnet_v2_s").params, 22e6, 1e6)


# GhostNet, Table 7: GhostNet 1.0×: 141M FLOPs (multiply-adds), 5.2M params.
def test_ghostnet_table7() -> None:
    t = totals("ghostnet")
    assert near(t.macs, 141e6, 1e6)
    assert near(t.params, 5.2e6, 0.1e6)
    assert near(t.weights, 5.2e6, 0.1e6)


# ----------------------------------------------------------------------------------------------
# Reference modules, written here from torchvision's and the GhostNet authors' code

def _make_divisible(v: float, divisor: int) -> int:
    """torchvision.models._utils._make_divisible, as the MobileNet and GhostNet code define it."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _act(name: str | None) -> Any:
    nn = _torch().nn
    return {"relu": nn.ReLU, "relu6": nn.ReLU6, "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid,
            "sigmoid": nn.Sigmoid, "silu": nn.SiLU, None: nn.Identity}[name]()


def conv_bn(n: int, m: int, k: int, stride: int = 1, groups: int = 1, act: str | None = None) -> Any:
    """torchvision's Conv2dNormActivation: conv (no bias, padding (k−1)/2), BatchNorm, activation."""
    nn = _torch().nn
    return nn.Sequential(nn.Conv2d(n, m, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(m),
                         _act(act))


def squeeze_excitation(c: int, squeeze: int, act: str, gate: str) -> Any:
    """torchvision.ops.SqueezeExcitation / GhostNet's SqueezeExcite: pool, 1×1 (bias), act, 1×1 (bias), gate, ×."""
    nn = _torch().nn

    class SE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
            self.act, self.gate = _act(act), _act(gate)

        def forward(self, x: Any) -> Any:
            return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))

    return SE()


def residual(body: Any, use: bool, shortcut: Any = None) -> Any:
    nn = _torch().nn

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body
            self.shortcut = shortcut

        def forward(self, x: Any) -> Any:
            y = self.body(x)
            if self.shortcut is not None:
                return y + self.shortcut(x)
            return y + x if use else y

    return Residual()


def mbconv_ref(n: int, m: int, e: int, k: int, s: int, act: str, squeeze: int | None, se_act: str,
               gate: str) -> Any:
    """torchvision's InvertedResidual (MobileNetV3) / MBConv (EfficientNet); ``squeeze`` None: no SE."""
    nn = _torch().nn
    layers = [conv_bn(n, e, 1, act=act)] if e != n else []
    layers.append(conv_bn(e, e, k, s, groups=e, act=act))
    if squeeze is not None:
        layers.append(squeeze_excitation(e, squeeze, se_act, gate))
    layers.append(conv_bn(e, m, 1))
    return residual(nn.Sequential(*layers), s == 1 and n == m)


def fused_mbconv_ref(n: int, m: int, e: int, k: int, s: int, act: str) -> Any:
    """torchvision's FusedMBConv."""
    nn = _torch().nn
    if e != n:
        body = nn.Sequential(conv_bn(n, e, k, s, act=act), conv_bn(e, m, 1))
    else:
        body = nn.Sequential(conv_bn(n, m, k, s, act=act))
    return residual(body, s == 1 and n == m)


def ghost_module_ref(inp: int, oup: int, kernel: int = 1, ratio: int = 2, dw: int = 3, stride: int = 1,
                     relu: bool = True) -> Any:
    """GhostModule of the GhostNet authors' code: primary conv to ⌈oup/ratio⌉, cheap grouped conv
    to ⌈oup/ratio⌉·(ratio−1), concat, keep the first oup channels."""
    torch = _torch()
    nn = torch.nn
    init = math.ceil(oup / ratio)
    new = init * (ratio - 1)
    act = "relu" if relu else None

    class GhostModule(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.primary = conv_bn(inp, init, kernel, stride, act=act)
            self.cheap = conv_bn(init, new, dw, 1, groups=init, act=act)

        def forward(self, x: Any) -> Any:
            x1 = self.primary(x)
            return torch.cat([x1, self.cheap(x1)], dim=1)[:, :oup]

    return GhostModule()


def ghost_bottleneck_ref(n: int, mid: int, m: int, k: int, s: int, se: bool) -> Any:
    """GhostBottleneck of the GhostNet authors' code (SE squeeze _make_divisible(mid · 0.25, 4),
    ReLU, hard-sigmoid gate)."""
    nn = _torch().nn
    layers = [ghost_module_ref(n, mid, relu=True)]
    if s > 1:
        layers.append(conv_bn(mid, mid, k, s, groups=mid))
    if se:
        layers.append(squeeze_excitation(mid, _make_divisible(mid * 0.25, 4), "relu", "hardsigmoid"))
    layers.append(ghost_module_ref(mid, m, relu=False))
    shortcut = None
    if not (n == m and s == 1):
        shortcut = nn.Sequential(conv_bn(n, n, k, s, groups=n), conv_bn(n, m, 1))
    return residual(nn.Sequential(*layers), True, shortcut)


def ghostnet_ref(width: float = 1.0) -> Any:
    """GhostNet of the authors' code (ghostnet.py), written out from its configuration."""
    nn = _torch().nn
    cfgs = [  # k, exp, c, se, s
        (3, 16, 16, 0, 1), (3, 48, 24, 0, 2), (3, 72, 24, 0, 1), (5, 72, 40, 1, 2), (5, 120, 40, 1, 1),
        (3, 240, 80, 0, 2), (3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 1, 1),
        (3, 672, 112, 1, 1), (5, 672, 160, 1, 2), (5, 960, 160, 0, 1), (5, 960, 160, 1, 1), (5, 960, 160, 0, 1),
        (5, 960, 160, 1, 1),
    ]
    c = _make_divisible(16 * width, 4)
    layers = [conv_bn(3, c, 3, 2, act="relu")]
    for k, exp, out, se, s in cfgs:
        o, hidden = _make_divisible(out * width, 4), _make_divisible(exp * width, 4)
        layers.append(ghost_bottleneck_ref(c, hidden, o, k, s, bool(se)))
        c = o
    last = _make_divisible(960 * width, 4)
    layers += [conv_bn(c, last, 1, act="relu"), nn.AdaptiveAvgPool2d(1), nn.Conv2d(last, 1280, 1), nn.ReLU(),
               nn.Flatten(), nn.Linear(1280, 1000)]
    return nn.Sequential(*layers)


def test_ghostnet_equals_the_authors_model() -> None:
    macs, params, y = torch_counts(ghostnet_ref(), 1, 3, 224, 224)
    t = totals("ghostnet")
    assert (t.macs, t.params) == (macs, params)
    assert y == (1, 1000)


@pytest.mark.parametrize("width", ["0.5", "1.3"])
def test_ghostnet_width_equals_the_authors_model(width: str) -> None:
    macs, params, _ = torch_counts(ghostnet_ref(float(width)), 1, 3, 224, 224)
    t = totals("ghostnet", width=width)
    assert (t.macs, t.params) == (macs, params)


def costcalc_counts(type_name: str, fields: dict, x: Shape) -> tuple[int, int, tuple[int, ...]]:
    layer = get_type(type_name).make(**fields)
    out, cost, _ = evaluate(layer, (x,))
    return cost.macs, cost.params, (1, out.c, out.h, out.w)


def same_as_reference(type_name: str, fields: dict, x: Shape, reference: Any) -> None:
    assert costcalc_counts(type_name, fields, x) == torch_counts(reference, 1, x.c, x.h, x.w)


HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACTS = st.sampled_from(["relu", "hardswish", "silu"])
GATE_ACTS = st.sampled_from(["sigmoid", "hardsigmoid"])


@HYPOTHESIS
@given(c=st.integers(1, 96), r=st.integers(1, 8), h=st.integers(1, 12), w=st.integers(1, 12),
       rounding=st.sampled_from(["floor", "divisible", "floor_divisible"]), divisor=st.sampled_from([4, 8]),
       act=st.sampled_from(["relu", "silu"]), gate=GATE_ACTS)
def test_random_se_equals_reference(c: int, r: int, h: int, w: int, rounding: str, divisor: int, act: str,
                                    gate: str) -> None:
    if rounding == "floor":
        squeeze = c // r
        if squeeze == 0:  # EfficientNet would take max(1, ·); costcalc refuses (see the bad-input corpus)
            with pytest.raises(Exception, match="0 channels"):
                costcalc_counts("se", {"R": r, "rounding": rounding}, Shape(h, w, c))
            return
    elif rounding == "divisible":
        squeeze = _make_divisible(c / r, divisor)  # GhostNet: _make_divisible(C · se_ratio, 4)
    else:
        squeeze = _make_divisible(c // r, divisor)  # torchvision MobileNetV3: _make_divisible(C // 4, 8)
    fields = {"R": r, "rounding": rounding, "divisor": divisor, "act": act, "gate": gate}
    same_as_reference("se", fields, Shape(h, w, c), squeeze_excitation(c, squeeze, act, gate))


@HYPOTHESIS
@given(n=st.integers(1, 48), m=st.integers(1, 48), t=st.integers(1, 6), explicit=st.booleans(),
       extra=st.integers(0, 20), k=st.sampled_from([3, 5]), s=st.sampled_from([1, 2]), h=st.integers(4, 20),
       act=ACTS, se=st.sampled_from([None, "efficientnet", "mobilenet_v3"]))
def test_random_mbconv_equals_reference(n: int, m: int, t: int, explicit: bool, extra: int, k: int, s: int, h: int,
                                        act: str, se: str | None) -> None:
    e = n * t + extra if explicit else n * t
    fields: dict[str, Any] = {"M": m, "K": k, "S": s, "act": act, **({"E": e} if explicit else {"T": t})}
    squeeze = None
    se_act, gate = act, "sigmoid"
    if se == "efficientnet":  # torchvision MBConv: max(1, input_channels // 4), SiLU-style act, sigmoid
        if n < 4:
            return  # ⌊N/4⌋ = 0: refused by costcalc (bad-input corpus), 1 in torchvision
        squeeze = n // 4
        fields.update(se=True)
    elif se == "mobilenet_v3":  # torchvision InvertedResidual: _make_divisible(expanded // 4, 8), ReLU, hardsigmoid
        squeeze, se_act, gate = _make_divisible(e // 4, 8), "relu", "hardsigmoid"
        fields.update(se=True, se_base="expanded", se_rounding="floor_divisible", se_divisor=8, se_act="relu",
                      se_gate="hardsigmoid")
    same_as_reference("mbconv", fields, Shape(h, h + 1, n), mbconv_ref(n, m, e, k, s, act, squeeze, se_act, gate))


@HYPOTHESIS
@given(n=st.integers(1, 48), m=st.integers(1, 48), t=st.integers(1, 6), k=st.sampled_from([3, 5]),
       s=st.sampled_from([1, 2]), h=st.integers(4, 20), act=ACTS)
def test_random_fused_mbconv_equals_reference(n: int, m: int, t: int, k: int, s: int, h: int, act: str) -> None:
    same_as_reference("fused_mbconv", {"M": m, "T": t, "K": k, "S": s, "act": act}, Shape(h, h, n),
                      fused_mbconv_ref(n, m, n * t, k, s, act))


@HYPOTHESIS
@given(n=st.integers(1, 48), m=st.integers(1, 64), ratio=st.integers(2, 5), dw=st.sampled_from([1, 3, 5]),
       kernel=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]), relu=st.booleans(), h=st.integers(3, 20))
def test_random_ghost_equals_reference(n: int, m: int, ratio: int, dw: int, kernel: int, stride: int, relu: bool,
                                       h: int) -> None:
    fields = {"M": m, "s": ratio, "d": dw, "k": kernel, "S": stride, "relu": relu}
    same_as_reference("ghost", fields, Shape(h, h, n), ghost_module_ref(n, m, kernel, ratio, dw, stride, relu))


@HYPOTHESIS
@given(n=st.integers(1, 48), mid=st.integers(4, 96), m=st.integers(1, 48), k=st.sampled_from([3, 5]),
       s=st.sampled_from([1, 2]), se=st.booleans(), h=st.integers(4, 20))
def test_random_ghost_bottleneck_equals_reference(n: int, mid: int, m: int, k: int, s: int, se: bool,
                                                  h: int) -> None:
    fields = {"E": mid, "M": m, "K": k, "S": s, "se": se}
    same_as_reference("ghost_bottleneck", fields, Shape(h, h, n), ghost_bottleneck_ref(n, mid, m, k, s, se))


# ----------------------------------------------------------------------------------------------
# Closed forms in the resolution

R = sympy.Symbol("R", positive=True)


@pytest.mark.parametrize("spec, overrides", [(name, {}) for name in NEW_EXAMPLES] + [("efficientnet", {"variant": "b3"})],
                         ids=list(NEW_EXAMPLES) + ["efficientnet_b3"])
def test_resolution_closed_form(spec: str, overrides: dict) -> None:
    """``--set resolution=R``: a polynomial in R whose values at multiples of 32 (every stride divides
    the size: no floors) are the numeric totals, MACs and params alike."""
    sym = result(spec, **overrides, resolution="R").totals
    macs = sympy.Poly(sympy.expand(sym.macs), R)
    assert macs.degree() == 2  # every conv's cost is proportional to its output area
    assert sympy.sympify(sym.params).free_symbols == set()  # parameters do not depend on the input size
    for res in (32, 224, 256, 384):
        num = totals(spec, **overrides, resolution=res)
        assert macs.eval(res) == num.macs
        assert sym.params == num.params
        assert sympy.expand(sym.elementwise).subs(R, res) == num.elementwise


# ----------------------------------------------------------------------------------------------
# Derivations: SE's share of an MBConv, the Ghost module's saving

H, W, N, K, T = sympy.symbols("H W N K T", positive=True)
Rr, s, c = sympy.symbols("R s c", positive=True)


def same(a: Any, b: Any) -> bool:
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


def test_se_cost_closed_form() -> None:
    # two 1×1 convs N→N/R→N on one pixel; biases N/R + N
    assert same(derive("se()").result, 2 * N**2 / Rr)
    assert same(derive("se()", metric="params").result, 2 * N**2 / Rr + N / Rr + N)


def test_se_share_of_mbconv() -> None:
    # MBConv at stride 1, M = N, E = N·T: expand H·W·N·E, depthwise H·W·E·K², project H·W·E·N;
    # the SE (reduction of the block input N, EfficientNet): 2·E·(N/R)
    block = H * W * N * T * (2 * N + K**2)
    se_macs = 2 * (N * T) * (N / Rr)
    expr = "(mbconv(se=True, se_R=R) - mbconv()) / mbconv(se=True, se_R=R)"
    assert same(derive(expr).result, se_macs / (block + se_macs))
    # params: 1×1 weights 2·N·E, depthwise E·K², BatchNorm 2·E + 2·E + 2·N; SE 2·E·N/R + N/R + E
    block_p = 2 * N * N * T + N * T * K**2 + 4 * N * T + 2 * N
    se_p = 2 * N * T * N / Rr + N / Rr + N * T
    share = derive(expr, metric="params").result
    assert same(share, se_p / (block_p + se_p))
    assert same(sympy.limit(share, N, sympy.oo), 1 / (Rr + 1))  # a fifth of the block at R = 4


def test_se_share_at_efficientnet_b0_last_stage() -> None:
    d = derive("(mbconv(se=True, se_R=4) - mbconv()) / mbconv(se=True, se_R=4)", metric="params",
               dims={"H": 7, "N": 192, "T": 6, "K": 5})
    e, sq = 192 * 6, 192 // 4
    se_p = 2 * e * sq + sq + e
    block_p = 2 * 192 * e + e * 25 + 4 * e + 2 * 192
    assert d.value == Fraction(se_p, block_p + se_p)


def test_ghost_saving_is_paper_eq4() -> None:
    # eq. 4: r_s = c·k²·n / (n/s·c·k² + (s−1)·n/s·d²) with c input, n output channels
    k, d = sympy.symbols("K d", positive=True)
    eq4 = c * k**2 * s / (c * k**2 + (s - 1) * d**2)
    assert same(derive("conv() / ghost(k=K)", dims={"N": "c"}).result, eq4)
    # with d = k: s·c/(s + c − 1) → s
    r = derive("conv() / ghost(k=K, d=K)", dims={"N": "c"}).result
    assert same(r, s * c / (s + c - 1))
    assert sympy.limit(r, c, sympy.oo) == s
    # eq. 5, the compression of the weights, is the same expression
    assert same(derive("conv() / ghost(k=K, d=K)", metric="weights", dims={"N": "c"}).result, s * c / (s + c - 1))


# ----------------------------------------------------------------------------------------------
# The command line

def test_cli_variant() -> None:
    r = CliRunner().invoke(main, ["net", str(EXAMPLES / "efficientnet.yaml"), "--set", "variant=b4", "--format",
                                  "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["totals"]["params"] == 19_341_616  # torchvision efficientnet_b4 num_params
    assert doc["vars"]["resolution"] == 380


def test_cli_variant_not_a_member() -> None:
    r = CliRunner().invoke(main, ["net", str(EXAMPLES / "efficientnet.yaml"), "--set", "variant=8"])
    assert r.exit_code == 2
    assert "variant=8 is not one of 0, 1, 2, 3, 4, 5, 6, 7" in r.output


@pytest.mark.parametrize("type_name, args", [
    ("se", ["-H", "14", "-N", "96"]),
    ("mbconv", ["-H", "28", "-N", "24", "-M", "40", "-K", "5", "--stride", "2", "--param", "E=72",
                "--param", "se=true", "--param", "se_base=expanded", "--param", "se_rounding=floor_divisible"]),
    ("fused_mbconv", ["-H", "28", "-N", "24", "-M", "48", "-T", "4", "--stride", "2"]),
    ("ghost", ["-H", "28", "-N", "24", "-M", "41", "--param", "s=3"]),
    ("ghost_bottleneck", ["-H", "28", "-N", "40", "-M", "80", "--param", "E=240", "--stride", "2",
                          "--param", "se=true"]),
    ("mul", ["-H", "5", "-N", "7"]),
])
def test_cli_verify_each_type(type_name: str, args: list[str]) -> None:
    _torch()
    r = CliRunner().invoke(main, ["verify", "--type", type_name, *args, "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["ok"] is True
