"""What a finished search shows, on hand-made stage records: probe figures marked as such and kept out of the
measurements (Pareto set, report tables), the chosen one's report and selection drops, and a families table with
one line per runtime that cannot take the model."""
from __future__ import annotations

import json

import pytest

from edgebench.optimize import outcome, strategy
from edgebench.optimize.strategy import Goal
from edgebench.report.search import CANDIDATE_COLUMNS, candidate_cells, table_rows

MODEL = "onnx:net.onnx"
GOAL = Goal(max_drop_pt=0.5)
ONNX_ONLY = f"skipped: litert converts the PyTorch model, and {MODEL} is only an ONNX file"
NO_TORCH = f"skipped: {MODEL} has no PyTorch implementation (only its ONNX file)"


def key(runtime: str, precision: str, variant: str = "") -> str:
    return f"{MODEL}|{runtime}|{precision}|b1" + (f"|{variant}" if variant else "")


def measured(runtime: str, precision: str, p50: float, drop_pt: float, *, images: int, role: str,
             variant: str = "", stage: str | None = None) -> dict:
    delta = -drop_pt / 100.0
    record = {"key": key(runtime, precision, variant), "model": MODEL, "runtime": runtime, "precision": precision,
              "variant": variant, "batch_size": 1, "status": "ok", "size_mb": 5.0,
              "latency_ms": {"p50": p50}, "p50_precision": {"lo": p50 * 0.99, "hi": p50 * 1.01, "half_width_pct": 1.0},
              "accuracy": {"images": images, "top1": 0.8 + delta, "top1_ci95": [0.75, 0.85],
                           "eval_set": {"eval_id": role[:3], "role": role},
                           "vs_reference": {"top1_change": {"delta": delta, "ci95": [delta - 0.01, delta + 0.01],
                                                            "p_value": 0.5, "verdict": "no significant change"}}}}
    if stage:
        record["search"] = {"stage": stage}
    return record


def candidate(runtime: str, precision: str, fate: str, variant: str = "", family: str | None = None) -> dict:
    return {"key": key(runtime, precision, variant), "runtime": runtime, "precision": precision, "variant": variant,
            "family": family or f"{runtime} {precision}", "fate": fate}


@pytest.fixture()
def search():
    """A search's stage records: ORT INT8 chosen in the final round, an OpenVINO INT8 variant that stopped after its
    full evaluation with a faster probe than anything final, one screened out, and runtimes that could not run."""
    screen = {
        key("onnxruntime", "fp32"): measured("onnxruntime", "fp32", 9.0, 0.0, images=20, role="selection"),
        key("onnxruntime", "int8"): measured("onnxruntime", "int8", 4.5, 0.0, images=20, role="selection"),
        key("openvino", "int8", "float3"): measured("openvino", "int8", 3.1, 0.2, images=20, role="selection",
                                                    variant="float3"),
        key("openvino", "fp16"): measured("openvino", "fp16", 8.0, 0.0, images=20, role="selection"),
    }
    full = {k: measured(r["runtime"], r["precision"], r["latency_ms"]["p50"], 0.3 if r["variant"] else 0.1,
                        images=60, role="selection", variant=r["variant"])
            for k, r in screen.items() if r["precision"] != "fp16"}
    full[key("openvino", "int8", "float3")] = measured("openvino", "int8", 3.1, 0.8, images=60, role="selection",
                                                       variant="float3")
    final = {}
    for k in (key("onnxruntime", "fp32"), key("onnxruntime", "int8")):
        r = screen[k]
        line = measured(r["runtime"], r["precision"], 10.0 if r["precision"] == "fp32" else 5.0,
                        0.6 if r["precision"] == "int8" else 0.0, images=80, role="report", stage="final")
        line["search"]["selection"] = strategy.selection_summary(full[k])
        final[k] = line
    fates = {
        key("onnxruntime", "fp32"): "feasible, slower than onnxruntime int8",
        key("onnxruntime", "int8"): "chosen",
        key("openvino", "int8", "float3"): "full evaluation: drop 0.80 pt > budget 0.5 pt",
        key("openvino", "fp16"): "screen: dominated by onnxruntime int8: 1.78× its p50 in the probe",
        key("litert", "fp32"): ONNX_ONLY, key("litert", "fp16"): ONNX_ONLY, key("litert", "int8"): ONNX_ONLY,
        key("litert", "int8", "mixed"): ONNX_ONLY,
        key("pytorch", "fp32"): NO_TORCH,
    }
    families = {key("openvino", "int8", "float3"): "openvino int8: mixed", key("litert", "int8", "mixed"): "litert int8"}
    candidates = []
    for k, fate in fates.items():
        parts = k.split("|")
        row = candidate(parts[1], parts[2], fate, parts[4] if len(parts) > 4 else "", families.get(k))
        row.update(outcome.candidate_figures(screen.get(k), full.get(k), final.get(k)))
        candidates.append(row)
    return {"screen": screen, "full": full, "final": final, "candidates": candidates, "lines": list(final.values())}


