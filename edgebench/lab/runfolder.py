"""A lab run's folder on the host: ``lab.json`` (the run id, its store, its boards) beside run.json.

``report``, ``pick`` and ``run --resume`` find a lab run by this file and read its results from the
store it names. A cell a board never sent is read as a failed row that says why (``device-lost``:
the board dropped; ``failed``: its edgebench ended without it; ``pending``: not measured yet), so a
table never hides a cell that is missing.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgebench.errors import ConfigError
from edgebench.results.store import read_json

LAB_FILE = "lab.json"


def is_lab_run(run_dir: Path) -> bool:
    return (Path(run_dir) / LAB_FILE).is_file()


def read_lab(run_dir: Path) -> dict[str, Any]:
    lab = read_json(Path(run_dir) / LAB_FILE, "restore it from a copy; the results are in the store it names")
    if not isinstance(lab, dict) or not isinstance(lab.get("run_id"), str) or not isinstance(lab.get("boards"), dict):
        raise ConfigError(f"{Path(run_dir) / LAB_FILE} is not an edgebench lab file (no run_id or boards)")
    return lab


def write_lab(run_dir: Path, lab: dict[str, Any]) -> None:
    path = Path(run_dir) / LAB_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(lab, indent=1, default=str))
    temporary.replace(path)


def store_location(run_dir: Path, lab: dict[str, Any]) -> str:
    """The store's URL, or its SQLite file (a relative name is in the run folder)."""
    store = lab["store"]
    return store if "://" in store else str(Path(run_dir) / store)


def check_run(store: Any, run_id: str) -> None:
    """A store that does not hold the run lab.json names is refused (a new, empty one would read as no results)."""
    import sqlite3

    try:
        found = store.run_meta(run_id) is not None
    except sqlite3.Error:  # an SQLite file without the lab's tables
        found = False
    if not found:
        raise ConfigError(f"the store {store.where} holds no lab run {run_id}; lab.json and its store do not belong "
                          "together: restore the store this run wrote")


def lab_results(run_dir: Path) -> list[dict[str, Any]]:
    """Every record of a lab run: the boards' result lines, and a failed row for each cell not received."""
    from edgebench.lab.store import open_store
    from edgebench.results.schema import SCHEMA_VERSION

    lab = read_lab(run_dir)
    store = open_store(store_location(run_dir, lab), create=False, read_only=True)
    try:
        check_run(store, lab["run_id"])
        records = store.results(lab["run_id"])
        for board, key, state, reason in store.cells(lab["run_id"]):
            if state == "done":
                continue
            model, runtime, precision, batch, *variant = key.split("|")
            records.append({
                "schema_version": SCHEMA_VERSION, "key": key, "model": model, "runtime": runtime,
                "precision": precision, "variant": "".join(variant), "batch_size": int(batch[1:]), "status": "failed",
                "reason": f"{state}: {reason}" if reason else state, "lab_state": state, "warnings": [],
                "environment": {"device": board},
            })
    finally:
        store.close()
    return records
