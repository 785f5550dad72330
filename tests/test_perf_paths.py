"""The fast paths stay fast by construction, and stay identical to the slow ones.

No timings here (DESIGN.md §4: timing belongs in ``benchmarks/``). These tests pin down the
*structure* that makes costcalc fast, each one something a refactor could silently undo:

- the numeric path (API and every CLI output) never imports sympy;
- table output to a file or pipe does not import rich, and is byte-identical to what rich prints;
- the plain word wrap agrees with rich's on arbitrary text and widths.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costcalc.network import evaluate_network
from costcalc.render.boxtable import Grid, render_plain
from costcalc.render.net import View, by_type_table, net_table
from costcalc.spec import load_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPECS = sorted(EXAMPLES.glob("*.yaml"))


def _run_isolated(code: str) -> None:
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True)


@pytest.mark.parametrize("args", [
    [],
    ["--format", "json"],
    ["--format", "csv"],
    ["--format", "markdown"],
    ["--by-type"],
    ["--depth", "0", "--units", "flops", "--params", "weights"],
])
def test_numeric_cli_does_not_import_sympy(args: list[str]) -> None:
    spec = str(EXAMPLES / "resnet50.yaml")
    _run_isolated(f"""
        import sys
        from click.testing import CliRunner
        from costcalc.cli import main
        r = CliRunner().invoke(main, ["net", {spec!r}, *{args!r}])
        assert r.exit_code == 0, r.output
        assert "conv" in r.output
        assert "sympy" not in sys.modules, "numeric CLI path imported sympy"
    """)


@pytest.mark.parametrize("args", [[], ["--format", "json"], ["--by-type"]])
def test_plain_output_does_not_import_rich(args: list[str]) -> None:
    """Output to a pipe/file: the table is laid out without rich (CliRunner's stdout is no TTY)."""
    spec = str(EXAMPLES / "resnet50.yaml")
    _run_isolated(f"""
        import os, sys
        os.environ.pop("FORCE_COLOR", None); os.environ.pop("TTY_COMPATIBLE", None)
        from click.testing import CliRunner
        from costcalc.cli import main
        r = CliRunner().invoke(main, ["net", {spec!r}, *{args!r}])
        assert r.exit_code == 0, r.output
        assert "rich" not in sys.modules, sorted(m for m in sys.modules if m.startswith("rich"))
    """)


def test_symbolic_cli_still_works_and_imports_sympy() -> None:
    spec = str(EXAMPLES / "resnet50.yaml")
    _run_isolated(f"""
        import sys
        from click.testing import CliRunner
        from costcalc.cli import main
        r = CliRunner().invoke(main, ["net", {spec!r}, "--set", "resolution=R", "--format", "json"])
        assert r.exit_code == 0, r.output
        assert "sympy" in sys.modules
    """)


# -- the plain renderer is rich, byte for byte -----------------------------------------------------


def _rich_text(obj: Grid | str, width: int = 120) -> str:
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width).print(obj.to_rich() if isinstance(obj, Grid) else obj)
    return buf.getvalue()


class _Recorder:
    def __init__(self) -> None:
        self.items: list[Grid | str] = []

    def print(self, obj: Grid | str) -> None:
        self.items.append(obj)


VIEWS = [View(), View(units="flops", params="weights", dtype_bytes=2), View(depth=0), View(depth=1), View(top=5)]


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_plain_tables_equal_rich(path: Path) -> None:
    result = evaluate_network(load_spec(str(path)))
    plain = 0
    for view in VIEWS:
        rec = _Recorder()
        net_table(result, rec, view)
        rec.items.append(by_type_table(result, view))
        for obj in rec.items:
            text = render_plain(obj)
            if text is not None:  # None: declined (e.g. wider than the console) -> rich prints it
                plain += 1
                assert text == _rich_text(obj)
    assert plain, "the plain renderer declined every table of this example"


def test_plain_declines_what_rich_would_interpret() -> None:
    for text in ("a [red]b[/]", "x :smile: y", "tab\there", "wide 漢字", "two\nlines"):
        assert render_plain(text) is None
        g = Grid("t", title_justify="left")
        g.add_column("c")
        g.add_row(text)
        assert render_plain(g) is None


def test_plain_declines_tables_wider_than_the_console() -> None:
    g = Grid()
    g.add_column("a")
    g.add_row("x" * 200)
    assert render_plain(g) is None


_WORDS = st.lists(st.text(alphabet="ab→×1 ", min_size=0, max_size=12), min_size=1, max_size=20).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=_WORDS, width=st.integers(5, 60))
def test_plain_wrap_equals_rich(text: str, width: int) -> None:
    text = text.strip() or "x"
    plain = render_plain(text, width)
    if plain is not None:
        assert plain == _rich_text(text, width)
    g = Grid(title=text, title_justify="left", caption=text, caption_justify="left")
    g.add_column("h")
    g.add_row("1")
    plain = render_plain(g, width + 10)
    if plain is not None:
        assert plain == _rich_text(g, width + 10)
