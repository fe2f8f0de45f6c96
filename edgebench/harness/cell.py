"""Measure one cell inside its worker process: load, first inference, timed runs, memory, then accuracy
on the evaluation images with the same session (the same artifact that was timed)."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.data.evalset import load_crops
from edgebench.export.artifact import Artifact
from edgebench.harness import accuracy, memory
from edgebench.harness.contention import Watch
from edgebench.harness.env import usable_cpus
from edgebench.harness.timing import TimingProfile, measure
from edgebench.models.spec import ModelSpec
from edgebench.runtimes import get_runtime
from edgebench.runtimes.base import SessionOptions


def input_batch(spec: ModelSpec, batch_size: int, seed: int) -> np.ndarray:
    """The same seeded tensor for every runtime of a run (images come with the accuracy path)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch_size, *spec.input_shape), dtype=np.float32)


def run_cell(job: dict[str, Any]) -> dict[str, Any]:
    spec = ModelSpec.from_dict(job["model"])
    artifact = Artifact.from_dict(job["artifact"])
    profile = TimingProfile(**job["profile"])
    batch_size = int(job["batch_size"])
    runtime = get_runtime(job["runtime"])()
    options = SessionOptions(threads=int(job["threads"]), precision=job["precision"], batch_size=batch_size,
                             cuda_graphs=bool(job.get("cuda_graphs")), cache_dir=job.get("cache_dir"))
    on_gpu = runtime.device == "gpu"
    if on_gpu:
        from edgebench.harness import gpu_memory

        gpu_baseline = gpu_memory.device_used_mb()  # before this process creates its CUDA context

    started = time.perf_counter()
    session = runtime.load(artifact, spec, options)
    load_s = time.perf_counter() - started

    batch = input_batch(spec, batch_size, int(job["seed"]))
    session.check(batch)
    started = time.perf_counter()
    output = session.infer(batch)
    first_ms = (time.perf_counter() - started) * 1000.0
    if output.shape[0] != batch_size:
        return {"status": "failed", "reason": f"output batch {output.shape[0]} != input batch {batch_size}"}
    finite = bool(np.isfinite(output).all())
    rss_after_load = memory.current_rss_mb()
    load_peak = memory.lifetime_peak_rss_mb()  # loading and compiling, before the mark is reset

    # Peak RSS "during inference": reset the kernel's high-water mark after loading, read it after timing.
    scoped = memory.reset_peak_rss()
    device_latency, contention = None, None
    if on_gpu:
        from edgebench.harness.gpu_timing import measure_on_device

        result, device_latency = measure_on_device(session, batch, profile)
    else:
        # Only the model's inference is timed, on an input already in the runtime's own form; the work an
        # application does around it (quantise, convert, copy out) is measured apart below.
        native = session.prepare_input(batch)
        watch = Watch(threads=options.threads, usable_cpus=usable_cpus())
        result = measure(lambda: session.run(native), profile)
        contention = watch.result(result.warmup_iters + result.latency.n)
    latency = result.latency
    peak = memory.peak_rss_mb() if scoped else None
    io_latency = io_latency_ms(session, batch) if session.io_work and not on_gpu else None
    config = {"threads_reported_by": "not readable: this runtime's session does not say",
              "shape": "not recorded by this runtime's session", **session.config}
    record = {
        "status": "ok" if finite else "failed",
        "reason": "" if finite else "the output holds NaN or Inf (timings kept for the record)",
        "latency_ms": latency.to_dict(),
        "device_latency_ms": device_latency.to_dict() if device_latency else None,
        "throughput_ips": batch_size * latency.n / latency.total_s if latency.total_s else math.nan,
        "load_s": load_s,
        "first_inference_ms": first_ms,
        "peak_rss_mb": peak if peak is not None else memory.lifetime_peak_rss_mb(),
        "peak_rss_scope": "inference" if peak is not None else "process lifetime",
        "rss_after_load_mb": rss_after_load,
        "load_peak_rss_mb": load_peak,
        "output_shape": list(output.shape),
        "output_finite": finite,
        "runtime_version": runtime.version(),
        "runtime_config": config,
        "threads_reported": session.threads_reported,
        "static_shape": session.static_shape,
        "timed_span": session.timed_span,
        "io_latency_ms": io_latency,
        "contention": contention,
        "timing": {"profile": profile.name, "warmup_iters": result.warmup_iters, "warmup_s": result.warmup_s,
                   "capped": result.capped, "min_iters": profile.min_iters, "min_s": profile.min_s},
    }
    if on_gpu:
        gpu = gpu_memory.snapshot(session, gpu_baseline)
        record["gpu_memory_mb"], record["gpu_memory"] = gpu["mb"], gpu
    if job.get("eval"):
        record["accuracy"] = cell_accuracy(session, spec, batch_size, job)
    return record


IO_ITERS = 10  # a handful: the figure says what the work around the model costs, not a benchmark of it


def io_latency_ms(session, batch: np.ndarray, iters: int = IO_ITERS) -> dict[str, Any]:
    """Time ``prepare_input`` + ``finish`` (the work around the model that ``run`` does not hold) per call.
    The model runs once, for a real output to finish; finishing reads it again each time, so a slow
    model adds no runs here."""
    raw = session.run(session.prepare_input(batch))
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        session.prepare_input(batch)
        session.finish(raw)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    values = np.asarray(samples)
    return {"p50": float(np.median(values)), "mean": float(values.mean()), "n": len(samples), "unit": "ms",
            "holds": "prepare_input + finish"}


def cell_accuracy(session, spec: ModelSpec, batch_size: int, job: dict[str, Any]) -> dict[str, Any]:
    """Top-1/top-5 on the evaluation images and the comparison with the FP32 reference outputs."""
    ref = job["eval"]
    started = time.perf_counter()
    outputs = accuracy.evaluate(session.infer, load_crops(ref), spec.preprocess, batch_size)
    reference = None
    if job.get("reference_outputs") and Path(job["reference_outputs"]).exists():
        reference = np.load(job["reference_outputs"])
    summary = accuracy.summarize(outputs, np.asarray(ref["labels"]), reference)
    if job.get("predictions_path"):
        # Per-image top-5 classes, so a later report can re-test any pair of cells on the same images.
        np.save(job["predictions_path"], accuracy.topk(outputs, 5).astype(np.int32))
        summary["predictions"] = Path(job["predictions_path"]).name
    summary["eval_s"] = round(time.perf_counter() - started, 3)
    return summary


def reference_outputs(job: dict[str, Any]) -> dict[str, Any]:
    """The ``reference`` job: FP32 outputs of the model's reference runtime on the evaluation images."""
    spec = ModelSpec.from_dict(job["model"])
    runtime = get_runtime(job["runtime"])()
    options = SessionOptions(threads=int(job["threads"]), precision="fp32", batch_size=int(job["batch_size"]))
    session = runtime.load(Artifact.from_dict(job["artifact"]), spec, options)
    ref = job["eval"]
    started = time.perf_counter()
    outputs = accuracy.evaluate(session.infer, load_crops(ref), spec.preprocess, options.batch_size)
    np.save(job["out"], outputs)
    summary = accuracy.summarize(outputs, np.asarray(ref["labels"]), None)
    return {"status": "ok", "runtime": job["runtime"], "outputs": job["out"], "top1": summary["top1"],
            "top5": summary["top5"], "images": summary["images"], "eval_s": round(time.perf_counter() - started, 3)}


