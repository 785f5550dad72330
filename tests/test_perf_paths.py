"""The fast paths stay fast by construction, and stay identical to the slow ones.

No timings here (timing belongs in ``benchmarks/``). These tests pin down the
*structure* that makes costcalc fast, each one something a refactor could silently undo:

- the numeric path (API and every CLI output) never imports sympy;
- table output to a file or pipe does not import rich, and is byte-identical to what rich prints
  for the same layout (rich only adds colour on a terminal).
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from costcalc.render import render
from costcalc.render.boxtable import Grid, Output, Text, render_plain
from costcalc.render.layout import fit
from costcalc.render.view import View
from costcalc.results import load_network

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


# -- lazy loading: a command loads its own module, not every command's -----------------------------


def _defined_commands() -> dict[str, str]:
    """command name → the module that defines it, from every module of ``costcalc.commands``."""
    import importlib
    import pkgutil

    import costcalc.commands

    defined: dict[str, str] = {}
    for info in pkgutil.iter_modules(costcalc.commands.__path__):
        module = importlib.import_module(f"costcalc.commands.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            assert command.name not in defined, f"command {command.name!r} defined twice"
            defined[command.name] = module.__name__
    return defined


def test_command_table_matches_the_command_modules() -> None:
    """The root's static table (name → module) is exactly what the modules' ``COMMANDS`` define: a
    new command missing from the table would be unreachable, a stale entry would fail at run time."""
    from costcalc.cli import COMMAND_MODULES

    assert COMMAND_MODULES == _defined_commands()


def test_help_lists_every_command() -> None:
    from click.testing import CliRunner

    from costcalc.cli import main

    r = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    listed = r.output.split("Commands:\n", 1)[1].splitlines()
    names = [line.split()[0] for line in listed if line.strip()]
    assert names == sorted(_defined_commands())


def test_net_loads_only_its_own_command_module() -> None:
    spec = str(EXAMPLES / "resnet50.yaml")
    _run_isolated(f"""
        import sys
        from click.testing import CliRunner
        from costcalc.cli import main
        r = CliRunner().invoke(main, ["net", {spec!r}])
        assert r.exit_code == 0, r.output
        loaded = sorted(m for m in sys.modules if m.startswith("costcalc.commands."))
        assert loaded == ["costcalc.commands.net", "costcalc.commands.options"], loaded
    """)


# -- lazy layer registry: a type loads the module that registers it ---------------------------------


def test_type_table_matches_the_layer_modules() -> None:
    """The registry's static table (type name → module) is exactly what importing every layer module
    registers: a type missing from the table, or filed under the wrong module, fails here."""
    import importlib
    import pkgutil

    import costcalc.layers
    from costcalc.layers.base import REGISTRY, TYPE_MODULES

    for info in pkgutil.iter_modules(costcalc.layers.__path__):
        importlib.import_module(f"costcalc.layers.{info.name}")
    assert TYPE_MODULES == {name: lt.cls.__module__ for name, lt in REGISTRY.items()}


def test_a_type_loads_only_the_modules_it_needs() -> None:
    _run_isolated("""
        import sys
        from costcalc.layers.base import REGISTRY, TYPE_MODULES, all_types, get_type
        assert get_type("conv").name == "conv" and get_type("bottleneck").name == "bottleneck"
        loaded = sorted(m for m in sys.modules if m.startswith("costcalc.layers."))
        assert "costcalc.layers.transformer" not in loaded and "costcalc.layers.mobile" not in loaded, loaded
        assert set(REGISTRY) < set(TYPE_MODULES)
        assert list(all_types()) == list(TYPE_MODULES)  # every type, in the table's order
    """)


def test_unknown_type_suggests_among_every_type() -> None:
    """Before any module is loaded, a misspelt type is still compared with every type's name."""
    _run_isolated("""
        from costcalc.errors import CostcalcError
        from costcalc.layers.base import get_type
        try:
            get_type("ghost_botleneck")
        except CostcalcError as e:
            assert "'ghost_bottleneck'" in str(e), str(e)
        else:
            raise AssertionError("no error")
    """)


# -- YAML through libyaml reads what the Python loader reads ---------------------------------------


