"""Render the layer registry (``costcalc types``): a table of every type, or one type in detail."""

from __future__ import annotations

import re
from typing import Any

from costcalc.num import pretty, to_json
from costcalc.render.boxtable import Blocks, Grid, Lines, Text
from costcalc.render.view import View

_ROLE = re.compile(r":[a-z]+:`~?([^`]*)`")
_LITERAL = re.compile(r"``([^`]*)``")


def plain_doc(text: str) -> str:
    """A docstring as terminal text: reST literals and roles without their markup
    (``torch.nn.Conv2d`` → torch.nn.Conv2d, :class:`~costcalc.cost.Cost` → Cost)."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return _LITERAL.sub(r"\1", text)


def types_blocks(chosen: Any, view: View) -> Blocks:
    """``chosen``: the list of :class:`~costcalc.layers.base.LayerType` to show."""
    from costcalc.engine import type_formulas

    g = Grid(name="types")
    for col, kind in (("type", "text"), ("fields", "text"), ("MACs", "formula"), ("params", "formula"),
                      ("what it is", "text")):
        g.add_column(col, kind=kind)
    for lt in chosen:
        f, _ = type_formulas(lt)
        g.add_row(lt.name, ", ".join(lt.params), pretty(f.macs, True), pretty(f.params, True), plain_doc(lt.summary))
    out = Blocks([Text("costcalc layer types (formulas at stride 1, W×H input, N channels)", "bold"), g])
    if len(chosen) == 1:
        lt = chosen[0]
        out.append(Lines(plain_doc(lt.doc).split("\n")))
        for p in lt.params:
            info = lt.field_info(p)
            default = lt.default(p)
            out.append(Text(f"  {p}: {plain_doc(str(info.get('doc', '')))}"
                            + (f" (default {default})" if default is not None else "")))
    return out


def types_json(chosen: Any, view: View) -> list[dict[str, Any]]:
    from costcalc.engine import type_formulas

    doc = []
    for lt in chosen:
        f, _ = type_formulas(lt)
        doc.append({"type": lt.name, "summary": lt.summary, "fields": list(lt.params),
                    "required": list(lt.required), "macs": to_json(f.macs), "params": to_json(f.params)})
    return doc


__all__ = ["plain_doc", "types_blocks", "types_json"]
