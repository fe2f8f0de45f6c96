"""Measure one cell inside its worker process: load, first inference, warm-up, timed slices, memory, then
accuracy on the evaluation images with the same session (the same artifact that was timed)."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.data.evalset import load_crops
from edgebench.export.artifact import Artifact
from edgebench.harness import accuracy
from edgebench.machine import memory
from edgebench.harness.timing import (CHECK_EVERY_S, LatencyStats, TimingProfile, floor_calls, median_ci_record,
                                      stop_reason)
from edgebench.machine import contention
from edgebench.machine.env import usable_cpus
from edgebench.models.spec import ModelSpec
from edgebench.runtimes import get_runtime
from edgebench.tasks import unlabelled
from edgebench.runtimes.base import SessionOptions


def input_batch(spec: ModelSpec, batch_size: int, seed: int) -> np.ndarray:
    """The same seeded tensor for every runtime of a run (images come with the accuracy path)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch_size, *spec.input_shape), dtype=np.float32)


class CellRunner:
    """One cell inside its worker process, driven step by step: ``load`` (load, first inference, warm-up),
    ``slice`` (timed calls; called once per round), ``finish`` (memory, work around the model, accuracy).
    A worker that stays loaded between rounds serves many slices; a restarted one serves one."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.spec = ModelSpec.from_dict(job["model"])
        self.profile = TimingProfile(**job["profile"])
        self.batch_size = int(job["batch_size"])
        self.runtime = get_runtime(job["runtime"])()
        self.options = SessionOptions(threads=int(job["threads"]), precision=job["precision"],
                                      batch_size=self.batch_size, cuda_graphs=bool(job.get("cuda_graphs")),
                                      cache_dir=job.get("cache_dir"))
        self.on_gpu = self.runtime.device == "gpu"
        self.device_ms: list[float] = []
        self.raw = None  # the last call's output, for finish's io timing (no extra model run)

    def load(self) -> dict[str, Any]:
        if self.on_gpu:
            from edgebench.harness import gpu_memory

            self.gpu_baseline = gpu_memory.device_used_mb()  # before this process creates its CUDA context
        started = time.perf_counter()
        self.session = self.runtime.load(Artifact.from_dict(self.job["artifact"]), self.spec, self.options)
        load_s = time.perf_counter() - started
        self.batch = input_batch(self.spec, self.batch_size, int(self.job["seed"]))
        self.session.check(self.batch)
        started = time.perf_counter()
        if self.on_gpu:
            output = self.session.infer(self.batch)
        else:  # infer's steps, keeping the raw output: a model slower than the warm-up makes no other call
            self.raw = self.session.run(self.session.prepare_input(self.batch))  # before finish's io timing
            output = self.session.finish(self.raw)
        first_ms = (time.perf_counter() - started) * 1000.0
        if output.shape[0] != self.batch_size:
            return {"status": "failed", "reason": f"output batch {output.shape[0]} != input batch {self.batch_size}"}
        self.output_shape, self.finite = list(output.shape), bool(np.isfinite(output).all())
        self.rss_after_load = memory.current_rss_mb()
        self.load_peak = memory.lifetime_peak_rss_mb()  # loading and compiling, before the mark is reset
        self.scoped = memory.reset_peak_rss()  # peak RSS "during inference": read at finish
        self.call = self._gpu_call() if self.on_gpu else self._cpu_call()
        # Warm-up: the first inference counts as one call, so a model slower than warmup_max_s warms once.
        warm, started = 1, time.perf_counter()
        spent = first_ms / 1000.0
        while (warm < self.profile.warmup_iters or spent < self.profile.warmup_s) and spent < self.profile.warmup_max_s:
            self.call()
            warm += 1
            spent = first_ms / 1000.0 + time.perf_counter() - started
        self.device_ms.clear()
        return {"status": "ok", "load_s": load_s, "first_inference_ms": first_ms, "warmup_iters": warm,
                "warmup_s": spent, "rss_mb": memory.current_rss_mb(), "peak_rss_mb": memory.lifetime_peak_rss_mb()}

    def _cpu_call(self):
        # Only the model's inference is timed, on an input already in the runtime's own form; the work an
        # application does around it (quantise, convert, copy out) is measured apart at finish.
        native = self.session.prepare_input(self.batch)
        run = self.session.run

        def call() -> None:
            self.raw = run(native)
        return call

    def _gpu_call(self):
        session, torch = self.session, self.session.torch
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        self._events = (start, end)

        def call() -> None:
            session.upload(self.batch)
            start.record(session.stream)
            session.execute()
            end.record(session.stream)
            session.download()  # synchronises the stream, so both events have completed
        return call

    def slice(self, seconds: float, min_calls: int = 1, rewarm: bool = False) -> dict[str, Any]:
        """Timed calls, one at a time, until ``seconds`` of timed work and ``min_calls`` calls. ``rewarm``: one
        untimed call first, so a fast model starts its slice with warm caches as a loop would."""
        if rewarm:
            self.call()
        samples: list[float] = []
        watch = contention.SliceWatch()  # the cell's CPU and the rest of the machine's over the timed calls
        timed_ns, clock = 0, time.perf_counter_ns
        while True:
            t0 = clock()
            self.call()
            took = clock() - t0
            samples.append(took / 1e6)
            timed_ns += took
            if self.on_gpu:
                start, end = self._events
                self.device_ms.append(start.elapsed_time(end))
            if timed_ns >= seconds * 1e9 and len(samples) >= min_calls:
                break
        return {"status": "ok", "samples": [round(v, 5) for v in samples], **watch.result(),
                "rewarm_calls": int(rewarm)}

    def sustained(self, minutes: float) -> dict[str, Any]:
        """Back-to-back calls for ``minutes`` with per-minute statistics and sensor readings."""
        from edgebench.harness.sustained import run_sustained

        watch = contention.SliceWatch()
        samples, summary = run_sustained(self.call, minutes)
        return {"status": "ok", "samples": [round(v, 5) for v in samples], "sustained": summary, **watch.result(),
                "rewarm_calls": 0}

    def finish(self) -> dict[str, Any]:
        """Everything but the latency: memory, the work around the model, the runtime's own account, accuracy."""
        session = self.session
        peak = memory.peak_rss_mb() if self.scoped else None
        io_latency = io_latency_ms(session, self.batch, self.raw) if session.io_work and not self.on_gpu else None
        config = {"threads_reported_by": "not readable: this runtime's session does not say",
                  "shape": "not recorded by this runtime's session", **session.config}
        record = {
            "status": "ok" if self.finite else "failed",
            "reason": "" if self.finite else "the output holds NaN or Inf (timings kept for the record)",
            "peak_rss_mb": peak if peak is not None else memory.lifetime_peak_rss_mb(),
            "peak_rss_scope": "inference" if peak is not None else "process lifetime",
            "rss_after_load_mb": self.rss_after_load,
            "load_peak_rss_mb": self.load_peak,
            "output_shape": self.output_shape,
            "output_finite": self.finite,
            "runtime_version": self.runtime.version(),
            "runtime_config": config,
            "threads_reported": session.threads_reported,
            "static_shape": session.static_shape,
            "timed_span": session.timed_span,
            "io_latency_ms": io_latency,
        }
        if self.on_gpu:
            from edgebench.harness import gpu_memory

            gpu = gpu_memory.snapshot(session, self.gpu_baseline)
            record["gpu_memory_mb"], record["gpu_memory"] = gpu["mb"], gpu
            if self.device_ms:
                record["device_latency_ms"] = LatencyStats.from_samples(self.device_ms).to_dict()
        if self.job.get("eval"):
            record["accuracy"] = cell_accuracy(session, self.spec, self.batch_size, self.job)
        return record


