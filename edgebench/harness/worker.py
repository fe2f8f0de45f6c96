"""Entry point of an isolated worker process: ``python -m edgebench.harness.worker JOB.json RESULT.json``.

It runs one job and writes one record. Anything it raises becomes ``status: failed`` with a one-line
reason (the traceback goes to the worker's log); a crash leaves no record and the parent names the signal.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

FAULT_VARIABLE = "EDGEBENCH_INJECT_FAULT"


def inject_fault(key: str) -> str | None:
    """Testing hook: ``EDGEBENCH_INJECT_FAULT=<part of a job key>=<crash|hang|raise|exit|parity>`` breaks that job.

    ``parity`` (prepare jobs, ``<model id>|prepare``) is returned, not acted on here: the prepare step
    perturbs a weight of the exported ONNX before its parity check, so the real check fails."""
    spec = os.environ.get(FAULT_VARIABLE, "")
    target, _, mode = spec.rpartition("=")
    if not target or target not in key:
        return None
    if mode == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif mode == "hang":
        while True:
            time.sleep(60)
    elif mode == "exit":
        os._exit(3)
    elif mode == "raise":
        raise RuntimeError(f"fault injected into {key}")
    return mode


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    fault = inject_fault(job.get("key", ""))
    if job["kind"] == "prepare":
        from edgebench.export.prepare import prepare
        from edgebench.models.spec import ModelSpec

        record = prepare(ModelSpec.from_dict(job["model"]), weights=job["weights"], checkpoint=job.get("checkpoint"),
                         seed=job["seed"], cache_dir=Path(job["cache_dir"]), online=job.get("online", False),
                         corrupt_export=fault == "parity")
        return {"status": "ok", **record}
    if job["kind"] == "cell":
        from edgebench.harness.cell import run_cell

        return run_cell(job)
    if job["kind"] == "reference":
        from edgebench.harness.cell import reference_outputs

        return reference_outputs(job)
    if job["kind"] == "quantize":
        from edgebench.quantize.build import build_artifact

        return {"status": "ok", **build_artifact(job)}
    raise ValueError(f"unknown job kind {job['kind']!r}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def main(argv: list[str]) -> int:
    job_path, result_path = Path(argv[0]), Path(argv[1])
    job = json.loads(job_path.read_text())
    if not job.get("online", True):
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: no retries against a dead network
    from edgebench.errors import EdgebenchError, NotSupportedHere

    try:
        record = run_job(job)
    except NotSupportedHere as exc:
        record = {"status": "skipped", "reason": str(exc)}
    except EdgebenchError as exc:
        record = {"status": "failed", "reason": str(exc)}
    except Exception as exc:  # any runtime error becomes a recorded failure
        traceback.print_exc()
        record = {"status": "failed", "reason": _one_line(exc)}
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, default=str))
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
