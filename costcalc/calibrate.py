"""``costcalc calibrate``: measure this machine with PyTorch and write a device profile.

Microbenchmarks, all timed with :mod:`costcalc.measure` (one thread by default, pinned, warmed up,
interleaved rounds, thread CPU time; the median over rounds of per-round 10th percentiles, or of
per-round medians for the single-layer probes):

1. **peak**: square fp32 matrix products (``2n³`` FLOPs); the best rate over the sizes tried;
2. **bandwidth**: ``y.copy_(x)`` over array sizes from 256 KiB to 128 MiB (``2 × size`` bytes
   moved); ``cache`` is the best rate, ``dram`` the rate of the largest arrays, and ``cache_mb`` the
   bytes moved at which the rate falls to the geometric mean of the two;
3. **probes**: a fixed grid of single layers per op class (:func:`_probes`: spatial sizes 1–224,
   channel counts that are mostly powers of two plus a sweep around the SIMD widths, the kernels and
   strides networks use — a grid, not layers taken from any network). Each probe is timed as a layer inside a network would run: one call per
   sample, its input rewritten just before (as the layer before it would), the other probes run in
   between (so its weights are no longer in the nearest caches).

4. **dispatch**: the cost the framework adds between layers, per layer (a synthetic network of
   conv/BatchNorm/activation blocks timed whole, minus its layers timed inside it).

For each op class the model ``t = o + max(F/(P·e·S), B/(BW·f))`` (see :mod:`costcalc.latency`; S
holds the Hockney half-lengths and the vector width) is fitted to the probes by :func:`fit_class`: a
grid over the half-lengths, the vector width, the bandwidth efficiency ``f`` and the compute
efficiency ``e``, the overhead ``o ≥ 0`` by least squares on relative error at each point; the
simplest point within 2 % of the best fit wins. The profile records the machine (CPU model, cores, threads, PyTorch version,
load average before and after) and how well each class fits its probes.

PyTorch is needed (the ``[torch]`` extra); it is imported by :mod:`costcalc.measure`.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from costcalc.cost import Shape
from costcalc.devices import Device, OP_CLASSES
from costcalc.engine import Row, evaluate
from costcalc.latency import Op, half, op_of

#: matrix sizes for the peak (full, short)
PEAK_SIZES = {"full": (256, 512, 768), "short": (96, 128)}
#: copy sizes in MiB for the bandwidth curve (full, short)
COPY_MIB = {"full": (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128), "short": (0.25, 1, 4, 16)}
#: (rounds, reps) of the interleaved timing (full, short)
REPEATS = {"full": (9, 5), "short": (2, 2)}
#: how many times the dispatch cost is measured (its median is taken)
DISPATCH_REPEATS = {"full": 5, "short": 1}
#: half-length grids searched by the fit (the first value, 0, means "no such effect")
M_GRID = (0, 16, 49, 196, 784)
K_GRID = (0, 4, 16, 64)
N_GRID = (0, 4, 16, 64)
#: SIMD widths tried (1: channel counts are not padded)
V_GRID = (1, 4, 8, 16, 32)
#: the coarser grids of the short mode (a few probes cannot tell more apart)
SHORT_GRIDS = {"m": (0, 49), "k": (0, 16), "n": (0,), "v": (1, 16), "f": (0.5, 1.0)}
#: a fit within this factor of the best error is taken when it is simpler (smaller half-lengths)
SIMPLER_WITHIN = 1.02


def _conv(m: int, k: int = 1, s: int = 1, g: int = 1) -> Any:
    from costcalc.layers.conv import Conv

    return Conv(M=m, K=k, S=s, G=g)


def _dw(k: int = 3, s: int = 1) -> Any:
    from costcalc.layers.conv import Conv

    return Conv(K=k, S=s, depthwise=True)


def _probes(mode: str) -> list[tuple[Any, tuple[Shape, ...]]]:
    """(layer, input shapes) of every probe. Shapes are H×W×C with H = W."""
    from costcalc.layers.conv import FC
    from costcalc.layers.primitives import (
        Activation, Add, ChannelShuffle, ChannelSplit, Concat, PadShortcut, Pool)

    def sh(h: int, c: int) -> Shape:
        return Shape(h, h, c)

    one = lambda layer, h, c: (layer, (sh(h, c),))  # noqa: E731
    two = lambda layer, h, c, c2: (layer, (sh(h, c), sh(h, c2)))  # noqa: E731
    if mode == "short":
        return [
            one(_conv(16), 14, 16), one(_conv(8), 2, 8),
            one(_conv(16, 3), 14, 16), one(_conv(8, 3), 2, 8),
            one(_conv(32, 1, 1, 4), 14, 32), one(_conv(8, 1, 1, 2), 2, 8),
            one(_dw(), 14, 32), one(_dw(), 2, 8),
            one(FC(M=64), 1, 128), one(FC(M=8), 1, 8),
            one(Activation("relu"), 14, 32), two(Add(), 2, 8, 8),
            one(Pool(K=3, S=2, P=1), 14, 16), one(Pool(K=3, S=2, P=1, mode="avg"), 14, 16),
            one(Pool(glob=True, mode="avg"), 2, 8),
            two(Concat(), 14, 16, 16), one(ChannelShuffle(2), 2, 8),
        ]
    probes = []
    # 1×1 convs: channels in, channels out (powers of two), spatial size
    for h, n, m in ((112, 16, 32), (112, 32, 16), (56, 32, 128), (56, 128, 32), (56, 64, 64), (28, 64, 256),
                    (28, 256, 64), (28, 128, 128), (14, 128, 512), (14, 512, 128), (14, 256, 256), (7, 256, 1024),
                    (7, 1024, 256), (7, 512, 512), (56, 8, 8), (28, 16, 16), (14, 32, 32), (7, 64, 64), (2, 8, 8),
                    (1, 16, 16)):
        probes.append(one(_conv(m), h, n))
    for n in (8, 32, 128, 512):  # a sweep of the reduction length k = N at 28×28, 128 outputs
        probes.append(one(_conv(128), 28, n))
    for m in (8, 32, 512):  # a sweep of the output channels n = M at 28×28, 128 inputs
        probes.append(one(_conv(m), 28, 128))
    for c in (80, 88, 96, 100, 104, 112, 120, 124, 128, 136):  # channel counts around the SIMD widths
        probes.append(one(_conv(c), 28, c))
    for h, n, m in ((56, 64, 128), (28, 256, 512), (14, 512, 1024)):  # strided 1×1 (projection shortcuts)
        probes.append(one(_conv(m, 1, 2), h, n))
    # dense K×K convs
    for h, n, m, k, s in ((224, 4, 32, 3, 2), (224, 4, 64, 7, 2), (112, 16, 16, 3, 1), (56, 64, 64, 3, 1),
                          (28, 128, 128, 3, 1), (14, 256, 256, 3, 1), (7, 512, 512, 3, 1), (56, 32, 64, 3, 2),
                          (28, 64, 128, 3, 2), (14, 128, 256, 3, 2), (56, 16, 32, 3, 1), (28, 8, 8, 3, 1),
                          (28, 64, 64, 5, 1), (4, 8, 8, 3, 1), (2, 8, 8, 3, 1), (28, 40, 40, 3, 1), (28, 44, 44, 3, 1),
                          (28, 48, 48, 3, 1), (28, 56, 56, 3, 1)):
        probes.append(one(_conv(m, k, s), h, n))
    # depthwise
    for h, c, k, s in ((112, 32, 3, 1), (112, 64, 3, 2), (56, 64, 3, 1), (56, 128, 3, 2), (28, 128, 3, 1),
                       (28, 256, 3, 2), (14, 256, 3, 1), (14, 512, 3, 1), (7, 512, 3, 1), (7, 1024, 3, 1),
                       (56, 16, 3, 1), (28, 32, 3, 1), (28, 64, 5, 1), (14, 128, 5, 1), (7, 256, 5, 1),
                       (14, 512, 5, 2), (4, 8, 3, 1), (2, 8, 3, 1)):
        probes.append(one(_dw(k, s), h, c))
    # grouped: 1×1 with 2–8 groups (ShuffleNet), 3×3 with many (ResNeXt, RegNet); sweeps of the groups
    # at a fixed channel count (k = N/G shrinks)
    for g in (2, 4, 8, 16, 32):
        probes.append(one(_conv(256, 1, 1, g), 28, 256))
    for g in (2, 8, 32):
        probes.append(one(_conv(128, 3, 1, g), 28, 128))
    for h, c, k, g, s in ((56, 64, 1, 2, 1), (28, 128, 1, 4, 1), (28, 256, 1, 8, 1), (14, 256, 1, 4, 1),
                          (14, 512, 1, 8, 1), (56, 32, 1, 8, 1), (7, 512, 1, 2, 1), (56, 128, 3, 32, 1),
                          (28, 256, 3, 32, 1), (14, 512, 3, 32, 1), (28, 64, 3, 4, 1), (14, 128, 3, 8, 1),
                          (7, 256, 3, 16, 1), (56, 128, 3, 8, 2), (2, 8, 1, 2, 1), (2, 16, 3, 4, 1)):
        probes.append(one(_conv(c, k, s, g), h, c))
    # fully connected
    for n, m in ((256, 1024), (512, 1024), (1024, 1024), (2048, 1024), (4096, 256), (128, 16), (8, 8)):
        probes.append(one(FC(M=m), 1, n))
    probes.append(one(FC(M=1024), 2, 256))
    # elementwise: activations and residual adds (BatchNorm is folded into the conv before it)
    for h, c in ((112, 64), (56, 128), (28, 256), (14, 512), (7, 1024), (2, 8)):
        probes.append(one(Activation("relu"), h, c))
    for kind, h, c in (("relu6", 56, 64), ("hardswish", 28, 64), ("sigmoid", 14, 128), ("silu", 28, 64),
                       ("relu6", 2, 16)):
        probes.append(one(Activation(kind), h, c))
    for h, c in ((56, 64), (28, 128), (14, 256), (7, 512), (112, 32), (2, 8)):
        probes.append(two(Add(), h, c, c))
    # pooling
    for mode in ("max", "avg"):
        for h, c, k, s, p in ((112, 64, 3, 2, 1), (56, 32, 3, 2, 1), (56, 128, 3, 2, 1), (28, 128, 2, 2, 0),
                              (14, 256, 3, 1, 1), (4, 8, 3, 2, 1)):
            probes.append(one(Pool(K=k, S=s, P=p, mode=mode), h, c))
    for h, c in ((7, 1024), (7, 512), (14, 256), (7, 2048), (2, 8)):
        probes.append(one(Pool(glob=True, mode="avg"), h, c))
    # memory-only: concat, shuffle, split, zero-padding shortcut
    for h, c in ((28, 64), (56, 32), (14, 256), (7, 512), (2, 8)):
        probes.append(two(Concat(), h, c, c))
    for h, c, g in ((28, 128, 2), (56, 64, 4), (14, 512, 2), (28, 256, 8), (2, 8, 2)):
        probes.append(one(ChannelShuffle(g), h, c))
    for h, c in ((28, 128), (2, 8)):
        probes.append(one(ChannelSplit(), h, c))
    for h, c, m in ((56, 64, 128), (28, 128, 256)):
        probes.append(one(PadShortcut(M=m, S=2), h, c))
    return probes


@dataclass(frozen=True)
class ProbeResult:
    row: Row
    op: Op
    seconds: float


@dataclass(frozen=True)
class ClassFit:
    """The fitted constants of one op class and how well they reproduce its probes."""

    op_class: str
    efficiency: float
    bandwidth_efficiency: float
    overhead_s: float
    m_half: float
    k_half: float
    n_half: float
    lanes: int
    probes: int
    median_error: float  # median |fit/measured − 1|
    max_error: float


def _rows_for(layer: Any, inputs: tuple[Shape, ...]) -> Row:
    _, _, rows = evaluate(layer, inputs, layer.type_name)
    leaves = [r for r in rows if r.leaf]
    assert len(leaves) == 1, "probes are single layers"
    return leaves[0]


def measure_peak(sizes: Sequence[int], rounds: int, reps: int) -> float:
    """FLOP/s of the best square fp32 matrix product among ``sizes``."""
    import torch

    from costcalc.measure import time_interleaved

    mats = [(torch.randn(n, n), torch.randn(n, n)) for n in sizes]
    fns = [(lambda a=a, b=b: torch.mm(a, b)) for a, b in mats]
    ts = time_interleaved(fns, rounds=rounds, reps=reps)
    return max(2 * n ** 3 / t.seconds for n, t in zip(sizes, ts))


def measure_bandwidth(mib: Sequence[float], rounds: int, reps: int) -> list[tuple[float, float]]:
    """(bytes moved, bytes/s) of ``y.copy_(x)`` for arrays of each size (2 × size bytes moved)."""
    import torch

    from costcalc.measure import time_interleaved

    arrays = []
    for s in mib:
        n = int(s * 1024 * 1024 / 4)
        arrays.append((torch.randn(n), torch.empty(n)))
    fns = [(lambda x=x, y=y: y.copy_(x)) for x, y in arrays]
    ts = time_interleaved(fns, rounds=rounds, reps=reps)
    return [(2 * x.numel() * 4, 2 * x.numel() * 4 / t.seconds) for (x, _), t in zip(arrays, ts)]


def bandwidth_levels(curve: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """(cache bytes/s, DRAM bytes/s, cache bytes) from a copy curve (bytes moved, rate), sizes ascending:
    cache = the best rate, DRAM = the mean of the two largest sizes' rates, the cache size = where the
    rate crosses the geometric mean of the two (log-log interpolation between the points around it)."""
    pts = sorted(curve)
    cache = max(r for _, r in pts)
    tail = [r for _, r in pts[-2:]]
    dram = min(sum(tail) / len(tail), cache)
    mid = math.sqrt(cache * dram)
    size = pts[-1][0]
    best_at = max(range(len(pts)), key=lambda i: pts[i][1])
    for i in range(best_at, len(pts) - 1):
        (s0, r0), (s1, r1) = pts[i], pts[i + 1]
        if r0 >= mid > r1:
            f = (math.log(r0) - math.log(mid)) / (math.log(r0) - math.log(r1))
            size = math.exp(math.log(s0) + f * (math.log(s1) - math.log(s0)))
            break
    return cache, dram, size


def time_probes(probes: Sequence[tuple[Any, tuple[Shape, ...]]], rounds: int, reps: int,
                dtype_bytes: int = 4) -> list[ProbeResult]:
    """Time every probe as a layer inside a network (see the module docstring)."""
    import torch

    from costcalc.measure import LAYER_QUANTILE, time_interleaved
    from costcalc.torch_build import to_torch

    fns: list[Callable[[], Any]] = []
    setups: list[Callable[[], Any]] = []
    rows = []
    torch.manual_seed(0)
    for layer, inputs in probes:
        row = _rows_for(layer, inputs)
        mod = to_torch(layer, *inputs, path=layer.type_name).eval()
        xs = [torch.randn(1, s.c, s.h, s.w) for s in inputs]
        srcs = [torch.randn_like(x) for x in xs]
        fns.append(lambda mod=mod, xs=xs: mod(*xs))
        setups.append(lambda xs=xs, srcs=srcs: [x.copy_(s) for x, s in zip(xs, srcs)])
        rows.append(row)
    ts = time_interleaved(fns, rounds=rounds, reps=reps, setups=setups, quantile=LAYER_QUANTILE)
    return [ProbeResult(r, op_of(r, dtype_bytes), t.seconds) for r, t in zip(rows, ts)]


def _times_at_peak(op: Op, peak: float, cache_bw: float, dram_bw: float, cache_bytes: float) -> tuple[float, float]:
    """(F / P, B / BW): the op's compute and memory times at full efficiency."""
    bw = cache_bw if op.bytes <= cache_bytes else dram_bw
    return op.flops / peak, op.bytes / bw


