"""Render a verification against PyTorch (``costcalc verify``): table and JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costcalc.render.boxtable import Blocks, Grid, Text
from costcalc.render.view import View


@dataclass
class Shown:
    """A verification and the depth of rows to show (every row is checked; a row that disagrees is
    always shown)."""

    verification: Any
    depth: int | None = None


def _shape(s: Any) -> str:
    return "—" if s is None else "×".join(str(v) for v in s)


def _n(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def verify_blocks(shown: Shown, view: View) -> Blocks:
    v, depth = shown.verification, shown.depth
    g = Grid(name=v.name)
    for col, just, kind in (("layer", "left", "text"), ("type", "left", "text"), ("MACs", "right", "number"),
                            ("PyTorch MACs", "right", "number"), ("params", "right", "number"),
                            ("PyTorch params", "right", "number"), ("weights", "right", "number"),
                            ("output", "left", "number"), ("", "left", "number")):
        g.add_column(col, justify=just, kind=kind, merge_into=0 if col == "type" else None)
    hidden = 0
    for c in v.checks:
        if depth is not None and c.depth > depth and c.ok:
            hidden += 1
            continue
        label = "  " * c.depth + c.path.rsplit(".", 1)[-1] if c.depth else c.path
        g.add_row(label, c.type, _n(c.macs), _n(c.torch_macs), _n(c.params), _n(c.torch_params), _n(c.weights),
                  _shape(c.out_shape), "✓" if c.ok else "✗", style=None if c.leaf else "bold")
    weights = sum(c.weights for c in v.checks if c.leaf)
    g.show_footer = True
    for col, foot in zip(g.columns, ("total", "", _n(v.total.macs), _n(v.torch_macs), _n(v.total.params),
                                     _n(v.torch_params), _n(weights), _shape(v.out_shape),
                                     "✗" if v.total_problems else "✓")):
        col.footer = foot
    out = Blocks([Text(f"{v.name}: costcalc vs PyTorch (MACs = FlopCounterMode / 2, params = sum(p.numel()))", "bold"),
                  g])
    n = len(v.checks)
    rows = "its 1 row" if n == 1 else f"all {n:,} rows"
    if hidden:
        out.append(Text(f"{hidden:,} of {n:,} rows not shown (all agree); --depth N shows deeper rows."))
    if v.ok:
        out.append(Text(f"✓ costcalc agrees with PyTorch exactly on {rows}: {v.total.macs:,} MACs "
                        f"(FlopCounterMode {v.torch_flops:,} / 2), {v.total.params:,} params, output "
                        f"{_shape(v.out_shape)}.", "green"))
    else:
        bad = len(v.mismatches) + (1 if v.total_problems else 0)
        out.append(Text(f"✗ {bad} disagreement{'s' if bad != 1 else ''} with PyTorch:", "bold red"))
        for c in v.mismatches:
            out.append(Text(f"  ✗ {c.path} ({c.type}): {'; '.join(c.problems)}", "red"))
        for p in v.total_problems:
            out.append(Text(f"  ✗ {p}", "red"))
    if v.device == "meta":
        out.append(Text("Note: PyTorch ran on its meta device (the same operators and counts, shapes only); "
                        "--device cpu runs a real forward pass on a zero tensor.", "dim"))
    for note in v.notes:
        out.append(Text(f"Note: {note}", "dim"))
    return out


def verify_json(shown: Shown, view: View) -> dict[str, Any]:
    v = shown.verification

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


__all__ = ["Shown", "verify_blocks", "verify_json"]
