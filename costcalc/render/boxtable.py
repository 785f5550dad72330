"""Tables for the terminal: rich when it matters, plain text when it does not.

``costcalc net`` prints tables of hundreds of rows. Laying them out with :mod:`rich` costs far more
than computing them (importing rich.console alone is ~40 ms, rendering ResNet-50's 230 rows
~300 ms), yet when stdout is a file or a pipe rich emits plain text: no colours, a fixed width.
:class:`Grid` records a table with the subset of ``rich.table.Table``'s API that the renderers use;
:class:`Output` prints it either through rich (a terminal, colours forced, anything unusual) or,
for non-terminal output of simple text, with :func:`render_plain`, which reproduces rich's layout
byte for byte for the cases it accepts and declines (returns ``None``) every other case:
text that rich would interpret (markup ``[``, emoji codes ``:name:``), characters whose cell
width is not known to be 1, words that need folding, tables wider than the console.
``tests/test_perf_paths.py`` checks the equality against rich itself.
"""

from __future__ import annotations

import builtins
import os
import re
import sys
from typing import Any

#: console width rich is given when stdout is not a terminal (see ``costcalc.render.output.console``)
PLAIN_WIDTH = 120

#: non-ASCII characters costcalc prints whose terminal cell width rich takes as 1
_WIDTH1 = frozenset("→×—–γβα·²³⁰¹⁴⁵⁶⁷⁸⁹⁻█▏▎▍▌▋▊▉…′″")
_EMOJI = re.compile(r"(:(\S*?)(?:(?:\-)(emoji|text))?:)")  # rich._emoji_replace's pattern
_WORD = re.compile(r"\s*\S+\s*")  # rich._wrap's pattern
_TRAILING_WS = re.compile(r"\s+$")


class Grid:
    """A table, recorded with ``rich.table.Table``'s arguments (the ones costcalc uses)."""

    def __init__(self, title: str | None = None, *, title_justify: str = "center", caption: str | None = None,
                 caption_justify: str = "center", show_footer: bool = False) -> None:
        self.title = title
        self.title_justify = title_justify
        self.caption = caption
        self.caption_justify = caption_justify
        self.show_footer = show_footer
        self.columns: list[tuple[str, str, str]] = []  # (header, footer, justify)
        self.rows: list[tuple[tuple[str, ...], str | None]] = []  # (cells, style)

    def add_column(self, header: str = "", footer: str = "", justify: str = "left") -> None:
        self.columns.append((header, footer, justify))

    def add_row(self, *cells: str, style: str | None = None) -> None:
        self.rows.append((cells, style))

    def to_rich(self) -> Any:
        from rich.table import Table

        kw: dict[str, Any] = {}
        if self.show_footer:
            kw["show_footer"] = True
        if self.caption is not None:
            kw.update(caption=self.caption, caption_justify=self.caption_justify)
        t = Table(title=self.title, title_justify=self.title_justify, **kw)  # type: ignore[arg-type]
        for header, footer, justify in self.columns:
            t.add_column(header, footer=footer, justify=justify)  # type: ignore[arg-type]
        for cells, style in self.rows:
            t.add_row(*cells, style=style)
        return t

    def __rich__(self) -> Any:  # printable by any rich Console
        return self.to_rich()


def _plain(text: str, markup: bool = True) -> str | None:
    """``text`` as rich prints it without colours, or None if rich would transform it."""
    if "[" in text:
        if not markup or not (text.startswith("[bold]") and text.endswith("[/]")):
            return None
        text = text[6:-3]
        if "[" in text or "]" in text:
            return None
    if _EMOJI.search(text):
        return None
    for ch in text:
        if not (" " <= ch <= "~" or ch in _WIDTH1):
            return None
    return text


def _wrap(text: str, width: int, pad: bool) -> list[str] | None:
    """rich's word wrap (``Text.wrap``, overflow "fold") for width-1 text, or None when a word
    would have to be folded. ``pad``: justify "left" (pad every line to ``width``); else "default"."""
    breaks: list[int] = []
    offset = 0
    for m in _WORD.finditer(text):
        start, word = m.start(), m.group(0)
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            return None
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    lines = [text[a:b] for a, b in zip([0, *breaks], [*breaks, len(text)])]
    out = []
    for line in lines:
        if len(line) > width:  # Text.rstrip_end: trailing whitespace beyond the width goes
            ws = _TRAILING_WS.search(line)
            if ws is not None:
                line = line[: len(line) - min(len(ws.group(0)), len(line) - width)]
            if len(line) > width:
                return None
        if pad:
            line += " " * (width - len(line))
        out.append(line)
    return out