#: compute efficiencies tried by the fit (log-spaced, then refined), and bandwidth efficiencies
E_GRID = tuple(0.002 * 1.21 ** i for i in range(41))  # 0.002 … 4.1
F_GRID = (0.25, 0.35, 0.5, 0.7, 1.0)


def _fit_o(g: Sequence[float], t: Sequence[float]) -> tuple[float, float]:
    """The overhead o ≥ 0 minimising Σ ((t − o − g)/t)², and that error.

    With r = 1 − g/t and u = 1/t the error is Σ (r − o·u)², least at o = Σ r·u / Σ u²."""
    r = [1 - gi / ti for gi, ti in zip(g, t)]
    u = [1 / ti for ti in t]
    o = max(0.0, sum(ri * ui for ri, ui in zip(r, u)) / sum(ui * ui for ui in u))
    return o, sum((ri - o * ui) ** 2 for ri, ui in zip(r, u))


def _refine_e(a: Sequence[float], c: Sequence[float], t: Sequence[float], e: float, step: float) -> float:
    """Golden-section search of the compute efficiency on a log scale within [e/step, e·step]."""
    lo, hi = math.log(e / step), math.log(e * step)
    g = (math.sqrt(5) - 1) / 2
    for _ in range(30):
        x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
        e1 = _fit_o([max(ai / math.exp(x1), ci) for ai, ci in zip(a, c)], t)[1]
        e2 = _fit_o([max(ai / math.exp(x2), ci) for ai, ci in zip(a, c)], t)[1]
        if e1 < e2:
            hi = x2
        else:
            lo = x1
    return math.exp((lo + hi) / 2)


