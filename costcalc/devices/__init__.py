"""Device profiles for the latency model: what a processor can do, as data.

A profile is a YAML file (the presets ship in this package; ``costcalc calibrate`` writes one for
the machine it runs on)::

    name: Arm Cortex-A76 (one core, Snapdragon 855 prime core)
    source: where every number comes from
    dtype: fp32                           # the default data type
    peak_gflops: {fp32: 45.4, fp16: 90.9} # arithmetic peak per data type, GFLOP/s (10^9 FLOP/s)
    bandwidth_gbs: {dram: 34.1, cache: 90.9}   # streaming bandwidth, GB/s (10^9 bytes/s)
    cache_mb: 2.5                         # a layer whose bytes moved fit here streams at `cache`
    overhead_us: {default: 2.0}           # fixed time per layer of the class (kernel launch), µs
    dispatch_us: 0.5                      # the framework's fixed cost between any two layers, µs
    efficiency: {default: 0.5, pointwise: 0.8, depthwise: 0.3}   # share of the peak FLOP/s reached
    bandwidth_efficiency: {default: 1.0}  # share of the bandwidth reached
    half_lengths: {conv: {m: 16, k: 8, n: 8}}   # Hockney half-performance lengths (see latency.py)
    lanes: {default: 1, pointwise: 16}    # SIMD width the channel counts are padded to (see latency.py)
    fuse: [batchnorm, activation]         # what the runtime folds into the producing conv

``efficiency``, ``bandwidth_efficiency``, ``overhead_us``, ``half_lengths`` and ``lanes`` are per op class
(:data:`OP_CLASSES`) with a ``default`` for the classes not listed. Every problem with a profile is a one-line
:class:`ProfileError` naming the file, line and field (exit status 1).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from costcalc.errors import CostcalcError

#: operation classes of the latency model, each with its own efficiency and overhead:
#: dense K×K convolution (K > 1), 1×1 convolution, grouped convolution (1 < G < channels),
#: depthwise convolution, fully connected, elementwise (BatchNorm, activations, adds), average and
#: max pooling with a K×K window (comparisons and additions run on different kernels, often of very
#: different speed), global pooling (a reduction over the whole map), and memory-only ops (concat,
#: channel shuffle and split, zero-padding shortcuts)
OP_CLASSES: tuple[str, ...] = ("conv", "pointwise", "grouped", "depthwise", "fc", "elementwise", "pool",
                               "maxpool", "global_pool", "memory")
#: the classes that are matrix products (the Hockney half-lengths in ``k`` apply to them)
GEMM_CLASSES: tuple[str, ...] = ("conv", "pointwise", "grouped", "fc")
#: bytes per element of the data types a profile may name
DTYPE_BYTES: dict[str, int] = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "int8": 1}
#: what a runtime may fold into the op that produces its input
FUSIBLE: tuple[str, ...] = ("batchnorm", "activation")
#: largest profile file read (a profile is a few dozen lines)
MAX_PROFILE_BYTES = 200_000
#: the fields of a profile, in the order written
FIELDS: tuple[str, ...] = ("name", "source", "dtype", "peak_gflops", "bandwidth_gbs", "cache_mb", "overhead_us",
                           "dispatch_us", "efficiency", "bandwidth_efficiency", "half_lengths", "lanes", "fuse",
                           "machine", "notes")

PRESET_DIR = os.path.dirname(os.path.abspath(__file__))


class ProfileError(CostcalcError):
    """A device profile that cannot be used (exit status 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Device:
    """A validated device profile. Rates are in FLOP/s and bytes/s, times in seconds."""

    name: str
    peak: Mapping[str, float]  # FLOP/s per dtype
    dram_bandwidth: float  # bytes/s
    cache_bandwidth: float  # bytes/s (= dram_bandwidth when the profile gives no cache level)
    cache_bytes: float
    dtype: str = "fp32"
    efficiency: Mapping[str, float] = field(default_factory=dict)  # share of peak, per op class
    bandwidth_efficiency: Mapping[str, float] = field(default_factory=dict)  # share of bandwidth, per op class
    overhead: Mapping[str, float] = field(default_factory=dict)  # seconds, per op class
    dispatch: float = 0.0  # seconds between layers, every layer that runs
    half_lengths: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # per op class: m, k, n
    lanes: Mapping[str, int] = field(default_factory=dict)  # SIMD width per op class
    fuse: frozenset[str] = frozenset(FUSIBLE)
    source: str = ""
    file: str = ""
    machine: Mapping[str, Any] = field(default_factory=dict)

    def peak_for(self, dtype: str | None = None) -> float:
        d = dtype or self.dtype
        if d not in self.peak:
            raise ProfileError(f"{self.file or self.name}: no peak_gflops for dtype {d!r} "
                               f"(the profile has {', '.join(self.peak)})")
        return self.peak[d]

    def eff(self, op_class: str) -> float:
        return self.efficiency.get(op_class, self.efficiency.get("default", 1.0))

    def bw_eff(self, op_class: str) -> float:
        return self.bandwidth_efficiency.get(op_class, self.bandwidth_efficiency.get("default", 1.0))

    def over(self, op_class: str) -> float:
        return self.overhead.get(op_class, self.overhead.get("default", 0.0))

    def half(self, op_class: str, axis: str) -> float:
        d = self.half_lengths.get(op_class, self.half_lengths.get("default", {}))
        return float(d.get(axis, 0.0))

    def vector_lanes(self, op_class: str) -> int:
        return int(self.lanes.get(op_class, self.lanes.get("default", 1)))

    def bandwidth_for(self, nbytes: float) -> tuple[float, str]:
        """The streaming bandwidth for a layer that moves ``nbytes``, and which level serves it."""
        if nbytes <= self.cache_bytes:
            return self.cache_bandwidth, "cache"
        return self.dram_bandwidth, "dram"


def presets() -> dict[str, str]:
    """Shipped profiles: name (file stem) → path."""
    return {f[:-5]: os.path.join(PRESET_DIR, f) for f in sorted(os.listdir(PRESET_DIR)) if f.endswith(".yaml")}


def resolve(name_or_path: str) -> str:
    """A preset name (``cortex-a76``) or a file path → the file's path."""
    if os.path.exists(name_or_path) or name_or_path.endswith((".yaml", ".yml")) or os.sep in name_or_path:
        return name_or_path
    known = presets()
    if name_or_path in known:
        return known[name_or_path]
    import difflib

    close = difflib.get_close_matches(name_or_path, list(known), n=2, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise ProfileError(f"--device {name_or_path}: no such file or preset ({hint}presets: {', '.join(known)})")


def load_device(name_or_path: str) -> Device:
    """Read and validate a profile (a preset name or a path)."""
    path = resolve(name_or_path)
    try:
        if not os.path.isfile(path):
            raise ProfileError(f"{path}: not a regular file" if os.path.exists(path) else f"{path}: no such file")
        if os.path.getsize(path) > MAX_PROFILE_BYTES:
            raise ProfileError(f"{path}: larger than {MAX_PROFILE_BYTES:,} bytes; not a device profile")
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ProfileError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProfileError(f"{path}: not UTF-8 text (byte {e.start})") from None
    return parse_device(text, path)


# ----------------------------------------------------------------------------------------------
# Parsing with line numbers: compose the YAML node tree (no aliases, no tags), keep each key's line.


@dataclass
class _Map:
    """A YAML mapping's values and, for error messages, where each key stands."""

    values: dict[str, Any]
    lines: dict[str, str]
    where: str


def _loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:  # no anchors/aliases: a profile is plain data
            if self.check_event(yaml.AliasEvent):
                ev = self.peek_event()
                raise ProfileError(f"line {ev.start_mark.line + 1}:{ev.start_mark.column + 1}: YAML aliases "
                                   "are not allowed in a device profile")
            return super().compose_node(parent, index)

    return Loader


def _plain(node: Any, loader: Any, file: str) -> Any:
    import yaml

    where = f"{file}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
    if isinstance(node, yaml.MappingNode):
        values: dict[str, Any] = {}
        lines: dict[str, str] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise ProfileError(f"{where}: keys must be plain names")
            key = str(k.value)
            if key in values:
                raise ProfileError(f"{file}:{k.start_mark.line + 1}:{k.start_mark.column + 1}: duplicate key {key!r}")
            lines[key] = f"{file}:{k.start_mark.line + 1}:{k.start_mark.column + 1}"
            values[key] = _plain(v, loader, file)
        return _Map(values, lines, where)
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, loader, file) for v in node.value]
    if node.tag not in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                        "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:timestamp"):
        raise ProfileError(f"{where}: YAML tag {node.tag!r} is not allowed in a device profile")
    if node.tag == "tag:yaml.org,2002:timestamp":
        return str(node.value)
    return loader.construct_object(node, deep=True)


