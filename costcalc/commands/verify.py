"""``costcalc verify``: every count checked against PyTorch's own counters.

Builds the equivalent ``torch.nn.Module`` (:mod:`costcalc.torch_build`), runs one forward pass on a
zero tensor under ``FlopCounterMode``, and compares layer by layer: MACs = flops / 2, params =
``sum(p.numel())``, output shapes. Any disagreement exits with status 1. PyTorch is an optional
extra, imported only here.
"""

from __future__ import annotations

import json
from typing import Any

import click

from costcalc.commands.options import dimension_options, layer_field_options, parse_params
from costcalc.render.output import console as _console
from costcalc.errors import CostcalcError, UsageError

NEEDS_TORCH = "costcalc verify needs PyTorch: pip install 'costcalc[torch]'"


def _torch_build() -> Any:
    """Import the PyTorch builder, or fail with one line telling how to install PyTorch."""
    import warnings

    try:
        with warnings.catch_warnings():  # wheels without NumPy warn once on import; not the user's problem
            warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
            import torch  # noqa: F401
    except ImportError:
        raise CostcalcError(NEEDS_TORCH) from None
    from costcalc import torch_build

    return torch_build


@click.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a spec variable, e.g. --set alpha=0.5 --set resolution=160.")
@click.option("--type", "-t", "type_name", metavar="TYPE", help="Verify one layer or block type instead of a spec.")
@dimension_options(H="Input height (with --type).")
@layer_field_options
@click.option("--depth", type=click.IntRange(0), default=None,
              help="Show rows down to this nesting depth (default: every row for --type, the top level "
                   "for a spec). Every row is checked; a row that disagrees is always shown.")
@click.option("--device", type=click.Choice(("meta", "cpu")), default="meta", show_default=True,
              help="meta: PyTorch runs the same operators on shapes only (fast, same counts); "
                   "cpu: a real forward pass on a zero tensor.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def verify(spec: str | None, sets: tuple[str, ...], type_name: str | None, params: tuple[str, ...],
           bias: bool | None, depth: int | None, device: str, fmt: str, **dims: Any) -> None:
    """Check costcalc's counts against PyTorch: MACs = FlopCounterMode / 2, params = sum(p.numel()),
    output shapes, layer by layer and in total. Exit status 1 on any disagreement.

    \b
    costcalc verify examples/mobilenet_v2.yaml
    costcalc verify examples/mobilenet_v2.yaml --set alpha=1.4
    costcalc verify --type bottleneck -H 56 -N 64 -M 256 -S 2
    """
    given = {k: v for k, v in dims.items() if v is not None}
    if (spec is None) == (type_name is None):
        raise UsageError("give a SPEC file or --type TYPE (not both)")
    if spec is not None and (given or params or bias is not None):
        raise UsageError(f"options {', '.join('-' + k for k in given) or '--param/--bias'} apply to --type; "
                         "use --set NAME=VALUE for spec variables")
    if type_name is not None and sets:
        raise UsageError("--set applies to a SPEC; give dimensions of --type as -H, -N, -M, ...")
    tb = _torch_build()
    if spec is not None:
        from costcalc.spec import load_spec, parse_override

        overrides = dict(parse_override(s) for s in sets)
        net = load_spec(spec, overrides)
        if net.symbolic:
            raise UsageError(f"{spec}: verify needs numbers, but a variable is a symbol; set it with --set")
        v = tb.verify_network(net, device=device)
        v.notes.extend(_network_notes(net))
        default_depth = min((nl.depth for nl in net.layers), default=0)
    else:
        v = _verify_type(tb, type_name, given, params, bias, device)  # type: ignore[arg-type]
        default_depth = None
    shown_depth = depth if depth is not None else default_depth
    if fmt == "json":
        click.echo(json.dumps(verification_json(v), indent=2))
    else:
        render_table(v, shown_depth)
    if not v.ok:
        for c in v.mismatches:
            click.echo(f"Error: {c.path} ({c.type}): {'; '.join(c.problems)}", err=True)
        for p in v.total_problems:
            click.echo(f"Error: {v.name}: {p}", err=True)
        raise click.exceptions.Exit(1)


def _verify_type(tb: Any, type_name: str, given: dict[str, Any], params: tuple[str, ...],
                 bias: bool | None, device: str) -> Any:
    from costcalc.cost import Shape
    from costcalc.layers import DimError, get_type

    lt = get_type(type_name)
    for k in ("H", "N"):
        if k not in given:
            raise UsageError(f"verify --type {type_name} needs -{k} (PyTorch needs numbers)")
    symbols = [f"-{k} {v}" for k, v in given.items() if isinstance(v, str)]
    if symbols:
        raise UsageError(f"verify needs numbers, not symbols: {', '.join(symbols)}")
    h, n = given.pop("H"), given.pop("N")
    w = given.pop("W", h)
    extra_m = "M" not in lt.params  # concat: -M is the channels of the second input
    m_extra = given.pop("M", n) if extra_m else n
    fields = dict(given)
    if bias is not None:
        fields["bias"] = bias
    fields.update(parse_params(params))
    try:
        layer = lt.make(**fields)
        inputs = layer.standalone_inputs(Shape(h, w, n), m_extra)
        return tb.verify_layer(layer, *inputs, path=lt.name, device=device)
    except DimError as e:
        raise UsageError(f"{type_name}: {e}") from None


