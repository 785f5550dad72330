"""Training cost (``costcalc/training.py``, ``--mode train``) against closed forms written out here and
PyTorch's own counters on PyTorch's own models.

- Multiply-adds: FlopCounterMode's forward + backward total / 2 on the examples built with
  ``to_torch`` and on torchvision's ResNet-18 and VGG-11; for grouped and depthwise layers, where
  FlopCounterMode's weight-gradient formula ignores ``groups``, a count of the aten operations written
  in this file and FlopCounterMode with that one formula replaced (also written here).
- Saved activations: the unique storages ``torch.autograd.graph.saved_tensors_hooks`` sees, on every
  example at batch 1 and 8, and on torchvision's models (in-place activations).
- Optimizer state: ``torch.optim`` after one step.
"""

from __future__ import annotations

import glob
import json
import math
import os
from typing import Any

import pytest
from click.testing import CliRunner

from costcalc.cli import main
from costcalc.cost import Shape
from costcalc.engine import analyze_layer, symbol
from costcalc.layers import all_types
from costcalc.layers.base import Leaf
from costcalc.layers.conv import Conv
from costcalc.layers.primitives import Activation
from costcalc.spec import build_spec, load_spec, parse_yaml
from costcalc.training import (
    MAX_BATCH,
    Step,
    TrainingError,
    layer_steps,
    train_layer,
    train_network,
    train_steps,
)

HERE = os.path.dirname(__file__)
EXAMPLES = sorted(glob.glob(os.path.join(HERE, "..", "examples", "*.yaml")))
GROUPED = ("mobilenet_v1", "mobilenet_v2", "fd_mobilenet", "shufflenet_v1", "shufflenet_v2", "resnext50_32x4d")
#: examples whose PyTorch runs take seconds: run with --slow (CI does)
SLOW = ("resnet101", "resnet152", "resnext50_32x4d", "shufflenet_v1", "mobilenet_v1", "fd_mobilenet")


def maybe_slow(names: Any) -> list[Any]:
    """``names`` as parameters, the long ones marked slow."""
    out = []
    for n in names:
        base = os.path.basename(n)[:-5] if n.endswith(".yaml") else n
        out.append(pytest.param(n, id=base, marks=[pytest.mark.slow] if base in SLOW else []))
    return out


def example(name: str) -> Any:
    return load_spec(os.path.join(HERE, "..", "examples", f"{name}.yaml"), {})


def spec_of(text: str) -> Any:
    return build_spec(parse_yaml(text), "test.yaml")


def inside(layer: Any, *shapes: Shape, batch: int = 1) -> list[Any]:
    """Training rows of a layer on its own, its inputs needing gradients (as inside a network)."""
    steps = layer_steps(layer, shapes, "x")
    return train_steps(steps, batch, 4, {-1 - i: (s, True) for i, s in enumerate(shapes)})


# ----------------------------------------------------------------------------------------------
# Closed forms


