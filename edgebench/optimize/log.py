"""The search's own log (``search.jsonl``): each stage's record per candidate, appended as it is measured,
so an interrupted search resumes without measuring a stage twice. ``optimize.json`` holds the settings
and, once finished, the outcome."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# optimize.json's name and its reading are shared with report (edgebench.results.search), which never imports optimize.
from edgebench.results.search import SUMMARY, read_summary  # noqa: F401

SEARCH_LOG = "search.jsonl"


class SearchLog:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / SEARCH_LOG

    def append(self, stage: str, key: str, record: dict[str, Any], fate: str | None = None) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps({"stage": stage, "key": key, "fate": fate, "record": record}, default=str) + "\n")

    def load(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{stage: {key: entry}}, the last entry of a key winning; a torn last line is ignored."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        if not self.path.exists():
            return out
        for line in self.path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            out.setdefault(entry["stage"], {})[entry["key"]] = entry
        return out


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    path = Path(run_dir) / SUMMARY
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1, default=str))
    tmp.replace(path)
