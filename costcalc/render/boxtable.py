"""Blocks of terminal output: tables (:class:`Grid`), paragraphs (:class:`Text`) and preformatted
lines (:class:`Lines`), printed plain or through rich.

costcalc lays its tables out itself (:mod:`costcalc.render.layout` decides column widths and wraps
cells so that no number or formula is ever cut) and uses rich only for colour and bold on a
terminal. When stdout is a file or a pipe the same layout is written by :func:`render_plain`
without importing rich (rich's import and layout cost more than a whole analysis), byte for byte
what rich prints for the same laid-out table (``tests/test_render_output.py`` checks it against
rich itself).
"""

from __future__ import annotations

import builtins
import os
import sys
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Sequence

#: console width when stdout is not a terminal and neither ``--width`` nor ``COLUMNS`` says otherwise
PLAIN_WIDTH = 120


def cell_len(text: str) -> int:
    """Terminal cells ``text`` takes: 2 for wide (East Asian) characters, 0 for combining marks."""
    if text.isascii():
        return len(text)
    n = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


# ----------------------------------------------------------------------------------------------
# Blocks


@dataclass
class Col:
    """A column. ``kind``: ``number`` (never wrapped: its width is its widest cell), ``text`` and
    ``formula`` (wrapped at spaces, never inside a word or term), ``bar`` (never wrapped).
    ``optional`` columns are dropped first when the table does not fit; ``merge_into`` names the
    column this one becomes a second line of in a narrow layout (``type`` under ``layer``)."""

    header: str
    footer: str = ""
    justify: str = "left"
    kind: str = "text"
    style: str | None = None
    optional: bool = False
    merge_into: int | None = None


@dataclass
class Grid:
    """A table: columns, rows of text cells (a row style: ``bold`` for subtotals), an optional
    footer row. :func:`costcalc.render.layout.fit` sets ``widths`` (cell widths without padding)
    and wraps the cells; printing needs them set."""

    columns: list[Col] = field(default_factory=list)
    rows: list[tuple[tuple[str, ...], str | None]] = field(default_factory=list)
    show_footer: bool = False
    widths: list[int] | None = None
    #: a short name for the table (HTML caption, stacked layout heading)
    name: str = ""

    def add_column(self, header: str = "", footer: str = "", justify: str = "left", kind: str = "text",
                   style: str | None = None, optional: bool = False, merge_into: int | None = None) -> None:
        self.columns.append(Col(header, footer, justify, kind, style, optional, merge_into))

    def add_row(self, *cells: str, style: str | None = None) -> None:
        self.rows.append((tuple(cells) + ("",) * (len(self.columns) - len(cells)), style))

    def to_rich(self) -> Any:
        """The laid-out table as a ``rich.table.Table`` with the same fixed widths (cells as
        ``Text``: a layer named ``[red]`` is not markup)."""
        from rich.table import Table
        from rich.text import Text

        assert self.widths is not None, "lay the grid out first (costcalc.render.layout.fit)"
        t = Table(show_footer=self.show_footer)
        justs = [c.justify for c in self.columns]
        for col, w in zip(self.columns, self.widths):
            t.add_column(Text(col.header, justify=col.justify), footer=Text(col.footer, justify=col.justify),  # type: ignore[arg-type]
                         justify=col.justify, width=w, no_wrap=True,  # type: ignore[arg-type]
                         style=col.style)
        for cells, style in self.rows:
            t.add_row(*(Text(c, justify=j) for c, j in zip(cells, justs)), style=style)  # type: ignore[arg-type]
        return t


@dataclass
class Text:
    """A paragraph, wrapped at spaces to the console width (a word longer than the width is
    never cut: it overflows)."""

    text: str
    style: str | None = None


@dataclass
class Lines:
    """Preformatted lines (the stacked layout of a table too wide for any column layout)."""

    lines: list[str]
    styles: list[str | None] | None = None


Block = Grid | Text | Lines


class Blocks(list):  # type: ignore[type-arg]
    """What a table renderer returns: the blocks to print, in order."""


# ----------------------------------------------------------------------------------------------
# Plain rendering


def wrap_words(text: str, width: int) -> list[str]:
    """Greedy word wrap at spaces; words are never split; a paragraph's indentation is kept on each of
    its lines; trailing spaces dropped."""
    out: list[str] = []
    for para in text.split("\n"):
        indent = para[: len(para) - len(para.lstrip(" "))]  # kept on every line of the paragraph
        line = ""
        for word in para.split(" "):
            if not word:
                continue
            if not line:
                line = indent + word
            elif cell_len(line) + 1 + cell_len(word) <= width:
                line += " " + word
            else:
                out.append(line)
                line = indent + word
        out.append(line)
    return out


