"""The reproduced trade-off table: one row per reference model, in its published order, each measured value
beside the published one. Published numbers are a reference column only (other hardware, Keras)."""
from __future__ import annotations

from typing import Any

from edgebench.reference import reference_rows
from edgebench.report.deployments import finite
from edgebench.report.document import Cell, Table, num, text
from edgebench.report.evalsets import UNTRUSTED_MARK, untrusted_reasons
from edgebench.report.precision import of, suffix

BATCH = 32  # the reference table times a batch of 32


def _fp32_onnx_size(records: list[dict[str, Any]]) -> float | None:
    """Size of the FP32 ONNX file, what the reference's "Size" (the saved model) corresponds to."""
    for r in records:
        if r["status"] == "ok" and r["precision"] == "fp32" and (r.get("artifact") or {}).get("format") == "onnx":
            return r.get("size_mb")
    return None


def _accuracy_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """FP32 accuracy: PyTorch's cell first (the reference outputs), else any FP32 cell with accuracy."""
    fp32 = [r for r in records if r["status"] == "ok" and r["precision"] == "fp32" and r.get("accuracy")]
    fp32.sort(key=lambda r: r["runtime"] != "pytorch")
    return fp32[0]["accuracy"] if fp32 else {}


def _fastest(records: list[dict[str, Any]], kind: str) -> tuple[float | None, str, dict[str, Any]]:
    """The fastest FP32 time per batch of 32 on this kind of device, the runtime that gave it, and how
    precisely its p50 is known (empty for older runs)."""
    timed = [(finite((r.get("latency_ms") or {}).get("p50")), r["runtime"], of(r)) for r in records
             if r["status"] == "ok" and r["precision"] == "fp32" and r["batch_size"] == BATCH
             and r.get("device_kind", "cpu") == kind]
    timed = [t for t in timed if t[0] is not None]
    return min(timed, key=lambda t: (t[0], t[1])) if timed else (None, "", {})


def _why_missing(records: list[dict[str, Any]], kind: str) -> str:
    cells = [r for r in records if r["precision"] == "fp32" and r["batch_size"] == BATCH
             and r.get("device_kind", "cpu") == kind and r["status"] != "ok"]
    if not records:
        return "not in these runs"
    if cells:
        return "; ".join(sorted({f"{r['runtime']} {r['status']}: {r.get('reason') or 'no reason'}" for r in cells}))
    return "no FP32 batch-32 cell measured"


def in_reference_table(results: list[dict[str, Any]]) -> bool:
    """Whether any result measures a model of the published table (a task model's own published figures are
    not that table)."""
    names = {row["model"] for row in reference_rows()}
    return any((r.get("reference") or {}).get("model") in names for r in results)


def reference_rows_for(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per reference row: measured values (None where not measured) and why not."""
    rows = []
    for ref in reference_rows():
        records = [r for r in results if (r.get("reference") or {}).get("model") == ref["model"]]
        acc = _accuracy_record(records)
        cpu, cpu_runtime, cpu_precision = _fastest(records, "cpu")
        gpu, gpu_runtime, gpu_precision = _fastest(records, "gpu")
        notes = []
        if not records:
            notes.append("not in these runs")
        elif all(r["status"] == "skipped" for r in records):
            notes.append(records[0].get("reason") or "skipped")
        else:
            if cpu is None:
                notes.append(f"CPU: {_why_missing(records, 'cpu')}")
            if gpu is None:
                has_gpu = any(r.get("device_kind") == "gpu" for r in results)
                notes.append("GPU: " + (_why_missing(records, "gpu") if has_gpu else "no GPU runtime in these results"))
            if records and not acc:
                notes.append("accuracy: not measured (run with --data)")
            elif acc and not acc.get("representative", True):
                notes.append("* accuracy not representative: " + (", ".join(c.split(":")[0] for c in acc.get("caveats") or []) or "see the results"))
        untrusted = list(dict.fromkeys(reason for r in records for reason in untrusted_reasons(r)))
        if untrusted:
            notes.append("untrusted: " + "; ".join(untrusted))
        params = next((r["params_m"] for r in records if r.get("params_m")), None)
        top1, top5 = finite(acc.get("top1")), finite(acc.get("top5"))
        rows.append({"model": ref["model"], "implementation": records[0]["model"] if records else None,
                     "size_mb": _fp32_onnx_size(records), "top1_pct": None if top1 is None else top1 * 100,
                     "top5_pct": None if top5 is None else top5 * 100, "params_m": params,
                     "cpu_ms_b32": cpu, "cpu_runtime": cpu_runtime, "gpu_ms_b32": gpu, "gpu_runtime": gpu_runtime,
                     "cpu_precision": cpu_precision, "gpu_precision": gpu_precision,
                     "representative": bool(acc) and acc.get("representative", True),
                     "published": {k: ref[k] for k in ("size_mb", "top1", "top5", "params_m", "cpu_ms_b32", "gpu_ms_b32")},
                     "notes": notes, "untrusted": untrusted})
    return rows


def reference_table(results: list[dict[str, Any]]) -> Table:
    columns = ["Model", "Measured as", "Size (MB)", "pub.", "Top-1 %", "pub.", "Top-5 %", "pub.", "Params (M)", "pub.",
               "CPU ms / batch 32", "pub.", "GPU ms / batch 32", "pub.", "Why not measured / notes"]
    out = []
    for row in reference_rows_for(results):
        pub = row["published"]
        mark = "" if row["representative"] else " *"
        top1 = num(row["top1_pct"], 1, suffix=mark)
        top5 = num(row["top5_pct"], 1, suffix=mark)
        cpu, gpu = (Cell(f"{row[f'{k}_ms_b32']:.1f}{suffix(row[f'{k}_precision'])} ({row[f'{k}_runtime']})",
                         row[f"{k}_ms_b32"]) if row[f"{k}_ms_b32"] else Cell("—") for k in ("cpu", "gpu"))
        model = f"{row['model']} {UNTRUSTED_MARK}" if row["untrusted"] else row["model"]
        out.append([text(model), text(row["implementation"] or ""),
                    num(row["size_mb"], 1, missing="—"), num(pub["size_mb"], 0), top1, num(pub["top1"], 1),
                    top5, num(pub["top5"], 1), num(row["params_m"], 1, missing="—"), num(pub["params_m"], 1),
                    cpu, num(pub["cpu_ms_b32"], 1), gpu, num(pub["gpu_ms_b32"], 1), text("; ".join(row["notes"]))])
    return Table(columns=columns, rows=out, numeric={2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
