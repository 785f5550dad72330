"""The spec language as a graph: from on every layer, groups as nodes, branches, relative
references in repeated groups, non-square windows, ceil_mode, adaptive pooling.

Every expected count is written out as closed-form arithmetic in the test (conv MACs =
H'·W'·M·Kh·Kw·N/G, params = Kh·Kw·N/G·M); PyTorch agreement of the same specs is checked at the end.
"""

from __future__ import annotations

import textwrap

import pytest

from costcalc.errors import SpecError
from costcalc.network import evaluate_network
from costcalc.spec import build_spec, parse_yaml


def net(text: str, **sets: str):  # type: ignore[no-untyped-def]
    spec = build_spec(parse_yaml(textwrap.dedent(text), "g.yaml"), "g.yaml", sets or None)
    return spec, evaluate_network(spec)


def error(text: str) -> str:
    with pytest.raises(SpecError) as e:
        net(text)
    return str(e.value)


def row(result, path: str):  # type: ignore[no-untyped-def]
    return next(r for r in result.rows if r.path == path)


# -- the dense block of the bug report: every repetition concatenates its own input -------------

DENSE = """\
    input: [8, 8, 16]
    layers:
      - {type: conv, M: 64, name: stem}
      - name: dense
        repeat: 3
        layers:
          - {type: maxpool, K: 1, name: x}
          - {type: pointwise, M: 128}
          - {type: conv, M: 32}
          - {type: concat, from: x}
    """


def test_repeated_group_references_its_own_repetition() -> None:
    spec, r = net(DENSE)
    stem = 8 * 8 * 64 * 9 * 16
    # repetition k starts with 64 + 32k channels: 1x1 to 128, 3x3 to 32, concat grows by 32
    reps = [8 * 8 * 128 * (64 + 32 * k) + 8 * 8 * 32 * 9 * 128 for k in range(3)]
    assert r.totals.macs == stem + sum(reps)
    assert tuple(r.out_shape) == (8, 8, 64 + 3 * 32)
    for k in range(3):
        g = row(r, f"dense.{k}")
        assert not g.leaf and g.cost.macs == reps[k]
        assert tuple(g.in_shape) == (8, 8, 64 + 32 * k) and tuple(g.out_shape) == (8, 8, 96 + 32 * k)
    # the concat of repetition 2 takes repetition 2's x, not repetition 0's
    assert spec.layers[-1].inputs == ("dense.2.conv1", "dense.2.x")


def test_in_is_the_repetitions_input() -> None:
    _, r = net(DENSE.replace("          - {type: maxpool, K: 1, name: x}\n", "").replace("from: x", "from: in"))
    reps = [8 * 8 * 128 * (64 + 32 * k) + 8 * 8 * 32 * 9 * 128 for k in range(3)]
    assert r.totals.macs == 8 * 8 * 64 * 9 * 16 + sum(reps)


def test_a_name_inside_a_repeated_group_is_ambiguous_from_outside() -> None:
    msg = error(DENSE + "  - {type: concat, from: dense.x}\n")
    assert msg == ("g.yaml:11:20: layer concat1: from: 'dense.x' is ambiguous: dense repeats 3 times; write "
                   "dense.0.x … dense.2.x for one repetition (or, inside dense, x for this repetition's)")


def test_an_index_reaches_one_repetition() -> None:
    _, r = net(DENSE + "  - {type: concat, from: dense.1.x}\n")
    # dense.1.x is repetition 1's input: 96 channels; the network output had 160
    assert tuple(r.out_shape) == (8, 8, 160 + 96)


# -- input, in, /input ---------------------------------------------------------------------------


def test_input_inside_a_group_is_ambiguous() -> None:
    text = """\
        input: [8, 8, 4]
        layers:
          - {type: pointwise, M: 4}
          - name: g
            layers:
              - {type: pointwise, M: 4}
              - {type: add, from: input}
        """
    assert error(text) == ("g.yaml:7:21: layer g.add1: from: inside group g, 'input' is ambiguous: write 'in' "
                           "for this group's input or '/input' for the network's input")
    spec, _ = net(text.replace("from: input", "from: /input"))
    assert spec.layers[-1].inputs == ("g.pointwise1", "input")
    spec, _ = net(text.replace("from: input", "from: in"))
    assert spec.layers[-1].inputs == ("g.pointwise1", "pointwise1")