def test_grouped_conv_backward_is_forward_twice() -> None:
    """Input gradient and weight gradient each cost the forward multiply-adds, groups included."""
    rows = inside(Conv(M=128, K=3, S=2, G=4), Shape(28, 28, 64))
    fwd = 14 * 14 * 128 * 3 * 3 * (64 // 4)
    (r,) = rows
    assert (r.forward.macs, r.input_macs, r.weight_macs) == (fwd, fwd, fwd)
    assert r.saved_bytes == 28 * 28 * 64 * 4  # its input


def test_depthwise_numbers_of_the_issue() -> None:
    """A depthwise 3×3 over 64 channels at 56²: 1,806,336 forward MACs, 5,419,008 for training."""
    (r,) = inside(Conv(K=3, depthwise=True), Shape(56, 56, 64))
    assert r.forward.macs == 56 * 56 * 64 * 9 == 1_806_336
    assert r.train_macs == 3 * 56 * 56 * 64 * 9 == 5_419_008


TINY = """\
name: tiny
input: [8, 8, 3]
layers:
  - {type: conv, M: 4, K: 3, bn: true, act: relu}
  - {type: maxpool, K: 2}
  - {type: fc, M: 10}
"""


def test_tiny_network_by_hand() -> None:
    """Every count of a 3-layer network written out (batch B = 3, float32)."""
    b = 3
    r = train_network(spec_of(TINY), batch=b, optimizer="adam")
    conv = 8 * 8 * 4 * 3 * 3 * 3  # 6,912 MACs per image
    fc = 4 * 4 * 4 * 10  # 640
    t = r.totals
    assert t.forward.macs == b * (conv + fc)
    assert t.input_macs == b * fc  # the first conv computes no input gradient
    assert t.weight_macs == b * (conv + fc)
    assert t.train_macs == b * (2 * conv + 3 * fc) == 47_232
    # BatchNorm 4 + 5 per element, max pool 1 add per output, fc bias 1 per output; ReLU compares
    assert t.elementwise == b * (9 * 256 + 64 + 10)
    assert t.comparisons == b * 256
    # saved: conv its input, BN its input + 2·4 statistics, ReLU its output, max pool its input (the
    # ReLU's output, already counted) + int64 indices, fc its input
    per_image = 4 * (8 * 8 * 3) + 4 * 256 + 4 * 256 + 8 * 64 + 4 * 64
    assert t.saved_bytes == b * per_image + 4 * 2 * 4
    params = (4 * 3 * 9) + 2 * 4 + (64 * 10 + 10)
    assert r.memory.params == r.memory.gradients == 4 * params
    assert r.memory.optimizer == 2 * 4 * params + 4 * 5  # exp_avg, exp_avg_sq; a step per tensor
    assert r.memory.peak == t.saved_bytes + 4 * 4 * params + 4 * 5


def test_nothing_before_the_first_layer_with_parameters() -> None:
    """Autograd records nothing before the first layer with parameters: no saved tensors, no work."""
    r = train_network(spec_of("""\
        input: [16, 16, 8]
        layers:
          - {type: maxpool, K: 2}
          - {type: relu}
          - {type: pointwise, M: 8}
          - {type: relu}
        """.replace("        ", "")), batch=2)
    pool, relu0, conv, relu1 = r.leaves
    for row in (pool, relu0):
        assert not row.recorded and row.saved_bytes == 0 and row.elementwise == 0 and row.comparisons == 0
    assert not conv.input_grad and conv.input_macs == 0 and conv.weight_macs == 2 * 8 * 8 * 8 * 8
    assert conv.saved_bytes == 2 * 8 * 8 * 8 * 4  # the pooled ReLU output it reads
    assert relu1.recorded and relu1.comparisons == 2 * 8 * 8 * 8


def test_gradient_accumulation_at_a_fork() -> None:
    """A tensor feeding two layers receives two gradients: one add per element at its producer."""
    r = train_network(spec_of("input: [8, 8, 16]\nlayers:\n  - {type: pointwise, M: 16}\n"
                              "  - {type: relu, name: r}\n  - {type: basic, M: 16}\n"), batch=1)
    relu = next(x for x in r.leaves if x.path == "r")
    assert relu.comparisons == 8 * 8 * 16  # its own mask
    assert relu.elementwise == 8 * 8 * 16  # the sum of the gradients from conv1 and the residual add


def test_a_view_keeps_its_base_alive() -> None:
    """ShuffleNet V2's split is a view: the 1×1 conv reading the half saves the whole input."""
    rows = inside(get_unit(), Shape(7, 7, 64))
    pw1 = next(r for r in rows if r.path.endswith(".pw1"))
    assert pw1.saved_bytes == 7 * 7 * 64 * 4


def get_unit() -> Any:
    from costcalc.layers.blocks import ShuffleV2Unit

    return ShuffleV2Unit(M=64)


def test_batchnorm_statistics_do_not_scale_with_the_batch() -> None:
    from costcalc.layers.primitives import BatchNorm

    for b in (1, 8):
        (r,) = inside(BatchNorm(), Shape(5, 5, 12), batch=b)
        assert r.saved_bytes == 4 * (b * 5 * 5 * 12 + 2 * 12)


@pytest.mark.parametrize("opt,buffers,steps", [("sgd", 0, 0), ("momentum", 1, 0), ("adam", 2, 1), ("adamw", 2, 1)])
def test_optimizer_state_closed_form(opt: str, buffers: int, steps: int) -> None:
    r = train_network(spec_of(TINY), optimizer=opt, dtype_bytes=2)
    params, tensors = 4 * 27 + 8 + 650, 5
    assert r.memory.optimizer == buffers * 2 * params + steps * 4 * tensors


def test_formulas_in_both_worlds() -> None:
    """``layer --mode train``: the formulas are the closed forms; the values evaluate them."""
    H, W, N, K, M = (symbol(s) for s in "HWNKM")
    lt = train_layer(analyze_layer("depthwise", {"H": 56, "N": 64}))
    assert lt.formula.forward.macs == lt.formula.input_macs == lt.formula.weight_macs == H * W * N * K**2
    assert lt.formula.saved_bytes == 4 * H * W * N
    assert (lt.value.input_macs, lt.value.weight_macs, lt.value.train_macs) == (1_806_336, 1_806_336, 5_419_008)
    lt = train_layer(analyze_layer("conv", {}))
    assert lt.formula.weight_macs == H * W * N * K**2 * M


@pytest.mark.parametrize("name,var,value", [("resnet50", "resolution", 224), ("convnext_tiny", "resolution", 224),
                                            ("regnet_y_400mf", "resolution", 224), ("vit_b_16", "heads", 12)])
def test_symbolic_network_total_is_the_numeric_one(name: str, var: str, value: int) -> None:
    """One rule, two worlds: the formula of a network with one symbolic dimension, evaluated, is the
    numeric total (a symbolic head count takes the general case, copies of Q, K and V per head)."""
    sym = train_network(load_spec(os.path.join(HERE, "..", "examples", f"{name}.yaml"), {var: "X"}), 4)
    num = train_network(example(name), 4)
    X = symbol("X")
    for f in ("train_macs", "saved_bytes", "elementwise", "comparisons"):
        formula = getattr(sym.totals, f)
        assert (formula.subs(X, value) if hasattr(formula, "subs") else formula) == getattr(num.totals, f), f
    assert X in sym.totals.saved_bytes.free_symbols


def test_a_layer_class_without_a_rule_is_an_error() -> None:
    class Mystery(Leaf):
        type_name = "mystery"

        def out_shape(self, *inputs: Shape) -> Shape:
            return inputs[0]

        def cost(self, *inputs: Shape) -> Any:
            from costcalc.cost import Cost

            return Cost()

    x = Shape(4, 4, 4)
    with pytest.raises(TrainingError, match=r"no training rule for layer type 'mystery' \(Mystery\)"):
        train_steps([Step("m", Mystery(), (-1,), (x,), x, 0)], 1, 4, {-1: (x, True)})
    with pytest.raises(TrainingError, match="no training rule for activation 'softsign'"):
        inside(Activation("softsign"), x)


def _standalone(name: str) -> Any:
    lt = all_types()[name]
    given: dict[str, Any] = {"H": 32, "N": 16}  # 32: patch_embed's 16×16 patches fit
    for k in lt.required:
        given[k] = 4
    return analyze_layer(name, given)


@pytest.mark.parametrize("name", sorted(all_types()))
def test_every_registered_type_has_a_rule(name: str) -> None:
    """Every type, in both worlds: a type added without a training rule fails here by name."""
    lt = train_layer(_standalone(name))
    assert lt.rows and lt.formula.train_macs is not None


def test_batch_bounds() -> None:
    from costcalc.training import check_batch

    assert check_batch(MAX_BATCH) == MAX_BATCH
    for bad in (0, -1, MAX_BATCH + 1, 2.5, True):
        with pytest.raises(TrainingError, match="batch size"):
            check_batch(bad)


# ----------------------------------------------------------------------------------------------
# The command line

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(main, list(args))


def test_net_train_json(tmp_path: Any) -> None:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    res = cli("net", str(p), "--mode", "train", "--batch", "3", "--optimizer", "adam", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["mode"] == "train" and doc["batch"] == 3 and doc["optimizer"] == "adam"
    assert doc["totals"]["train_macs"] == 47_232
    assert sum(r["train_macs"] for r in doc["layers"]) == 47_232
    assert doc["layers"][0]["input_grad_macs"] == 0 and doc["layers"][0]["input_grad"] is False
    assert doc["memory"]["peak"] == sum(doc["memory"][k] for k in ("activations", "params", "gradients", "optimizer"))
    flops = json.loads(cli("net", str(p), "--mode", "train", "--batch", "3", "--units", "flops",
                           "--format", "json").output)
    assert flops["totals"]["train_flops"] == 2 * 47_232


def test_net_train_table_and_csv(tmp_path: Any) -> None:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    res = cli("net", str(p), "--mode", "train", "--batch", "3")
    assert res.exit_code == 0 and "47,232" in res.output and "peak" in res.output
    res = cli("net", str(p), "--mode", "train", "--batch", "3", "--format", "csv")
    last = res.output.strip().splitlines()[-1].split(",")
    assert last[0] == "TOTAL" and "47232" in last


def test_inference_is_unchanged(tmp_path: Any) -> None:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    assert cli("net", str(p)).output == cli("net", str(p), "--mode", "inference").output


def test_layer_train_cli() -> None:
    res = cli("layer", "--type", "depthwise", "-H", "56", "-N", "64", "--mode", "train", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["values"]["train_macs"] == 5_419_008
    res = cli("layer", "--type", "depthwise", "--mode", "train")
    assert res.exit_code == 0 and "H·W·N·K²" in res.output


BAD = [
    (["net", "{tiny}", "--mode", "train", "--batch", "0"], "option --batch: 0 is outside 1 to 1,000,000"),
    (["net", "{tiny}", "--mode", "train", "--batch", "-4"], "option --batch: -4 is outside 1 to 1,000,000"),
    (["net", "{tiny}", "--mode", "train", "--batch", "2.5"], "option --batch: '2.5' is not an integer"),
    (["net", "{tiny}", "--mode", "train", "--batch", "abc"], "option --batch: 'abc' is not an integer"),
    (["net", "{tiny}", "--mode", "train", "--batch", "1000001"], "option --batch: 1000001 is outside 1 to 1,000,000"),
    (["net", "{tiny}", "--mode", "train", "--batch", "9" * 400], "is outside 1 to 1,000,000"),
    (["net", "{tiny}", "--mode", "train", "--optimizer", "lamb"],
     "option --optimizer: unknown value 'lamb'; choose from sgd, momentum, adam, adamw"),
    (["net", "{tiny}", "--mode", "training"], "option --mode: unknown value 'training'; choose from inference, train"),
    (["net", "{tiny}", "--batch", "8"], "options --batch and --optimizer apply to --mode train"),
    (["net", "{tiny}", "--mode", "train", "--format", "latex"], "--mode train: --format latex is not available"),
    (["layer", "--type", "conv", "--mode", "train", "--batch", "0"], "option --batch: 0 is outside"),
    (["layer", "--type", "conv", "--mode", "train", "--format", "latex"], "--format latex is not available"),
    (["verify", "{tiny}", "--mode", "train", "--batch", "x"], "option --batch: 'x' is not an integer"),
    # inference-table options the training table would silently ignore
    (["net", "{tiny}", "--mode", "train", "--params", "weights"],
     "--mode train: option --params weights applies to the inference table only"),
    (["net", "{tiny}", "--mode", "train", "--human"], "--mode train: option --human applies to the inference"),
    (["net", "{tiny}", "--mode", "train", "--exact"], "--mode train: option --exact applies to the inference"),
    (["net", "{tiny}", "--mode", "train", "--assume", "a>=1"], "--mode train: option --assume applies"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a[2:]) for a, _ in BAD])
def test_bad_training_options(args: list[str], message: str, tmp_path: Any) -> None:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    res = runner.invoke(main, [a.replace("{tiny}", str(p)) for a in args])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], res.output
    assert "Traceback" not in res.output


# ----------------------------------------------------------------------------------------------
# PyTorch


def _torch() -> Any:
    return pytest.importorskip("torch", reason="PyTorch not installed: pip install 'costcalc[torch]'")


def _mac_count(model: Any, x: Any) -> int:
    """Multiply-adds of one forward + backward pass, counted here from the aten operations that ran:
    a convolution's output elements × its weight's (N/G)·K², once for the forward, once per gradient
    convolution_backward computes (input, weight), and m·k·n per matrix product. Groups enter through
    the weight's shape [M, N/G, K, K], as in the forward pass. A transposed convolution's weight is
    [N, M/G, K, K] and its work is counted on its input: input elements × (M/G)·K², per pass."""
    torch = _torch()
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    total = [0]

    def per_output(w: Any) -> int:
        return w.shape[1] * math.prod(w.shape[2:])

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            op = func._overloadpacket
            if op is aten.convolution:
                # transposed (args[6]): each *input* element meets the M/G·K² weights of its channel
                total[0] += (args[0] if args[6] else out).numel() * per_output(args[1])
            elif op is aten.convolution_backward:
                grad_out, x, w, transposed, mask = args[0], args[1], args[2], args[7], args[10]
                total[0] += (int(mask[0]) + int(mask[1])) * (x if transposed else grad_out).numel() * per_output(w)
            elif op is aten.mm:
                total[0] += args[0].shape[0] * args[0].shape[1] * args[1].shape[1]
            elif op is aten.addmm:
                total[0] += args[1].shape[0] * args[1].shape[1] * args[2].shape[1]
            elif op in (aten.convolution_overrideable, aten._convolution, aten.bmm):
                raise AssertionError(f"uncounted {op}")
            return out

    with Count():
        model(x).sum().backward()
    return total[0]


def _flop_counter(model: Any, x: Any, custom: Any = None) -> int:
    torch = _torch()
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=custom or {})
    with counter:
        model(x).sum().backward()
    return counter.get_total_flops()


