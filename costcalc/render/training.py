"""Render training costs (:mod:`costcalc.training`): ``costcalc net --mode train``, ``costcalc layer
--mode train`` and ``costcalc verify --mode train``, as tables, JSON and CSV.

JSON is the machine contract and carries the same data as the tables: per leaf the forward,
input-gradient and weight-gradient multiply-adds, the backward elementwise work, the bytes saved
for backward (with the storages behind them), and totals and memory.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

from costcalc.num import is_int, pretty, to_json, var_json
from costcalc.render.boxtable import Grid
from costcalc.render.layer import shape_json, shape_text
from costcalc.training import LayerTrain, TrainResult, TrainRow, sum_rows

#: the training contract, printed under every table and included in every JSON document
TRAIN_CONVENTION = (
    "Training MACs = forward + input-gradient + weight-gradient multiply-adds at batch B (= PyTorch "
    "FlopCounterMode total / 2 over the forward and backward pass, grouped weight gradients counted per "
    "group). No input gradient for the first layer with parameters, nor before it. Saved = bytes autograd "
    "keeps for backward (unique storages, parameters excluded). Peak = saved + parameters + gradients + "
    "optimizer state: an estimate of tensors, not of allocator overhead."
)

#: what each memory line means (JSON ``memory`` keys, table labels)
MEMORY_LINES: tuple[tuple[str, str], ...] = (
    ("activations", "saved for backward"),
    ("params", "parameters"),
    ("gradients", "gradients"),
    ("optimizer", "optimizer state"),
    ("peak", "peak (sum)"),
)


def _ops(v: Any, units: str) -> Any:
    return 2 * v if units == "flops" else v


def row_json(r: TrainRow, units: str = "macs") -> dict[str, Any]:
    """One row's training cost (``units``: macs or flops for the multiply-add columns)."""
    u = "flops" if units == "flops" else "macs"
    d: dict[str, Any] = {
        "path": r.path, "type": r.type, "category": r.category, "depth": r.depth, "leaf": r.leaf,
        "in_shape": shape_json(r.in_shape), "out_shape": shape_json(r.out_shape),
        "input_grad": r.input_grad, "recorded": r.recorded,
        f"forward_{u}": to_json(_ops(r.forward.macs, units)),
        f"input_grad_{u}": to_json(_ops(r.input_macs, units)),
        f"weight_grad_{u}": to_json(_ops(r.weight_macs, units)),
        f"backward_{u}": to_json(_ops(r.backward_macs, units)),
        f"train_{u}": to_json(_ops(r.train_macs, units)),
        "forward_elementwise": to_json(r.forward.elementwise),
        "forward_comparisons": to_json(r.forward.comparisons),
        "backward_elementwise": to_json(r.elementwise),
        "backward_comparisons": to_json(r.comparisons),
        "saved_bytes": to_json(r.saved_bytes),
        "params": to_json(r.forward.params),
    }
    if r.leaf:
        d["saved"] = [{"tensor": s.label, "elements": to_json(s.elements), "bytes": to_json(s.bytes)} for s in r.saved]
    return d


def _symbolic_total(r: TrainRow) -> TrainRow:
    """Expanded polynomials for the totals of a symbolic network (as the forward totals)."""
    if all(is_int(v) for v in (r.train_macs, r.saved_bytes, r.elementwise)):
        return r
    import sympy

    def ex(v: Any) -> Any:
        return v if is_int(v) else sympy.expand(v)

    return replace(r, forward=r.forward.map(ex), input_macs=ex(r.input_macs), weight_macs=ex(r.weight_macs),
                   elementwise=ex(r.elementwise), comparisons=ex(r.comparisons), saved_bytes=ex(r.saved_bytes))


def memory_json(res: TrainResult | LayerTrain, memory: Any) -> dict[str, Any]:
    d = {key: to_json(getattr(memory, key)) for key, _ in MEMORY_LINES}
    d["optimizer_name"] = getattr(res, "optimizer", None)
    d["note"] = "peak = the sum of these tensors at the end of the backward pass; allocator overhead, " \
                "workspaces and transient gradient buffers are not included"
    return d


