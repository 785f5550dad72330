"""``costcalc types``: every layer and block type with its fields and formulas."""

from __future__ import annotations

import json

import click

from costcalc.render.output import console as _console


@click.command()
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def types(name: str | None, fmt: str) -> None:
    """Every layer and block type: its dimensions and its formulas (or one type in detail)."""
    from costcalc.engine import type_formulas
    from costcalc.layers import all_types, get_type
    from costcalc.num import pretty, to_json

    chosen = [get_type(name)] if name else list(all_types().values())
    if fmt == "json":
        doc = []
        for lt in chosen:
            f, _ = type_formulas(lt)
            doc.append({"type": lt.name, "summary": lt.summary, "fields": list(lt.params),
                        "required": list(lt.required), "macs": to_json(f.macs), "params": to_json(f.params)})
        click.echo(json.dumps(doc, indent=2))
        return
    from rich.table import Table

    t = Table(title="costcalc layer types (formulas at stride 1, W×H input, N channels)")
    for col in ("type", "fields", "MACs", "params", "what it is"):
        t.add_column(col)
    for lt in chosen:
        f, _ = type_formulas(lt)
        fields_ = ", ".join(lt.params)
        t.add_row(lt.name, fields_, pretty(f.macs, True), pretty(f.params, True), lt.summary)
    console = _console()
    console.print(t)
    if name:
        lt = chosen[0]
        console.print(lt.doc)
        for p in lt.params:
            info = lt.field_info(p)
            console.print(f"  [bold]{p}[/]: {info.get('doc', '')}"
                          + (f" (default {lt.default(p)})" if lt.default(p) is not None else ""))


COMMANDS = (types,)
