"""Bad input: every case in ``tests/bad_inputs/`` (plus command-line cases) gives its exact one-line
message and exit status, and hostile input is refused quickly, in bounded memory, without running
anything from it.

Exit statuses (README "Exit statuses"): 0 success, 1 analysis error (bad spec contents),
2 usage error (bad options or arguments, including ``--set``), 3 internal error (a bug: never
for any input here).

The table below pairs each spec file with the message it must produce. Messages name the file,
``line:column`` (where YAML gives one), the layer path and the value. To add a case: add a small
file to ``tests/bad_inputs/`` and a row here (the test fails for a file without a row).
"""

from __future__ import annotations

import json
import os
import re
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

import costcalc.spec.yamlio
from costcalc.cli import main
from costcalc.spec import MAX_FILE_BYTES

BAD = Path(__file__).parent / "bad_inputs"
PWNED = Path("/tmp/costcalc_pwned")  # named in the inject_*.yaml files


def run(*args: str) -> tuple[int, str]:
    """Run ``costcalc ARGS``; return the exit status and everything printed (stdout and stderr)."""
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # an escaped exception is a bug: show it
    return result.exit_code, result.output


def one_line_error(output: str) -> str:
    """The message of a one-line ``Error: ...`` output (asserting that it is one)."""
    assert "Traceback" not in output
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: "), output
    return lines[0][len("Error: "):]


@pytest.fixture(autouse=True)
def _in_corpus_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)  # messages name files as given on the command line: "name.yaml"


# ----------------------------------------------------------------------------------------------
# The corpus: tests/bad_inputs/<case>.yaml -> (exit status, exact message after "Error: ")

