"""The published trade-off table edgebench reproduces (Keras Applications, batch of 32).

Its numbers are a reference column only: they are printed beside measured values, never copied into them.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from typing import Any

_NUMERIC = ("size_mb", "top1", "top5", "params_m", "cpu_ms_b32", "gpu_ms_b32")


@lru_cache(maxsize=1)
def reference_rows() -> tuple[dict[str, Any], ...]:
    """Rows of the reference table in its published order."""
    text = resources.files("edgebench.data").joinpath("seed_tradeoff_table.csv").read_text()
    rows = []
    for row in csv.DictReader(text.splitlines()):
        parsed: dict[str, Any] = dict(row)
        for key in _NUMERIC:
            parsed[key] = float(row[key]) if row.get(key) else None
        parsed["timm_equivalent"] = row.get("timm_equivalent") or None
        rows.append(parsed)
    return tuple(rows)


def reference_for_timm(name: str) -> dict[str, Any] | None:
    """The reference row whose timm equivalent is ``name``, if any."""
    for row in reference_rows():
        if row["timm_equivalent"] == name:
            return dict(row)
    return None
