"""One line of ``results.jsonl``: the fields every cell result carries (documented in the README)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgebench.runtimes import get_runtime

if TYPE_CHECKING:
    from edgebench.config import RunConfig
    from edgebench.pipeline.plan import Cell

# 2: accuracy, quantization, calibration, speed-up vs FP32; 3: GPU timing and memory;
# 4: equal conditions read back (threads_reported, static_shape), the timed span stated (timed_span) with the work
#    around the model measured apart (io_latency_ms), untrusted; environment.usable_cpus is the default thread count
# 5: a model's cells timed in interleaved rounds (rounds, interleave), stopped once the p50 is known
#    (p50_precision, timing.stopped_by), speed-ups with their 95% interval (speedup_vs_fp32_ci), sustained
# 6: every group timed in lockstep until every p50 and every ratio between its cells is known (interleave.group_run,
#    interleave.stopped_by), rounds disturbed by other processes left out (rounds[i].kept, contention.rounds_*),
#    speed-ups from per-round ratios (edgebench.stats.cell_ratio)
SCHEMA_VERSION = 6
# The runtime every deployment's speed-up is measured against, per kind of device.
PYTORCH_BASELINE = {"cpu": "pytorch", "gpu": "pytorch-cuda"}
STATUSES = ("ok", "failed", "skipped")
REFERENCE_FIELDS = ("model", "size_mb", "top1", "top5", "params_m", "cpu_ms_b32", "gpu_ms_b32", "map", "ap50", "miou",
                    "pixel_accuracy", "delta1", "abs_rel", "dataset", "source")


def precision_label(precision: str, variant: str = "") -> str:
    """A precision with its recipe variant, as every table and line names it: "int8 [entropy]"."""
    return f"{precision} [{variant}]" if variant else precision


def base_record(cell: "Cell", config: "RunConfig", threads: int, prepared: dict[str, Any] | None,
                environment: dict[str, Any]) -> dict[str, Any]:
    """The fields known before a cell is measured; measuring fills in latency, memory and status."""
    prepared = prepared if prepared and prepared.get("status") == "ok" else {}
    weights = prepared.get("weights") or {}
    params = prepared.get("params")
    reference = cell.model.reference
    return {
        "schema_version": SCHEMA_VERSION,
        "key": cell.key,
        "model": cell.model.id,
        "source": cell.model.source,
        "runtime": cell.runtime,
        "device_kind": get_runtime(cell.runtime).device,  # "cpu" or "gpu": where the model's kernels run
        "precision": cell.precision,
        "variant": cell.variant,  # "" = the runtime's default recipe for this precision; else an optimize variant
        "batch_size": cell.batch_size,
        "status": "failed",
        "reason": "",
        "latency_ms": None,  # host clock, one call end to end (on a GPU: copies and synchronisation included)
        "device_latency_ms": None,  # GPU cells: CUDA-event time of the model's kernels on the stream
        "throughput_ips": None,
        "load_s": None,
        "first_inference_ms": None,
        "peak_rss_mb": None,
        "gpu_memory_mb": None,  # GPU cells: the process's GPU memory (gpu_memory says how it was read)
        "gpu_memory": None,
        "size_mb": None,
        "params_m": params / 1e6 if params else None,
        "weights": weights.get("weights"),
        "weights_note": weights.get("note"),
        "accuracy": None,  # with --data: top-1/top-5, CIs, and the paired change vs the FP32 reference
        "accuracy_error": None,
        "quantization": None,  # recipe, settings, calibration of a reduced-precision artifact
        "calibration": None,
        "speedup_vs_fp32": None,
        "speedup_vs_fp32_ci": None,  # its 95% interval (edgebench.stats.cell_ratio: paired over shared rounds)
        "slower_than_fp32": None,
        "warnings": [],
        "parity": prepared.get("parity"),
        "export": {k: prepared.get(k) for k in ("exporter", "opset", "cached", "export_s", "export_error")} if prepared else None,
        "threads": threads,  # the thread count every runtime was given (default: the CPUs usable here)
        "threads_reported": None,  # what the runtime reports it uses (runtime_config.threads_reported_by: how)
        "static_shape": None,  # the cell's batch ran as a fixed, compiled shape (runtime_config.shape: how)
        "timed_span": None,  # what latency_ms times, in the runtime's words
        "io_latency_ms": None,  # the work around the model, timed apart: preparing the input, finishing the output
        "untrusted": [],  # one-line reasons why this result must not be recommended
        "p50_precision": None,  # the 95% interval of the median, the half-width reached, the target, why timing stopped
        "rounds": None,  # per round: samples, p50, start time (the group's cells took turns round by round)
        "interleave": None,  # how the cell shared rounds with its group: loaded, restart, single, sustained
        "sustained": None,  # --sustained: p50 per minute, drift, CPU clock and temperatures
        "contention": None,  # CPU use of the cell and of other processes per slice, rounds left out; busy: included
        "input": {"shape": list(cell.model.input_shape), "seed": config.seed, "kind": "seeded N(0,1) tensor"},
        "preprocess": cell.model.to_dict()["preprocess"],
        "task": cell.model.task,  # classify or detect: what ``accuracy`` holds (top-1/top-5, or COCO mAP/AP50)
        "postprocess": cell.model.postprocess,  # detect: decoder, score threshold, NMS IoU, detections kept
        "reference": {k: reference.get(k) for k in REFERENCE_FIELDS} if reference else None,
        "finished_at": None,
        "environment": environment,
    }