SPEC_CASES = [
    ('graph_branch_layer_mapping', 1, "graph_branch_layer_mapping.yaml:5:9: group module.branch1: a branch is a "
     "list of layers; write this layer in brackets, [{type: ...}], or give the branch as {name: ..., layers: [...]}"),
    ('graph_self_reference', 1, "graph_self_reference.yaml:4:26: layer b: inputs: 'b' is this item itself; a layer "
     "cannot take its own output"),
    ('add_channel_mismatch', 1, 'add_channel_mismatch.yaml:5:5: layer add1: input=(8, 8, 16) + (8, 8, 8): add needs equal shapes (channels differs)'),
    ('add_spatial_mismatch', 1, 'add_spatial_mismatch.yaml:5:5: layer add1: input=(4, 4, 8) + (8, 8, 8): add needs equal shapes (H differs)'),
    ('add_without_from', 1, "add_without_from.yaml:4:5: layer add1: add needs 'from: <earlier layer>' (or 'in', '/input', or 'inputs: [...]') to merge with"),
    ('attention_heads_not_dividing', 1, 'attention_heads_not_dividing.yaml:3:5: layer attention1: heads=5: heads must divide the width N=12'),
    ('bomb_billion_laughs', 1, 'bomb_billion_laughs.yaml:2:8: YAML aliases (*name) are not supported in specs'),
    ('bomb_literal', 1, "bomb_literal.yaml:3:18: layer conv1: M: number too large in '1e100000000' (limit 256 bits)"),
    ('bomb_power', 1, "bomb_power.yaml:3:18: layer conv1: M: exponent too large in '9**9**9' (limit 64)"),
    ('bomb_power_repeat', 1, "bomb_power_repeat.yaml:3:18: layer layers[0]: repeat: exponent too large in '10**10**10' (limit 64)"),
    ('bomb_repeat_product', 1, 'bomb_repeat_product.yaml:3:18: layer layers[0]: repeat 1,000,000,000 exceeds the limit 100,000'),
    ('bomb_shift', 1, "bomb_shift.yaml:3:18: layer conv1: M: '1<<10**9' is not allowed: shift operator '<<'"),
    ('bool_bias_number', 1, 'bool_bias_number.yaml:3:18: layer conv1: bias must be true or false, got 1'),
    ('bool_bn_string', 1, "bool_bn_string.yaml:3:18: layer conv1: bn must be true or false, got 'yes please'"),
    ('mul_channels', 1, 'mul_channels.yaml:7:5: layer mul1: input=(1, 1, 16) × (8, 8, 8): mul needs equal channels'),
    ('mul_spatial', 1, 'mul_spatial.yaml:6:5: layer mul1: input=(4, 4, 16) × (8, 8, 16): mul needs a 1×1×C gate or equal shapes (H differs)'),
    ('concat_spatial_mismatch', 1, 'concat_spatial_mismatch.yaml:5:5: layer concat1: input=(4, 4, 16) ++ (8, 8, 8): concat needs equal H'),
    ('conv_transpose_no_output', 1, 'conv_transpose_no_output.yaml:3:5: layer conv_transpose1: P=3: padding leaves no output: H′ = (2−1)·1 − 2·3 + 1·(3−1) + 0 + 1 = -2'),
    ('conv_transpose_output_padding', 1, 'conv_transpose_output_padding.yaml:3:5: layer conv_transpose1: output_padding=2: must be smaller than the stride S=2 or the dilation D=1'),
    ('convnext_downsample_too_small', 1, 'convnext_downsample_too_small.yaml:3:5: layer convnext_downsample1: conv.K=2: kernel (span 2) is larger than the padded input H=1+2·0'),
    ('defaults_bad_bool', 1, 'defaults_bad_bool.yaml:2:12: layer conv1 (from defaults): bn must be true or false, got 1'),
    ('defaults_list', 1, 'defaults_list.yaml:2:1: defaults must be a mapping of field: value, not a list'),
    ('defaults_unknown', 1, "defaults_unknown.yaml:2:12: defaults.batchnorm: no layer type has a field 'batchnorm'"),
    ('description_number', 1, 'description_number.yaml:1:1: description must be text, not a number'),
    ('dim_bool', 1, 'dim_bool.yaml:3:18: layer conv1: M: expected a number or an expression, got True'),
    ('dim_comparison', 1, "dim_comparison.yaml:3:18: layer conv1: M: expected a number, got '8 > 4'"),
    ('dim_date', 1, 'dim_date.yaml:3:18: layer conv1: M: expected a number or an expression, got datetime.date(2024, 1, 1)'),
    ('dim_fraction', 1, 'dim_fraction.yaml:3:18: layer conv1: M = 2.5 is not an integer (round it with int(), round() or make_divisible())'),
    ('dim_fraction_expr', 1, "dim_fraction_expr.yaml:4:18: layer conv1: M = '10*alpha' = 7.5 is not an integer (round it with int(), round() or make_divisible())"),
    ('dim_huge', 1, 'dim_huge.yaml:3:18: layer conv1: M = 100000000000000000000000 is too large (limit 2**62 - 1)'),
    ('dim_huge_expr', 1, "dim_huge_expr.yaml:3:18: layer conv1: M = '2**62' = 4611686018427387904 is too large (limit 2**62 - 1)"),
    ('dim_negative', 1, 'dim_negative.yaml:3:18: layer conv1: M = -8 must be a positive integer'),
    ('dim_zero', 1, 'dim_zero.yaml:3:18: layer conv1: M = 0 must be a positive integer'),
    ('empty', 1, "empty.yaml: empty spec (expected a mapping with 'input' and 'layers')"),
    ('encoder_heads_not_dividing', 1, 'encoder_heads_not_dividing.yaml:3:5: layer encoder_block1: heads=8: heads must divide the width N=12'),
    ('encoder_without_heads', 1, 'encoder_without_heads.yaml:3:5: layer encoder_block1: heads=missing: encoder_block needs heads (attention heads h, dividing N)'),
    ('expr_division_by_zero', 1, "expr_division_by_zero.yaml:3:18: layer conv1: M: division by zero in '8 // 0'"),
    ('expr_syntax', 1, "expr_syntax.yaml:3:18: layer conv1: M: malformed expression '(8 *': '(' was never closed"),
    ('expr_unknown_function', 1, "expr_unknown_function.yaml:3:18: layer conv1: M: unknown function 'sqrt' in 'sqrt(64)' (allowed: abs, ceil, floor, int, make_divisible, max, min, round)"),
    ('expr_unknown_var', 1, "expr_unknown_var.yaml:4:18: layer conv1: M: unknown name 'alpah' in 'int(32*alpah)' (did you mean 'alpha'?)"),
    ('fc_without_M', 1, 'fc_without_M.yaml:3:5: layer fc1: M=missing: fc needs M (output features)'),
    ('field_from_group_key', 1, "field_from_group_key.yaml:3:26: layers[0]: 'first' sets layer fields; 'type' cannot be set there"),
    ('field_misspelled', 1, "field_misspelled.yaml:3:31: layer bottleneck1: unknown field 'stride_of' for bottleneck (did you mean 'stride_on'?); fields: M, B, K, S, stride_on, shortcut"),
    ('field_null', 1, 'field_null.yaml:3:18: layer conv1: K is null; give a value or leave the field out (default 3)'),
    ('field_unknown', 1, "field_unknown.yaml:3:24: layer conv1: unknown field 'kernel' for conv; fields: M, K, S, P, D, G, bias, bn, act"),
    ('field_wrong_case', 1, "field_wrong_case.yaml:3:18: layer conv1: unknown field 'm' for conv (did you mean 'M'?); fields: M, K, S, P, D, G, bias, bn, act"),
    ('first_scalar', 1, "first_scalar.yaml:3:29: layers[0]: 'first' must be a mapping of fields, got 2"),
    ('first_unknown_field', 1, "first_unknown_field.yaml:4:13: layer stage.relu1: unknown field 'S' for relu; fields: none"),
    ('from_later_layer', 1, "from_later_layer.yaml:3:17: layer add1: from: 'b' comes later (line 4); a layer can only take the output of an earlier one"),
    ('from_mapping', 1, "from_mapping.yaml:3:17: layer add1: 'from' must name an earlier layer or list earlier layers, got {'a': 1}"),
    ('from_misspelled', 1, "from_misspelled.yaml:4:17: layer add1: from: no earlier layer or group 'stme' (did you mean 'stem'?)"),
    ('from_list_on_conv', 1, "from_list_on_conv.yaml:3:18: layer conv1: 'from' must name one earlier tensor, got ['input', 'input'] (only merge layers take a list)"),
    ('graph_ambiguous_repeat', 1, "graph_ambiguous_repeat.yaml:8:17: layer add1: from: 'dense.x' is ambiguous: dense repeats 3 times; write dense.0.x … dense.2.x for one repetition (or, inside dense, x for this repetition's)"),
    ('graph_branch_not_list', 1, "graph_branch_not_list.yaml:4:5: group module.branch2: a branch must be a list of layers ([] for the identity), got 'conv'"),
    ('graph_branches_add_mismatch', 1, 'graph_branches_add_mismatch.yaml:3:5: layer module.join: input=(8, 8, 16) + (4, 4, 16): add needs equal shapes (H differs)'),
    ('graph_branches_unjoinable', 1, 'graph_branches_unjoinable.yaml:3:5: layer module.join: input=(8, 8, 16) ++ (4, 4, 16): concat needs equal H'),
    ('graph_forward_ref', 1, "graph_forward_ref.yaml:6:28: layer block.conv1: from: 'head' comes later (line 7); a layer can only take the output of an earlier one"),
    ('graph_from_and_inputs', 1, "graph_from_and_inputs.yaml:5:29: layer concat1: give either 'inputs' (every input) or 'from' (the inputs joined with the previous output), not both"),
    ('graph_input_in_group', 1, "graph_input_in_group.yaml:7:21: layer block.add1: from: inside group block, 'input' is ambiguous: write 'in' for this group's input or '/input' for the network's input"),
    ('graph_inputs_on_conv', 1, "graph_inputs_on_conv.yaml:4:25: layer conv1: 'inputs' lists the tensors a merge layer (add, concat, mul) joins; conv takes one input: use 'from'"),
    ('graph_join_unknown', 1, "graph_join_unknown.yaml:7:5: group module: join must be one of concat, add, mul, got 'max'"),
    ('graph_kernel_three', 1, 'graph_kernel_three.yaml:3:25: layer conv1: K must be one number or [height, width], got [1, 2, 3]'),
    ('graph_mul_bad', 1, 'graph_mul_bad.yaml:3:5: layer se.join: input=(8, 8, 16) × (1, 1, 8): mul needs equal channels'),
    ('graph_prev_first', 1, "graph_prev_first.yaml:7:21: layer stage.0.add1: from: 'prev.a': there is no 'prev' reference; in a repeated group, 'in' is this repetition's input, which is the previous repetition's output"),
    ('graph_reserved_name', 1, "graph_reserved_name.yaml:3:18: name 'in' is reserved for references (in: this group's input, input: the network's); choose another"),
    ('graph_unknown_name', 1, "graph_unknown_name.yaml:7:21: layer block.add1: from: no earlier layer or group 'stme' in block (did you mean 'stem'?)"),
    ('ghost_bottleneck_without_E', 1, "ghost_bottleneck_without_E.yaml:4:5: layer ghost_bottleneck1: E=missing: ghost_bottleneck needs E (expanded (hidden) channels, the first Ghost module's output)"),
    ('ghost_ratio_one', 1, 'ghost_ratio_one.yaml:4:5: layer ghost1: s=1: the ratio must be at least 2 (s = 1 leaves no channels for the cheap operation: that is a plain conv)'),
    ('group_empty', 1, 'group_empty.yaml:3:19: group stage: layers must be a non-empty list, got []'),
    ('group_unknown_key', 1, "group_unknown_key.yaml:4:5: group stage: unknown key 'M'; a group has name, repeat, first, from and layers (layer fields belong to its layers)"),
    ('groupnorm_not_dividing', 1, 'groupnorm_not_dividing.yaml:3:5: layer groupnorm1: G=5: groups must divide the channels N=12'),
    ('groups_not_dividing_input', 1, 'groups_not_dividing_input.yaml:3:5: layer conv1: G=4: groups must divide the input channels N=6'),
    ('groups_not_dividing_output', 1, 'groups_not_dividing_output.yaml:3:5: layer conv1: G=4: groups must divide the output channels M=6'),
    ('inject_attribute', 1, "inject_attribute.yaml:3:18: layer conv1: M: '(8).__class__.__bases__' is not allowed: attribute access"),
    ('inject_comprehension', 1, "inject_comprehension.yaml:3:18: layer conv1: M: 'sum(x for x in (1, 2))' is not allowed: comprehension"),
    ('inject_dunder', 1, "inject_dunder.yaml:1:8: vars.a: '__builtins__' is not allowed: dunder name '__builtins__'"),
    ('inject_import', 1, "inject_import.yaml:3:18: layer conv1: M: '__import__('os').system('touch /tmp/costcalc_pwned')' is not allowed: attribute access"),
    ('inject_lambda', 1, "inject_lambda.yaml:3:18: layer conv1: M: '(lambda: 8)()' is not allowed: lambda"),
    ('inject_repeat', 1, "inject_repeat.yaml:3:18: layer layers[0]: repeat: '__import__('os').system('touch /tmp/costcalc_pwned')' is not allowed: attribute access"),
    ('input_negative', 1, 'input_negative.yaml:1:1: input[1] = -8 must be a positive integer'),
    ('input_scalar', 1, 'input_scalar.yaml:1:1: input must be a list [H, W, C], got 224'),
    ('input_string', 1, "input_string.yaml:1:1: input[2]: unknown name 'three' in 'three' (no names are defined)"),
    ('input_two', 1, 'input_two.yaml:1:1: input must be a list [H, W, C], got [8, 8]'),
    ('item_no_type', 1, "item_no_type.yaml:3:5: layers[0] has no 'type' (a layer), no 'layers' (a group) and no 'branches'"),
    ('item_string', 1, "item_string.yaml:3:3: layers[0] must be a mapping like {type: conv, M: 64}, got 'conv'"),
    ('item_type_and_layers', 1, "item_type_and_layers.yaml:3:5: layers[0] has both 'type' (a layer) and 'layers' (a group); an item is one of a layer, a group or a set of branches"),
    ('kernel_too_large', 1, 'kernel_too_large.yaml:3:5: layer conv1: K=7: kernel (span 7) is larger than the padded input H=4+2·0'),
    ('layers_empty', 1, 'layers_empty.yaml:2:1: layers must be a non-empty list, got []'),
    ('layers_mapping', 1, "layers_mapping.yaml:2:1: layers must be a non-empty list, got {'type': 'conv'}"),
    ('mbconv_T_contradicts_E', 1, 'mbconv_T_contradicts_E.yaml:4:5: layer mbconv1: E=100: contradicts T=6, which gives N·T = 96 expanded channels from N=16; give one of T and E'),
    ('mbconv_se_base_unknown', 1, "mbconv_se_base_unknown.yaml:4:37: layer mbconv1: se_base='output' is not one of input, expanded"),
    ('mbconv_se_rounds_to_zero', 1, 'mbconv_se_rounds_to_zero.yaml:4:5: layer mbconv1: se.R=4: squeeze width 2//4 = 0 channels: the reduction is larger than the 2 channels it divides'),
    ('missing_input', 1, "missing_input.yaml:1:1: missing top-level key 'input'"),
    ('missing_layers', 1, "missing_layers.yaml:1:1: missing top-level key 'layers'"),
    ('mlp_act_unknown', 1, "mlp_act_unknown.yaml:3:17: layer mlp1: act='swish' is not one of relu, relu6, hardsigmoid, hardswish, sigmoid, silu, gelu, tanh (did you mean 'hardswish'?)"),
    ('name_bool', 1, 'name_bool.yaml:3:18: name must be a word without dots, got True'),
    ('name_dotted', 1, "name_dotted.yaml:3:18: name must be a word without dots, got 'a.b'"),
    ('name_duplicate', 1, "name_duplicate.yaml:5:18: duplicate layer name 'c' in layers"),
    ('name_list', 1, 'name_list.yaml:1:1: name must be text, not a list'),
    ('non_utf8', 1, 'non_utf8.yaml:1:10: not valid UTF-8 (byte 0xe9 at offset 9)'),
    ('only_comment', 1, "only_comment.yaml: empty spec (expected a mapping with 'input' and 'layers')"),
    ('padding_negative', 1, 'padding_negative.yaml:3:18: layer conv1: P = -1 must be a non-negative integer'),
    ('patch_larger_than_input', 1, 'patch_larger_than_input.yaml:3:5: layer patch_embed1: proj.K=16: kernel (span 16) is larger than the padded input H=8+2·0'),
    ('pool_too_large', 1, 'pool_too_large.yaml:3:5: layer maxpool1: K=5: window is larger than the padded input H=4+2·0'),
    ('regnet_group_width', 1, 'regnet_group_width.yaml:3:5: layer regnet_x1: g=16: group width must divide the bottleneck width B=24'),
    ('regnet_se_zero_channels', 1, 'regnet_se_zero_channels.yaml:3:5: layer regnet_y1: R=4: squeeze width round(N/R) = round(2/4) is 0 channels'),
    ('regnet_without_g', 1, 'regnet_without_g.yaml:3:5: layer regnet_x1: g=missing: regnet_x needs g (group width: channels per group of the 3×3, dividing B)'),
    ('regnet_x_se_field', 1, "regnet_x_se_field.yaml:3:35: layer regnet_x1: unknown field 'R' for regnet_x; fields: M, g, B, S"),
    ('repeat_bool', 1, 'repeat_bool.yaml:3:18: layer layers[0]: repeat: expected a number or an expression, got True'),
    ('repeat_fraction', 1, 'repeat_fraction.yaml:3:18: layer layers[0]: repeat must be a positive integer, got 2.5'),
    ('repeat_huge', 1, 'repeat_huge.yaml:3:18: layer layers[0]: repeat 1,000,000,000 exceeds the limit 100,000'),
    ('repeat_list', 1, 'repeat_list.yaml:3:18: layer layers[0]: repeat: expected a number or an expression, got [2]'),
    ('repeat_negative', 1, 'repeat_negative.yaml:3:18: layer layers[0]: repeat must be a positive integer, got -3'),
    ('repeat_nested_too_many', 1, 'repeat_nested_too_many.yaml:6:9: more than 100,000 layers after repeats'),
    ('repeat_string', 1, "repeat_string.yaml:3:18: layer layers[0]: repeat: unknown name 'many' in 'many' (no names are defined)"),
    ('repeat_zero', 1, 'repeat_zero.yaml:3:18: layer layers[0]: repeat must be a positive integer, got 0'),
    ('repvgg_form_unknown', 1, "repvgg_form_unknown.yaml:3:20: layer repvgg1: form='infer' is not one of train, deploy"),
    ('se_B_contradicts_R', 1, 'se_B_contradicts_R.yaml:4:5: layer se1: B=8: contradicts R=4, which gives 16 squeeze channels from 64; give one of B and R'),
    ('se_gate_unknown', 1, "se_gate_unknown.yaml:4:16: layer se1: gate='relu' is not one of sigmoid, hardsigmoid"),
    ('se_ratio_zero', 1, 'se_ratio_zero.yaml:4:5: layer se1: R=32: squeeze width 16//32 = 0 channels: the reduction is larger than the 16 channels it divides'),
    ('shuffle_without_G', 1, 'shuffle_without_G.yaml:3:5: layer channel_shuffle1: G=missing: channel_shuffle needs G (groups)'),
    ('str_act_number', 1, 'str_act_number.yaml:3:18: layer conv1: act must be text, got 6'),
    ('str_act_unknown', 1, "str_act_unknown.yaml:3:18: layer conv1: act=rleu: unknown activation (did you mean 'relu', 'relu6'?); known: relu, relu6, hardsigmoid, hardswish, sigmoid, silu, gelu, tanh"),
    ('str_stride_on_choice', 1, "str_stride_on_choice.yaml:3:31: layer bottleneck1: stride_on='5x5' is not one of 1x1, 3x3"),
    ('str_stride_on_number', 1, 'str_stride_on_number.yaml:3:31: layer bottleneck1: stride_on must be text, got 3'),
    ('stride_collapse', 1, 'stride_collapse.yaml:3:5: layer conv2: K=3: kernel (span 3) is larger than the padded input H=1+2·0'),
    ('stride_collapse_pool', 1, 'stride_collapse_pool.yaml:3:5: layer maxpool3: K=2: window is larger than the padded input H=1+2·0'),
    ('top_list', 1, "top_list.yaml:1:1: the top level must be a mapping with 'input' and 'layers', not a list"),
    ('top_scalar', 1, "top_scalar.yaml:1: the top level must be a mapping with 'input' and 'layers', not a string"),
    ('type_number', 1, 'type_number.yaml:3:6: layer layers[0]: type must be a name, got 3'),
    ('type_unknown', 1, "type_unknown.yaml:3:6: layer layers[0]: unknown layer type 'cnov' (did you mean 'conv', 'mbconv'?)"),
    ('type_unknown_far', 1, "type_unknown_far.yaml:3:6: layer layers[0]: unknown layer type 'transformer' (`costcalc types` "
     "lists the known types)"),
    ('unknown_top_key', 1, "unknown_top_key.yaml:2:1: unknown top-level key 'layer' (did you mean 'layers'?); known: name, description, vars, input, defaults, layers"),
    ('upsample_mode_unknown', 1, "upsample_mode_unknown.yaml:3:22: layer upsample1: mode='bicubic' is not one of nearest, bilinear"),
    ('upsample_nearest_align_corners', 1, 'upsample_nearest_align_corners.yaml:3:5: layer upsample1: align_corners=True: applies to mode bilinear only (PyTorch refuses it with nearest)'),
    ('vars_bad_name', 1, "vars_bad_name.yaml:1:8: vars: '__class__' is not a usable variable name"),
    ('vars_choice_key', 1, "vars_choice_key.yaml:1:24: vars.g: unknown key 'choice' (did you mean 'choices'?); known: default, choices"),
    ('vars_choice_missing', 1, 'vars_choice_missing.yaml:1:12: vars.g: g=5 is not one of 1, 2, 4'),
    ('vars_i', 1, "vars_i.yaml:1:8: vars: 'i' is not a usable variable name ('i' is the repeat index)"),
    ('vars_list', 1, 'vars_list.yaml:1:1: vars must be a mapping of names to values, not a list'),
    ('vars_value_list', 1, 'vars_value_list.yaml:1:8: vars.alpha: expected a number or an expression, got [1]'),
    ('yaml_alias', 1, 'yaml_alias.yaml:2:9: YAML aliases (*name) are not supported in specs'),
    ('yaml_duplicate_key', 1, "yaml_duplicate_key.yaml:2:1: duplicate key 'input'"),
    ('yaml_merge_key', 1, 'yaml_merge_key.yaml:3:18: YAML merge keys (<<) are not supported in specs'),
    ('yaml_nonstring_key', 1, 'yaml_nonstring_key.yaml:3:18: mapping keys must be names, got 3'),
    ('yaml_python_tag', 1, "yaml_python_tag.yaml:3:12: malformed YAML: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ('yaml_tab', 1, "yaml_tab.yaml:3:1: malformed YAML: found character '\\t' that cannot start any token (YAML does not allow tabs for indentation)"),
    ('yaml_two_documents', 1, 'yaml_two_documents.yaml:4:1: malformed YAML: expected a single document in the stream but found another document'),
    ('yaml_unclosed_brace', 1, "yaml_unclosed_brace.yaml:4:1: malformed YAML: expected ',' or '}', but got '<stream end>'"),
    ('yaml_unclosed_bracket', 1, "yaml_unclosed_bracket.yaml:2:7: malformed YAML: expected ',' or ']', but got ':'"),
]


@pytest.mark.parametrize("case, code, message", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_spec_case(case: str, code: int, message: str) -> None:
    status, output = run("net", f"{case}.yaml")
    assert one_line_error(output) == message
    assert status == code


# Cases whose message is not yet the one it should be: (case, exit status, the message it should
# give, why, the message it gives today). The first is a strict xfail; the last is pinned beside it
# so that any change to it is seen.
def test_every_corpus_file_has_a_row() -> None:
    files = {p.stem for p in BAD.glob("*.yaml")} - {"ok"}
    assert files == {c[0] for c in SPEC_CASES}


def _token_at(text: str, line: int, col: int) -> tuple[str, str, bool]:
    """What the file holds at 1-based ``line:col``: a key or scalar (up to ``:``, ``,``, a bracket or
    a space), else the single punctuation character there ("" at the end of the file); the value
    after it when it is a key (``M: 8`` -> ``("M", "8")``); and whether a list item's mapping starts
    there (``- {type: ...}`` or a block mapping ``- name: ...``)."""
    lines = text.split("\n")
    assert 1 <= line <= len(lines), f"line {line} is outside the file ({len(lines)} lines)"
    before = lines[line - 1]
    assert 1 <= col <= len(before) + 1, f"column {col} is outside line {line} ({before!r})"
    before, rest = before[:col - 1], before[col - 1:]
    word = re.match(r"[^\s:,\[\]{}]+", rest)
    token = word.group(0) if word else rest[:1]
    value = re.match(rf"{re.escape(token)}:\s*([^\s,\]}}]+)", rest) if token else None
    item = token in ("{", "-") or re.fullmatch(r"[\s-]*-\s+", before) is not None
    return token, value.group(1) if value else "", item


def test_messages_name_file_line_and_column() -> None:
    """costcalc's real message for every corpus file names the file, and its line:col point into the
    file at what the message is about: the key or value it names, the mapping of the layer or group
    it names, or the top of the document for a top-level complaint."""
    checked = 0
    for case, _, _ in SPEC_CASES:
        message = one_line_error(run("net", f"{case}.yaml")[1])
        assert message.startswith(f"{case}.yaml:"), message
        where = re.match(rf"{re.escape(case)}\.yaml:(\d+)(?::(\d+))?: ", message)
        if where is None:  # nothing in the file to point at
            assert message.startswith(f"{case}.yaml: empty spec"), message
            continue
        data = (BAD / f"{case}.yaml").read_bytes()
        line, col = int(where.group(1)), int(where.group(2) or 0)
        if where.group(2) is None:  # a bare scalar document: the line only
            assert "the top level must be a mapping" in message and line == 1, message
            continue
        bad_byte = re.search(r"byte 0x([0-9a-f]{2}) at offset (\d+)", message)
        if bad_byte:  # not text: the column counts bytes on the line
            offset = int(bad_byte.group(2))
            assert data[offset] == int(bad_byte.group(1), 16) and data.rfind(b"\n", 0, offset) == offset - col
            continue
        token, value, item = _token_at(data.decode("utf-8"), line, col)
        body = message[where.end():]
        if "malformed YAML" in body:  # PyYAML's own position: it must at least be in the file
            continue
        field = re.match(r"(?:layer|group) [^:]+: (\w+)(?::| =| must| is null)", body)
        if field:  # a field's value is wrong: the position is that field's key, not its layer
            assert token == field.group(1), f"{message}: line {line} col {col} holds {token!r}"
        names = re.findall(r"[\w<*!]+", body)
        ok = (token in names or f"'{token}'" in body or (value and value in names)
              or any(len(n) >= 4 and token.startswith(n) for n in names)  # "branches" for "a branch"
              or (item and re.search(r"\b(layers?|group)\b", body))  # the mapping of the layer named
              or (token[:1] in "*&!<" and f"({token[:1]}" in body)  # YAML syntax the message spells out
              or ((line, col) == (1, 1) and re.search(r"top[- ]level", body)))
        assert ok, f"{message}: line {line} col {col} holds {token!r}, which the message does not name"
        checked += 1
    assert checked >= 80  # every case with a position, bar the few above


def test_the_valid_spec_next_to_the_corpus_runs() -> None:
    status, output = run("net", "ok.yaml", "--format", "json")
    assert status == 0
    assert json.loads(output)["totals"]["macs"] == 8 * 8 * 4 * 3 * 3 * 8  # H·W·N·K²·M


# ----------------------------------------------------------------------------------------------
# Command-line cases: options and files that are wrong before any spec is read

CLI_CASES = [
    # a variable whose choices are names is a closed set: a new name is not a symbol for it
    (("net", "../../examples/efficientnet.yaml", "--set", "variant=b9"), 2,
     "option --set variant=b9: variant is one of b0, b1, b2, b3, b4, b5, b6, b7"),
    (("net", "ok.yaml", "--set", "beta=1"), 2,
     "option --set beta: ok.yaml has no variable 'beta' (variables: alpha, resolution)"),
    (("net", "ok.yaml", "--set", "alpah=1"), 2,
     "option --set alpah: ok.yaml has no variable 'alpah' (did you mean 'alpha'?) (variables: alpha, resolution)"),
    (("net", "ok.yaml", "--set", "alpha"), 2, "option --set 'alpha': expected NAME=VALUE"),
    (("net", "ok.yaml", "--set", "=1"), 2, "option --set: '=1': '' is not a variable name"),
    (("net", "ok.yaml", "--set", "alpha="), 2, "option --set alpha=: empty expression"),
    (("net", "ok.yaml", "--set", "alpha=__import__('os')"), 2,
     "option --set alpha=__import__('os'): '__import__('os')' is not allowed: dunder name '__import__'"),
    (("net", "ok.yaml", "--set", "alpha=(1).real"), 2,
     "option --set alpha=(1).real: '(1).real' is not allowed: attribute access"),
    (("net", "ok.yaml", "--set", "alpha=9**9**9"), 2,
     "option --set alpha=9**9**9: exponent too large in '9**9**9' (limit 64)"),
    (("net", "ok.yaml", "--set", "alpha=1e999"), 2,
     "option --set alpha=1e999: number too large in '1e999' (limit 256 bits)"),
    (("net", "ok.yaml", "--set", "resolution=" + "R" * 40), 2,
     f"option --set resolution={'R' * 40}: symbol names are at most 32 characters"),
    # --set values that are fine as options but make the spec invalid: analysis errors
    (("net", "ok.yaml", "--set", "resolution=0"), 1,
     "ok.yaml:3:1: input[0] = 'resolution' = 0 must be a positive integer"),
    (("net", "ok.yaml", "--set", "alpha=0.1"), 1,
     "ok.yaml:5:18: layer conv1: M = 'int(8*alpha)' = 0 must be a positive integer"),
    # files
    (("net", "missing.yaml"), 1, "missing.yaml: no such file"),
    (("net", "two\nlines.yaml"), 1, "two?lines.yaml: no such file"),  # messages stay on one line
    (("net", "."), 1, ".: is a directory, not a spec file"),
    (("net", "/dev/null"), 1, "/dev/null: not a regular file"),
    # costcalc layer: every error is a usage error
    (("layer", "--type", "cnov"), 2, "unknown layer type 'cnov' (did you mean 'conv', 'mbconv'?)"),
    (("layer", "--type", "conv", "-H", "0"), 2, "option -H: '0' is not a positive integer"),
    (("layer", "--type", "conv", "-H", "2", "-K", "9", "-P", "0"), 2,
     "conv: -K 9: kernel (span 9) is larger than the padded input H=2+2·0"),
    (("layer", "--type", "attention", "-H", "10", "-W", "1", "-N", "12", "--param", "heads=5"), 2,
     "attention: heads 5: heads must divide the width N=12"),
    (("layer", "--type", "conv_transpose", "-H", "8", "-N", "16", "--stride", "2", "--param", "output_padding=3"), 2,
     "conv_transpose: output_padding 3: must be smaller than the stride S=2 or the dilation D=1"),
]


@pytest.mark.parametrize("args, code, message", CLI_CASES, ids=[" ".join(c[0])[:60] for c in CLI_CASES])
def test_cli_case(args: tuple[str, ...], code: int, message: str) -> None:
    status, output = run(*args)
    assert one_line_error(output) == message
    assert status == code


@pytest.mark.parametrize("args", [
    ("net", "ok.yaml", "--format", "nope"),
    ("net",),
    ("net", "ok.yaml", "--depth", "-1"),
    ("net", "ok.yaml", "--bogus"),
    ("nope",),
    ("layer",),
])
def test_click_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    """click's own usage errors: a usage hint, then one ``Error:`` line; exit status 2."""
    status, output = run(*args)
    assert status == 2
    assert "Traceback" not in output
    assert output.strip().splitlines()[-1].startswith("Error: ")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "secret.yaml"
    spec.write_text((BAD / "ok.yaml").read_text())
    spec.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make open() refuse, as it would for a user
        real_open = open

        def refusing_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            if str(path) == str(spec):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(costcalc.spec.yamlio, "open", refusing_open, raising=False)
    status, output = run("net", str(spec))
    assert one_line_error(output) == f"{spec}: permission denied"
    assert status == 1


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    status, output = run("net", str(fifo))
    assert one_line_error(output) == f"{fifo}: not a regular file"
    assert status == 1


def test_endless_device_is_refused() -> None:
    status, output = run("net", "/dev/zero")
    assert one_line_error(output) == "/dev/zero: not a regular file"
    assert status == 1


def test_file_too_large(tmp_path: Path) -> None:
    spec = tmp_path / "big.yaml"
    spec.write_text("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    status, output = run("net", str(spec))
    size = spec.stat().st_size
    assert one_line_error(output) == f"{spec}: file too large ({size:,} bytes, limit {MAX_FILE_BYTES:,})"
    assert status == 1


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["--debug", "net", "dim_zero.yaml"])
    assert result.exception is not None and "must be a positive integer" in str(result.exception)
    monkeypatch.setenv("COSTCALC_DEBUG", "1")
    result = CliRunner().invoke(main, ["net", "dim_zero.yaml"])
    assert result.exception is not None and "must be a positive integer" in str(result.exception)


# ----------------------------------------------------------------------------------------------
# Hostile input: refused before anything runs, in bounded memory. (No timing assertions: each of
# these runs in well under a second; a regression shows up as a slow test, not a flaky one.)

MEMORY_LIMIT = 64 * 2**20  # bytes of Python allocations while refusing one hostile input


def refuse(args: tuple[str, ...]) -> tuple[int, str]:
    """Run and return (status, message), asserting a one-line error in bounded memory."""
    tracemalloc.start()
    try:
        status, output = run(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{peak:,} bytes"
    return status, one_line_error(output)


@pytest.mark.parametrize("case", [c[0] for c in SPEC_CASES if c[0].startswith(("inject_", "bomb_"))])
def test_hostile_corpus_files_run_nothing(case: str) -> None:
    PWNED.unlink(missing_ok=True)
    status, message = refuse(("net", f"{case}.yaml"))
    assert status == 1
    assert not PWNED.exists()
    assert dict((c[0], c[2]) for c in SPEC_CASES)[case] == message


@pytest.mark.parametrize("expression, reason", [
    ("__import__('os').system('touch /tmp/costcalc_pwned')", "attribute access"),
    ("__import__('os')", "dunder name '__import__'"),
    ("().__class__.__base__.__subclasses__()", "attribute access"),
    ("getattr(1, 'real')", "string literal"),
    ("eval('1')", "string literal"),
    ("(lambda: 1)()", "lambda"),
    ("[c for c in (1,)]", "comprehension"),
    ("{1: 2}", "dict"),
    ("(x := 8)", "assignment expression (:=)"),
    ("max(*(8, 9))", "starred argument"),
    ("8 if __debug__ else 9", "dunder name '__debug__'"),
    ("1 << 10**9", "shift operator '<<'"),
])
def test_injection_in_any_value_is_refused(tmp_path: Path, expression: str, reason: str) -> None:
    PWNED.unlink(missing_ok=True)
    for field_line in (f"  - {{type: conv, M: \"{expression}\"}}\n",
                       f"  - {{type: conv, repeat: \"{expression}\"}}\n"):
        spec = tmp_path / "inject.yaml"
        spec.write_text("input: [8, 8, 4]\nlayers:\n" + field_line)
        status, message = refuse(("net", str(spec)))
        assert status == 1 and message.endswith(f"is not allowed: {reason}"), message
        assert not PWNED.exists()


@pytest.mark.parametrize("where", ["M", "repeat", "K", "vars"])
@pytest.mark.parametrize("bomb, expected", [
    ("9**9**9", "exponent too large in '9**9**9' (limit 64)"),
    ("10**10**10", "exponent too large in '10**10**10' (limit 64)"),
    ("2**64**64", "number too large in '2**64**64' (limit 256 bits)"),
    ("(2**64)**64", "number too large in '(2**64)**64' (limit 256 bits)"),
    ("1" + "0" * 400, "number too large in"),
    ("+".join(["9"] * 300), "expression too long (599 characters, limit 500)"),
    ("-" * 400 + "1", "expression too complex"),
])
def test_arithmetic_bombs_are_refused(tmp_path: Path, where: str, bomb: str, expected: str) -> None:
    if where == "vars":
        text = f"vars: {{a: \"{bomb}\"}}\ninput: [8, 8, 4]\nlayers:\n  - {{type: conv}}\n"
    else:
        text = f"input: [8, 8, 4]\nlayers:\n  - {{type: conv, {where}: \"{bomb}\"}}\n"
    spec = tmp_path / "bomb.yaml"
    spec.write_text(text)
    status, message = refuse(("net", str(spec)))
    assert status == 1 and expected in message, message


def test_repeat_beyond_the_limit_is_refused_before_building(tmp_path: Path) -> None:
    spec = tmp_path / "r.yaml"
    spec.write_text("input: [8, 8, 4]\nlayers:\n  - {type: conv, repeat: \"10**9\"}\n")
    status, message = refuse(("net", str(spec)))
    assert status == 1
    assert message == f"{spec}:3:18: layer layers[0]: repeat 1,000,000,000 exceeds the limit 100,000"


def test_layers_after_expansion_are_bounded(tmp_path: Path) -> None:
    """40,000 conv+bn+relu layers pass the spec limit (100,000 layers after repeats) but are
    120,000 leaf layers once expanded: refused by the network walk."""
    spec = tmp_path / "wide.yaml"
    spec.write_text("input: [4, 4, 4]\ndefaults: {bn: true, act: relu}\nlayers:\n"
                    "  - {type: pointwise, repeat: 40000}\n")
    status, output = run("net", str(spec))
    assert status == 1
    assert one_line_error(output) == (f"{spec}:4:5: layer pointwise33334: more than 100,000 layers after "
                                      "repeats and blocks expanded")


def test_billion_laughs_is_refused_at_the_first_alias() -> None:
    status, message = refuse(("net", "bomb_billion_laughs.yaml"))
    assert status == 1
    assert message == "bomb_billion_laughs.yaml:2:8: YAML aliases (*name) are not supported in specs"


@pytest.mark.parametrize("opening, closing, column", [("[", "]", 72), ("{a: ", "}", 258)])
def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path: Path, opening: str, closing: str,
                                                        column: int) -> None:
    """10,000 levels: the loader's guard (64 levels) fires before PyYAML's recursive composer
    could raise RecursionError."""
    spec = tmp_path / "deep.yaml"
    spec.write_text("input: [8, 8, 4]\nlayers: " + opening * 10_000 + "1" + closing * 10_000 + "\n")
    status, message = refuse(("net", str(spec)))
    assert status == 1
    assert message == f"{spec}:2:{column}: YAML nested deeper than 64 levels"


def test_unclosed_deep_nesting(tmp_path: Path) -> None:
    spec = tmp_path / "deep.yaml"
    spec.write_text("input: [8, 8, 4]\nlayers: " + "[" * 10_000 + "\n")
    status, message = refuse(("net", str(spec)))
    assert status == 1
    assert message == f"{spec}:2:72: YAML nested deeper than 64 levels"


def test_deeply_nested_groups_are_refused(tmp_path: Path) -> None:
    """Each group level is two YAML levels (a list and a mapping): 40 groups hit the YAML limit."""
    lines = ["input: [8, 8, 4]", "layers:"]
    for d in range(40):
        lines.append("  " * (d + 1) + "- layers:")
    lines.append("  " * 41 + "- {type: conv}")
    spec = tmp_path / "groups.yaml"
    spec.write_text("\n".join(lines) + "\n")
    status, message = refuse(("net", str(spec)))
    assert status == 1
    assert message == f"{spec}:34:67: YAML nested deeper than 64 levels"


def test_thirty_nested_groups_are_fine(tmp_path: Path) -> None:
    lines = ["input: [8, 8, 4]", "layers:"]
    for d in range(30):
        lines.append("  " * (d + 1) + "- layers:")
    lines.append("  " * 31 + "- {type: conv, M: 8}")
    spec = tmp_path / "groups.yaml"
    spec.write_text("\n".join(lines) + "\n")
    status, output = run("net", str(spec), "--format", "json")
    assert status == 0
    assert json.loads(output)["totals"]["macs"] == 8 * 8 * 4 * 9 * 8


@pytest.mark.parametrize("field", ["M", "name", "type", "act", "stride_on", "from", "description", "key"])
def test_megabyte_strings_give_short_messages(tmp_path: Path, field: str) -> None:
    long = "a" * 1_000_000
    item = {
        "M": f"{{type: conv, M: {long}}}",
        "name": f"{{type: conv, name: {long}}}",
        "type": f"{{type: {long}}}",
        "act": f"{{type: conv, act: {long}}}",
        "stride_on": f"{{type: bottleneck, M: 16, stride_on: {long}}}",
        "from": f"{{type: add, from: {long}}}",
        "description": "{type: conv, M: 4}",
        "key": f"{{type: conv, {long}: 1}}",
    }[field]
    head = f"description: {long}\n" if field == "description" else ""
    spec = tmp_path / "long.yaml"
    spec.write_text(head + "input: [8, 8, 4]\nlayers:\n  - " + item + "\n")
    status, output = run("net", str(spec), "--format", "json")
    if field == "description":  # a long description is fine
        assert status == 0
        return
    message = one_line_error(output)
    assert status == 1
    assert len(message) < 400, message[:400]