def run_cell(job: dict[str, Any]) -> dict[str, Any]:
    """A whole cell in one block (``kind: cell`` jobs): load, time until the profile's stopping rule, finish."""
    runner = CellRunner(job)
    loaded = runner.load()
    if loaded["status"] != "ok":
        return loaded
    profile, samples, slices = runner.profile, [], []
    while True:
        part = runner.slice(CHECK_EVERY_S)
        slices.append(part)
        samples.extend(part["samples"])
        reason = stop_reason(samples, sum(samples) / 1000.0, profile)
        if reason:
            break
    record = runner.finish()
    record.update(timed_fields(samples, loaded, profile, reason, job["batch_size"]))
    threads = runner.options.threads
    disturbed = any(contention.interference(part, threads=threads)["disturbed"] for part in slices)
    record["contention"] = contention.judge(slices, threads=threads, usable_cpus=usable_cpus(), contaminated=disturbed)
    return record


def timed_fields(samples: list[float], loaded: dict[str, Any], profile: TimingProfile, stopped_by: str | None,
                 batch_size: int) -> dict[str, Any]:
    """The latency part of a record, from every timed sample of the cell (all rounds)."""
    latency = LatencyStats.from_samples(samples)
    return {
        "latency_ms": latency.to_dict(),
        "throughput_ips": int(batch_size) * latency.n / latency.total_s if latency.total_s else math.nan,
        "load_s": loaded["load_s"],
        "first_inference_ms": loaded["first_inference_ms"],
        "p50_precision": median_ci_record(samples, profile, stopped_by),
        "timing": {"profile": profile.name, "warmup_iters": loaded["warmup_iters"], "warmup_s": loaded["warmup_s"],
                   "capped": stopped_by == "time cap", "stopped_by": stopped_by, "min_iters": profile.min_iters,
                   "min_s": profile.min_s, "max_s": profile.max_s, "target_pct": profile.target_pct,
                   "floor_calls": floor_calls(profile, latency.p50 / 1000.0)},
    }


