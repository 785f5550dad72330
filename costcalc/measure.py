"""Careful timing on the CPU with PyTorch: the harness shared by ``costcalc calibrate`` and
``costcalc latency --measure``.

The protocol (:func:`time_interleaved`):

- one thread by default (``torch.set_num_threads``), the process pinned to one CPU while timing,
  denormals flushed to zero, the garbage collector paused;
- each callable warmed up, then run in *rounds*; inside a round every callable runs ``reps`` samples
  in turn (interleaved, so drift and bursts of load from other processes hit all of them alike);
  a sample is the mean of ``inner`` back-to-back calls, ``inner`` chosen so that a sample lasts at
  least :data:`MIN_SAMPLE_S` (timer resolution and call jitter stay small against it);
- the clock is the timing thread's CPU time (:data:`CLOCKS`; ``wall`` on request): on a machine
  shared with other processes, time slices given to them are not counted;
- the statistic is the median over rounds of each round's 10th-percentile sample: the low percentile
  rejects samples hit by interruptions, the median over rounds rejects rounds hit by a busy machine.
  Single layers (inside a network, or calibration probes) use each round's median instead
  (:data:`LAYER_QUANTILE`), so that layers add up to networks;
- the load average before and after is recorded; above 0.5 per core the result carries a warning.

:func:`measure_network` builds a spec with :func:`costcalc.torch_build.to_torch`, folds every
BatchNorm that directly follows a convolution into it (what inference runtimes do, and what the
latency model assumes), times the whole network, and times every leaf layer inside the network
(hooks read the clock around each layer during whole forward passes), so each layer meets the caches
its neighbours leave.

PyTorch is imported at import time: only the ``[torch]`` commands import this module.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
from torch import nn  # noqa: E402

#: a sample lasts at least this long (several back-to-back calls of a fast op)
MIN_SAMPLE_S = 2e-4
#: load average per core above which timings are flagged as unreliable
BUSY_LOAD_PER_CORE = 0.5
#: the per-round statistic of a single layer's samples (in a network, or a calibration probe): the
#: median. A network's time is a sum of many layers; the low percentile of that sum lies near the sum of
#: the layers' typical times, not of their luckiest ones (which a per-layer low percentile would pick,
#: and which on a shared machine are much luckier than any whole pass can be)
LAYER_QUANTILE = 0.5


@dataclass(frozen=True)
class Timing:
    """One callable's timing: the statistic (seconds per call) and the per-round values."""

    seconds: float
    rounds: tuple[float, ...]
    inner: int

    @property
    def spread(self) -> float:
        """(max − min) / median of the per-round values: how much rounds disagree."""
        if not self.rounds or not self.seconds:
            return 0.0
        return (max(self.rounds) - min(self.rounds)) / self.seconds


@dataclass
class Conditions:
    """Where and how a measurement was made (recorded beside every result)."""

    cpu: str
    cores: int
    threads: int
    pinned: int | None
    torch: str
    load_before: float
    load_after: float = float("nan")
    python: str = field(default_factory=platform.python_version)
    clock: str = "cpu"
    arena: bool = False  # tame_malloc() applied

    @property
    def busy(self) -> bool:
        worst = max(self.load_before, self.load_after if not math.isnan(self.load_after) else 0.0)
        return worst > BUSY_LOAD_PER_CORE * self.cores

    def warning(self) -> str | None:
        if not self.busy:
            return None
        worst = max(self.load_before, self.load_after if not math.isnan(self.load_after) else 0.0)
        return (f"the machine was busy (load average {worst:.2f} on {self.cores} cores, above "
                f"{BUSY_LOAD_PER_CORE} per core): timings are unreliable")

    def as_dict(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "cores": self.cores, "threads": self.threads, "pinned_cpu": self.pinned,
                "clock": self.clock, "malloc_arena": self.arena,
                "torch": self.torch, "python": self.python, "load_average_before": round(self.load_before, 2),
                "load_average_after": round(self.load_after, 2)}


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; else platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return float("nan")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


_MALLOC_TAMED = False


