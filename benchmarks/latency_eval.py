"""How well does `costcalc latency` predict measured latency? One command re-runs everything and
rewrites the results section of docs/latency.md:

    PYTHONPATH=$PWD python benchmarks/latency_eval.py            # ~10 min: calibrate, measure, write
    PYTHONPATH=$PWD python benchmarks/latency_eval.py --device here.yaml --quick --no-write

1. Calibrate this machine (`costcalc calibrate`, microbenchmarks only: no network is used), unless
   --device gives a profile.
2. The networks: every examples/**/*.yaml except examples/guidelines/ (at their default variables),
   the variants in VARIANTS (the papers' width multipliers, resolutions and group counts), and
   benchmarks/specs/*.yaml. A spec that cannot be loaded or built in PyTorch is listed as skipped.
3. Measure each network twice (pass A over all networks, then pass B), whole network, one thread,
   pinned, thread CPU time, median over rounds of the per-round 10th percentile; the load average is
   recorded with every measurement. Measured = geometric mean of A and B; the run-to-run noise floor
   is |A/B − 1|.
4. Compare with the roofline model's prediction and two baselines fitted to the measurements by
   leave-one-out (each network predicted by constants fitted on all the others): MACs-only
   (t = c·MACs) and MACs-plus-memory (t = a·MACs + b·bytes). The roofline model is fitted to nothing
   but the microbenchmarks.
5. The ShuffleNet V2 guideline experiments (examples/guidelines/): predicted and measured times, and
   whether each shows the paper's direction.

Everything measured goes to benchmarks/latency_eval.json (raw numbers and conditions).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from costcalc.latency import agreement, kendall, median, predict_network, spearman  # noqa: E402

DOC = os.path.join(ROOT, "docs", "latency.md")
RAW = os.path.join(ROOT, "benchmarks", "latency_eval.json")
BEGIN, END = "<!-- latency-eval:begin -->", "<!-- latency-eval:end -->"
#: the mobile band: networks under this many MACs
MOBILE_MACS = 1_000_000_000

#: (spec, overrides) beyond the examples at their defaults: the papers' own variants
VARIANTS: list[tuple[str, dict[str, str]]] = [
    ("examples/mobilenet_v1.yaml", {"alpha": "0.25"}),
    ("examples/mobilenet_v1.yaml", {"alpha": "0.5"}),
    ("examples/mobilenet_v1.yaml", {"alpha": "0.75"}),
    ("examples/mobilenet_v1.yaml", {"resolution": "128"}),
    ("examples/mobilenet_v1.yaml", {"resolution": "160"}),
    ("examples/mobilenet_v1.yaml", {"alpha": "0.5", "resolution": "160"}),
    ("examples/mobilenet_v2.yaml", {"alpha": "0.35"}),
    ("examples/mobilenet_v2.yaml", {"alpha": "0.5"}),
    ("examples/mobilenet_v2.yaml", {"alpha": "0.75"}),
    ("examples/mobilenet_v2.yaml", {"alpha": "1.4"}),
    ("examples/mobilenet_v2.yaml", {"resolution": "160"}),
    ("examples/shufflenet_v1.yaml", {"groups": "1"}),
    ("examples/shufflenet_v1.yaml", {"groups": "2"}),
    ("examples/shufflenet_v1.yaml", {"groups": "4"}),
    ("examples/shufflenet_v1.yaml", {"groups": "8"}),
    ("examples/shufflenet_v1.yaml", {"alpha": "0.5", "groups": "3"}),
    ("examples/shufflenet_v1.yaml", {"alpha": "2", "groups": "3"}),
    ("examples/shufflenet_v2.yaml", {"alpha": "0.5"}),
    ("examples/shufflenet_v2.yaml", {"alpha": "1.5"}),
    ("examples/shufflenet_v2.yaml", {"alpha": "2"}),
    ("examples/fd_mobilenet.yaml", {"alpha": "0.5"}),
    ("examples/resnet18.yaml", {"resolution": "160"}),
    ("examples/resnet50.yaml", {"resolution": "160"}),
]

#: the guideline experiments: (label, paper's direction, [(variant label, spec, overrides)]) — the
#: variants in the order the paper says time grows
GUIDELINES: list[tuple[str, str, list[tuple[str, str, dict[str, str]]]]] = [
    ("G1 channel ratio c1:c2 (equal FLOPs)", "time grows with the ratio; 1:1 fastest",
     [(f"1:{r}", "examples/guidelines/g1_channel_ratio.yaml", {"ratio": str(r)}) for r in (1, 2, 6, 12)]),
    ("G2 groups of the 1×1 convs (equal FLOPs)", "time grows with the groups",
     [(f"g={g}", "examples/guidelines/g2_groups.yaml", {"groups": str(g)}) for g in (1, 2, 4, 8)]),
    ("G3 fragments in series (equal FLOPs)", "more fragments are slower",
     [(f"{k}-series", "examples/guidelines/g3_fragments_series.yaml", {"fragments": str(k)}) for k in (1, 2, 4)]),
    ("G3 fragments in parallel (equal FLOPs)", "parallel fragments are slower than one",
     [("1-fragment", "examples/guidelines/g3_fragments_series.yaml", {"fragments": "1"}),
      ("2-parallel", "examples/guidelines/g3_fragments_parallel2.yaml", {}),
      ("4-parallel", "examples/guidelines/g3_fragments_parallel4.yaml", {})]),
    ("G4 element-wise ops (ResNet bottleneck, c = 32)", "removing ReLU or the shortcut is faster; both, fastest",
     [("ReLU + shortcut", "examples/guidelines/g4_relu_shortcut.yaml", {}),
      ("shortcut only", "examples/guidelines/g4_shortcut_only.yaml", {}),
      ("ReLU only", "examples/guidelines/g4_relu_only.yaml", {}),
      ("neither", "examples/guidelines/g4_neither.yaml", {})]),
]


@dataclass
class Net:
    label: str
    spec_path: str
    overrides: dict[str, str]
    macs: int = 0
    bytes: int = 0
    predicted: float = 0.0
    runs: list[float] = field(default_factory=list)  # seconds, one per pass
    spreads: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    spec: Any = None
    skipped: str | None = None

    @property
    def measured(self) -> float:
        return math.exp(sum(math.log(r) for r in self.runs) / len(self.runs))

    @property
    def noise(self) -> float | None:
        return abs(self.runs[0] / self.runs[1] - 1) if len(self.runs) > 1 else None


def _msg(e: Exception) -> str:
    """An exception as one line, with paths relative to the repository."""
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".replace(ROOT + os.sep, "")


def label_of(path: str, overrides: dict[str, str], name: str) -> str:
    return name + (" (" + ", ".join(f"{k}={v}" for k, v in overrides.items()) + ")" if overrides else "")


def discover(only: str | None) -> list[Net]:
    from costcalc.spec import load_spec

    paths = sorted(p for p in glob.glob(os.path.join(ROOT, "examples", "**", "*.yaml"), recursive=True)
                   if os.sep + "guidelines" + os.sep not in p)
    paths += sorted(glob.glob(os.path.join(ROOT, "benchmarks", "specs", "*.yaml")))
    items = [(os.path.relpath(p, ROOT), {}) for p in paths] + [(p, dict(o)) for p, o in VARIANTS]
    nets = []
    for rel, ov in items:
        if only and not re.search(only, rel + " " + " ".join(f"{k}={v}" for k, v in ov.items())):
            continue
        net = Net(rel, rel, ov)
        try:
            net.spec = load_spec(os.path.join(ROOT, rel), ov)
            net.label = label_of(rel, ov, net.spec.name)
            if net.spec.symbolic:
                net.skipped = "symbolic at its defaults"
        except Exception as e:  # noqa: BLE001 - report and go on
            net.skipped = _msg(e)
        nets.append(net)
    return nets


def predict_all(nets: Sequence[Net], device: Any) -> None:
    from costcalc.network import evaluate_network

    for n in nets:
        if n.skipped:
            continue
        try:
            result = evaluate_network(n.spec)
            lat = predict_network(result, device)
        except Exception as e:  # noqa: BLE001
            n.skipped = _msg(e)
            continue
        n.macs = int(result.totals.macs)
        n.bytes = int(result.totals.memory) * 4
        n.predicted = lat.total_s


def wait_for_quiet(max_load: float | None, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) for the 1-minute load average to fall below ``max_load``."""
    from costcalc.measure import load_average

    start = time.time()
    while max_load is not None and load_average() > max_load and time.time() - start < max_wait:
        time.sleep(5)
    return load_average()