IO_ITERS = 10  # a handful: the figure says what the work around the model costs, not a benchmark of it


def io_latency_ms(session, batch: np.ndarray, raw, iters: int = IO_ITERS) -> dict[str, Any]:
    """Time ``prepare_input`` + ``finish`` (the work around the model that ``run`` does not hold) per call,
    on the output of the last timed call (finishing reads it again each time: no extra model run)."""
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
    """Top-1/top-5 on the evaluation images and the comparison with the FP32 reference outputs (a detector:
    COCO mAP and its paired change against the FP32 detections)."""
    if spec.task == "detect":
        return _detect_accuracy(session, spec, batch_size, job)
    if spec.task in ("segment", "depth"):
        return _dense_accuracy(session, spec, batch_size, job)
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


def _detect_accuracy(session, spec: ModelSpec, batch_size: int, job: dict[str, Any]) -> dict[str, Any]:
    from edgebench.tasks import detect

    ref, post = job["eval"], detect.Postprocess(**(spec.postprocess or {}))
    started = time.perf_counter()
    found, post_ms = detect.detect_all(session.infer, load_crops(ref), spec.preprocess, batch_size,
                                       ref["geometry"], post)
    reference = None
    if job.get("reference_outputs") and Path(job["reference_outputs"]).exists():
        reference = detect.unpack(np.load(job["reference_outputs"]), len(found))
    labelled = bool(ref.get("annotations"))
    summary = detect.scorer(ref, post).score(found, reference) if labelled else unlabelled("map", len(found))
    if reference is not None:
        summary["fidelity"] = detect.fidelity(found, reference, ref["geometry"])
    summary["postprocess_ms"] = detect.postprocess_summary(post_ms, post)
    if job.get("predictions_path") and labelled:  # every image's boxes, so a later report can re-score any pair
        np.save(job["predictions_path"], detect.pack(found))
        summary["predictions"] = Path(job["predictions_path"]).name
    summary["eval_s"] = round(time.perf_counter() - started, 3)
    return summary


def _dense(session, spec: ModelSpec, batch_size: int, ref: dict[str, Any]):
    """A segmenter's or a depth model's per-image scores against the truth, its maps at the model's output size,
    and the milliseconds of its post-processing per image."""
    post = spec.postprocess or {}
    if spec.task == "segment":
        from edgebench.tasks import segment as task

        targets = task.truths(ref, post.get("segment_labels", "voc")) if ref.get("annotations") else None
        return task.segment_all(session.infer, load_crops(ref), spec.preprocess, batch_size, ref["geometry"], post,
                                targets)
    from edgebench.tasks import depth as task

    return task.depth_all(session.infer, load_crops(ref), spec.preprocess, batch_size, ref["geometry"], post,
                          task.truths(ref) if ref.get("depth_files") else None)


def _dense_scores(spec: ModelSpec, found: list) -> np.ndarray:
    """What a later comparison needs of each image: its confusion matrix, or its AbsRel and δ1."""
    if not found:  # unlabelled images: nothing scored
        return np.zeros(0)
    if spec.task == "segment":
        return np.stack(found).astype(np.int64)
    return np.array([[e["abs_rel"], e["delta1"], e["pixels"]] for e in found], np.float64)


