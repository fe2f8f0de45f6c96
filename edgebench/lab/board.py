"""What runs on a board during a lab run: ``edgebench lab board WORK -- run ARGS``, started over SSH.

It starts ``edgebench run`` with ``WORK/run`` as its run folder (``--resume`` continues that folder),
and copies each whole line the run appends to its results.jsonl to standard output as soon as it is
written: the host stores it while the board goes on. The run's own file stays the board's durable log.
The last line says how the run ended. If the host goes away (the SSH session closes: SIGHUP, or a
write to it fails), the run is stopped, its finished cells kept for ``--resume``; nothing keeps
measuring on a board nobody holds.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edgebench.lab.lines import CONTROL
from edgebench.results.store import RESULTS_FILE

POLL_S = 0.2
LOG_FILE = "board.log"


def follow(work: Path, run_args: list[str], resume: bool) -> int:
    work.mkdir(parents=True, exist_ok=True)
    lock = _take_over(work)  # held until this process ends: one run of a folder at a time
    run_dir = work / "run"
    if resume and (run_dir / "run.json").exists():
        command = ["run", "--resume", str(run_dir)]
    else:
        command = ["run", *run_args, "--out", str(run_dir)]
    with open(work / LOG_FILE, "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "edgebench", *command], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()} {child.pid}\n")
    lock.flush()

    def stop(*_: object) -> None:
        _stop_group(child)
        sys.exit(129)

    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    offset, partial = 0, b""
    try:
        while True:
            finished = child.poll() is not None
            offset, partial = _send_new_lines(run_dir / RESULTS_FILE, offset, partial)
            if finished:
                break
            time.sleep(POLL_S)
        _write({CONTROL: "exit", "code": child.returncode, "tail": _tail(work / LOG_FILE)})
    except (BrokenPipeError, OSError):  # the host's end is gone
        _stop_group(child)
        return 129
    return 0


def _take_over(work: Path, wait_s: float = 30):
    """The folder's lock. If an earlier run of it still holds it (its host went away, but a network split left
    its SSH session open), that run is stopped first: its finished cells are kept for this one to resume."""
    import fcntl

    lock = open(work / "board.lock", "a+")
    for attempt in range(int(wait_s / POLL_S)):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if attempt == 0 or attempt == int(wait_s / POLL_S) // 2:
                _stop_earlier(work, signal.SIGTERM if attempt == 0 else signal.SIGKILL)
            time.sleep(POLL_S)
    raise SystemExit(f"edgebench lab board: {work} is still in use by an earlier run that does not stop")


def _stop_earlier(work: Path, sig: int) -> None:
    try:
        wrapper, group = (int(n) for n in (work / "board.lock").read_text().split()[:2])
    except (OSError, ValueError):
        return
    for kill in (lambda: os.kill(wrapper, sig), lambda: os.killpg(group, sig)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


def _send_new_lines(path: Path, offset: int, partial: bytes) -> tuple[int, bytes]:
    if not path.exists():
        return offset, partial
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    offset += len(data)
    *lines, partial = (partial + data).split(b"\n")
    for line in lines:
        if line.strip():
            sys.stdout.buffer.write(line + b"\n")
    sys.stdout.buffer.flush()
    return offset, partial


def _write(value: dict) -> None:
    sys.stdout.buffer.write(json.dumps(value).encode() + b"\n")
    sys.stdout.buffer.flush()


def _tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_bytes()[-20000:].decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _stop_group(child: subprocess.Popen) -> None:
    """Stop the run and the cell processes it started (its own process group); Ctrl-C first, so it saves."""
    if child.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
