"""Table layout that never cuts a number or a formula.

:func:`fit` takes a :class:`~costcalc.render.boxtable.Grid` and a width and returns the table laid
out to fit, trying in order:

1. every column at its natural width;
2. without its ``optional`` columns (share bars);
3. narrower text columns: names, shapes and formulas wrap at spaces (a shape breaks before its
   ``→``, a formula between its terms), never inside a word, number or term; numbers never wrap;
4. a narrower layout: columns with ``merge_into`` become a second line of another column (the
   layer type under the layer name), then step 3 again;
5. a stacked layout (:class:`~costcalc.render.boxtable.Lines`): one record per row, each value
   labelled with its column header, wrapped at the width between values.

A single word or number wider than the whole width is never cut either: it overflows the line.
"""

from __future__ import annotations

from costcalc.render.boxtable import Col, Grid, Lines, cell_len

#: tokens that are glued to the next one: a line never ends with "+" or starts a number with "×"
_GLUE = frozenset({"+", "-", "−", "→", "×", "=", "·", "≥", "≤"})


def fit(g: Grid, width: int) -> Grid | Lines:
    """``g`` laid out in at most ``width`` columns (see the module docstring)."""
    if not g.columns:
        return Lines([])
    best: Grid | None = None
    for variant in (g, _without_optional(g), _merged(_without_optional(g))):
        if variant is None:
            continue
        natural = _natural_widths(variant)
        if sum(natural) + 3 * len(natural) + 1 <= width:  # _plan's first case, without the minima
            return _wrapped(variant, natural, fits=True)  # nothing wrapped: the fullest layout that fits
        widths = _plan(variant, width)
        if widths is None:
            continue
        laid = _wrapped(variant, widths)
        if widths == natural:
            return laid
        if best is None or _height(laid) < _height(best):
            best = laid  # wrapping needed: the variant with the fewest lines
    return best if best is not None else stacked(g, width)


def _height(g: Grid) -> int:
    return sum(max(c.count("\n") + 1 for c in cells) for cells, _ in g.rows)


def _natural_widths(g: Grid) -> list[int]:
    return [max([_natural(x) for x in _cells(g, j)] + [_natural(c.header)]) for j, c in enumerate(g.columns)]


# ----------------------------------------------------------------------------------------------
# Variants


def _without_optional(g: Grid) -> Grid | None:
    keep = [j for j, c in enumerate(g.columns) if not c.optional]
    if len(keep) == len(g.columns):
        return None
    return _select(g, keep)


def _select(g: Grid, keep: list[int]) -> Grid:
    index = {j: i for i, j in enumerate(keep)}
    cols = []
    for j in keep:
        c = g.columns[j]
        merge = index.get(c.merge_into) if c.merge_into is not None else None
        cols.append(Col(c.header, c.footer, c.justify, c.kind, c.style, c.optional, merge))
    rows = [(tuple(cells[j] for j in keep), style) for cells, style in g.rows]
    return Grid(cols, rows, g.show_footer, name=g.name)


def _merged(g: Grid | None) -> Grid | None:
    if g is None or not any(c.merge_into is not None for c in g.columns):
        return None
    targets: dict[int, list[int]] = {}
    for j, c in enumerate(g.columns):
        if c.merge_into is not None:
            targets.setdefault(c.merge_into, []).append(j)
    keep = [j for j, c in enumerate(g.columns) if c.merge_into is None]
    cols = []
    for j in keep:
        c = g.columns[j]
        extra = targets.get(j, [])
        header = " / ".join([c.header] + [g.columns[k].header for k in extra])
        footer = "\n".join(x for x in [c.footer] + [g.columns[k].footer for k in extra] if x)
        cols.append(Col(header, footer, c.justify, c.kind, c.style, c.optional))
    rows = []
    for cells, style in g.rows:
        out = []
        for j in keep:
            text = cells[j]
            indent = " " * (len(text) - len(text.lstrip(" ")))
            for k in targets.get(j, []):
                if cells[k]:
                    text += "\n" + indent + "  " + cells[k]
            out.append(text)
        rows.append((tuple(out), style))
    return Grid(cols, rows, g.show_footer, name=g.name)


# ----------------------------------------------------------------------------------------------
# Widths


def _cells(g: Grid, j: int) -> list[str]:
    c = g.columns[j]
    out = [cells[j] for cells, _ in g.rows]
    if g.show_footer:
        out.append(c.footer)
    return out


def _natural(text: str) -> int:
    return max((cell_len(line) for line in text.split("\n")), default=0)


def _minimum(text: str, kind: str) -> int:
    """The narrowest width ``text`` can wrap to without cutting a word (or anything, for numbers
    and bars)."""
    if kind in ("number", "bar"):
        return _natural(text)
    widest = 0
    for line in text.split("\n"):
        indent = len(line) - len(line.lstrip(" "))  # continuation lines keep it
        widest = max([widest] + [indent + cell_len(t.lstrip(" ")) for t in _tokens(line)])
    return widest