def measure_all(nets: Sequence[Net], rounds: int, reps: int, passes: int, max_load: float | None,
                max_wait: float, say: Callable[[str], None]) -> None:
    import torch

    from costcalc.measure import build_for_timing, quiet_process, time_interleaved

    built: dict[int, Any] = {}
    for n in nets:
        if n.skipped:
            continue
        try:
            model, x, _ = build_for_timing(n.spec)
            built[id(n)] = (model, x)
        except Exception as e:  # noqa: BLE001 - e.g. a layer type with no PyTorch equivalent
            n.skipped = f"not built in PyTorch: {_msg(e)}"
    for p in range(passes):
        for n in nets:
            if n.skipped:
                continue
            model, x = built[id(n)]
            load = wait_for_quiet(max_load, max_wait)
            with torch.inference_mode(), quiet_process(1, True) as cond:
                t = time_interleaved([lambda: model(x)], rounds=rounds, reps=reps)[0]
            n.runs.append(t.seconds)
            n.spreads.append(t.spread)
            n.loads.append(max(load, cond.load_after))
            say(f"pass {'AB'[p] if p < 2 else p}: {n.label}: {t.seconds * 1e3:.2f} ms "
                f"(predicted {n.predicted * 1e3:.2f}, load {cond.load_before:.2f})")


