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
    run_dir = work / "run"
    if resume and (run_dir / "run.json").exists():
        command = ["run", "--resume", str(run_dir)]
    else:
        command = ["run", *run_args, "--out", str(run_dir)]
    with open(work / LOG_FILE, "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "edgebench", *command], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)

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