def _build(spec: Any, device: str = "meta") -> Any:
    torch = _torch()
    from costcalc.torch_build import to_torch

    with torch.device(device):
        return to_torch(spec).train()


def _zeros(spec: Any, batch: int, device: str = "meta", **kw: Any) -> Any:
    torch = _torch()
    s = spec.input
    return torch.zeros(batch, s.c, s.h, s.w, device=device, **kw)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_flopcounter_forward_backward_equals_training_macs(name: str) -> None:
    """Without grouped convolutions PyTorch's FlopCounterMode, unmodified, is the reference."""
    spec = example(name)
    assert _flop_counter(_build(spec), _zeros(spec, 2)) == 2 * train_network(spec, 2).totals.train_macs


@pytest.mark.parametrize("name", maybe_slow(GROUPED))
def test_grouped_networks_against_aten_count(name: str) -> None:
    """Grouped and depthwise layers: the aten-op count of this file, and FlopCounterMode with its
    convolution_backward formula corrected here, both equal costcalc."""
    torch = _torch()
    from torch.utils.flop_counter import conv_backward_flop

    raw = getattr(conv_backward_flop, "__wrapped__", conv_backward_flop)

    def fixed(grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups, mask, out_shape=None,
              **kw):  # type: ignore[no-untyped-def]
        # the weight gradient is a grouped correlation: each weight sees N/G input channels
        dx = raw(grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups,
                 [mask[0], False, False], out_shape=out_shape)
        dw = raw(grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups,
                 [False, mask[1], False], out_shape=out_shape)
        return dx + dw // groups

    spec = example(name)
    expected = train_network(spec, 2).totals.train_macs
    assert _mac_count(_build(spec), _zeros(spec, 2)) == expected
    patched = _flop_counter(_build(spec), _zeros(spec, 2), {torch.ops.aten.convolution_backward: fixed})
    assert patched == 2 * expected
    assert _flop_counter(_build(spec), _zeros(spec, 2)) > 2 * expected  # PyTorch's own count is too high