def tame_malloc() -> bool:
    """Keep freed tensor memory in the process (glibc ``mallopt``): by default glibc gives every
    allocation above 128 KiB fresh pages from the kernel and returns them on free, so each forward pass
    pays page faults for every activation tensor (a third of MobileNetV2's time on one core here).
    Inference runtimes reuse an arena; so does this process after the call. Returns whether it applied."""
    global _MALLOC_TAMED
    if _MALLOC_TAMED:
        return True
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = bool(libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)) and bool(libc.mallopt(m_trim_threshold,
                                                                                            1 << 30))
    except (OSError, AttributeError):
        ok = False
    _MALLOC_TAMED = ok
    return ok


@contextlib.contextmanager
def quiet_process(threads: int = 1, pin: int | None | bool = True) -> Iterator[Conditions]:
    """Timing conditions: ``threads`` intra-op threads, pinned to one CPU (``pin=True``: the CPU
    the process runs on now; an int: that CPU; False/None: not pinned), denormals flushed, gc paused.
    Everything is restored on exit."""
    old_threads = torch.get_num_threads()
    old_affinity = None
    pinned: int | None = None
    ncores = cores()
    if pin is not False and pin is not None and hasattr(os, "sched_setaffinity"):
        old_affinity = os.sched_getaffinity(0)
        if pin is True:
            try:
                with open(f"/proc/{os.getpid()}/stat") as f:
                    pinned = int(f.read().rsplit(")", 1)[1].split()[36])  # field 39: the CPU last run on
            except (OSError, ValueError, IndexError):
                pinned = min(old_affinity)
            if pinned not in old_affinity:
                pinned = min(old_affinity)
        else:
            pinned = int(pin)
        os.sched_setaffinity(0, {pinned})
    torch.set_num_threads(threads)
    flush = torch.set_flush_denormal(True)
    arena = tame_malloc()
    gc_was = gc.isenabled()
    gc.collect()
    gc.disable()
    cond = Conditions(cpu_model(), ncores, threads, pinned, str(torch.__version__), load_average(), arena=arena)
    try:
        yield cond
    finally:
        cond.load_after = load_average()
        if gc_was:
            gc.enable()
        if flush:
            torch.set_flush_denormal(False)
        torch.set_num_threads(old_threads)
        if old_affinity is not None:
            os.sched_setaffinity(0, old_affinity)


#: the clocks a measurement may use: the timing thread's CPU time (default: time the scheduler gives
#: to other processes on a shared machine is not counted; with one intra-op thread PyTorch computes on
#: the calling thread and never sleeps, so on an idle machine it equals wall time) or wall time
CLOCKS: dict[str, Callable[[], int]] = {"cpu": time.thread_time_ns, "wall": time.perf_counter_ns}


def _sample(fn: Callable[[], Any], inner: int, clock: Callable[[], int] = time.thread_time_ns) -> float:
    t0 = clock()
    for _ in range(inner):
        fn()
    return (clock() - t0) / inner / 1e9


