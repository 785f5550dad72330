"""Engine-level tests of every registered layer and block type.

Every expected number is a closed form written out here (per child for blocks), the papers'
formulas, or a hand count -- never costcalc's own output.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from costcalc.cost import COST_FIELDS, Shape
from costcalc.engine import analyze_layer, evaluate, symbol
from costcalc.layers import DimError, all_types, get_type

H, W, N, M, K, G, T, B = (symbol(s) for s in "HWNMKGTB")


# ----------------------------------------------------------------------------------------------
# Numeric cases: one or more per registered type.


@dataclass
class Case:
    id: str
    type: str
    fields: dict[str, Any]
    inputs: tuple[tuple[int, int, int], ...]
    out: tuple[int, int, int]
    expect: dict[str, int]  # any subset of COST_FIELDS
    children: tuple[str, ...] | None = None  # leaf child names of a block, in order
    extra: dict[str, Any] = field(default_factory=dict)


def _zero(**kw: int) -> dict[str, int]:
    """A full expectation where unspecified fields are 0 (for leaves: nothing silently zero
    except what the contract says is zero)."""
    return {f: kw.get(f, 0) for f in COST_FIELDS}


CASES: list[Case] = []


def case(*args: Any, **kw: Any) -> None:
    CASES.append(Case(*args, **kw))


# -- convolutions ------------------------------------------------------------------------------
case("conv-3x3", "conv", dict(M=128, K=3), ((56, 56, 64),), (56, 56, 128),
     _zero(macs=56 * 56 * 128 * 3 * 3 * 64, params=3 * 3 * 64 * 128, weights=3 * 3 * 64 * 128,
           activations=56 * 56 * 128, memory=56 * 56 * 64 + 56 * 56 * 128 + 3 * 3 * 64 * 128))
# stride 2, "same" padding 1: floor((56 + 2 - 2 - 1)/2) + 1 = 28
case("conv-stride2", "conv", dict(M=128, K=3, S=2), ((56, 56, 64),), (28, 28, 128),
     _zero(macs=28 * 28 * 128 * 9 * 64, params=9 * 64 * 128, weights=9 * 64 * 128,
           activations=28 * 28 * 128, memory=56 * 56 * 64 + 28 * 28 * 128 + 9 * 64 * 128))
# stride 2 on an odd size: floor((57 + 2 - 2 - 1)/2) + 1 = 29
case("conv-stride2-odd", "conv", dict(M=8, K=3, S=2), ((57, 57, 4),), (29, 29, 8),
     {"macs": 29 * 29 * 8 * 9 * 4, "params": 9 * 4 * 8})
# padding 0: 56 - 3 + 1 = 54
case("conv-pad0", "conv", dict(M=128, K=3, P=0), ((56, 56, 64),), (54, 54, 128),
     _zero(macs=54 * 54 * 128 * 9 * 64, params=9 * 64 * 128, weights=9 * 64 * 128,
           activations=54 * 54 * 128, memory=56 * 56 * 64 + 54 * 54 * 128 + 9 * 64 * 128))
# dilation 2, "same" padding D(K-1)/2 = 2: size kept
case("conv-dil2-same", "conv", dict(M=64, K=3, D=2), ((56, 56, 64),), (56, 56, 64),
     {"macs": 56 * 56 * 64 * 9 * 64, "params": 9 * 64 * 64})
# dilation 2, padding 0: span 5, 56 - 5 + 1 = 52
case("conv-dil2-pad0", "conv", dict(M=64, K=3, D=2, P=0), ((56, 56, 64),), (52, 52, 64),
     {"macs": 52 * 52 * 64 * 9 * 64, "params": 9 * 64 * 64})
# bias: +M params, +1 elementwise add per output element, never a MAC
case("conv-bias", "conv", dict(M=512, K=1, bias=True), ((14, 14, 256),), (14, 14, 512),
     _zero(macs=14 * 14 * 512 * 256, params=256 * 512 + 512, weights=256 * 512,
           elementwise=14 * 14 * 512, activations=14 * 14 * 512,
           memory=14 * 14 * 256 + 14 * 14 * 512 + 256 * 512 + 512))
# groups 4 on conv: N/G = 16 input channels per filter
case("conv-groups4", "conv", dict(M=128, K=3, G=4), ((56, 56, 64),), (56, 56, 128),
     {"macs": 56 * 56 * 128 * 9 * 16, "params": 9 * 16 * 128, "weights": 9 * 16 * 128})
case("conv-K5", "conv", dict(M=64, K=5), ((28, 28, 32),), (28, 28, 64),
     {"macs": 28 * 28 * 64 * 25 * 32, "params": 25 * 32 * 64})
# ResNet stem: 7x7/2, padding 3 on 224: floor((224 + 6 - 6 - 1)/2) + 1 = 112; 118,013,952 MACs
case("conv-K7-stem", "conv", dict(M=64, K=7, S=2, P=3), ((224, 224, 3),), (112, 112, 64),
     {"macs": 112 * 112 * 64 * 49 * 3, "params": 49 * 3 * 64})
case("conv-bn-relu", "conv", dict(M=32, K=3, S=2, bn=True, act="relu"), ((224, 224, 3),), (112, 112, 32),
     {"macs": 112 * 112 * 32 * 9 * 3, "params": 9 * 3 * 32 + 2 * 32,
      "elementwise": 2 * 112 * 112 * 32, "comparisons": 112 * 112 * 32},
     children=("conv", "bn", "relu"))
case("pointwise", "pointwise", dict(M=256), ((28, 28, 128),), (28, 28, 256),
     _zero(macs=28 * 28 * 128 * 256, params=128 * 256, weights=128 * 256, activations=28 * 28 * 256,
           memory=28 * 28 * 128 + 28 * 28 * 256 + 128 * 256))
# pointwise stride 2 (a projection shortcut): floor((56 - 1)/2) + 1 = 28
case("pointwise-stride2", "pointwise", dict(M=512, S=2), ((56, 56, 256),), (28, 28, 512),
     {"macs": 28 * 28 * 256 * 512, "params": 256 * 512})
case("grouped-G3", "grouped", dict(M=240, G=3), ((28, 28, 240),), (28, 28, 240),
     _zero(macs=28 * 28 * 240 * 9 * 80, params=9 * 80 * 240, weights=9 * 80 * 240,
           activations=28 * 28 * 240, memory=28 * 28 * 240 * 2 + 9 * 80 * 240))
case("grouped-1x1-G8", "grouped", dict(M=64, G=8, K=1), ((28, 28, 32),), (28, 28, 64),
     {"macs": 28 * 28 * 64 * 4, "params": 4 * 64})
case("depthwise", "depthwise", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(macs=56 * 56 * 64 * 3 * 3, params=64 * 9, weights=64 * 9, activations=56 * 56 * 64,
           memory=2 * 56 * 56 * 64 + 64 * 9))
case("depthwise-stride2", "depthwise", dict(S=2), ((112, 112, 32),), (56, 56, 32),
     {"macs": 56 * 56 * 32 * 9, "params": 32 * 9})
case("depthwise-K5-bias", "depthwise", dict(K=5, bias=True), ((14, 14, 96),), (14, 14, 96),
     {"macs": 14 * 14 * 96 * 25, "params": 96 * 25 + 96, "weights": 96 * 25, "elementwise": 14 * 14 * 96})
case("depthwise-K7", "depthwise", dict(K=7), ((7, 7, 8),), (7, 7, 8),
     {"macs": 7 * 7 * 8 * 49, "params": 8 * 49})
case("fc-7x7x1024", "fc", dict(M=1000), ((7, 7, 1024),), (1, 1, 1000),
     _zero(macs=7 * 7 * 1024 * 1000, params=7 * 7 * 1024 * 1000 + 1000, weights=7 * 7 * 1024 * 1000,
           elementwise=1000, activations=1000, memory=7 * 7 * 1024 + 1000 + 7 * 7 * 1024 * 1000 + 1000))
case("fc-1x1x1024", "fc", dict(M=1000), ((1, 1, 1024),), (1, 1, 1000),
     _zero(macs=1024 * 1000, params=1024 * 1000 + 1000, weights=1024 * 1000, elementwise=1000,
           activations=1000, memory=1024 + 1000 + 1024 * 1000 + 1000))
case("fc-nobias", "fc", dict(M=10, bias=False), ((1, 1, 512),), (1, 1, 10),
     {"macs": 5120, "params": 5120, "elementwise": 0})

# -- no multiply-adds ----------------------------------------------------------------------------
_n = 56 * 56 * 64
case("batchnorm", "batchnorm", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(params=2 * 64, elementwise=2 * _n, activations=_n, memory=2 * _n + 2 * 64))
case("relu", "relu", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(comparisons=_n, activations=_n, memory=2 * _n))
case("relu6", "relu6", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(comparisons=2 * _n, activations=_n, memory=2 * _n))
case("hardsigmoid", "hardsigmoid", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(comparisons=2 * _n, elementwise=2 * _n, activations=_n, memory=2 * _n))
case("hardswish", "hardswish", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(comparisons=2 * _n, elementwise=3 * _n, activations=_n, memory=2 * _n))
# sigmoid 1/(1 + exp(-x)): exp, add, divide; silu x·sigmoid(x): one more multiply;
# gelu x·(1 + erf(x/√2))/2: scale, erf, add, multiply, halve
case("sigmoid", "sigmoid", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(elementwise=3 * _n, activations=_n, memory=2 * _n))
case("silu", "silu", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(elementwise=4 * _n, activations=_n, memory=2 * _n))
case("gelu", "gelu", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(elementwise=5 * _n, activations=_n, memory=2 * _n))
# tanh (e^{2x} − 1)/(e^{2x} + 1): double, exp, subtract, add, divide
case("tanh", "tanh", dict(), ((56, 56, 64),), (56, 56, 64),
     _zero(elementwise=5 * _n, activations=_n, memory=2 * _n))
# 2x2/2 max pool: 3 comparisons per output
case("maxpool-2x2", "maxpool", dict(), ((112, 112, 64),), (56, 56, 64),
     _zero(comparisons=56 * 56 * 64 * 3, activations=56 * 56 * 64, memory=112 * 112 * 64 + 56 * 56 * 64))
# ResNet 3x3/2 pad 1: floor((112 + 2 - 3)/2) + 1 = 56; 8 comparisons per output
case("maxpool-3x3s2", "maxpool", dict(K=3, S=2, P=1), ((112, 112, 64),), (56, 56, 64),
     _zero(comparisons=56 * 56 * 64 * 8, activations=56 * 56 * 64, memory=112 * 112 * 64 + 56 * 56 * 64))
# 3x3/2 pad 1 average pool (ShuffleNet shortcut): 9 ops per output
case("avgpool-3x3s2", "avgpool", dict(K=3, S=2, P=1), ((56, 56, 240),), (28, 28, 240),
     _zero(elementwise=28 * 28 * 240 * 9, activations=28 * 28 * 240, memory=56 * 56 * 240 + 28 * 28 * 240))
case("global_avgpool", "global_avgpool", dict(), ((7, 7, 1024),), (1, 1, 1024),
     _zero(elementwise=7 * 7 * 1024, activations=1024, memory=7 * 7 * 1024 + 1024))
case("global_maxpool", "global_maxpool", dict(), ((7, 7, 1024),), (1, 1, 1024),
     _zero(comparisons=(7 * 7 - 1) * 1024, activations=1024, memory=7 * 7 * 1024 + 1024))
_a = 56 * 56 * 256
case("add", "add", dict(), ((56, 56, 256), (56, 56, 256)), (56, 56, 256),
     _zero(elementwise=_a, activations=_a, memory=3 * _a))
case("concat", "concat", dict(), ((28, 28, 216), (28, 28, 24)), (28, 28, 240),
     _zero(activations=28 * 28 * 240, memory=2 * 28 * 28 * 240))
# three tensors summed: 2 adds per element, three read and one written
case("add-3", "add", dict(), ((14, 14, 8), (14, 14, 8), (14, 14, 8)), (14, 14, 8),
     _zero(elementwise=2 * 14 * 14 * 8, activations=14 * 14 * 8, memory=4 * 14 * 14 * 8))
# squeeze-and-excitation's channel multiply: a 56x56x64 map times a 1x1x64 gate
case("mul-gate", "mul", dict(), ((56, 56, 64), (1, 1, 64)), (56, 56, 64),
     _zero(elementwise=56 * 56 * 64, activations=56 * 56 * 64, memory=56 * 56 * 64 + 64 + 56 * 56 * 64))
case("mul-equal", "mul", dict(), ((7, 7, 32), (7, 7, 32)), (7, 7, 32),
     _zero(elementwise=7 * 7 * 32, activations=7 * 7 * 32, memory=3 * 7 * 7 * 32))
# adaptive 13 -> 6 (AlexNet beyond 224 px): PyTorch's windows [floor(13i/6), ceil(13(i+1)/6)) are
# 0-3, 2-5, 4-7, 6-9, 8-11, 10-13: six windows of 3, 18 positions per axis (they overlap)
case("adaptive_avgpool-13to6", "adaptive_avgpool", dict(out=6), ((13, 13, 256),), (6, 6, 256),
     _zero(elementwise=18 * 18 * 256, activations=6 * 6 * 256, memory=13 * 13 * 256 + 6 * 6 * 256))
# 14 -> 7 tiles exactly: windows of 2, every input summed once
case("adaptive_avgpool-14to7", "adaptive_avgpool", dict(out=7), ((14, 14, 512),), (7, 7, 512),
     _zero(elementwise=14 * 14 * 512, activations=7 * 7 * 512, memory=14 * 14 * 512 + 7 * 7 * 512))
# 8x9 -> 2x3: windows 4x3, 11 comparisons per output
case("adaptive_maxpool-2x3", "adaptive_maxpool", dict(out=(2, 3)), ((8, 9, 16),), (2, 3, 16),
     _zero(comparisons=2 * 3 * 16 * (4 * 3 - 1), activations=2 * 3 * 16, memory=8 * 9 * 16 + 2 * 3 * 16))
# ceil_mode (GoogLeNet's 3x3/2 max pools): ceil((112 - 3)/2) + 1 = 56, floor mode would give 55
case("maxpool-ceil", "maxpool", dict(K=3, S=2, ceil_mode=True), ((112, 112, 64),), (56, 56, 64),
     _zero(comparisons=56 * 56 * 64 * 8, activations=56 * 56 * 64, memory=112 * 112 * 64 + 56 * 56 * 64))
# ceil_mode's last-window rule: 2x2/2 pad 1 on 7 -> ceil((7 + 2 - 1 - 1)/2) + 1 = 5, but window 5
# would start at (5 - 1)·2 = 8 >= H + P = 8 (in the padding), so PyTorch drops it: 4
case("maxpool-ceil-dropped", "maxpool", dict(K=2, S=2, P=1, ceil_mode=True), ((7, 7, 4),), (4, 4, 4),
     _zero(comparisons=4 * 4 * 4 * 3, activations=4 * 4 * 4, memory=7 * 7 * 4 + 4 * 4 * 4))
# and where it does not apply: 3x3/2 pad 1 on 8 -> ceil(7/2) + 1 = 5, window 5 starts at 8 < 9
case("maxpool-ceil-kept", "maxpool", dict(K=3, S=2, P=1, ceil_mode=True), ((8, 8, 4),), (5, 5, 4),
     _zero(comparisons=5 * 5 * 4 * 8, activations=5 * 5 * 4, memory=8 * 8 * 4 + 5 * 5 * 4))
# Inception v3's factorised 1x7 conv: "same" padding (0, 3), Kh·Kw = 7
case("conv-1x7", "conv", dict(M=192, K=(1, 7)), ((17, 17, 768),), (17, 17, 192),
     _zero(macs=17 * 17 * 192 * 7 * 768, params=7 * 768 * 192, weights=7 * 768 * 192,
           activations=17 * 17 * 192, memory=17 * 17 * 768 + 17 * 17 * 192 + 7 * 768 * 192))
# stride [2, 1], padding [1, 0], kernel [3, 1]: H (9 + 2 - 3)//2 + 1 = 5, W 9
case("conv-3x1-s21", "conv", dict(M=8, K=(3, 1), S=(2, 1), P=(1, 0)), ((9, 9, 4),), (5, 9, 8),
     _zero(macs=5 * 9 * 8 * 3 * 4, params=3 * 4 * 8, weights=3 * 4 * 8, activations=5 * 9 * 8,
           memory=9 * 9 * 4 + 5 * 9 * 8 + 3 * 4 * 8))
case("channel_shuffle", "channel_shuffle", dict(G=3), ((28, 28, 240),), (28, 28, 240),
     _zero(activations=28 * 28 * 240, memory=2 * 28 * 28 * 240))
# a view: no data moved
case("channel_split-half", "channel_split", dict(), ((28, 28, 116),), (28, 28, 58),
     _zero(activations=28 * 28 * 58))
case("channel_split-M", "channel_split", dict(M=40), ((28, 28, 116),), (28, 28, 40),
     _zero(activations=28 * 28 * 40))

# -- blocks --------------------------------------------------------------------------------------
# separable (MobileNet): depthwise 3x3 + pointwise 1x1
case("separable", "separable", dict(M=64), ((112, 112, 32),), (112, 112, 64),
     _zero(macs=112 * 112 * 32 * 9 + 112 * 112 * 32 * 64, params=32 * 9 + 32 * 64,
           weights=32 * 9 + 32 * 64, activations=112 * 112 * 32 + 112 * 112 * 64,
           memory=(112 * 112 * 32 + 112 * 112 * 32 + 32 * 9) + (112 * 112 * 32 + 112 * 112 * 64 + 32 * 64)),
     children=("dw", "pw"))
case("separable-stride2-bn-relu", "separable", dict(M=128, S=2, bn=True, act="relu"), ((112, 112, 64),),
     (56, 56, 128),
     {"macs": 56 * 56 * 64 * 9 + 56 * 56 * 64 * 128,
      "params": 64 * 9 + 2 * 64 + 64 * 128 + 2 * 128,
      "elementwise": 2 * 56 * 56 * 64 + 2 * 56 * 56 * 128,
      "comparisons": 56 * 56 * 64 + 56 * 56 * 128},
     children=("dw", "dw_bn", "dw_relu", "pw", "pw_bn", "pw_relu"))

# ResNet-50 bottleneck, identity shortcut (conv2_x, 2nd unit): 256 -> 64 -> 64 -> 256
_s = 56 * 56
conv1 = _s * 256 * 64
conv2 = _s * 64 * 9 * 64
conv3 = _s * 64 * 256
case("bottleneck-identity", "bottleneck", dict(M=256, B=64), ((56, 56, 256),), (56, 56, 256),
     _zero(macs=conv1 + conv2 + conv3,
           params=256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * 64 + 2 * 64 + 2 * 256,  # 70,400
           weights=256 * 64 + 9 * 64 * 64 + 64 * 256,
           elementwise=2 * _s * 64 + 2 * _s * 64 + 2 * _s * 256 + _s * 256,  # bn1 bn2 bn3 add
           comparisons=_s * 64 + _s * 64 + _s * 256,  # relu1 relu2 relu3
           activations=6 * _s * 64 + 4 * _s * 256,
           memory=(_s * 256 + _s * 64 + 256 * 64) + (2 * _s * 64 + 128) + 2 * _s * 64  # conv1 bn1 relu1
           + (_s * 64 + _s * 64 + 9 * 64 * 64) + (2 * _s * 64 + 128) + 2 * _s * 64  # conv2 bn2 relu2
           + (_s * 64 + _s * 256 + 64 * 256) + (2 * _s * 256 + 512)  # conv3 bn3
           + 3 * _s * 256 + 2 * _s * 256),  # add relu3
     children=("conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3", "add", "relu3"))
# first unit of conv2_x: 64 -> 256 at stride 1 needs a projection
case("bottleneck-proj-stride1", "bottleneck", dict(M=256, B=64), ((56, 56, 64),), (56, 56, 256),
     {"macs": _s * 64 * 64 + _s * 64 * 9 * 64 + _s * 64 * 256 + _s * 64 * 256,
      "params": 64 * 64 + 9 * 64 * 64 + 64 * 256 + 64 * 256 + 2 * (64 + 64 + 256 + 256)},
     children=("conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3",
               "downsample", "downsample_bn", "add", "relu3"))
# conv3_1: 256 -> 512, B = 128 (default M/4), stride 2 on the first 1x1 (the paper)
_t = 28 * 28
case("bottleneck-proj-stride-1x1", "bottleneck", dict(M=512, S=2), ((56, 56, 256),), (28, 28, 512),
     {"macs": _t * 256 * 128 + _t * 128 * 9 * 128 + _t * 128 * 512 + _t * 256 * 512,
      "params": 256 * 128 + 9 * 128 * 128 + 128 * 512 + 256 * 512 + 2 * (128 + 128 + 512 + 512),  # 379,392
      "elementwise": 2 * _t * 128 * 2 + 2 * _t * 512 * 2 + _t * 512,
      "comparisons": _t * 128 * 2 + _t * 512})
# same block with the stride on the 3x3 (torchvision): the first 1x1 runs at 56x56
case("bottleneck-proj-stride-3x3", "bottleneck", dict(M=512, B=128, S=2, stride_on="3x3"), ((56, 56, 256),),
     (28, 28, 512),
     {"macs": _s * 256 * 128 + _t * 128 * 9 * 128 + _t * 128 * 512 + _t * 256 * 512,
      "params": 256 * 128 + 9 * 128 * 128 + 128 * 512 + 256 * 512 + 2 * (128 + 128 + 512 + 512),
      "elementwise": 2 * _s * 128 + 2 * _t * 128 + 2 * _t * 512 * 2 + _t * 512,
      "comparisons": _s * 128 + _t * 128 + _t * 512})
case("basic-identity", "basic", dict(M=64), ((56, 56, 64),), (56, 56, 64),
     {"macs": 2 * _s * 64 * 9 * 64, "params": 2 * 9 * 64 * 64 + 2 * 2 * 64,  # 73,984
      "elementwise": 2 * 2 * _s * 64 + _s * 64, "comparisons": 2 * _s * 64},
     children=("conv1", "bn1", "relu1", "conv2", "bn2", "add", "relu2"))
case("basic-proj-stride2", "basic", dict(M=128, S=2), ((56, 56, 64),), (28, 28, 128),
     {"macs": _t * 128 * 9 * 64 + _t * 128 * 9 * 128 + _t * 64 * 128,
      "params": 9 * 64 * 128 + 9 * 128 * 128 + 64 * 128 + 2 * 3 * 128},  # 230,144
     children=("conv1", "bn1", "relu1", "conv2", "bn2", "downsample", "downsample_bn", "add", "relu2"))
# the ResNet paper's option A: zero-padding shortcut, no projection conv, no params
case("basic-optionA-stride2", "basic", dict(M=128, S=2, shortcut="A"), ((56, 56, 64),), (28, 28, 128),
     {"macs": _t * 128 * 9 * 64 + _t * 128 * 9 * 128,
      "params": 9 * 64 * 128 + 9 * 128 * 128 + 2 * 2 * 128},  # 230,144 - 64*128 - 2*128
     children=("conv1", "bn1", "relu1", "conv2", "bn2", "shortcut", "add", "relu2"))
# option A on its own: subsample 56 -> 28 (every 2nd pixel), append 64 zero channels
case("pad_shortcut", "pad_shortcut", dict(M=128, S=2), ((56, 56, 64),), (28, 28, 128),
     _zero(activations=28 * 28 * 128, memory=28 * 28 * 64 + 28 * 28 * 128))
# ResNeXt-50 32x4d conv2 unit: 256 -> 128 -> grouped 3x3 (32 groups of 4) -> 256
case("resnext-32x4d", "resnext", dict(M=256, B=128, G=32), ((56, 56, 256),), (56, 56, 256),
     {"macs": _s * 256 * 128 + _s * 128 * 9 * (128 // 32) + _s * 128 * 256,
      "params": 256 * 128 + 9 * 4 * 128 + 128 * 256 + 2 * (128 + 128 + 256),
      "weights": 256 * 128 + 9 * 4 * 128 + 128 * 256},
     children=("conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3", "add", "relu3"))
# ShuffleNet g=3 stage-3 unit: 240 channels, bottleneck 240/4 = 60 (B defaulted)
case("shufflenet_unit-stride1", "shufflenet_unit", dict(G=3), ((28, 28, 240),), (28, 28, 240),
     {"macs": _t * 60 * 80 + _t * 60 * 9 + _t * 240 * 20,  # gconv1 (80 in/group), dw, gconv2 (20 in/group)
      "params": 60 * 80 + 60 * 9 + 240 * 20 + 2 * (60 + 60 + 240),
      "elementwise": 2 * _t * 60 + 2 * _t * 60 + 2 * _t * 240 + _t * 240,
      "comparisons": _t * 60 + _t * 240},
     children=("gconv1", "bn1", "relu1", "shuffle", "dwconv", "bn2", "gconv2", "bn3", "add", "relu"))
# first unit of stage 2: 24 -> 240 at stride 2, ungrouped first 1x1, main branch 240 - 24 = 216
case("shufflenet_unit-stride2-ungrouped", "shufflenet_unit", dict(M=240, G=3, S=2, group_first=False),
     ((56, 56, 24),), (28, 28, 240),
     {"macs": _s * 24 * 60 + _t * 60 * 9 + _t * 216 * 20,
      "params": 24 * 60 + 60 * 9 + 20 * 216 + 2 * (60 + 60 + 216),
      "elementwise": 2 * _s * 60 + 2 * _t * 60 + 2 * _t * 216 + 9 * _t * 24,  # bn1 bn2 bn3 avgpool
      "comparisons": _s * 60 + _t * 240},
     children=("gconv1", "bn1", "relu1", "shuffle", "dwconv", "bn2", "gconv2", "bn3", "avgpool",
               "concat", "relu"))
# MobileNetV2 first bottleneck: t = 1, 32 -> 16, no expansion conv, no residual (N != M)
case("inverted_residual-T1", "inverted_residual", dict(M=16, T=1), ((112, 112, 32),), (112, 112, 16),
     {"macs": 112 * 112 * 32 * 9 + 112 * 112 * 32 * 16,
      "params": 32 * 9 + 2 * 32 + 32 * 16 + 2 * 16,
      "comparisons": 2 * 112 * 112 * 32},
     children=("dw", "dw_bn", "dw_relu6", "project", "project_bn"))
# 24 -> 24, t = 6, stride 1: residual add
case("inverted_residual-T6-residual", "inverted_residual", dict(M=24, T=6), ((56, 56, 24),), (56, 56, 24),
     {"macs": _s * 24 * 144 + _s * 144 * 9 + _s * 144 * 24,
      "params": 24 * 144 + 144 * 9 + 144 * 24 + 2 * (144 + 144 + 24),  # 8,832
      "elementwise": 2 * _s * 144 * 2 + 2 * _s * 24 + _s * 24,
      "comparisons": 2 * _s * 144 * 2},
     children=("expand", "expand_bn", "expand_relu6", "dw", "dw_bn", "dw_relu6", "project", "project_bn", "add"))
# 16 -> 24, t = 6, stride 2: no residual
case("inverted_residual-T6-stride2", "inverted_residual", dict(M=24, T=6, S=2), ((112, 112, 16),), (56, 56, 24),
     {"macs": 112 * 112 * 16 * 96 + _s * 96 * 9 + _s * 96 * 24,
      "params": 16 * 96 + 96 * 9 + 96 * 24 + 2 * (96 + 96 + 24),  # 5,136
      "elementwise": 2 * 112 * 112 * 96 + 2 * _s * 96 + 2 * _s * 24},
     children=("expand", "expand_bn", "expand_relu6", "dw", "dw_bn", "dw_relu6", "project", "project_bn"))
# ShuffleNet V2 1x stage 2, stride 1: 116 channels, branch on 58
case("shufflenet_v2_unit-stride1", "shufflenet_v2_unit", dict(), ((28, 28, 116),), (28, 28, 116),
     {"macs": _t * 58 * 58 + _t * 58 * 9 + _t * 58 * 58,
      "params": 58 * 58 + 2 * 58 + 58 * 9 + 2 * 58 + 58 * 58 + 2 * 58,
      "comparisons": 2 * _t * 58,
      "elementwise": 3 * 2 * _t * 58},
     children=("split", "pw1", "pw1_bn", "pw1_relu", "dw", "dw_bn", "pw2", "pw2_bn", "pw2_relu",
               "concat", "shuffle"))
# ShuffleNet V2 1x first unit of stage 2: 24 -> 116 at stride 2, two branches of 58
case("shufflenet_v2_unit-stride2", "shufflenet_v2_unit", dict(M=116, S=2), ((56, 56, 24),), (28, 28, 116),
     {"macs": (_t * 24 * 9 + _t * 24 * 58)  # branch 1: dw/2, pw
      + (_s * 24 * 58 + _t * 58 * 9 + _t * 58 * 58),  # branch 2: pw, dw/2, pw
      "params": (24 * 9 + 2 * 24 + 24 * 58 + 2 * 58) + (24 * 58 + 2 * 58 + 58 * 9 + 2 * 58 + 58 * 58 + 2 * 58),
      "comparisons": _t * 58 + _s * 58 + _t * 58})
# an operator an import could not count (--allow-unknown): every count 0 by definition, the output
# shape as given (here a 2×2 unfold-like op: channels ×4, size /2)
case("unknown", "unknown", dict(op="aten.pixel_unshuffle.default", M=256, OH=28, OW=28), ((56, 56, 64),),
     (28, 28, 256), _zero())
case("unknown-same-shape", "unknown", dict(op="Softmax"), ((1, 1, 1000),), (1, 1, 1000), _zero())

# -- normalization: 7 elementwise ops per element + 4 per normalized group (norm.py) ---------------
case("layernorm-map", "layernorm", {}, ((14, 14, 96),), (14, 14, 96),
     _zero(params=2 * 96, elementwise=7 * 14 * 14 * 96 + 4 * 14 * 14, activations=14 * 14 * 96,
           memory=2 * 14 * 14 * 96 + 2 * 96))
case("layernorm-tokens", "layernorm", {}, ((197, 1, 768),), (197, 1, 768),
     {"params": 2 * 768, "elementwise": 7 * 197 * 768 + 4 * 197})
case("groupnorm", "groupnorm", dict(G=8), ((14, 14, 64),), (14, 14, 64),
     _zero(params=2 * 64, elementwise=7 * 14 * 14 * 64 + 4 * 8, activations=14 * 14 * 64,
           memory=2 * 14 * 14 * 64 + 2 * 64))
# -- tokens (L x 1 x D) and the transformer pieces of ViT-B/16: L = 197, D = 768, 12 heads -----------
_L, _D = 197, 768
case("linear-tokens", "linear", dict(M=3072), ((_L, 1, _D),), (_L, 1, 3072),
     _zero(macs=_L * _D * 3072, params=_D * 3072 + 3072, weights=_D * 3072, elementwise=_L * 3072,
           activations=_L * 3072, memory=_L * _D + _L * 3072 + _D * 3072 + 3072))
case("linear-map-nobias", "linear", dict(M=384, bias=False), ((56, 56, 96),), (56, 56, 384),
     {"macs": 56 * 56 * 96 * 384, "params": 96 * 384, "elementwise": 0})
case("tokens", "tokens", {}, ((14, 14, 768),), (196, 1, 768), _zero(activations=196 * 768))
case("class_token", "class_token", {}, ((196, 1, _D),), (_L, 1, _D),
     _zero(params=_D, activations=_L * _D, memory=196 * _D + _D + _L * _D))
case("pos_embed", "pos_embed", {}, ((_L, 1, _D),), (_L, 1, _D),
     _zero(params=_L * _D, elementwise=_L * _D, activations=_L * _D, memory=3 * _L * _D))
case("select_token", "select_token", {}, ((_L, 1, _D),), (1, 1, _D), _zero(activations=_D))
# 224/16 = 14: 196 tokens; a 16x16 conv of stride 16 with bias
case("patch_embed-vit-b16", "patch_embed", dict(M=_D, K=16), ((224, 224, 3),), (196, 1, _D),
     {"macs": 14 * 14 * _D * 16 * 16 * 3, "params": 16 * 16 * 3 * _D + _D}, children=("proj", "tokens"))
# QKV 3·L·D², Q·Kᵀ and ·V L²·D each, output projection L·D²; elementwise: the QKV and output
# biases, the 1/sqrt(d) scale (one per score) and softmax's 4 per score
case("attention-vit-b16", "attention", dict(heads=12), ((_L, 1, _D),), (_L, 1, _D),
     {"macs": 3 * _L * _D * _D + _L * _L * _D + _L * _L * _D + _L * _D * _D,
      "params": 3 * _D * _D + 3 * _D + _D * _D + _D,
      "elementwise": 3 * _L * _D + 12 * _L * _L + 4 * 12 * _L * _L + _L * _D,
      "comparisons": 12 * _L * _L},
     children=("qkv", "scores", "softmax", "context", "proj"))
# Swin-T's first stage: 56×56×96, 7×7 windows (n = 49), 3 heads. QKV 3·L·C², Q·Kᵀ and ·V
# L·n·C each, projection L·C²; a 13×13×3 bias table; elementwise: QKV and projection biases
# (3·L·C + L·C), Q's scale (L·C), the bias add (3·L·n) and softmax's 4 per score, + the mask's
# add when shifted (3·L·n)
_sL, _sC, _sn = 56 * 56, 96, 49
case("window_attention-swin-t", "window_attention", dict(heads=3), ((56, 56, 96),), (56, 56, 96),
     {"macs": 4 * _sL * _sC * _sC + 2 * _sL * _sn * _sC, "params": 4 * _sC * _sC + 4 * _sC + 13 * 13 * 3,
      "elementwise": 3 * _sL * _sC + _sL * _sC + _sL * _sC + 3 * _sL * _sn + 4 * 3 * _sL * _sn,
      "comparisons": 3 * _sL * _sn},
     children=("qkv", "scores", "position_bias", "softmax", "context", "proj"))
case("window_attention-shifted", "window_attention", dict(heads=3, shift=3), ((56, 56, 96),), (56, 56, 96),
     {"macs": 4 * _sL * _sC * _sC + 2 * _sL * _sn * _sC,
      "elementwise": 5 * _sL * _sC + 2 * 3 * _sL * _sn + 4 * 3 * _sL * _sn})
# 10×9 map, 4×4 windows: padded to 12×12 (L = 144), cropped back; no biases
case("window_attention-padded", "window_attention", dict(heads=2, window=4, shift=2, bias=False), ((10, 9, 16),),
     (10, 9, 16), {"macs": 4 * 144 * 16 * 16 + 2 * 144 * 16 * 16, "params": 4 * 16 * 16 + 7 * 7 * 2},
     children=("pad", "qkv", "scores", "position_bias", "softmax", "context", "proj", "crop"))
# Swin V2: + the position-bias MLP 2 → 512 → h over the 15×15 offsets of 8×8 windows, a logit scale
# per head; no bias table
case("window_attention-v2", "window_attention", dict(heads=3, window=8, v2=True), ((64, 64, 96),), (64, 64, 96),
     {"macs": 4 * 4096 * 96 * 96 + 2 * 4096 * 64 * 96 + 15 * 15 * (2 * 512 + 512 * 3),
      "params": 4 * 96 * 96 + 4 * 96 + (2 * 512 + 512 + 512 * 3) + 3})
# 2×2 neighbours → 4C = 384, LayerNorm(384), linear 384 → 192 without bias
case("patch_merging-swin-t", "patch_merging", {}, ((56, 56, 96),), (28, 28, 192),
     {"macs": 28 * 28 * 384 * 192, "params": 384 * 192 + 2 * 384}, children=("concat", "norm", "reduction"))
# V2: linear first, LayerNorm(192) after; an odd 7×9 map is zero-padded to 8×10
case("patch_merging-v2-odd", "patch_merging", dict(v2=True), ((7, 9, 96),), (4, 5, 192),
     {"macs": 4 * 5 * 384 * 192, "params": 384 * 192 + 2 * 192}, children=("concat", "reduction", "norm"))
# MaxViT-T's first stage: 56×56×64, 7×7 partitions, 2 heads, MLP 4C: 12·L·C² + 2·L·n·C
case("partition_attention-maxvit", "partition_attention", dict(heads=2, window=7), ((56, 56, 64),), (56, 56, 64),
     {"macs": 12 * 3136 * 64 * 64 + 2 * 3136 * 49 * 64, "params": 12 * 64 * 64 + 13 * 64 + 13 * 13 * 2},
     children=("ln_1", "qkv", "scores", "position_bias", "softmax", "context", "proj", "add_1", "ln_2", "fc1",
               "gelu", "fc2", "add_2"))
# on a 7x7x64 map: 49 tokens; no biases
case("attention-map-nobias", "attention", dict(heads=4, bias=False), ((7, 7, 64),), (7, 7, 64),
     {"macs": 4 * 49 * 64 * 64 + 2 * 49 * 49 * 64, "params": 4 * 64 * 64,
      "elementwise": 5 * 4 * 49 * 49})
case("mlp-vit-b16", "mlp", {}, ((_L, 1, _D),), (_L, 1, _D),
     {"macs": 2 * _L * _D * 4 * _D, "params": 2 * 4 * _D * _D + 4 * _D + _D,
      "elementwise": _L * 4 * _D + 5 * _L * 4 * _D + _L * _D},  # fc1 bias, GELU (5 per element), fc2 bias
     children=("fc1", "gelu", "fc2"))
case("mlp-explicit", "mlp", dict(B=100, M=10, act="relu"), ((5, 1, 20),), (5, 1, 10),
     {"macs": 5 * 20 * 100 + 5 * 100 * 10, "params": 20 * 100 + 100 + 100 * 10 + 10, "comparisons": 5 * 100})
# torchvision's EncoderBlock of ViT-B/16: 12·L·D² + 2·L²·D MACs, 12·D² + 13·D params
case("encoder_block-vit-b16", "encoder_block", dict(heads=12), ((_L, 1, _D),), (_L, 1, _D),
     {"macs": 12 * _L * _D * _D + 2 * _L * _L * _D, "params": 12 * _D * _D + 13 * _D},
     children=("ln_1", "qkv", "scores", "softmax", "context", "proj", "add_1", "ln_2", "fc1", "gelu", "fc2",
               "add_2"))
# -- upsampling ----------------------------------------------------------------------------------------
# FCN-style 2x: K=4, S=2, P=1: (14-1)·2 - 2 + 3 + 1 = 28. MACs on the input: 14·14·512·K²·256
case("conv_transpose-2x", "conv_transpose", dict(M=256, K=4, S=2, P=1), ((14, 14, 512),), (28, 28, 256),
     _zero(macs=14 * 14 * 512 * 16 * 256, params=16 * 512 * 256, weights=16 * 512 * 256,
           activations=28 * 28 * 256, memory=14 * 14 * 512 + 28 * 28 * 256 + 16 * 512 * 256))
# output_padding 1, groups 4, bias: (7-1)·2 - 2 + 2 + 1 + 1 = 14, (9-1)·2 - 2 + 2 + 1 + 1 = 18
case("conv_transpose-outpad-groups-bias", "conv_transpose",
     dict(M=16, K=3, S=2, P=1, output_padding=1, G=4, bias=True), ((7, 9, 32),), (14, 18, 16),
     {"macs": 7 * 9 * 32 * (16 // 4) * 9, "params": 32 * (16 // 4) * 9 + 16, "elementwise": 14 * 18 * 16})
# dilation 2, stride 1, no padding: 5 - 1 + 2·2 + 1 = 9
case("conv_transpose-dilated", "conv_transpose", dict(M=8, K=3, D=2), ((5, 5, 4),), (9, 9, 8),
     {"macs": 5 * 5 * 4 * 8 * 9, "params": 4 * 8 * 9})
# softmax over 10 logits (1 × 1 × 10) and over the 64 channels of each of 14·14 positions: per
# element 1 comparison (the running max) and 4 ops (subtract it, exp, add to the sum, divide)
case("softmax-logits", "softmax", {}, ((1, 1, 10),), (1, 1, 10),
     _zero(comparisons=10, elementwise=4 * 10, activations=10, memory=2 * 10))
case("softmax-map", "softmax", {}, ((14, 14, 64),), (14, 14, 64),
     _zero(comparisons=14 * 14 * 64, elementwise=4 * 14 * 14 * 64, activations=14 * 14 * 64,
           memory=2 * 14 * 14 * 64))
case("upsample-nearest", "upsample", {}, ((14, 14, 64),), (28, 28, 64),
     _zero(activations=28 * 28 * 64, memory=14 * 14 * 64 + 28 * 28 * 64))
case("upsample-bilinear", "upsample", dict(scale=4, mode="bilinear", align_corners=True), ((14, 14, 64),),
     (56, 56, 64), _zero(elementwise=7 * 56 * 56 * 64, activations=56 * 56 * 64,
                          memory=14 * 14 * 64 + 56 * 56 * 64))
case("layer_scale", "layer_scale", {}, ((56, 56, 96),), (56, 56, 96),
     _zero(params=96, elementwise=56 * 56 * 96, activations=56 * 56 * 96, memory=2 * 56 * 56 * 96 + 96))
# -- RegNet (torchvision's regnet_x_400mf block2.0 and regnet_y_400mf block1.0) ------------------------
# 32 -> 64 at stride 2, group width 16 (4 groups of 16): the 1x1 "a" runs at 56x56
case("regnet_x-stride2", "regnet_x", dict(M=64, g=16, S=2), ((56, 56, 32),), (28, 28, 64),
     {"macs": 56 * 56 * 32 * 64 + _t * 64 * 9 * 16 + _t * 64 * 64 + _t * 32 * 64,
      "params": 32 * 64 + 9 * 16 * 64 + 64 * 64 + 32 * 64 + 2 * 64 * 4},
     children=("a", "a_bn", "a_relu", "b", "b_bn", "b_relu", "c", "c_bn", "proj", "proj_bn", "add", "relu"))
case("regnet_x-identity", "regnet_x", dict(g=16), ((14, 14, 160),), (14, 14, 160),
     {"macs": 14 * 14 * (160 * 160 + 9 * 16 * 160 + 160 * 160),
      "params": 2 * 160 * 160 + 9 * 16 * 160 + 2 * 160 * 3})
# 32 -> 48 at stride 2, group width 8; SE squeeze width round(32/4) = 8 on the 48 channels
case("regnet_y-stride2", "regnet_y", dict(M=48, g=8, S=2), ((112, 112, 32),), (56, 56, 48),
     {"macs": 112 * 112 * 32 * 48 + _s * 48 * 9 * 8 + 48 * 8 + 8 * 48 + _s * 48 * 48 + _s * 32 * 48,
      "params": 32 * 48 + 9 * 8 * 48 + (48 * 8 + 8) + (8 * 48 + 48) + 48 * 48 + 32 * 48 + 2 * 48 * 4},
     children=("a", "a_bn", "a_relu", "b", "b_bn", "b_relu", "avgpool", "fc1", "relu", "fc2", "sigmoid",
               "scale", "c", "c_bn", "proj", "proj_bn", "add", "relu"))
# round(10/4) = round(2.5) = 2: half to even, as torchvision's int(round(0.25·10)) (half up would be 3)
case("regnet_y-se-round-half-even", "regnet_y", dict(g=5), ((8, 8, 10),), (8, 8, 10),
     {"params": 10 * 10 + 9 * 5 * 10 + (10 * 2 + 2) + (2 * 10 + 10) + 10 * 10 + 2 * 10 * 3})
# -- ConvNeXt (torchvision's convnext_tiny stage1 block and first downsampling layer) ------------------
case("convnext_block", "convnext_block", {}, ((56, 56, 96),), (56, 56, 96),
     {"macs": _s * 96 * 49 + 2 * _s * 96 * 384,
      "params": 96 * 49 + 96 + 2 * 96 + 96 * 384 + 384 + 384 * 96 + 96 + 96},
     children=("dwconv", "norm", "pwconv1", "gelu", "pwconv2", "layer_scale", "add"))
case("convnext_block-no-scale", "convnext_block", dict(layer_scale=False, T=2, K=3), ((7, 7, 8),), (7, 7, 8),
     {"macs": 49 * 8 * 9 + 2 * 49 * 8 * 16, "params": 8 * 9 + 8 + 2 * 8 + 8 * 16 + 16 + 16 * 8 + 8},
     children=("dwconv", "norm", "pwconv1", "gelu", "pwconv2", "add"))
case("convnext_downsample", "convnext_downsample", dict(M=192), ((56, 56, 96),), (28, 28, 192),
     {"macs": _t * 192 * 4 * 96, "params": 2 * 96 + 4 * 96 * 192 + 192}, children=("norm", "conv"))
# -- RepVGG (A0's stage1.1 and stage0) ------------------------------------------------------------------
case("repvgg-train-identity", "repvgg", {}, ((56, 56, 48),), (56, 56, 48),
     {"macs": _s * 48 * 9 * 48 + _s * 48 * 48, "params": 9 * 48 * 48 + 48 * 48 + 2 * 48 * 3,
      "elementwise": 3 * 2 * _s * 48 + 2 * _s * 48},  # three BatchNorms, two adds
     children=("rbr_dense", "rbr_dense_bn", "rbr_1x1", "rbr_1x1_bn", "add", "rbr_identity", "add_identity",
               "relu"))
case("repvgg-train-stride2", "repvgg", dict(M=48, S=2), ((224, 224, 3),), (112, 112, 48),
     {"macs": 112 * 112 * 48 * 9 * 3 + 112 * 112 * 48 * 3, "params": 9 * 3 * 48 + 3 * 48 + 2 * 48 * 2},
     children=("rbr_dense", "rbr_dense_bn", "rbr_1x1", "rbr_1x1_bn", "add", "relu"))
case("repvgg-deploy", "repvgg", dict(M=48, S=2, form="deploy"), ((224, 224, 3),), (112, 112, 48),
     {"macs": 112 * 112 * 48 * 9 * 3, "params": 9 * 3 * 48 + 48}, children=("rbr_reparam", "relu"))
# -- the mobile blocks after MobileNetV2 (costcalc/layers/mobile.py) ----------------------------
# the SE gate's multiply: H·W·C multiplies, 0 MACs; memory = both inputs + the output
case("mul-gate-second", "mul", dict(), ((8, 8, 16), (1, 1, 16)), (8, 8, 16),
     _zero(elementwise=8 * 8 * 16, activations=8 * 8 * 16, memory=8 * 8 * 16 + 16 + 8 * 8 * 16))
# SE on 96 channels, R = 4: squeeze 24; two 1×1 convs with biases on one pixel
case("se-R4", "se", dict(R=4), ((14, 14, 96),), (14, 14, 96),
     {"macs": 96 * 24 + 24 * 96, "params": 96 * 24 + 24 + 24 * 96 + 96, "weights": 2 * 96 * 24,
      "elementwise": 14 * 14 * 96 + 24 + 96 + 3 * 96 + 14 * 14 * 96,  # pool, biases, sigmoid, multiply
      "comparisons": 24},  # ReLU on the squeezed vector
     children=("avgpool", "fc1", "relu", "fc2", "sigmoid", "scale"))
# MobileNetV3-Large's 4th bneck: 24 -> 40, exp 72, 5×5, stride 2, SE on the expanded width:
# squeeze make_divisible(72 // 4 = 18, 8) = 16, below 0.9·18, so 24
case("mbconv-mobilenet_v3", "mbconv",
     dict(E=72, M=40, K=5, S=2, act="relu", se=True, se_base="expanded", se_rounding="floor_divisible",
          se_divisor=8, se_act="relu", se_gate="hardsigmoid"), ((56, 56, 24),), (28, 28, 40),
     {"macs": _s * 24 * 72 + _t * 72 * 25 + 2 * 72 * 24 + _t * 72 * 40,
      "params": 24 * 72 + 2 * 72 + 72 * 25 + 2 * 72 + (72 * 24 + 24 + 24 * 72 + 72) + 72 * 40 + 2 * 40},
     children=("expand", "expand_bn", "expand_relu", "dw", "dw_bn", "dw_relu", "avgpool", "fc1", "relu", "fc2",
               "hardsigmoid", "scale", "project", "project_bn"))
# EfficientNet-B0's first block: t = 1 (no expansion conv), 32 -> 16, SE squeeze 32 // 4 = 8
case("mbconv-efficientnet-T1", "mbconv", dict(T=1, M=16, se=True, act="silu"), ((112, 112, 32),), (112, 112, 16),
     {"macs": 112 * 112 * 32 * 9 + 2 * 32 * 8 + 112 * 112 * 32 * 16,
      "params": 32 * 9 + 2 * 32 + (32 * 8 + 8 + 8 * 32 + 32) + 32 * 16 + 2 * 16},
     children=("dw", "dw_bn", "dw_silu", "avgpool", "fc1", "silu", "fc2", "sigmoid", "scale", "project",
               "project_bn"))
# EfficientNetV2-S stage 1: t = 1, one 3×3 conv 24 -> 24 with BN and SiLU, residual add
case("fused_mbconv-T1", "fused_mbconv", dict(T=1), ((28, 28, 24),), (28, 28, 24),
     {"macs": _t * 24 * 9 * 24, "params": 9 * 24 * 24 + 2 * 24,
      "elementwise": 2 * _t * 24 + 4 * _t * 24 + _t * 24},  # BN, SiLU, add
     children=("fused", "fused_bn", "fused_silu", "add"))
# stage 2's first block: 3×3 stride 2 to 24·4 = 96, project 1×1 to 48
case("fused_mbconv-T4-stride2", "fused_mbconv", dict(T=4, M=48, S=2), ((56, 56, 24),), (28, 28, 48),
     {"macs": _t * 96 * 9 * 24 + _t * 96 * 48, "params": 9 * 24 * 96 + 2 * 96 + 96 * 48 + 2 * 48},
     children=("fused", "fused_bn", "fused_silu", "project", "project_bn"))
# Ghost module to 41 channels at s = 3: primary ⌈41/3⌉ = 14, cheap 14·2 = 28, 42 sliced to 41
case("ghost-slice", "ghost", dict(M=41, s=3), ((14, 14, 24),), (14, 14, 41),
     {"macs": 196 * 14 * 24 + 196 * 28 * 9, "params": 24 * 14 + 2 * 14 + 28 * 9 + 2 * 28},
     children=("primary", "primary_bn", "primary_relu", "cheap", "cheap_bn", "cheap_relu", "concat", "slice"))
# GhostNet's 4th bottleneck: 24 -> 40, exp 72, 5×5, stride 2, SE squeeze make_divisible(72/4, 4) = 20
case("ghost_bottleneck-stride2-se", "ghost_bottleneck", dict(E=72, M=40, K=5, S=2, se=True), ((56, 56, 24),),
     (28, 28, 40),
     {"macs": (_s * 24 * 36 + _s * 36 * 9)  # ghost1: primary 24 -> 36, cheap 36 -> 36
      + _t * 72 * 25 + 2 * 72 * 20  # depthwise 5×5 / 2, SE
      + (_t * 72 * 20 + _t * 20 * 9)  # ghost2: primary 72 -> 20, cheap 20 -> 20
      + (_t * 24 * 25 + _t * 24 * 40),  # shortcut: depthwise 5×5 / 2, 1×1 24 -> 40
      "params": (24 * 36 + 2 * 36 + 36 * 9 + 2 * 36) + (72 * 25 + 2 * 72) + (72 * 20 + 20 + 20 * 72 + 72)
      + (72 * 20 + 2 * 20 + 20 * 9 + 2 * 20) + (24 * 25 + 2 * 24 + 24 * 40 + 2 * 40)})


def _shapes(c: Case) -> tuple[Shape, ...]:
    return tuple(Shape(*s) for s in c.inputs)


def test_every_registered_type_has_a_case() -> None:
    missing = set(all_types()) - {c.type for c in CASES}
    assert not missing, f"no numeric case for: {sorted(missing)}"


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_numeric_case(c: Case) -> None:
    layer = get_type(c.type).make(**c.fields)
    out, cost, rows = evaluate(layer, _shapes(c))
    assert tuple(out) == c.out
    got = {f: getattr(cost, f) for f in c.expect}
    assert got == c.expect
    for f in COST_FIELDS:
        v = getattr(cost, f)
        assert type(v) is int, (f, v)  # exact ints on the numeric path
    assert cost.flops == 2 * cost.macs
    if c.children is not None:
        assert tuple(r.path.rsplit(".", 1)[-1] for r in rows if r.leaf) == c.children
    # leaf rows add up to the total, for every field
    leaves = [r.cost for r in rows if r.leaf]
    for f in COST_FIELDS:
        assert sum(getattr(x, f) for x in leaves) == getattr(cost, f), f


def test_shufflenet_unit_paper_expression() -> None:
    """hw(2cm/g + 9m) with c = 240, m = 60, g = 3 (Zhang et al. 2017, §3.3)."""
    h = w = 28
    c, m, g = 240, 60, 3
    _, cost, _ = evaluate(get_type("shufflenet_unit").make(G=g, B=m), (Shape(h, w, c),))
    assert cost.macs == h * w * (2 * c * m // g + 9 * m)


def test_resnet_bottleneck_paper_expression() -> None:
    """hw(2cm + 9m²) for ResNet, hw(2cm + 9m²/g) for ResNeXt (ShuffleNet paper §3.3)."""
    h = w = 14
    c, m, g = 1024, 256, 32
    _, r, _ = evaluate(get_type("bottleneck").make(B=m), (Shape(h, w, c),))
    _, x, _ = evaluate(get_type("resnext").make(B=m, G=g), (Shape(h, w, c),))
    assert r.macs == h * w * (2 * c * m + 9 * m * m)
    assert x.macs == h * w * (2 * c * m + 9 * m * m // g)


# ----------------------------------------------------------------------------------------------
# The acceptance example and the engine's report


def test_acceptance_depthwise() -> None:
    r = analyze_layer("depthwise", {"H": 56, "N": 64})
    assert r.cost.macs == 56 * 56 * 64 * 3 * 3 == 1_806_336
    assert r.cost.params == 64 * 3 * 3 == 576
    assert tuple(r.out_shape) == (56, 56, 64)
    assert tuple(r.in_shape) == (56, 56, 64)
    assert sympy.simplify(r.ratio_formula - 1 / M) == 0
    assert r.dims["W"] == 56 and r.dims["K"] == 3  # defaults: W = H, K = 3


def test_acceptance_grouped_stride2() -> None:
    r = analyze_layer("conv", {"H": 56, "N": 64, "M": 128, "K": 3, "G": 4, "S": 2})
    assert tuple(r.out_shape) == (28, 28, 128)
    assert r.cost.macs == 28 * 28 * 128 * 9 * (64 // 4)
    assert r.cost.params == 9 * (64 // 4) * 128
    assert r.ratio_value == sympy.Rational(1, 4)


def test_softmax_closed_form() -> None:
    """softmax over the N channels at each of H·W positions: a running max (1 comparison per
    element), then x − max, exp, the sum and the division (4 ops per element); no MACs, no params."""
    H, W, N = sympy.symbols("H W N", positive=True)
    r = analyze_layer("softmax", {"H": "H", "W": "W", "N": "N"})
    assert sympy.simplify(r.cost.comparisons - H * W * N) == 0
    assert sympy.simplify(r.cost.elementwise - 4 * H * W * N) == 0
    assert r.cost.macs == 0 and r.cost.params == 0
    r = analyze_layer("softmax", {"H": 1, "W": 1, "N": 1000})  # ImageNet logits
    assert (r.cost.comparisons, r.cost.elementwise, r.cost.macs, r.cost.params) == (1000, 4000, 0, 0)


def test_value_partially_evaluated() -> None:
    """Fields not given take their documented defaults in the value (K = 3, M = N); dimensions
    without one (N here) stay symbols."""
    r = analyze_layer("separable", {"H": 10})
    assert sympy.simplify(r.cost.macs - 10 * 10 * N * (9 + N)) == 0


@pytest.mark.parametrize("type_name, given, macs", [
    # bottleneck: B defaults to M/4 = 64 -> 56²·(256·64 + 9·64² + 64·256)
    ("bottleneck", {"H": 56, "N": 256, "M": 256}, 56 * 56 * (256 * 64 + 9 * 64 * 64 + 64 * 256)),
    # inverted_residual: T defaults to 6 -> 56²·24·6·(24 + 9 + 24)
    ("inverted_residual", {"H": 56, "N": 24, "M": 24}, 56 * 56 * 24 * 6 * (24 + 9 + 24)),
    # maxpool: K defaults to 2 (as in a spec), no multiply-adds; comparisons 28²·8·3
    ("maxpool", {"H": 56, "N": 8}, 0),
])
def test_documented_defaults_apply_in_the_value(type_name: str, given: dict, macs: int) -> None:
    r = analyze_layer(type_name, given)
    assert r.cost.macs == macs
    if type_name == "maxpool":
        assert tuple(r.out_shape) == (28, 28, 8) and r.cost.comparisons == 28 * 28 * 8 * 3


@pytest.mark.parametrize("type_name, given", [
    ("basic", {"H": 56, "N": 64, "M": 64, "S": "s"}),
    ("bottleneck", {"H": 56, "N": 64, "M": 256, "S": "s"}),
    ("shufflenet_unit", {"H": 28, "N": 240, "M": 240, "G": 3, "S": "s"}),
    ("shufflenet_v2_unit", {"H": 28, "N": 116, "M": 116, "S": "s"}),
    ("inverted_residual", {"H": 28, "N": 32, "M": 32, "S": "s"}),
])
def test_a_symbolic_stride_that_decides_structure_is_an_error(type_name: str, given: dict) -> None:
    """A unit's stride decides its layers (identity or projection shortcut, add or concat): a
    symbol there is an error naming the stride, never a guess."""
    from costcalc.layers.base import DimError

    with pytest.raises(DimError, match=r"^S=s: decides the structure"):
        analyze_layer(type_name, given)


# ----------------------------------------------------------------------------------------------
# Seed formulas, symbolically


SEED_MACS = [
    ("conv", H * W * N * K**2 * M),
    ("pointwise", H * W * N * M),
    ("grouped", H * W * N * K**2 * M / G),
    ("depthwise", H * W * N * K**2),
    ("separable", H * W * N * (K**2 + M)),
    ("channel_shuffle", 0),
    ("fc", H * W * N * M),
    ("batchnorm", 0),
    ("add", 0),
    ("bottleneck", H * W * (2 * N * B + K**2 * B**2)),  # N = M (unit default)
    ("resnext", H * W * (2 * N * B + K**2 * B**2 / G)),
    ("shufflenet_unit", H * W * (2 * N * B / G + K**2 * B)),
    ("inverted_residual", H * W * N * T * (N + K**2 + N)),
    ("basic", 2 * H * W * K**2 * N * N),
    ("shufflenet_v2_unit", H * W * ((N / 2) ** 2 * 2 + (N / 2) * K**2)),
]


@pytest.mark.parametrize("type_name,expected", SEED_MACS, ids=[t for t, _ in SEED_MACS])
def test_seed_formula(type_name: str, expected: Any) -> None:
    r = analyze_layer(type_name, {})
    assert sympy.simplify(r.formula.macs - expected) == 0


SEED_PARAMS = [
    ("conv", N * K**2 * M),
    ("pointwise", N * M),
    ("grouped", N * K**2 * M / G),
    ("depthwise", N * K**2),
    ("separable", N * K**2 + N * M),
    ("fc", H * W * N * M + M),
    ("batchnorm", 2 * N),
    ("channel_shuffle", 0),
]


@pytest.mark.parametrize("type_name,expected", SEED_PARAMS, ids=[t for t, _ in SEED_PARAMS])
def test_seed_params(type_name: str, expected: Any) -> None:
    r = analyze_layer(type_name, {})
    assert sympy.simplify(r.formula.params - expected) == 0


RATIOS = [
    ("separable", 1 / M + 1 / K**2),
    ("grouped", 1 / G),
    ("pointwise", 1 / K**2),
    ("depthwise", 1 / M),
    ("conv", 1),
]


@pytest.mark.parametrize("type_name,expected", RATIOS, ids=[t for t, _ in RATIOS])
def test_seed_ratio(type_name: str, expected: Any) -> None:
    r = analyze_layer(type_name, {})
    assert sympy.simplify(r.ratio_formula - expected) == 0
    assert sympy.simplify(r.ratio_expanded - expected) == 0


def test_separable_ratio_expanded_form() -> None:
    """The expanded ratio is literally the sum 1/M + 1/K² (the MobileNet paper's form)."""
    r = analyze_layer("separable", {})
    assert sympy.expand(r.ratio_expanded) == r.ratio_expanded
    assert set(sympy.Add.make_args(r.ratio_expanded)) == {1 / M, K**-2}


def test_formula_out_shape_symbolic_stride() -> None:
    r = analyze_layer("conv", {"S": 2})
    assert tuple(r.formula_out_shape) == (H / 2, W / 2, M)


# ----------------------------------------------------------------------------------------------
# Formula at the numbers == numeric value (through analyze_layer, the command's path)

FORMULA_AT_NUMBERS = [
    ("conv", {"H": 56, "N": 64, "M": 128, "K": 3}),
    ("conv", {"H": 56, "N": 64, "M": 128, "K": 5, "S": 2}),
    ("grouped", {"H": 28, "N": 240, "M": 240, "G": 3}),
    ("depthwise", {"H": 112, "N": 32, "S": 2}),
    ("separable", {"H": 14, "N": 512, "M": 512}),
    ("fc", {"H": 7, "N": 1024, "M": 1000}),
    ("bottleneck", {"H": 56, "N": 256, "B": 64}),
    ("bottleneck", {"H": 56, "N": 256, "M": 512, "B": 128, "S": 2}),
    # a given M equal to N is the repeated unit: identity shortcut in the formula too
    ("bottleneck", {"H": 56, "N": 256, "M": 256, "B": 64}),
    ("inverted_residual", {"H": 56, "N": 24, "M": 24, "T": 6}),
    ("resnext", {"H": 56, "N": 256, "B": 128, "G": 32}),
    ("basic", {"H": 56, "N": 64, "M": 128, "S": 2}),
    ("shufflenet_unit", {"H": 28, "N": 240, "G": 3, "B": 60}),
    ("shufflenet_unit", {"H": 28, "N": 240, "M": 240, "G": 3, "B": 60}),
    ("shufflenet_unit", {"H": 56, "N": 24, "M": 240, "G": 3, "B": 60, "S": 2}),
    ("inverted_residual", {"H": 56, "N": 24, "T": 6}),
    ("inverted_residual", {"H": 112, "N": 16, "M": 24, "T": 6, "S": 2}),
    ("shufflenet_v2_unit", {"H": 28, "N": 116}),
    ("shufflenet_v2_unit", {"H": 28, "N": 116, "M": 116}),
    ("shufflenet_v2_unit", {"H": 56, "N": 24, "M": 116, "S": 2}),
]


@pytest.mark.parametrize("type_name,given", FORMULA_AT_NUMBERS)
def test_formula_at_numbers_equals_value(type_name: str, given: dict[str, int]) -> None:
    r = analyze_layer(type_name, given)
    subs = {symbol(k): v for k, v in r.dims.items() if isinstance(v, int) and not isinstance(v, bool)}
    for f in COST_FIELDS:
        fv = sympy.sympify(getattr(r.formula, f)).subs(subs)
        assert sympy.simplify(fv - getattr(r.cost, f)) == 0, f


# ----------------------------------------------------------------------------------------------
# Hypothesis properties

_divisor_pairs = st.sampled_from([1, 2, 4, 8])
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(h=st.integers(1, 40), w=st.integers(1, 40), k=st.sampled_from([1, 3, 5]),
       s=st.integers(1, 3), g=_divisor_pairs, a=st.integers(1, 4), b=st.integers(1, 4))
def test_grouped_is_standard_over_g(h: int, w: int, k: int, s: int, g: int, a: int, b: int) -> None:
    n, m = g * a, g * b
    x = (Shape(h, w, n),)
    _, std, _ = evaluate(get_type("conv").make(M=m, K=k, S=s), x)
    _, grp, _ = evaluate(get_type("grouped").make(M=m, K=k, S=s, G=g), x)
    assert grp.macs * g == std.macs
    assert grp.params * g == std.params


@FAST
@given(h=st.integers(3, 40), n=st.integers(1, 64), k=st.sampled_from([1, 3, 5]), s=st.integers(1, 2))
def test_depthwise_is_grouped_with_g_n(h: int, n: int, k: int, s: int) -> None:
    x = (Shape(h, h, n),)
    out_d, dw, _ = evaluate(get_type("depthwise").make(K=k, S=s), x)
    out_g, gr, _ = evaluate(get_type("grouped").make(M=n, G=n, K=k, S=s), x)
    assert out_d == out_g
    assert dw == gr
    assert dw.macs == out_d.h * out_d.w * n * k * k


@FAST
@given(h=st.integers(3, 40), n=st.integers(1, 64), m=st.integers(1, 64), k=st.sampled_from([1, 3, 5]),
       s=st.integers(1, 2))
def test_separable_is_depthwise_plus_pointwise(h: int, n: int, m: int, k: int, s: int) -> None:
    # Consistency check, not evidence: separable is built from these very depthwise and pointwise
    # layers, so sep == dw + pw holds by construction. The evidence is the closed form below, the
    # numeric cases above and the PyTorch references in test_references.py.
    x = (Shape(h, h, n),)
    _, sep, _ = evaluate(get_type("separable").make(M=m, K=k, S=s), x)
    y, dw, _ = evaluate(get_type("depthwise").make(K=k, S=s), x)
    _, pw, _ = evaluate(get_type("pointwise").make(M=m), (y,))
    assert sep.macs == dw.macs + pw.macs
    assert sep.params == dw.params + pw.params
    assert sep == dw + pw
    ho = (h + 2 * (k // 2) - k) // s + 1  # PyTorch's output size with padding K//2
    assert (sep.macs, sep.params) == (ho * ho * n * (k * k + m), n * (k * k + m))  # H′·W′·N·(K² + M)


_BLOCKS = st.sampled_from([
    ("separable", lambda c: dict(M=2 * c, bn=True, act="relu6")),
    ("bottleneck", lambda c: dict(M=4 * c)),
    ("bottleneck", lambda c: dict(M=4 * c, S=2, stride_on="3x3")),
    ("resnext", lambda c: dict(B=4 * c, G=4)),
    ("basic", lambda c: dict(M=2 * c, S=2)),
    ("shufflenet_unit", lambda c: dict(G=2, B=2 * c)),
    ("shufflenet_unit", lambda c: dict(G=2, M=8 * c, S=2)),
    ("inverted_residual", lambda c: dict(T=6)),
    ("inverted_residual", lambda c: dict(T=1, M=c + 1, S=2)),
    ("shufflenet_v2_unit", lambda c: dict()),
    ("shufflenet_v2_unit", lambda c: dict(M=4 * c, S=2)),
    ("conv", lambda c: dict(M=c, bn=True, act="hardswish")),
])


@FAST
@given(blk=_BLOCKS, h=st.integers(4, 30), c=st.integers(1, 8))
def test_block_rows_sum_to_total(blk: Any, h: int, c: int) -> None:
    # Consistency check, not evidence: a block's row is the sum of its children by construction.
    # The evidence for each block is its numeric case above (per child, closed form) and the
    # hand-written PyTorch modules of test_references.py and test_verify.py.
    name, make = blk
    x = (Shape(h, h, 4 * c),)
    _, cost, rows = evaluate(get_type(name).make(**make(c)), x)
    assert not rows[0].leaf and rows[0].cost == cost
    leaves = [r for r in rows if r.leaf]
    assert len(leaves) == len(rows) - 1
    for f in COST_FIELDS:
        assert sum(getattr(r.cost, f) for r in leaves) == getattr(cost, f), f


@FAST
@given(blk=_BLOCKS, q=st.integers(1, 8), c=st.integers(1, 8))
def test_symbolic_rules_at_numbers_equal_numeric(blk: Any, q: int, c: int) -> None:
    """One rule, two worlds: the same layer evaluated on symbols H, W, N then substituted equals
    the numeric evaluation (H, W divisible by the stride)."""
    name, make = blk
    fields_ = make(c)
    h, w = 4 * q, 2 * q  # divisible by any stride used (1, 2)
    n = 4 * c
    layer = get_type(name).make(**fields_)
    _, num, _ = evaluate(layer, (Shape(h, w, n),))
    try:
        _, sym, _ = evaluate(layer, (Shape(H, W, N),))
    except DimError:  # structure that needs numeric N (e.g. M=4c with symbolic N): symbols H, W only
        _, sym, _ = evaluate(layer, (Shape(H, W, n),))
    for f in COST_FIELDS:
        assert sympy.sympify(getattr(sym, f)).subs({H: h, W: w, N: n}) == getattr(num, f), f


def _torch_out(size: int, k: int, s: int, p: int, d: int) -> int:
    # torch.nn.Conv2d docs: floor((H + 2P - D(K-1) - 1)/S + 1)
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@settings(max_examples=100, deadline=None)
@given(h=st.integers(1, 64), w=st.integers(1, 64), k=st.integers(1, 7), s=st.integers(1, 4),
       p=st.integers(0, 3), d=st.integers(1, 3))
def test_conv_out_shape_matches_pytorch(h: int, w: int, k: int, s: int, p: int, d: int) -> None:
    span = d * (k - 1) + 1
    layer = get_type("conv").make(M=5, K=k, S=s, P=p, D=d)
    if span > h + 2 * p or span > w + 2 * p:
        from costcalc.layers import DimError

        with pytest.raises(DimError):
            evaluate(layer, (Shape(h, w, 3),))
        return
    out, cost, _ = evaluate(layer, (Shape(h, w, 3),))
    ho, wo = _torch_out(h, k, s, p, d), _torch_out(w, k, s, p, d)
    assert tuple(out) == (ho, wo, 5)
    assert cost.macs == ho * wo * 5 * k * k * 3


@settings(max_examples=50, deadline=None)
@given(h=st.integers(1, 64), k=st.integers(1, 5), s=st.integers(1, 4), d=st.integers(1, 3))
def test_conv_same_padding_out_shape(h: int, k: int, s: int, d: int) -> None:
    """Default padding is D(K-1)//2; the output follows PyTorch's arithmetic with that padding."""
    p = d * (k - 1) // 2
    if d * (k - 1) + 1 > h + 2 * p:
        return
    out, _, _ = evaluate(get_type("conv").make(M=2, K=k, S=s, D=d), (Shape(h, h, 2),))
    assert out.h == _torch_out(h, k, s, p, d)


@settings(max_examples=50, deadline=None)
@given(h=st.integers(1, 64), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 2))
def test_pool_out_shape_matches_pytorch(h: int, k: int, s: int, p: int) -> None:
    if k > h + 2 * p or 2 * p > k:
        return
    out, cost, _ = evaluate(get_type("maxpool").make(K=k, S=s, P=p), (Shape(h, h, 3),))
    ho = _torch_out(h, k, s, p, 1)
    assert tuple(out) == (ho, ho, 3)
    assert cost.comparisons == ho * ho * 3 * (k * k - 1)


# ----------------------------------------------------------------------------------------------
# The numeric path does not import sympy


def test_numeric_path_imports_no_sympy() -> None:
    code = ("import sys; from costcalc.layers import get_type; from costcalc.engine import evaluate; "
            "from costcalc.cost import Shape; "
            "o, c, r = evaluate(get_type('bottleneck').make(M=256, B=64), (Shape(56,56,256),)); "
            "evaluate(get_type('shufflenet_v2_unit').make(M=116, S=2), (Shape(56,56,24),)); "
            "evaluate(get_type('conv').make(M=8, G=2, bn=True, act='relu'), (Shape(8,8,4),)); "
            "assert c.macs == 56*56*256*64 + 56*56*64*9*64 + 56*56*64*256, c.macs; "
            "assert 'sympy' not in sys.modules, 'sympy imported'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


# ----------------------------------------------------------------------------------------------
# Validation at the layer level


@pytest.mark.parametrize("type_name,fields_,inp,field_name", [
    ("conv", dict(M=64, G=3), (56, 56, 64), "G"),
    ("conv", dict(M=100, G=8), (56, 56, 64), "G"),
    ("conv", dict(M=8, K=7, P=0), (3, 3, 4), "K"),
    ("channel_shuffle", dict(G=3), (8, 8, 64), "G"),
    ("channel_split", dict(), (8, 8, 7), "N"),
    ("maxpool", dict(K=3, P=2), (8, 8, 4), "P"),
    ("shufflenet_unit", dict(G=3, M=480), (28, 28, 240), "M"),
    ("shufflenet_unit", dict(G=3, M=24, S=2), (56, 56, 24), "M"),
    ("shufflenet_v2_unit", dict(M=117, S=2), (56, 56, 24), "M"),
    ("shufflenet_v2_unit", dict(M=232), (28, 28, 116), "M"),
    ("bottleneck", dict(M=30), (8, 8, 30), "B"),
])
def test_bad_dimensions(type_name: str, fields_: dict[str, Any], inp: tuple[int, int, int],
                        field_name: str) -> None:
    from costcalc.layers import DimError

    with pytest.raises(DimError) as ei:
        evaluate(get_type(type_name).make(**fields_), (Shape(*inp),))
    assert ei.value.field.split(".")[-1] == field_name


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "64"])
def test_non_positive_or_non_integer_dimension(value: Any) -> None:
    from costcalc.layers import DimError

    with pytest.raises(DimError):
        get_type("conv").make(M=value)


def test_stride1_unit_symbolic_channels() -> None:
    """A stride-1 ShuffleNet (V2) unit has M = N: independent symbols M and N take that
    constraint (formula in N); symbolic widths that provably differ are an error."""
    alpha = symbol("alpha")
    for name, extra in (("shufflenet_unit", dict(G=G, B=B)), ("shufflenet_v2_unit", {})):
        lt = get_type(name)
        _, with_m, _ = evaluate(lt.make(M=M, **extra), (Shape(H, W, N),))
        _, without, _ = evaluate(lt.make(**extra), (Shape(H, W, N),))
        assert with_m == without
        with pytest.raises(DimError):
            evaluate(lt.make(M=480 * alpha, **extra), (Shape(H, W, 240 * alpha),))
    r = analyze_layer("shufflenet_unit", {"H": 28, "N": 240, "M": 240, "G": 3, "B": 60})
    assert r.cost.macs == 28 * 28 * 60 * 80 + 28 * 28 * 60 * 9 + 28 * 28 * 240 * 20


# ----------------------------------------------------------------------------------------------
# PyTorch's own counters on hand-written equivalent modules (the counting contract's definition)


def _torch_counts(module: Any, h: int, w: int, c: int) -> tuple[int, int]:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        module(torch.zeros(1, c, h, w))
    return fc.get_total_flops() // 2, sum(p.numel() for p in module.parameters())


def _torch_cases() -> list[Any]:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Bottleneck(nn.Module):  # torchvision's, stride on the 3x3
        def __init__(self, n: int, b: int, m: int, s: int, g: int = 1) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(n, b, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
                nn.Conv2d(b, b, 3, s, 1, groups=g, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
                nn.Conv2d(b, m, 1, bias=False), nn.BatchNorm2d(m))
            self.down = (nn.Sequential(nn.Conv2d(n, m, 1, s, bias=False), nn.BatchNorm2d(m))
                         if (n != m or s != 1) else nn.Identity())

        def forward(self, x: Any) -> Any:
            return torch.relu(self.body(x) + self.down(x))

    def ir(n: int, m: int, t: int, s: int) -> Any:  # MobileNetV2, no residual in the count (no MACs)
        e = n * t
        return nn.Sequential(
            nn.Conv2d(n, e, 1, bias=False), nn.BatchNorm2d(e), nn.ReLU6(),
            nn.Conv2d(e, e, 3, s, 1, groups=e, bias=False), nn.BatchNorm2d(e), nn.ReLU6(),
            nn.Conv2d(e, m, 1, bias=False), nn.BatchNorm2d(m))

    return [
        ("bottleneck", dict(M=512, B=128, S=2, stride_on="3x3"), (56, 56, 256), Bottleneck(256, 128, 512, 2)),
        ("resnext", dict(B=128, G=32), (56, 56, 256), Bottleneck(256, 128, 256, 1, 32)),
        ("inverted_residual", dict(M=24, T=6, S=2), (112, 112, 16), ir(16, 24, 6, 2)),
        ("conv", dict(M=64, K=7, S=2, P=3, bias=True), (224, 224, 3), nn.Conv2d(3, 64, 7, 2, 3)),
        ("depthwise", dict(K=5, S=2), (28, 28, 40), nn.Conv2d(40, 40, 5, 2, 2, groups=40, bias=False)),
        ("grouped", dict(M=64, G=4, D=2), (20, 20, 32), nn.Conv2d(32, 64, 3, 1, 2, dilation=2, groups=4,
                                                                 bias=False)),
        ("fc", dict(M=1000), (7, 7, 64), nn.Sequential(nn.Flatten(), nn.Linear(7 * 7 * 64, 1000))),
        ("batchnorm", dict(), (8, 8, 64), nn.BatchNorm2d(64)),
    ]


def test_against_pytorch_counters() -> None:
    for name, fields_, (h, w, c), module in _torch_cases():
        macs, params = _torch_counts(module, h, w, c)
        _, cost, _ = evaluate(get_type(name).make(**fields_), (Shape(h, w, c),))
        assert (cost.macs, cost.params) == (macs, params), name


def test_to_sympy_never_parses_text() -> None:
    """All conversions to sympy go through num.to_sympy, which refuses strings (sympify on text
    evaluates it as code)."""
    import sympy

    from costcalc.num import to_sympy

    assert to_sympy(3) == 3 and to_sympy(Fraction(1, 2)) == sympy.Rational(1, 2)
    with pytest.raises(sympy.SympifyError):
        to_sympy("__import__('os').system('true')")
