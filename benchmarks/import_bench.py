"""``costcalc import`` timings: ResNet-50 from PyTorch and from ONNX (see benchmarks/README.md).

    .venv/bin/python benchmarks/import_bench.py            # 3 runs each
    .venv/bin/python benchmarks/import_bench.py -n 1       # one run

Prints, for ResNet-50 (torchvision, random init, 224 × 224):

- from PyTorch, end to end (``costcalc import torchvision.models:resnet50 -o …`` in a subprocess),
  and where the time goes in-process: importing torch and torchvision, building the model on the meta
  device, ``torch.export`` with dynamic height and width, the walk of the ATen graph, writing and
  checking the spec (including the closed-form condition), and the FlopCounterMode check;
- from ONNX, end to end (``costcalc import resnet50.onnx``), with the peak memory of that process
  beside the size of the file (the weights are skipped, never read), and what the export to ONNX
  costs (PyTorch's TorchScript exporter; not part of an import).

Each figure is the best of ``-n`` runs, with its ratio to the target (15 s and 2 s). Timings live
here, never in the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_TORCH, TARGET_ONNX = 15.0, 2.0


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


#: runs ``costcalc ARGS`` and reports its own peak memory (not that of earlier children)
_WRAP = """
import resource, runpy, sys
sys.argv = ["costcalc", *sys.argv[1:]]
try:
    runpy.run_module("costcalc", run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_cli(args: list[str]) -> tuple[float, int]:
    """Seconds and peak resident memory (KiB) of ``costcalc ARGS`` in a fresh process."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _WRAP, *args], env=env(), capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode:
        sys.exit(f"costcalc {' '.join(args)} failed: {r.stderr.strip()}")
    rss = int(next(ln.split()[1] for ln in r.stderr.splitlines() if ln.startswith("maxrss")))
    return dt, rss


def stages(n: int) -> dict[str, float]:
    """In-process: where an import of ResNet-50 from PyTorch spends its time (best of n each)."""
    code = r'''
import json, sys, time
t0 = time.perf_counter()
import torch, torchvision
t1 = time.perf_counter()
from costcalc.importer import finish
from costcalc.importer import torch_import as ti
model = ti.load_model("torchvision.models:resnet50")
t2 = time.perf_counter()
ep = ti.export(model, (3, 224, 224), "resnet50")
t3 = time.perf_counter()
sizes = ti._size_vars(ep, (3, 224, 224))
graph = ti._Walk(ep, sizes).run()
t4 = time.perf_counter()
res = finish(graph, sizes, "resnet50", "resnet50", False)
t5 = time.perf_counter()
ti.torch_reference(model, (3, 224, 224))
t6 = time.perf_counter()
print(json.dumps({"import torch + torchvision": t1 - t0, "build on meta": t2 - t1, "torch.export (dynamic H, W)": t3 - t2,
                  "walk the ATen graph": t4 - t3, "write + load + check the spec": t5 - t4,
                  "FlopCounterMode check": t6 - t5}))
'''
    import json

    best: dict[str, float] = {}
    for _ in range(n):
        r = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stderr)
        for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items():
            best[k] = min(best.get(k, v), v)
    return best


def export_onnx(path: str) -> float:
    code = f'''
import time, warnings
warnings.simplefilter("ignore")
import torch, torchvision
m = torchvision.models.resnet50().eval()
t = time.perf_counter()
torch.onnx.export(m, (torch.zeros(1, 3, 224, 224),), {path!r}, dynamo=False, input_names=["x"],
                  dynamic_axes={{"x": {{2: "height", 3: "width"}}}}, opset_version=17)
print(time.perf_counter() - t)
'''
    r = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stderr)
    return float(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3, help="runs per figure (best is reported)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r50.yaml")
        t_torch = min(run_cli(["import", "torchvision.models:resnet50", "-o", out])[0] for _ in range(args.n))
        print(f"\nResNet-50 from PyTorch, end to end: {t_torch:.2f} s  (target {TARGET_TORCH:.0f} s: "
              f"{t_torch / TARGET_TORCH:.2f}× of it)")
        for k, v in stages(args.n).items():
            print(f"  {k:32s} {v:6.2f} s")
        onnx_path = os.path.join(tmp, "resnet50.onnx")
        t_export = export_onnx(onnx_path)
        size = os.path.getsize(onnx_path)
        runs = [run_cli(["import", onnx_path, "-o", out]) for _ in range(args.n)]
        t_onnx = min(t for t, _ in runs)
        rss = max(m for _, m in runs)
        print(f"\nResNet-50 from ONNX, end to end: {t_onnx:.2f} s  (target {TARGET_ONNX:.0f} s: "
              f"{t_onnx / TARGET_ONNX:.2f}× of it)")
        print(f"  file {size / 1e6:.1f} MB (weights inline); peak memory of the import process {rss / 1024:.0f} MB")
        print(f"  exporting it (torch.onnx.export, TorchScript exporter): {t_export:.2f} s, not part of an import")


if __name__ == "__main__":
    main()