def parse_device(text: str, file: str = "<profile>") -> Device:
    """Validate profile ``text``; errors name ``file``, the line and the field."""
    import yaml

    loader = _loader()(text)
    try:
        try:
            node = loader.get_single_node()
        except ProfileError as e:
            raise ProfileError(f"{file}:{e.message}") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
            at = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "1"
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ProfileError(f"{file}:{at}: not valid YAML: {problem}") from None
        if node is None:
            raise ProfileError(f"{file}: empty; a device profile needs peak_gflops and bandwidth_gbs")
        doc = _plain(node, loader, file)
    finally:
        loader.dispose()
    if not isinstance(doc, _Map):
        raise ProfileError(f"{file}:1: a device profile is a mapping of fields ({', '.join(FIELDS)})")
    return _device(doc, file)


def _at(m: _Map, key: str) -> str:
    return m.lines.get(key, m.where)


def _number(m: _Map, key: str, *, positive: bool = True, allow_zero: bool = False, label: str = "") -> float:
    """A finite number; ``positive``: > 0 (or ≥ 0 with ``allow_zero``). Strings such as "4.5e10"
    are read as numbers (YAML 1.1 reads them as text); nothing is evaluated."""
    v = m.values[key]
    name = label or key
    if isinstance(v, bool) or v is None:
        raise ProfileError(f"{_at(m, key)}: {name}: {v!r} is not a number")
    if isinstance(v, str):
        try:
            v = float(v.strip())
        except ValueError:
            raise ProfileError(f"{_at(m, key)}: {name}: {v!r} is not a number") from None
    if not isinstance(v, (int, float)):
        raise ProfileError(f"{_at(m, key)}: {name}: expected a number, got a {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise ProfileError(f"{_at(m, key)}: {name}: {v} is not a finite number")
    if positive and (v < 0 or (v == 0 and not allow_zero)):
        need = "must not be negative" if allow_zero else "must be positive"
        raise ProfileError(f"{_at(m, key)}: {name}: {v:g} {need}")
    return v


def _mapping(m: _Map, key: str, required: bool) -> _Map | None:
    if key not in m.values:
        if required:
            raise ProfileError(f"{m.where}: missing field {key!r}")
        return None
    v = m.values[key]
    if not isinstance(v, _Map):
        raise ProfileError(f"{_at(m, key)}: {key}: expected a mapping, got {_kind(v)}")
    if not v.values and required:
        raise ProfileError(f"{_at(m, key)}: {key}: empty")
    return v


def _kind(v: Any) -> str:
    if isinstance(v, _Map):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return repr(v)


def _per_class(m: _Map, key: str, *, allow_zero: bool, upper: float | None = None) -> dict[str, float]:
    sub = _mapping(m, key, required=False)
    if sub is None:
        return {}
    out: dict[str, float] = {}
    for k in sub.values:
        if k != "default" and k not in OP_CLASSES:
            raise ProfileError(f"{_at(sub, k)}: {key}.{k}: unknown op class{_suggest(k, OP_CLASSES)} "
                               f"(classes: default, {', '.join(OP_CLASSES)})")
        v = _number(sub, k, allow_zero=allow_zero, label=f"{key}.{k}")
        if upper is not None and v > upper:
            raise ProfileError(f"{_at(sub, k)}: {key}.{k}: {v:g} is above {upper:g}")
        out[k] = v
    return out


def _suggest(word: str, options: Any) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(options), n=2, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


#: the widest SIMD unit a profile may name, in elements
MAX_LANES = 1024
#: efficiencies above this are a typo, not a measurement (a layer can beat the nominal roofline only by
#: a little, e.g. turbo clocks above the clock a peak was computed at)
MAX_EFFICIENCY = 4.0


def _device(doc: _Map, file: str) -> Device:
    for k in doc.values:
        if k not in FIELDS:
            raise ProfileError(f"{_at(doc, k)}: unknown field {k!r}{_suggest(k, FIELDS)} "
                               f"(fields: {', '.join(FIELDS)})")
    name = doc.values.get("name", os.path.splitext(os.path.basename(file))[0])
    if not isinstance(name, str) or not name.strip():
        raise ProfileError(f"{_at(doc, 'name')}: name: expected text")
    peaks_map = _mapping(doc, "peak_gflops", required=True)
    assert peaks_map is not None
    peak: dict[str, float] = {}
    for k in peaks_map.values:
        if k not in DTYPE_BYTES:
            raise ProfileError(f"{_at(peaks_map, k)}: peak_gflops.{k}: unknown dtype{_suggest(k, DTYPE_BYTES)} "
                               f"(dtypes: {', '.join(DTYPE_BYTES)})")
        peak[k] = _number(peaks_map, k, label=f"peak_gflops.{k}") * 1e9
    bw = _mapping(doc, "bandwidth_gbs", required=True)
    assert bw is not None
    for k in bw.values:
        if k not in ("dram", "cache"):
            raise ProfileError(f"{_at(bw, k)}: bandwidth_gbs.{k}: unknown level (levels: dram, cache)")
    if "dram" not in bw.values:
        raise ProfileError(f"{bw.where}: bandwidth_gbs: missing 'dram' (main-memory bandwidth, GB/s)")
    dram = _number(bw, "dram", label="bandwidth_gbs.dram") * 1e9
    cache = _number(bw, "cache", label="bandwidth_gbs.cache") * 1e9 if "cache" in bw.values else dram
    cache_bytes = _number(doc, "cache_mb", allow_zero=True) * 1e6 if "cache_mb" in doc.values else 0.0
    dtype = doc.values.get("dtype", "fp32")
    if not isinstance(dtype, str) or dtype not in peak:
        raise ProfileError(f"{_at(doc, 'dtype')}: dtype: {dtype!r} has no peak_gflops entry "
                           f"(the profile has {', '.join(peak)})")
    efficiency = _per_class(doc, "efficiency", allow_zero=False, upper=MAX_EFFICIENCY)
    bw_efficiency = _per_class(doc, "bandwidth_efficiency", allow_zero=False, upper=MAX_EFFICIENCY)
    overhead = {k: v * 1e-6 for k, v in _per_class(doc, "overhead_us", allow_zero=True).items()}
    dispatch = _number(doc, "dispatch_us", allow_zero=True) * 1e-6 if "dispatch_us" in doc.values else 0.0
    halves = _half_lengths(doc)
    lane_map = _per_class(doc, "lanes", allow_zero=False, upper=MAX_LANES)
    for k, v in lane_map.items():
        if v != int(v):
            raise ProfileError(f"{_at(doc.values['lanes'], k)}: lanes.{k}: {v:g} is not a whole number of lanes")
    fuse_v = doc.values.get("fuse", list(FUSIBLE))
    if not isinstance(fuse_v, list) or not all(isinstance(x, str) for x in fuse_v):
        raise ProfileError(f"{_at(doc, 'fuse')}: fuse: expected a list of {', '.join(FUSIBLE)}")
    for x in fuse_v:
        if x not in FUSIBLE:
            raise ProfileError(f"{_at(doc, 'fuse')}: fuse: unknown {x!r} (known: {', '.join(FUSIBLE)})")
    source = doc.values.get("source", "")
    machine = doc.values.get("machine")
    return Device(name=name.strip(), peak=peak, dram_bandwidth=dram, cache_bandwidth=cache,
                  cache_bytes=cache_bytes, dtype=dtype, efficiency=efficiency,
                  bandwidth_efficiency=bw_efficiency, overhead=overhead, dispatch=dispatch,
                  half_lengths=halves, lanes={k: int(v) for k, v in lane_map.items()}, fuse=frozenset(fuse_v), source=str(source or "").strip(), file=file,
                  machine=_unwrap(machine) if isinstance(machine, _Map) else {})


def _half_lengths(doc: _Map) -> dict[str, dict[str, float]]:
    sub = _mapping(doc, "half_lengths", required=False)
    if sub is None:
        return {}
    out: dict[str, dict[str, float]] = {}
    for k in sub.values:
        if k != "default" and k not in OP_CLASSES:
            raise ProfileError(f"{_at(sub, k)}: half_lengths.{k}: unknown op class{_suggest(k, OP_CLASSES)}")
        axes = _mapping(sub, k, required=True)
        assert axes is not None
        out[k] = {}
        for a in axes.values:
            if a not in ("m", "k", "n"):
                raise ProfileError(f"{_at(axes, a)}: half_lengths.{k}.{a}: unknown axis (axes: m, k, n)")
            out[k][a] = _number(axes, a, allow_zero=True, label=f"half_lengths.{k}.{a}")
    return out


def _unwrap(v: Any) -> Any:
    if isinstance(v, _Map):
        return {k: _unwrap(x) for k, x in v.values.items()}
    if isinstance(v, list):
        return [_unwrap(x) for x in v]
    return v


def device_yaml(d: Mapping[str, Any]) -> str:
    """A profile document (plain data, as :func:`parse_device` reads it) as YAML text, fields in order."""
    import yaml

    ordered = {k: d[k] for k in FIELDS if k in d}
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100)


__all__ = ["Device", "ProfileError", "OP_CLASSES", "GEMM_CLASSES", "DTYPE_BYTES", "load_device", "parse_device",
           "presets", "resolve", "device_yaml"]
