"""The run's tables: per model, params and size, and per runtime the FP32 p50 at batch 1 and the time
per batch of 32 (the reference table's columns) with the published Keras numbers beside them; then one
row per model, runtime and precision with speed, size and accuracy against the FP32 reference."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

REFERENCE_BATCH = 32


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _cell_text(record: dict[str, Any] | None) -> str:
    if record is None:
        return ""
    if record["status"] == "ok":
        return _fmt(record["latency_ms"]["p50"])
    return record["status"]


def _column_keys(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """FP32 columns (the reference table's precision); other precisions are in ``precision_table``."""
    keys: list[tuple[str, str]] = []
    for r in results:
        key = (r["runtime"], r["precision"])
        if key not in keys and r["precision"] == "fp32":
            keys.append(key)
    return keys


def _model_size(rows: list[dict[str, Any]]) -> float | None:
    """Size of the FP32 ONNX file (what the reference table's size counts), else any measured artifact."""
    for r in rows:
        artifact = r.get("artifact") or {}
        if artifact.get("format") == "onnx" and r.get("precision") == "fp32" and r.get("size_mb"):
            return r["size_mb"]
    return next((r["size_mb"] for r in rows if r.get("size_mb")), None)


def markdown_table(results: list[dict[str, Any]]) -> str:
    """One Markdown table of a run (all devices' rows must be filtered by the caller)."""
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_model[r["model"]].append(r)
    columns = _column_keys(results)
    batch_sizes = sorted({r["batch_size"] for r in results})
    small = 1 if 1 in batch_sizes else (batch_sizes[0] if batch_sizes else 1)
    big = REFERENCE_BATCH if REFERENCE_BATCH in batch_sizes else (batch_sizes[-1] if batch_sizes else 1)

    header = ["Model", "Weights", "Params (M)", "Size (MB)"]
    for runtime, precision in columns:
        header.append(f"{runtime} {precision} b{small} p50 (ms)")
        if big != small:
            header.append(f"{runtime} {precision} ms / batch {big}")
    header += ["Published size (MB)", "Published params (M)", "Published CPU ms / batch 32"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, rows in by_model.items():
        first = rows[0]
        index = {(r["runtime"], r["precision"], r["batch_size"]): r for r in rows}
        ref = first.get("reference") or {}
        row = [model, first.get("weights") or "", _fmt(first.get("params_m")), _fmt(_model_size(rows), 1)]
        for runtime, precision in columns:
            row.append(_cell_text(index.get((runtime, precision, small))))
            if big != small:
                row.append(_cell_text(index.get((runtime, precision, big))))
        row += [_fmt(ref.get("size_mb"), 0), _fmt(ref.get("params_m"), 1), _fmt(ref.get("cpu_ms_b32"), 1)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


def _accuracy_cells(record: dict[str, Any] | None) -> list[str]:
    acc = (record or {}).get("accuracy") or {}
    if not acc:
        return ["", "", "", ""]
    mark = "" if acc.get("representative", True) else " *"
    low, high = acc["top1_ci95"]
    top1 = f"{_pct(acc['top1'])} [{low * 100:.1f}, {high * 100:.1f}]{mark}"
    versus = acc.get("vs_reference") or {}
    if not versus:
        return [top1, _pct(acc["top5"]), "", ""]
    change = versus["top1_change"]
    delta = f"{change['delta'] * 100:+.2f} ({change['verdict']}, p={change['p_value']:.2g})"
    return [top1, _pct(acc["top5"]), delta, f"{versus['top1_agreement'] * 100:.1f}"]


def precision_table(results: list[dict[str, Any]]) -> str:
    """One row per (model, runtime, precision) that ran: speed at both batch sizes, size, accuracy, change
    against the FP32 reference on the same images, and speed-up against the same runtime's FP32."""
    batch_sizes = sorted({r["batch_size"] for r in results})
    small, big = batch_sizes[0], batch_sizes[-1]
    header = ["Model", "Runtime", "Precision", f"b{small} p50 (ms)", f"b{small} speed-up vs fp32"]
    if big != small:
        header.append(f"ms / batch {big}")
    header += ["Size (MB)", "Top-1 % [95% CI]", "Top-5 %", "Δ top-1 vs FP32 reference (pt)", "Agreement %"]
    rows: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = {}
    for r in results:
        if r["status"] != "skipped":
            rows.setdefault((r["model"], r["runtime"], r["precision"]), {})[r["batch_size"]] = r
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (model, runtime, precision), by_batch in rows.items():
        first, last = by_batch.get(small), by_batch.get(big)
        sample = next(iter(by_batch.values()))
        speedup = (first or {}).get("speedup_vs_fp32")
        flag = " (slower)" if (first or {}).get("slower_than_fp32") else ""
        row = [model, runtime, precision, _cell_text(first), f"{speedup:.2f}x{flag}" if speedup else ""]
        if big != small:
            row.append(_cell_text(last))
        accurate = next((r for r in (last, first) if r and r.get("accuracy")), None)
        row += [_fmt(sample.get("size_mb"), 2), *_accuracy_cells(accurate)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def problems(results: list[dict[str, Any]]) -> list[str]:
    """A line per failed or skipped cell, with its reason."""
    return [f"- `{r['key']}`: **{r['status']}**: {r.get('reason') or 'no reason recorded'}"
            for r in results if r["status"] != "ok"]


def render_run(results: list[dict[str, Any]], title: str) -> str:
    """The whole Markdown page of one run."""
    env = results[0]["environment"] if results else {}
    parts = [f"# {title}", ""]
    if env:
        versions = ", ".join(f"{k} {v}" for k, v in sorted(env.get("versions", {}).items()))
        parts += [f"Device **{env.get('device')}**: {env.get('cpu')} ({env.get('physical_cores')} cores, "
                  f"{env.get('ram_gb')} GB RAM, ISA: {', '.join(env.get('isa', [])) or 'n/a'}), {env.get('os')}, "
                  f"Python {env.get('python')}.", "", f"Versions: {versions}.", ""]
    threads = sorted({r["threads"] for r in results})
    ok = [r for r in results if r["status"] == "ok"]
    profiles = sorted({r["timing"]["profile"] for r in ok if r.get("timing")})
    parts.append(f"Threads per runtime: {', '.join(map(str, threads))}. Timing profile: {', '.join(profiles) or 'n/a'}. "
                 "Latency is the median (p50) of timed runs after warm-up, per call; Size is the FP32 ONNX file. "
                 "Published columns are the Keras Applications table (reference only, other hardware).")
    parts.append("")
    random_models = sorted({r["model"] for r in results if r.get("weights") == "random"})
    if random_models:
        parts += [f"**Random weights** (pretrained weights could not be obtained or were not asked for): "
                  f"{', '.join(random_models)}. Latency and size are valid; no accuracy is reported for them.", ""]
    parts += [markdown_table(results), ""]
    if any(r["precision"] != "fp32" or r.get("accuracy") for r in results):
        parts += ["## Precisions and accuracy", "",
                  "Δ top-1 is paired against the FP32 reference outputs on the same images (McNemar's exact test); "
                  "agreement is the share of images whose top-1 class matches the reference. "
                  "* marks accuracy that is not representative (random weights or synthetic calibration).", "",
                  precision_table(results), ""]
        slow = [f"- `{r['key']}`: {r['slower_than_fp32']['ratio']:.2f}x the FP32 p50; likely: "
                f"{r['slower_than_fp32']['likely_reason']}" for r in ok if r.get("slower_than_fp32")]
        if slow:
            parts += ["**Slower than FP32:**", "", *slow, ""]
    capped = [r["key"] for r in ok if (r.get("timing") or {}).get("capped")]
    if capped:
        parts += ["Cells stopped by the duration cap before the minimum iteration count: " + ", ".join(capped), ""]
    issues = problems(results)
    if issues:
        parts += ["## Failed or skipped cells", "", *issues, ""]
    return "\n".join(parts)
