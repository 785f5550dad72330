"""Renderers (costcalc/render/): each defect a reader met, and the one-table-of-data structure.

Expectations are written out here (closed forms, sums of the JSON's own leaves, the papers' widths);
text assertions check how a value reads, not what it is.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from conftest import DOCS, ROOT, cli_json, example, run_cli

from costcalc.metrics import METRICS, NAMES
from costcalc.render import RENDERERS, formats, renderer

# -- --top and --depth, the same in every format --------------------------------------------------


def test_top_orders_formulas_by_value_at_the_defaults() -> None:
    """With alpha symbolic the N most expensive layers are those most expensive at alpha = 1."""
    numeric = cli_json("net", example("mobilenet_v1"))
    by_cost = sorted(numeric["layers"], key=lambda r: -r["macs"])
    expected = [r["path"] for r in by_cost[:5]]
    doc = cli_json("net", example("mobilenet_v1"), "--set", "alpha=a", "--top", "5")
    assert [r["path"] for r in doc["layers"]] == expected
    assert doc["view"]["order"] == "by MACs at alpha=1"
    r = run_cli("net", example("mobilenet_v1"), "--set", "alpha=a", "--top", "5")
    table = r.output.split("by layer type")[0]
    shown = re.findall(r"^│ (\S+)", table, re.M)
    assert shown[:5] == expected
    assert "the 5 most expensive layers by MACs at alpha=1" in r.output


@pytest.mark.parametrize("option", [["--top", "3"], ["--depth", "0"], ["--depth", "1"]])
def test_json_csv_markdown_latex_show_the_rows_the_table_shows(option: list[str]) -> None:
    spec = example("resnet18")
    doc = cli_json("net", spec, *option)
    paths = [r["path"] for r in doc["layers"] + doc["blocks"]]
    rows = list(csv.DictReader(io.StringIO(run_cli("net", spec, *option, "--format", "csv").output)))
    assert sorted(r["path"] for r in rows[:-1]) == sorted(paths)
    md = run_cli("net", spec, *option, "--format", "markdown").output
    assert sorted(re.findall(r"`([^`]+)`", md)) == sorted(paths)
    if option[0] == "--top":
        assert len(paths) == 3 and doc["view"]["rows_shown"] == 3
    else:
        import costcalc

        rows = costcalc.net(spec).rows
        assert sorted(paths) == sorted(r.path for r in rows if r.depth <= int(option[1]))
    assert doc["totals"] == cli_json("net", spec)["totals"]  # the totals never change


# -- titles and headers --------------------------------------------------------------------------


def test_variables_read_as_written() -> None:
    args = ["--set", "alpha=0.75", "--set", "resolution=192"]
    assert run_cli("net", example("mobilenet_v1"), *args).output.startswith("MobileNet v1 (alpha=0.75, resolution=192)")
    assert "alpha=0.75" in run_cli("net", example("mobilenet_v1"), *args, "--format", "markdown").output
    assert "alpha=0.75" in run_cli("net", example("mobilenet_v1"), *args, "--format", "latex").output
    cmp = run_cli("compare", example("mobilenet_v1"), example("mobilenet_v2"), "--set", "alpha=0.35").output
    assert "alpha=0.35" in cmp and "7/20" not in cmp and "3/4" not in cmp


def test_internal_variables_stay_out_of_titles() -> None:
    r = run_cli("net", example("shufflenet_v1"), "--depth", "0")
    assert r.output.startswith("ShuffleNet v1 (alpha=1, groups=3, resolution=224)\n")
    assert "c2=" not in r.output
    assert cli_json("net", example("shufflenet_v1"))["vars"]["c2"] == 240  # still in the machine contract
    assert "c2=" in run_cli("net", example("shufflenet_v1"), "--set", "c2=264").output  # set: shown


def test_share_column_has_a_header_and_symbolic_shares_are_taken_at_the_defaults() -> None:
    r = run_cli("net", example("resnet50"), "--set", "resolution=R", "--depth", "0", "--width", "200")
    header = next(line for line in r.output.splitlines() if line.startswith("┃"))
    assert header.split("┃")[-2].strip() == "share"
    numeric = cli_json("net", example("resnet50"), "--depth", "0")
    conv1 = next(r for r in numeric["layers"] + numeric["blocks"] if r["path"] == "conv1")
    share = f"{100 * conv1['macs'] / numeric['totals']['macs']:.1f}%"
    assert re.search(rf"│ conv1 .*│ +{re.escape(share)} │", r.output)
    assert "% MACs: shares at resolution=224 (the spec's defaults)" in r.output


def test_human_units() -> None:
    r = run_cli("net", example("resnet50"), "--human", "--depth", "0")
    total = re.search(r"│ total .*", r.output).group(0)
    assert "3.86 G" in total and "25.6 M" in total  # 3,857,973,248 and 25,557,032
    assert "3,857,973,248" not in r.output


# -- one name, one meaning; one form everywhere ----------------------------------------------------


def test_output_elements_are_the_blocks_output_and_activations_the_sum() -> None:
    """A stride-1 bottleneck on 56×56×256 outputs 56·56·256 elements; its layers write the outputs
    of 1×1 (64), 3×3 (64), 1×1 (256) convs, their BatchNorms and ReLUs, and the add."""
    doc = cli_json("layer", "--type", "bottleneck", "-H", "56", "-N", "256", "-B", "64")
    hw = 56 * 56
    assert doc["output_elements"] == hw * 256
    assert doc["activations"] == hw * (3 * 64 + 3 * 64 + 2 * 256 + 256 + 256)  # convs+bn+relu ×2, conv+bn, add, relu
    text = run_cli("layer", "--type", "bottleneck", "-H", "56", "-N", "256", "-B", "64").output
    assert re.search(rf"output elements .*{hw * 256:,}", text)
    assert re.search(rf"activation elements .*{doc['activations']:,}", text)
    net = run_cli("net", example("resnet50")).output
    assert "activation elements (the outputs of every layer)" in net
    assert all(m.label in text for m in METRICS if m.name != "bytes")


def test_a_formula_reads_the_same_in_every_format() -> None:
    spec = example("resnet50")
    table = run_cli("net", spec, "--set", "resolution=R", "--depth", "0").output
    doc = cli_json("net", spec, "--set", "resolution=R")
    latex = run_cli("net", spec, "--set", "resolution=R", "--format", "latex", "--depth", "0").output
    md = run_cli("net", spec, "--set", "resolution=R", "--format", "markdown", "--depth", "0").output
    assert doc["totals"]["macs"] == "76848*R**2 + 2048000"  # 2 × 38424·R² + 2,048,000 (the fc)
    assert "76848·R² + 2048000" in table and "76848·R² + 2048000" in md
    assert "76848 R^{2} + 2048000" in latex
    assert "16·(4803" not in table


def test_max_reads_as_max_not_python() -> None:
    text = run_cli("net", example("mobilenet_v1"), "--set", "alpha=a", "--depth", "0", "--width", "200").output
    assert "max(8, 32·a)" in text and "Max(" not in text and "*" not in text


def test_a_name_given_with_set_is_said_to_be_a_symbol() -> None:
    r = run_cli("net", example("mobilenet_v1"), "--set", "alpha=abc", "--depth", "0")
    assert "alpha=abc is a symbol: the counts are formulas in abc" in r.output
    assert cli_json("net", example("mobilenet_v1"), "--set", "alpha=abc")["notes"][-1].startswith("alpha=abc is a symbol")


# -- compare, sweep, types ---------------------------------------------------------------------------


def test_compare_by_type_rows_are_sorted_by_cost() -> None:
    specs = [example("mobilenet_v1"), example("shufflenet_v1"), example("mobilenet_v2")]
    doc = cli_json("compare", *specs)
    sums: dict[str, int] = {}
    for n in doc["networks"]:
        for cat, c in n["by_type"].items():
            sums[cat] = sums.get(cat, 0) + c["macs"]
    expected = [c for c in sorted(sums, key=lambda c: -sums[c]) if sums[c]]
    text = run_cli("compare", *specs, "--width", "200").output
    table = text.split("MACs by layer type")[1].split("params by layer type")[0]
    assert re.findall(r"^│ ([a-z][^│]*?) +│", table, re.M) == expected


def test_sweep_grid_states_the_counting_contract() -> None:
    r = run_cli("sweep", example("mobilenet_v1"), "--set", "alpha=0.5,1", "--set", "resolution=128,224")
    assert "MACs = multiply-adds" in r.output


def test_types_prints_text_not_rest() -> None:
    r = run_cli("types", "conv")
    assert "``" not in r.output and ":class:" not in r.output
    assert "torch.nn.Conv2d" in r.output


def test_derive_metric_choices_and_labels_are_the_metrics_table() -> None:
    from costcalc.commands.derive import derive

    choices = next(p for p in derive.params if p.name == "metric").type.choices  # type: ignore[attr-defined]
    assert tuple(choices) == NAMES
    for m in METRICS:
        assert f"[{m.label}]" in run_cli("derive", "conv()", "--metric", m.name).output


def test_csv_columns_are_the_metrics_by_name() -> None:
    header = run_cli("net", example("resnet18"), "--format", "csv").output.splitlines()[0].split(",")
    assert header[-len(NAMES):] == list(NAMES)
    header = run_cli("compare", example("resnet18"), example("resnet34"), "--format", "csv").output.splitlines()[0]
    assert header.split(",")[3:3 + len(NAMES)] == list(NAMES)


def test_renderer_registry_covers_every_command_format() -> None:
    from costcalc.commands.explore import COMPARE_FORMATS, SWEEP_FORMATS
    from costcalc.commands.layer import FORMATS_LAYER
    from costcalc.commands.net import NET_FORMATS

    for kind, fmts in (("net", NET_FORMATS), ("compare", COMPARE_FORMATS), ("sweep", SWEEP_FORMATS),
                       ("layer", FORMATS_LAYER), ("derivation", ("table", "json", "latex"))):
        assert set(fmts) <= set(formats(kind)), kind
    for kind, fmt in RENDERERS:
        assert callable(renderer(kind, fmt))


def test_no_command_imports_private_helpers_of_the_cli() -> None:
    for path in (ROOT / "costcalc" / "commands").glob("*.py"):
        imports = re.findall(r"^\s*(?:from|import) costcalc\.cli\b.*", path.read_text(), re.M)
        assert not imports, (path.name, imports)


# -- plots -----------------------------------------------------------------------------------------


@pytest.fixture()
def mpl():
    return pytest.importorskip("matplotlib", reason="plot tests need matplotlib (pip install -e '.[plot]')")


def _svg_texts(path: Path) -> list[str]:
    """The texts of a matplotlib SVG (each drawn text is preceded by a comment holding it)."""
    return [t.strip() for t in re.findall(r"<!-- (.*?) -->", path.read_text(), re.S)]


def test_plot_says_where_the_file_went(mpl, tmp_path: Path) -> None:
    out = tmp_path / "m.svg"
    r = run_cli("plot", example("mobilenet_v1"), "--set", "alpha=0.75", "-o", str(out))
    assert r.exit_code == 0 and r.output == f"wrote {out}: MobileNet v1, 83 layers\n"
    texts = _svg_texts(out)
    assert any("alpha=0.75" in t for t in texts) and not any("3/4" in t for t in texts)
    assert "layer type" in texts  # the per-layer panels have a legend naming the colours


def test_plot_sweep_with_many_values_keeps_ticks_readable(mpl, tmp_path: Path) -> None:
    out = tmp_path / "s.svg"
    r = run_cli("plot", "--sweep", example("mobilenet_v1"), "--set", "alpha=0.35:1.4:0.05", "-o", str(out))
    assert r.exit_code == 0, r.output
    ticks = [t for t in _svg_texts(out) if re.fullmatch(r"[\d.]+", t)]
    assert 0 < len([t for t in ticks if "." in t]) < 2 * 12  # not one label per point (22 values, 2 panels)


# -- docs for a reader of the repository -------------------------------------------------------------


def test_docs_cite_no_issue_numbers_or_outside_files() -> None:
    for path in [ROOT / "README.md", *DOCS.glob("*.md")]:
        text = path.read_text()
        found = re.search(r"\bissue[s]? #?\d+|\bthe issue\b|(?<![(\w])#\d{1,4}\b|/work/|DESIGN\.md|shared/", text, re.I)
        assert not found, (path.name, found.group(0) if found else None)


def test_install_hints_match_the_readme() -> None:
    from costcalc.commands.verify import NEEDS_TORCH
    from costcalc.render.plot import NEEDS_MATPLOTLIB

    readme = (ROOT / "README.md").read_text()
    assert "pip install -e '.[torch]'" in NEEDS_TORCH and "pip install -e '.[torch]'" in readme
    assert "pip install -e '.[plot]'" in NEEDS_MATPLOTLIB and "pip install -e '.[plot]'" in readme