def _percentile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = q * (len(s) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def clock_overhead(clock: str = "cpu") -> float:
    """Seconds one empty sample reads on ``clock`` (subtracted from single-call samples)."""
    tick = CLOCKS[clock]
    best = float("inf")
    for _ in range(200):
        t0 = tick()
        best = min(best, tick() - t0)
    return best / 1e9


def time_interleaved(fns: Sequence[Callable[[], Any]], *, rounds: int = 7, reps: int = 5, warmup: int = 2,
                     min_sample_s: float = MIN_SAMPLE_S, clock: str = "cpu",
                     setups: Sequence[Callable[[], Any] | None] | None = None,
                     quantile: float = 0.10) -> list[Timing]:
    """Seconds per call of each callable: the median over ``rounds`` of each round's ``quantile``
    sample (10th percentile by default; see the module docstring), on ``clock`` (:data:`CLOCKS`). Call
    inside :func:`quiet_process`.

    With ``setups`` (one per callable, or None), every sample is a single call preceded by its
    untimed setup (e.g. writing the op's input, as the layer before it would in a network), and the
    caches hold what the other callables left: the conditions of a layer inside a network rather
    than of a loop over one op."""
    tick = CLOCKS[clock]
    single = setups is not None
    setups = list(setups) if setups is not None else [None] * len(fns)
    overhead = clock_overhead(clock) if single else 0.0
    inners = []
    with torch.inference_mode():
        for fn, setup in zip(fns, setups):
            for _ in range(max(warmup, 1)):
                if setup is not None:
                    setup()
                fn()
            t = max(_sample(fn, 1, tick), 1e-7)
            inners.append(1 if single else max(1, min(10_000, math.ceil(min_sample_s / t))))
        per_round: list[list[float]] = [[] for _ in fns]
        for _ in range(rounds):
            samples: list[list[float]] = [[] for _ in fns]
            for _ in range(reps):
                for i, fn in enumerate(fns):
                    if setups[i] is not None:
                        setups[i]()  # type: ignore[misc]
                    samples[i].append(max(_sample(fn, inners[i], tick) - overhead, 0.0))
            for i in range(len(fns)):
                per_round[i].append(_percentile(samples[i], quantile))
    out = []
    for i in range(len(fns)):
        r = per_round[i]
        out.append(Timing(_median(r), tuple(r), inners[i]))
    return out


def time_layers_in_network(model: nn.Module, x: torch.Tensor, paths: Sequence[str], *, rounds: int = 7,
                           reps: int = 5, warmup: int = 2, clock: str = "cpu",
                           quantile: float = LAYER_QUANTILE) -> dict[str, Timing]:
    """Each tagged leaf module's seconds *inside* the network: hooks read the clock before and after
    every module in ``paths`` during whole forward passes, so each layer runs with the caches its
    neighbours leave (its input just written, its weights cold). One sample per pass; per round the
    ``quantile`` (the median: :data:`LAYER_QUANTILE`) of ``reps`` passes, then the median over rounds."""
    tick = CLOCKS[clock]
    overhead = clock_overhead(clock)
    mods = _tagged_leaves(model)
    present = [p for p in paths if p in mods]
    start: dict[str, int] = {}
    samples: dict[str, list[float]] = {p: [] for p in present}
    hooks = []
    for p in present:
        def pre(mod: nn.Module, args: Any, p: str = p) -> None:
            start[p] = tick()

        def post(mod: nn.Module, args: Any, out: Any, p: str = p) -> None:
            samples[p].append(max((tick() - start[p]) / 1e9 - overhead, 0.0))

        hooks.append(mods[p].register_forward_pre_hook(pre))
        hooks.append(mods[p].register_forward_hook(post))
    per_round: dict[str, list[float]] = {p: [] for p in present}
    try:
        with torch.inference_mode():
            for _ in range(max(warmup, 1)):
                model(x)
            for _ in range(rounds):
                for p in present:
                    samples[p].clear()
                for _ in range(reps):
                    model(x)
                for p in present:
                    per_round[p].append(_percentile(samples[p], quantile))
    finally:
        for h in hooks:
            h.remove()
    return {p: Timing(_median(r), tuple(r), 1) for p, r in per_round.items()}


def _median(xs: Sequence[float]) -> float:
    return _percentile(xs, 0.5)


# ----------------------------------------------------------------------------------------------
# Folding BatchNorm into the convolution before it (inference), as the model assumes


def fold_batchnorm(model: nn.Module) -> list[str]:
    """Fold every ``BatchNorm2d`` that consumes only a ``Conv2d``'s output (and is that output's only
    consumer) into the conv, in place; the BatchNorm becomes ``nn.Identity`` (keeping its
    ``costcalc_path``). Returns the folded BatchNorms' paths. The model must be in eval mode."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded: list[str] = []
    for mod in list(model.modules()):  # a list: the loop replaces children
        container = _graph_of(mod)
        if container is None:
            continue
        names, sources, chained_input = container
        store = mod.nodes if hasattr(mod, "nodes") else mod.layers  # type: ignore[union-attr]
        feeds = [_feeds(i, sources, chained_input) for i in range(len(names))]
        consumers: dict[int, int] = {}
        for f in feeds:
            for j in f:
                consumers[j] = consumers.get(j, 0) + 1
        for i in range(1, len(names)):
            conv, bn = store[names[i - 1]], store[names[i]]
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
                continue
            # the BatchNorm reads only the conv's output, and nothing else reads it
            if feeds[i] != [i - 1] or consumers.get(i - 1, 0) != 1:
                continue
            fused = fuse_conv_bn_eval(conv, bn)
            fused.costcalc_path = getattr(conv, "costcalc_path", None)  # type: ignore[assignment]
            ident = nn.Identity()
            ident.costcalc_path = getattr(bn, "costcalc_path", None)  # type: ignore[assignment]
            ident.costcalc_folded = True  # type: ignore[assignment]
            store[names[i - 1]] = fused
            store[names[i]] = ident
            if ident.costcalc_path:
                folded.append(ident.costcalc_path)
    return folded


def _graph_of(mod: nn.Module) -> tuple[list[str], list[tuple[int, ...]], bool] | None:
    """(child names in order, sources per child, whether a child also takes the previous output)
    for costcalc's BlockModule and NetworkModule (in both, the sources are all of a child's inputs)."""
    from costcalc.torch_build import BlockModule, NetworkModule

    if isinstance(mod, BlockModule):
        return list(mod.order), list(mod.sources), False
    if isinstance(mod, NetworkModule):
        return list(mod.order), list(mod.sources), False
    return None


def _feeds(i: int, sources: Sequence[tuple[int, ...]], chained_input: bool) -> list[int]:
    """Indices of the outputs child ``i`` reads (-1: the container's input)."""
    src = list(sources[i])
    return [i - 1] + src if chained_input else src


# ----------------------------------------------------------------------------------------------
# Networks


@dataclass
class NetworkTiming:
    """A network measured: whole-network seconds, per leaf layer seconds (folded BatchNorms: 0)."""

    name: str
    total: Timing
    layers: dict[str, Timing]
    folded: list[str]
    conditions: Conditions
    untimed: list[str] = field(default_factory=list)  # leaf rows with no module of their own

    @property
    def layer_sum(self) -> float:
        return sum(t.seconds for t in self.layers.values())


def _tagged_leaves(model: nn.Module) -> dict[str, nn.Module]:
    """costcalc path → module, for modules that are not BlockModules (leaf layers)."""
    from costcalc.torch_build import BlockModule, NetworkModule

    out: dict[str, nn.Module] = {}
    for mod in model.modules():
        path = getattr(mod, "costcalc_path", None)
        if path is None or isinstance(mod, (BlockModule, NetworkModule)):
            continue
        out[path] = mod
    return out


def build_for_timing(spec: Any, seed: int = 0) -> tuple[nn.Module, torch.Tensor, list[str]]:
    """The spec's PyTorch module in eval mode on the CPU with BatchNorms folded, a random input,
    and the folded BatchNorms' paths. Weights are random (values do not change the time; denormals
    are flushed while timing)."""
    from costcalc.torch_build import to_torch

    torch.manual_seed(seed)
    with torch.device("cpu"):
        model = to_torch(spec).eval()
    folded = fold_batchnorm(model)
    s = spec.input
    x = torch.randn(1, int(s.c), int(s.h), int(s.w))
    return model, x, folded


def measure_network(spec: Any, leaf_paths: Sequence[str], *, rounds: int = 7, reps: int = 5, threads: int = 1,
                    pin: int | bool | None = True, layers: bool = True, clock: str = "cpu") -> NetworkTiming:
    """Time the network of ``spec`` as a whole and (``layers=True``) each leaf layer inside it
    (:func:`time_layers_in_network`). Folded BatchNorms take 0 s; leaf rows without a module of
    their own are listed in ``untimed``."""
    model, x, folded = build_for_timing(spec)
    folded_set = set(folded)
    with quiet_process(threads, pin) as cond:
        total = time_interleaved([lambda: model(x)], rounds=rounds, reps=reps, clock=clock)[0]
        per: dict[str, Timing] = {}
        untimed: list[str] = []
        if layers:
            want = [p for p in leaf_paths if p not in folded_set]
            per = time_layers_in_network(model, x, want, rounds=rounds, reps=reps, clock=clock)
            untimed = [p for p in want if p not in per]
            for p in folded:
                per[p] = Timing(0.0, (), 0)
    cond.clock = clock
    return NetworkTiming(getattr(spec, "name", "network"), total, per, folded, cond, untimed)


__all__ = ["Timing", "Conditions", "quiet_process", "time_interleaved", "fold_batchnorm", "measure_network",
           "NetworkTiming", "build_for_timing", "time_layers_in_network", "cpu_model", "load_average", "tame_malloc"]
