"""Append-only JSON Lines store of cell results.

Each result is written as one ``write`` of a whole line and flushed to disk as soon as its cell ends,
so a run killed at any moment leaves only whole lines (a torn last line is dropped on resume).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgebench.errors import ConfigError

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"  # the run's configuration, written beside the results when a run starts


class ResultStore:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / RESULTS_FILE

    def repair(self) -> int:
        """Cut a torn last line (from a killed writer); returns the bytes removed."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        with open(self.path, "r+b") as handle:
            handle.truncate(keep)
        return len(data) - keep

    def append(self, result: dict[str, Any]) -> None:
        line = (json.dumps(result, separators=(",", ":"), default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def load(self) -> list[dict[str, Any]]:
        return load_results(self.path) if self.path.exists() else []

    def finished_keys(self) -> set[str]:
        return {r["key"] for r in self.load() if "key" in r}


def load_results(path: Path) -> list[dict[str, Any]]:
    """Every whole line of a results file; a torn last line is ignored."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise ConfigError(f"no results file at {path}; give a run folder written by `edgebench run`")
    results = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            results.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn by a kill mid-write
            raise ConfigError(f"{path}:{number} is not valid JSON; the results file was edited or corrupted") from None
    return results
