"""Cross-check edgebench's batch-1 FP32 latency against each runtime's own tooling, back to back.

    python scripts/crosscheck.py RUN_DIR MODEL_ID [--seconds 15]

For the model's onnxruntime and openvino cells in RUN_DIR it times, on the same ONNX file, with the
same thread count: a plain loop over ``InferenceSession.run`` (ONNX Runtime), and OpenVINO's
``benchmark_app`` (sync API, one stream, f32, static shape; benchmark_app takes -nthreads only with -hint none). It prints each median beside
edgebench's p50 and their ratio. Run it right after (or before) `edgebench run` on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def plain_ort_loop(path: str, threads: int, shape: list[int], seconds: float) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    for _ in range(10):
        session.run(None, {name: x})
    samples, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 50:
        t0 = time.perf_counter()
        session.run(None, {name: x})
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def benchmark_app(path: str, threads: int, shape: list[int], seconds: float) -> float:
    tool = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    command = [tool, "-m", path, "-d", "CPU", "-hint", "none", "-nstreams", "1", "-api", "sync", "-nthreads", str(threads),
               "-infer_precision", "f32", "-shape", "[" + ",".join(map(str, shape)) + "]", "-t", str(int(seconds))]
    proc = subprocess.run(command, capture_output=True, text=True)
    out = proc.stdout
    if proc.returncode != 0:
        raise SystemExit(f"benchmark_app failed ({proc.returncode}):\n" + (out + proc.stderr)[-2000:])
    match = re.search(r"Median:\s+([\d.]+)\s+ms", out)
    if not match:
        raise SystemExit("benchmark_app printed no median:\n" + out[-2000:])
    return float(match.group(1))


def b1_fp32_cells(run_dir: str, model: str) -> dict[str, dict]:
    """The ok batch-1 FP32 cells of ``model`` in a run folder, by runtime."""
    rows = [json.loads(line) for line in (Path(run_dir) / "results.jsonl").read_text().splitlines()]
    return {r["runtime"]: r for r in rows if r["model"] == model and r["batch_size"] == 1
            and r["precision"] == "fp32" and r["status"] == "ok"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("model")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    cells = b1_fp32_cells(args.run_dir, args.model)
    tools = {"onnxruntime": ("plain session.run loop", plain_ort_loop), "openvino": ("benchmark_app", benchmark_app)}
    for runtime, (label, timer) in tools.items():
        cell = cells.get(runtime)
        if cell is None:
            print(f"{runtime}: no ok batch-1 cell for {args.model} in {args.run_dir}")
            continue
        native = timer(cell["artifact"]["path"], cell["threads"], [1, *cell["input"]["shape"]], args.seconds)
        ours = cell["latency_ms"]["p50"]
        print(f"{runtime:<12} edgebench p50 {ours:8.3f} ms | {label} median {native:8.3f} ms | ratio {ours / native:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
