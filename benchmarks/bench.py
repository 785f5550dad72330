"""costcalc benchmarks: figures as ratios measured in one run (see benchmarks/README.md).

    .venv/bin/python benchmarks/bench.py              # everything (peers when torch is installed)
    .venv/bin/python benchmarks/bench.py --quick      # fewer repetitions, no 100k-layer spec
    .venv/bin/python benchmarks/bench.py --no-peers   # skip PyTorch and the peer counters

(a) end to end: ``costcalc net examples/resnet50.yaml`` (table to a pipe, table to a terminal,
    ``--format json``) against ``python -c pass``, in subprocesses, interleaved, best/median of N;
(b) the peers (ptflops, fvcore, thop, FlopCounterMode) counting the equivalent ResNet-50, each end to
    end in a subprocess (import torch, build, count), and the numbers each of them reports;
(c) scaling: generated specs of 1,000 / 10,000 / 100,000 layers, API-level load + evaluation;
(d) symbolic: the closed-form total of ResNet-50 with ``--set resolution=R``.

Timings only ever live here, never in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SPEC = ROOT / "examples" / "resnet50.yaml"
# A normal install keeps byte-code caches; without them every run recompiles costcalc's sources.
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "FORCE_COLOR",
                                                        "TTY_COMPATIBLE")}
ENV["PYTHONHASHSEED"] = "0"


def costcalc_cmd(*args: str) -> list[str]:
    return [PY, "-c", "import sys; from costcalc.cli import main; sys.argv[0] = 'costcalc'; main()", *args]


# -- measuring ----------------------------------------------------------------------------------


def run_once(cmd: list[str], tty: bool = False) -> float:
    """Wall time of one subprocess from start to exit; stdout to a pipe (or a pseudo-terminal)."""
    if tty:
        import pty

        master, slave = pty.openpty()
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT)
        os.close(slave)
        while True:  # drain so the child never blocks on a full terminal buffer
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break
        p.wait()
        dt = time.perf_counter() - t
        os.close(master)
    else:
        t = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
        dt = time.perf_counter() - t
    if p.returncode:
        err = p.stderr.decode()[-2000:] if isinstance(p.stderr, bytes) else ""
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{err}")
    return dt


def interleaved(cmds: dict[str, tuple[list[str], bool]], n: int) -> dict[str, tuple[float, float]]:
    """Run every command ``n`` times in rotation (so load spikes hit all alike): (best, median)."""
    for cmd, tty in cmds.values():  # warm-up: page cache, byte-code caches
        run_once(cmd, tty)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(n):
        for k, (cmd, tty) in cmds.items():
            times[k].append(run_once(cmd, tty))
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def best_of(fn: Callable[[], object], n: int) -> float:
    return best_of_both(fn, n)[0]


def best_of_both(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(best wall time, best CPU time of this process) of ``n`` runs."""
    ts, cs = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        fn()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    return min(ts), min(cs)


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  " + "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for r in rows:
        print("  " + "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))


def ms(t: float) -> str:
    return f"{t * 1000:.0f} ms"


# -- (a) end to end -------------------------------------------------------------------------------


def bench_cli(n: int) -> dict[str, tuple[float, float]]:
    cmds = {
        "python -c pass": ([PY, "-c", "pass"], False),
        "costcalc net resnet50.yaml (table, pipe)": (costcalc_cmd("net", str(SPEC)), False),
        "costcalc net resnet50.yaml (table, terminal)": (costcalc_cmd("net", str(SPEC)), True),
        "costcalc net resnet50.yaml --format json": (costcalc_cmd("net", str(SPEC), "--format", "json"), False),
        "costcalc net resnet50.yaml --set resolution=R --format json": (
            costcalc_cmd("net", str(SPEC), "--set", "resolution=R", "--format", "json"), False),
    }
    res = interleaved(cmds, n)
    base = res["python -c pass"][0]
    rows = [[k, ms(b), ms(m), f"{b / base:.2f}×"] for k, (b, m) in res.items()]
    table(f"(a) end to end, subprocess, best/median of {n} interleaved runs "
          "(ratio: best / best of python -c pass; target ≤ 3× for the table)",
          ["command", "best", "median", "× python"], rows)
    return res


# -- (b) the peers --------------------------------------------------------------------------------

PEER_PRELUDE = r"""
import json, sys, time
import torch
from torch import nn
torch.set_num_threads(1)

def build():
    try:
        from costcalc.spec import load_spec
        from costcalc.torch_build import to_torch
        return to_torch(load_spec(SPEC)), "costcalc.torch_build.to_torch"
    except ImportError:
        return handwritten_resnet50(), "hand-written"

class Bottleneck(nn.Module):
    # ResNet v1 (stride on the first 1x1), as in the paper and examples/resnet50.yaml
    def __init__(self, n, b, m, s):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n, b, 1, s, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
                                  nn.Conv2d(b, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
                                  nn.Conv2d(b, m, 1, bias=False), nn.BatchNorm2d(m))
        self.down = (nn.Sequential(nn.Conv2d(n, m, 1, s, bias=False), nn.BatchNorm2d(m))
                     if (n != m or s != 1) else nn.Identity())
        self.relu = nn.ReLU()
    def forward(self, x):
        return self.relu(self.body(x) + self.down(x))

def handwritten_resnet50():
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    n = 64
    for b, reps, s in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for r in range(reps):
            layers.append(Bottleneck(n, b, 4 * b, s if r == 0 else 1))
            n = 4 * b
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)

model, built_with = build()
model.eval()
x = torch.randn(1, 3, 224, 224)
params = sum(p.numel() for p in model.parameters())
"""

PEERS: dict[str, tuple[str, str]] = {
    # name: (import to probe, counting code setting `macs` (multiply-adds as the tool reports them)
    #        and `reported` (what the tool itself calls its number))
    "ptflops": ("ptflops", r"""
from ptflops import get_model_complexity_info
macs, tool_params = get_model_complexity_info(model, (3, 224, 224), as_strings=False,
                                              print_per_layer_stat=False, verbose=False)
reported = "MACs"
"""),
    "fvcore": ("fvcore", r"""
from fvcore.nn import FlopCountAnalysis, parameter_count
import logging; logging.disable(logging.WARNING)
with torch.no_grad():
    macs = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False).total()
tool_params = parameter_count(model)[""]
reported = "'flops' (one per multiply-add)"
"""),
    "thop": ("thop", r"""
from thop import profile
import copy
with torch.no_grad():
    macs, tool_params = profile(copy.deepcopy(model), inputs=(x,), verbose=False)
reported = "MACs"
"""),
    "FlopCounterMode": ("torch.utils.flop_counter", r"""
from torch.utils.flop_counter import FlopCounterMode
with torch.no_grad(), FlopCounterMode(display=False) as fc:
    model(x)
macs = fc.get_total_flops() / 2
tool_params = params
reported = "FLOPs (= 2 × MACs; halved here)"
"""),
}


def importable(module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module.split('.')[0]!r}) is None)"
    return subprocess.run([PY, "-c", code], env=ENV).returncode == 0


