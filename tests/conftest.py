"""Shared test configuration.

Long tests (the whole torchvision zoo, long fuzzing) are marked ``@pytest.mark.slow``. The README's
``pytest`` runs a representative subset and skips them with a visible reason; ``pytest --slow`` or
``COSTCALC_SLOW=1`` (what CI sets) runs everything.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run tests marked slow (CI sets COSTCALC_SLOW=1 for the same effect)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long test (whole model zoo); runs with --slow or COSTCALC_SLOW=1")


def run_slow(config: pytest.Config) -> bool:
    return bool(config.getoption("--slow")) or os.environ.get("COSTCALC_SLOW", "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if run_slow(config):
        return
    skip = pytest.mark.skip(reason="slow test: run with --slow or COSTCALC_SLOW=1 (CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# ----------------------------------------------------------------------------------------------
# Shared helpers (import them: ``from conftest import run_cli, EXAMPLES``)

import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"


def example(name: str) -> str:
    """The path of ``examples/<name>.yaml`` as text."""
    return str(EXAMPLES / f"{name}.yaml")


def run_cli(*args: str, env: dict[str, str] | None = None) -> Any:
    """``costcalc ARGS`` in-process through click's CliRunner (stdout is not a terminal)."""
    from click.testing import CliRunner

    from costcalc.cli import main
    from costcalc.render.output import set_width

    set_width(None)  # --width is remembered per process; every invocation starts from the default
    try:
        return CliRunner().invoke(main, [str(a) for a in args], env=env)
    finally:
        set_width(None)


def cli_json(*args: str) -> Any:
    """``costcalc ARGS --format json``, parsed."""
    r = run_cli(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def run_process(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m costcalc ARGS`` in a subprocess, stdout and stderr to pipes."""
    return subprocess.run([sys.executable, "-m", "costcalc", *map(str, args)], capture_output=True, text=True,
                          env=_env(env), cwd=ROOT, timeout=300)


def run_pipeline(command: str) -> tuple[int, str, str]:
    """A bash pipeline with ``set -o pipefail`` (``costcalc`` is this tree's CLI): (status, stdout, stderr)."""
    exe = f"{sys.executable} -m costcalc"
    p = subprocess.run(["bash", "-c", "set -o pipefail; " + command.replace("costcalc ", exe + " ", 1)],
                       capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300)
    return p.returncode, p.stdout, p.stderr


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_pty(args: list[str], columns: int, rows: int = 50) -> tuple[int, str]:
    """``python -m costcalc ARGS`` on a pseudo-terminal of ``columns`` columns: (status, text without
    colour codes)."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "costcalc", *map(str, args)], stdin=slave, stdout=slave,
                         stderr=slave, env=_env({"TERM": "xterm-256color"}), cwd=ROOT, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    status = p.wait(timeout=300)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return status, _ANSI.sub("", text)


def appears_whole(number: str, text: str) -> bool:
    """Whether ``number`` (``3,857,973,248`` or ``76848``) appears in ``text`` as a whole number: not
    as the start or the end of a longer one, not cut by a line break or an ellipsis."""
    return re.search(rf"(?<![\d,.]){re.escape(number)}(?![\d]|,\d|…)", text) is not None


def json_int_texts(value: Any) -> list[str]:
    """How a JSON count prints in a table: ``3857973248`` → ``3,857,973,248``; a formula
    ``"76848*R**2 + 2048000"`` → its coefficients ``76848``, ``2048000`` (not its exponents)."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [f"{value:,}"]
    if isinstance(value, str):
        text = re.sub(r"\*\*\d+", "", value)
        return [n for n in re.findall(r"(?<![\w.])\d+(?![\w.])", text) if len(n) > 1]
    return []