def fit_class(name: str, results: Sequence[ProbeResult], peak: float, cache_bw: float, dram_bw: float,
              cache_bytes: float, short: bool = False) -> ClassFit:
    """Fit ``t = o + max(F/(P·e·S), B/(BW·f))`` to one class's probes, S the shape factor
    (:func:`costcalc.latency.shape_factor`: half-lengths m½, k½, n½ and vector lanes v). Every point of
    the grid (m½, k½, n½, v, f, e) is tried at once (with PyTorch's tensors), the overhead o ≥ 0 by
    weighted least squares at each; the simplest (m½, k½, n½, v, f) within 2 % of the best error wins
    (smallest half-lengths, fewest lanes, f nearest 1), then e is refined by golden-section search."""
    import itertools

    import torch

    from costcalc.latency import median, shape_factor

    results = [r for r in results if r.seconds > 0]
    t = [r.seconds for r in results]
    base = [_times_at_peak(r.op, peak, cache_bw, dram_bw, cache_bytes) for r in results]
    shaped = any(r.op.k is not None for r in results)  # classes with weights: matrix products, depthwise
    computes = any(a > 0 for a, _ in base)
    grids = SHORT_GRIDS if short else {"m": M_GRID, "k": K_GRID, "n": N_GRID, "v": V_GRID, "f": F_GRID}
    axes = [grids[x] if shaped else (0,) for x in "mkn"] + [grids["v"] if shaped else (1,)]
    combos = list(itertools.product(*axes))
    e_grid = (E_GRID[::4] if short else E_GRID) if computes else (1.0,)
    dt = torch.float64
    tt = torch.tensor(t, dtype=dt)
    a0 = torch.tensor([ab[0] for ab in base], dtype=dt)
    c0 = torch.tensor([ab[1] for ab in base], dtype=dt)
    shape = torch.tensor([[shape_factor(r.op, *combo) for r in results] for combo in combos], dtype=dt)  # [C, P]
    fs = torch.tensor(grids["f"], dtype=dt)
    es = torch.tensor(e_grid, dtype=dt)
    comp = (a0 / shape)[:, None, None, :] / es[None, None, :, None]  # [C, 1, E, P]
    mem = (c0[None, :] / fs[:, None])[None, :, None, :]  # [1, F, 1, P]
    g = torch.maximum(comp, mem)  # [C, F, E, P]
    r = 1 - g / tt
    u = 1 / tt
    o = ((r * u).sum(-1) / (u * u).sum()).clamp(min=0)  # [C, F, E]
    err = ((r - o[..., None] * u) ** 2).sum(-1)
    best_e = err.min(dim=2)  # over e: [C, F]
    lowest = float(best_e.values.min())
    candidates = [(ci, fi) for ci in range(len(combos)) for fi in range(len(grids["f"]))
                  if float(best_e.values[ci, fi]) <= lowest * SIMPLER_WITHIN + 1e-15]
    ci, fi = min(candidates, key=lambda cf: (sum(combos[cf[0]][:3]), combos[cf[0]][3],
                                              abs(math.log(grids["f"][cf[1]]))))
    mh, kh, nh, v = combos[ci]
    f = grids["f"][fi]
    e = float(es[int(best_e.indices[ci, fi])])
    a = [ab[0] / shape_factor(rr.op, mh, kh, nh, v) for ab, rr in zip(base, results)]
    c = [ab[1] / f for ab in base]
    if computes:
        from costcalc.devices import MAX_EFFICIENCY

        e = min(_refine_e(a, c, t, e, E_GRID[4] / E_GRID[0] if short else E_GRID[1] / E_GRID[0]), MAX_EFFICIENCY)
    o_, _ = _fit_o([max(ai / e, ci_) for ai, ci_ in zip(a, c)], t)
    fitted = [o_ + max(ai / e, ci_) for ai, ci_ in zip(a, c)]
    errs = [abs(p / ti - 1) for p, ti in zip(fitted, t)]
    return ClassFit(name, e, f, o_, float(mh), float(kh), float(nh), int(v), len(results), median(errs), max(errs))