def test_from_on_any_layer_and_group() -> None:
    spec, r = net("""\
        input: [16, 16, 3]
        layers:
          - {type: conv, name: a, M: 8, S: 2}
          - {type: conv, name: b, M: 16}
          - {type: pointwise, name: c, from: a, M: 4}
          - name: g
            from: b
            layers: [{type: pointwise, M: 2}]
          - {type: concat, inputs: [a, c, g]}
        """)
    assert [nl.inputs for nl in spec.layers] == [("input",), ("a",), ("a",), ("b",), ("a", "c", "g.pointwise1")]
    a = 8 * 8 * 8 * 9 * 3
    b = 8 * 8 * 16 * 9 * 8
    c = 8 * 8 * 4 * 8
    g = 8 * 8 * 2 * 16
    assert r.totals.macs == a + b + c + g
    assert tuple(r.out_shape) == (8, 8, 8 + 4 + 2)
    assert tuple(row(r, "g").in_shape) == (8, 8, 16)


def test_later_and_unknown_names() -> None:
    assert error("""\
        input: [8, 8, 4]
        layers:
          - {type: pointwise, M: 4, from: later}
          - {type: pointwise, M: 4, name: later}
        """) == ("g.yaml:3:29: layer pointwise1: from: 'later' comes later (line 4); a layer can only take the "
                 "output of an earlier one")
    assert "no earlier layer or group 'nope'" in error("""\
        input: [8, 8, 4]
        layers:
          - {type: pointwise, M: 4, from: nope}
        """)


def test_a_layer_cannot_be_named_in() -> None:
    assert "name 'in' is reserved" in error("input: [8, 8, 4]\nlayers:\n  - {type: relu, name: in}\n")


# -- branches -------------------------------------------------------------------------------------

FIRE = """\
    input: [16, 16, 96]
    layers:
      - name: fire
        repeat: 2
        layers:
          - {type: pointwise, name: squeeze, M: 16, bias: true, act: relu}
          - name: expand
            branches:
              - [{type: pointwise, M: 64, bias: true, act: relu}]
              - [{type: conv, M: 64, bias: true, act: relu}]
            join: concat
    """


def test_fire_module_branches() -> None:
    spec, r = net(FIRE)
    n0, n1 = 96, 128  # the second module takes the first's 64 + 64 channels
    def fire(n: int) -> tuple[int, int]:
        macs = 16 * 16 * (16 * n + 64 * 16 + 64 * 9 * 16)
        params = (16 * n + 16) + (64 * 16 + 64) + (64 * 9 * 16 + 64)
        return macs, params
    assert r.totals.macs == fire(n0)[0] + fire(n1)[0]
    assert r.totals.params == fire(n0)[1] + fire(n1)[1]
    assert tuple(r.out_shape) == (16, 16, 128)
    # both branches start from the squeeze output, and the join takes both
    join = next(nl for nl in spec.layers if nl.path == "fire.0.expand.join")
    assert join.inputs == ("fire.0.expand.branch1.pointwise1", "fire.0.expand.branch2.conv1")
    b2 = row(r, "fire.1.expand.branch2")
    assert tuple(b2.in_shape) == (16, 16, 16) and b2.cost.macs == 16 * 16 * 64 * 9 * 16


def test_identity_branch_and_add_join_is_a_residual() -> None:
    _, r = net("""\
        input: [8, 8, 32]
        layers:
          - branches:
              - [{type: pointwise, M: 32}, {type: conv, M: 32}]
              - []
            join: add
        """)
    assert r.totals.macs == 8 * 8 * 32 * 32 + 8 * 8 * 32 * 9 * 32
    assert r.totals.elementwise == 8 * 8 * 32  # the add


def test_squeeze_and_excitation_as_branches() -> None:
    _, r = net("""\
        input: [14, 14, 64]
        layers:
          - name: se
            branches:
              - - {type: global_avgpool}
                - {type: pointwise, M: 16, bias: true, act: relu}
                - {type: pointwise, M: 64, bias: true, act: sigmoid}
              - []
            join: mul
        """)
    assert r.totals.macs == 64 * 16 + 16 * 64
    assert r.totals.params == (64 * 16 + 16) + (16 * 64 + 64)
    assert tuple(r.out_shape) == (14, 14, 64)
    # pool sums 14·14·64, biases 16 + 64, sigmoid 3 per element of 64, the gate multiply 14·14·64
    assert r.totals.elementwise == 14 * 14 * 64 + 16 + 64 + 3 * 64 + 14 * 14 * 64