def _plan(g: Grid, width: int) -> list[int] | None:
    n = len(g.columns)
    overhead = 3 * n + 1
    natural, minimum = [], []
    for j, c in enumerate(g.columns):
        cells = _cells(g, j)
        natural.append(max([_natural(x) for x in cells] + [_natural(c.header)]))
        minimum.append(max([_minimum(x, c.kind) for x in cells] + [_minimum(c.header, "text")]))
    widths = list(natural)
    excess = sum(widths) + overhead - width
    if excess <= 0:
        return widths
    if sum(minimum) + overhead > width:
        return None
    while excess > 0:  # narrow the widest column that can still wrap
        j = max((k for k in range(n) if widths[k] > minimum[k]), key=lambda k: widths[k])
        widths[j] -= 1
        excess -= 1
    return widths


def _wrapped(g: Grid, widths: list[int], fits: bool = False) -> Grid:
    """``g`` with every cell wrapped to its column's width; ``fits``: ``widths`` are the natural
    widths, so every row cell (and header) already fits and is kept as it is (wrapping would not
    change it: no line is wider than its width)."""
    cols = []
    for c, w in zip(g.columns, widths):
        cols.append(Col(wrap(c.header, w), wrap(c.footer, w, c.kind), c.justify, c.kind, c.style, c.optional))
    if fits:
        return Grid(cols, list(g.rows), g.show_footer, widths, g.name)
    rows = [(tuple(wrap(x, w, c.kind) for x, w, c in zip(cells, widths, g.columns)), style) for cells, style in g.rows]
    return Grid(cols, rows, g.show_footer, widths, g.name)


# ----------------------------------------------------------------------------------------------
# Wrapping


def _tokens(line: str) -> list[str]:
    """Words of a line; an operator (``+``, ``→``, ``×``) sticks to the word after it, leading
    indentation to the first word."""
    indent = line[: len(line) - len(line.lstrip(" "))]
    words = [w for w in line.split(" ") if w]
    out: list[str] = []
    glue = False
    for w in words:
        if glue and out:
            out[-1] += " " + w
        else:
            out.append(w)
        glue = w in _GLUE
    if out:
        out[0] = indent + out[0]
    return out


def wrap(text: str, width: int, kind: str = "text") -> str:
    """``text`` wrapped to ``width`` at spaces: before a ``→`` when that suffices (a shape), else
    greedily between words; continuation lines keep the first line's indentation."""
    if kind in ("number", "bar"):
        return text
    out: list[str] = []
    for line in text.split("\n"):
        if cell_len(line) <= width:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip(" "))]
        arrow = line.split(" → ")
        if len(arrow) == 2 and all(cell_len(p) + 2 <= width for p in arrow):
            out += [arrow[0], indent + "→ " + arrow[1].lstrip()]
            continue
        current = ""
        for tok in _tokens(line):
            if not current:
                current = tok
            elif cell_len(current) + 1 + cell_len(tok) <= width:
                current += " " + tok
            else:
                out.append(current)
                current = indent + tok
        out.append(current)
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------
# Stacked


def stacked(g: Grid, width: int) -> Lines:
    """One record per row: the first cell, then ``header value`` pairs for the others, wrapped
    between pairs (a pair wider than the width wraps at its spaces; nothing is cut)."""
    lines: list[str] = []
    styles: list[str | None] = []
    heads = [" ".join(c.header.split()) for c in g.columns]
    records = list(g.rows)
    if g.show_footer:
        records.append((tuple(c.footer for c in g.columns), "bold"))
    for cells, style in records:
        first = " ".join(cells[0].split("\n"))
        if g.columns[0].kind == "number" and heads[0] and cells[0]:  # a value (a sweep point): say of what
            first = f"{heads[0]}: {first}"
        indent = " " * (len(first) - len(first.lstrip(" "))) + "    "
        lines.append(first)
        styles.append(style)
        pairs = []
        for j in range(1, len(cells)):
            if not cells[j] or g.columns[j].kind == "bar":
                continue
            value = " ".join(cells[j].split("\n"))
            pairs.append(f"{heads[j]}: {value}" if heads[j] else value)
        current = ""
        for p in pairs:
            if current and cell_len(current) + 3 + cell_len(p) <= width:
                current += " · " + p
                continue
            if current:
                lines.append(current)
                styles.append(None)
            current = indent + p
            if cell_len(current) > width:
                wrapped = wrap(current, width, "formula").split("\n")
                lines += wrapped[:-1]
                styles += [None] * (len(wrapped) - 1)
                current = wrapped[-1]
        if current:
            lines.append(current)
            styles.append(None)
    return Lines(lines, styles)


__all__ = ["fit", "stacked", "wrap"]
