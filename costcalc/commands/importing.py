"""``costcalc import SOURCE``: a PyTorch model or an ONNX file as a costcalc spec."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from costcalc.errors import UsageError


def parse_input_shape(text: str | None) -> tuple[int, int, int] | None:
    """``--input-shape``: ``C,H,W``, ``H,W`` or ``H`` (``x`` also separates): (C, H, W), C
    defaulting to 3 and W to H."""
    if text is None:
        return None
    parts = [p for p in re.split(r"[,x×\s]+", text.strip()) if p]
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise UsageError(f"option --input-shape {text!r}: expected C,H,W or H,W or H (positive integers)")
    nums = [int(p) for p in parts]
    if any(n < 1 or n > 1 << 20 for n in nums):
        raise UsageError(f"option --input-shape {text!r}: sizes must be between 1 and {1 << 20}")
    if len(nums) == 1:
        return (3, nums[0], nums[0])
    if len(nums) == 2:
        return (3, nums[0], nums[1])
    return (nums[0], nums[1], nums[2])


def parse_kwargs(text: str | None) -> dict[str, Any]:
    """``--kwargs``: a JSON object of keyword arguments for the callable (data, never code)."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"option --kwargs: not valid JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(value, dict):
        raise UsageError(f"option --kwargs: expected a JSON object like '{{\"width\": 0.5}}', got "
                         f"{type(value).__name__}")
    bad = [k for k in value if not k.isidentifier()]
    if bad:
        raise UsageError(f"option --kwargs: {bad[0]!r} is not a keyword argument name")
    return value


@click.command("import")
@click.argument("source")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the spec to this file (default: standard output).")
@click.option("--kwargs", "kwargs_json", metavar="JSON", default=None,
              help="Keyword arguments for the callable, as a JSON object: '{\"width\": 0.5}'.")
@click.option("--input-shape", metavar="C,H,W", default=None,
              help="Input size to trace at and the spec's default (default 3,224,224; H,W or H also work).")
@click.option("--allow-unknown", is_flag=True,
              help="Keep operators costcalc cannot count as 'unknown' rows counted as 0 (listed in a warning "
                   "and in JSON), instead of failing.")
@click.option("--check/--no-check", default=True, show_default=True,
              help="PyTorch sources: compare with FlopCounterMode and sum(p.numel()) at the traced size.")
@click.option("--export-timeout", type=click.FloatRange(0, None), default=300, show_default=True, metavar="SECONDS",
              help="PyTorch sources: after this long, trace at the fixed input size instead of a dynamic one "
                   "(0: no limit).")
def import_(source: str, output: str | None, kwargs_json: str | None, input_shape: str | None,
            allow_unknown: bool, check: bool, export_timeout: float) -> None:
    """Import a model as a costcalc spec, with its input size kept symbolic.

    SOURCE is PACKAGE.MODULE:CALLABLE (a Python callable returning a torch.nn.Module, built with
    random weights on PyTorch's meta device and traced by torch.export) or a .onnx file (read
    without its weights). Importing a Python module RUNS ITS CODE, as `python -c "import
    PACKAGE.MODULE"` would, and so does calling CALLABLE: import only code you trust.

    \b
    costcalc import torchvision.models:mobilenet_v3_large -o mbv3.yaml
    costcalc import my_pkg.models:build_net --kwargs '{"width": 0.5}' -o net.yaml
    costcalc import model.onnx -o model.yaml
    costcalc net mbv3.yaml --set resolution=R        # the closed form in R

    Conv + BatchNorm + activation fold into one layer, residual adds and concatenations keep
    their inputs (from:), reshape-transpose-reshape is a channel shuffle; everything else is a
    primitive. An operator costcalc cannot count is an error listing each one (exit 1), or with
    --allow-unknown an 'unknown' row counted as 0 and said so.
    """
    from costcalc.importer import import_source

    res = import_source(source, kwargs=parse_kwargs(kwargs_json), input_shape=parse_input_shape(input_shape),
                        allow_unknown=allow_unknown, check=check,
                        export_timeout=export_timeout if export_timeout > 0 else None)
    if output:
        try:
            with open(output, "w", encoding="utf-8") as f:
                f.write(res.text)
        except OSError as e:
            raise UsageError(f"option -o {output}: cannot write: {e.strerror or e}") from None
    else:
        click.echo(res.text, nl=False)
    totals = res.result.totals
    at = " × ".join(f"{k}={v}" for k, v in res.doc.get("vars", {}).items()) or "its fixed input size"
    where = f" → {output}" if output else ""
    click.echo(f"imported {res.name}: {res.layers} layers{where}; {totals.macs:,} MACs, {totals.params:,} params "
               f"at {at}", err=True)
    for cond in res.conditions:
        click.echo(f"closed form exact {cond.text()}", err=True)
    for note in res.notes:
        prefix = "warning" if note.startswith(("CHECK FAILED",)) or "counted as 0" in note else "note"
        click.echo(f"{prefix}: {note}", err=True)


COMMANDS = (import_,)

__all__ = ["COMMANDS", "import_", "parse_input_shape", "parse_kwargs"]