def _dense_summary(spec: ModelSpec, found: list, maps: np.ndarray, reference: dict[str, np.ndarray] | None):
    post = spec.postprocess or {}
    labelled = bool(found)  # unlabelled images: no per-image scores, only fidelity
    if spec.task == "segment":
        from edgebench.tasks import segment

        person = post.get("segment_labels") == "person"
        names = ("background", "person") if person else segment.VOC_CLASSES
        ref_scores = list(reference["scores"]) if reference is not None and labelled else None
        summary = segment.score(found, ref_scores, names=names) if labelled else unlabelled("miou", len(maps))
        if reference is not None:
            summary["fidelity"] = segment.fidelity(maps, reference["maps"], person)
        return summary
    from edgebench.tasks import depth

    ref_errors = ([{"abs_rel": r[0], "delta1": r[1], "pixels": r[2]} for r in reference["scores"]]
                  if reference is not None and labelled else None)
    summary = depth.score(found, ref_errors) if labelled else unlabelled("depth", len(maps))
    if reference is not None:
        summary["fidelity"] = depth.fidelity(list(maps), list(reference["maps"]), post.get("depth_output", "depth"))
    return summary


def _post_summary(spec: ModelSpec, post_ms: list[float]) -> dict[str, Any]:
    values = np.asarray(post_ms) if post_ms else np.zeros(1)
    holds = ("resize to the image (bilinear) + " + ("threshold" if (spec.postprocess or {}).get("segment_labels") ==
                                                     "person" else "argmax") if spec.task == "segment"
             else "resize to the image (bilinear)")
    return {"p50": float(np.median(values)), "mean": float(values.mean()), "n": len(post_ms), "unit": "ms",
            "holds": holds + " per image, numpy/Pillow"}


def _dense_accuracy(session, spec: ModelSpec, batch_size: int, job: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    found, maps, post_ms = _dense(session, spec, batch_size, job["eval"])
    reference = None
    if job.get("reference_outputs") and Path(job["reference_outputs"]).exists():
        with np.load(job["reference_outputs"]) as saved:
            reference = {"scores": saved["scores"], "maps": saved["maps"]}
    summary = _dense_summary(spec, found, maps, reference)
    summary["postprocess_ms"] = _post_summary(spec, post_ms)
    if job.get("predictions_path") and found:  # every image's scores, so a later report can compare any pair
        np.save(job["predictions_path"], _dense_scores(spec, found))
        summary["predictions"] = Path(job["predictions_path"]).name
    summary["eval_s"] = round(time.perf_counter() - started, 3)
    return summary


def reference_outputs(job: dict[str, Any]) -> dict[str, Any]:
    """The ``reference`` job: FP32 outputs of the model's reference runtime on the evaluation images (a
    detector: its detections, packed)."""
    spec = ModelSpec.from_dict(job["model"])
    runtime = get_runtime(job["runtime"])()
    options = SessionOptions(threads=int(job["threads"]), precision="fp32", batch_size=int(job["batch_size"]))
    session = runtime.load(Artifact.from_dict(job["artifact"]), spec, options)
    ref = job["eval"]
    started = time.perf_counter()
    if spec.task == "detect":
        from edgebench.tasks import detect

        post = detect.Postprocess(**(spec.postprocess or {}))
        found, _ = detect.detect_all(session.infer, load_crops(ref), spec.preprocess, options.batch_size,
                                     ref["geometry"], post)
        np.save(job["out"], detect.pack(found))
        summary = detect.scorer(ref, post).score(found) if ref.get("annotations") else unlabelled("map", len(found))
        return {"status": "ok", "runtime": job["runtime"], "outputs": job["out"], "metric": "map",
                "map": summary["map"], "ap50": summary["ap50"], "images": summary["images"],
                **({"labels": False} if summary.get("labels") is False else {}),
                "eval_s": round(time.perf_counter() - started, 3)}
    if spec.task in ("segment", "depth"):
        found, maps, _ = _dense(session, spec, options.batch_size, ref)
        with open(job["out"], "wb") as out:  # one file at the job's path (np.savez would add .npz to a name)
            np.savez(out, scores=_dense_scores(spec, found), maps=maps)
        summary = _dense_summary(spec, found, maps, None)
        return {"status": "ok", "runtime": job["runtime"], "outputs": job["out"], "eval_s":
                round(time.perf_counter() - started, 3), **{k: summary[k] for k in
                                                             ("metric", "images", "miou", "pixel_accuracy", "abs_rel",
                                                              "delta1", "labels") if k in summary}}
    outputs = accuracy.evaluate(session.infer, load_crops(ref), spec.preprocess, options.batch_size)
    np.save(job["out"], outputs)
    summary = accuracy.summarize(outputs, np.asarray(ref["labels"]), None)
    return {"status": "ok", "runtime": job["runtime"], "outputs": job["out"], "top1": summary["top1"],
            "top5": summary["top5"], "images": summary["images"], "eval_s": round(time.perf_counter() - started, 3)}


