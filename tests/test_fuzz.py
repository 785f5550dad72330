"""Fuzzing the command line with hypothesis.

The invariant, for any spec file and any ``costcalc layer`` argument list: exit status 0 with
output, or exactly one ``Error: ...`` line with exit status 1 or 2 (click's own usage errors: a
usage hint, then one ``Error:`` line, status 2). Never a traceback, never exit status 3 (an
internal error, i.e. a bug), never an escaped exception, never a hang (every generated input is
small, and the limits in README "Limits" bound what a small input can ask for).

Strategies generate random specs (YAML structures mixing valid and invalid layer items, random
field values including expressions and junk), random graph specs (``from``, ``inputs``,
``branches``, ``join``, names and repeats in random combinations, with references that exist, are
ambiguous, come later or are malformed), random edits of valid YAML text, and random
``costcalc layer`` argument lists.

CI runs about 450 examples in total. A longer run::

    COSTCALC_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_fuzz.py

(``COSTCALC_FUZZ_EXAMPLES`` is the number of examples for each fuzz test; add
``-p no:cacheprovider`` to start from scratch, or ``--hypothesis-seed=N`` to vary the run.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from costcalc.cli import main
from costcalc.layers.base import all_types

EXAMPLES = int(os.environ.get("COSTCALC_FUZZ_EXAMPLES", "0"))
def fuzz(default_examples: int) -> settings:
    """Settings of one fuzz test: ``default_examples`` in CI, COSTCALC_FUZZ_EXAMPLES when set."""
    return settings(
        max_examples=EXAMPLES or default_examples,
        deadline=None,
        derandomize=EXAMPLES == 0,  # CI: the same examples every run; long runs explore
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                               HealthCheck.data_too_large],
    )

TYPES = sorted(all_types())
FIELDS = sorted({f for lt in all_types().values() for f in lt.params})
FORMATS = ["table", "json", "csv", "markdown", "latex"]


def check_invariant(args: list[str]) -> int:
    """Run ``costcalc ARGS`` and assert the invariant; return the exit status."""
    result = CliRunner().invoke(main, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # escaped the CLI's error handling: a bug
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code in (0, 1, 2), (result.exit_code, output)
    if currently_in_test_context():
        event(f"exit status {result.exit_code}")  # --hypothesis-show-statistics shows the mix
    if result.exit_code == 0:
        assert result.stdout.strip(), "success without output"
        return 0
    lines = output.strip().splitlines()
    if lines and lines[0].startswith("Usage:"):  # click's usage error
        assert result.exit_code == 2, output
        assert lines[-1].startswith("Error: "), output
    else:
        assert len(lines) == 1 and lines[0].startswith("Error: "), output
        assert "internal error" not in lines[0], output
    return result.exit_code


# ----------------------------------------------------------------------------------------------
# Values: numbers, expressions, names, junk

NAMES = ["alpha", "resolution", "width", "i", "R", "x", "__class__", "int", "max"]
small_ints = st.one_of(st.integers(-4, 70), st.sampled_from([0, 1, 2, 3, 4, 8, 16, 32, 64, 224, 2**62, 10**30]))
expr_atoms = st.one_of(small_ints.map(str), st.sampled_from(NAMES + ["0.5", "1.5", "1e3", "True", "None",
                                                                     "'a'", "()", "[]"]))


@st.composite
def expressions(draw: Any, depth: int = 0) -> str:
    if depth > 2 or draw(st.booleans()):
        return draw(expr_atoms)
    kind = draw(st.sampled_from(["bin", "call", "unary", "cond", "junk"]))
    a = draw(expressions(depth + 1))
    b = draw(expressions(depth + 1))
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<<", "==", "<", "and", "or", "&"]))
        return f"({a} {op} {b})"
    if kind == "call":
        fn = draw(st.sampled_from(["int", "round", "floor", "ceil", "max", "min", "abs", "make_divisible",
                                   "sqrt", "__import__", "open"]))
        args = draw(st.sampled_from([f"{a}", f"{a}, {b}", "", f"{a}, divisor={b}", f"*{a}"]))
        return f"{fn}({args})"
    if kind == "unary":
        return f"{draw(st.sampled_from(['-', '+', 'not ', '~']))}{a}"
    if kind == "cond":
        return f"({a} if {b} else {a})"
    return draw(st.sampled_from([f"{a}.__class__", f"{a}[0]", f"lambda: {a}", f"[{a} for _ in ()]",
                                 f"({a}", f"{a})", f"{a} := 1", f"f'{a}'", "9**9**9", "1<<10**9"]))


values = st.one_of(
    small_ints,
    expressions(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["relu", "relu6", "hardswish", "rleu", "1x1", "3x3", "5x5", "", " ", "\t", "max", "avg"]),
    st.text(max_size=12),
    st.lists(small_ints, max_size=3),
    st.dictionaries(st.sampled_from(["a", "M", "default", "choices"]), small_ints, max_size=2),
)


@st.composite
def layer_items(draw: Any, depth: int = 0) -> Any:
    """One item of a ``layers:`` list: usually a plausible layer, sometimes a group or junk."""
    kind = draw(st.sampled_from(["layer"] * 6 + ["group", "junk"]))
    if kind == "junk":
        return draw(st.one_of(values, st.lists(values, max_size=2)))
    item: dict[str, Any] = {}
    if kind == "group" and depth < 3:
        item["layers"] = draw(st.lists(layer_items(depth + 1), min_size=0, max_size=3))
    else:
        item["type"] = draw(st.one_of(st.sampled_from(TYPES), st.sampled_from(["cnov", "", "Conv", 3])))
        keys = draw(st.lists(st.sampled_from(FIELDS + ["kernel", "m", "type", "layers"]), max_size=4,
                             unique=True))
        for k in keys:
            if k not in ("type", "layers"):
                item[k] = draw(st.one_of(small_ints.filter(lambda v: 0 < v < 300), values))
    if draw(st.integers(0, 5)) == 0:
        item["repeat"] = draw(st.sampled_from([0, -1, 1, 2, 3, "2*2", "i + 1", 1.5, "x", 10**9, True, [2],
                                               "10**10**10"]))
    if draw(st.integers(0, 4)) == 0:
        item["name"] = draw(st.sampled_from(["a", "b", "stem", "a.b", "", 3, True, ["x"]]))
    if draw(st.integers(0, 4)) == 0:
        item["from"] = draw(st.sampled_from(["input", "a", "b", "stem", "conv1", ["a", "input"], 3, True,
                                             {"a": 1}, []]))
    if draw(st.integers(0, 6)) == 0:
        item["first"] = draw(st.sampled_from([{"S": 2}, {"M": 8}, {"type": "relu"}, 2, {"bogus": 1}]))
    return item


PLAUSIBLE = {
    "M": [4, 8, 16, 32, "int(16*alpha)", "make_divisible(24*alpha, 8)", "2*i + 8"],
    "K": [1, 3, 5], "S": [1, 2], "G": [1, 2, 4], "B": [4, 8], "T": [1, 6], "P": [0, 1],
    "bn": [True, False], "act": ["relu", "relu6", "hardswish"], "bias": [True, False],
    "stride_on": ["1x1", "3x3"], "group_first": [True, False],
}


@st.composite
def plausible_items(draw: Any) -> Any:
    """A layer that is usually valid (so that the success path is fuzzed too)."""
    lt = all_types()[draw(st.sampled_from(["conv", "pointwise", "depthwise", "grouped", "relu", "batchnorm",
                                           "maxpool", "separable", "bottleneck", "inverted_residual",
                                           "channel_shuffle", "global_avgpool", "fc", "add", "concat",
                                           "basic", "resnext", "shufflenet_unit", "shufflenet_v2_unit"]))]
    item: dict[str, Any] = {"type": lt.name}
    for k in lt.params:
        if k in PLAUSIBLE and (k in lt.required or draw(st.integers(0, 2)) == 0):
            item[k] = draw(st.sampled_from(PLAUSIBLE[k]))
    if lt.cls.arity > 1:
        item["from"] = "input"
    if draw(st.integers(0, 5)) == 0:
        item["repeat"] = draw(st.integers(1, 3))
    return item


@st.composite
def specs(draw: Any) -> Any:
    if draw(st.integers(0, 2)) == 0:  # plausible: mostly valid layers, now and then a bad item
        items = draw(st.lists(st.one_of(plausible_items(), plausible_items(), plausible_items(),
                                        layer_items()), min_size=1, max_size=6))
        size = draw(st.sampled_from([4, 8, 16, 32]))
        return {"vars": {"alpha": draw(st.sampled_from([1.0, 0.5, 0.25])), "resolution": size},
                "input": ["resolution", "resolution", draw(st.sampled_from([3, 8, 16]))], "layers": items}
    doc: dict[str, Any] = {}
    if draw(st.integers(0, 3)):
        doc["name"] = draw(st.one_of(st.text(max_size=10), values))
    if draw(st.booleans()):
        doc["vars"] = draw(st.one_of(
            st.dictionaries(st.sampled_from(["alpha", "resolution", "width", "i", "_x", "a b"]),
                            st.one_of(small_ints.filter(lambda v: 0 < v < 300), values), max_size=3),
            values))
    if draw(st.integers(0, 6)):
        doc["input"] = draw(st.one_of(
            st.tuples(*[st.one_of(st.integers(1, 64), st.sampled_from(["resolution", "width", "R"]))] * 3).map(list),
            st.lists(values, max_size=4), values))
    if draw(st.integers(0, 3)) == 0:
        doc["defaults"] = draw(st.one_of(
            st.dictionaries(st.sampled_from(["bn", "act", "bias", "K", "bnn"]), values, max_size=2), values))
    if draw(st.integers(0, 8)):
        doc["layers"] = draw(st.one_of(st.lists(layer_items(), min_size=1, max_size=6), values))
    if draw(st.integers(0, 8)) == 0:
        doc[draw(st.sampled_from(["layer", "Layers", "extra"]))] = 1
    return draw(st.sampled_from([doc, doc, doc, doc, [doc], "text"]))


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, allow_unicode=True)


def _options(draw: Any) -> list[str]:
    args = ["--format", draw(st.sampled_from(FORMATS))]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        name = draw(st.sampled_from(["alpha", "resolution", "width", "beta"]))
        value = draw(st.one_of(expressions(), st.sampled_from(["R", "", "0.5", "_x"])))
        args += ["--set", draw(st.sampled_from([f"{name}={value}", name, f"={value}"]))]
    if draw(st.integers(0, 4)) == 0:
        args += draw(st.sampled_from([["--by-type"], ["--depth", "0"], ["--top", "2"], ["--units", "flops"],
                                      ["--params", "weights"], ["--depth", "-1"]]))
    return args


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@fuzz(150)
@given(data=st.data())
def test_random_specs(workdir: Path, data: Any) -> None:
    doc = data.draw(specs(), label="spec")
    spec = workdir / "spec.yaml"
    spec.write_text(_dump(doc), encoding="utf-8")
    check_invariant(["net", str(spec), *_options(data.draw)])


VALID = """\
name: fuzz
vars: {alpha: 1.0, resolution: 32}
input: [resolution, resolution, 3]
defaults: {bn: true, act: relu}
layers:
  - {type: conv, name: stem, M: "int(16*alpha)", S: 2}
  - {type: separable, M: "make_divisible(32*alpha, 8)"}
  - {type: add, from: stem}
  - name: stage
    repeat: 2
    first: {S: 2}
    layers:
      - {type: bottleneck, B: 8, M: 32}
  - {type: global_avgpool}
  - {type: fc, M: 10}