def render_plain(obj: Grid | str, width: int = PLAIN_WIDTH) -> str | None:
    """What ``rich.console.Console(width=width).print(obj)`` writes to a non-terminal file, or None
    for anything outside the simple cases handled here."""
    if isinstance(obj, str):
        text = _plain(obj)
        if text is None or not text:
            return None
        lines = _wrap(text, width, pad=False)
        return None if lines is None else "\n".join(lines) + "\n"
    return _grid(obj, width)


def _grid(g: Grid, width: int) -> str | None:
    if not g.columns:
        return None
    ncol = len(g.columns)
    if any(justify not in ("left", "right") for _, _, justify in g.columns):
        return None
    heads = [_plain(h) for h, _, _ in g.columns]
    feet = [_plain(f) for _, f, _ in g.columns] if g.show_footer else [""] * ncol
    if None in heads or None in feet:
        return None
    body: list[list[str]] = []
    for cells, _style in g.rows:
        if len(cells) > ncol:
            return None
        row = []
        for j in range(ncol):
            c = _plain(cells[j]) if j < len(cells) else ""
            if c is None or (c and c[-1] == " "):
                return None
            row.append(c)
        body.append(row)
    for h in (*heads, *feet):
        if h and h[-1] == " ":  # type: ignore[index]
            return None
    widths = []
    for j in range(ncol):
        w = max(len(heads[j]), len(feet[j]), *(len(r[j]) for r in body)) if body else \
            max(len(heads[j]), len(feet[j]))  # type: ignore[arg-type]
        widths.append(w + 2)
    extra = ncol + 1
    if sum(widths) > width - extra:
        return None
    table_width = sum(widths) + extra
    justs = [j for _, _, j in g.columns]

    def line(cells: list[str], left: str, mid: str, right: str) -> str:
        parts = []
        for c, w, j in zip(cells, widths, justs):
            fill = " " * (w - 2 - len(c))
            parts.append(f" {c}{fill} " if j == "left" else f" {fill}{c} ")
        return left + mid.join(parts) + right

    out: list[str] = []
    if g.title:
        title = _plain(g.title)
        if title is None or g.title_justify != "left":
            return None
        lines = _wrap(title, table_width, pad=True)
        if lines is None:
            return None
        out += lines
    out.append("┏" + "┳".join("━" * w for w in widths) + "┓")
    out.append(line(heads, "┃", "┃", "┃"))  # type: ignore[arg-type]
    out.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    out += [line(r, "│", "│", "│") for r in body]
    if g.show_footer:
        out.append("├" + "┼".join("─" * w for w in widths) + "┤")
        out.append(line(feet, "│", "│", "│"))  # type: ignore[arg-type]
    out.append("└" + "┴".join("─" * w for w in widths) + "┘")
    if g.caption:
        caption = _plain(g.caption)
        if caption is None or g.caption_justify != "left":
            return None
        lines = _wrap(caption, table_width, pad=True)
        if lines is None:
            return None
        out += lines
    return "\n".join(out) + "\n"


def plain_ok() -> bool:
    """Whether rich would print to stdout without colours at width :data:`PLAIN_WIDTH`: not a
    terminal (and not forced to be one), a UTF-8 stream, not Windows' legacy console, not Jupyter."""
    out = sys.stdout
    try:
        if out is None or out.isatty():
            return False
    except ValueError:
        return False
    env = os.environ
    if env.get("TTY_COMPATIBLE", "") == "1" or env.get("FORCE_COLOR"):
        return False
    if sys.platform == "win32" or hasattr(builtins, "get_ipython"):
        return False
    return (getattr(out, "encoding", "utf-8") or "utf-8").lower().startswith("utf")


class Output:
    """Prints grids and text: plain when :func:`plain_ok` and :func:`render_plain` agree, else
    through a rich Console made on first need (``console_factory``)."""

    def __init__(self, console_factory: Any) -> None:
        self._factory = console_factory
        self._console: Any = None
        self._plain = plain_ok()

    @property
    def console(self) -> Any:
        if self._console is None:
            self._console = self._factory()
        return self._console

    def print(self, obj: Grid | str) -> None:
        if self._plain:
            text = render_plain(obj)
            if text is not None:
                sys.stdout.write(text)
                return
        self.console.print(obj.to_rich() if isinstance(obj, Grid) else obj)
