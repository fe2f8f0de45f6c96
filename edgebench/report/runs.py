"""Run folders as the report and ``edgebench pick`` read them: results, run metadata, the machine."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.errors import ConfigError
from edgebench.lab.runfolder import is_lab_run, lab_results
from edgebench.report.deployments import by_device
from edgebench.results.search import is_measurement
from edgebench.results.store import RUN_FILE, load_results, read_json


@dataclass(kw_only=True)
class Run:
    path: Path
    results: list[dict[str, Any]]
    meta: dict[str, Any]

    @property
    def devices(self) -> list[str]:
        return list(by_device(self.results))

    @property
    def environments(self) -> dict[str, dict[str, Any]]:
        """Each machine's environment record (one per device in the results)."""
        return {device: next((r["environment"] for r in records if r.get("environment")), {})
                for device, records in by_device(self.results).items()}


def load_run(path: str | Path) -> Run:
    """A run folder's measurements (a lab run's from its store, every board's): its result lines, without those
    an older ``edgebench optimize`` stored for a decision (a screen's probe latency and subset top-1, a full
    evaluation's), which are not measurements (``edgebench.results.search.is_measurement``)."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder; give a run folder written by `edgebench run` (it holds results.jsonl)")
    lab = is_lab_run(path)  # `run --on`: every board's lines are in the store lab.json names
    results = lab_results(path) if lab else [r for r in load_results(path) if is_measurement(r)]
    if not results:
        where = path / ("lab.json" if lab else "results.jsonl")
        raise ConfigError(f"{where} holds no results yet; run (or --resume) it first")
    return Run(path=path, results=results, meta=_run_meta(path / RUN_FILE))


def _run_meta(path: Path) -> dict[str, Any]:
    """The run's configuration (run.json). The results are the source of truth and a run.json may be
    missing; a damaged one is refused rather than read as "no configuration", which would hide it."""
    if not path.exists():
        return {}
    fix = "restore it, or delete it to report the results without the run's configuration"
    meta = read_json(path, fix)
    if not isinstance(meta, dict) or not isinstance(meta.get("config", {}), dict):
        raise ConfigError(f"{path} is not an edgebench run.json (a mapping with a 'config' mapping); {fix}")
    return meta


def load_runs(paths: list[str] | list[Path]) -> list[Run]:
    runs = [load_run(p) for p in paths]
    seen: set[Path] = set()
    for run in runs:
        if run.path.resolve() in seen:
            raise ConfigError(f"{run.path} is given twice; name each run folder once")
        seen.add(run.path.resolve())
    return runs


def all_results(runs: list[Run]) -> list[dict[str, Any]]:
    """Every record of the runs; where two runs measured the same cell on the same device, the later file wins."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        for record in run.results:
            device = (record.get("environment") or {}).get("device") or "unknown device"
            merged[(device, record["key"])] = record
    return list(merged.values())