def dispatch_network(blocks: int = 16) -> tuple[Any, Shape]:
    """A synthetic network (no network of the evaluation): ``blocks`` blocks of 1×1 conv, BatchNorm,
    ReLU, depthwise 3×3, BatchNorm, ReLU6 on a 28×28×64 tensor, as nested blocks the way the PyTorch
    builder nests a spec's layers."""
    from costcalc.layers.primitives import Activation, BatchNorm, Sequential

    block = Sequential((("pw", _conv(64)), ("bn", BatchNorm()), ("relu", Activation("relu")), ("dw", _dw()),
                        ("dw_bn", BatchNorm()), ("dw_relu6", Activation("relu6"))))
    return Sequential(tuple((f"b{i}", block) for i in range(blocks))), Shape(28, 28, 64)


def measure_dispatch(rounds: int, reps: int) -> float:
    """Seconds the framework spends between layers, per layer that runs: the synthetic
    :func:`dispatch_network` timed whole, minus its layers timed inside it (costcalc.measure's hooks),
    over its layers (the folded BatchNorms' empty calls included in the cost of the others). Measured
    in a network, with the caches its layers leave, because the interpreter's and the dispatcher's own
    state is as cold there as the data."""
    import torch

    from costcalc.engine import evaluate
    from costcalc.measure import fold_batchnorm, time_interleaved, time_layers_in_network
    from costcalc.torch_build import to_torch

    net, x_shape = dispatch_network()
    _, _, rows = evaluate(net, (x_shape,), "net")
    leaves = [r.path for r in rows if r.leaf]
    torch.manual_seed(0)
    model = to_torch(net, x_shape, path="net").eval()
    folded = set(fold_batchnorm(model))
    running = [p for p in leaves if p not in folded]
    x = torch.randn(1, x_shape.c, x_shape.h, x_shape.w)
    whole = time_interleaved([lambda: model(x)], rounds=rounds, reps=reps)[0].seconds
    spans = time_layers_in_network(model, x, running, rounds=rounds, reps=reps)
    return max(0.0, (whole - sum(t.seconds for t in spans.values())) / len(running))


