"""What a finished search says (``edgebench.optimize.outcome``, with the sentences it shares with report's search
section, ``edgebench.report.search``), on hand-built result lines: which lines are the
search's measurements, the plain run's answer, the accuracy sentence on selection and report images, and the parts of
``optimize.md`` the candidates-table tests (test_search_tables.py) do not read. No runtime is under test here; the
expected texts are written out by hand, not recomputed by the module. The speed-up sentence between two different
deployments comes from the paired ratio (edgebench.stats) and is left to its tests."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))  # the shared record builders

from records import record  # noqa: E402

from edgebench.optimize.outcome import final_lines, markdown, plain_answer  # noqa: E402
from edgebench.optimize.strategy import Goal  # noqa: E402
from edgebench.report.search import accuracy_sentence, images_sentence, plain_sentence  # noqa: E402

MODEL = "onnx:net"


def _change(drop_pt: float) -> dict:
    delta = -drop_pt / 100.0
    return {"delta": delta, "ci95": [delta - 0.01, delta + 0.01], "p_value": 0.5, "verdict": "no significant change"}


def line(runtime: str, precision: str, *, variant: str = "", p50: float = 10.0, report_drop: float = 0.0,
         selection_drop: float | None = 0.0, stage: str = "final", **extra) -> dict:
    """A search's result line: exact latency (no spread); top-1 75% minus its drop on the 500 report images, and (unless
    ``selection_drop`` is None: a search from before the image roles) its figures on 150 selection images."""
    rec = record(MODEL, runtime, precision, 1, p50=p50, spread=0.0, top1=0.75 - report_drop / 100.0,
                 delta=-report_drop / 100.0, **extra)
    if rec.get("accuracy"):
        rec["accuracy"]["eval_set"] = {"eval_id": "rep", "role": "report"}
    if variant:
        rec["variant"] = variant
        rec["key"] += f"|{variant}"
    rec["search"] = {"stage": stage}
    if selection_drop is not None:
        rec["search"]["selection"] = {"images": 150, "top1": 0.75 - selection_drop / 100.0, "top1_ci95": [0.7, 0.8],
                                      "top1_change": _change(selection_drop), "eval_id": "sel"}
    return rec


FP32 = line("onnxruntime", "fp32", p50=10.0)
# within a 1-point budget on the selection images (0.4), over it on the report images (1.2)
INT8 = line("onnxruntime", "int8", p50=4.0, report_drop=1.2, selection_drop=0.4, size_mb=3.8,
            p50_precision={"half_width_pct": 1.0, "lo": 3.96, "hi": 4.04})
ENTROPY = line("onnxruntime", "int8", variant="entropy", p50=3.0, report_drop=0.5, selection_drop=0.2)
FAILED = line("openvino", "fp32", status="failed", reason="worker crashed (signal 11)")
GOAL = Goal(max_drop_pt=1.0)


def test_final_lines_are_the_final_rounds_ok_lines_with_a_top1():
    probe = line("openvino", "int8", p50=1.0, stage="full")
    no_top1 = line("onnxruntime", "fp16")
    no_top1["accuracy"]["top1"] = None  # evaluated, but no top-1 (a model without labels)
    assert [r["key"] for r in final_lines([FP32, INT8, ENTROPY, FAILED, probe, no_top1])] == \
        [FP32["key"], INT8["key"], ENTROPY["key"]]


def test_plain_answer_decides_on_the_selection_images_and_returns_the_line():
    answer = plain_answer([FP32, INT8, ENTROPY, FAILED], GOAL)
    assert answer is INT8  # 0.4 pt on the selection images meets the budget (1.2 on the report images would not)
    assert answer["accuracy"]["images"] == 500  # the line itself: its report figures, not the selection ones
    assert plain_answer([FP32, INT8, ENTROPY], Goal(max_drop_pt=0.3)) is FP32  # ENTROPY (0.2) is a variant
    assert plain_answer([FP32, INT8, ENTROPY], Goal(max_drop_pt=1.0, max_latency_ms=3.5)) is None
    assert plain_answer([{**INT8, "search": {"stage": "full"}}], GOAL) is None  # not in the final round
    # a search from before the image roles decided on the line's own accuracy
    old = line("onnxruntime", "int8", p50=4.0, report_drop=1.2, selection_drop=None)
    assert plain_answer([FP32, old], GOAL) is FP32


def test_plain_sentence_when_no_default_meets_or_the_chosen_is_the_default():
    assert plain_sentence(ENTROPY, None) == "No default recipe meets the constraints: only a searched variant does."
    assert plain_sentence(INT8, INT8) == ("The chosen deployment is a plain run's own answer (a default recipe): no "
                                         "searched variant meeting the constraints was faster beyond the noise.")


def test_accuracy_sentence_names_the_images_that_decided_and_the_ones_that_report():
    assert accuracy_sentence(INT8, Goal()) is None  # no budget, nothing to say
    assert accuracy_sentence(INT8, GOAL) == (
        "Accuracy: the budget (1 pt on the drop's estimate) was applied on the 150 selection images: drop +0.40 pt "
        "(95% -0.60 to +1.40, no significant change). On the 500 report images, held out from every decision: drop "
        "+1.20 pt (95% +0.20 to +2.20, no significant change); that is over the budget: the selection images favoured "
        "the chosen one (expect the report figure). The report interval's upper end is over the 1 pt budget: these "
        "images cannot show the drop is within it (give more images; `--accuracy-bound upper` requires it of the "
        "selection images).")
    # within the budget on both, and the report interval too: no warning
    assert accuracy_sentence(ENTROPY, GOAL) == (
        "Accuracy: the budget (1 pt on the drop's estimate) was applied on the 150 selection images: drop +0.20 pt "
        "(95% -0.80 to +1.20, no significant change). On the 500 report images, held out from every decision: drop "
        "+0.50 pt (95% -0.50 to +1.50, no significant change). The report interval's upper end is over the 1 pt "
        "budget: these images cannot show the drop is within it (give more images; `--accuracy-bound upper` requires "
        "it of the selection images).")
    old = line("onnxruntime", "int8", report_drop=0.3, selection_drop=None)
    assert accuracy_sentence(old, GOAL) == ("Accuracy: the budget applies to the drop's estimate; the chosen one's 95% "
                                            "interval is -0.70 to +1.30 pt on 500 images, whose upper end is over the "
                                            "1 pt budget: these images cannot show the drop is within it "
                                            "(`--accuracy-bound upper` requires that; give more images).")
    assert accuracy_sentence(old, Goal(max_drop_pt=2.0)).endswith("interval is -0.70 to +1.30 pt on 500 images.")


def _summary(**extra) -> dict:
    return {"model": MODEL, "goal": GOAL.to_dict(), "budget_min": 10, "elapsed_s": 300.0,
            "stage_s": {"screen": 60.0, "full": 120.0, "final": 120.0}, "chosen": None, "deploy": None,
            "families": [{"family": "onnxruntime int8", "candidates": 1, "best": INT8["key"],
                          "fate": "final: drop 1.20 pt > budget 1 pt (selection images)", "chosen": False},
                         {"family": "litert (fp32, int8)", "candidates": 2, "best": None,
                          "fate": "skipped: litert converts the PyTorch model", "chosen": False}],
            "pareto": [], "command": "edgebench optimize --model onnx:net --max-accuracy-drop 1", **extra}


def test_markdown_when_nothing_met_the_constraints():
    page = markdown(_summary(), [FP32, INT8], None)
    lines = page.splitlines()
    assert lines[0] == "# edgebench optimize: onnx:net"
    assert ("Objective: latency at batch 1; top-1 drop ≤ 1 pt applied to the drop's estimate. Search budget 10 min, "
            "took 5.0 min (screen 1.0, full 2.0, final 2.0 min).") in lines
    assert "**Nothing met the constraints.** The families below say why." in lines
    assert "| onnxruntime int8 | 1 | onnxruntime int8 | final: drop 1.20 pt > budget 1 pt (selection images) |" in lines
    assert "| litert (fp32, int8) | 2 | – | skipped: litert converts the PyTorch model |" in lines
    for absent in ("Chosen:", "Deploy folder", "## Pareto set", "## Layer sensitivity", "Images (seed"):
        assert absent not in page
    assert page.endswith("## Reproduce\n\n    edgebench optimize --model onnx:net --max-accuracy-drop 1\n")


def test_markdown_of_a_variant_chosen_where_no_default_recipe_meets_the_constraints():
    goal = Goal(max_drop_pt=1.0, max_latency_ms=3.5)  # both defaults are slower than 3.5 ms
    sensitivity = {"method": "per-layer SQNR", "images": 16,
                   "layers": [{"node": f"conv{i}", "op": "Conv", "activation_sqnr_db": 10.0 + i,
                               "weight_sqnr_db": None if i == 0 else 30.04, "output_sqnr_db": 20.0} for i in range(12)]}
    page = markdown(_summary(goal=goal.to_dict(), chosen=ENTROPY["key"], deploy="/runs/s/deploy",
                             pareto=[INT8["key"], ENTROPY["key"], "gone"]), [FP32, INT8, ENTROPY], sensitivity)
    lines = page.splitlines()
    assert ("**Chosen: onnxruntime int8 [entropy]**: p50 3.00 ms, top-1 74.50%, drop +0.50 pt (95% -0.50 to +1.50, "
            "no significant change, 500 report images), 14.0 MB.") in lines
    assert "No default recipe meets the constraints: only a searched variant does." in lines
    assert any(x.startswith("Accuracy: the budget (1 pt on the drop's estimate) was applied on the 150 selection")
               for x in lines)
    assert "Deploy folder: `/runs/s/deploy` (artifact, preprocess.json, figures.json, predict.py)." in lines
    pareto = page[page.index("## Pareto set"):page.index("## Layer sensitivity")]
    assert [x.split(":")[0] for x in pareto.splitlines() if x.startswith("- ")] == \
        ["- onnxruntime int8 [entropy]", "- onnxruntime int8"]  # fastest first; a key without a line is left out
    assert "## Layer sensitivity (per-layer SQNR, 16 images)" in lines
    assert "| `conv0` | Conv | 10.0 | – | 20.0 |" in lines and "| `conv1` | Conv | 11.0 | 30.0 | 20.0 |" in lines
    assert "`conv9`" in page and "`conv10`" not in page  # the ten least robust layers


def test_images_sentence_only_for_a_search_with_image_roles():
    assert images_sentence(_summary()) is None
    summary = _summary(screen_images=200, images={"seed": 3, "calibration": {"images": 150, "source": "data-slice"},
                                                  "selection": {"images": 150}, "report": {"images": 200}})
    assert images_sentence(summary) == (
        "Images (seed 3, disjoint, lists in `images/`): 150 calibrate (data-slice); 150 select (the screen's first "
        "150, the full evaluation, tie-breaks, NNCF's accuracy control); 200 report (held out from every decision: "
        "the final round's accuracy and drop).")
