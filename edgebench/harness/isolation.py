"""Run a job (prepare a model, or measure one cell) in its own process with a time limit, or hold a cell
loaded in its own process (``Worker``) and send it requests, each with a time limit.

A crash, a hang or an out-of-memory kill in the child becomes a ``failed`` record with a one-line
reason; the parent goes on (optimum-benchmark's process launcher, timm's bulk_runner).
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import select
import subprocess
import sys
import time
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


class Worker:
    """A cell held loaded in its own process (``worker --serve``): ``request`` sends one step and waits for its
    reply. A crash, a hang past the time limit or an out-of-memory kill becomes a ``failed`` reply, and the
    process is gone; the caller records the cell as failed and goes on with the others."""

    def __init__(self, job: dict[str, Any], workdir: Path, *, env: dict[str, str] | None = None,
                 python: str | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        job_path, self.log_path = workdir / "job.json", workdir / "log.txt"
        job_path.write_text(json.dumps(job, default=str))
        read_fd, write_fd = os.pipe()
        child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        command = [python or sys.executable, "-m", "edgebench.harness.worker", "--serve", str(job_path), str(write_fd)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                                         env=child_env, start_new_session=True, preexec_fn=_die_with_parent,
                                         pass_fds=(write_fd,))
        os.close(write_fd)
        self.replies = read_fd
        self.buffer = b""

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, op: str, timeout_s: float, **arguments: Any) -> dict[str, Any]:
        if not self.alive:
            return self._gone()
        try:
            self.proc.stdin.write((json.dumps({"op": op, **arguments}) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._gone()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            ready = select.select([self.replies], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self.kill()
                return {"status": "failed", "reason": f"timed out after {timeout_s:g} s (hung or too slow); raise --timeout"}
            chunk = os.read(self.replies, 1 << 20)
            if not chunk:
                return self._gone()
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def _gone(self) -> dict[str, Any]:
        """The process ended without a reply: name the signal, or the exit code and the log's last line."""
        try:
            returncode = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            returncode = self.proc.returncode
        self.close()
        if returncode < 0:
            return {"status": "failed", "reason": _signal_reason(returncode)}
        tail = _last_line(self.log_path)
        return {"status": "failed",
                "reason": f"worker exited with code {returncode} and no result" + (f": {tail}" if tail else "")}

    def close(self) -> None:
        """Let the process go (``exit``), killing it if it does not end within a few seconds."""
        if self.alive:
            try:
                self.proc.stdin.write(b'{"op": "exit"}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.kill()
        if self.replies is not None:
            os.close(self.replies)
            self.replies = None

    def kill(self) -> None:
        if self.alive:
            _kill_group(self.proc)
        if self.replies is not None:
            os.close(self.replies)
            self.replies = None
