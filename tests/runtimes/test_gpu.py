"""The GPU runtimes on a real NVIDIA GPU: outputs match the CPU's FP32 reference, reduced precisions keep
accuracy, and every GPU cell carries device time, host time and GPU memory. Each test skips, with the
runtime's own reason, where the GPU or the runtime's libraries are missing (as in CI)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FAST, run_cli

from edgebench.export.artifact import Artifact
from edgebench.harness.cell import input_batch
from edgebench.runtimes import get_runtime
from edgebench.runtimes.base import SessionOptions

pytestmark = pytest.mark.gpu


def need(name: str) -> None:
    available = get_runtime(name).availability()
    if not available.ok:
        pytest.skip(f"{name}: {available.reason}")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


@pytest.mark.parametrize("name, precision, cosine", [
    ("pytorch-cuda", "fp32", 0.99999), ("pytorch-cuda", "tf32", 0.999), ("pytorch-cuda", "fp16", 0.99),
    ("pytorch-cuda-compile", "fp32", 0.9999), ("onnxruntime-cuda", "fp32", 0.99999),
])
@pytest.mark.parametrize("graphs", [False, True])
def test_gpu_session_matches_the_cpu(prepared_timm, name, precision, cosine, graphs):
    need(name)
    spec, record = prepared_timm
    batch = input_batch(spec, 4, seed=0)
    cpu = get_runtime("pytorch")().load(Artifact.from_dict(record["artifacts"]["torch"]), spec,
                                        SessionOptions(threads=2, precision="fp32", batch_size=4))
    runtime = get_runtime(name)()
    artifact = Artifact.from_dict(record["artifacts"][runtime.formats[0]])
    session = runtime.load(artifact, spec, SessionOptions(threads=2, precision=precision, batch_size=4,
                                                          cuda_graphs=graphs))
    expected = cpu.infer(batch)
    for _ in range(2):  # a replayed graph must read the new input, not the captured one
        got = session.infer(batch)
        assert got.shape == expected.shape and got.dtype == np.float32
        assert _cosine(got, expected) > cosine
    other = input_batch(spec, 4, seed=1)
    assert _cosine(session.infer(other), cpu.infer(other)) > cosine


def _run(tmp_path, runtime: str, precisions: list[str], image_task, *extra: str) -> list[dict]:
    root = image_task["root"]
    run_dir = tmp_path / runtime
    args = ["run", "--model", f"onnx:{root / 'net.onnx'}", "--runtime", runtime, "--batch-size", "1",
            "--batch-size", "8", "--data", str(root / "val"), "--calib-size", "40", "--out", str(run_dir), *FAST]
    for precision in precisions:
        args += ["--precision", precision]
    result = run_cli(*args, *extra)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("runtime, precisions", [
    ("tensorrt", ["fp32", "tf32", "fp16", "int8", "best"]),
    ("onnxruntime-cuda", ["fp32", "tf32", "fp16"]),
    ("onnxruntime-trt", ["tf32", "fp16", "int8"]),
])
def test_gpu_cells_keep_accuracy_and_record_device_time_and_memory(tmp_path, image_task, runtime, precisions):
    need(runtime)
    records = _run(tmp_path, runtime, precisions, image_task)
    ok = [r for r in records if r["status"] == "ok"]
    assert ok, [(r["key"], r["reason"]) for r in records]
    for r in records:
        if r["status"] == "skipped":
            assert r["reason"]
            continue
        assert r["status"] == "ok", (r["key"], r["reason"])
        assert r["device_kind"] == "gpu" and r["environment"]["gpus"]
        device, host = r["device_latency_ms"], r["latency_ms"]
        assert device["n"] == host["n"] and 0 < device["p50"] <= host["p50"] * 1.05  # kernels inside the call
        assert r["gpu_memory_mb"] > 0 and r["gpu_memory"]["scope"]
        change = r["accuracy"]["vs_reference"]
        assert abs(change["top1_change"]["delta"]) <= 0.03 and change["top1_agreement"] >= 0.95, (r["key"], change)
    if runtime == "tensorrt":
        engines = {r["artifact"]["path"] for r in ok}
        assert all(path.endswith(".engine") for path in engines)
        assert len(engines) == len({r["precision"] for r in ok})  # one engine per precision serves both batches
        again = _run(tmp_path / "again", runtime, ["fp32"], image_task)
        assert again[0]["quantization"]["cached"]  # the engine came from the cache


def test_cuda_graphs_replay_in_a_run(tmp_path, image_task):
    need("tensorrt")
    records = _run(tmp_path, "tensorrt", ["fp16"], image_task, "--cuda-graphs")
    for r in records:
        assert r["status"] == "ok" and r["runtime_config"]["cuda_graphs"] is True
        assert abs(r["accuracy"]["vs_reference"]["top1_change"]["delta"]) <= 0.03