def test_each_candidate_says_whether_its_latency_is_a_probe_and_on_which_images(search):
    rows = {r["key"]: r for r in search["candidates"]}
    chosen = rows[key("onnxruntime", "int8")]
    assert chosen["stage"] == "final" and chosen["latency"]["timing"] == "final" and chosen["latency"]["p50"] == 5.0
    assert chosen["report"]["images"] == 80 and chosen["report"]["drop"] == pytest.approx(0.6)
    assert chosen["selection"]["images"] == 60 and not chosen["selection"]["subset"]
    variant = rows[key("openvino", "int8", "float3")]
    assert variant["stage"] == "full" and variant["latency"]["timing"] == "probe" and variant["report"] is None
    screened = rows[key("openvino", "fp16")]
    assert screened["stage"] == "screen" and screened["selection"]["subset"] and screened["selection"]["images"] == 20
    assert rows[key("litert", "fp32")]["stage"] is None
    cells = dict(zip(CANDIDATE_COLUMNS, candidate_cells(variant)))
    assert cells["p50 ms"] == "3.10 probe" and cells["Report accuracy"] == "–" and cells["Stage"] == "full"
    assert candidate_cells(screened)[3].endswith("on 20 (screen)")
    assert dict(zip(CANDIDATE_COLUMNS, candidate_cells(chosen)))["p50 ms"] == "5.00"


def test_probe_figures_never_enter_the_pareto_set(search):
    # the float3 variant's probe (3.1 ms) is faster than anything final; as a line it would lead the Pareto set
    probe_line = {**search["full"][key("openvino", "int8", "float3")], "search": {"stage": "full"}}
    keys = outcome.pareto_keys([*search["lines"], probe_line], batch=1)
    assert key("openvino", "int8", "float3") not in keys and key("onnxruntime", "int8") in keys


def test_runtimes_that_cannot_take_the_model_are_one_family_line_each(search):
    families = outcome.family_fates(search["candidates"], GOAL)
    by_name = {f["family"]: f for f in families}
    litert = by_name["litert (fp32, fp16, int8)"]
    assert litert["candidates"] == 4 and litert["best"] is None and litert["fate"] == ONNX_ONLY
    assert not any(name.startswith("litert ") and name != "litert (fp32, fp16, int8)" for name in by_name)
    assert by_name["pytorch fp32"]["fate"] == NO_TORCH  # one family already: its own line, as before
    # families a user can act on come first, each with its best candidate and fate
    assert [f["family"] for f in families[:4]] == ["onnxruntime fp32", "onnxruntime int8", "openvino int8: mixed",
                                                   "openvino fp16"]
    assert by_name["onnxruntime int8"]["chosen"] and by_name["onnxruntime int8"]["fate"] == "chosen"
    assert by_name["openvino int8: mixed"]["best"] == key("openvino", "int8", "float3")
    # the candidates table likewise: one row for litert's four candidates
    labels = [candidate_cells(r)[0] for r in table_rows(search["candidates"])]
    assert "litert (fp32, fp16, int8: 4 candidates)" in labels and "pytorch fp32" in labels
    assert len(labels) == 6


def test_a_family_best_is_the_one_that_went_furthest(search):
    rows = [candidate("onnxruntime", "int8", "screen: dominated", "entropy", "ort int8: calibration"),
            candidate("onnxruntime", "int8", "feasible, slower", "percentile", "ort int8: calibration")]
    rows[0].update(stage="screen", latency={"p50": 1.0, "timing": "probe"})  # faster probe, but screened out
    rows[1].update(stage="final", latency={"p50": 4.0, "timing": "final"})
    (family,) = outcome.family_fates(rows, GOAL)
    assert family["best"] == key("onnxruntime", "int8", "percentile") and family["fate"] == "feasible, slower"