def _pad(text: str, width: int, justify: str) -> str:
    fill = " " * max(0, width - cell_len(text))
    return f"{fill}{text}" if justify == "right" else f"{text}{fill}"


def grid_lines(g: Grid) -> list[str]:
    """The box-drawn lines of a laid-out grid, as rich draws them (heavy head, light body)."""
    assert g.widths is not None, "lay the grid out first (costcalc.render.layout.fit)"
    ws = g.widths
    justs = [c.justify for c in g.columns]

    def row(cells: Sequence[str], edge: str, mid: str, bottom: bool = False) -> list[str]:
        split = [c.split("\n") for c in cells]
        height = max(len(s) for s in split)
        if bottom:  # rich aligns header cells at the bottom
            split = [[""] * (height - len(s)) + s for s in split]
        out = []
        for i in range(height):
            parts = [" " + _pad(s[i] if i < len(s) else "", w, j) + " " for s, w, j in zip(split, ws, justs)]
            out.append(edge + mid.join(parts) + edge)
        return out

    lines = ["┏" + "┳".join("━" * (w + 2) for w in ws) + "┓"]
    lines += row([c.header for c in g.columns], "┃", "┃", bottom=True)
    lines.append("┡" + "╇".join("━" * (w + 2) for w in ws) + "┩")
    for cells, _ in g.rows:
        lines += row(cells, "│", "│")
    if g.show_footer:
        lines.append("├" + "┼".join("─" * (w + 2) for w in ws) + "┤")
        lines += row([c.footer for c in g.columns], "│", "│")
    lines.append("└" + "┴".join("─" * (w + 2) for w in ws) + "┘")
    return lines


def render_plain(block: Block, width: int = PLAIN_WIDTH) -> str:
    """The text of a block without colours (a grid must be laid out already)."""
    if isinstance(block, Text):
        return "\n".join(wrap_words(block.text, width)) + "\n"
    if isinstance(block, Lines):
        return "".join(line + "\n" for line in block.lines)
    return "\n".join(grid_lines(block)) + "\n"


def plain_ok() -> bool:
    """Whether output goes without colours: stdout is not a terminal (and not forced to be one),
    not Windows' legacy console, not Jupyter."""
    out = sys.stdout
    try:
        if out is None or out.isatty():
            return False
    except ValueError:
        return False
    env = os.environ
    if env.get("TTY_COMPATIBLE", "") == "1" or env.get("FORCE_COLOR"):
        return False
    return not (sys.platform == "win32" or hasattr(builtins, "get_ipython"))


class Output:
    """Prints blocks at a width: plain text when :func:`plain_ok`, else through a rich Console made
    on first need by ``console_factory(width)``."""

    def __init__(self, width: int, console_factory: Any, plain: bool | None = None) -> None:
        self.width = width
        self._factory = console_factory
        self._console: Any = None
        self._plain = plain_ok() if plain is None else plain

    @property
    def console(self) -> Any:
        if self._console is None:
            self._console = self._factory(self.width)
        return self._console

    def print(self, block: Block | str) -> None:
        from costcalc.render.layout import fit

        if isinstance(block, str):
            block = Text(block)
        if isinstance(block, Grid) and block.widths is None:
            block = fit(block, self.width)
        if self._plain:
            sys.stdout.write(render_plain(block, self.width))
            return
        self._rich(block)

    def _rich(self, block: Block) -> None:
        from rich.text import Text as RichText

        console = self.console
        if isinstance(block, Grid):
            # cells are laid out already: never let rich narrow a column (a too-wide word overflows)
            width = sum(w + 3 for w in block.widths or []) + 1
            console.print(block.to_rich(), crop=False, width=max(width, self.width))
            return
        if isinstance(block, Text):
            lines, styles = wrap_words(block.text, self.width), [block.style] * 10**6
        else:
            lines, styles = block.lines, block.styles or [None] * len(block.lines)
        for line, style in zip(lines, styles):
            console.print(RichText(line, style=style or ""), no_wrap=True, overflow="ignore", crop=False)


__all__ = ["Block", "Blocks", "Col", "Grid", "Lines", "Output", "PLAIN_WIDTH", "Text", "cell_len", "grid_lines", "plain_ok",
           "render_plain", "wrap_words"]