def bench_peers(n: int, costcalc_best: float) -> None:
    if not importable("torch"):
        print("\n(b) peers: skipped (PyTorch not installed; pip install -r benchmarks/requirements.txt)")
        return
    from costcalc.network import evaluate_network
    from costcalc.spec import load_spec

    ours = evaluate_network(load_spec(str(SPEC))).totals
    rows, count_rows, times = [], [], {}
    for name, (probe, code) in PEERS.items():
        if not importable(probe):
            rows.append([name, "not installed", "", ""])
            continue
        script = f"SPEC = {str(SPEC)!r}\n" + PEER_PRELUDE + code + (
            "\nprint(json.dumps({'macs': float(macs), 'params': int(tool_params), 'built': built_with, "
            "'reported': reported}))\n")
        cmd = [PY, "-c", script]
        out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
        if out.returncode:
            rows.append([name, "failed", out.stderr.strip().splitlines()[-1][:60] if out.stderr else "", ""])
            continue
        got = json.loads(out.stdout.strip().splitlines()[-1])
        ts = [run_once(cmd) for _ in range(n)]
        times[name] = min(ts)
        rows.append([name, ms(min(ts)), ms(statistics.median(ts)), f"{min(ts) / costcalc_best:.1f}×"])
        count_rows.append([name, f"{got['macs']:,.0f}", f"{got['macs'] - ours.macs:+,.0f}",
                           f"{got['params']:,}", f"{got['params'] - ours.params:+,}", got["reported"]])
    table(f"(b) peers counting ResNet-50 end to end (import torch, build, count), best/median of {n}; "
          "ratio: peer best / costcalc table best (target ≥ 10× for the fastest peer)",
          ["tool", "best", "median", "÷ costcalc"], rows)
    if times:
        fastest = min(times, key=times.get)  # type: ignore[arg-type]
        print(f"  fastest peer: {fastest}, {times[fastest] / costcalc_best:.1f}× costcalc's time")
    count_rows.insert(0, ["costcalc", f"{ours.macs:,}", "", f"{ours.params:,}", "", "macs (multiply-adds)"])
    table("(b) what each tool counts for ResNet-50 (they disagree: that is the point)",
          ["tool", "MACs", "Δ vs costcalc", "params", "Δ", "tool's own name for it"], count_rows)


