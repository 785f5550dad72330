"""Windowed attention (Swin V1/V2, MaxViT) against torchvision's own modules and closed forms.

Each costcalc type is compared with the torchvision module it stands for, counted by PyTorch's
``FlopCounterMode`` on the meta device (MACs = total / 2) and ``sum(p.numel())``, and with the
closed form written out here. The import of small Swin and MaxViT models built from torchvision's
classes checks the importer's folds end to end in the default run (the full models are in the
slow zoo test of ``test_import.py``).
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'costcalc[torch]'")
torchvision = pytest.importorskip("torchvision", reason="torchvision not installed")

from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torchvision.models import maxvit, swin_transformer  # noqa: E402

from costcalc.cost import Shape  # noqa: E402
from costcalc.engine import evaluate  # noqa: E402
from costcalc.layers import get_type  # noqa: E402

warnings.filterwarnings("ignore")


def torch_count(module: nn.Module, x_shape: tuple[int, ...]) -> tuple[int, int]:
    """(FlopCounterMode total / 2, sum of parameters) of ``module`` on a meta input."""
    module = module.to("meta").eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(torch.zeros(*x_shape, device="meta"))
    total = int(counter.get_total_flops())
    assert total % 2 == 0
    return total // 2, sum(p.numel() for p in module.parameters())


def costcalc_count(type_name: str, x: Shape, **fields: object) -> tuple[int, int]:
    _, cost, _ = evaluate(get_type(type_name).make(**fields), (x,))
    return cost.macs, cost.params


# ----------------------------------------------------------------------------------------------
# window_attention: torchvision's ShiftedWindowAttention and ShiftedWindowAttentionV2


@pytest.mark.parametrize("h, w, c, heads, window, shift", [
    (14, 14, 48, 3, 7, 0),  # two windows per side
    (14, 14, 48, 3, 7, 3),  # shifted: roll and mask
    (10, 9, 16, 2, 4, 2),  # padded to 12×12, cropped back
    (7, 7, 32, 4, 7, 3),  # one window: torchvision drops the shift
])
def test_window_attention_v1(h: int, w: int, c: int, heads: int, window: int, shift: int) -> None:
    module = swin_transformer.ShiftedWindowAttention(c, [window, window], [shift, shift], heads)
    hp, wp = -(-h // window) * window, -(-w // window) * window
    L, n = hp * wp, window * window
    closed = (4 * L * c * c + 2 * L * n * c, 4 * c * c + 4 * c + (2 * window - 1) ** 2 * heads)
    assert torch_count(module, (1, h, w, c)) == closed
    assert costcalc_count("window_attention", Shape(h, w, c), heads=heads, window=window, shift=shift) == closed


def test_window_attention_v2() -> None:
    c, heads, window = 32, 4, 4
    module = swin_transformer.ShiftedWindowAttentionV2(c, [window, window], [2, 2], heads)
    L, n, t = 8 * 8, window * window, (2 * window - 1) ** 2
    # + the position-bias MLP 2 → 512 (bias) → heads (no bias) over the t offsets; logit scale per head
    closed = (4 * L * c * c + 2 * L * n * c + t * (2 * 512 + 512 * heads),
              4 * c * c + 4 * c + (2 * 512 + 512 + 512 * heads) + heads)
    assert torch_count(module, (1, 8, 8, c)) == closed
    assert costcalc_count("window_attention", Shape(8, 8, c), heads=heads, window=window, shift=2, v2=True) == closed


def test_window_attention_v2_training() -> None:
    """One training step of V2 in PyTorch at batch 1 (where its once-per-pass bias MLP is per
    image): every leaf's multiply-adds agree; the saved bytes agree except the cosine scores'
    (``F.normalize`` saves Q, K and their norms besides), which costcalc undercounts."""
    from costcalc.torch_build import verify_training

    layer = get_type("window_attention").make(heads=4, window=4, shift=2, v2=True, cpb=32)
    v = verify_training(layer, Shape(8, 8, 32), batch=1)
    assert all(c.macs == c.torch_macs for c in v.checks), [(c.path, c.macs, c.torch_macs) for c in v.checks]
    assert [c.path for c in v.checks if c.saved != c.torch_saved] == ["window_attention.scores"]


# ----------------------------------------------------------------------------------------------
# patch_merging: PatchMerging and PatchMergingV2


@pytest.mark.parametrize("v2", [False, True])
@pytest.mark.parametrize("h, w", [(8, 8), (7, 9)])
def test_patch_merging(v2: bool, h: int, w: int) -> None:
    c = 16
    cls = swin_transformer.PatchMergingV2 if v2 else swin_transformer.PatchMerging
    oh, ow = (h + 1) // 2, (w + 1) // 2
    closed = (oh * ow * 4 * c * 2 * c, 4 * c * 2 * c + 2 * (2 * c if v2 else 4 * c))
    assert torch_count(cls(c), (1, h, w, c)) == closed
    assert costcalc_count("patch_merging", Shape(h, w, c), v2=v2) == closed


# ----------------------------------------------------------------------------------------------
# partition_attention: MaxViT's PartitionAttentionLayer, block and grid


@pytest.mark.parametrize("kind", ["window", "grid"])
def test_partition_attention(kind: str) -> None:
    c, head_dim, p, size = 32, 8, 4, 8
    module = maxvit.PartitionAttentionLayer(c, head_dim, p, kind, (size, size), 4, nn.GELU, nn.LayerNorm,
                                            0.0, 0.0, 0.0)
    heads, L, n = c // head_dim, size * size, p * p
    closed = (12 * L * c * c + 2 * L * n * c, 12 * c * c + 13 * c + (2 * p - 1) ** 2 * heads)
    assert torch_count(module, (1, c, size, size)) == closed
    assert costcalc_count("partition_attention", Shape(size, size, c), heads=heads, window=p,
                          grid=kind == "grid") == closed


# ----------------------------------------------------------------------------------------------
# The import of small models made of torchvision's classes (the fast end-to-end check)


def _tiny_swin(v2: bool) -> nn.Module:
    extra = dict(block=swin_transformer.SwinTransformerBlockV2,
                 downsample_layer=swin_transformer.PatchMergingV2) if v2 else {}
    return swin_transformer.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[1, 2],
                                            window_size=[4, 4], num_classes=10, **extra)


def _tiny_maxvit() -> nn.Module:
    return maxvit.MaxVit(input_size=(64, 64), stem_channels=16, partition_size=2, block_channels=[16, 32],
                         block_layers=[1, 1], head_dim=8, stochastic_depth_prob=0.0, num_classes=10)


@pytest.mark.parametrize("make, size", [(lambda: _tiny_swin(False), 64), (lambda: _tiny_swin(True), 64),
                                        (_tiny_maxvit, 64)], ids=["swin", "swin_v2", "maxvit"])
def test_import_small_models(make, size: int) -> None:  # type: ignore[no-untyped-def]
    from costcalc.importer import finish_torch, load_text
    from costcalc.importer.torch_import import import_module
    from costcalc.network import evaluate_network

    model = make().eval()
    ti = import_module(model, "tiny", (3, size, size), timeout=1.0)
    assert not ti.graph.unsupported, [u.describe_node() for u in ti.graph.unsupported][:3]
    res = finish_torch(ti, "tiny")
    types = {line.split("type: ")[1].split(",")[0] for line in res.text.splitlines() if "type: " in line}
    assert {"window_attention", "patch_merging"} <= types or "partition_attention" in types
    spec = load_text(res.text, "tiny", {"resolution": str(size)} if "resolution" in res.doc["vars"] else {})
    got = evaluate_network(spec).totals
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model.to("meta")(torch.zeros(1, 3, size, size, device="meta"))
    assert (got.macs, got.params) == (counter.get_total_flops() // 2, sum(p.numel() for p in model.parameters()))


def test_symbolic_size_states_where_windows_tile_it() -> None:
    """At a symbolic size the closed form assumes the window divides the map (no padding) and says
    so, in the exact form too (torchvision pads only where the window does not divide). At R = 14
    with w = 7: L = 196 tokens of C = 32, MACs = 4·L·C² + 2·L·w²·C; at R = 15 the map is padded to
    21 × 21 (L = 441), where the closed form does not hold."""
    import sympy

    import costcalc

    doc = {"name": "w", "vars": {"R": 14}, "input": ["R", "R", 32],
           "layers": [{"type": "window_attention", "heads": 2, "window": 7}]}
    net = costcalc.net(doc, R="R")
    assert "R is a multiple of 7" in net.conditions.sentence()
    assert net.holds(R=14) is True and net.holds(R=21) is True and net.holds(R=15) is False
    r = sympy.Symbol("R", positive=True)
    assert sympy.sympify(net.formula("macs")).subs(r, 14) == 4 * 196 * 32**2 + 2 * 196 * 49 * 32
    assert net.exact_form().holds(R=15) is False
    assert costcalc.net(doc, R=15).totals.macs == 4 * 441 * 32**2 + 2 * 441 * 49 * 32 == 3_189_312
