"""What each run was: its machine, libraries, configuration and timing profile (so a number can be trusted
or questioned), and the wall time it took."""
from __future__ import annotations

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
        modes = sorted({(r.get("interleave") or {}).get("mode") for r in results} - {None})
        items.append(f"Timing: each cell stopped once the 95% interval of its p50 was within ±{profile['target_pct']:g}% "
                     f"(at least {profile.get('min_iters')} calls and {profile.get('min_s'):g} s), or at "
                     f"{profile.get('max_s'):g} s of timed calls; a model's cells at one batch size took turns in "
                     f"{profile.get('round_s'):g} s slices (workers: {', '.join(modes) or 'n/a'}).")
    if config:
        what = config.get("suite") or ", ".join(config.get("models") or []) or "quick"  # run's default suite
        items.append(f"Configuration: suite/models {what}; precisions {', '.join(config.get('precisions') or [])}; "
                     f"batch sizes {', '.join(map(str, config.get('batch_sizes') or []))}; weights {config.get('weights')}; "
                     f"images {config.get('data') or 'none (no accuracy)'}"
                     + (f" (limit {config['limit']})" if config.get("limit") else "")
                     + (f"; calibration {config.get('calib_data') or 'a held-out slice'} ({config.get('calib_size')} images)"
                        if "int8" in (config.get("precisions") or []) else "")
                     + ("; CUDA graphs on" if config.get("cuda_graphs") else "") + ".")
    random = sorted({r["model"] for r in results if r.get("weights") == "random"})
    blocks: list[Block] = [Bullets(items)]
    if random:
        blocks.append(Paragraph(f"**Random weights** (pretrained weights could not be obtained here): {', '.join(random)}. "
                                "Latency, memory and size are valid; their top-1/top-5 measure nothing (marked *), "
                                "while agreement with FP32 still shows what a precision changes."))
    return blocks
