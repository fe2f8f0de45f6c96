"""What each run was: its machine, libraries, configuration and timing profile (so a number can be trusted
or questioned), and the wall time it took."""
from __future__ import annotations

from collections import Counter

from datetime import datetime
from typing import Any

from edgebench.report.deployments import device_of
from edgebench.report.document import Block, Bullets, Paragraph
from edgebench.report.runs import Run


def _gpu_text(env: dict[str, Any]) -> str:
    gpus = env.get("gpus") or []
    if not gpus:
        return "no GPU"
    return "; ".join(", ".join(f"{k} {v}" for k, v in gpu.items()) if isinstance(gpu, dict) else str(gpu) for gpu in gpus)


def _duration(run: Run) -> str:
    """From the run's start (run.json) to its last finished cell."""
    stamps = [r["finished_at"] for r in run.results if r.get("finished_at")]  # the run's whole span
    created = run.meta.get("created")
    if not stamps or not created:
        return ""
    try:
        seconds = (datetime.fromisoformat(max(stamps)) - datetime.fromisoformat(created)).total_seconds()
    except ValueError:
        return ""
    return f"{seconds / 60:.1f} min from start to the last cell"


def _precisions_text(config: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """The precisions this part of the run measured (a cell ran), not the ones it was asked for; those asked for or
    planned that never ran are named as such."""
    planned = list(dict.fromkeys([*(config.get("precisions") or []), *(r["precision"] for r in results)]))
    measured = [p for p in planned if any(r["precision"] == p and r["status"] == "ok" for r in results)]
    missing = [p for p in planned if p not in measured]
    return (", ".join(measured) or "none measured") + (f" ({', '.join(missing)}: no cell measured)" if missing else "")


def _calibration_text(run: Run, results: list[dict[str, Any]]) -> str:
    """The calibration images actually used: run.json's count (the slice held out, after any cap), else the
    records'; and what a recipe that used fewer used. Empty when no cell was calibrated."""
    calibrated = [r["calibration"] for r in results if isinstance(r.get("calibration"), dict)]
    images = run.meta.get("images") or {}
    config = run.meta.get("config") or {}
    if not calibrated and not (images.get("calib_images") and any(r["precision"] == "int8" for r in results)):
        return ""
    given = images.get("calib_images")
    if given is None:
        counts = [c.get("images_given", c.get("images")) for c in calibrated]
        given = max((c for c in counts if isinstance(c, int)), default=None)
    if calibrated and all(c.get("synthetic") for c in calibrated):
        source = "synthetic images (no --data or --calib-data)"
    else:
        source = config.get("calib_data") or "a held-out slice of the images"
    used = sorted({c["images"] for c in calibrated if isinstance(c.get("images"), int)} - {given})
    return (f"calibration {source} ({given if given is not None else '?'} images"
            + (f"; a recipe used {' or '.join(map(str, used))} of them" if used else "") + ")")


def environment_blocks(run: Run, device: str) -> list[Block]:
    """The run's part on ``device`` (a results file may hold cells of several machines)."""
    results = [r for r in run.results if device_of(r) == device]
    env = next((r["environment"] for r in results if r.get("environment")), {})
    config = run.meta.get("config") or {}
    counts = {s: sum(r["status"] == s for r in results) for s in ("ok", "failed", "skipped")}
    threads = sorted({r["threads"] for r in results if r.get("threads")})
    profiles = sorted({(r.get("timing") or {}).get("profile") for r in results if r.get("timing")} - {None})
    duration = _duration(run)
    versions = ", ".join(f"{k} {v}" for k, v in sorted((env.get("versions") or {}).items()))
    items = [
        f"Run folder `{run.path}`: {len(results)} cells ({counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['skipped']} skipped)" + (f"; started {run.meta['created']}" if run.meta.get("created") else "")
        + (f", {duration}" if duration else "") + ".",
        f"Machine **{env.get('device', '?')}**: {env.get('cpu', '?')}, {env.get('physical_cores', '?')} physical cores, "
        f"{env.get('ram_gb', '?')} GB RAM, ISA {', '.join(env.get('isa') or []) or 'n/a'}; {_gpu_text(env)}.",
        f"{env.get('os', '?')}, {env.get('libc', '')}, Python {env.get('python', '?')}.",
        f"Versions: {versions or 'not recorded'}.",
        f"Threads per runtime: {', '.join(map(str, threads)) or 'n/a'}; timing profile: {', '.join(profiles) or 'n/a'}.",
    ]
    profile = config.get("profile") or {}
    if profile.get("target_pct"):
        items.append(_timing_text(profile, results))
    if config:
        what = config.get("suite") or ", ".join(config.get("models") or []) or "quick"  # run's default suite
        calibration = _calibration_text(run, results)
        items.append(f"Configuration: suite/models {what}; precisions {_precisions_text(config, results)}; "
                     f"batch sizes {', '.join(map(str, config.get('batch_sizes') or []))}; weights {config.get('weights')}; "
                     f"images {config.get('data') or 'none (no accuracy)'}"
                     + (f" (limit {config['limit']})" if config.get("limit") else "")
                     + (f"; {calibration}" if calibration else "")
                     + ("; CUDA graphs on" if config.get("cuda_graphs") else "") + ".")
    random = sorted({r["model"] for r in results if r.get("weights") == "random"})
    blocks: list[Block] = [Bullets(items)]
    if random:
        blocks.append(Paragraph(f"**Random weights** (pretrained weights could not be obtained here): {', '.join(random)}. "
                                "Latency, memory and size are valid; their top-1/top-5 measure nothing (marked *), "
                                "while agreement with FP32 still shows what a precision changes."))
    return blocks


def _timing_text(profile: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """The stopping rule the run's groups followed, and what stopped them."""
    modes = sorted({(r.get("interleave") or {}).get("mode") for r in results} - {None})
    groups: dict[str, str] = {}
    for r in results:
        interleave = r.get("interleave") or {}
        if interleave.get("group_run") and interleave.get("stopped_by"):
            groups[interleave["group_run"]] = interleave["stopped_by"]
    stops = ", ".join(f"{n} by {why}" for why, n in sorted(Counter(groups.values()).items()))
    left_out = sum((r.get("contention") or {}).get("rounds_left_out") or 0 for r in results)
    if groups:
        text = (f"Timing: a model's cells at one batch size were timed in lockstep, every cell in every "
                f"{profile.get('round_s'):g} s round, until every p50 and every ratio between them (vs FP32, vs PyTorch "
                f"FP32, runtime vs runtime) had its 95% interval within ±{profile['target_pct']:g}% (each cell at least "
                f"{profile.get('min_iters')} calls and {profile.get('min_s'):g} s), or the group's cap "
                f"({profile.get('max_s'):g} s of timed calls per cell); groups stopped: {stops}")
        if left_out:
            text += (f"; {left_out} cell-round(s) in which other processes took the CPUs were left out of their cell's p50 and "
                     "ratios")
        return text + f" (workers: {', '.join(modes) or 'n/a'})."
    return (f"Timing: each cell stopped once the 95% interval of its p50 was within ±{profile['target_pct']:g}% "
            f"(at least {profile.get('min_iters')} calls and {profile.get('min_s'):g} s), or at "
            f"{profile.get('max_s'):g} s of timed calls; a model's cells at one batch size took turns in "
            f"{profile.get('round_s'):g} s slices (workers: {', '.join(modes) or 'n/a'}).")
