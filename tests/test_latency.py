"""The latency model, device profiles, calibrate and --measure.

The model's arithmetic is checked against times written out by hand from the layer's dimensions
and a profile given in the test (no expectation comes from costcalc's own output). Calibrate and
--measure run for real (PyTorch on the CPU, short mode) but nothing asserts a timing: timings go to
benchmarks/latency_eval.py.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from costcalc.cli import main
from costcalc.devices import OP_CLASSES, ProfileError, load_device, parse_device, presets
from costcalc.latency import agreement, fusion, kendall, op_class, predict, predict_network, spearman
from costcalc.network import evaluate_network
from costcalc.spec import load_spec

#: a profile with round numbers, so that every expected time below is a short hand computation
PROFILE = """\
name: test device
source: numbers chosen for hand computation
peak_gflops: {fp32: 100, fp16: 200}
bandwidth_gbs: {dram: 10, cache: 50}
cache_mb: 1
overhead_us: {default: 0, pointwise: 5, elementwise: 2}
dispatch_us: 1
efficiency: {default: 1, pointwise: 0.5}
bandwidth_efficiency: {default: 1, elementwise: 0.5}
fuse: []
"""


def device(extra: str = "", fuse: str | None = None):  # type: ignore[no-untyped-def]
    text = PROFILE + extra
    if fuse is not None:
        text = text.replace("fuse: []", f"fuse: {fuse}")
    return parse_device(text, "test.yaml")


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


TINY = """\
name: tiny
input: [56, 56, 64]
layers:
  - {type: pointwise, name: pw, M: 64, bn: true, act: relu}
