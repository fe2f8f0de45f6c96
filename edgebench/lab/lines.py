"""What a board sends back, checked before anything of it is stored.

A board's output is data, never code: each line must be a JSON object, either the board's closing
line (``{"edgebench_lab": "exit", ...}``) or a result record as ``edgebench run`` writes it
(``edgebench.results.store.check_record``) for a cell planned for that board, measured under that
board's name. Anything else (a torn line, noise, a record for another cell or board, a huge line) is
rejected with the board named and is not stored.
"""
from __future__ import annotations

import json
import math
from typing import Any

from edgebench.errors import ConfigError
from edgebench.lab.ssh import printable
from edgebench.results.store import LATENCY_STATS, check_record

FIGURES = ("size_mb", "throughput_ips", "peak_rss_mb", "params_m", "gpu_memory_mb")
MAX_LINE_BYTES = 8 * 1024 * 1024  # a result record is a few kB; its raw samples a few hundred kB at most
CONTROL = "edgebench_lab"


class Rejected(Exception):
    """A board line that is not stored; the message names the board and why."""


def parse_line(raw: bytes, board: str, planned: set[str]) -> dict[str, Any]:
    """A board's line as a record (or its closing line, which has the ``CONTROL`` key); else ``Rejected``."""
    def reject(why: str) -> Rejected:
        return Rejected(f"board {board} sent a line that is not stored: {why}")

    if len(raw) > MAX_LINE_BYTES:
        raise reject(f"{len(raw)} bytes, more than a result line ever is ({MAX_LINE_BYTES})")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: JSON's own, or a 5000-digit number
        raise reject(f"not a JSON line: {raw[:60]!r}") from None
    if isinstance(value, dict) and CONTROL in value:
        if value.get(CONTROL) != "exit" or not isinstance(value.get("code"), int) or isinstance(value.get("code"), bool):
            raise reject(f"a closing line without an exit code: {raw[:80]!r}")
        return {CONTROL: "exit", "code": value["code"], "tail": printable(str(value.get("tail", ""))[-2000:])}
    try:
        record = check_record(value, f"its line {raw[:40]!r}")
    except ConfigError as exc:
        raise reject(str(exc)) from None
    key = record["key"]
    if key not in planned:
        raise reject(f"cell {key!r} was not planned for this board")
    model, runtime, precision, batch = key.split("|")[:4]
    if (record["model"], record["runtime"], record["precision"], f"b{record['batch_size']}") != (model, runtime, precision, batch):
        raise reject(f"its fields do not match its cell {key!r}")
    device = (record.get("environment") or {}).get("device")
    if device != board:
        raise reject(f"measured on {device!r}, not on {board!r}")
    # The figures a table ranks by must be real: NaN or a negative time would sort first in `pick`.
    latency = record.get("latency_ms") or {}
    figures = {f"latency {k}": latency.get(k) for k in LATENCY_STATS}
    figures.update({k: record.get(k) for k in FIGURES})
    bad = [name for name, value in figures.items() if value is not None and not (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0)]
    if bad:
        raise reject(f"{', '.join(bad)} not a finite non-negative number")
    return record