# ----------------------------------------------------------------------------------------------
# Baselines, fitted by leave-one-out


def _macs_only(train: Sequence[Net]) -> Callable[[Net], float]:
    """t = c·MACs with c the geometric mean of t/MACs (least squares on log error)."""
    c = math.exp(sum(math.log(n.measured / n.macs) for n in train) / len(train))
    return lambda n: c * n.macs


def _macs_memory(train: Sequence[Net]) -> Callable[[Net], float]:
    """t = a·MACs + b·bytes, least squares on relative error, a, b ≥ 0."""
    rows = [(n.macs / n.measured, n.bytes / n.measured) for n in train]  # each row ≈ 1
    sxx = sum(x * x for x, _ in rows)
    syy = sum(y * y for _, y in rows)
    sxy = sum(x * y for x, y in rows)
    sx = sum(x for x, _ in rows)
    sy = sum(y for _, y in rows)
    det = sxx * syy - sxy * sxy
    a, b = ((sx * syy - sy * sxy) / det, (sy * sxx - sx * sxy) / det) if det > 0 else (0.0, 0.0)
    if a < 0 or b < 0 or det <= 0:  # one term only: the better of the two
        a1, b1 = sx / sxx, sy / syy
        e1 = sum((1 - a1 * x) ** 2 for x, _ in rows)
        e2 = sum((1 - b1 * y) ** 2 for _, y in rows)
        a, b = (a1, 0.0) if e1 <= e2 else (0.0, b1)
    return lambda n: a * n.macs + b * n.bytes


def loo(nets: Sequence[Net], fit: Callable[[Sequence[Net]], Callable[[Net], float]]) -> list[float]:
    return [fit([m for m in nets if m is not n])(n) for n in nets]


def scaled_roofline(train: Sequence[Net]) -> Callable[[Net], float]:
    c = math.exp(sum(math.log(n.measured / n.predicted) for n in train) / len(train))
    return lambda n: c * n.predicted


# ----------------------------------------------------------------------------------------------
# Report


