"""Latency from counts: a roofline model per layer, summed over the network.

For each layer (a leaf row of :func:`costcalc.network.evaluate_network`):

- ``F`` = arithmetic operations: 2·MACs + elementwise ops + comparisons (FLOPs in the hardware sense);
- ``B`` = bytes moved: the ``memory`` count (inputs read + outputs written + parameters) × dtype bytes;
- arithmetic intensity ``I = F / B``;
- the roofline (Williams, Waterman, Patterson, CACM 2009): attainable rate ``min(P, BW · I)`` with
  ``P`` the device's peak FLOP/s for the dtype and ``BW`` the bandwidth of the level that holds the
  layer's bytes (the cache when ``B`` fits in ``cache_mb``, else DRAM);
- efficiencies per op class (dense K×K conv, 1×1 conv, grouped, depthwise, fc, elementwise,
  average and max pooling, global pooling, memory-only): ``e`` of the peak and ``f`` of the bandwidth. The
  compute side follows Hockney's half-performance law (Hockney & Jesshope, *Parallel Computers*, 1981)
  in the layer's matrix-product dimensions: ``e · m/(m + m½) · k/(k + k½) · n/(n + n½)``, where ``m``
  is the number of output pixels (H′·W′), ``k`` the reduction length of one output (K²·N/G = weights
  / output channels; fc: its input features) and ``n`` the number of output channels. Short vectors
  and small images run below peak; ``m½``, ``k½``, ``n½`` are the lengths at which half of ``e`` is
  reached. And the vector width: SIMD units process ``v`` lanes at once, so ``k`` and ``n`` are
  padded up to multiples of ``v`` (``q(x) = x / (v·⌈x/v⌉)``; 90 channels on 16 lanes run as 96);
- a fixed overhead ``o`` per layer of the class (kernel launch) plus the framework's dispatch ``d``
  between layers.

::

    t = d + o + max(F / (P · e · m/(m+m½) · k/(k+k½) · n/(n+n½) · q(k) · q(n)),  B / (BW · f))

The network's time is the sum over layers (batch 1, layers run one after another).

Assumptions, stated once (:data:`ASSUMPTIONS`): every layer reads its inputs and weights and writes its
output once (no reuse across layers beyond what the cache level captures); BatchNorm that follows a
convolution is folded into it at inference (its parameters become the conv's bias) and costs nothing;
an activation that follows a conv (after its BatchNorm) or a residual add is fused into it when the
profile's ``fuse`` lists ``activation`` (as TFLite/XNNPACK, TensorRT and oneDNN post-ops do; PyTorch's
eager mode does not, so a profile calibrated with it lists only ``batchnorm``).

Numbers only: a symbolic network is an error. This module needs no optional dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from costcalc.devices import DTYPE_BYTES, Device, ProfileError
from costcalc.engine import Row
from costcalc.errors import CostcalcError
from costcalc.num import is_int

ASSUMPTIONS = (
    "Latency model: per layer t = overhead + max(FLOPs/(peak·e), bytes/(bandwidth·f)), summed over "
    "layers (batch 1, one layer after another). Bytes = costcalc's memory count (inputs + outputs + "
    "parameters) × dtype bytes, each read or written once; the cache bandwidth applies when a layer's "
    "bytes fit in the profile's cache. BatchNorm after a conv is folded into it (free) when the profile "
    "fuses batchnorm; an activation after a conv or add is free when it fuses activation."
)

#: op class of each layer type (activations are added from the activation table below)
OP_CLASS_OF_TYPE: dict[str, str] = {
    "conv": "conv",
    "pointwise": "pointwise",
    "grouped": "grouped",
    "depthwise": "depthwise",
    "fc": "fc",
    "batchnorm": "elementwise",
    "add": "elementwise",
    "mul": "elementwise",
    "maxpool": "maxpool",
    "avgpool": "pool",
    "global_avgpool": "global_pool",
    "global_maxpool": "global_pool",
    "adaptive_avgpool": "pool",
    "adaptive_maxpool": "maxpool",
    "concat": "memory",
    "channel_shuffle": "memory",
    "channel_split": "memory",
    "pad_shortcut": "memory",
}


def _activation_types() -> tuple[str, ...]:
    from costcalc.layers.primitives import ACTIVATIONS

    return tuple(ACTIVATIONS)


#: the op classes whose rows produce a tensor an activation may be fused into
FUSE_TARGETS = ("conv", "pointwise", "grouped", "depthwise", "fc")


def op_class(row: Row) -> str:
    """The op class of a leaf row: by its type (:data:`OP_CLASS_OF_TYPE`, activations are
    elementwise); a type unknown here is classed by its counts (MACs → a conv-like class by its
    kernel size, arithmetic → elementwise, else memory) and named in the result's notes."""
    known = OP_CLASS_OF_TYPE.get(row.type)
    if known is not None:
        return known
    if row.type in _activation_types():
        return "elementwise"
    return _class_by_counts(row)


