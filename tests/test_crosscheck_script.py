"""scripts/crosscheck.py: its command line, its plain loops on a tiny real model, and the ±2% verdict."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from conftest import REPO

SCRIPT = REPO / "scripts" / "crosscheck.py"


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def load():
    spec = importlib.util.spec_from_file_location("crosscheck", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_and_bad_input():
    shown = script("--help")
    assert shown.returncode == 0 and "interleaved" in shown.stdout and "--rounds" in shown.stdout
    bad = script("timm:resnet18", "--rounds", "0")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].endswith("--rounds must be at least 1")


def test_plain_loops_run_the_real_runtimes(tiny_onnx):
    """Each plain loop runs in a fresh process on the ONNX file at a fixed batch (the file's batch is free)."""
    crosscheck = load()
    for kind in ("ort-loop", "ov-loop"):
        result = crosscheck.plain_loop(kind, str(tiny_onnx), 1, [2, 3, 32, 32], 0.05)
        assert "error" not in result, result
        assert result["n"] >= 50 and result["median"] > 0 and result["cpu_over_wall"] > 0
    failed = crosscheck.plain_loop("ort-loop", str(tiny_onnx.with_name("missing.onnx")), 1, [1, 3, 32, 32], 0.05)
    assert failed["error"].startswith("ort-loop exited")


def test_ratio_outside_two_percent_is_named():
    crosscheck = load()
    cells = {"onnxruntime": {"p50": 10.0}, "openvino": {"p50": 10.0}}
    rounds = []
    for r, (ort, app, ov) in enumerate([(10.1, 9.0, 9.9), (9.95, 9.2, 10.05), (10.0, 8.9, 10.3)]):
        tools = {"ort-loop": {"median": ort}, "benchmark_app": {"median": app}, "ov-loop": {"median": ov}}
        ratios = {f"{rt}/{tool}": crosscheck.ratio(cells[rt], tools[tool]) for rt, tool in crosscheck.COMPARISONS}
        rounds.append({"round": r, "order": list(crosscheck.STEPS), "edgebench": cells, "tools": tools, "ratios": ratios})
    summary = {row["tool"]: row for row in crosscheck.summarise(rounds)}
    assert not summary["ort-loop"]["outside"] and summary["benchmark_app"]["outside"]
    assert summary["ov-loop"]["rounds_outside"] == [2] and not summary["ov-loop"]["outside"]
    assert summary["benchmark_app"]["ratio_min"] == 10.0 / 9.2 and summary["benchmark_app"]["ratio_max"] == 10.0 / 8.9
    page = crosscheck.render({"model": "m", "batch_size": 1, "threads": 1, "seconds": 1.0, "rounds_requested": 3,
                              "onnx": "m.onnx", "started_at": "t", "rounds": rounds, "summary": list(summary.values())})
    assert page.strip().splitlines()[-1] == "Outside ±2%: openvino / benchmark_app (median 1.111)."
    json.dumps(rounds)  # the raw numbers serialise as written to crosscheck.json
