"""The baseline comparison flags latency shifts beyond the noise, and only those."""
from __future__ import annotations

import pytest
from records import on_images, record

from edgebench.report.baseline import blocks, compare
from edgebench.report.document import to_markdown


def _one(current: dict, baseline: dict, **kwargs):
    comparison = compare([current], [baseline], **kwargs)
    assert len(comparison.cells) == 1
    return comparison.cells[0]


def test_same_distribution_is_no_significant_change():
    cell = _one(record(seed=1), record(seed=2))
    assert cell.verdict == "no significant change"
    assert cell.ratio == pytest.approx(1.0, abs=0.02)
    assert cell.ratio_ci95[0] < 1 < cell.ratio_ci95[1]


def test_twenty_percent_slower_is_a_regression():
    comparison = compare([record(p50=12.0, seed=1)], [record(p50=10.0, seed=2)])
    cell = comparison.cells[0]
    assert cell.verdict == "regression" and comparison.regressions == [cell]
    assert cell.ratio == pytest.approx(1.2, abs=0.02)
    assert cell.ratio_ci95[0] > 1 and cell.p_value < 0.01
    assert (cell.n_baseline, cell.n_current) == (60, 60)
    assert cell.to_dict()["ratio_ci95"] == list(cell.ratio_ci95)


def test_small_but_significant_shift_is_below_threshold():
    cell = _one(record(p50=10.3, spread=0.002, seed=1), record(p50=10.0, spread=0.002, seed=2))
    assert cell.p_value < 0.01 and cell.ratio_ci95[0] > 1
    assert cell.verdict == "no significant change"
    assert "threshold" in cell.note


def test_noisy_few_samples_are_not_a_regression():
    cell = _one(record(p50=12.0, spread=0.6, n=5, seed=1), record(p50=10.0, spread=0.6, n=5, seed=2))
    assert cell.verdict == "no significant change"
    assert cell.n_current == 5


def test_too_few_samples_still_reports_ratio():
    cell = _one(record(p50=12.0, n=2, seed=1), record(p50=10.0, seed=2))
    assert cell.verdict == "not enough samples"
    assert cell.ratio == pytest.approx(1.2, abs=0.05) and cell.p_value is None


def test_twenty_percent_faster_is_an_improvement():
    comparison = compare([record(p50=8.0, seed=1)], [record(p50=10.0, seed=2)])
    cell = comparison.cells[0]
    assert cell.verdict == "improvement" and comparison.improvements == [cell]
    assert cell.ratio_ci95[1] < 1 and cell.p_value < 0.01 and comparison.regressions == []


def test_newly_failing_and_fixed():
    comparison = compare([record(status="failed", reason="segfault in runtime")], [record()])
    cell = comparison.cells[0]
    assert cell.verdict == "newly failing" and "segfault in runtime" in cell.note
    assert comparison.regressions == [cell]
    assert _one(record(), record(status="failed", reason="boom")).verdict == "fixed"
    assert _one(record(status="skipped", reason="no GPU"), record()).verdict == "newly failing"
    assert compare([record(status="skipped")], [record(status="failed")]).cells == []


def test_devices_are_never_matched():
    comparison = compare([record(device="a", p50=20.0)], [record(device="b")])
    assert sorted((c.device, c.verdict) for c in comparison.cells) == [("a", "only in current"),
                                                                       ("b", "only in baseline")]
    assert comparison.regressions == []


def test_top1_change_only_on_the_same_images():
    cur, base = record(top1=0.70, seed=1), record(top1=0.75, seed=2)
    assert _one(cur, base).to_dict()["top1_change_pt"] == pytest.approx(-5.0)
    cur["accuracy"]["eval_set"] = {"crops_key": "x"}
    base["accuracy"]["eval_set"] = {"crops_key": "y"}
    assert _one(cur, base).top1_change_pt is None