def _network_notes(net: Any) -> list[str]:
    """Conventions that differ between the papers and PyTorch, where this network meets them."""
    from costcalc.layers.blocks import InvertedResidual

    notes = []
    if any(isinstance(nl.layer, InvertedResidual) and nl.layer.T == 1 for nl in net.layers):
        notes.append("inverted_residual with T=1 has no expansion 1×1 conv, as torchvision builds it; a "
                     "literal reading of the MobileNetV2 paper's Table 1 would add a 1×1 N→N conv.")
    return notes


# ----------------------------------------------------------------------------------------------
# Rendering


def _shape(s: Any) -> str:
    return "—" if s is None else "×".join(str(v) for v in s)


def _n(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def render_table(v: Any, depth: int | None) -> None:
    from rich.table import Table

    t = Table(title=f"{v.name}: costcalc vs PyTorch (MACs = FlopCounterMode / 2, params = sum(p.numel()))")
    for col, just in (("layer", "left"), ("type", "left"), ("MACs", "right"), ("PyTorch MACs", "right"),
                      ("params", "right"), ("PyTorch params", "right"), ("weights", "right"),
                      ("output", "left"), ("", "left")):
        # numbers and shapes are never cut; names wrap instead
        whole = col.endswith(("MACs", "params", "weights", "output")) or not col
        t.add_column(col, justify=just, no_wrap=whole, overflow="fold")  # type: ignore[arg-type]
    hidden = 0
    for c in v.checks:
        if depth is not None and c.depth > depth and c.ok:
            hidden += 1
            continue
        label = "  " * c.depth + c.path.rsplit(".", 1)[-1] if c.depth else c.path
        t.add_row(label, c.type, _n(c.macs), _n(c.torch_macs), _n(c.params), _n(c.torch_params), _n(c.weights),
                  _shape(c.out_shape), "[green]✓[/]" if c.ok else "[bold red]✗[/]", style=None if c.leaf else "bold")
    weights = sum(c.weights for c in v.checks if c.leaf)
    t.add_section()
    t.add_row("total", "", _n(v.total.macs), _n(v.torch_macs), _n(v.total.params), _n(v.torch_params), _n(weights),
              _shape(v.out_shape), "[bold red]✗[/]" if v.total_problems else "[green]✓[/]", style="bold")
    console = _console()
    console.print(t)
    n = len(v.checks)
    if hidden:
        console.print(f"{hidden} of {n} rows not shown (all agree); --depth N shows deeper rows.")
    if v.ok:
        console.print(f"[green]✓ costcalc agrees with PyTorch exactly[/] on all {n} rows: "
                      f"{v.total.macs:,} MACs (FlopCounterMode {v.torch_flops:,} / 2), "
                      f"{v.total.params:,} params, output {_shape(v.out_shape)}.")
    else:
        bad = len(v.mismatches) + (1 if v.total_problems else 0)
        console.print(f"[bold red]✗ {bad} disagreement(s) with PyTorch:[/]")
        for c in v.mismatches:
            console.print(f"  [red]✗[/] {c.path} ({c.type}): {'; '.join(c.problems)}")
        for p in v.total_problems:
            console.print(f"  [red]✗[/] {p}")
    if v.device == "meta":
        console.print("[dim]Note: PyTorch ran on its meta device (the same operators and counts, shapes only); "
                      "--device cpu runs a real forward pass on a zero tensor.[/]")
    for note in v.notes:
        console.print(f"[dim]Note: {note}[/]")


def verification_json(v: Any) -> dict[str, Any]:
    def shape(s: Any) -> Any:
        return None if s is None else list(s)

    return {
        "name": v.name,
        "ok": v.ok,
        "device": v.device,
        "rows": [
            {
                "path": c.path, "type": c.type, "depth": c.depth, "leaf": c.leaf,
                "macs": c.macs, "torch_macs": c.torch_macs,
                "params": c.params, "torch_params": c.torch_params, "weights": c.weights,
                "out_shape": shape(c.out_shape), "torch_out_shape": shape(c.torch_out_shape),
                "ok": c.ok, "problems": c.problems,
            }
            for c in v.checks
        ],
        "total": {
            "macs": v.total.macs, "torch_macs": v.torch_macs, "torch_flops": v.torch_flops,
            "params": v.total.params, "torch_params": v.torch_params, "weights": v.total.weights,
            "out_shape": shape(v.out_shape), "torch_out_shape": shape(v.torch_out_shape),
            "ok": not v.total_problems, "problems": v.total_problems,
        },
        "notes": v.notes,
    }


COMMANDS = (verify,)