def test_flopcounter_ignores_groups_in_the_weight_gradient() -> None:
    """The minimal reproducer of docs/papers.md: a depthwise 3×3 over 64 channels at 56², input
    needing a gradient. Correct: 3 × 1,806,336 = 5,419,008 MACs; FlopCounterMode (torch 2.13, 2.14):
    1,806,336 × (2 + 64) = 119,218,176, the weight gradient counted over all 64 channels."""
    torch = _torch()
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False, device="meta")
    x = torch.zeros(1, 64, 56, 56, device="meta", requires_grad=True)
    assert _mac_count(conv, x) == 5_419_008
    assert _flop_counter(conv, x) == 2 * 1_806_336 * (2 + 64) == 2 * 119_218_176


def _saved_bytes(model: Any, x: Any) -> int:
    """Bytes of the unique storages autograd saves during the forward pass, parameters and buffers
    excluded: PyTorch's own record, through saved_tensors_hooks."""
    torch = _torch()
    from torch.autograd.graph import saved_tensors_hooks

    state = {t.untyped_storage()._cdata for t in (*model.parameters(), *model.buffers())}
    seen: dict[int, int] = {}

    def pack(t: Any) -> Any:
        st = t.untyped_storage()
        if st._cdata not in state:
            seen[st._cdata] = st.nbytes()
        return t

    with saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("path", maybe_slow(EXAMPLES))
def test_saved_bytes_every_example(path: str, batch: int) -> None:
    spec = load_spec(path, {})
    assert _saved_bytes(_build(spec), _zeros(spec, batch)) == train_network(spec, batch).totals.saved_bytes