def test_markdown_lists_regressions_with_the_rule():
    comparison = compare([record(p50=12.0, seed=1), record(runtime="openvino", seed=3),
                          record(runtime="tflite", status="failed", reason="op unsupported")],
                         [record(p50=10.0, seed=2), record(runtime="openvino", seed=4), record(runtime="tflite")])
    text = to_markdown(blocks(comparison, "runs/old"))
    assert text.startswith("## Compared with baseline runs/old")
    assert "Mann–Whitney" in text and "bootstrap" in text and "5%" in text
    row = next(line for line in text.splitlines() if line.startswith("| `timm:m"))
    assert row.startswith(r"| `timm:m\|onnxruntime\|fp32\|b1` (box) |") and "1.2" in row
    assert len(row.replace(r"\|", "").strip("|").split("|")) == 6
    assert "newly failing**: failed: op unsupported" in text
    assert "1 cell(s) show no significant change." in text
    assert text.index("### Regressions") < text.index("### Improvements")


# ---- conditions: only cells measured alike are judged ----------------------------------------------------

def test_another_timing_profile_is_not_comparable_even_twice_as_slow():
    cur = record(p50=20.0, seed=1, timing={"profile": "quick", "min_iters": 10, "min_s": 1.0})
    base = record(p50=10.0, seed=2, timing={"profile": "default", "min_iters": 50, "min_s": 3.0})
    comparison = compare([cur], [base])
    cell = comparison.cells[0]
    assert cell.verdict == "not comparable" and comparison.regressions == []
    assert cell.differences == ["timing profile default → quick"]
    assert cell.current_p50 == pytest.approx(20.0, rel=0.05) and cell.p_value is None
    text = to_markdown(blocks(comparison, "old"))
    section = text[text.index("### Not comparable"):]
    assert "(1)" in section.splitlines()[0] and "timing profile default → quick" in section
    assert "### Regressions (0)" in text
    # the same pair measured alike is a regression: the verdict above came from the profile, not the data
    base["timing"] = dict(cur["timing"])
    assert _one(cur, base).verdict == "regression"


@pytest.mark.parametrize("change, expected", [
    ({"threads": 4}, "threads 2 → 4"),
    ({"timing": {"profile": "default", "min_s": 10.0}}, "timing min_s not recorded → 10.0"),
    ({"quantization": {"recipe": "ort-dynamic-int8"}}, "recipe ort-static-int8 → ort-dynamic-int8"),
    ({"quantization": {"recipe": "ort-static-int8", "settings": {"per_channel": False}}},
     "recipe settings per_channel True → False"),
])
def test_each_condition_makes_a_pair_not_comparable(change, expected):
    quantized = {"quantization": {"recipe": "ort-static-int8", "settings": {"per_channel": True}}}
    base = record(p50=10.0, seed=2, **quantized)
    cur = record(p50=30.0, seed=1, **{**quantized, **change})
    cell = _one(cur, base)
    assert cell.verdict == "not comparable" and cell.differences == [expected] and expected in cell.note


def test_other_evaluation_images_are_not_comparable_but_missing_accuracy_is_no_difference():
    cur, base = on_images(record(p50=20.0, seed=1), "/d/val", "aaaa1111"), on_images(record(seed=2), "/d/val", "bbbb2222")
    assert _one(cur, base).differences == ["evaluation images bbbb2222 → aaaa1111"]
    assert _one(cur, record(seed=2, top1=None)).verdict == "regression"


def test_a_new_runtime_version_is_compared_and_stated():
    env = {"device": "box", "versions": {"onnxruntime": "1.20.1", "numpy": "2.0"}}
    base = record(p50=10.0, seed=2, runtime_version="1.20.1", environment=env)
    cur = record(p50=20.0, seed=1, runtime_version="1.21.0",
                 environment={**env, "versions": {"onnxruntime": "1.21.0", "numpy": "2.0"}})
    comparison = compare([cur], [base])
    cell = comparison.cells[0]
    assert cell.verdict == "regression" and comparison.regressions == [cell]
    assert cell.stated == ["onnxruntime 1.20.1 → 1.21.0"] and cell.differences == []
    row = next(line for line in to_markdown(blocks(comparison, "old")).splitlines() if line.startswith("| `timm:m"))
    assert row.rstrip(" |").endswith("onnxruntime 1.20.1 → 1.21.0")


def test_untrusted_cells_are_marked_in_the_comparison():
    cur = record(seed=1, untrusted=["ONNX export failed its parity check (max abs err 0.3)"])
    cell = _one(cur, record(seed=2))
    assert cell.untrusted == ["ONNX export failed its parity check (max abs err 0.3)"]
    text = to_markdown(blocks(compare([cur], [record(seed=2)]), "old"))
    assert "[UNTRUSTED]" in text and "parity check" in text
