"""``edgebench optimize`` end to end on a small trained classifier: real ONNX Runtime and OpenVINO builds,
the staged search within its budget, ordinary result lines that report and pick read, the deploy folder,
and a resume that measures nothing twice."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli

BUDGET_MIN = 4


@pytest.fixture(scope="module")
def searched(image_task, cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("optimize") / "search"
    proc = run_cli("optimize", "--model", f"onnx:{image_task['onnx']}", "--data", str(image_task["val"]),
                   "--calib-size", "30", "--screen-images", "20", "--runtime", "onnxruntime", "--runtime", "openvino",
                   "--precision", "int8", "--max-accuracy-drop", "2", "--budget", str(BUDGET_MIN), "--quick",
                   "--timeout", "300", "--cache-dir", str(cache_dir), "--out", str(out), timeout=1200)
    return out, proc


def lines(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_every_candidate_has_a_fate_and_every_measured_one_a_result_line(searched):
    out, proc = searched
    assert proc.returncode in (0, 3), proc.stderr[-3000:]
    summary = json.loads((out / "optimize.json").read_text())
    candidates = {c["key"] for c in summary["candidates"]}
    assert set(summary["fates"]) == candidates
    records = {r["key"]: r for r in lines(out)}
    assert set(records) <= candidates
    stages = {r["search"]["stage"] for r in records.values() if r["status"] == "ok"}
    assert "final" in stages and "screen" in stages
    # each runtime's FP32 and default INT8 are in the final round, timed together
    finals = {k for k, r in records.items() if r.get("search", {}).get("stage") == "final"}
    for runtime in ("onnxruntime", "openvino"):
        assert any(f"|{runtime}|fp32|b1" in k for k in finals)
        assert any(k.endswith(f"|{runtime}|int8|b1") for k in finals)
    # variants are recipes with their own settings, named in key and record
    variants = [r for r in records.values() if r.get("variant") and r["status"] == "ok"]
    assert variants and all(r["key"].endswith("|" + r["variant"]) for r in variants)
    assert summary["elapsed_s"] <= BUDGET_MIN * 60 + 90  # the budget holds (the final round may end a little after)
    assert summary["families"] and all(f["fate"] for f in summary["families"])


def test_the_choice_meets_the_budget_on_every_image_and_ships_a_folder(searched):
    out, proc = searched
    summary = json.loads((out / "optimize.json").read_text())
    if summary["chosen"] is None:
        pytest.skip(f"nothing met the 2-point budget on this classifier: {summary['fates']}")
    chosen = next(r for r in lines(out) if r["key"] == summary["chosen"])
    change = chosen["accuracy"]["vs_reference"]["top1_change"]
    assert -change["delta"] * 100 <= 2.0 + 1e-9
    assert chosen["search"]["stage"] == "final"
    deploy = out / "deploy"
    assert (deploy / "predict.py").exists() and (deploy / "preprocess.json").exists()
    assert "Chosen:" in (out / "optimize.md").read_text()
    assert proc.returncode == 0


def test_sensitivity_is_measured_and_used(searched):
    out, _ = searched
    sensitivity = json.loads((out / "sensitivity.json").read_text())
    assert sensitivity["layers"] and all(layer["score_db"] == layer["score_db"] for layer in sensitivity["layers"])
    summary = json.loads((out / "optimize.json").read_text())
    mixed = [c for c in summary["candidates"] if c["kind"] == "mixed"]
    assert mixed and all(c["options"]["exclude_nodes"][0] == sensitivity["layers"][0]["node"]
                         for c in mixed if c["variant"].startswith("float") and not c["variant"].startswith("float-w"))


def test_report_and_pick_read_the_search(searched, tmp_path):
    out, _ = searched
    proc = run_cli("report", str(out), "--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = (tmp_path / "report" / "report.md").read_text()
    assert "(edgebench optimize)" in page and "Family" in page
    summary = json.loads((out / "optimize.json").read_text())
    final = [r for r in lines(out) if r.get("search", {}).get("stage") == "final"]
    eval_set = final[0]["accuracy"]["eval_set"]["eval_id"]
    proc = run_cli("pick", str(out), "--max-accuracy-drop", "2", "--eval-set", eval_set, "--json")
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    if summary["chosen"]:
        picked = json.loads(proc.stdout)
        assert picked["qualifying"], picked


def test_resume_measures_nothing_twice(searched, cache_dir):
    out, _ = searched
    proc = run_cli("optimize", "--resume", str(out))
    assert proc.returncode == 0 and "nothing to resume" in proc.stderr, proc.stderr[-2000:]
    # as if interrupted in the final round: resume reuses every screened and fully evaluated candidate
    summary = json.loads((out / "optimize.json").read_text())
    (out / "optimize.json").write_text(json.dumps({**summary, "status": "running"}))
    before = (out / "search.jsonl").read_text()
    finished = {r["key"] for r in lines(out)}
    proc = run_cli("optimize", "--resume", str(out), timeout=900)
    assert proc.returncode in (0, 3), proc.stderr[-3000:]
    assert (out / "search.jsonl").read_text() == before
    assert "screening" not in proc.stderr and "final round" in proc.stderr
    assert {r["key"] for r in lines(out)} == finished  # one line per candidate, as before
    assert list(out.glob("results.interrupted-*.jsonl"))  # the earlier lines are kept aside, not lost


def test_bad_input_is_one_line_and_exit_2(image_task, tmp_path):
    for args, words in ((["--model", f"onnx:{image_task['onnx']}"], "needs --data"),
                        (["--model", f"onnx:{image_task['onnx']}", "--data", str(image_task["val"]),
                          "--batch-size", "1", "--batch-size", "8"], "one batch size"),
                        (["--resume", str(tmp_path)], "no optimize search")):
        proc = run_cli("optimize", *args)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and "Traceback" not in proc.stderr