"""


def tiny_rows(tmp_path: Path):  # type: ignore[no-untyped-def]
    return evaluate_network(load_spec(write(tmp_path, "tiny.yaml", TINY))).rows


# ----------------------------------------------------------------------------------------------
# The model's arithmetic, by hand


N_PIX = 56 * 56  # output pixels of the tiny network
PW_MACS = N_PIX * 64 * 64  # H·W·N·M = 12,845,056
PW_BYTES = 4 * (N_PIX * 64 + N_PIX * 64 + 64 * 64)  # input + output + weights, fp32


def test_pointwise_compute_bound_by_hand(tmp_path: Path) -> None:
    lat = predict(tiny_rows(tmp_path), device())
    pw = next(lt for lt in lat.layers if lt.path == "pw.pointwise")
    assert (pw.macs, pw.flops, pw.bytes) == (PW_MACS, 2 * PW_MACS, PW_BYTES)
    # 1.62 MB > 1 MB: DRAM at 10 GB/s; compute at 100 GFLOP/s × efficiency 0.5
    compute = 2 * PW_MACS / (100e9 * 0.5)
    memory = PW_BYTES / 10e9
    assert compute > memory
    assert pw.bound == "compute"
    assert pw.estimate is not None and pw.estimate.level == "dram"
    assert pw.time_s == pytest.approx(1e-6 + 5e-6 + compute, rel=1e-12)
    assert pw.intensity == pytest.approx(2 * PW_MACS / PW_BYTES)


def test_vector_lanes_by_hand() -> None:
    from costcalc.latency import lanes

    assert lanes(90, 16) == 90 / 96 and lanes(128, 16) == 1.0 and lanes(36, 16) == 36 / 48 and lanes(7, 1) == 1.0
    op_rows = load_spec("examples/guidelines/g1_channel_ratio.yaml", {"ratio": "2"})
    lat = predict(evaluate_network(op_rows).rows, device("lanes: {pointwise: 16}\n"))
    first = lat.layers[0]  # 56×56, 90 → 180 channels: both padded to multiples of 16
    assert first.estimate is not None
    assert first.estimate.compute_s == pytest.approx(2 * 56 * 56 * 90 * 180 / (100e9 * 0.5 * (90 / 96) * (180 / 192)))


def test_cache_level_and_hockney_half_lengths(tmp_path: Path) -> None:
    # the same layer with a 2 MB cache: its 1.62 MB stream at the cache bandwidth
    lat = predict(tiny_rows(tmp_path), device().__class__(**{**device().__dict__, "cache_bytes": 2e6}))
    pw = next(lt for lt in lat.layers if lt.path == "pw.pointwise")
    assert pw.estimate is not None and pw.estimate.level == "cache"
    assert pw.estimate.memory_s == pytest.approx(PW_BYTES / 50e9)
    # half-lengths equal to the layer's m (56·56 output pixels) and k (64 inputs per output): each
    # Hockney factor is 1/2, so the compute time is 4 × the plain one
    lat = predict(tiny_rows(tmp_path), device("half_lengths: {pointwise: {m: 3136, k: 64}}\n"))
    pw = next(lt for lt in lat.layers if lt.path == "pw.pointwise")
    assert pw.estimate is not None
    assert pw.estimate.compute_s == pytest.approx(4 * 2 * PW_MACS / (100e9 * 0.5))


def test_memory_bound_elementwise_and_network_sum(tmp_path: Path) -> None:
    lat = predict(tiny_rows(tmp_path), device())  # fuse: [] — BatchNorm and ReLU run on their own
    by = {lt.path: lt for lt in lat.layers}
    n = N_PIX * 64
    # BatchNorm: 2 ops per element, reads and writes every element plus γ, β
    bn = by["pw.bn"]
    assert (bn.flops, bn.bytes) == (2 * n, 4 * (2 * n + 2 * 64))
    assert bn.bound == "memory"
    assert bn.time_s == pytest.approx(1e-6 + 2e-6 + 4 * (2 * n + 2 * 64) / (10e9 * 0.5))
    relu = by["pw.relu"]
    assert (relu.flops, relu.bytes) == (n, 4 * 2 * n)
    assert relu.time_s == pytest.approx(1e-6 + 2e-6 + 4 * 2 * n / (10e9 * 0.5))
    assert lat.total_s == pytest.approx(sum(lt.time_s for lt in lat.layers))
    assert lat.total_s == pytest.approx(by["pw.pointwise"].time_s + bn.time_s + relu.time_s)


def test_fusion_follows_the_profile(tmp_path: Path) -> None:
    rows = tiny_rows(tmp_path)
    both = predict(rows, device(fuse="[batchnorm, activation]"))
    by = {lt.path: lt for lt in both.layers}
    assert by["pw.bn"].fused_into == "pw.pointwise" and by["pw.bn"].time_s == 0
    assert by["pw.relu"].fused_into == "pw.pointwise" and by["pw.relu"].time_s == 0
    assert both.total_s == pytest.approx(by["pw.pointwise"].time_s)
    bn_only = predict(rows, device(fuse="[batchnorm]"))
    by = {lt.path: lt for lt in bn_only.layers}
    assert by["pw.bn"].bound == "fused" and by["pw.relu"].fused_into is None and by["pw.relu"].time_s > 0


def test_activation_fuses_into_a_residual_add_but_not_into_a_concat(tmp_path: Path) -> None:
    spec = write(tmp_path, "res.yaml", """\
        name: res
        input: [8, 8, 16]
        layers:
          - {type: pointwise, name: a, M: 16, bn: true}
          - {type: add, name: add, from: input}
          - {type: relu, name: r1}
          - {type: concat, name: cat, from: input}
          - {type: relu, name: r2}
        """)
    rows = [r for r in evaluate_network(load_spec(spec)).rows if r.leaf]
    fused = fusion(rows, {"batchnorm", "activation"})
    assert fused == {"a.bn": "a.pointwise", "r1": "add"}


def test_dtype_picks_peak_and_bytes(tmp_path: Path) -> None:
    lat = predict(tiny_rows(tmp_path), device(), dtype="fp16")
    pw = next(lt for lt in lat.layers if lt.path == "pw.pointwise")
    assert lat.dtype_bytes == 2 and pw.bytes == PW_BYTES // 2
    assert pw.estimate is not None and pw.estimate.compute_s == pytest.approx(2 * PW_MACS / (200e9 * 0.5))
    with pytest.raises(ProfileError, match="no peak_gflops for dtype 'int8'"):
        predict(tiny_rows(tmp_path), device(), dtype="int8")


def test_op_classes_of_the_seed_layers(tmp_path: Path) -> None:
    rows = [r for r in evaluate_network(load_spec("examples/shufflenet_v1.yaml")).rows if r.leaf]
    classes = {r.type: op_class(r) for r in rows}
    assert classes == {"conv": "conv", "batchnorm": "elementwise", "relu": "elementwise", "maxpool": "maxpool",
                       "pointwise": "pointwise", "channel_shuffle": "memory", "depthwise": "depthwise",
                       "grouped": "grouped", "avgpool": "pool", "concat": "memory", "add": "elementwise",
                       "global_avgpool": "global_pool", "fc": "fc"}
    assert set(classes.values()) <= set(OP_CLASSES)


def test_by_type_shares_sum_to_the_totals() -> None:
    lat = predict_network(evaluate_network(load_spec("examples/mobilenet_v1.yaml")), load_device("cortex-a76"))
    by = lat.by("category")
    assert sum(m for m, _ in by.values()) == 568_740_352  # the paper's 569M, every MAC in one category
    assert sum(t for _, t in by.values()) == pytest.approx(lat.total_s)
    assert list(by)[0] == "conv 1×1"  # MobileNet's 1×1 convs: 95 % of MACs and most of the time


def test_rank_correlations_by_hand() -> None:
    # one swapped pair in four: Spearman 1 − 6·Σd²/(n(n²−1)) = 1 − 12/60; Kendall (5 − 1)/6
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    a = agreement([1.05, 2.0, 3.9], [1.0, 2.5, 3.0])  # errors 5 %, 20 %, 30 %
    assert a.median_abs_pct == pytest.approx(20.0)
    assert (a.within_10, a.within_25) == (pytest.approx(1 / 3), pytest.approx(2 / 3))


def test_symbolic_network_is_an_error() -> None:
    r = CliRunner().invoke(main, ["latency", "examples/resnet50.yaml", "--device", "cortex-a76",
                                  "--set", "resolution=R"])
    assert r.exit_code == 1
    assert "latency needs numbers" in r.output and "Traceback" not in r.output


# ----------------------------------------------------------------------------------------------
# Device profiles


def test_presets_load_and_cite_sources() -> None:
    names = presets()
    assert {"cortex-a76", "intel-i7-1185g7", "nvidia-a100"} <= set(names)
    for name in names:
        d = load_device(name)
        assert d.source and d.peak_for() > 0 and d.dram_bandwidth > 0
    # the vendors' arithmetic: 2 pipes × 4 lanes × 2 (FMA) × 2.84 GHz; 4 × 16-bit × 4266 MT/s
    a76 = load_device("cortex-a76")
    assert a76.peak["fp32"] == pytest.approx(16 * 2.84e9, rel=1e-3)
    assert a76.dram_bandwidth == pytest.approx(8 * 4266e6, rel=1e-3)


BAD_PROFILES = [
    ("peak_gflops: {fp32: 1\n", "bad.yaml:2:1: not valid YAML"),
    ("peak_gflops: {fp32: -5}\nbandwidth_gbs: {dram: 10}\n", "bad.yaml:1:15: peak_gflops.fp32: -5 must be positive"),
    ("bandwidth_gbs: {dram: 10}\n", "bad.yaml:1:1: missing field 'peak_gflops'"),
    ("peak_gflops: {fp32: 10}\nbandwidth_gbs: {dram: 0}\n", "bad.yaml:2:17: bandwidth_gbs.dram: 0 must be positive"),
    ("peak_gflops: {fp32: 10}\nbandwidth_gbs: {cache: 5}\n", "bandwidth_gbs: missing 'dram'"),
    ("peak_gflops: {fp32: ten}\nbandwidth_gbs: {dram: 1}\n", "peak_gflops.fp32: 'ten' is not a number"),
    ("peak_gflops: {fp23: 1}\nbandwidth_gbs: {dram: 1}\n", "unknown dtype (did you mean 'fp32'?)"),
    ("peak_gflops: {fp32: 1}\nbandwidth_gbs: {dram: 1}\nefficiency: {depthwize: 0.3}\n",
     "bad.yaml:3:14: efficiency.depthwize: unknown op class (did you mean 'depthwise'?)"),
    ("peak_gflops: {fp32: 1}\nbandwidth_gbs: {dram: 1}\nefficiency: {conv: 0}\n", "efficiency.conv: 0 must be positive"),
    ("peak_gflops: {fp32: 1}\nbandwidth_gbs: {dram: 1}\ndtype: fp16\n", "dtype: 'fp16' has no peak_gflops entry"),
    ("peak_gflops: {fp32: 1}\nbandwidth_gbs: {dram: 1}\npeek: 3\n", "unknown field 'peek'"),
    ("peak_gflops: &p {fp32: 1}\nbandwidth_gbs: *p\n", "YAML aliases are not allowed"),
    ("- 1\n- 2\n", "a device profile is a mapping"),
    ("", "empty"),
]


@pytest.mark.parametrize("text,message", BAD_PROFILES)
def test_bad_profiles(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ProfileError) as e:
        load_device(p)
    assert message in str(e.value)
    r = CliRunner().invoke(main, ["latency", "examples/mobilenet_v1.yaml", "--device", p])
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]


def test_device_option_errors(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["latency", "examples/mobilenet_v1.yaml"])
    assert r.exit_code == 2 and "--device is required" in r.output
    r = CliRunner().invoke(main, ["latency", "examples/mobilenet_v1.yaml", "--device", "cortex-a67"])
    assert r.exit_code == 1 and "did you mean 'cortex-a76'" in r.output
    r = CliRunner().invoke(main, ["latency", "examples/mobilenet_v1.yaml", "--device", "intel-i7-1185g7",
                                  "--dtype", "fp16"])
    assert r.exit_code == 2 and "has no peak for it" in r.output


# ----------------------------------------------------------------------------------------------
# The commands' output


def test_latency_table_names_the_slow_type() -> None:
    r = CliRunner().invoke(main, ["latency", "examples/mobilenet_v2.yaml", "--device", "cortex-a76", "--depth", "0"])
    assert r.exit_code == 0, r.output
    assert "by layer type" in r.output and "% MACs" in r.output and "of the predicted time" in r.output


def test_latency_json_and_csv_carry_every_leaf() -> None:
    spec = "examples/shufflenet_v2.yaml"
    leaves = [r for r in evaluate_network(load_spec(spec)).rows if r.leaf]
    r = CliRunner().invoke(main, ["latency", spec, "--device", "cortex-a76", "--format", "json"])
    doc = json.loads(r.output)
    assert [x["path"] for x in doc["layers"]] == [x.path for x in leaves]
    assert doc["predicted_s"] == pytest.approx(sum(x["predicted_s"] for x in doc["layers"]))
    assert sum(x["macs"] for x in doc["layers"]) == evaluate_network(load_spec(spec)).totals.macs
    r = CliRunner().invoke(main, ["latency", spec, "--device", "cortex-a76", "--format", "csv", "--top", "3"])
    assert r.exit_code == 0 and len(r.output.strip().splitlines()) == 4


def test_latency_markdown() -> None:
    r = CliRunner().invoke(main, ["latency", "examples/mobilenet_v1.yaml", "--device", "cortex-a76", "--format",
                                  "markdown", "--depth", "0"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    table = [x for x in lines if x.startswith("| ") and "separable" in x]
    assert len(table) == 13  # MobileNet v1's 13 separable blocks, one row each at depth 0
    assert any(x.startswith("| depthwise 3×3 |") for x in lines)


def test_compare_with_device_adds_latency() -> None:
    r = CliRunner().invoke(main, ["compare", "examples/mobilenet_v1.yaml", "examples/shufflenet_v2.yaml",
                                  "--device", "cortex-a76", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    nets = doc["latency"]["networks"]
    assert [n["macs"] for n in nets] == [n["totals"]["macs"] for n in doc["networks"]]
    assert nets[0]["ratio_to_first"] == 1.0
    r = CliRunner().invoke(main, ["compare", "examples/mobilenet_v1.yaml", "--device", "cortex-a76", "--format",
                                  "csv"])
    assert r.exit_code == 2


def test_plot_roofline(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="costcalc plot needs matplotlib (the [plot] extra)")
    out = tmp_path / "roof.png"
    r = CliRunner().invoke(main, ["plot", "--roofline", "examples/mobilenet_v2.yaml", "--device", "cortex-a76",
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    r = CliRunner().invoke(main, ["plot", "examples/mobilenet_v2.yaml", "--device", "cortex-a76", "-o", str(out)])
    assert r.exit_code == 2 and "--roofline" in r.output


# ----------------------------------------------------------------------------------------------
# Calibrate: the fit on synthetic probes, the bandwidth levels, the command in short mode


def test_fit_recovers_known_constants() -> None:
    pytest.importorskip("torch", reason="the fit runs on PyTorch tensors: pip install 'costcalc[torch]'")
    from costcalc.calibrate import ProbeResult, fit_class
    from costcalc.engine import Row
    from costcalc.latency import Op, half, lanes

    peak, bw = 100e9, 10e9
    o, e, f, mh, kh, nh, v = 5e-6, 0.5, 0.7, 49.0, 16.0, 4.0, 8
    probes = []
    for m, k, n, flops, nbytes in ((3136, 64, 64, 4e7, 2e6), (784, 16, 8, 1e7, 1e6), (49, 512, 128, 2e7, 3e6),
                                   (196, 8, 32, 1e6, 4e5), (12544, 32, 16, 8e7, 6e6), (4, 8, 8, 1e3, 1e3),
                                   (784, 256, 4, 3e7, 1e6), (49, 16, 512, 1e4, 5e5), (784, 128, 2, 5e7, 1e6),
                                   (784, 90, 180, 4e7, 1e6), (196, 36, 432, 3e7, 1e6), (3136, 52, 312, 6e7, 2e6)):
        op = Op("pointwise", int(flops), int(nbytes), m, k, n)
        shape = half(m, mh) * half(k, kh) * half(n, nh) * lanes(k, v) * lanes(n, v)
        t = o + max(flops / (peak * e * shape), nbytes / (bw * f))
        probes.append(ProbeResult(Row("p", "pointwise", "conv 1×1", None, None, None, 0), op, t))  # type: ignore[arg-type]
    fit = fit_class("pointwise", probes, peak, bw, bw, 0.0)
    assert (fit.m_half, fit.k_half, fit.n_half, fit.lanes, fit.bandwidth_efficiency) == (mh, kh, nh, v, f)
    assert fit.efficiency == pytest.approx(e, rel=1e-3)
    assert fit.overhead_s == pytest.approx(o, rel=1e-2)
    assert fit.max_error < 1e-3


def test_bandwidth_levels_from_a_curve() -> None:
    from costcalc.calibrate import bandwidth_levels

    mb = 1e6
    curve = [(0.5 * mb, 80e9), (1 * mb, 100e9), (4 * mb, 100e9), (16 * mb, 20e9), (64 * mb, 21e9), (256 * mb, 19e9)]
    cache, dram, size = bandwidth_levels(curve)
    assert cache == 100e9 and dram == pytest.approx(20e9)
    # √(100·20) = 44.7 GB/s is crossed between 4 MB (100) and 16 MB (20), log-log interpolated
    frac = (math.log(100) - math.log(math.sqrt(2000))) / (math.log(100) - math.log(20))
    assert size == pytest.approx(math.exp(math.log(4 * mb) + frac * math.log(4)))


def test_calibrate_short(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="costcalc calibrate needs PyTorch (the [torch] extra)")
    out = tmp_path / "here.yaml"
    r = CliRunner().invoke(main, ["calibrate", "--short", "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = load_device(str(out))
    assert d.fuse == frozenset({"batchnorm"})  # PyTorch's eager mode runs activations on their own
    assert set(d.efficiency) == set(OP_CLASSES)  # the short probes cover every class
    m = d.machine
    for key in ("cpu", "cores", "threads", "torch", "load_average_before", "load_average_after", "fit"):
        assert key in m
    assert m["threads"] == 1 and m["mode"] == "short"
    lat = predict_network(evaluate_network(load_spec("examples/mobilenet_v2.yaml")), d)
    assert lat.total_s > 0 and all(lt.time_s >= 0 for lt in lat.layers)


# ----------------------------------------------------------------------------------------------
# --measure on a tiny network


def test_fold_batchnorm_keeps_the_outputs(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="--measure needs PyTorch (the [torch] extra)")
    from costcalc.measure import fold_batchnorm
    from costcalc.torch_build import to_torch

    spec = load_spec("examples/mobilenet_v2.yaml", {"alpha": "0.35", "resolution": "64"})
    torch.manual_seed(0)
    model = to_torch(spec).eval()
    for m in model.modules():  # BatchNorms with statistics of their own, so folding changes the weights
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-1, 1)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        folded = fold_batchnorm(model)
        after = model(x)
    bns = [r.path for r in evaluate_network(spec).rows if r.leaf and r.type == "batchnorm"]
    assert sorted(folded) == sorted(bns)  # every BatchNorm of MobileNetV2 follows a conv
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-4)


def test_fold_batchnorm_leaves_a_shared_conv_alone(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="--measure needs PyTorch (the [torch] extra)")
    from costcalc.measure import fold_batchnorm
    from costcalc.torch_build import to_torch

    # the conv's output feeds the BatchNorm and the add: folding would change what the add sees
    spec = load_spec(write(tmp_path, "shared.yaml", """\
        name: shared
        input: [8, 8, 4]
        layers:
          - {type: conv, name: c, M: 4}
          - {type: batchnorm, name: bn}
          - {type: add, name: add, from: c}
          - {type: conv, name: c2, M: 4}
          - {type: batchnorm, name: bn2}
        """))
    torch.manual_seed(0)
    model = to_torch(spec).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        before = model(x)
        folded = fold_batchnorm(model)
        after = model(x)
    assert folded == ["bn2"]
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-4)


def test_measure_tiny_network(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="--measure needs PyTorch (the [torch] extra)")
    spec = write(tmp_path, "tiny.yaml", """\
        name: tiny
        input: [16, 16, 8]
        layers:
          - {type: conv, name: stem, M: 16, S: 2, bn: true, act: relu}
          - {type: depthwise, name: dw, bn: true, act: relu6}
          - {type: pointwise, name: pw, M: 16, bn: true}
          - {type: add, name: add, from: stem}
          - {type: maxpool, name: pool, K: 2}
          - {type: global_avgpool, name: gap}
          - {type: fc, name: fc, M: 10}
        """)
    r = CliRunner().invoke(main, ["latency", spec, "--device", "cortex-a76", "--measure", "--rounds", "2",
                                  "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{"):])
    m = doc["measured"]
    assert sorted(m["folded_batchnorm"]) == ["dw.bn", "pw.bn", "stem.bn"]
    assert m["conditions"]["threads"] == 1 and m["total_s"] > 0
    for layer in doc["layers"]:
        assert layer["measured_s"] is not None and layer["measured_s"] >= 0, layer["path"]
        if layer["path"].endswith(".bn"):
            assert layer["measured_s"] == 0
    r = CliRunner().invoke(main, ["latency", spec, "--device", "cortex-a76", "--measure", "--rounds", "1"])
    assert r.exit_code == 0 and "meas µs" in r.output and "measured" in r.output