"""


@fuzz(50)
@given(data=st.data())
def test_random_edits_of_valid_yaml(workdir: Path, data: Any) -> None:
    """Byte-level damage to a valid spec: deletions, insertions of YAML punctuation, duplicated
    lines."""
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if op == "insert":
            piece = data.draw(st.one_of(st.sampled_from(list("[]{}:,-&*!|>'\"#\t\n ") + ["*a", "&a ", "<<: ",
                                                                                        "!!python/name:os.system "]),
                                        st.text(max_size=3)))
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 5)):]
        else:
            lines = text.splitlines(keepends=True)
            k = data.draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[: k + 1] + [lines[k]] + lines[k + 1:])
    spec = workdir / "edited.yaml"
    spec.write_text(text, encoding="utf-8", errors="surrogatepass")
    check_invariant(["net", str(spec), "--format", data.draw(st.sampled_from(FORMATS))])


LAYER_FLAGS = ["-H", "-W", "-N", "-M", "-K", "-G", "-T", "-B", "--stride", "--padding", "--dilation"]


@st.composite
def layer_args(draw: Any) -> list[str]:
    args: list[str] = []
    if draw(st.integers(0, 9)):
        args += ["--type", draw(st.one_of(st.sampled_from(TYPES), st.sampled_from(["cnov", "", "CONV"])))]
    if draw(st.booleans()):
        args += ["-H", draw(st.sampled_from(["7", "14", "56", "H"])), "-N", draw(st.sampled_from(["8", "32", "N"]))]
    for flag in draw(st.lists(st.sampled_from(LAYER_FLAGS), max_size=5, unique=True)):
        value = draw(st.one_of(st.sampled_from(["1", "2", "3", "4", "8", "16", "32", "56"]),
                               st.integers(-2, 80).map(str),
                               st.sampled_from(["x", "H", "N2", "_a", "1.5", "", "2**70", "9" * 30])))
        args += [flag, value]
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(["stride_on", "group_first", "act", "bn", "bias", "depthwise", "M", "x"]))
        val = draw(st.sampled_from(["3x3", "1x1", "5x5", "true", "false", "relu", "rleu", "7", "-1", ""]))
        args += ["--param", draw(st.sampled_from([f"{key}={val}", key]))]
    if draw(st.booleans()):
        args += [draw(st.sampled_from(["--bias", "--no-bias"]))]
    if draw(st.booleans()):
        args += ["--format", draw(st.sampled_from(["table", "json", "latex", "csv"]))]
    if draw(st.integers(0, 9)) == 0:
        args += [draw(st.sampled_from(["--bogus", "extra", "--dtype-bytes", "0"]))]
    return args


@fuzz(100)
@given(args=layer_args())
def test_random_layer_arguments(args: list[str]) -> None:
    check_invariant(["layer", *args])


# ----------------------------------------------------------------------------------------------
# Regressions found by the fuzzers (each was an internal error or a wrong error)

@pytest.mark.parametrize("args", [
    ["layer", "--type", "conv", "--bias"],  # table title: pretty(True) crashed (exit 3)
    ["layer", "--type", "conv", "--param", "bn=true"],
    ["layer", "--type", "shufflenet_unit", "-G", "3", "--param", "group_first=false"],
    ["layer", "--type", "bottleneck", "--param", "stride_on=3x3"],  # was "must be '1x1' or '3x3'"
])
def test_fuzz_regressions_succeed(args: list[str]) -> None:
    assert check_invariant(args) == 0


def test_fuzz_regression_control_character(workdir: Path) -> None:
    spec = workdir / "control.yaml"
    spec.write_text("\x1finput: [8, 8, 4]\nlayers: [{type: conv}]\n")
    assert check_invariant(["net", str(spec)]) == 1


# ----------------------------------------------------------------------------------------------
# The graph keys: from / inputs / branches / join / name / repeat in random combinations

#: references as written in specs: names declared by the generator, parts of repeated groups and
#: branches, the reserved words, and malformed ones
GRAPH_NAMES = ["a", "b", "x", "g", "stem"]
GRAPH_REFS = GRAPH_NAMES + ["in", "input", "/input", "/a", "/g.x", "prev.x", "prev.a", "prev", "g.x", "g.0.x",
                            "g.1.a", "g.9.x", "a.b", "g.branch1", "g.join", "branch1", "join", "in.x", "",
                            "a..b", ".a", "/"]
GRAPH_LAYERS: list[dict[str, Any]] = [
    {"type": "pointwise", "M": 8}, {"type": "conv", "M": 8}, {"type": "conv", "K": [1, 3], "M": 8},
    {"type": "conv", "K": [3, 1], "P": [1, 0], "M": 8}, {"type": "conv", "M": 8, "S": 2}, {"type": "relu"},
    {"type": "batchnorm"}, {"type": "maxpool", "K": 3, "S": 1, "P": 1, "ceil_mode": True},
    {"type": "avgpool", "K": 3, "S": 2, "ceil_mode": True}, {"type": "adaptive_avgpool", "out": [2, 3]},
    {"type": "global_avgpool"}, {"type": "fc", "M": 8}, {"type": "conv", "K": [1, 2, 3], "M": 8},
]
graph_refs = st.one_of(st.sampled_from(GRAPH_REFS), st.sampled_from([3, True, None, {"a": 1}, [], ["a", ["b"]]]))


@st.composite
def graph_items(draw: Any, depth: int = 0, plausible: bool = False) -> Any:
    """One item of a graph spec: a layer, a merge layer, a group or a set of branches, with random
    references; mostly shape-preserving (8 channels) so that many specs are valid. ``plausible``
    items have no junk and refer only to tensors that exist (``in``, ``/input``, ``stem``)."""
    kinds = ["layer"] * 4 + ["merge"] * 2 + (["group", "branches", "branches"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds + ([] if plausible else ["junk"])))
    if kind == "junk":
        return draw(st.one_of(values, st.lists(values, max_size=2)))
    refs = st.sampled_from(["in", "/input", "stem", "/stem"]) if plausible else graph_refs
    item: dict[str, Any] = {}
    if kind == "layer":
        item.update(draw(st.sampled_from(GRAPH_LAYERS[:-3] if plausible else GRAPH_LAYERS)))
    elif kind == "merge":
        item["type"] = draw(st.sampled_from(["add", "concat", "mul"]))
    elif kind == "group":
        item["layers"] = draw(st.lists(graph_items(depth + 1, plausible), min_size=1, max_size=3))
    elif plausible:
        item["branches"] = draw(st.lists(st.one_of(st.just([]), st.lists(graph_items(depth + 1, True), min_size=1,
                                                                         max_size=2)), min_size=2, max_size=3))
        item["join"] = draw(st.sampled_from(["concat", "add", "mul"]))
    else:
        branch = st.one_of(st.just([]), st.lists(graph_items(depth + 1), min_size=1, max_size=2),
                           st.fixed_dictionaries({"name": st.sampled_from(GRAPH_NAMES + ["in", ""]),
                                                  "layers": st.lists(graph_items(depth + 1), max_size=2)}),
                           values)
        item["branches"] = draw(st.one_of(st.lists(branch, min_size=0, max_size=3), values))
        if draw(st.booleans()):
            item["join"] = draw(st.one_of(st.sampled_from(["concat", "add", "mul", "max", "Concat"]), values))
    if draw(st.integers(0, 2)) == 0 or (kind == "merge" and (plausible or draw(st.booleans()))):
        item["from"] = draw(refs if plausible else st.one_of(refs, st.lists(refs, max_size=3)))
    if kind == "merge" and not plausible and draw(st.integers(0, 2)) == 0:
        item["inputs"] = draw(st.one_of(st.lists(refs, max_size=3), refs))
    if not plausible and draw(st.integers(0, 2)) == 0:
        item["name"] = draw(st.sampled_from(GRAPH_NAMES + ["in", "prev", "input", "a.b", "join", 3]))
    if draw(st.integers(0, 3)) == 0:
        item["repeat"] = draw(st.sampled_from([1, 2, 3] if plausible else [1, 2, 3, 0, "2", "i + 1"]))
    if not plausible and draw(st.integers(0, 8)) == 0:
        item["first"] = draw(st.sampled_from([{"S": 2}, {"M": 4}, {"from": "in"}, {"K": [1, 3]}, 2]))
    return item


@fuzz(150)
@given(data=st.data())
def test_random_graph_specs(workdir: Path, data: Any) -> None:
    plausible = data.draw(st.booleans(), label="plausible")
    items = data.draw(st.lists(graph_items(0, plausible), min_size=1, max_size=5), label="layers")
    if plausible:
        items = [{"type": "pointwise", "name": "stem", "M": 8}, *items]
    doc = {"vars": {"resolution": 8}, "input": ["resolution", "resolution", 8], "layers": items}
    spec = workdir / "graph.yaml"
    spec.write_text(_dump(doc), encoding="utf-8")
    options = data.draw(st.sampled_from([[], ["--format", "json"], ["--set", "resolution=R"], ["--depth", "1"]]))
    check_invariant(["net", str(spec), *options])
