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

from costcalc.commands.options import (dimension_options, layer_field_options, parse_params, train_options,
                                       train_settings, width_option)
from costcalc.errors import CostcalcError, UsageError

#: the install hint: the README's set-up (PyTorch first, then the extra from the source tree)
NEEDS_TORCH = "costcalc verify needs PyTorch: pip install torch, then pip install -e '.[torch]' in the costcalc tree"


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
@width_option
@train_options()
def verify(spec: str | None, sets: tuple[str, ...], type_name: str | None, params: tuple[str, ...],
           bias: bool | None, depth: int | None, device: str, fmt: str, mode: str, batch: int | None,
           optimizer: str | None, **dims: Any) -> None:
    """Check costcalc's counts against PyTorch: MACs = FlopCounterMode / 2, params = sum(p.numel()),
    output shapes, layer by layer and in total. Exit status 1 on any disagreement.

    \b
    costcalc verify examples/mobilenet_v2.yaml
    costcalc verify examples/mobilenet_v2.yaml --set alpha=1.4
    costcalc verify --type bottleneck -H 56 -N 64 -M 256 -S 2
    costcalc verify examples/mobilenet_v2.yaml --mode train --batch 8 --optimizer adam
    """
    given = {k: v for k, v in dims.items() if v is not None}
    if (spec is None) == (type_name is None):
        raise UsageError("give a SPEC file or --type TYPE (not both)")
    if spec is not None and (given or params or bias is not None):
        raise UsageError(f"options {', '.join('-' + k for k in given) or '--param/--bias'} apply to --type; "
                         "use --set NAME=VALUE for spec variables")
    if type_name is not None and sets:
        raise UsageError("--set applies to a SPEC; give dimensions of --type as -H, -N, -M, ...")
    train = train_settings(mode, batch, optimizer, fmt, ("table", "json"))
    tb = _torch_build()
    if train is not None:
        return _verify_train(tb, spec, sets, type_name, given, params, bias, depth, device, fmt, *train)
    if spec is not None:
        net = _load_numeric(spec, sets)
        v = tb.verify_network(net, device=device)
        v.notes.extend(_network_notes(net))
        default_depth = min((nl.depth for nl in net.layers), default=0)
    else:
        v = _verify_type(tb, type_name, given, params, bias, device)  # type: ignore[arg-type]
        default_depth = None
    shown_depth = depth if depth is not None else default_depth
    from costcalc.render import emit
    from costcalc.render.verify import Shown

    emit("verify", fmt, Shown(v, shown_depth))
    if not v.ok:
        for c in v.mismatches:
            click.echo(f"Error: {c.path} ({c.type}): {'; '.join(c.problems)}", err=True)
        for p in v.total_problems:
            click.echo(f"Error: {v.name}: {p}", err=True)
        raise click.exceptions.Exit(1)


def _load_numeric(spec: str, sets: tuple[str, ...]) -> Any:
    from costcalc.spec import load_spec, parse_override

    overrides = dict(parse_override(s) for s in sets)
    net = load_spec(spec, overrides)
    if net.symbolic:
        raise UsageError(f"{spec}: verify needs numbers, but a variable is a symbol; set it with --set")
    return net


def _verify_train(tb: Any, spec: str | None, sets: tuple[str, ...], type_name: str | None, given: dict[str, Any],
                  params: tuple[str, ...], bias: bool | None, depth: int | None, device: str, fmt: str,
                  batch: int, optimizer: str) -> None:
    """``verify --mode train``: one training step against PyTorch's (exit 1 on any disagreement)."""
    from costcalc.render.training import verify_train_json, verify_train_table

    if spec is not None:
        net = _load_numeric(spec, sets)
        v = tb.verify_training(net, batch=batch, optimizer=optimizer, device=device)
        shown = depth if depth is not None else min((nl.depth for nl in net.layers), default=0)
    else:
        layer, inputs = _verify_type(tb, type_name, given, params, bias, device, build_only=True)  # type: ignore[arg-type]
        v = tb.verify_training(layer, *inputs, batch=batch, optimizer=optimizer, device=device, path=type_name)
        shown = depth
    if fmt == "json":
        click.echo(json.dumps(verify_train_json(v), indent=2))
    else:
        from costcalc.render.output import console

        verify_train_table(v, console(), shown)
    if not v.ok:
        for c in v.mismatches:
            click.echo(f"Error: {c.path} ({c.type}): {'; '.join(c.problems)}", err=True)
        for p in v.total_problems:
            click.echo(f"Error: {v.name}: {p}", err=True)
        raise click.exceptions.Exit(1)


def _verify_type(tb: Any, type_name: str, given: dict[str, Any], params: tuple[str, ...],
                 bias: bool | None, device: str, build_only: bool = False) -> Any:
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
        if build_only:
            return layer, inputs
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


COMMANDS = (verify,)
