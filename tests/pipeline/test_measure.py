"""The measure step on real runtimes: a model's cells interleaved in rounds, a failure in one of them, workers
restarted each round when memory is short, and the stopping rule (precision reached, or the cap and a flag)."""
from __future__ import annotations

import json

from conftest import FAST, run_cli

from edgebench.harness.worker import FAULT_VARIABLE


def _records(run_dir):
    return {r["key"].split("|")[1]: r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}


def _run(tiny_onnx, tmp_path, *extra, env=None):
    out = tmp_path / "run"
    proc = run_cli("run", "--model", f"onnx:{tiny_onnx}", "--runtime", "onnxruntime", "--runtime", "openvino",
                   "--batch-size", "1", *FAST, "--duration", "1", *extra, "--out", str(out),
                   "--cache-dir", str(tmp_path / "cache"), env=env)
    return proc, _records(out) if (out / "results.jsonl").exists() else {}


def test_a_cell_crashing_between_rounds_fails_alone_and_keeps_what_it_timed(tiny_onnx, tmp_path):
    proc, records = _run(tiny_onnx, tmp_path, "--duration", "2", env={FAULT_VARIABLE: "|openvino|fp32|b1|slice=crash"})
    assert proc.returncode == 1, proc.stderr
    ort, ov = records["onnxruntime"], records["openvino"]
    assert ov["status"] == "failed" and ov["reason"] == "crashed with SIGSEGV"
    assert ort["status"] == "ok" and len(ort["rounds"]) >= 2  # the other cell went on, round after round
    assert ov["latency_ms"] is None  # it crashed before its first slice: nothing was timed


def test_restart_mode_when_the_workers_do_not_fit_together(tiny_onnx, tmp_path, monkeypatch, capsys):
    from edgebench import cli
    from edgebench.pipeline import measure

    monkeypatch.setattr(measure, "MEMORY_HEADROOM", 1e9)  # no second worker ever fits beside the first
    out = tmp_path / "run"
    code = cli.main(["run", "--model", f"onnx:{tiny_onnx}", "--runtime", "onnxruntime", "--runtime", "openvino",
                     "--batch-size", "1", *FAST, "--duration", "1", "--out", str(out),
                     "--cache-dir", str(tmp_path / "cache")])
    assert code == 0, capsys.readouterr().err
    records = _records(out)
    for record in records.values():
        assert record["status"] == "ok"
        assert record["interleave"]["mode"] == "restart" and "do not fit in memory" in record["interleave"]["why"]
        # one fresh worker per round, each slice at least twice what its restart cost
        assert record["timing"]["worker_starts"] == len(record["rounds"]) >= 1
    ort, ov = records["onnxruntime"], records["openvino"]
    assert ort["rounds"][0]["at_s"] < ov["rounds"][0]["at_s"]


def test_stops_at_the_target_or_at_the_cap_and_says_which(tiny_onnx, tmp_path):
    proc, loose = _run(tiny_onnx, tmp_path / "loose", "--median-ci", "50", "--max-duration", "20")
    assert proc.returncode == 0, proc.stderr
    for record in loose.values():
        assert record["p50_precision"]["met"] and record["timing"]["stopped_by"] == "precision"
        assert record["p50_precision"]["half_width_pct"] <= 50 and record["latency_ms"]["n"] >= 6
    proc, tight = _run(tiny_onnx, tmp_path / "tight", "--median-ci", "0.0001", "--max-duration", "1.5")
    assert proc.returncode == 0, proc.stderr
    for record in tight.values():
        ci = record["p50_precision"]
        assert not ci["met"] and ci["stopped_by"] == "time cap" and ci["half_width_pct"] > 0.0001
        assert sum(record["latency_ms"]["samples"]) / 1000 >= 1.5  # the cap counts timed seconds
    assert "(target not met)" in proc.stderr