def net_train_json(res: TrainResult, units: str = "macs") -> dict[str, Any]:
    spec = res.spec
    return {
        "name": res.name,
        "source": getattr(spec, "source", None),
        "mode": "train",
        "vars": {k: var_json(v) for k, v in getattr(spec, "vars", {}).items()},
        "input": shape_json(res.in_shape),
        "output": shape_json(res.out_shape),
        "batch": res.batch,
        "optimizer": res.optimizer,
        "dtype_bytes": res.dtype_bytes,
        "convention": TRAIN_CONVENTION,
        "layers": [row_json(r, units) for r in res.rows if r.leaf],
        "blocks": [row_json(r, units) for r in res.rows if not r.leaf],
        "totals": row_json(_symbolic_total(res.totals), units),
        "by_type": {k: row_json(v, units) for k, v in by_type(res).items()},
        "memory": memory_json(res, _expand_memory(res.memory)),
    }


def _expand_memory(m: Any) -> Any:
    if all(is_int(getattr(m, k)) for k, _ in MEMORY_LINES[:-1]):
        return m
    import sympy

    return type(m)(*(sympy.expand(getattr(m, k)) for k, _ in MEMORY_LINES[:-1]))


def by_type(res: TrainResult) -> dict[str, TrainRow]:
    """Training cost summed by layer category, most training MACs first."""
    groups: dict[str, list[TrainRow]] = {}
    for r in res.leaves:
        groups.setdefault(r.category, []).append(r)
    out = {k: sum_rows(v, k, k, 0, v[0].in_shape, v[-1].out_shape) for k, v in groups.items()}
    if all(is_int(r.train_macs) for r in out.values()):
        out = dict(sorted(out.items(), key=lambda kv: -kv[1].train_macs))
    return out


CSV_FIELDS = ("path", "type", "category", "depth", "leaf", "in_shape", "out_shape", "input_grad",
              "forward_{u}", "input_grad_{u}", "weight_grad_{u}", "train_{u}", "backward_elementwise",
              "backward_comparisons", "saved_bytes", "params")


def net_train_csv(res: TrainResult, units: str = "macs", depth: int | None = None, top: int | None = None) -> str:
    u = "flops" if units == "flops" else "macs"
    fields = [f.format(u=u) for f in CSV_FIELDS]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(fields)
    for r in [*visible(res, depth, top), replace(_symbolic_total(res.totals), path="TOTAL", leaf=False)]:
        d = row_json(r, units)
        d["in_shape"] = "x".join(map(str, d["in_shape"]))
        d["out_shape"] = "x".join(map(str, d["out_shape"]))
        d["leaf"], d["input_grad"] = int(r.leaf), int(r.input_grad)
        w.writerow([d[f] for f in fields])
    return out.getvalue()


def visible(res: TrainResult, depth: int | None = None, top: int | None = None) -> list[TrainRow]:
    if top:
        leaves = res.leaves
        if all(is_int(r.train_macs) for r in leaves):
            leaves = sorted(leaves, key=lambda r: -r.train_macs)
        return [replace(r, depth=0) for r in leaves[:top]]
    return [r for r in res.rows if depth is None or r.depth <= depth]


def _n(v: Any, factor: bool = False) -> str:
    return pretty(v, factor)


def _name(r: TrainRow, top: int | None) -> str:
    if top:
        return r.path
    parts = r.path.rsplit(".", 2)
    if len(parts) > 1 and parts[-1].isdigit():
        return ".".join(parts[-2:])
    return parts[-1]


