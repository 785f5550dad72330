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

Timings only ever live here, never in the test suite (DESIGN.md §4).
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
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


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
            for n in sizes:
                p = Path(d) / f"{kind.split()[0]}_{n}.yaml"
                p.write_text(template.format(reps=n // per_item))
                count = len(evaluate_network(load_spec(str(p))).leaves)
                t_load = best_of(lambda: load_spec(str(p)), reps if n < 100_000 else 1)
                spec = load_spec(str(p))
                t_eval = best_of(lambda: evaluate_network(spec), reps if n < 100_000 else 1)
                times[n] = t_load + t_eval
                rows.append([kind, f"{count:,}", ms(t_load), ms(t_eval), ms(t_load + t_eval),
                             f"{times[n] / count * 1e6:.1f} µs"])
            if 10_000 in times and 100_000 in times:
                rows.append(["  time(100k)/time(10k) [target ≤ 12×]", "", "", "",
                             f"{times[100_000] / times[10_000]:.1f}×", ""])
    table("(c) scaling: API load_spec + evaluate_network, best of runs (target: 10k layers < 1 s)",
          ["spec", "leaf layers", "load", "evaluate", "total", "per layer"], rows)


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=15, help="runs per end-to-end command (default 15)")
    ap.add_argument("--peer-runs", type=int, default=3, help="runs per peer (default 3)")
    ap.add_argument("--quick", action="store_true", help="5 runs, peers once, no 100k-layer spec")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n, args.peer_runs = 5, 1
    sys.path.insert(0, str(ROOT))
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine: {os.cpu_count()} CPUs, {cpu}; Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "")
    res = bench_cli(args.n)
    if not args.no_peers:
        bench_peers(args.peer_runs, res["costcalc net resnet50.yaml (table, pipe)"][0])
    bench_scaling([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000], 3)
    bench_symbolic(3 if not args.quick else 1)


if __name__ == "__main__":
    main()
