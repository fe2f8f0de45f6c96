"""CSV files of a report (one row per cell, every status with its reason; one per deployment), and the rule
that makes numbers JSON-safe for report.json and `pick --json`."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from edgebench.report.deployments import device_of, finite, variant_of
from edgebench.report.evalsets import untrusted_reasons
from edgebench.report.precision import of as precision_of

CELL_COLUMNS = ("device", "model", "runtime", "device_kind", "precision", "variant", "batch_size", "status", "reason",
                "p50_ms", "p90_ms", "p99_ms", "mean_ms", "cv", "n", "gpu_compute_p50_ms", "gpu_compute_p99_ms",
                "throughput_ips", "peak_rss_mb", "gpu_memory_mb", "size_mb", "params_m", "weights", "top1_pct", "top5_pct",
                "top1_delta_pt", "top1_delta_verdict", "top1_delta_p", "agreement_pct", "accuracy_representative",
                "speedup_vs_fp32", "threads", "timing_profile", "finished_at", "eval_set_id", "untrusted",
                "threads_reported", "static_shape", "timed_span", "io_p50_ms", "p50_precision_pct", "precision_met",
                "speedup_vs_fp32_lo", "speedup_vs_fp32_hi")


def cell_row(r: dict[str, Any]) -> dict[str, Any]:
    lat = r.get("latency_ms") or {}
    acc = r.get("accuracy") or {}
    versus = acc.get("vs_reference") or {}
    change = versus.get("top1_change") or {}

    def pct(value: float | None) -> float | None:
        value = finite(value)
        return None if value is None else round(value * 100, 4)

    gpu = r.get("device_latency_ms") or {}
    precision = precision_of(r)
    speedup_ci = r.get("speedup_vs_fp32_ci") or {}
    return {"device": device_of(r), "model": r["model"], "runtime": r["runtime"],
            "device_kind": r.get("device_kind") or "cpu", "precision": r["precision"], "variant": variant_of(r),
            "batch_size": r["batch_size"], "status": r["status"], "reason": r.get("reason") or "",
            "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p99_ms": lat.get("p99"), "mean_ms": lat.get("mean"),
            "cv": lat.get("cv"), "n": lat.get("n"), "gpu_compute_p50_ms": gpu.get("p50"),
            "gpu_compute_p99_ms": gpu.get("p99"), "throughput_ips": r.get("throughput_ips"),
            "peak_rss_mb": r.get("peak_rss_mb"), "gpu_memory_mb": r.get("gpu_memory_mb"), "size_mb": r.get("size_mb"), "params_m": r.get("params_m"),
            "weights": r.get("weights"), "top1_pct": pct(acc.get("top1")), "top5_pct": pct(acc.get("top5")),
            "top1_delta_pt": pct(change.get("delta")), "top1_delta_verdict": change.get("verdict"),
            "top1_delta_p": change.get("p_value"), "agreement_pct": pct(versus.get("top1_agreement")),
            "accuracy_representative": acc.get("representative") if acc else None,
            "speedup_vs_fp32": r.get("speedup_vs_fp32"), "threads": r.get("threads"),
            "timing_profile": (r.get("timing") or {}).get("profile"), "finished_at": r.get("finished_at"),
            "eval_set_id": (acc.get("eval_set") or {}).get("eval_id"), "untrusted": "; ".join(untrusted_reasons(r)),
            # schema 4: the thread count the runtime reports, a fixed-shape batch, what the timed call holds, and
            # the work around the model (input conversion, output copy) timed on its own
            "threads_reported": r.get("threads_reported"), "static_shape": r.get("static_shape"),
            "timed_span": r.get("timed_span"), "io_p50_ms": (r.get("io_latency_ms") or {}).get("p50"),
            # issue 14: how precisely the p50 is known (95% interval half-width, % of p50), whether that met the
            # target, and the 95% CI of the speed-up over the runtime's own FP32
            "p50_precision_pct": finite(precision.get("half_width_pct")), "precision_met": precision.get("met"),
            "speedup_vs_fp32_lo": finite(speedup_ci.get("lo")), "speedup_vs_fp32_hi": finite(speedup_ci.get("hi"))}


def write_csv(results: list[dict[str, Any]], deployment_rows: list[dict[str, Any]], out: Path) -> list[Path]:
    cells, deps = out / "cells.csv", out / "deployments.csv"
    with open(cells, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CELL_COLUMNS)
        writer.writeheader()
        writer.writerows(cell_row(r) for r in results)
    columns = list(dict.fromkeys(k for row in deployment_rows for k in row))
    with open(deps, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(deployment_rows)
    return [cells, deps]


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: an unmeasurable number is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
