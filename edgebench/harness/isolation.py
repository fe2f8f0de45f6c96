"""Run a job (prepare a model, or measure one cell) in its own process with a time limit.

A crash, a hang or an out-of-memory kill in the child becomes a ``failed`` record with a one-line
reason; the parent goes on (optimum-benchmark's process launcher, timm's bulk_runner).
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: be killed if the parent dies, so a killed sweep leaves no stray workers."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _signal_reason(returncode: int) -> str:
    sig = -returncode
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    if sig == signal.SIGKILL:
        return f"killed by {name} (most often the out-of-memory killer)"
    return f"crashed with {name}"


def _last_line(log_path: Path) -> str:
    try:
        lines = [l.strip() for l in log_path.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def run_isolated(job: dict[str, Any], workdir: Path, *, timeout_s: float, env: dict[str, str] | None = None,
                 python: str | None = None) -> dict[str, Any]:
    """Run ``job`` in ``python -m edgebench.harness.worker``; always returns a record with ``status``."""
    workdir.mkdir(parents=True, exist_ok=True)
    job_path, result_path, log_path = workdir / "job.json", workdir / "result.json", workdir / "log.txt"
    result_path.unlink(missing_ok=True)
    job_path.write_text(json.dumps(job, default=str))
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    command = [python or sys.executable, "-m", "edgebench.harness.worker", str(job_path), str(result_path)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=child_env, start_new_session=True, preexec_fn=_die_with_parent)
        try:
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return {"status": "failed", "reason": f"timed out after {timeout_s:g} s (hung or too slow); raise --timeout"}
        except BaseException:
            _kill_group(proc)  # Ctrl-C or a kill of the sweep: take the child down with us
            raise
    if result_path.exists():
        try:
            return json.loads(result_path.read_text())
        except json.JSONDecodeError:
            pass
    if returncode < 0:
        return {"status": "failed", "reason": _signal_reason(returncode)}
    tail = _last_line(log_path)
    return {"status": "failed", "reason": f"worker exited with code {returncode} and no result" + (f": {tail}" if tail else "")}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