@dataclass
class Calibration:
    """Everything calibrate measured, and the profile it makes."""

    peak: float
    curve: list[tuple[float, float]]
    cache_bw: float
    dram_bw: float
    cache_bytes: float
    fits: dict[str, ClassFit]
    dispatch_s: float
    probes: list[ProbeResult]
    conditions: Any
    mode: str

    def profile(self) -> dict[str, Any]:
        """The device profile document (as :func:`costcalc.devices.parse_device` reads it)."""
        c = self.conditions
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        r3 = lambda v: float(f"{v:.3g}")  # noqa: E731
        return {
            "name": f"{c.cpu}, {c.threads} thread{'s' if c.threads != 1 else ''}, PyTorch {c.torch} (calibrated)",
            "source": (f"costcalc calibrate ({self.mode} mode) on {date}: peak = best fp32 matrix product, "
                       f"bandwidth = tensor copy, efficiencies and overheads fitted to {len(self.probes)} "
                       "single-layer probes timed as layers inside a network"),
            "dtype": "fp32",
            "peak_gflops": {"fp32": r3(self.peak / 1e9)},
            "bandwidth_gbs": {"dram": r3(self.dram_bw / 1e9), "cache": r3(self.cache_bw / 1e9)},
            "cache_mb": r3(self.cache_bytes / 1e6),
            "overhead_us": {k: r3(f.overhead_s * 1e6) for k, f in self.fits.items()},
            "dispatch_us": r3(self.dispatch_s * 1e6),
            "efficiency": {k: r3(f.efficiency) for k, f in self.fits.items()},
            "bandwidth_efficiency": {k: f.bandwidth_efficiency for k, f in self.fits.items()},
            "half_lengths": {k: {"m": f.m_half, "k": f.k_half, "n": f.n_half} for k, f in self.fits.items()
                             if f.m_half or f.k_half or f.n_half},
            "lanes": {k: f.lanes for k, f in self.fits.items() if f.lanes > 1},
            # PyTorch's eager mode runs every activation as its own op; BatchNorm is folded by
            # `costcalc latency --measure` as runtimes do
            "fuse": ["batchnorm"],
            "machine": {
                **c.as_dict(),
                "date": date,
                "mode": self.mode,
                "copy_curve_gbs": {f"{b / 2 ** 20:g} MiB moved": r3(r / 1e9) for b, r in self.curve},
                "fit": {k: {"probes": f.probes, "median_error_pct": round(100 * f.median_error, 1),
                            "max_error_pct": round(100 * f.max_error, 1)} for k, f in self.fits.items()},
            },
        }


