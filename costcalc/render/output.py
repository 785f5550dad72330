"""Where rendered output goes, and how wide it may be.

The width of tables and paragraphs is, in order: ``--width N``; the ``COLUMNS`` environment
variable; the terminal's width when stdout is a terminal; else :data:`~costcalc.render.boxtable.PLAIN_WIDTH`
(120) for files and pipes. Tables are laid out to that width by :mod:`costcalc.render.layout`, which
never cuts a number.

A reader that closes the pipe early (``costcalc net spec.yaml | head -1``) ends the output
quietly: :func:`quiet_broken_pipe` (used by the CLI's root) turns ``BrokenPipeError`` into exit
status 0 with nothing on stderr, as for other Unix tools.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable

from costcalc.render.boxtable import PLAIN_WIDTH, Block, Blocks, Output

#: set by ``--width``; None: COLUMNS, the terminal, or PLAIN_WIDTH
_WIDTH: list[int | None] = [None]

#: narrowest width accepted from ``--width`` or ``COLUMNS``
MIN_WIDTH = 20


def set_width(width: int | None) -> None:
    """``--width``: the width of every table and paragraph printed from now on (None: automatic)."""
    _WIDTH[0] = width


def width() -> int:
    """The output width (see the module docstring)."""
    if _WIDTH[0] is not None:
        return _WIDTH[0]
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) >= MIN_WIDTH:
        return int(env)
    try:
        if sys.stdout.isatty():
            return max(MIN_WIDTH, os.get_terminal_size(sys.stdout.fileno()).columns)
    except (OSError, ValueError, AttributeError):
        pass
    return PLAIN_WIDTH


def console(w: int | None = None) -> Any:
    """A rich Console of width ``w`` (default :func:`width`) that does not highlight numbers in
    plain text (rich would colour every digit group of "26,794,984" separately)."""
    from rich.console import Console

    return Console(width=w or width(), highlight=False)


def print_blocks(blocks: Iterable[Block | str], w: int | None = None) -> None:
    """Print blocks at the output width: plain text to files and pipes, rich on a terminal."""
    out = Output(w or width(), console)
    for b in blocks:
        out.print(b)


def emit(rendered: Any) -> None:
    """Write a renderer's result: a string as is, a dict or list as JSON, blocks as tables."""
    if isinstance(rendered, Blocks):
        print_blocks(rendered)
    elif isinstance(rendered, str):
        sys.stdout.write(rendered if rendered.endswith("\n") else rendered + "\n")
    else:
        import json  # only JSON output needs it (a table's start-up does not)

        sys.stdout.write(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n")


def quiet_broken_pipe() -> None:
    """After a ``BrokenPipeError``: point stdout at /dev/null so that nothing more is written (and
    the interpreter's final flush does not complain on stderr)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass


__all__ = ["MIN_WIDTH", "console", "emit", "print_blocks", "quiet_broken_pipe", "set_width", "width"]