def test_optimize_md_reports_the_chosen_one_on_the_report_images_and_says_what_chose_it(search):
    summary = {"model": MODEL, "goal": GOAL.to_dict(), "budget_min": 10, "elapsed_s": 300, "stage_s": {},
               "command": "edgebench optimize ...", "chosen": key("onnxruntime", "int8"), "screen_images": 20,
               "candidates": search["candidates"], "families": outcome.family_fates(search["candidates"], GOAL),
               "pareto": outcome.pareto_keys(search["lines"], 1),
               "images": {"seed": 0, "calibration": {"images": 30, "source": "data-slice"},
                          "selection": {"images": 60}, "report": {"images": 80}}}
    page = outcome.markdown(summary, search["lines"], None)
    assert "**Chosen: onnxruntime int8**: p50 5.00 ms ±1.0%, top-1 79.40%, drop +0.60 pt" in page
    assert "80 report images" in page
    assert ("was applied on the 60 selection images: drop +0.10 pt" in page
            and "On the 80 report images, held out from every decision: drop +0.60 pt" in page)
    assert "over the budget: the selection images favoured the chosen one" in page
    assert "30 calibrate (data-slice); 60 select (the screen's first 20" in page
    assert "| openvino int8 [float3] | full | 3.10 probe |" in page
    assert "| litert (fp32, fp16, int8) | 4 | – |" in page


def test_the_report_section_shows_the_candidates_table_with_probes_marked(search, tmp_path):
    from edgebench.optimize.log import write_summary
    from edgebench.report.document import Table
    from edgebench.report.search import search_blocks

    summary = {"model": MODEL, "goal": GOAL.to_dict(), "budget_min": 10, "elapsed_s": 300, "stage_s": {},
               "command": "edgebench optimize ...", "chosen": key("onnxruntime", "int8"),
               "candidates": search["candidates"], "families": outcome.family_fates(search["candidates"], GOAL)}
    write_summary(tmp_path, summary)
    blocks, read = search_blocks(tmp_path, search["lines"])
    assert read["chosen"] == summary["chosen"]
    tables = [b for b in blocks if isinstance(b, Table)]
    families, candidates = tables[0], tables[1]
    last = sorted([c.text for c in row][:3] for row in families.rows[-2:])
    assert last == [["litert (fp32, fp16, int8)", "4", "–"], ["pytorch fp32", "1", "pytorch fp32"]]
    texts = {row[0].text: [c.text for c in row] for row in candidates.rows}
    assert texts["openvino int8 [float3]"][2] == "3.10 probe" and texts["onnxruntime int8"][2] == "5.00"
    json.dumps(summary)  # what optimize.json holds is plain JSON


def test_the_report_section_says_the_plain_runs_answer_the_search_recorded(search, tmp_path):
    """``report`` decides nothing: what a plain run answers is the key the search recorded (``plain``), and a search
    that recorded none (from before it did) is not second-guessed."""
    from edgebench.optimize.log import write_summary
    from edgebench.report.document import Paragraph
    from edgebench.report.search import search_blocks

    chosen = key("onnxruntime", "int8")
    base = {"model": MODEL, "goal": GOAL.to_dict(), "budget_min": 10, "elapsed_s": 300, "command": "edgebench optimize",
            "chosen": chosen, "candidates": search["candidates"], "families": []}

    def chosen_paragraph(**extra) -> str:
        write_summary(tmp_path, {**base, **extra})
        blocks, _ = search_blocks(tmp_path, search["lines"])
        return next(b.text for b in blocks if isinstance(b, Paragraph) and b.text.startswith("**Chosen:"))

    assert "The chosen deployment is a plain run's own answer" in chosen_paragraph(plain=chosen)
    assert "No default recipe meets the constraints" in chosen_paragraph(plain=None)
    older = chosen_paragraph()
    assert "plain run" not in older and "No default recipe" not in older
    assert older.startswith("**Chosen: onnxruntime int8**, p50 5.00 ms. Accuracy: the budget (0.5 pt")