def calibrate(mode: str = "full", threads: int = 1, pin: int | bool | None = True,
              progress: Callable[[str], None] | None = None) -> Calibration:
    """Run every microbenchmark (``mode``: ``full`` ≈ a minute, ``short`` a few seconds for tests)."""
    from costcalc.measure import quiet_process

    say = progress or (lambda s: None)
    rounds, reps = REPEATS[mode]
    with quiet_process(threads, pin) as cond:
        say("peak: matrix products")
        peak = measure_peak(PEAK_SIZES[mode], rounds, reps)
        say("bandwidth: copies")
        curve = measure_bandwidth(COPY_MIB[mode], rounds, reps)
        cache_bw, dram_bw, cache_bytes = bandwidth_levels(curve)
        probes = _probes(mode)
        say(f"probes: {len(probes)} layers")
        results = time_probes(probes, rounds, reps)
        say("dispatch: a synthetic network, whole and layer by layer")
        from costcalc.latency import median as _median

        # the difference of two timings: noisier than either, so the median of several
        dispatch = _median([measure_dispatch(rounds, reps) for _ in range(DISPATCH_REPEATS[mode])])
    by_class: dict[str, list[ProbeResult]] = {}
    for r in results:
        by_class.setdefault(r.op.op_class, []).append(r)
    fits = {k: fit_class(k, by_class[k], peak, cache_bw, dram_bw, cache_bytes, short=mode == "short")
            for k in OP_CLASSES if k in by_class}
    return Calibration(peak, curve, cache_bw, dram_bw, cache_bytes, fits, dispatch, results, cond, mode)


def device_of(cal: Calibration) -> Device:
    """The calibration as a :class:`Device` (through the same validation as a file)."""
    from costcalc.devices import device_yaml, parse_device

    return parse_device(device_yaml(cal.profile()), "<calibration>")


__all__ = ["calibrate", "Calibration", "ClassFit", "fit_class", "bandwidth_levels", "device_of"]
