"""Result records in the results-file schema, for report and pick tests (no runtime is under test there)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def record(model: str = "timm:m", runtime: str = "onnxruntime", precision: str = "fp32", batch: int = 1, *,
           p50: float = 10.0, spread: float = 0.02, n: int = 60, device: str = "box", status: str = "ok",
           reason: str = "", top1: float | None = 0.75, delta: float | None = 0.0, verdict: str = "no significant change",
           size_mb: float = 14.0, peak_rss_mb: float = 300.0, seed: int = 0, reference: dict | None = None,
           **extra: Any) -> dict[str, Any]:
    """One cell's record; latency samples are drawn around ``p50`` with relative spread ``spread``."""
    ok = status == "ok"
    samples = (p50 * (1 + spread * np.random.default_rng(seed).standard_normal(n))).tolist() if ok else []
    latency = None
    if ok:
        arr = np.asarray(samples)
        latency = {"n": n, "p50": float(np.median(arr)), "p90": float(np.percentile(arr, 90)),
                   "p99": float(np.percentile(arr, 99)), "mean": float(arr.mean()), "stdev": float(arr.std()),
                   "cv": float(arr.std() / arr.mean()), "min": float(arr.min()), "max": float(arr.max()),
                   "unit": "ms", "samples": samples}
    accuracy = None
    if ok and top1 is not None:
        accuracy = {"images": 500, "top1": top1, "top1_ci95": [top1 - 0.04, top1 + 0.04], "top5": min(1.0, top1 + 0.15),
                    "top5_ci95": [0, 1], "representative": True}
        if delta is not None:
            accuracy["vs_reference"] = {"top1_change": {"delta": delta, "ci95": [delta - 0.01, delta + 0.01],
                                                        "p_value": 0.5 if verdict == "no significant change" else 0.001,
                                                        "verdict": verdict},
                                        "top1_agreement": 0.99}
    return {"schema_version": 2, "key": f"{model}|{runtime}|{precision}|b{batch}", "model": model, "source": "timm",
            "runtime": runtime, "device_kind": "cpu", "precision": precision, "batch_size": batch, "status": status,
            "reason": reason, "latency_ms": latency, "throughput_ips": batch * 1000.0 / p50 if ok else None,
            "peak_rss_mb": peak_rss_mb if ok else None, "size_mb": size_mb if ok else None, "params_m": 3.5,
            "weights": "pretrained", "accuracy": accuracy, "threads": 2, "reference": reference,
            "timing": {"profile": "default"} if ok else None,
            "environment": {"device": device, "cpu": "Test CPU", "physical_cores": 2, "ram_gb": 8, "isa": ["avx2"],
                            "os": "Linux", "python": "3.11", "versions": {"onnxruntime": "1.0"}},
            **extra}


def write_run(run_dir: Path, records: list[dict[str, Any]]) -> Path:
    """A run folder as `edgebench run` leaves it (results.jsonl and run.json)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run_dir / "run.json").write_text(json.dumps({"edgebench": "test", "schema_version": 2,
                                                  "created": "2026-01-01T00:00:00+00:00", "config": {}}))
    return run_dir


def on_images(rec: dict[str, Any], root: str, eval_id: str, images: int = 500) -> dict[str, Any]:
    """The record's accuracy measured on the image list ``eval_id`` of the folder ``root``."""
    rec["accuracy"]["eval_set"] = {"dataset": {"root": root, "images": images}, "eval_images": images,
                                   "eval_id": eval_id, "crops_key": f"{eval_id}-crops"}
    return rec


def in_rounds(rec: dict[str, Any], rounds: int = 6, *, target_pct: float = 1.0,
              stopped_by: str | None = None) -> dict[str, Any]:
    """The record as the stop-when-known engine writes it: its samples cut into ``rounds`` rounds, and the
    precision its samples really reach (edgebench.stats.median_interval), met or not against ``target_pct``."""
    from edgebench.stats import median_interval

    samples = rec["latency_ms"]["samples"]
    cuts = np.array_split(np.asarray(samples), rounds)
    rec["rounds"] = [{"round": i, "n": len(part), "p50": float(np.median(part)), "at_s": 0.5 * i}
                     for i, part in enumerate(cuts)]
    interval = median_interval(samples)
    met = interval.reached_level and interval.half_width_pct <= target_pct
    rec["p50_precision"] = {"target_pct": target_pct, "half_width_pct": interval.half_width_pct, "lo": interval.lo,
                        "hi": interval.hi, "confidence": interval.confidence, "reached_level": interval.reached_level,
                        "met": met, "stopped_by": stopped_by or ("precision" if met else "time cap"),
                        "n": interval.n, "method": interval.method}
    rec["interleave"] = {"mode": "loaded", "group": f"{rec['model']}|b{rec['batch_size']}", "cells": 2,
                         "why": "test"}
    return rec


def with_speedup(rec: dict[str, Any], fp32: dict[str, Any]) -> dict[str, Any]:
    """``speedup_vs_fp32`` and its CI over ``fp32`` (the runtime's own FP32 cell), as the engine records them."""
    from edgebench.stats import ratio_interval, rounds_of

    ci = ratio_interval(rounds_of(fp32), rounds_of(rec))
    rec["speedup_vs_fp32"] = ci["ratio"]
    rec["speedup_vs_fp32_ci"] = {"lo": ci["lo"], "hi": ci["hi"], "confidence": ci["confidence"], "method": ci["method"]}
    return rec


def sustained(p50_per_minute: list[float], *, mhz: list[float] | None = None, temps: list[float] | None = None,
              merged_tail: bool = False, nominal: bool = False) -> dict[str, Any]:
    """A record's ``sustained`` summary as `edgebench run --sustained` writes it (harness/sustained.py)."""
    def reading(i: int) -> dict[str, Any]:
        cpu = None
        if mhz:
            cpu = {"mean": mhz[i], "min": mhz[i], "max": mhz[i], "source": "psutil.cpu_freq" if nominal else
                   "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"}
            if nominal:
                cpu["note"] = "no cpufreq driver: /proc/cpuinfo's nominal clock, may not follow throttling"
        return {"cpu_mhz": cpu, "temps_c": {"cpu-thermal": temps[i]} if temps else None}

    buckets = [{"minute": i, "n": 100, "p50": p50, "p90": p50 * 1.05, "span_s": 60.0, **reading(i)}
               for i, p50 in enumerate(p50_per_minute)]
    drift = (p50_per_minute[-1] / p50_per_minute[0] - 1) * 100 if len(p50_per_minute) > 1 else None
    return {"minutes": float(len(p50_per_minute)), "bucket_s": 60.0, "buckets": buckets, "drift_pct": drift,
            "merged_tail": merged_tail, "elapsed_s": 60.0 * len(p50_per_minute), "sensors_start": reading(0),
            "sensors_end": reading(len(p50_per_minute) - 1),
            "sensors_note": "sensors: CPU frequency from a fake sysfs" if mhz else "sensors: none readable here (a VM)"}
