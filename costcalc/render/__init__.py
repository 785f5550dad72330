"""Renderers: one registry keyed by (result kind, format).

A renderer takes a result object and a :class:`~costcalc.render.view.View` and returns what the
format is made of: a dict (``json``), a string (``csv``, ``markdown``, ``latex``, ``html``,
``math``), or :class:`~costcalc.render.boxtable.Blocks` (``table``) that
:func:`costcalc.render.output.emit` lays out at the output width. Each command ends with one call,
``emit(render(kind, fmt, result, view))``; the Python API's ``to_dict()``, ``_repr_html_()`` and
``_repr_latex_()`` call the same renderers.

The registry names modules and functions as text, so that importing it imports no renderer (and
neither rich, sympy nor matplotlib): a renderer's module is imported when it is first used.
Extend by adding a row.
"""

from __future__ import annotations

import importlib
from typing import Any

from costcalc.errors import UsageError

#: (kind, format) → "module:function"
RENDERERS: dict[tuple[str, str], str] = {
    ("net", "table"): "costcalc.render.net:net_blocks",
    ("net", "json"): "costcalc.render.net:net_json",
    ("net", "csv"): "costcalc.render.net:net_csv",
    ("net", "markdown"): "costcalc.render.net:net_markdown",
    ("net", "latex"): "costcalc.render.net:net_latex",
    ("net", "html"): "costcalc.render.html:net_html",
    ("net", "math"): "costcalc.render.net:net_math",
    ("layer", "table"): "costcalc.render.layer:layer_blocks",
    ("layer", "json"): "costcalc.render.layer:layer_json",
    ("layer", "latex"): "costcalc.render.layer:layer_latex",
    ("layer", "markdown"): "costcalc.render.layer:layer_markdown",
    ("layer", "html"): "costcalc.render.html:layer_html",
    ("layer", "math"): "costcalc.render.layer:layer_math",
    ("compare", "table"): "costcalc.render.explore:compare_blocks",
    ("compare", "json"): "costcalc.render.explore:compare_json",
    ("compare", "csv"): "costcalc.render.explore:compare_csv",
    ("compare", "markdown"): "costcalc.render.explore:compare_markdown",
    ("compare", "latex"): "costcalc.render.explore:compare_latex",
    ("compare", "html"): "costcalc.render.html:compare_html",
    ("compare", "math"): "costcalc.render.explore:compare_math",
    ("sweep", "table"): "costcalc.render.explore:sweep_blocks",
    ("sweep", "json"): "costcalc.render.explore:sweep_json",
    ("sweep", "csv"): "costcalc.render.explore:sweep_csv",
    ("sweep", "markdown"): "costcalc.render.explore:sweep_markdown",
    ("sweep", "html"): "costcalc.render.html:sweep_html",
    ("sweep", "math"): "costcalc.render.explore:sweep_math",
    ("derivation", "table"): "costcalc.render.derive:derivation_blocks",
    ("derivation", "json"): "costcalc.render.derive:derivation_json",
    ("derivation", "latex"): "costcalc.render.derive:derivation_latex",
    ("derivation", "html"): "costcalc.render.html:derivation_html",
    ("derivation", "math"): "costcalc.render.derive:derivation_math",
    ("types", "table"): "costcalc.render.types:types_blocks",
    ("types", "json"): "costcalc.render.types:types_json",
    ("verify", "table"): "costcalc.render.verify:verify_blocks",
    ("verify", "json"): "costcalc.render.verify:verify_json",
}


def formats(kind: str) -> tuple[str, ...]:
    """The formats a result kind can be rendered in, in registry order."""
    return tuple(f for k, f in RENDERERS if k == kind)


def renderer(kind: str, fmt: str) -> Any:
    try:
        target = RENDERERS[(kind, fmt)]
    except KeyError:
        raise UsageError(f"no {fmt} output for {kind} (formats: {', '.join(formats(kind))})") from None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def render(kind: str, fmt: str, result: Any, view: Any = None) -> Any:
    """``result`` of ``kind`` in format ``fmt`` (see the module docstring)."""
    from costcalc.render.view import View

    return renderer(kind, fmt)(result, view if view is not None else View())


def emit(kind: str, fmt: str, result: Any, view: Any = None) -> None:
    """Render and write to stdout: what every command ends with."""
    from costcalc.render.output import emit as write

    write(render(kind, fmt, result, view))


__all__ = ["RENDERERS", "emit", "formats", "render", "renderer"]
