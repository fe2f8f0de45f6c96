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


def read_json(path: Path, fix: str) -> Any:
    """A JSON file edgebench wrote (run.json, a manifest); a damaged one is a ConfigError ending in ``fix``."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        why = "binary data" if isinstance(exc, UnicodeDecodeError) else f"{exc.msg} at line {exc.lineno}"
        raise ConfigError(f"{path} is damaged ({why}); {fix}") from None


def load_results(path: Path) -> list[dict[str, Any]]:
    """Every whole line of a results file, each checked to be a result record; a torn last line (no
    newline after it: a writer killed mid-line) is ignored."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise ConfigError(f"no results file at {path}; give a run folder written by `edgebench run`")
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = lines.pop() if lines else b""  # empty when the file ends with a newline, as a writer leaves it
    results = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ConfigError(f"{path}:{number} is not a JSON line{' (binary data)' if _binary(raw) else ''}; "
                              "the results file was edited or corrupted, or it is not an edgebench results "
                              "file: restore it from the run folder edgebench wrote") from None
        results.append(check_record(record, f"{path}:{number}"))
    if torn.strip():
        if _binary(torn):
            raise ConfigError(f"{path} is not a text file (binary data); give the results.jsonl of a run folder")
        try:
            record = json.loads(torn.decode("utf-8"))
        except json.JSONDecodeError:
            return results  # torn by a kill mid-write: the cell is measured again on resume
        results.append(check_record(record, f"{path}:{len(lines) + 1}"))
    return results


# Fields a report or a pick cannot do without, and the JSON type of each; other fields may be missing or
# null (older schema versions), but when present must have their type.
REQUIRED = {"key": str, "model": str, "runtime": str, "precision": str, "batch_size": int, "status": str}
OPTIONAL = {"latency_ms": dict, "environment": dict, "accuracy": dict, "size_mb": (int, float),
            "throughput_ips": (int, float), "peak_rss_mb": (int, float), "params_m": (int, float),
            "gpu_memory_mb": (int, float), "warnings": list, "reason": str}
STATUSES = ("ok", "failed", "skipped")
LATENCY_STATS = ("p50", "p90", "p99", "mean")


def check_record(record: Any, where: str) -> dict[str, Any]:
    """``record`` if it is a result record as ``edgebench run`` writes it; else a ConfigError naming the line."""
    hint = "; is this an `edgebench run` results file?"
    if not isinstance(record, dict):
        raise ConfigError(f"{where} is a JSON {type(record).__name__}, not a result record{hint}")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ConfigError(f"{where} is not a result record: it lacks {', '.join(missing)}{hint}")
    for name, kind in {**REQUIRED, **OPTIONAL}.items():
        value = record.get(name)
        if name in REQUIRED or value is not None:
            if not isinstance(value, kind) or isinstance(value, bool):
                wanted = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
                raise ConfigError(f"{where}: field {name!r} should be {wanted}, not {json.dumps(value)[:40]}; "
                                  "the results file was edited or corrupted")
    if record["status"] not in STATUSES:
        raise ConfigError(f"{where}: status {record['status']!r} is not one of {', '.join(STATUSES)}")
    if record["batch_size"] < 1:
        raise ConfigError(f"{where}: batch_size {record['batch_size']} is not a positive integer")
    if record["status"] == "ok":
        latency = record.get("latency_ms") or {}
        bad = [s for s in LATENCY_STATS if not isinstance(latency.get(s), (int, float)) or isinstance(latency.get(s), bool)]
        if bad:
            raise ConfigError(f"{where}: an ok cell without its latency ({', '.join(bad)} missing from latency_ms); "
                              "the results file was edited or corrupted")
    return record


def _binary(raw: bytes) -> bool:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return "\x00" in text
