"""``costcalc types``: every layer and block type with its fields and formulas."""

from __future__ import annotations

import click

from costcalc.commands.options import width_option


@click.command()
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@width_option
def types(name: str | None, fmt: str) -> None:
    """Every layer and block type: its dimensions and its formulas (or one type in detail)."""
    from costcalc.layers import all_types, get_type
    from costcalc.render import emit

    chosen = [get_type(name)] if name else list(all_types().values())
    emit("types", fmt, chosen)


COMMANDS = (types,)