@pytest.mark.parametrize("dtype,size", [("float64", 8), ("bfloat16", 2)])
def test_saved_bytes_other_dtypes(dtype: str, size: int) -> None:
    """Activations and BatchNorm statistics in the dtype (PyTorch's CPU kernels), max-pool indices int64."""
    torch = _torch()
    spec = spec_of(TINY)
    dt = getattr(torch, dtype)
    model = _build(spec, "cpu").to(dt)
    assert _saved_bytes(model, _zeros(spec, 3, "cpu", dtype=dt)) == train_network(spec, 3, dtype_bytes=size).totals.saved_bytes


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam", "adamw"])
def test_optimizer_state_against_torch_optim(opt: str) -> None:
    torch = _torch()
    spec = example("resnet18")
    model = _build(spec)
    model(_zeros(spec, 1)).sum().backward()
    o = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1), "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
         "adam": lambda p: torch.optim.Adam(p), "adamw": lambda p: torch.optim.AdamW(p)}[opt](model.parameters())
    o.step()
    state = sum(v.untyped_storage().nbytes() for s in o.state.values() for v in s.values() if torch.is_tensor(v))
    m = train_network(spec, 1, opt).memory
    assert m.optimizer == state
    assert m.params == m.gradients == sum(p.numel() * 4 for p in model.parameters())


def _torchvision() -> Any:
    _torch()
    return pytest.importorskip("torchvision", reason="torchvision not installed")


def test_torchvision_resnet18() -> None:
    """torchvision's ResNet-18 (in-place ReLU): PyTorch's own FlopCounterMode and saved storages."""
    torch = _torch()
    tv = _torchvision()
    spec = example("resnet18")
    with torch.device("meta"):
        model = tv.models.resnet18().train()
    ours = train_network(spec, 8)
    assert _flop_counter(model, _zeros(spec, 8)) == 2 * ours.totals.train_macs
    assert _saved_bytes(model, _zeros(spec, 8)) == ours.totals.saved_bytes


VGG11 = """\
name: VGG-11
input: [224, 224, 3]
defaults: {act: relu}
layers:
  - {type: conv, M: 64}
  - {type: maxpool}
  - {type: conv, M: 128}
  - {type: maxpool}
  - {type: conv, M: 256}
  - {type: conv, M: 256}
  - {type: maxpool}
  - {type: conv, M: 512}
  - {type: conv, M: 512}
  - {type: maxpool}
  - {type: conv, M: 512}
  - {type: conv, M: 512}
  - {type: maxpool}
  - {type: fc, M: 4096}
  - {type: relu}
  - {type: fc, M: 4096}
  - {type: relu}
  - {type: fc, M: 1000}
"""


def test_torchvision_vgg11() -> None:
    """torchvision's VGG-11: multiply-adds exact. Saved bytes differ by exactly what VGG has and the
    spec does not: AdaptiveAvgPool2d((7, 7)) on a 7×7 map (saves its input, 7·7·512 per image;
    the first fc then saves the pool's output instead of the max pool's) — Dropout is put in eval
    mode here (in training it also saves a mask per fc input)."""
    torch = _torch()
    tv = _torchvision()
    spec = spec_of(VGG11.replace("act: relu}", "act: relu, bias: true}"))
    with torch.device("meta"):
        model = tv.models.vgg11().train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    ours = train_network(spec, 2)
    assert _flop_counter(model, _zeros(spec, 2)) == 2 * ours.totals.train_macs
    assert _saved_bytes(model, _zeros(spec, 2)) == ours.totals.saved_bytes + 2 * 7 * 7 * 512 * 4


def test_torchvision_mobilenet_v2() -> None:
    """torchvision's MobileNetV2 uses ReLU6(inplace=True): the in-place hardtanh saves a copy of its
    input, so the storages are those of out-of-place ReLU6. Dropout in eval mode (see VGG-11)."""
    torch = _torch()
    tv = _torchvision()
    spec = example("mobilenet_v2")
    with torch.device("meta"):
        model = tv.models.mobilenet_v2().train()
    model.classifier[0].eval()
    ours = train_network(spec, 8)
    assert _saved_bytes(model, _zeros(spec, 8)) == ours.totals.saved_bytes
    assert _mac_count(model, _zeros(spec, 8)) == ours.totals.train_macs