def net_train_table(res: TrainResult, console: Any, units: str = "macs", depth: int | None = None,
                    top: int | None = None) -> None:
    """The training table (one row per layer, blocks and groups summed), the by-type table and
    the memory lines, on a rich Console or a :class:`~costcalc.render.boxtable.Output`."""
    label = "FLOPs" if units == "flops" else "MACs"
    tot = _symbolic_total(res.totals)
    title = f"{res.name}: one training step, batch {res.batch:,}, {res.optimizer}, {res.dtype_bytes} B/element"
    t = Grid(show_footer=True, name=title)
    t.add_column("layer", footer="total")
    t.add_column(f"forward {label}", justify="right", footer=_n(_ops(tot.forward.macs, units), True))
    t.add_column(f"input-grad {label}", justify="right", footer=_n(_ops(tot.input_macs, units), True))
    t.add_column(f"weight-grad {label}", justify="right", footer=_n(_ops(tot.weight_macs, units), True))
    t.add_column(f"train {label}", justify="right", footer=_n(_ops(tot.train_macs, units), True))
    t.add_column("saved bytes", justify="right", footer=_n(tot.saved_bytes, True))
    for r in visible(res, depth, top):
        t.add_row("  " * r.depth + _name(r, top), _n(_ops(r.forward.macs, units)),
                  _n(_ops(r.input_macs, units)) if r.input_grad or not r.leaf else "—",
                  _n(_ops(r.weight_macs, units)), _n(_ops(r.train_macs, units)), _n(r.saved_bytes),
                  style=None if r.leaf else "bold")
    console.print(title)
    console.print(t)
    console.print(TRAIN_CONVENTION)
    bt = Grid(name="by layer type")
    for col, j in (("type", "left"), (f"train {label}", "right"), (f"% train {label}", "right"),
                   ("saved bytes", "right"), ("% saved", "right")):
        bt.add_column(col, justify=j)
    for cat, r in by_type(res).items():
        bt.add_row(cat, _n(_ops(r.train_macs, units)), _pct(r.train_macs, tot.train_macs), _n(r.saved_bytes),
                   _pct(r.saved_bytes, tot.saved_bytes))
    console.print("by layer type")
    console.print(bt)
    console.print(f"backward elementwise: {_n(tot.elementwise, True)} ops, {_n(tot.comparisons, True)} comparisons "
                  f"(forward: {_n(tot.forward.elementwise, True)} ops, {_n(tot.forward.comparisons, True)} comparisons)")
    console.print(memory_text(res.memory, res.optimizer))
    first = next((r for r in res.leaves if r.recorded), None)
    if first is not None:
        console.print(f"{first.path} is the first layer with parameters: no input gradient there or before it "
                      "('—' in the input-grad column)")


def _pct(part: Any, whole: Any) -> str:
    if is_int(part) and is_int(whole) and whole:
        return f"{100 * part / whole:.1f}%"
    return "—"


def memory_text(memory: Any, optimizer: str) -> str:
    m = _expand_memory(memory)
    parts = [f"{label} {_n(getattr(m, key), True)}" for key, label in MEMORY_LINES[:-1]]
    return (f"memory (bytes): {', '.join(parts)} ({optimizer}); peak ≈ {_n(m.peak, True)} bytes"
            + (f" = {_gib(m.peak)}" if is_int(m.peak) else "")
            + " (tensors only: no allocator overhead, workspaces or transient gradients)")


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


# ----------------------------------------------------------------------------------------------
# One layer: ``costcalc layer --mode train``

#: (label, value of a row) of the ``layer --mode train`` table
LAYER_LINES: tuple[tuple[str, Any], ...] = (
    ("forward MACs", lambda r: r.forward.macs),
    ("input-gradient MACs (dL/dx)", lambda r: r.input_macs),
    ("weight-gradient MACs (dL/dW)", lambda r: r.weight_macs),
    ("training MACs (forward + backward)", lambda r: r.train_macs),
    ("backward elementwise ops", lambda r: r.elementwise),
    ("backward comparisons", lambda r: r.comparisons),
    ("saved for backward (bytes)", lambda r: r.saved_bytes),
)


