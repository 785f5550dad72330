"""The Python API (costcalc/api.py, costcalc/results.py): the examples of docs/api.md run; results
equal the commands' JSON; notebooks display HTML and LaTeX; ``import costcalc`` stays cheap."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from conftest import DOCS, ROOT, cli_json, example

import costcalc
from costcalc.errors import CostcalcError, UsageError


def _pycon_blocks(text: str) -> list[tuple[int, str]]:
    """(line, code) of every ```pycon block of a Markdown page."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].strip() == "```pycon":
            start, i = i + 1, i + 1
            block = []
            while lines[i].strip() != "```":
                block.append(lines[i])
                i += 1
            out.append((start, "\n".join(block) + "\n"))
        i += 1
    return out


def test_api_page_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every example of docs/api.md, in order, in one namespace (as a reader would type them)."""
    monkeypatch.chdir(ROOT)
    page = DOCS / "api.md"
    blocks = _pycon_blocks(page.read_text())
    assert len(blocks) >= 8
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs: dict[str, object] = {}
    examples = 0
    _failures: list[str] = []
    for line, code in blocks:
        test = parser.get_doctest(code, globs, f"api.md:{line}", str(page), line)
        examples += len(test.examples)
        runner.run(test, out=_failures.append, clear_globs=False)
        globs = test.globs  # get_doctest copies the namespace: carry it to the next block
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {examples} examples of docs/api.md failed:\n" + "".join(_failures[:3])
    assert examples >= 25


def test_public_names() -> None:
    assert isinstance(costcalc.__version__, str) and costcalc.__version__
    for name in costcalc.__all__:
        assert getattr(costcalc, name) is not None, name
    with pytest.raises(AttributeError):
        costcalc.no_such_thing  # noqa: B018


def test_import_is_cheap() -> None:
    code = textwrap.dedent("""
        import sys
        import costcalc
        heavy = [m for m in ("sympy", "rich", "click", "yaml", "torch", "matplotlib", "pandas", "numpy")
                 if m in sys.modules]
        assert not heavy, heavy
        costcalc.net  # a function: loads the API, still no sympy
        assert "sympy" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_numeric_api_does_not_import_sympy() -> None:
    code = textwrap.dedent(f"""
        import sys, costcalc
        m = costcalc.net({example("resnet50")!r})
        assert m.totals.macs == 3857973248
        m.to_dict(); m.table(); m._repr_html_()
        assert "sympy" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("args, call", [
    (["net", example("mobilenet_v1")], lambda: costcalc.net(example("mobilenet_v1"))),
    (["net", example("resnet50"), "--set", "resolution=R"], lambda: costcalc.net(example("resnet50"), resolution="R")),
    (["net", example("mobilenet_v1"), "--set", "alpha=a", "--assume", "a>=0.25"],
     lambda: costcalc.net(example("mobilenet_v1"), alpha="a", assume="a>=0.25")),
    (["layer", "--type", "bottleneck", "-H", "56", "-N", "256", "-B", "64"],
     lambda: costcalc.layer("bottleneck", H=56, N=256, B=64)),
    (["compare", example("resnet18"), example("resnet34")], lambda: costcalc.compare(example("resnet18"),
                                                                                    example("resnet34"))),
    (["derive", "separable(H=H/2)"], lambda: costcalc.derive("separable(H=H/2)")),
    (["ratio", "separable", "conv", "-K", "3"], lambda: costcalc.ratio("separable", "conv", K=3)),
])
def test_to_dict_is_the_json_contract(args: list[str], call: object) -> None:
    assert json.loads(json.dumps(call().to_dict(), ensure_ascii=False)) == cli_json(*args)  # type: ignore[operator]


def test_sweep_to_dict_is_the_json_contract() -> None:
    api = costcalc.sweep(example("mobilenet_v1"), alpha=[0.25, 0.5], resolution="128:160:32")
    cli = cli_json("sweep", example("mobilenet_v1"), "--set", "alpha=0.25,0.5", "--set", "resolution=128:160:32")
    assert api.to_dict() == cli


def test_variables_accept_numbers_strings_and_symbols() -> None:
    base = costcalc.net(example("mobilenet_v1"), alpha="0.75").totals
    for value in (0.75, Fraction(3, 4), sympy.Rational(3, 4), "3/4"):
        assert costcalc.net(example("mobilenet_v1"), alpha=value).totals == base
    R = sympy.Symbol("R")
    by_symbol = costcalc.net(example("resnet50"), resolution=R).formula()
    by_name = costcalc.net(example("resnet50"), resolution="R").formula()
    assert by_symbol == by_name
    assert costcalc.layer("conv", H=sympy.Symbol("h"), N=8, M=8).value("macs") == costcalc.layer(
        "conv", H="h", N=8, M=8).value("macs")


@pytest.mark.parametrize("call, message", [
    (lambda: costcalc.net(example("resnet50"), resolution=True), "not a boolean"),
    (lambda: costcalc.net(example("resnet50"), resolution=float("nan")), "not a finite number"),
    (lambda: costcalc.net(example("resnet50"), resolution=sympy.Symbol("R") * 2), "a single symbol"),
    (lambda: costcalc.net(example("resnet50"), nonsense=1), "has no variable 'nonsense'"),
    (lambda: costcalc.net(example("resnet50"), resolution="__import__('os')"), "--set resolution"),
    (lambda: costcalc.layer("conv", H=1.5), "positive integer or a symbol name"),
    (lambda: costcalc.net(42), "expected a spec file path or a spec mapping"),
])
def test_bad_input_is_one_clear_error(call: object, message: str) -> None:
    with pytest.raises(CostcalcError) as e:
        call()  # type: ignore[operator]
    assert message in str(e.value) and "\n" not in str(e.value)


def test_formula_and_rows() -> None:
    m = costcalc.net(example("resnet18"))
    assert m.formula("macs") == m.totals.macs == sum(r.cost.macs for r in m.leaves)
    assert m.formula("flops") == 2 * m.totals.macs
    assert m.formula("bytes", dtype_bytes=2) == 2 * m.totals.memory
    with pytest.raises(CostcalcError, match="unknown metric 'mac'"):
        m.formula("mac")


def test_repr_html_is_a_table_with_every_row() -> None:
    m = costcalc.net(example("mobilenet_v1"))
    html = m._repr_html_()
    assert html.count("<table>") == 2  # layers, by type
    assert "568,740,352" in html and "separable13" in html
    assert html.count("<tr>") >= len(m.rows)
    assert "<script" not in html


def test_repr_html_escapes_names(tmp_path: Path) -> None:
    spec = {"name": "<b>net</b>", "input": [8, 8, 3], "layers": [{"type": "conv", "name": "a<script>", "M": 4}]}
    html = costcalc.net(spec)._repr_html_()
    assert "<script>" not in html and "a&lt;script&gt;" in html and "&lt;b&gt;net" in html


def test_repr_latex_is_math() -> None:
    latex = costcalc.net(example("resnet50"), resolution="R")._repr_latex_()
    assert latex.startswith("$$") and latex.endswith("$$")
    assert "76848 R^{2} + 2048000" in latex
    assert "multiple of 32" in latex
    assert costcalc.layer("separable")._repr_latex_().count(r"\text{MACs}") == 1
    assert r"\frac{K^{2} + 2 M}" in costcalc.derive("separable(H=H/2, W=W/2, N=2*N, M=2*M) / separable()") \
        ._repr_latex_()


def test_to_dataframe() -> None:
    m = costcalc.net(example("resnet18"))
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="needs pandas"):
            m.to_dataframe()
        return
    df = m.to_dataframe()
    assert len(df) == len(m.rows)
    assert df[df.leaf].macs.sum() == m.totals.macs


def test_exact_form_object() -> None:
    r50 = costcalc.net(example("resnet50"), resolution="R")
    exact = r50.exact_form()
    assert exact.exact and exact.conditions.derived() == ()
    assert exact.formula() == r50.formula(exact=True)
    assert costcalc.net(example("resnet50"), resolution="R", exact=True).formula() == exact.formula()
