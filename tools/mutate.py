"""Mutation check: plant known bugs in the cost rules and report which tests catch each.

    python tools/mutate.py                   # every mutant against the tests of cost rules
    python tools/mutate.py --all             # against the whole default suite (minutes per mutant)
    python tools/mutate.py --only grouped_no_div_g --only bn_params_n
    python tools/mutate.py --list            # the mutants, without running anything
    python tools/mutate.py --markdown        # the result as a markdown table

Each mutant is one exact text replacement in a copy of the package (``costcalc/``) in a scratch
directory; the worktree is never modified. The worktree's tests then run against the copy: the
working directory and ``PYTHONPATH`` point at the scratch directory, so ``import costcalc`` (also
in subprocesses the tests start) finds the mutated package. An unmutated copy runs first and must
pass, or the report would mean nothing.

A mutant that no test catches is a SURVIVOR: a rule whose tests cannot fail. Write a test (with an
independent expectation) that fails on it. Not part of CI: run it after changing a cost rule or its
tests. If a rule's code changes, its mutant's ``old`` text no longer matches and the script says so.

Exit status: 0 every mutant caught, 1 a survivor, 2 the unmutated copy fails or a mutant does not
apply.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "costcalc"

#: Left out of the default run: suites that test no cost rule (the expression parser, bad input,
#: fuzzing of the spec reader, renderer speed). ``--all`` runs everything.
NOT_RULES = {"test_expr.py", "test_bad_inputs.py", "test_fuzz.py", "test_perf_paths.py"}


def fast_subset() -> list[str]:
    return [str(p) for p in sorted((ROOT / "tests").glob("test_*.py")) if p.name not in NOT_RULES]


@dataclass(frozen=True)
class Mutant:
    """One planted bug: replace ``old`` by ``new`` in ``costcalc/<file>``. ``alt`` lists other
    (old, new) spellings of the same bug for other versions of the rule; the first whose ``old``
    occurs exactly once is applied."""

    name: str
    bug: str
    file: str  # relative to costcalc/
    old: str
    new: str
    alt: tuple[tuple[str, str], ...] = ()


MUTANTS = [
    Mutant("grouped_no_div_g", "grouped conv MACs forget the /G",
           "layers/conv.py", "macs=out * self.K * self.K * div(x.c, g),", "macs=out * self.K * self.K * x.c,",
           alt=(("macs=out * kh * kw * div(x.c, g),", "macs=out * kh * kw * x.c,"),)),
    Mutant("depthwise_k_not_k2", "depthwise MACs use K instead of K²",
           "layers/conv.py", "macs=out * self.K * self.K * div(x.c, g),",
           "macs=out * (self.K if self.depthwise else self.K * self.K) * div(x.c, g),",
           alt=(("macs=out * kh * kw * div(x.c, g),", "macs=out * (kh if self.depthwise else kh * kw) * div(x.c, g),"),)),
    Mutant("conv_bias_param_dropped", "conv bias adds no parameter",
           "layers/conv.py", "params = weights + (m if self.bias else 0)", "params = weights"),
    Mutant("conv_bias_add_dropped", "conv bias adds no elementwise op",
           "layers/conv.py", "elementwise=out if self.bias else 0,", "elementwise=0,"),
    Mutant("conv_memory_no_params", "conv memory leaves out reading the weights",
           "layers/conv.py", "memory=x.elements + out + params,", "memory=x.elements + out,"),
    Mutant("fc_bias_param_dropped", "fc bias adds no parameter",
           "layers/conv.py", "params = weights + (self.M if self.bias else 0)", "params = weights"),
    Mutant("fc_channels_only", "fc counts N·M, not H·W·N·M (forgets to flatten)",
           "layers/conv.py", "weights = x.elements * self.M", "weights = x.c * self.M"),
    Mutant("bn_params_n", "BatchNorm params N instead of 2N (γ only)",
           "layers/primitives.py", "return Cost(params=2 * x.c,", "return Cost(params=x.c,"),
    Mutant("stride_ignored", "output size ignores the stride",
           "num.py", "return (size + 2 * pad - d * (k - 1) - 1) // s + 1", "return (size + 2 * pad - d * (k - 1) - 1) + 1",
           alt=(("            return span // s + 1\n", "            return span + 1\n"),)),
    Mutant("dilation_ignored", "output size ignores the dilation",
           "num.py", "return (size + 2 * pad - d * (k - 1) - 1) // s + 1", "return (size + 2 * pad - (k - 1) - 1) // s + 1",
           alt=(("span = size + 2 * pad - d * (k - 1) - 1\n", "span = size + 2 * pad - (k - 1) - 1\n"),)),
    Mutant("formula_stride_ignored", "symbolic output size (formulas) ignores the stride",
           "num.py", "return div(size, s)", "return size"),
    Mutant("pool_default_stride_1", "a pool without S moves by 1, not by K",
           "layers/primitives.py", "s = self.K if self.S is None else self.S", "s = 1 if self.S is None else self.S",
           alt=(("sh, sw = (kh, kw) if self.S is None else pair(self.S)", "sh, sw = (1, 1) if self.S is None else pair(self.S)"),)),
    Mutant("maxpool_k2", "max pool counts K² comparisons per output, not K² − 1",
           "layers/primitives.py", "comparisons=per_out * (window - 1)", "comparisons=per_out * window"),
    Mutant("avgpool_k2_minus_1", "average pool counts K² − 1 ops per output, not K² (no divide)",
           "layers/primitives.py", "return Cost(elementwise=per_out * window,", "return Cost(elementwise=per_out * (window - 1),"),
    Mutant("concat_memory_once", "concat moves its elements once (read, no write)",
           "layers/primitives.py", "        n = y.elements\n        return Cost(activations=n, memory=2 * n)",
           "        n = y.elements\n        return Cost(activations=n, memory=n)"),
    Mutant("add_memory_two", "residual add reads one input (memory 2n, not 3n)",
           "layers/primitives.py", "return Cost(elementwise=n, activations=n, memory=3 * n)",
           "return Cost(elementwise=n, activations=n, memory=2 * n)",
           alt=(("return Cost(elementwise=(k - 1) * n, activations=n, memory=(k + 1) * n)",
                 "return Cost(elementwise=(k - 1) * n, activations=n, memory=k * n)"),)),
    Mutant("basic_residual_dropped", "basic block drops its residual add (and shortcut)",
           "layers/blocks.py",
           '        sc = _shortcut(b, x, m, self.S, identity, self.shortcut)\n        y = b("add", Add(), y, sc)\n'
           '        b("relu2", RELU, y)',
           '        b("relu2", RELU, y)'),
    Mutant("inverted_residual_no_add", "MobileNetV2 block never adds its input",
           "layers/blocks.py", '        if residual:\n            b("add", Add(), y, x)',
           '        if False:\n            b("add", Add(), y, x)'),
    Mutant("bottleneck_stride_swapped", "bottleneck puts the stride on the other conv",
           "layers/blocks.py", 's1, s3 = (self.S, 1) if self.stride_on == "1x1" else (1, self.S)',
           's1, s3 = (1, self.S) if self.stride_on == "1x1" else (self.S, 1)'),
    Mutant("shufflenet_concat_channels", "stride-2 ShuffleNet unit's branch outputs M, not M − N",
           "layers/blocks.py", "main_out = m - x.c\n", "main_out = m\n"),
    Mutant("shufflenet_group_first_ignored", "ShuffleNet unit always groups its first 1×1",
           "layers/blocks.py", "g1 = self.G if self.group_first else 1", "g1 = self.G"),
    Mutant("identity_ignores_stride", "a residual block keeps the identity shortcut at stride 2",
           "layers/blocks.py", "return bool(eq) and s == 1", "return bool(eq)"),
    Mutant("hardswish_two_ops", "hard-swish counts 2 ops per element, not 3",
           "layers/primitives.py", '"hardswish": (2, 3),', '"hardswish": (2, 2),'),
    Mutant("relu6_one_comparison", "ReLU6 counts one comparison per element, not two",
           "layers/primitives.py", '"relu6": (2, 0),', '"relu6": (1, 0),'),
]


@dataclass
class Outcome:
    mutant: Mutant
    failed: list[str]
    seconds: float


def copy_package(dest: Path) -> None:
    """The package copied into ``dest``; the repository's other top-level entries linked beside it,
    so that tests which name files relative to the working directory (``examples/...``) find them."""
    shutil.copytree(PACKAGE, dest / "costcalc", ignore=shutil.ignore_patterns("__pycache__"))
    for entry in ROOT.iterdir():
        if entry.name not in ("costcalc", ".git") and not (dest / entry.name).exists():
            (dest / entry.name).symlink_to(entry)


def apply(mutant: Mutant, scratch: Path) -> None:
    path = scratch / "costcalc" / mutant.file
    text = path.read_text(encoding="utf-8")
    for old, new in ((mutant.old, mutant.new), *mutant.alt):
        if text.count(old) == 1:
            path.write_text(text.replace(old, new), encoding="utf-8")
            return
    raise SystemExit(f"mutant {mutant.name}: its text does not occur exactly once in costcalc/{mutant.file}; "
                     "the rule changed: update the mutant")


def run_tests(scratch: Path, tests: list[str]) -> tuple[list[str], int]:
    """Run pytest on ``tests`` with ``costcalc`` imported from ``scratch``; the failing test ids."""
    env = {k: v for k, v in os.environ.items() if k not in ("COSTCALC_SLOW", "COSTCALC_UPDATE_GOLDEN")}
    env.update(PYTHONPATH=str(scratch), PYTHONDONTWRITEBYTECODE="1")
    which = subprocess.run([sys.executable, "-c", "import costcalc; print(costcalc.__file__)"], cwd=scratch,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not which.startswith(str(scratch)):
        raise SystemExit(f"costcalc resolves to {which}, not to the scratch copy {scratch}")
    report = scratch / "report.xml"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q", "--no-header",
           "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), f"--junitxml={report}", *tests]
    subprocess.run(cmd, cwd=scratch, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failed, total = [], 0
    for case in ET.parse(report).getroot().iter("testcase"):
        total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname', '').split('.')[-1]}.py::{case.get('name')}")
    return failed, total


def by_file(failed: list[str], most: int | None = None) -> str:
    """``test_layers.py (4), test_verify.py (2)``: failing tests per file, the ``most`` largest."""
    counts = Counter(t.split("::")[0] for t in failed).most_common()
    shown = ", ".join(f"{f.removeprefix('test_').removesuffix('.py')} ({n})" if most else f"{f} ({n})"
                      for f, n in counts[:most])
    return shown + (", …" if most and len(counts) > most else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--all", action="store_true", help="run the whole default suite (NOT_RULES too)")
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--markdown", action="store_true", help="print the result as a markdown table")
    ap.add_argument("--show", type=int, default=3, metavar="N",
                    help="catching tests (files with --markdown) named per mutant (default 3)")
    args = ap.parse_args()

    mutants = MUTANTS
    if args.only:
        unknown = set(args.only) - {m.name for m in MUTANTS}
        if unknown:
            ap.error(f"unknown mutant(s): {', '.join(sorted(unknown))}; see --list")
        mutants = [m for m in MUTANTS if m.name in args.only]
    if args.list:
        for m in mutants:
            print(f"{m.name:32} costcalc/{m.file:22} {m.bug}")
        return 0
    tests = [str(ROOT / "tests")] if args.all else fast_subset()

    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="costcalc-mutate-") as tmp:
        base = Path(tmp) / "baseline"
        base.mkdir()
        copy_package(base)
        start = time.monotonic()
        failed, total = run_tests(base, tests)
        print(f"baseline: {total} tests, {len(failed)} failing, {time.monotonic() - start:.0f}s", flush=True)
        if failed or not total:
            print("the unmutated package fails these tests; fix them first:\n  " + "\n  ".join(failed))
            return 2
        for m in mutants:
            scratch = Path(tmp) / m.name
            scratch.mkdir()
            copy_package(scratch)
            apply(m, scratch)
            start = time.monotonic()
            failed, _ = run_tests(scratch, tests)
            outcomes.append(Outcome(m, failed, time.monotonic() - start))
            verdict = f"caught by {len(failed)}" if failed else "SURVIVED"
            print(f"{m.name:32} {verdict:14} {time.monotonic() - start:4.0f}s  {by_file(failed)}", flush=True)
            shutil.rmtree(scratch)

    survivors = [o.mutant.name for o in outcomes if not o.failed]
    print()
    if args.markdown:
        print("| mutant | bug planted | tests failing | in (most first) |")
        print("| --- | --- | --: | --- |")
        for o in outcomes:
            print(f"| `{o.mutant.name}` | {o.mutant.bug} | {len(o.failed) or '**SURVIVED**'} | "
                  f"{by_file(o.failed, args.show)} |")
    else:
        for o in outcomes:
            print(f"{o.mutant.name}: {o.mutant.bug}")
            for t in o.failed[: args.show]:
                print(f"    {t}")
            if not o.failed:
                print("    SURVIVED: no test fails on this bug")
    print(f"\n{len(outcomes) - len(survivors)} of {len(outcomes)} mutants caught"
          + (f"; survivors: {', '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