def _fmt_agreement(name: str, pred: Sequence[float], meas: Sequence[float]) -> str:
    a = agreement(pred, meas)
    return (f"| {name} | {a.n} | {a.spearman:.3f} | {a.kendall:.3f} | {a.median_abs_pct:.1f} % | "
            f"{100 * a.within_10:.0f} % | {100 * a.within_25:.0f} % |")


def between_runs(nets: Sequence[Net], previous: dict[str, Any] | None) -> str:
    """A sentence on how the same networks measured in the previous run (the raw file this run
    replaces) differ from this run: noise on the scale of tens of minutes, which passes A and B,
    minutes apart, do not see."""
    if not previous:
        return ""
    old = {(x["spec"], json.dumps(x["overrides"], sort_keys=True)): x for x in previous.get("networks", [])
           if x.get("runs_s")}
    pairs = []
    for n in nets:
        o = old.get((n.spec_path, json.dumps(n.overrides, sort_keys=True)))
        if o and n.runs and not n.skipped:
            prev = math.exp(sum(math.log(r) for r in o["runs_s"]) / len(o["runs_s"]))
            pairs.append((n.measured / prev - 1, o))
    if len(pairs) < 3:
        return ""
    d = [abs(x) for x, _ in pairs]
    prev_loads = [v for _, o in pairs for v in o.get("load", [])]
    return (f"Between this run and the previous one ({previous.get('started', '?')}, load average median "
            f"{median(prev_loads):.2f}): the same {len(pairs)} networks differ by a median of {100 * median(d):.1f} % "
            f"(max {100 * max(d):.0f} %), this run {'slower' if median([x for x, _ in pairs]) > 0 else 'faster'} "
            "on the whole.")


