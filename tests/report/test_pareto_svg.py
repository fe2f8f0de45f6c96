"""The Pareto set over latency, top-1 and size, the recipe variant of a deployment, and the offline SVG plot."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from conftest import run_cli
from records import on_images, record, write_run

from edgebench.report.build import build
from edgebench.report.deployments import deployments
from edgebench.report.document import to_html, to_markdown
from edgebench.report.pareto import pareto_front, pareto_set
from edgebench.report.pareto_svg import pareto_deployments, pareto_svg
from edgebench.report.runs import load_runs

LOW, HIGH = False, True  # minimise / maximise


def test_pareto_set_2d_matches_the_front_and_keeps_ties():
    points = [(1.0, 70.0), (2.0, 75.0), (2.0, 75.0), (3.0, 74.0), (0.5, 60.0), (4.0, 80.0), (1.5, 70.0)]
    # (2, 75) twice: equal points do not dominate each other, both stay; (3, 74) is beaten by (2, 75);
    # (1.5, 70) is beaten by (1, 70) on latency alone (a tie on top-1 is not a win)
    assert pareto_set(points, (LOW, HIGH)) == [0, 1, 2, 4, 5]
    assert set(pareto_front(points)) <= set(pareto_set(points, (LOW, HIGH)))


def test_pareto_set_3d_keeps_a_point_the_2d_front_drops():
    # (latency, top-1, size): c is slower and less accurate than b, so off the 2-D front, but it is the smallest
    a, b, c, d = (1.0, 70.0, 10.0), (2.0, 76.0, 12.0), (3.0, 75.0, 3.0), (3.5, 74.0, 4.0)
    points = [a, b, c, d]
    assert pareto_front([p[:2] for p in points]) == [0, 1]
    assert pareto_set(points, (LOW, HIGH, LOW)) == [0, 1, 2]  # d is beaten by c on all three
    # maximise flips a dimension: with bigger size better, b (the biggest) beats c and d on all three
    assert pareto_set(points, (LOW, HIGH, HIGH)) == [0, 1]


def test_pareto_set_leaves_out_missing_values_and_handles_edges():
    nan = float("nan")
    points = [(1.0, None, 5.0), (nan, 99.0, 1.0), (2.0, 70.0, 5.0), (3.0, 70.0, 5.0), (2.0, 70.0, 5.0)]
    assert pareto_set(points, (LOW, HIGH, LOW)) == [2, 4]
    assert pareto_set([], (LOW, HIGH)) == []
    assert pareto_set([(1.0, 2.0)], (LOW, HIGH)) == [0]


def _variant(rec: dict, variant: str) -> dict:
    rec["variant"] = variant
    rec["key"] += f"|{variant}"
    return rec


def test_records_differing_only_in_variant_are_two_deployments(tmp_path):
    base = record("timm:m", "onnxruntime", "int8", p50=3.0, top1=0.74, delta=-0.01, seed=1)
    other = _variant(record("timm:m", "onnxruntime", "int8", p50=2.5, top1=0.72, delta=-0.03, seed=2), "u8-per-tensor")
    deps = deployments([base, other])
    assert [(d.variant, d.label) for d in deps] == [("", "onnxruntime int8"),
                                                   ("u8-per-tensor", "onnxruntime int8 [u8-per-tensor]")]
    assert deps[1].latency(1) == pytest.approx(2.5, rel=0.05) and deps[0].latency(1) == pytest.approx(3.0, rel=0.05)
    assert [d.to_dict()["variant"] for d in deps] == ["", "u8-per-tensor"]
    # the report keeps them apart too: a "Variant" column in the grids, a variant column in both CSVs
    blocks, data = build(load_runs([write_run(tmp_path / "run", [base, other])]), None)
    md = to_markdown(blocks)
    assert "| timm:m | onnxruntime | int8 | u8-per-tensor |" in md and "| timm:m | onnxruntime | int8 |  |" in md
    assert [d["variant"] for d in data["devices"]["box"]["deployments"]] == ["", "u8-per-tensor"]


def _deps(with_untrusted: bool = False):
    """One model, one evaluation set: a fast small INT8, a slower exact FP32, a dominated FP32 elsewhere, a variant
    that is only the smallest (on the 3-D set, off the 2-D frontier)."""
    cell = lambda *a, **k: on_images(record("timm:m", *a, **k), "/data/val", "abc123")  # noqa: E731
    recs = [cell("onnxruntime", "fp32", p50=10.0, top1=0.76, delta=0.0, size_mb=14.0, seed=1),
            cell("onnxruntime", "int8", p50=4.0, top1=0.74, delta=-0.02, size_mb=3.8, seed=2),
            cell("pytorch", "fp32", p50=20.0, top1=0.76, delta=0.0, size_mb=14.0, seed=3),
            _variant(cell("openvino", "int8", p50=6.0, top1=0.73, delta=-0.03, size_mb=2.0, seed=4), "mixed<&>"),
            cell("openvino", "fp32", p50=12.0, top1=0.70, delta=None, size_mb=15.0, seed=5,
                 **({"untrusted": ["export failed its parity check"]} if with_untrusted else {}))]
    return deployments(recs)


def test_svg_has_one_title_per_point_and_marks_the_pareto_set():
    deps = _deps(with_untrusted=True)
    root = ET.fromstring(pareto_svg(deps, 1))
    points = root.findall(".//circle[@class]")
    titles = {c.get("data-label"): c.find("title").text for c in points}
    assert len(points) == len(deps) == len(titles)
    for d in deps:
        title = titles[d.label]
        assert title.startswith(f"{d.label}: p50 {d.latency(1):.3g} ms, top-1 {d.top1:.2f}%")
        assert f"size {d.size_mb:.2f} MB" in title
    assert "(drop 2.00 pt)" in titles["onnxruntime int8"] and "[mixed<&>]" in titles["openvino int8 [mixed<&>]"]
    assert "[UNTRUSTED]" in titles["openvino fp32"]
    marked = {c.get("data-label") for c in points if "pareto" in c.get("class").split()}
    # pytorch fp32 is beaten by onnxruntime fp32 on all three; the variant is on the set only by its size
    assert marked == {"onnxruntime fp32", "onnxruntime int8", "openvino int8 [mixed<&>]"}
    assert marked == {d.label for d in pareto_deployments(deps, 1)}
    frontier = root.find(".//polyline[@class='frontier']")
    assert frontier is not None and len(frontier.get("points").split()) == 3  # int8, corner, fp32: a staircase


def test_svg_never_mixes_evaluation_sets():
    deps = _deps()
    on_images(deps[0].cells[1], "/data/cifar", "zzz999")
    with pytest.raises(ValueError, match="evaluation sets"):
        pareto_svg(deps, 1)
    one = deps[1].eval_set
    root = ET.fromstring(pareto_svg(deps, 1, one))
    assert len(root.findall(".//circle[@class]")) == len(deps) - 1


def test_report_html_holds_the_svg_offline_and_markdown_the_pareto_table(tmp_path):
    deps = _deps()
    recs = [r for d in deps for r in d.cells.values()]
    recs.append(record("timm:solo", "onnxruntime", "fp32", p50=1.0, seed=9))  # one deployment: no plot
    run = write_run(tmp_path / "run", recs)
    out = tmp_path / "out"
    done = run_cli("report", str(run), "--out", str(out))
    assert done.returncode == 0, done.stderr
    page = (out / "report.html").read_text()
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert len(svgs) == 1 and "Latency × accuracy × size (hover a point)" in page
    assert not re.search(r"https?://", svgs[0])
    assert len(ET.fromstring(svgs[0]).findall(".//circle/title")) == len(deps)
    md = (out / "report.md").read_text()
    assert "<svg" not in md and "### Latency × accuracy × size (hover a point)" in md
    table = md[md.index("Pareto set at batch 1"):].split("\n\n")[1].splitlines()
    assert table[0] == "| Deployment | b1 p50 (ms) | Top-1 % | Size (MB) |"
    assert [row.split("|")[1].strip() for row in table[2:]] == ["onnxruntime int8", "openvino int8 [mixed<&>]",
                                                               "onnxruntime fp32"]
    assert "Latency, top-1 and size of timm:solo" not in md


def test_html_block_inlines_svg_and_markdown_skips_it():
    from edgebench.report.document import Svg

    blocks = [Svg('<svg width="1" height="1"><circle r="1"><title>a &amp; b</title></circle></svg>')]
    assert "<svg" in to_html(blocks, "t") and to_markdown(blocks).strip() == ""


def test_pick_ranks_variants_apart_and_names_them():
    from edgebench.report.pick import Constraints, pick
    from edgebench.report.pick_render import ranked_table

    deps = _deps()
    result = pick(deps, Constraints(), objective="size", batch_size=1)
    lines = ranked_table(result, top=10)
    assert lines[0].split()[:5] == ["#", "Model", "Runtime", "Precision", "Variant"]
    first = lines[2].split()
    assert first[:5] == ["1", "timm:m", "openvino", "int8", "mixed<&>"]  # the smallest, ranked by size