def _same_document(a: object, b: object) -> bool:
    """Equal values, and equal line/column marks on every mapping, key and sequence."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (a == b and (a.line, a.col, a.key_lines, a.key_cols) == (b.line, b.col, b.key_lines, b.key_cols)  # type: ignore[attr-defined]
                and all(_same_document(a[k], b[k]) for k in a))  # type: ignore[index]
    if isinstance(a, list):
        return (a.line, a.col) == (b.line, b.col) and len(a) == len(b) and all(  # type: ignore[attr-defined]
            _same_document(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    return a == b


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_libyaml_reads_every_example_as_the_python_loader(path: Path) -> None:
    from costcalc.spec import yamlio

    if yamlio._FAST is None:
        pytest.skip("PyYAML without libyaml: the Python loader is the only path")
    text = path.read_text()
    fast = yamlio._parse_fast(text, path.name)
    assert fast is not yamlio._FALLBACK
    assert _same_document(fast, yamlio._parse_python(text, path.name))


_YAML_PIECES = [
    "a: 1\n", "- x\n", "  ", "&a ", "*a", "<<: ", "{b: [1, 2]}", "!!str ", "'q'", "\t", ":", "- ", "\n",
    "c: &x [1]\nd: *x\n", "\x07", "#", "k: v # c\n", "[", "]", "{", "}", ", ", "? ", "%", "@", '"', "|", ">",
    "'", "\\", "\r", "\u00a0", "...", "---", "- - ", ": ", "-", "{a: 1, }", "[1,]", " :x", "\ufeff", "x:y",
    "\u2028", "é", " # ", " #? ", "# &a\n", "\"#\" ", "'a #' ", "? x\n",
]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(_YAML_PIECES), max_size=12), st.integers(0, 2000))
def test_libyaml_agrees_with_the_python_loader_or_defers(pieces: list[str], at: int) -> None:
    """On text edited at random: the libyaml path gives the Python loader's document, or defers to
    it (for every error, alias and character PyYAML refuses) so that messages are unchanged."""
    from costcalc.errors import SpecError
    from costcalc.spec import yamlio

    base = (EXAMPLES / "mobilenet_v2.yaml").read_text()
    at %= len(base) + 1
    text = base[:at] + "".join(pieces) + base[at:]
    fast = yamlio._parse_fast(text, "s.yaml")
    if fast is yamlio._FALLBACK:
        return
    try:
        slow = yamlio._parse_python(text, "s.yaml")
    except SpecError as e:
        raise AssertionError(f"libyaml accepted what the Python loader refuses: {e}") from None
    assert _same_document(fast, slow)


# -- the plain renderer is rich, byte for byte -----------------------------------------------------


def _outputs(blocks: list, width: int) -> tuple[str, str]:
    """The blocks printed plain (as to a pipe) and through rich (as to a terminal, without colour)."""
    import contextlib

    from rich.console import Console

    plain = io.StringIO()
    with contextlib.redirect_stdout(plain):
        out = Output(width, None, plain=True)
        for b in blocks:
            out.print(b)
    buf = io.StringIO()
    rich_out = Output(width, lambda w: Console(file=buf, width=w, color_system=None, highlight=False), plain=False)
    for b in blocks:
        rich_out.print(b)
    return plain.getvalue(), buf.getvalue()


VIEWS = [View(), View(units="flops", params="weights", dtype_bytes=2), View(depth=0), View(depth=1), View(top=5)]


QUICK = ("mobilenet_v1.yaml", "shufflenet_v1.yaml", "resnet18.yaml")


@pytest.mark.parametrize("path", [pytest.param(p, marks=() if p.name in QUICK else pytest.mark.slow) for p in SPECS],
                         ids=[p.name for p in SPECS])
def test_plain_tables_equal_rich(path: Path) -> None:
    net = load_network(str(path))
    for view in VIEWS:
        blocks = render("net", "table", net, view)
        for width in (40, 80, 120, 200):
            plain, rich = _outputs(blocks, width)
            assert plain == rich, (path.name, view, width)


def test_plain_prints_text_as_it_is() -> None:
    """Markup, emoji codes and wide characters are text, not instructions (a layer called [red])."""
    for text in ("a [red]b[/]", "x :smile: y", "wide 漢字", "ends ]"):
        g = Grid()
        g.add_column("c")
        g.add_row(text)
        assert text in render_plain(fit(g, 80))
        assert render_plain(Text(text), 80) == text + "\n"


_WORDS = st.lists(st.text(alphabet="ab→×1 ", min_size=0, max_size=12), min_size=1, max_size=20).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=_WORDS, width=st.integers(5, 60))
def test_plain_paragraphs_equal_rich(text: str, width: int) -> None:
    text = text.strip() or "x"
    plain, rich = _outputs([Text(text)], width)
    assert plain == rich
    g = Grid()
    g.add_column("h", kind="formula")
    g.add_column("n", justify="right", kind="number")
    g.add_row(text, "1,234")
    plain, rich = _outputs([g], width + 20)
    assert plain == rich