def test_sustained_runs_each_cell_alone_and_reports_per_minute(tiny_onnx, tmp_path):
    proc, records = _run(tiny_onnx, tmp_path, "--sustained", "0.05")  # 3 s: one (merged) minute
    assert proc.returncode == 0, proc.stderr
    ort, ov = records["onnxruntime"], records["openvino"]
    for record in (ort, ov):
        assert record["interleave"]["mode"] == "sustained" and len(record["rounds"]) == 1
        summary = record["sustained"]
        assert summary["minutes"] == 0.05 and summary["buckets"] and summary["drift_pct"] is None
        assert sum(b["n"] for b in summary["buckets"]) == record["latency_ms"]["n"]
        assert 2.9 <= sum(record["latency_ms"]["samples"]) / 1000 <= summary["elapsed_s"] + 0.01
        assert record["p50_precision"]["stopped_by"] == "sustained"
    # alone: the second cell started after the first had run its whole span
    assert ov["rounds"][0]["at_s"] - ort["rounds"][0]["at_s"] >= 3.0


def test_ctrl_c_mid_group_keeps_the_finished_cells_and_resume_measures_the_rest(tiny_onnx, tmp_path):
    """A hung cell holds its group; Ctrl-C then keeps every cell that finished (the whole first group, the
    other cell of the second) and a resume measures only the one left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    out = tmp_path / "run"
    args = [sys.executable, "-m", "edgebench", "run", "--model", f"onnx:{tiny_onnx}", "--runtime", "onnxruntime",
            "--runtime", "openvino", "--batch-size", "1", "--batch-size", "2", *FAST, "--out", str(out),
            "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, FAULT_VARIABLE: "|openvino|fp32|b2|slice=hang"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (results.exists() and len(results.read_text().splitlines()) >= 2):
        time.sleep(0.5)
    time.sleep(8)  # the second group: ONNX Runtime finishes its first slice, OpenVINO hangs in its own
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    kept = [json.loads(line)["key"].split("|", 1)[1] for line in results.read_text().splitlines()]
    assert sorted(kept) == ["onnxruntime|fp32|b1", "onnxruntime|fp32|b2", "openvino|fp32|b1"], err
    resumed = run_cli("run", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "4 cells (3 already done)" in resumed.stderr
    last = json.loads(results.read_text().splitlines()[-1])
    assert last["key"].endswith("|openvino|fp32|b2") and last["status"] == "ok"


def test_lockstep_times_every_cell_over_the_same_rounds(tiny_onnx, tmp_path, monkeypatch):
    """A cell that may stop early (here: told its precision is reached after its first round) goes on until the
    others may stop too, so that no cell's median comes from a different stretch of time than its rivals'."""
    from edgebench.config import RunConfig, make_profile
    from edgebench.models import resolve_model
    from edgebench.pipeline import measure
    from edgebench.pipeline.plan import plan
    from edgebench.pipeline.sweep import Sweep

    real = measure.stop_reason

    def early_for_onnxruntime(samples, timed_s, profile):
        return "precision" if timed_s > 0 and len(samples) and early_for_onnxruntime.cell == "onnxruntime" \
            else real(samples, timed_s, profile)

    original_slice = measure.GroupMeasure._slice

    def tagged_slice(self, state, number):
        early_for_onnxruntime.cell = state.entry.cell.runtime
        return original_slice(self, state, number)

    monkeypatch.setattr(measure, "stop_reason", early_for_onnxruntime)
    monkeypatch.setattr(measure.GroupMeasure, "_slice", tagged_slice)
    profile = make_profile("quick", min_s=1.5, max_s=1.5, round_s=0.5, target_pct=50)
    config = RunConfig(models=(f"onnx:{tiny_onnx}",), runtimes=("onnxruntime", "openvino"), batch_sizes=(1,),
                       profile=profile, cache_dir=str(tmp_path / "cache"))
    spec = resolve_model(f"onnx:{tiny_onnx}")
    rounds = {}
    for lockstep in (False, True):
        run_dir = tmp_path / f"run-{lockstep}"
        run_dir.mkdir()
        sweep = Sweep(config, [spec], ["onnxruntime", "openvino"], run_dir, say=lambda text: None)
        sweep.begin()
        prepared = sweep.build.prepare(spec)
        records = sweep.measure_group(plan([spec], ["onnxruntime", "openvino"], config), prepared, {}, lockstep=lockstep)
        rounds[lockstep] = {r["runtime"]: [x["round"] for x in r["rounds"]] for r in records.values()}
        assert all(r["interleave"]["lockstep"] is lockstep for r in records.values())
    assert rounds[False]["onnxruntime"] == [0] and len(rounds[False]["openvino"]) >= 3
    assert rounds[True]["onnxruntime"] == rounds[True]["openvino"] and len(rounds[True]["onnxruntime"]) >= 3