def test_verify_train_every_row() -> None:
    """``costcalc verify --mode train``: per row multiply-adds and saved bytes, memory, exit 0."""
    _torch()
    res = cli("verify", os.path.join(HERE, "..", "examples", "mobilenet_v2.yaml"), "--mode", "train",
              "--batch", "2", "--optimizer", "adam", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["ok"] and len(doc["rows"]) > 100 and all(r["ok"] for r in doc["rows"])
    assert doc["total"]["torch_flops_uncorrected"] > doc["total"]["torch_flops"]


def test_verify_train_reports_a_wrong_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule that saves the wrong tensor is caught row by row, exit 1: ReLU6 said to save its output
    (it saves its input) makes the depthwise conv reading that output look free."""
    _torch()
    from costcalc import training

    monkeypatch.setitem(training.ACTIVATION_BACKWARD, "relu6", ("output", 2, 0))
    res = cli("verify", "--type", "inverted_residual", "-H", "14", "-N", "32", "--mode", "train")
    assert res.exit_code == 1
    expanded = 14 * 14 * 32 * 6 * 4
    assert f"Error: inverted_residual.dw (depthwise): saved bytes 0 ≠ PyTorch {expanded:,}" in res.output
    assert f"Error: inverted_residual: saved bytes 655,616 ≠ PyTorch {655_616 + 2 * expanded:,}" in res.output


MIXED = """\
name: mixed
input: [16, 16, 8]
layers:
  - {type: maxpool, name: pool, K: 3, S: 1, P: 1}
  - {type: relu}
  - {type: concat, from: input, name: cat}
  - {type: conv, name: a, M: 8, S: 2, bn: true, act: relu}
  - {type: channel_shuffle, G: 8}
  - {type: conv, M: 8, bias: true}
  - {type: hardswish}
  - {type: avgpool, K: 3, S: 1, P: 1}
  - {type: channel_shuffle, G: 2}
  - {type: sigmoid}
  - {type: silu}
  - {type: add, from: a}
  - {type: gelu}
  - {type: hardsigmoid}
  - {type: global_maxpool}
  - {type: pointwise, M: 16, act: relu6}
  - {type: global_avgpool}
  - {type: fc, M: 3}
"""


@pytest.mark.parametrize("batch", [1, 3])
def test_verify_train_mixed_graph(batch: int) -> None:
    """``from:`` references, nothing recorded before the first conv, every activation, a channel
    shuffle that is a view (one channel per group), a fork: per row against PyTorch."""
    _torch()
    from costcalc.torch_build import verify_training

    spec = spec_of(MIXED)
    v = verify_training(spec, batch=batch, optimizer="adamw")
    assert v.ok, [c.problems for c in v.mismatches] + v.total_problems
    rows = {r.path: r for r in v.result.leaves}
    assert rows["channel_shuffle1"].saved_bytes == 0 and rows["conv1"].saved_bytes == 0  # a view of a.relu
    assert not rows["cat"].recorded and rows["a.conv"].input_macs == 0
    assert rows["a.relu"].elementwise == batch * 8 * 8 * 8  # a.relu feeds the shuffle and the add


def test_numeric_training_path_does_not_import_sympy() -> None:
    """Numbers stay numbers: ``net --mode train`` on a numeric spec never imports sympy (or torch)."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from costcalc.cli import main; "
            f"r = CliRunner().invoke(main, ['net', {os.path.join(HERE, '..', 'examples', 'resnet18.yaml')!r}, "
            "'--mode', 'train', '--batch', '8', '--format', 'json']); assert r.exit_code == 0, r.output; "
            "print('sympy' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.path.join(HERE, "..")})
    assert out.stdout.split() == ["False", "False"], out.stderr


def _verify_cases() -> list[Any]:
    from test_verify import CASES

    return CASES


@pytest.mark.parametrize("case", _verify_cases(), ids=lambda c: f"{c[0]}-{'-'.join(f'{k}{v}' for k, v in c[1].items())}")
def test_every_type_trains_as_pytorch(case: Any) -> None:
    """Every case of the forward PyTorch table, trained one step in PyTorch (inputs needing
    gradients, as inside a network): multiply-adds and saved bytes agree per leaf."""
    _torch()
    from costcalc.layers import get_type
    from costcalc.torch_build import verify_training

    type_name, fields, x = case
    if type_name == "window_attention" and fields.get("v2"):
        pytest.xfail("Swin V2's position-bias MLP runs once per pass (costcalc: per image) and its cosine "
                     "scores save less than PyTorch's F.normalize; tests/test_windowed.py asserts what agrees")
    layer = get_type(type_name).make(**fields)
    v = verify_training(layer, *layer.standalone_inputs(x, 24), batch=2)
    assert v.ok, [f"{c.path}: {c.problems}" for c in v.checks if not c.ok]


# ----------------------------------------------------------------------------------------------
# The layers after MobileNet: normalization, tokens, attention, upsampling (closed forms, then
# PyTorch)


def test_layernorm_and_groupnorm_closed_forms() -> None:
    """Both save their input and a mean and 1/σ per normalized group per image (LayerNorm: one group
    per position; GroupNorm: G per image). Backward: 5 per element for γ and β, 8 per element and 2
    per group for the input gradient."""
    from costcalc.layers.norm import GroupNorm, LayerNorm

    n = 14 * 14 * 32
    (ln,) = inside(LayerNorm(), Shape(14, 14, 32), batch=2)
    assert ln.saved_bytes == 4 * 2 * (n + 2 * 14 * 14)
    assert ln.elementwise == 2 * (13 * n + 2 * 14 * 14) and ln.train_macs == 0 and ln.param_tensors == 2
    (gn,) = inside(GroupNorm(G=8), Shape(14, 14, 32), batch=2)
    assert gn.saved_bytes == 4 * 2 * (n + 2 * 8)
    assert gn.elementwise == 2 * (13 * n + 2 * 8)
    H, W, N, G = (symbol(s) for s in "HWNG")
    f = train_layer(analyze_layer("layernorm", {})).formula
    assert f.saved_bytes == 4 * (H * W * N + 2 * H * W) and f.elementwise == 13 * H * W * N + 2 * H * W
    f = train_layer(analyze_layer("groupnorm", {"G": "G"})).formula
    assert f.saved_bytes == 4 * (H * W * N + 2 * G)


def test_linear_closed_form() -> None:
    """nn.Linear on 50 tokens of width 32 → 48, batch 2: input and weight gradients each the forward
    2·50·32·48 multiply-adds, the bias gradient 2·50·48 adds, the input saved."""
    from costcalc.layers.transformer import Linear

    (r,) = inside(Linear(M=48), Shape(50, 1, 32), batch=2)
    fwd = 2 * 50 * 32 * 48
    assert (r.forward.macs, r.input_macs, r.weight_macs) == (fwd, fwd, fwd)
    assert r.elementwise == 2 * 50 * 48 and r.saved_bytes == 4 * 2 * 50 * 32 and r.param_tensors == 2


def test_grouped_conv_transpose_and_flopcounter() -> None:
    """ConvTranspose2d(8 → 12, 3×3, stride 3, padding 2, output_padding 1, dilation 2, 4 groups, bias)
    on 5×6, batch 2: each input element meets (12/4)·9 weights, 5·6·8·27 = 6,480 MACs per image for
    the forward pass, the input gradient and the weight gradient alike. PyTorch's own module, counted
    from the aten operations; FlopCounterMode counts the weight gradient over all 12 output channels,
    4 times too many, as for a grouped conv."""
    torch = _torch()
    from costcalc.layers.modern import ConvTranspose

    per_image = 5 * 6 * 8 * (12 // 4) * 9
    conv = torch.nn.ConvTranspose2d(8, 12, 3, stride=3, padding=2, output_padding=1, dilation=2, groups=4,
                                    device="meta")
    x = torch.zeros(2, 8, 5, 6, device="meta", requires_grad=True)
    assert conv(x).shape[2:] == (14, 17)  # (5−1)·3 − 4 + 2·2 + 1 + 1, (6−1)·3 − 4 + 4 + 1 + 1
    assert _mac_count(conv, x) == 3 * 2 * per_image
    assert _flop_counter(conv, x) == 2 * 2 * per_image * (1 + 1 + 4)
    (r,) = inside(ConvTranspose(M=12, K=3, S=3, P=2, output_padding=1, D=2, G=4, bias=True), Shape(5, 6, 8), batch=2)
    assert r.train_macs == 3 * 2 * per_image
    assert r.elementwise == 2 * 14 * 17 * 12  # the bias gradient
    assert r.saved_bytes == 4 * 2 * 5 * 6 * 8 and r.param_tensors == 2


@pytest.mark.parametrize("mode,ops", [("nearest", 1), ("bilinear", 8)])
def test_upsample_closed_form(mode: str, ops: int) -> None:
    """Nothing saved; each output gradient goes back to its source(s): 1 add (nearest), 4
    multiplies and 4 adds (bilinear) per output element."""
    from costcalc.layers.modern import Upsample

    (r,) = inside(Upsample(scale=3, mode=mode), Shape(5, 4, 8), batch=2)
    assert r.saved_bytes == 0 and r.train_macs == 0 and r.elementwise == ops * 2 * 15 * 12 * 8


def test_token_layers_closed_forms() -> None:
    """The class token and the position embedding save nothing; their gradients sum over the batch
    (D and L·D adds per image). Layer scale saves its input: dx = dy·γ, dγ = Σ dy·x."""
    from costcalc.layers.modern import LayerScale
    from costcalc.layers.transformer import ClassToken, PosEmbed

    (ct,) = inside(ClassToken(), Shape(49, 1, 32), batch=3)
    assert (ct.saved_bytes, ct.elementwise, ct.param_tensors, ct.out_shape) == (0, 3 * 32, 1, Shape(50, 1, 32))
    (pe,) = inside(PosEmbed(), Shape(50, 1, 32), batch=3)
    assert (pe.saved_bytes, pe.elementwise, pe.param_tensors) == (0, 3 * 50 * 32, 1)
    (ls,) = inside(LayerScale(), Shape(7, 7, 16), batch=3)
    assert (ls.saved_bytes, ls.elementwise) == (4 * 3 * 7 * 7 * 16, 3 * 3 * 7 * 7 * 16)


def _attention_saved(L: int, D: int, h: int, B: int) -> int:
    """Bytes the attention leaves save (float32), per the matmul layout: the QKV projection its
    input (L·D); Q·Kᵀ its operands, copies of L·D each, except with one head or one image, where
    they are views of the packed QKV (3·L·D, whole); softmax its output (h·L²); ·V the weights
    (the softmax's output again) and V (a copy of L·D, or the packed QKV again); the output
    projection its input (L·D)."""
    views = B == 1 or h == 1
    scores = 3 * L * D if views else 2 * L * D
    context = 0 if views else L * D
    return 4 * B * (L * D + scores + h * L * L + context + L * D)


@pytest.mark.parametrize("heads,batch", [(4, 1), (4, 2), (1, 2), (32, 3)])
def test_attention_saved_and_macs(heads: int, batch: int) -> None:
    """Multi-head attention over 50 tokens of width 32: PyTorch's saved storages and FlopCounterMode
    (matmuls only: 3 × (4·L·D² + 2·L²·D) per image) against the closed form and costcalc."""
    torch = _torch()
    from costcalc.layers.transformer import Attention
    from costcalc.torch_build import to_torch

    L, D = 50, 32
    layer, x = Attention(heads=heads), Shape(L, 1, D)
    rows = inside(layer, x, batch=batch)
    assert sum(r.saved_bytes for r in rows) == _attention_saved(L, D, heads, batch)
    assert sum(r.train_macs for r in rows) == 3 * batch * (4 * L * D * D + 2 * L * L * D)
    with torch.device("meta"):
        model = to_torch(layer, x).train()
    xs = torch.zeros(batch, D, L, 1, device="meta", requires_grad=True)
    assert _saved_bytes(model, xs) == _attention_saved(L, D, heads, batch)
    assert _flop_counter(model, xs) == 2 * 3 * batch * (4 * L * D * D + 2 * L * L * D)


def test_attention_batch_one_views_per_row() -> None:
    """At batch 1 Q·Kᵀ saves the packed QKV (a view) and ·V nothing new; at batch 8 copies. The
    per-image formulas follow the batch asked for."""
    rows1 = {r.path.split(".")[-1]: r for r in inside(_attention(), Shape(50, 1, 32), batch=1)}
    rows8 = {r.path.split(".")[-1]: r for r in inside(_attention(), Shape(50, 1, 32), batch=8)}
    assert (rows1["scores"].saved_bytes, rows1["context"].saved_bytes) == (4 * 3 * 50 * 32, 0)
    assert (rows8["scores"].saved_bytes, rows8["context"].saved_bytes) == (4 * 8 * 2 * 50 * 32, 4 * 8 * 50 * 32)
    H, W, N, h = (symbol(s) for s in ("H", "W", "N", "heads"))
    for b, scores in ((1, 3), (8, 2)):
        lt = train_layer(analyze_layer("attention", {"heads": 4}), batch=b)
        f = lt.formula  # per image; the total is the same either way (3·L·D = 2·L·D + L·D)
        assert f.saved_bytes == 4 * (5 * H * W * N + h * (H * W) ** 2), b
        (sc,) = [r for r in train_layer_formula_rows("attention", b) if r.path.endswith("scores")]
        assert sc.saved_bytes == 4 * scores * H * W * N


def _attention() -> Any:
    from costcalc.layers.transformer import Attention

    return Attention(heads=4)


def train_layer_formula_rows(name: str, batch: int) -> list[Any]:
    """The formula-world leaf rows of ``layer --mode train`` (per image, views as at ``batch``)."""
    report = analyze_layer(name, {"heads": 4})
    steps = layer_steps(report.formula_layer, tuple(report.formula_inputs), name)
    return train_steps(steps, 1, 4, {-1 - i: (s, True) for i, s in enumerate(report.formula_inputs)},
                       views_batch=batch)


HEAD = """\
name: head
input: [8, 8, 3]
layers:
  - {type: conv, M: 16, K: 3}
  - {type: tokens}
  - {type: layernorm}
  - {type: select_token}
  - {type: fc, M: 10}
"""


@pytest.mark.parametrize("batch", [1, 3])
def test_select_token_keeps_every_token_alive(batch: int) -> None:
    """``x[:, 0]`` is a view: the head saving the class token keeps the LayerNorm's whole output
    (64 tokens × 16) alive. Per row against PyTorch, and written out."""
    _torch()
    from costcalc.torch_build import verify_training

    v = verify_training(spec_of(HEAD), batch=batch)
    assert v.ok, [c.problems for c in v.mismatches] + v.total_problems
    fc = v.result.leaves[-1]
    assert fc.saved_bytes == 4 * batch * 64 * 16
    # conv: its input; tokens: nothing (a view); layernorm: its input (the conv's output) + 2 statistics
    # per token; the fc: the layernorm's output, whole
    assert v.result.totals.saved_bytes == 4 * batch * (8 * 8 * 3 + 64 * 16 + 2 * 64 + 64 * 16)


def test_layernorm_statistics_dtype_meta_versus_cpu() -> None:
    """In bfloat16 the CPU kernel keeps LayerNorm's mean and 1/σ in bfloat16, as costcalc states
    (--dtype-bytes 2); the meta device keeps them in float32 (as CUDA does): 2·(2·H·W) bytes more
    per image per LayerNorm. A ConvNeXt block (one LayerNorm over 7×7 positions) at batch 3."""
    torch = _torch()
    from costcalc.layers.modern import ConvNeXtBlock
    from costcalc.torch_build import to_torch

    layer, x = ConvNeXtBlock(), Shape(7, 7, 16)
    ours = sum(r.saved_bytes for r in train_steps(layer_steps(layer, (x,), "b"), 3, 2, {-1: (x, True)}))
    measured = {}
    for dev in ("cpu", "meta"):
        with torch.device(dev):
            model = to_torch(layer, x).train().to(torch.bfloat16)
        xs = torch.zeros(3, 16, 7, 7, device=dev, dtype=torch.bfloat16, requires_grad=True)
        measured[dev] = _saved_bytes(model, xs)
    assert measured["cpu"] == ours
    assert measured["meta"] == ours + 3 * 2 * (2 * 7 * 7)


@pytest.mark.parametrize("name", ["convnext_tiny", "vit_b_16"] + [
    pytest.param(n, marks=pytest.mark.slow) for n in ("regnet_y_400mf", "mobilenet_v3_small", "ghostnet")])
def test_new_examples_train_as_pytorch_per_row(name: str) -> None:
    """Per leaf: training multiply-adds (FlopCounterMode, grouped weight gradients corrected) and
    saved bytes, at batch 1 (views) and 2."""
    _torch()
    from costcalc.torch_build import verify_training

    for batch in (1, 2):
        v = verify_training(example(name), batch=batch, optimizer="adam")
        assert v.ok, [f"{c.path}: {c.problems}" for c in v.mismatches] + v.total_problems