def layer_train_json(lt: LayerTrain) -> dict[str, Any]:
    return {
        "type": lt.type, "mode": "train", "batch": lt.batch, "dtype_bytes": lt.dtype_bytes,
        "formulas": {_key(label): to_json(get(lt.formula)) for label, get in LAYER_LINES},
        "values": {_key(label): to_json(get(lt.value)) for label, get in LAYER_LINES},
        "layers": [row_json(r) for r in lt.rows],
        "notes": lt.notes,
        "convention": TRAIN_CONVENTION,
    }


def _key(label: str) -> str:
    return {"forward MACs": "forward_macs", "input-gradient MACs (dL/dx)": "input_grad_macs",
            "weight-gradient MACs (dL/dW)": "weight_grad_macs", "training MACs (forward + backward)": "train_macs",
            "backward elementwise ops": "backward_elementwise", "backward comparisons": "backward_comparisons",
            "saved for backward (bytes)": "saved_bytes"}[label]


def layer_train_table(lt: LayerTrain, console: Any) -> None:
    from rich.table import Table

    t = Table(title=f"[bold]{lt.type}[/] — training, batch {lt.batch:,}, {lt.dtype_bytes} B/element",
              title_justify="left")
    t.add_column("quantity")
    t.add_column("formula (per image)")
    t.add_column("value", justify="right")
    for label, get in LAYER_LINES:
        t.add_row(label, pretty(get(lt.formula), True), pretty(get(lt.value), True))
    console.print(t)
    if len(lt.rows) > 1:
        rt = Table()
        for col, j in (("layer", "left"), ("type", "left"), ("input-grad MACs", "right"),
                       ("weight-grad MACs", "right"), ("bwd elementwise", "right"), ("saved bytes", "right")):
            rt.add_column(col, justify=j)  # type: ignore[arg-type]
        for r in lt.rows:
            rt.add_row("  " * r.depth + r.path.rsplit(".", 1)[-1], r.type, pretty(r.input_macs),
                       pretty(r.weight_macs), pretty(r.elementwise), pretty(r.saved_bytes))
        console.print(rt)
    for note in lt.notes:
        console.print(f"[dim]note: {note}[/]")
    console.print(f"[dim]{TRAIN_CONVENTION}[/]")


# ----------------------------------------------------------------------------------------------
# The commands' training paths (called once from each command)


def echo_net_train(spec: Any, fmt: str, batch: int, optimizer: str, units: str, dtype_bytes: int,
                   depth: int | None, top: int | None, by_type_only: bool) -> None:
    """``costcalc net SPEC --mode train``: compute and print."""
    import json

    import click

    from costcalc.training import train_network

    res = train_network(spec, batch, optimizer, dtype_bytes)
    if fmt == "json":
        click.echo(json.dumps(net_train_json(res, units), indent=2))
    elif fmt == "csv":
        click.echo(net_train_csv(res, units, depth, top), nl=False)
    else:
        from costcalc.render.boxtable import Output
        from costcalc.render.output import console, width

        out = Output(width(), console)
        if by_type_only:
            bt = Grid(name="by layer type")
            out.print("by layer type")
            for col in ("type", "train MACs", "saved bytes"):
                bt.add_column(col, justify="left" if col == "type" else "right")
            for cat, r in by_type(res).items():
                bt.add_row(cat, _n(_ops(r.train_macs, units)), _n(r.saved_bytes))
            out.print(bt)
        else:
            net_train_table(res, out, units, depth, top)


def echo_layer_train(report: Any, fmt: str, batch: int, dtype_bytes: int) -> None:
    """``costcalc layer --type T --mode train``: compute and print."""
    import json

    import click

    from costcalc.training import train_layer

    lt = train_layer(report, batch, dtype_bytes)
    if fmt == "json":
        click.echo(json.dumps(layer_train_json(lt), indent=2))
    else:
        from costcalc.render.output import console

        layer_train_table(lt, console())


# ----------------------------------------------------------------------------------------------
# ``costcalc verify --mode train``


