"""A bug in edgebench (an exception no part of it expected) becomes one line on the terminal and a log file
with the full traceback: the user sees where to look and what to send, and never a raw traceback in the
middle of a run's output. Nothing here touches a run's results."""
from __future__ import annotations

import os
import platform
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

RUN_MARKERS = ("run.json", "manifest.json")  # a folder holding one of these is a run (or artifacts) folder


def log_folders(command: str | None, options: dict[str, object], started: float) -> list[Path]:
    """Where the log may go, best first: the ``logs/`` of the run (or artifacts) folder this command works
    in, when it has one; else the cache's ``logs/``; else the temporary folder."""
    candidates: list[Path] = []
    for key in ("resume", "out"):
        if command in ("run", "export") and options.get(key):
            candidates.append(Path(str(options[key])))
    if command == "run" and not options.get("out") and not options.get("resume"):
        candidates.extend(_fresh_runs(Path("edgebench-runs"), started))
    folders = [c / "logs" for c in candidates if any((c / m).is_file() for m in RUN_MARKERS)]
    cache = options.get("cache_dir")
    try:
        from edgebench.config import default_cache_dir

        folders.append((Path(str(cache)) if cache else default_cache_dir()) / "logs")
    except Exception:  # the bug may be in that very import; the temporary folder still takes the log
        pass
    folders.append(Path(tempfile.gettempdir()))
    return folders


def _fresh_runs(root: Path, started: float) -> list[Path]:
    """Run folders under the default location made since this command started, newest first."""
    try:
        found = [p for p in root.iterdir() if p.is_dir() and p.stat().st_mtime >= started - 1]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def write_log(exc: BaseException, argv: Sequence[str], folders: list[Path]) -> Path | None:
    """Write the traceback of ``exc`` into the first folder that takes it; None when none does."""
    from edgebench import __version__

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    text = "".join([
        f"edgebench {__version__} internal error at {stamp} UTC\n",
        f"command: edgebench {' '.join(argv)}\n",
        f"cwd: {os.getcwd()}\npython: {sys.version.split()[0]} on {platform.platform()}\n\n",
        *traceback.format_exception(type(exc), exc, exc.__traceback__),
    ])
    for folder in folders:
        path = folder / f"edgebench-error-{stamp}-{os.getpid()}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return path
        except OSError:
            continue
    return None


def one_line(exc: BaseException) -> str:
    """The exception as one short line: its type and the first line of its message."""
    message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