def report(nets: Sequence[Net], guides: list[dict[str, Any]], device: Any, cal_source: str, args: Any,
           started: str, took: float, previous: dict[str, Any] | None = None) -> str:
    ok = [n for n in nets if not n.skipped and n.runs]
    mobile = [n for n in ok if n.macs < MOBILE_MACS]
    lines = [BEGIN, ""]
    c = device.machine or {}
    loads = [x for n in ok for x in n.loads] + [g["load"] for g in guides if "load" in g]
    load_text = (f"Load average during the measurements: median {median(loads):.2f}, max {max(loads):.2f} (on "
                 f"{c.get('cores', '?')} cores; above {0.5 * (c.get('cores') or 1):.1f} the machine counts as "
                 "busy). " if loads else "")
    lines += [
        f"Measured {started} on {c.get('cpu', 'this machine')} ({c.get('cores', '?')} cores, one thread, PyTorch "
        f"{c.get('torch', '?')}), {len(ok)} networks, {args.passes} passes of {args.rounds} rounds × {args.reps} "
        f"samples each; the run took {took / 60:.0f} min. {load_text}Profile: {cal_source}.",
        "",
    ]
    header = ["| model | networks | Spearman | Kendall | median abs. error | within ±10 % | within ±25 % |",
              "|---|--:|--:|--:|--:|--:|--:|"]
    for title, group in ((f"All {len(ok)} networks", ok), (f"Mobile band (< 1 G MACs): {len(mobile)} networks", mobile)):
        if len(group) < 3:
            continue
        meas = [n.measured for n in group]
        lines += [f"**{title}**", ""] + header
        lines.append(_fmt_agreement("roofline (costcalc latency, microbenchmarks only)", [n.predicted for n in group],
                                    meas))
        lines.append(_fmt_agreement("MACs only, one constant (leave-one-out)", loo(group, _macs_only), meas))
        lines.append(_fmt_agreement("MACs + bytes, two constants (leave-one-out)", loo(group, _macs_memory), meas))
        lines.append(_fmt_agreement("roofline × one constant (leave-one-out)", loo(group, scaled_roofline), meas))
        if all(len(n.runs) > 1 for n in group):
            a_runs = [n.runs[0] for n in group]
            b_runs = [n.runs[1] for n in group]
            lines.append(_fmt_agreement("noise floor: pass A as a prediction of pass B", a_runs, b_runs))
        lines.append("")
    noise = [n.noise for n in ok if n.noise is not None]
    if noise:
        lines += [f"Run-to-run noise (same network, passes A and B): median |A/B − 1| = {100 * median(noise):.1f} %, "
                  f"max {100 * max(noise):.1f} %; the median spread between rounds within one measurement: "
                  f"{100 * median([s for n in ok for s in n.spreads]):.0f} %. " + between_runs(ok, previous), ""]
    lines += ["Every network (times in ms; error = predicted / measured − 1; MACs-only = leave-one-out):", "",
              "| network | MACs | measured | A | B | load | roofline | error | MACs-only | error |",
              "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    macs_only = dict(zip((id(n) for n in ok), loo(ok, _macs_only))) if len(ok) > 2 else {}
    for n in sorted(ok, key=lambda n: n.macs):
        mo = macs_only.get(id(n))
        ab = [f"{r * 1e3:.2f}" for r in n.runs[:2]] + [""] * (2 - len(n.runs[:2]))
        lines.append(f"| {n.label} | {n.macs / 1e6:,.0f}M | {n.measured * 1e3:.2f} | {ab[0]} | {ab[1]} | "
                     f"{max(n.loads):.1f} | {n.predicted * 1e3:.2f} | {100 * (n.predicted / n.measured - 1):+.0f} % | "
                     + (f"{mo * 1e3:.2f} | {100 * (mo / n.measured - 1):+.0f} % |" if mo else " | |"))
    skipped = [n for n in nets if n.skipped]
    if skipped:
        lines += ["", "Skipped: " + "; ".join(f"{n.label} ({n.skipped.splitlines()[0][:120]})" for n in skipped) + "."]
    lines += ["", "**ShuffleNet V2 guideline experiments** (times in ms, in the order the paper says time grows):", "",
              "| experiment | paper's direction | variants | predicted | measured | predicted direction | measured direction |",
              "|---|---|---|---|---|---|---|"]
    for g in guides:
        if g.get("skipped"):
            lines.append(f"| {g['label']} | {g['direction']} | {g['skipped']} | | | | |")
            continue
        lines.append(f"| {g['label']} | {g['direction']} | {', '.join(g['variants'])} | "
                     f"{', '.join(f'{t * 1e3:.2f}' for t in g['predicted'])} | "
                     f"{', '.join(f'{t * 1e3:.2f}' for t in g['measured'])} | {g['predicted_ok']} | {g['measured_ok']} |")
    lines += ["", END]
    return "\n".join(lines)


def direction(label: str, times: Sequence[float], noise: float) -> str:
    """Whether ``times`` (in the paper's order, fastest first) show the paper's direction: the first is
    the fastest and the sequence never falls by more than ``noise``; "yes", "yes, within noise" (some
    step smaller than the noise floor) or "no" with what went wrong."""
    if label.startswith("G4"):  # base slowest, "neither" fastest, both single removals in between
        base, a, b, neither = times
        if base > max(a, b) and neither < min(a, b):
            return "yes"
        if base >= max(a, b) * (1 - noise) and neither <= min(a, b) * (1 + noise):
            return "yes, within noise"
        return "no"
    first_fastest = all(times[0] < t for t in times[1:])
    steps = [b / a - 1 for a, b in zip(times, times[1:])]
    if first_fastest and all(s > 0 for s in steps):
        return "yes"
    if all(t >= times[0] * (1 - noise) for t in times[1:]) and all(s > -noise for s in steps):
        return "yes, within noise"
    return "no"


def guidelines(device: Any, rounds: int, reps: int, noise: float, say: Callable[[str], None],
               measure: bool = True) -> list[dict[str, Any]]:
    import torch

    from costcalc.measure import build_for_timing, quiet_process, time_interleaved
    from costcalc.network import evaluate_network
    from costcalc.spec import load_spec

    out = []
    for label, dirn, variants in GUIDELINES:
        g: dict[str, Any] = {"label": label, "direction": dirn, "variants": [v for v, _, _ in variants]}
        try:
            specs = [load_spec(os.path.join(ROOT, p), ov) for _, p, ov in variants]
            g["predicted"] = [predict_network(evaluate_network(s), device).total_s for s in specs]
            g["macs"] = [int(evaluate_network(s).totals.macs) for s in specs]
        except Exception as e:  # noqa: BLE001 - e.g. the graph syntax not available yet
            g["skipped"] = f"skipped: {_msg(e)[:140]}"
            out.append(g)
            continue
        g["predicted_ok"] = direction(label, g["predicted"], 0.0)
        if measure:
            built = [build_for_timing(s)[:2] for s in specs]
            with torch.inference_mode(), quiet_process(1, True) as cond:
                ts = time_interleaved([(lambda m=m, x=x: m(x)) for m, x in built], rounds=rounds, reps=reps)
            g["measured"] = [t.seconds for t in ts]
            g["load"] = cond.load_after
            g["measured_ok"] = direction(label, g["measured"], noise)
        else:
            g["measured"], g["measured_ok"] = [], "not measured"
        say(f"{label}: predicted {g['predicted_ok']}, measured {g['measured_ok']}")
        out.append(g)
    return out


def write_doc(section: str) -> None:
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: markers {BEGIN} … {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(head + section + tail)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", help="a profile to use instead of calibrating first")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--passes", type=int, default=2, help="measurements per network (2: the noise floor)")
    ap.add_argument("--only", help="a regular expression: only the networks whose path/variables match")
    ap.add_argument("--quick", action="store_true", help="3 rounds × 3 samples, one pass (a smoke test)")
    ap.add_argument("--max-load", type=float, default=None,
                    help="before each measurement wait (up to --max-wait s) for the load average to fall below this")
    ap.add_argument("--max-wait", type=float, default=60.0)
    ap.add_argument("--no-guidelines", action="store_true")
    ap.add_argument("--guidelines-only", action="store_true", help="only the guideline experiments")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of rewriting docs/latency.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.reps, args.passes = 3, 3, 1

    def say(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.time()
    from costcalc.devices import device_yaml, load_device, parse_device

    if args.device:
        device = load_device(args.device)
        cal_source = f"`{args.device}`"
        profile_text = open(args.device, encoding="utf-8").read() if os.path.exists(args.device) else args.device
    else:
        from costcalc.calibrate import calibrate

        say("calibrating (microbenchmarks) …")
        cal = calibrate("full", progress=say)
        profile_text = device_yaml(cal.profile())
        device = parse_device(profile_text, "<calibration>")
        cal_source = "calibrated at the start of the run (`costcalc calibrate`), printed in benchmarks/latency_eval.json"
    nets = [] if args.guidelines_only else discover(args.only)
    predict_all(nets, device)
    measure_all(nets, args.rounds, args.reps, args.passes, args.max_load, args.max_wait, say)
    ok = [n for n in nets if not n.skipped and n.runs]
    noise_list = [n.noise for n in ok if n.noise is not None]
    noise = median(noise_list) if noise_list else 0.05
    guides = [] if args.no_guidelines else guidelines(device, args.rounds, args.reps, noise, say)
    previous = None
    if os.path.exists(RAW):
        try:
            with open(RAW, encoding="utf-8") as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = None
    section = report(nets, guides, device, cal_source, args, started, time.time() - t0, previous)
    raw = {"started": started, "profile": profile_text, "args": vars(args),
           "networks": [{"label": n.label, "spec": n.spec_path, "overrides": n.overrides, "macs": n.macs,
                         "bytes": n.bytes, "predicted_s": n.predicted, "runs_s": n.runs, "round_spread": n.spreads,
                         "load": n.loads, "skipped": n.skipped} for n in nets],
           "guidelines": guides}
    if args.no_write:
        print(section)
        return
    with open(RAW, "w", encoding="utf-8") as f:
        json.dump(raw, f, indent=1)
    write_doc(section)
    say(f"wrote {os.path.relpath(DOC, ROOT)} and {os.path.relpath(RAW, ROOT)}")


if __name__ == "__main__":
    main()