def verify_train_table(v: Any, console: Any, depth: int | None) -> None:
    from rich.table import Table

    t = Table(title=f"{v.name}: one training step at batch {v.batch}, costcalc vs PyTorch "
                    "(FlopCounterMode / 2, saved_tensors_hooks storages)")
    for col, just in (("layer", "left"), ("type", "left"), ("train MACs", "right"), ("PyTorch", "right"),
                      ("saved bytes", "right"), ("PyTorch", "right"), ("", "left")):
        t.add_column(col, justify=just, no_wrap=col != "layer")  # type: ignore[arg-type]
    hidden = 0
    for c in v.checks:
        if depth is not None and c.depth > depth and c.ok:
            hidden += 1
            continue
        t.add_row("  " * c.depth + c.path.rsplit(".", 1)[-1] if c.depth else c.path, c.type, f"{c.macs:,}",
                  _n(c.torch_macs), f"{c.saved:,}", f"{c.torch_saved:,}", "[green]✓[/]" if c.ok else "[bold red]✗[/]")
    tot, run = v.result.totals, v.run
    t.add_section()
    t.add_row("total", "", f"{tot.train_macs:,}", _n(v.torch_macs), f"{tot.saved_bytes:,}", f"{run.saved_bytes:,}",
              "[bold red]✗[/]" if v.total_problems else "[green]✓[/]", style="bold")
    console.print(t)
    if hidden:
        console.print(f"{hidden} of {len(v.checks)} rows not shown (all agree); --depth N shows deeper rows.")
    m = v.result.memory
    console.print(f"parameters {m.params:,} B (PyTorch {run.params_bytes:,}), gradients {m.gradients:,} B "
                  f"(PyTorch {run.grads_bytes:,}), {v.optimizer} state {m.optimizer:,} B (PyTorch "
                  f"{run.optimizer_bytes if run.optimizer_bytes is None else format(run.optimizer_bytes, ',')})")
    if v.ok:
        console.print(f"[green]✓ costcalc agrees with PyTorch exactly[/] on all {len(v.checks)} layers: "
                      f"{tot.train_macs:,} training MACs, {tot.saved_bytes:,} bytes saved for backward, "
                      f"{m.params + m.gradients + m.optimizer:,} bytes of parameters, gradients and optimizer state.")
    else:
        console.print(f"[bold red]✗ {len(v.mismatches) + (1 if v.total_problems else 0)} disagreement(s):[/]")
        for c in v.mismatches:
            console.print(f"  [red]✗[/] {c.path} ({c.type}): {'; '.join(c.problems)}")
        for p in v.total_problems:
            console.print(f"  [red]✗[/] {p}")
    for note in v.notes:
        console.print(f"[dim]Note: {note}[/]")


def verify_train_json(v: Any) -> dict[str, Any]:
    run, m = v.run, v.result.memory
    return {
        "name": v.name, "mode": "train", "ok": v.ok, "batch": v.batch, "optimizer": v.optimizer, "device": v.device,
        "rows": [{"path": c.path, "type": c.type, "depth": c.depth, "train_macs": c.macs, "torch_train_macs": c.torch_macs,
                  "saved_bytes": c.saved, "torch_saved_bytes": c.torch_saved, "ok": c.ok, "problems": c.problems}
                 for c in v.checks],
        "total": {"train_macs": v.result.totals.train_macs, "torch_train_macs": v.torch_macs,
                  "torch_flops": run.total_flops, "torch_flops_uncorrected": run.raw_flops,
                  "saved_bytes": m.activations, "torch_saved_bytes": run.saved_bytes,
                  "params_bytes": m.params, "torch_params_bytes": run.params_bytes,
                  "gradient_bytes": m.gradients, "torch_gradient_bytes": run.grads_bytes,
                  "optimizer_bytes": m.optimizer, "torch_optimizer_bytes": run.optimizer_bytes,
                  "ok": not v.total_problems, "problems": v.total_problems},
        "notes": v.notes,
    }