def test_branches_first_applies_to_each_branch() -> None:
    _, r = net("""\
        input: [16, 16, 8]
        layers:
          - name: down
            first: {S: 2}
            branches:
              - [{type: conv, M: 8}]
              - [{type: pointwise, M: 8}]
            join: add
        """)
    assert tuple(r.out_shape) == (8, 8, 8)
    assert r.totals.macs == 8 * 8 * 8 * 9 * 8 + 8 * 8 * 8 * 8


@pytest.mark.parametrize("join, why", [("add", "add needs equal shapes (H differs)"),
                                        ("concat", "concat needs equal H")])
def test_branches_that_cannot_be_joined(join: str, why: str) -> None:
    msg = error(f"""\
        input: [16, 16, 8]
        layers:
          - branches:
              - [{{type: conv, M: 8, S: 2}}]
              - [{{type: pointwise, M: 8}}]
            join: {join}
        """)
    assert msg.startswith("g.yaml:3:5: layer branches1.join: input=") and msg.endswith(why)


# -- windows --------------------------------------------------------------------------------------


def test_inception_factorised_convs_and_symbolic_resolution() -> None:
    text = """\
        vars: {resolution: 17}
        input: [resolution, resolution, 64]
        layers:
          - {type: conv, M: 32, K: [1, 7]}
          - {type: conv, M: 32, K: [7, 1]}
          - {type: maxpool, K: 3, S: 2, ceil_mode: true}
        """
    _, r = net(text)
    assert r.totals.macs == 17 * 17 * 32 * 7 * 64 + 17 * 17 * 32 * 7 * 32
    assert tuple(r.out_shape) == (8, 8, 32)  # ceil((17 - 3)/2) + 1 = 8
    _, s = net(text, resolution="R")
    import sympy

    R = sympy.Symbol("R", positive=True)
    assert sympy.expand(s.totals.macs - R**2 * 32 * 7 * (64 + 32)) == 0


def test_adaptive_pool_keeps_the_classifier_fixed() -> None:
    text = """\
        vars: {resolution: 224}
        input: [resolution, resolution, 8]
        layers:
          - {type: maxpool, K: 2}
          - {type: adaptive_avgpool, out: 7}
          - {type: fc, M: 10}
        """
    for res in (224, 256, 320):
        _, r = net(text, resolution=str(res))
        assert r.totals.macs == 7 * 7 * 8 * 10


# -- PyTorch: the same graphs built as modules agree row by row -------------------------------------


@pytest.mark.parametrize("text", [DENSE, FIRE], ids=["dense", "fire"])
def test_graphs_agree_with_pytorch(text: str) -> None:
    pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[torch]')")
    from costcalc.torch_build import verify_network

    spec, _ = net(text)
    v = verify_network(spec)
    assert v.ok, [f"{c.path}: {c.problems}" for c in v.mismatches] + v.total_problems


def test_symbolic_sizes_are_exact_where_the_strides_divide() -> None:
    """A 3×3/2 conv without padding gives floor((R − 3)/2) + 1 = R/2 − 1 for even R; a 3×3/2
    ceil_mode pool on that gives ceil((R′ − 3)/2) + 1 = R′/2 for even R′. So the closed form holds
    for R ≡ 2 (mod 4), and must equal the numeric walk at every such R."""
    import sympy

    text = """\
        vars: {resolution: 18}
        input: [resolution, resolution, 3]
        layers:
          - {type: conv, M: 8, S: 2, P: 0}
          - {type: maxpool, K: 3, S: 2, ceil_mode: true}
          - {type: conv, M: 16}
        """
    _, s = net(text, resolution="R")
    R = sympy.Symbol("R", positive=True)
    r1 = R / 2 - 1
    r2 = r1 / 2
    assert sympy.expand(s.totals.macs - (r1**2 * 8 * 9 * 3 + r2**2 * 16 * 9 * 8)) == 0
    for res in range(10, 90, 4):
        _, r = net(text, resolution=str(res))
        assert r.totals.macs == s.totals.macs.subs(R, res), res
