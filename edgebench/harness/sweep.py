"""The sweep: plan the cells of a run, prepare each model once, run every cell isolated, store each result.

Results are appended the moment a cell ends; ``resume`` skips the cells already in the results file.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from edgebench import __version__
from edgebench.config import RunConfig
from edgebench.errors import ConfigError
from edgebench.harness import env as envmod
from edgebench.harness.isolation import run_isolated
from edgebench.models.spec import ModelSpec
from edgebench.results.schema import SCHEMA_VERSION, base_record
from edgebench.results.store import ResultStore
from edgebench.runtimes import get_runtime

RUN_FILE = "run.json"
ENV_FILE = "environment.json"


@dataclass(frozen=True)
class Cell:
    model: ModelSpec
    runtime: str
    precision: str
    batch_size: int

    @property
    def key(self) -> str:
        return f"{self.model.id}|{self.runtime}|{self.precision}|b{self.batch_size}"

    @property
    def slug(self) -> str:
        return _slug(self.key)


def plan(specs: list[ModelSpec], runtimes: list[str], config: RunConfig) -> list[Cell]:
    """Every (model, runtime, precision, batch) of the run, in table order."""
    return [Cell(spec, runtime, precision, batch)
            for spec in specs for runtime in runtimes
            for precision in config.precisions for batch in config.batch_sizes]


def prepare_run_dir(run_dir: Path, config: RunConfig) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write to output folder {run_dir} ({exc.strerror}); pass --out with a writable folder") from None
    if (run_dir / "results.jsonl").exists():
        raise ConfigError(f"{run_dir} already holds a run; resume it with --resume {run_dir} or choose another --out")
    meta = {"edgebench": __version__, "schema_version": SCHEMA_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "config": config.to_dict()}
    (run_dir / RUN_FILE).write_text(json.dumps(meta, indent=1, default=str))


def load_run_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run folder (no {RUN_FILE}); give the folder an earlier `edgebench run` wrote")
    try:
        return RunConfig.from_dict(json.loads(path.read_text())["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); start a new run instead") from None


class Sweep:
    """Runs the cells of one run folder. ``say`` prints progress (stderr by default)."""

    def __init__(self, config: RunConfig, specs: list[ModelSpec], runtimes: list[str], run_dir: Path,
                 say: Callable[[str], None] | None = None) -> None:
        self.config, self.specs, self.runtimes, self.run_dir = config, specs, runtimes, Path(run_dir)
        self.store = ResultStore(self.run_dir)
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.threads = config.threads or envmod.physical_cores()
        self._online: dict[str, bool] = {}

    def run(self) -> list[dict[str, Any]]:
        removed = self.store.repair()
        if removed:
            self.say(f"dropped a torn last line ({removed} bytes) from an interrupted write")
        environment = envmod.capture(self.config.device_name)
        (self.run_dir / ENV_FILE).write_text(json.dumps(environment, indent=1))
        done = self.store.finished_keys()
        cells = plan(self.specs, self.runtimes, self.config)
        todo = [c for c in cells if c.key not in done]
        position = {c.key: i for i, c in enumerate(cells, 1)}
        self.say(f"edgebench {__version__}: {len(cells)} cells ({len(cells) - len(todo)} already done), "
                 f"{self.threads} threads, timing profile '{self.config.profile.name}', results in {self.run_dir}")
        started = time.monotonic()
        for index, spec in enumerate(self.specs):
            pending = [c for c in todo if c.model.id == spec.id]
            if not pending:
                continue
            prepared = self._prepare(spec) if spec.available else None
            for cell in pending:
                record = self._run_cell(cell, prepared, environment)
                record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                self.store.append(record)
                self.say(_progress_line(position[cell.key], len(cells), record, time.monotonic() - started))
        return self.store.load()

    # -- steps ---------------------------------------------------------------------------------------
    def _online_for(self, spec: ModelSpec) -> bool:
        from edgebench.models.torch_models import hub_reachable

        if self.config.weights == "random" or self.config.checkpoint or spec.source not in ("timm", "torchvision"):
            return False
        if spec.source not in self._online:
            self._online[spec.source] = hub_reachable(spec.source)
            if not self._online[spec.source]:
                self.say(f"the {spec.source} weights hub is not reachable: pretrained weights only from the local cache")
        return self._online[spec.source]

    def _prepare(self, spec: ModelSpec) -> dict[str, Any]:
        self.say(f"preparing {spec.id} (weights, ONNX export, parity check)...")
        job = {"kind": "prepare", "key": f"{spec.id}|prepare", "model": spec.to_dict(), "weights": self.config.weights,
               "checkpoint": self.config.checkpoint, "seed": self.config.seed,
               "cache_dir": str(self.config.cache_path), "online": self._online_for(spec)}
        record = run_isolated(job, self.run_dir / "logs" / _slug(spec.id + "-prepare"),
                              timeout_s=self.config.prepare_timeout_s, env=self._thread_env())
        if record["status"] == "ok":
            weights = record["weights"]
            if weights["weights"] == "random":
                self.say(f"  WARNING {spec.id}: {weights['note']}")
            parity = record.get("parity") or {}
            if parity.get("ok") is False:
                self.say(f"  WARNING {spec.id}: ONNX export does not match PyTorch: {parity}")
            elif "cosine" in parity:
                self.say(f"  {'cached export' if record.get('cached') else 'exported'} ({record.get('exporter')}), "
                         f"parity max abs err {parity['max_abs_err']:.2e}, cosine {parity['cosine']:.6f}")
        else:
            self.say(f"  FAILED to prepare {spec.id}: {record['reason']}")
        return record

    def _run_cell(self, cell: Cell, prepared: dict[str, Any] | None, environment: dict[str, Any]) -> dict[str, Any]:
        record = base_record(cell, self.config, self.threads, prepared, environment)
        if not cell.model.available:
            return {**record, "status": "skipped", "reason": cell.model.unavailable_reason}
        if prepared is None or prepared.get("status") != "ok":
            return {**record, "status": "failed", "reason": f"model preparation failed: {(prepared or {}).get('reason')}"}
        runtime_cls = get_runtime(cell.runtime)
        available = runtime_cls.availability()
        if not available.ok:
            return {**record, "status": "skipped", "reason": available.reason}
        runtime = runtime_cls()
        why_not = runtime.supports(cell.model, cell.precision, cell.batch_size)
        if why_not:
            return {**record, "status": "skipped", "reason": why_not}
        artifact = next((prepared["artifacts"][f] for f in runtime.formats if f in prepared.get("artifacts", {})), None)
        if artifact is None:
            reason = prepared.get("export_error") or f"no {'/'.join(runtime.formats)} artifact was produced"
            return {**record, "status": "failed", "reason": reason}
        job = {"kind": "cell", "key": cell.key, "model": cell.model.to_dict(), "runtime": cell.runtime,
               "precision": cell.precision, "batch_size": cell.batch_size, "threads": self.threads,
               "seed": self.config.seed, "profile": self.config.profile.to_dict(), "artifact": artifact}
        started = time.monotonic()
        measured = run_isolated(job, self.run_dir / "logs" / cell.slug, timeout_s=self.config.cell_timeout_s,
                                env=self._thread_env())
        record.update(measured)
        record["artifact"] = {k: artifact[k] for k in ("path", "format", "precision", "toolchain")}
        record["size_mb"] = _size_mb(artifact["path"])
        record["cell_wall_s"] = round(time.monotonic() - started, 3)
        return record

    def _thread_env(self) -> dict[str, str]:
        # OpenMP/MKL pools read these at start-up; set for the child only, so every runtime gets the same budget.
        n = str(self.threads)
        return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def _size_mb(path: str) -> float | None:
    try:
        return Path(path).stat().st_size / 1e6
    except OSError:
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _progress_line(position: int, total: int, record: dict[str, Any], elapsed_s: float) -> str:
    head = f"[{position:>3}/{total}] {record['model']:<32} {record['runtime']:<12} {record['precision']:<5} b{record['batch_size']:<3}"
    if record["status"] == "ok":
        lat = record["latency_ms"]
        body = f"ok      p50 {lat['p50']:9.3f} ms  cv {lat['cv']:.1%}  n={lat['n']}"
    else:
        body = f"{record['status']:<7} {record['reason']}"
    return f"{head} {body}  [{elapsed_s:6.0f} s]"
