"""End-to-end: the real `edgebench run` on tiny models and the real runtimes."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import FAST, REPO, run_cli
from edgebench.harness.worker import FAULT_VARIABLE
from edgebench.models.torch_models import hub_reachable

REQUIRED = ("model", "runtime", "precision", "batch_size", "status", "reason", "latency_ms", "throughput_ips",
            "peak_rss_mb", "size_mb", "params_m", "weights", "parity", "environment", "threads", "load_s",
            "first_inference_ms")


def _results(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_timm_model_on_every_cpu_runtime(tmp_path, cache_dir):
    out = tmp_path / "run"
    proc = run_cli("run", "--model", "timm:test_efficientnet", "--out", str(out), "--cache-dir", str(cache_dir),
                   "--threads", "2", *FAST, "--duration", "2", "--max-duration", "2")
    assert proc.returncode == 0, proc.stderr
    results = _results(out)
    # stored group by group (a model at one batch size), each group in table order
    assert [(r["runtime"], r["batch_size"]) for r in results] == [
        (rt, b) for b in (1, 32) for rt in ("pytorch", "onnxruntime", "openvino")]
    for batch in (1, 32):
        group = [r for r in results if r["batch_size"] == batch]
        # interleaved: the three workers stayed loaded and took turns, round by round
        assert {r["interleave"]["mode"] for r in group} == {"loaded"}
        assert all(r["interleave"]["group"] == f"timm:test_efficientnet|b{batch}" for r in group)
        # at least two seconds of timed calls in one-second slices: two rounds or more, and every cell's first
        # round ran before any cell's second
        assert all(len(r["rounds"]) >= 2 for r in group)
        assert max(r["rounds"][0]["at_s"] for r in group) < min(r["rounds"][1]["at_s"] for r in group)
        for r in group:
            assert [x["round"] for x in r["rounds"]] == list(range(len(r["rounds"])))
            assert sum(x["n"] for x in r["rounds"]) == r["latency_ms"]["n"]
            ci = r["p50_precision"]
            assert ci["lo"] <= r["latency_ms"]["p50"] <= ci["hi"] and ci["target_pct"] == 50
            assert ci["stopped_by"] in ("precision", "time cap") and r["timing"]["stopped_by"] == ci["stopped_by"]
    for r in results:
        assert all(key in r for key in REQUIRED)
        assert r["status"] == "ok", r["reason"]
        lat = r["latency_ms"]
        assert lat["n"] >= 3 and 0 < lat["p50"] <= lat["p99"] and len(lat["samples"]) == lat["n"]
        assert {"p50", "p90", "p99", "mean", "stdev", "cv"} <= set(lat)
        assert r["throughput_ips"] > 0 and r["peak_rss_mb"] > 0 and r["size_mb"] > 0
        assert r["weights"] == "random" and "RANDOM" in r["weights_note"] and r["accuracy"] is None
        assert r["threads"] == 2 and r["parity"]["ok"]
        assert r["environment"]["cpu"] and "onnxruntime" in r["environment"]["versions"]
    assert abs(results[0]["params_m"] - 0.36) < 0.05  # timm's test_efficientnet, counted from the model
    table = (out / "table.md").read_text()
    assert "timm:test_efficientnet" in table and "Random weights" in table
    assert "RANDOM weights" in proc.stderr  # said in the console too
    # The second run exports nothing: the cached export is reused.
    again = run_cli("run", "--model", "timm:test_efficientnet", "--runtime", "onnxruntime", "--batch-size", "1",
                    "--out", str(tmp_path / "again"), "--cache-dir", str(cache_dir), *FAST)
    assert again.returncode == 0 and "cached export" in again.stderr
    assert _results(tmp_path / "again")[0]["export"]["cached"] is True


def test_a_crashing_cell_is_recorded_and_the_sweep_goes_on(tmp_path, tiny_onnx):
    out = tmp_path / "run"
    proc = run_cli("run", "--model", f"onnx:{tiny_onnx}", "--out", str(out), *FAST,
                   env={FAULT_VARIABLE: "|onnxruntime|fp32|b1=crash"})
    assert proc.returncode == 1  # a failed cell makes the exit status non-zero
    results = {(r["runtime"], r["batch_size"]): r for r in _results(out)}
    assert len(results) == 6
    crashed = results[("onnxruntime", 1)]
    assert crashed["status"] == "failed" and crashed["reason"] == "crashed with SIGSEGV"
    assert results[("onnxruntime", 32)]["status"] == "ok" and results[("openvino", 1)]["status"] == "ok"
    assert results[("pytorch", 1)]["status"] == "skipped" and "no PyTorch" in results[("pytorch", 1)]["reason"]
    assert "crashed with SIGSEGV" in (out / "table.md").read_text()
    assert "Traceback" not in proc.stderr


def test_killed_run_resumes_without_redoing_cells(tmp_path, tiny_onnx):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "edgebench", "run", "--model", f"onnx:{tiny_onnx}", "--out", str(out), *FAST]
    # The third cell hangs, so the kill lands at a known point; the hung worker must die with its parent.
    env = {**os.environ, FAULT_VARIABLE: "|onnxruntime|fp32|b32=hang"}
    proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (out / "results.jsonl").exists() and len((out / "results.jsonl").read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # the fourth cell's worker is now hanging
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    import psutil

    strays = [p for p in psutil.process_iter(["cmdline"])
              if "edgebench.harness.worker" in " ".join(p.info["cmdline"] or []) and str(out) in " ".join(p.info["cmdline"] or [])]
    assert strays == []  # the hung worker died with its parent
    before = _results(out)
    assert 3 <= len(before) < 6  # pytorch b1/b32 (skipped), onnxruntime b1 done; b32 hung
    resumed = run_cli("run", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    after = _results(out)
    keys = [r["key"] for r in after]
    assert len(keys) == len(set(keys)) == 6
    assert after[:len(before)] == before  # nothing measured was lost or redone
    assert f"{len(before)} already done" in resumed.stderr


@pytest.mark.skipif(hub_reachable("timm"), reason="the weights hub is reachable here, so pretrained weights would load")
def test_pretrained_weights_that_cannot_be_had_fail_clearly(tmp_path, cache_dir):
    out = tmp_path / "run"
    proc = run_cli("run", "--model", "timm:test_efficientnet", "--weights", "pretrained", "--runtime", "onnxruntime",
                   "--batch-size", "1", "--out", str(out), "--cache-dir", str(cache_dir), *FAST)
    assert proc.returncode == 1
    result = _results(out)[0]
    assert result["status"] == "failed" and "pretrained weights" in result["reason"] and "--weights random" in result["reason"]


def test_checkpoint_weights(tmp_path, cache_dir):
    import timm
    import torch

    torch.manual_seed(3)
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": timm.create_model("test_efficientnet").state_dict()}, path)
    out = tmp_path / "run"
    proc = run_cli("run", "--model", "timm:test_efficientnet", "--checkpoint", str(path), "--runtime", "pytorch",
                   "--runtime", "openvino", "--batch-size", "1", "--out", str(out), "--cache-dir", str(cache_dir), *FAST)
    assert proc.returncode == 0, proc.stderr
    results = _results(out)
    assert {r["weights"] for r in results} == {"checkpoint"} and all(r["status"] == "ok" for r in results)