# -- (c) scaling ------------------------------------------------------------------------------------

#: kind -> (spec template with {reps}, leaf layers per repeated item); reps = layers // leaves per item
#: (costcalc refuses more than 100,000 leaf layers, so 100k is the largest size)
SCALING_SPECS: dict[str, tuple[str, int]] = {
    "pointwise": ("name: gen\ninput: [8, 8, 64]\nlayers:\n  - {{type: pointwise, M: 64, repeat: {reps}}}\n", 1),
    "expr + bn/act (3 leaves)": (
        "name: gen\nvars: {{alpha: 1.0}}\ninput: [8, 8, 64]\ndefaults: {{bn: true, act: relu}}\n"
        "layers:\n  - {{type: pointwise, M: 'make_divisible(64*alpha, 8)', repeat: {reps}}}\n", 3),
    "bottleneck blocks (10 leaves)": (
        "name: gen\ninput: [8, 8, 64]\nlayers:\n"
        "  - {{name: s, repeat: {reps}, layers: [{{type: bottleneck, B: 16, M: 64}}]}}\n", 10),
}


def bench_scaling(sizes: list[int], reps: int) -> None:
    from costcalc.network import evaluate_network
    from costcalc.spec import load_spec

    rows = []
    with tempfile.TemporaryDirectory() as d:
        for kind, (template, per_item) in SCALING_SPECS.items():
            times: dict[int, float] = {}
            cpu: dict[int, float] = {}
            for n in sizes:
                p = Path(d) / f"{kind.split()[0]}_{n}.yaml"
                p.write_text(template.format(reps=n // per_item))
                count = len(evaluate_network(load_spec(str(p))).leaves)
                t_load, c_load = best_of_both(lambda: (_cold(), load_spec(str(p))), reps if n < 100_000 else 1)
                spec = load_spec(str(p))
                t_eval, c_eval = best_of_both(lambda: evaluate_network(spec), reps if n < 100_000 else 1)
                times[n] = t_load + t_eval
                cpu[n] = c_load + c_eval
                rows.append([kind, f"{count:,}", ms(t_load), ms(t_eval), ms(t_load + t_eval), ms(cpu[n]),
                             f"{times[n] / count * 1e6:.1f} µs"])
            if 10_000 in times and 100_000 in times:
                rows.append(["  time(100k)/time(10k) [target ≤ 11×]", "", "", "",
                             f"{times[100_000] / times[10_000]:.1f}×", f"{cpu[100_000] / cpu[10_000]:.1f}×", ""])
                rows.append(["  peak RSS, 100k layers, own process [target < 500 MB]", "", "", "",
                             f"{peak_rss_mb(str(p)):.0f} MB", "", ""])
    table("(c) scaling: API load_spec + evaluate_network, best of runs (target: 10k layers < 1 s); "
          "CPU: this process's time (steadier on a shared machine)",
          ["spec", "leaf layers", "load", "evaluate", "total", "CPU", "per layer"], rows)


def _cold() -> None:
    """Forget the layers built by earlier loads (each run then builds its layers, as a fresh
    process does)."""
    try:
        from costcalc.spec import graph
    except ImportError:
        return
    getattr(graph, "_LAYERS", {}).clear()


def peak_rss_mb(path: str) -> float:
    """Peak resident memory of a fresh process that loads and evaluates ``path`` (interpreter
    included), from ``getrusage`` (kilobytes on Linux)."""
    code = ("import resource\nfrom costcalc.spec import load_spec\nfrom costcalc.network import evaluate_network\n"
            f"evaluate_network(load_spec({path!r}))\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT, check=True)
    return int(out.stdout.strip()) / 1024


# -- (d) symbolic -----------------------------------------------------------------------------------


def bench_symbolic(reps: int) -> None:
    code = ("import time; t = time.perf_counter()\n"
            "from costcalc.spec import load_spec\nfrom costcalc.network import evaluate_network, symbolic_totals\n"
            f"r = evaluate_network(load_spec({str(SPEC)!r}, {{'resolution': 'R'}}))\n"
            "tot = symbolic_totals(r)\nprint(time.perf_counter() - t, tot.macs)\n")
    best, macs = None, ""
    for _ in range(reps):
        out = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT, check=True)
        t, macs = out.stdout.split(" ", 1)
        best = float(t) if best is None else min(best, float(t))
    table("(d) symbolic: ResNet-50 closed-form total with resolution=R, in one process incl. imports "
          "(target < 2 s)", ["what", "best", "MACs"], [["load + evaluate + expand totals", ms(best or 0),
                                                       macs.strip()]])


# -- (e) sweeps ---------------------------------------------------------------------------------------

#: (label, spec, --set options, goal in seconds end to end)
SWEEPS = [
    ("ResNet-50, resolution 32..1024 (993 points)", "examples/resnet50.yaml", ["resolution=32:1024:1"], 0.5),
    ("MobileNetV2, 100 widths × 100 resolutions (10,000 points)", "examples/mobilenet_v2.yaml",
     ["alpha=0.26:1.25:0.01", "resolution=97:295:2"], 2.0),
]


def _cpu_of(cmd: list[str]) -> tuple[float, float]:
    """(wall, CPU of the child and its children) of one subprocess run."""
    before = os.times()
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, cwd=ROOT, check=True)
    wall = time.perf_counter() - t
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def bench_sweeps(reps: int) -> None:
    rows = []
    for label, spec, sets, goal in SWEEPS:
        args = [a for s in sets for a in ("--set", s)]
        for jobs in (1, 2):
            cmd = costcalc_cmd("sweep", spec, *args, "--format", "csv", "--jobs", str(jobs))
            runs = [_cpu_of(cmd) for _ in range(reps)]
            wall = min(w for w, _ in runs)
            cpu = min(c for _, c in runs)
            rows.append([f"{label}, --jobs {jobs}", ms(wall), ms(cpu), f"< {goal:.1f} s",
                         f"{'yes' if wall < goal else 'no'} / {'yes' if cpu < goal else 'no'}"])
    table("(e) sweeps end to end (`costcalc sweep ... --format csv`), best of runs; CPU = the processes' own "
          "time, all processes (the machine is shared: wall time includes waiting for a core)",
          ["sweep", "wall", "CPU", "goal", "met: wall / CPU"], rows)


# -- (f) scoring candidates --------------------------------------------------------------------------

STAGES = [(16, 1, 1, 1), (24, 2, 2, 6), (32, 3, 2, 6), (64, 4, 2, 6), (96, 3, 1, 6), (160, 3, 2, 6), (320, 1, 1, 6)]


def candidate(rng: "random.Random") -> dict:
    """A MobileNetV2-like candidate: 17 inverted residual blocks with a random expansion, kernel
    and width each, stem and head (53 conv/fc layers, 145 leaves)."""
    layers = [{"type": "conv", "name": "stem", "M": 32, "S": 2, "bn": True, "act": "relu6"}]
    for si, (c, n, s, t) in enumerate(STAGES):
        for r in range(n):
            layers.append({"type": "inverted_residual", "T": t if si == 0 else rng.choice((3, 4, 6)),
                           "K": rng.choice((3, 5, 7)), "M": max(8, int(c * rng.choice((0.75, 1.0, 1.25))) // 8 * 8),
                           "S": s if r == 0 else 1})
    layers += [{"type": "conv", "M": 1280, "K": 1, "bn": True, "act": "relu6"}, {"type": "global_avgpool"},
               {"type": "fc", "M": 1000}]
    return {"name": "candidate", "input": [224, 224, 3], "layers": layers}


def bench_score(n: int) -> None:
    import random

    from costcalc.network import evaluate_network
    from costcalc.spec import build_spec

    rng = random.Random(0)
    warm = [candidate(rng) for _ in range(n)]
    docs = [candidate(rng) for _ in range(n)]
    rows = []
    t, c = time.perf_counter(), time.process_time()
    for d in docs[: n // 10]:
        evaluate_network(build_spec(d, "<candidate>"))
    walk = ((time.perf_counter() - t) / (n // 10), (time.process_time() - c) / (n // 10))
    rows.append(["build_spec + evaluate_network, one by one", f"{1 / walk[0]:,.0f}", f"{1 / walk[1]:,.0f}", ""])
    try:
        from costcalc.compiled import score
    except ImportError:
        rows.append(["costcalc.compiled.score", "absent", "", ""])
    else:
        score(warm)  # the caches of a search that has been running for a while
        t, c = time.perf_counter(), time.process_time()
        score(docs)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        rows.append([f"score() of {n:,} new candidates", f"{n / wall:,.0f}", f"{n / cpu:,.0f}",
                     "≥ 2,000 (aim 10,000)"])
    table("(f) scoring MobileNetV2-like candidates given as dicts (totals), candidates per second",
          ["how", "per s (wall)", "per s (CPU)", "goal"], rows)


# -- (g) start-up and (h) symbolic, against what they cannot avoid -------------------------------------


def bench_startup(n: int) -> None:
    cmds = {
        'python -c "import click, yaml"': ([PY, "-c", "import click, yaml"], False),
        "costcalc net resnet50.yaml (table, pipe)": (costcalc_cmd("net", str(SPEC)), False),
        'python -c "import sympy"': ([PY, "-c", "import sympy"], False),
        "costcalc net resnet152.yaml --set resolution=R --format json": (
            costcalc_cmd("net", str(ROOT / "examples" / "resnet152.yaml"), "--set", "resolution=R", "--format", "json"),
            False),
    }
    res = interleaved(cmds, n)
    names = list(cmds)
    rows = [[k, ms(b), ms(m)] for k, (b, m) in res.items()]
    rows[1].append(f"{res[names[1]][0] / res[names[0]][0]:.2f}× (goal ≤ 1.5×)")
    rows[3].append(f"{res[names[3]][0] / res[names[2]][0]:.2f}× (goal ≤ 1.5×)")
    rows[0].append("")
    rows[2].append("")
    table(f"(g) start-up and symbolic end to end, best/median of {n} interleaved runs",
          ["command", "best", "median", "÷ its floor"], rows)


def bench_symbolic_scale() -> None:
    from costcalc.network import evaluate_network, symbolic_totals
    from costcalc.spec import load_spec

    rows = []
    with tempfile.TemporaryDirectory() as d:
        for kind, (template, per_item) in SCALING_SPECS.items():
            p = Path(d) / f"sym_{kind.split()[0]}.yaml"
            text = template.format(reps=10_000 // per_item).replace("input: [8, 8, 64]", "input: [r, r, 64]")
            text = text.replace("name: gen\n", "name: gen\nvars: {r: 8}\n", 1) if "vars:" not in text else \
                text.replace("vars: {alpha: 1.0}", "vars: {alpha: 1.0, r: 8}")
            p.write_text(text)
            t, c = time.perf_counter(), time.process_time()
            r = evaluate_network(load_spec(str(p), {"r": "R"}))
            symbolic_totals(r)
            rows.append([kind, f"{len(r.leaves):,}", ms(time.perf_counter() - t), ms(time.process_time() - c),
                         "< 5 s"])
    table("(h) symbolic scale: 10,000 layers at input R × R (load + evaluate + expanded totals)",
          ["spec", "leaf layers", "wall", "CPU", "goal"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=15, help="runs per end-to-end command (default 15)")
    ap.add_argument("--peer-runs", type=int, default=3, help="runs per peer (default 3)")
    ap.add_argument("--quick", action="store_true", help="5 runs, peers once, no 100k-layer spec")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--only", nargs="*", metavar="SECTION",
                    help="run only these sections: cli peers scaling symbolic sweeps score startup symscale")
    args = ap.parse_args()
    if args.quick:
        args.n, args.peer_runs = 5, 1
    sys.path.insert(0, str(ROOT))
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine: {os.cpu_count()} CPUs, {cpu}; Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "")
    def want(section: str) -> bool:
        return not args.only or section in args.only

    if want("cli") or want("peers"):
        res = bench_cli(args.n)
        if not args.no_peers and want("peers"):
            bench_peers(args.peer_runs, res["costcalc net resnet50.yaml (table, pipe)"][0])
    if want("scaling"):
        bench_scaling([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000], 3)
    if want("symbolic"):
        bench_symbolic(3 if not args.quick else 1)
    if want("sweeps"):
        bench_sweeps(1 if args.quick else 3)
    if want("score"):
        bench_score(1_000 if args.quick else 5_000)
    if want("startup"):
        bench_startup(args.n)
    if want("symscale"):
        bench_symbolic_scale()
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (2 cores shared with other jobs)")


if __name__ == "__main__":
    main()
