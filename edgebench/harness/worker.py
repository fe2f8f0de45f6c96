"""Entry point of an isolated worker process.

``python -m edgebench.harness.worker JOB.json RESULT.json`` runs one job and writes one record.
``python -m edgebench.harness.worker --serve JOB.json FD`` holds one cell loaded and answers the parent's
requests (one JSON line each on stdin: ``load``, ``slice``, ``sustained``, ``finish``, ``exit``) with one
JSON line each on file descriptor FD: a model's cells stay loaded while they are timed in turns.

Anything a job raises becomes ``status: failed`` with a one-line reason (the traceback goes to the worker's
log); a crash leaves no record and the parent names the signal.
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
    """Testing hook: ``EDGEBENCH_INJECT_FAULT=<part of a job key>=<crash|kill|hang|raise|exit|parity>`` breaks that
    job (``kill``: SIGKILL, as the out-of-memory killer does). A served cell checks ``<cell key>|slice<n>`` before
    its worker's n-th timed slice, so ``...|b1|slice=crash`` breaks it after it loaded, in the middle of its group's
    rounds, and ``...|b1|slice2=kill`` only a worker that stayed loaded into its second slice; ``...|b1|finish-loaded``
    breaks a worker at finish after it timed slices (not a fresh one started to finish).

    ``parity`` (prepare jobs, ``<model id>|prepare``) is returned, not acted on here: the prepare step
    perturbs a weight of the exported ONNX before its parity check, so the real check fails."""
    spec = os.environ.get(FAULT_VARIABLE, "")
    target, _, mode = spec.rpartition("=")
    if not target or target not in key:
        return None
    if mode == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
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
    if job["kind"] == "build":  # any other build job (LocalBuild.run_builder): the "module:function" it names
        from importlib import import_module

        module, _, function = job["builder"].partition(":")
        return {"status": "ok", **getattr(import_module(module), function)(job)}
    raise ValueError(f"unknown job kind {job['kind']!r}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _guarded(step) -> dict[str, Any]:
    from edgebench.errors import EdgebenchError, NotSupportedHere

    try:
        return step()
    except NotSupportedHere as exc:
        return {"status": "skipped", "reason": str(exc)}
    except EdgebenchError as exc:
        return {"status": "failed", "reason": str(exc)}
    except Exception as exc:  # any runtime error becomes a recorded failure
        traceback.print_exc()
        return {"status": "failed", "reason": _one_line(exc)}


def serve(job: dict[str, Any], reply_fd: int) -> int:
    """Answer the parent's requests for one cell until ``exit`` or the end of stdin."""
    from edgebench.harness.cell import CellRunner

    replies = os.fdopen(reply_fd, "w", buffering=1)
    runner: CellRunner | None = None
    slices = 0

    def load() -> dict[str, Any]:
        nonlocal runner
        inject_fault(job.get("key", ""))
        runner = CellRunner(job)
        return runner.load()

    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "exit":
            break
        if op == "load":
            reply = _guarded(load)
        elif runner is None or op not in ("slice", "sustained", "finish"):
            reply = {"status": "failed", "reason": f"unexpected request {op!r} (load first; then slice, sustained, finish)"}
        else:
            if op == "slice":
                slices += 1
                inject_fault(job.get("key", "") + f"|slice{slices}")  # ``<cell key>|slice=crash``: between rounds
            elif op == "finish":  # ``<cell key>|finish-loaded=kill``: at finish, in a worker that timed slices
                inject_fault(job.get("key", "") + f"|finish-{'loaded' if slices else 'fresh'}")
            reply = _guarded(lambda: getattr(runner, op)(**request))
        replies.write(json.dumps(reply, default=str) + "\n")
        if reply.get("status") != "ok" or op == "finish":
            break
    replies.close()
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--serve":
        return serve(json.loads(Path(argv[1]).read_text()), int(argv[2]))
    job_path, result_path = Path(argv[0]), Path(argv[1])
    job = json.loads(job_path.read_text())
    if not job.get("online", True):
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: no retries against a dead network
    record = _guarded(lambda: run_job(job))
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, default=str))
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