def _class_by_counts(row: Row) -> str:
    c = row.cost
    if c.macs:
        return "pointwise" if c.weights and c.weights == row.in_shape.c * row.out_shape.c else "conv"
    if c.elementwise or c.comparisons:
        return "elementwise"
    return "memory"


def half(x: float, h: float) -> float:
    """Hockney's half-performance factor x/(x + h): 1 for h = 0, 1/2 at x = h."""
    return 1.0 if h <= 0 else x / (x + h)


def lanes(x: int, v: int) -> float:
    """The share of ``v`` SIMD lanes that ``x`` elements fill: x / (v·⌈x/v⌉) (1 for v ≤ 1)."""
    return 1.0 if v <= 1 else x / (v * -(-x // v))


@dataclass(frozen=True)
class Op:
    """What the model needs of one layer: class, FLOPs, bytes and its matrix-product dimensions."""

    op_class: str
    flops: int
    bytes: int
    m: int  # output pixels H′·W′
    k: int | None  # reduction length of one output (weights / output channels); None without weights
    n: int | None = None  # output channels; None without weights


def op_of(row: Row, dtype_bytes: int = 4) -> Op:
    """The model's view of a leaf row (numbers only)."""
    c = row.cost
    for name in ("macs", "elementwise", "comparisons", "memory", "weights"):
        if not is_int(getattr(c, name)):
            raise CostcalcError(f"layer {row.path}: {name} is a formula; the latency model needs numbers "
                                "(give every variable a value with --set)")
    flops = 2 * c.macs + c.elementwise + c.comparisons
    out = row.out_shape
    m = int(out.h * out.w) if is_int(out.h) and is_int(out.w) else 1
    k = n = None
    if c.weights and is_int(out.c) and out.c:
        k = max(1, c.weights // out.c)
        n = int(out.c)
    return Op(op_class(row), int(flops), int(c.memory) * dtype_bytes, max(m, 1), k, n)


@dataclass(frozen=True)
class Estimate:
    """The model's prediction for one op (times in seconds)."""

    compute_s: float  # F / (P · e · Hockney factors)
    memory_s: float  # B / (BW · f)
    overhead_s: float  # d + o
    time_s: float
    level: str  # cache | dram
    bound: str  # compute | memory | overhead

    @property
    def roofline_s(self) -> float:
        return self.time_s - self.overhead_s


def compute_efficiency(op: Op, device: Device) -> float:
    """``e · m/(m+m½) · k/(k+k½) · n/(n+n½) · q(k) · q(n)``: the share of the peak this op's class
    reaches at its shape."""
    return device.eff(op.op_class) * shape_factor(op, device.half(op.op_class, "m"), device.half(op.op_class, "k"),
                                                  device.half(op.op_class, "n"), device.vector_lanes(op.op_class))


def shape_factor(op: Op, mh: float, kh: float, nh: float, v: int) -> float:
    """The Hockney and vector-width factors of an op: m/(m+m½) · k/(k+k½) · n/(n+n½) · q(k) · q(n)."""
    f = half(op.m, mh)
    if op.k is not None:
        f *= half(op.k, kh) * lanes(op.k, v)
    if op.n is not None:
        f *= half(op.n, nh) * lanes(op.n, v)
    return f


def estimate(op: Op, device: Device, dtype: str | None = None) -> Estimate:
    """``t = d + o + max(F / (P·e′), B / (BW·f))`` for one op on ``device`` (module docstring)."""
    peak = device.peak_for(dtype)
    bw, level = device.bandwidth_for(op.bytes)
    compute = op.flops / (peak * compute_efficiency(op, device))
    memory = op.bytes / (bw * device.bw_eff(op.op_class))
    roof = max(compute, memory)
    o = device.dispatch + device.over(op.op_class)
    if o > roof:
        bound = "overhead"
    else:
        bound = "compute" if compute >= memory else "memory"
    return Estimate(compute, memory, o, o + roof, level, bound)


@dataclass(frozen=True)
class LayerTime:
    """One leaf layer's predicted time. ``fused_into`` names the conv (or add) that absorbs it."""

    path: str
    type: str
    category: str
    depth: int
    op_class: str
    macs: int
    flops: int
    bytes: int
    time_s: float
    estimate: Estimate | None  # None when fused
    fused_into: str | None = None

    @property
    def intensity(self) -> float | None:
        """FLOPs per byte moved (None for an op that moves no bytes)."""
        return self.flops / self.bytes if self.bytes else None

    @property
    def bound(self) -> str:
        return "fused" if self.estimate is None else self.estimate.bound

    @property
    def attainable(self) -> float | None:
        """The rate the model grants this layer without its overhead, FLOP/s:
        min(P · e′, BW · f · I)."""
        if self.estimate is None or not self.flops:
            return None
        return self.flops / self.estimate.roofline_s


@dataclass
class Latency:
    """A network's predicted latency on a device: per leaf layer, in total and by category."""

    name: str
    device: Device
    dtype: str
    dtype_bytes: int
    layers: list[LayerTime]
    rows: list[Row]  # every row of the network (blocks and groups too), for subtotals
    notes: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return sum(lt.time_s for lt in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(lt.macs for lt in self.layers)

    def by(self, key: str = "category") -> dict[str, tuple[int, float]]:
        """(MACs, predicted seconds) per ``category`` (as ``costcalc net``'s by-type table) or
        ``op_class``; slowest first."""
        acc: dict[str, list[float]] = {}
        for lt in self.layers:
            k = getattr(lt, key)
            a = acc.setdefault(k, [0, 0.0])
            a[0] += lt.macs
            a[1] += lt.time_s
        return {k: (int(v[0]), v[1]) for k, v in sorted(acc.items(), key=lambda kv: -kv[1][1])}

    def subtotal(self, path: str) -> float:
        """Predicted seconds of a row: a leaf's own, or the sum of a block's or group's leaves."""
        prefix = path + "."
        return sum(lt.time_s for lt in self.layers if lt.path == path or lt.path.startswith(prefix))


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def fusion(leaves: Sequence[Row], fuse: Iterable[str]) -> dict[str, str]:
    """Leaf paths that the runtime folds into an earlier op → that op's path.

    A BatchNorm folds into the conv or fc right before it; an activation into the conv/fc (after its
    folded BatchNorm) or residual add right before it. "Right before" means: the previous leaf, in the
    same block or group, whose output shape is this layer's input shape (how every block and every
    ``bn``/``act`` option of costcalc wires them)."""
    fuse = set(fuse)
    acts = set(_activation_types())
    fused: dict[str, str] = {}
    prev: Row | None = None
    target: str | None = None  # the op the previous leaf is (or is fused into), if it can absorb more
    target_class: str | None = None
    for r in leaves:
        cls = op_class(r)
        chained = (prev is not None and _parent(prev.path) == _parent(r.path)
                   and tuple(prev.out_shape) == tuple(r.in_shape) and target is not None)
        if chained and r.type == "batchnorm" and "batchnorm" in fuse and target_class in FUSE_TARGETS:
            fused[r.path] = target  # type: ignore[assignment]
        elif chained and r.type in acts and "activation" in fuse and (target_class in FUSE_TARGETS
                                                                       or target_class == "add"):
            fused[r.path] = target  # type: ignore[assignment]
            target = None  # one activation per op
        else:
            target = r.path
            target_class = "add" if r.type == "add" else cls
        prev = r
    return fused


def predict(rows: Sequence[Row], device: Device, *, name: str = "network", dtype: str | None = None,
            dtype_bytes: int | None = None) -> Latency:
    """Predicted latency of the leaf ``rows`` (a :class:`~costcalc.network.NetResult`'s ``rows``)."""
    dtype = dtype or device.dtype
    if dtype not in DTYPE_BYTES:
        raise ProfileError(f"unknown dtype {dtype!r} (dtypes: {', '.join(DTYPE_BYTES)})")
    device.peak_for(dtype)  # the profile must have a peak for it
    nbytes = dtype_bytes or DTYPE_BYTES[dtype]
    leaves = [r for r in rows if r.leaf]
    fused = fusion(leaves, device.fuse)
    out: list[LayerTime] = []
    guessed: set[str] = set()
    for r in leaves:
        op = op_of(r, nbytes)
        if r.type not in OP_CLASS_OF_TYPE and r.type not in _activation_types():
            guessed.add(f"{r.type} → {op.op_class}")
        macs = int(r.cost.macs)
        if r.path in fused:
            out.append(LayerTime(r.path, r.type, r.category, r.depth, op.op_class, macs, op.flops, op.bytes, 0.0,
                                 None, fused[r.path]))
            continue
        est = estimate(op, device, dtype)
        out.append(LayerTime(r.path, r.type, r.category, r.depth, op.op_class, macs, op.flops, op.bytes,
                             est.time_s, est))
    notes = []
    if guessed:
        notes.append("op class by counts for layer types the model does not list: " + ", ".join(sorted(guessed)))
    return Latency(name, device, dtype, nbytes, out, list(rows), notes)


def predict_network(result: Any, device: Device, dtype: str | None = None,
                    dtype_bytes: int | None = None) -> Latency:
    """:func:`predict` for a :class:`~costcalc.network.NetResult`; a symbolic network is an error."""
    spec = result.spec
    if getattr(spec, "symbolic", False):
        raise CostcalcError(f"{spec.source}: latency needs numbers, but a variable is a symbol; set it with --set")
    from costcalc.num import pretty

    vars_ = ", ".join(f"{k}={pretty(v).replace(',', '')}" for k, v in getattr(spec, "vars", {}).items())
    name = f"{spec.name} ({vars_})" if vars_ else spec.name
    return predict(result.rows, device, name=name, dtype=dtype, dtype_bytes=dtype_bytes)


# ----------------------------------------------------------------------------------------------
# Agreement between predictions and measurements (used by --measure and benchmarks/latency_eval.py)


def ranks(xs: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties sharing their mean rank."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for t in range(i, j + 1):
            r[order[t]] = (i + j) / 2 + 1
        i = j + 1
    return r


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    return cov / (va * vb) ** 0.5 if va and vb else float("nan")


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's on the ranks (ties at their mean rank)."""
    return pearson(ranks(a), ranks(b))


def kendall(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b: (concordant − discordant) / √((n₀ − ties in a)(n₀ − ties in b))."""
    n = len(a)
    conc = disc = ta = tb = 0
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ta += 1
            elif db == 0:
                tb += 1
            elif (da > 0) == (db > 0):
                conc += 1
            else:
                disc += 1
    denom = ((conc + disc + ta) * (conc + disc + tb)) ** 0.5
    return (conc - disc) / denom if denom else float("nan")


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


@dataclass(frozen=True)
class Agreement:
    """How well predictions match measurements over a set of networks (or layers)."""

    n: int
    spearman: float
    kendall: float
    median_abs_pct: float  # median |predicted/measured − 1| × 100
    within_10: float  # share of |error| ≤ 10 %
    within_25: float


def agreement(predicted: Sequence[float], measured: Sequence[float]) -> Agreement:
    errs = [abs(p / m - 1) for p, m in zip(predicted, measured)]
    n = len(errs)
    return Agreement(n, spearman(predicted, measured), kendall(predicted, measured), 100 * median(errs),
                     sum(e <= 0.10 for e in errs) / n if n else float("nan"),
                     sum(e <= 0.25 for e in errs) / n if n else float("nan"))


__all__ = ["ASSUMPTIONS", "Latency", "LayerTime", "Estimate", "Op", "op_of", "op_class", "estimate", "predict",
           "predict_network", "fusion", "agreement", "Agreement", "spearman", "kendall", "median", "half",
           "OP_CLASS_OF_TYPE"]
