"""HTML for notebooks (``_repr_html_``): the table renderer's blocks as HTML."""

from __future__ import annotations

from typing import Any

from costcalc.render.boxtable import Blocks, Grid, Lines, Text
from costcalc.render.text import html_escape
from costcalc.render.view import View


def blocks_html(blocks: Blocks) -> str:
    """Paragraphs as ``<p>``, tables as ``<table>`` (numbers right-aligned), stacked lines as ``<pre>``."""
    out = ['<div class="costcalc">']
    for b in blocks:
        if isinstance(b, Text):
            text = html_escape(b.text).replace("\n", "<br>")
            out.append(f"<p><b>{text}</b></p>" if b.style == "bold" else f"<p>{text}</p>")
        elif isinstance(b, Lines):
            out.append("<pre>" + html_escape("\n".join(b.lines)) + "</pre>")
        elif isinstance(b, Grid):
            out.append(_grid(b))
    out.append("</div>")
    return "\n".join(out)


def _cell(tag: str, text: str, justify: str, bold: bool = False) -> str:
    style = ' style="text-align:right"' if justify == "right" else ' style="text-align:left"'
    body = html_escape(text).replace("\n", "<br>")
    if bold:
        body = f"<b>{body}</b>"
    return f"<{tag}{style}>{body}</{tag}>"


def _grid(g: Grid) -> str:
    cols = [c for c in g.columns if c.kind != "bar"]
    keep = [j for j, c in enumerate(g.columns) if c.kind != "bar"]
    lines = ["<table>", "<thead><tr>" + "".join(_cell("th", c.header, c.justify) for c in cols) + "</tr></thead>",
             "<tbody>"]
    for cells, style in g.rows:
        lines.append("<tr>" + "".join(_cell("td", cells[j], g.columns[j].justify, style == "bold") for j in keep)
                     + "</tr>")
    lines.append("</tbody>")
    if g.show_footer:
        lines.append("<tfoot><tr>" + "".join(_cell("td", c.footer, c.justify, True) for c in cols) + "</tr></tfoot>")
    lines.append("</table>")
    return "\n".join(lines)


def _via_table(kind: str) -> Any:
    def html(obj: Any, view: View) -> str:
        from costcalc.render import render

        return blocks_html(render(kind, "table", obj, view))

    html.__name__ = f"{kind}_html"
    html.__doc__ = f"The {kind} table as HTML."
    return html


net_html = _via_table("net")
layer_html = _via_table("layer")
compare_html = _via_table("compare")
sweep_html = _via_table("sweep")
derivation_html = _via_table("derivation")

__all__ = ["blocks_html", "compare_html", "derivation_html", "layer_html", "net_html", "sweep_html"]
