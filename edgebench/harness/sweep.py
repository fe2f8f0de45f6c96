"""The sweep: plan the cells of a run, prepare each model once, run every cell isolated, store each result.

Results are appended the moment a cell ends; ``resume`` skips the cells already in the results file.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from edgebench import __version__
from edgebench.cache import slug
from edgebench.config import RunConfig
from edgebench.data.evalset import (IMAGE_LISTS, SYNTHETIC_WARNING, ImageSets, materialize, synthetic_crops,
                                    write_image_lists)
from edgebench.errors import ConfigError
from edgebench.harness import env as envmod
from edgebench.harness.isolation import run_isolated
from edgebench.harness.resume import ENV_FILE
from edgebench.harness.trust import untrusted_reasons
from edgebench.models.spec import ModelSpec
from edgebench.results.schema import SCHEMA_VERSION, base_record
from edgebench.results.store import RUN_FILE, ResultStore
from edgebench.runtimes import get_runtime

SLOWER_MARGIN = 1.05  # a reduced precision counts as slower than FP32 beyond run-to-run noise


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
        return slug(self.key)


def plan(specs: list[ModelSpec], runtimes: list[str], config: RunConfig) -> list[Cell]:
    """Every (model, runtime, precision, batch) of the run, in table order."""
    return [Cell(spec, runtime, precision, batch)
            for spec in specs for runtime in runtimes
            for precision in config.precisions for batch in config.batch_sizes]


def prepare_run_dir(run_dir: Path, config: RunConfig, images: ImageSets | None = None) -> None:
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
    if images is not None and (images.has_eval or images.calib_paths):
        described = images.describe()
        meta["images"] = {"files": write_image_lists(images, run_dir), "eval_images": described["eval_images"],
                          "calib_images": described["calib_images"], "calib_source": described["calib_source"],
                          "eval_id": described["eval_id"], "calib_id": described["calib_id"]}
    (run_dir / RUN_FILE).write_text(json.dumps(meta, indent=1, default=str))


def load_run_config(run_dir: Path) -> RunConfig:
    """The configuration of a run folder, after checking it was written by this edgebench and schema."""
    from edgebench.harness.resume import read_run

    return read_run(Path(run_dir))[1]


class Sweep:
    """Runs the cells of one run folder. ``say`` prints progress (stderr by default)."""

    def __init__(self, config: RunConfig, specs: list[ModelSpec], runtimes: list[str], run_dir: Path,
                 say: Callable[[str], None] | None = None, images: ImageSets | None = None) -> None:
        self.config, self.specs, self.runtimes, self.run_dir = config, specs, runtimes, Path(run_dir)
        self.images = images or ImageSets()
        self.store = ResultStore(self.run_dir)
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.threads = config.threads or envmod.usable_cpus()
        self._online: dict[str, bool] = {}
        # The image lists this run folder holds (written when it was created), referenced from the records.
        self.image_files = {kind: name for kind, name in IMAGE_LISTS.items() if (self.run_dir / name).exists()}

    def check_resumable(self) -> None:
        """Refuse to add cells to this folder unless they would be measured as its cells were: same
        machine and software, same plan, threads, seed, timing and images (ConfigError saying what differs).
        Call before ``run``, which rewrites environment.json."""
        from edgebench.harness.resume import check_images, check_machine, check_records

        self.store.repair()
        records = self.store.load()
        check_machine(self.run_dir, self.config, records)
        check_records(self.run_dir, records, plan(self.specs, self.runtimes, self.config), self.threads, self.config,
                      self.images)
        check_images(self.run_dir, self.images)

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
        self._say_images(todo)
        started = time.monotonic()
        finished = {r["key"]: r for r in self.store.load()}
        for spec in self.specs:
            pending = [c for c in todo if c.model.id == spec.id]
            if not pending:
                continue
            prepared = self._prepare(spec) if spec.available else None
            inputs = self._model_inputs(spec, prepared, pending) if prepared and prepared.get("status") == "ok" else {}
            artifacts: dict[tuple[str, str], dict[str, Any]] = {}
            for cell in pending:
                record = self._run_cell(cell, prepared, environment, inputs, artifacts)
                record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                _compare_with_fp32(record, finished)
                self.store.append(record)
                finished[record["key"]] = record
                self.say(_progress_line(position[cell.key], len(cells), record, time.monotonic() - started))
                if (record.get("contention") or {}).get("busy"):
                    self.say(f"      WARNING machine busy: {record['contention']['note']}")
                if record.get("slower_than_fp32"):
                    slow = record["slower_than_fp32"]
                    self.say(f"      WARNING slower than fp32 ({slow['ratio']:.2f}x the fp32 p50): {slow['likely_reason']}")
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
        record = run_isolated(job, self.run_dir / "logs" / slug(spec.id + "-prepare"),
                              timeout_s=self.config.prepare_timeout_s, env=self._thread_env())
        if record["status"] == "ok":
            weights = record["weights"]
            if weights["weights"] == "random":
                self.say(f"  WARNING {spec.id}: {weights['note']}")
            parity = record.get("parity") or {}
            if parity.get("ok") is False:
                self.say(f"  WARNING {spec.id}: {untrusted_reasons(record)[0]}")
            elif "cosine" in parity:
                self.say(f"  {'cached export' if record.get('cached') else 'exported'} ({record.get('exporter')}), "
                         f"parity max abs err {parity['max_abs_err']:.2e}, cosine {parity['cosine']:.6f}")
        else:
            self.say(f"  FAILED to prepare {spec.id}: {record['reason']}")
        return record

    def _say_images(self, todo: list[Cell]) -> None:
        described = self.images.describe()
        if self.images.has_eval:
            data = described["dataset"]
            self.say(f"accuracy on {described['eval_images']} of {data['images']} images in {data['root']} "
                     f"({data['layout']}, {data['classes']} classes); calibration: {described['calib_images']} images "
                     f"({described['calib_source']})")
        if _need_calibration(todo) and self.images.calib_source == "synthetic":
            self.say(f"WARNING: INT8 cells are {SYNTHETIC_WARNING}. Pass --calib-data DIR or --data DIR.")

    def _model_inputs(self, spec: ModelSpec, prepared: dict[str, Any], pending: list[Cell]) -> dict[str, Any]:
        """Per model: the evaluation crops and FP32 reference outputs, and the calibration crops if needed."""
        cache = self.config.cache_path
        inputs: dict[str, Any] = {}
        images = self.images
        if images.has_eval:
            if images.num_classes and spec.num_classes != images.num_classes:
                inputs["eval_error"] = (f"the model predicts {spec.num_classes} classes but the dataset has "
                                        f"{images.num_classes}; give a dataset of the model's classes")
            else:
                inputs["eval"] = materialize([p for p, _ in images.eval_samples], spec.preprocess, cache,
                                             labels=[label for _, label in images.eval_samples], say=self.say)
                inputs["reference"] = self._reference(spec, prepared, inputs["eval"])
        if self._needs_calibration(pending):
            if images.calib_paths:
                inputs["calibration"] = materialize(list(images.calib_paths), spec.preprocess, cache, say=self.say)
            else:
                inputs["calibration"] = synthetic_crops(min(self.config.calib_size, 64), spec.preprocess,
                                                        self.config.seed, cache)
        return inputs

    def _needs_calibration(self, pending: list[Cell]) -> bool:
        return _need_calibration(pending)

    def _reference(self, spec: ModelSpec, prepared: dict[str, Any], eval_ref: dict[str, Any]) -> dict[str, Any]:
        """FP32 outputs on the evaluation images: PyTorch for torch models, ONNX Runtime for an ONNX file."""
        runtime = "pytorch" if "torch" in prepared.get("artifacts", {}) else "onnxruntime"
        fmt = "torch" if runtime == "pytorch" else "onnx"
        out = self.run_dir / "eval" / f"{slug(spec.id)}-reference.npy"
        out.parent.mkdir(parents=True, exist_ok=True)
        job = {"kind": "reference", "key": f"{spec.id}|reference", "model": spec.to_dict(), "runtime": runtime,
               "threads": self.threads, "batch_size": spec.fixed_batch or 32, "eval": eval_ref,
               "artifact": prepared["artifacts"][fmt], "out": str(out)}
        self.say(f"  FP32 reference outputs ({runtime}) on {eval_ref['count']} images...")
        record = run_isolated(job, self.run_dir / "logs" / slug(spec.id + "-reference"),
                              timeout_s=self.config.prepare_timeout_s, env=self._thread_env())
        if record["status"] == "ok":
            self.say(f"  reference top-1 {record['top1']:.2%}, top-5 {record['top5']:.2%}")
        else:
            self.say(f"  FAILED to compute the reference outputs: {record['reason']}")
        return record

    def _artifact(self, cell: Cell, runtime, prepared: dict[str, Any], inputs: dict[str, Any],
                  built: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
        """The artifact a cell runs: the prepared one, or one built by the precision's recipe (once per
        runtime and precision; every batch size shares it). Returns {"artifact"...} or {"reason"...}."""
        recipe = runtime.recipes.get(cell.precision)
        if recipe is None:
            artifact = next((prepared["artifacts"][f] for f in runtime.formats if f in prepared.get("artifacts", {})), None)
            if artifact is None:
                return {"reason": prepared.get("export_error") or f"no {'/'.join(runtime.formats)} artifact was produced"}
            return {"artifact": artifact}
        key = (cell.runtime, cell.precision)
        if key not in built:
            from edgebench.quantize.base import recipe_class
            from edgebench import toolchains

            recipe_cls = recipe_class(recipe)
            source = prepared.get("artifacts", {}).get(recipe_cls.source_format)
            if source is None:
                built[key] = {"reason": prepared.get("export_error") or f"no {recipe_cls.source_format} artifact to convert"}
                return built[key]
            python, missing = toolchains.python_for(recipe_cls.toolchain_env)
            if python is None:
                built[key] = {"skip": missing}
                return built[key]
            calibration = inputs.get("calibration")
            job = {"kind": "quantize", "key": f"{cell.model.id}|{cell.runtime}|{cell.precision}|quantize",
                   "model": cell.model.to_dict(), "source": source, "recipe": recipe,
                   "options": self.config.quant.to_dict(), "calibration": calibration,
                   "batch_sizes": _engine_batches(cell.model, self.config.batch_sizes),
                   "calib_source": self.images.calib_source if calibration and not calibration["synthetic"] else "synthetic",
                   "cache_dir": str(self.config.cache_path)}
            self.say(f"  building {cell.precision} artifact for {cell.runtime} ({recipe.rpartition(':')[2]})...")
            own_env = toolchains.worker_env() if python != sys.executable else {}
            record = run_isolated(job, self.run_dir / "logs" / slug(job["key"]), python=python,
                                  timeout_s=self.config.prepare_timeout_s, env={**self._thread_env(), **own_env})
            if record["status"] != "ok":
                record = {"reason": f"{cell.precision} conversion failed: {record['reason']}"}
            built[key] = record
        return built[key]

    def _run_cell(self, cell: Cell, prepared: dict[str, Any] | None, environment: dict[str, Any],
                  inputs: dict[str, Any], built: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
        record = base_record(cell, self.config, self.threads, prepared, environment)
        record["untrusted"] = untrusted_reasons(prepared)
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
        built_record = self._artifact(cell, runtime, prepared, inputs, built)
        quantization = built_record.get("quantization")
        if quantization:
            record["quantization"] = quantization
            record["calibration"] = quantization.get("calibration")
            calibrated = inputs.get("calibration") or {}
            if record["calibration"] and calibrated and not calibrated.get("synthetic") and "calib" in self.image_files:
                record["calibration"] = {**record["calibration"], "images_file": self.image_files["calib"]}
            if (quantization.get("calibration") or {}).get("synthetic"):
                record["warnings"] = [SYNTHETIC_WARNING]
        if "skip" in built_record:
            return {**record, "status": "skipped", "reason": built_record["skip"]}
        if "artifact" not in built_record:
            return {**record, "status": "failed", "reason": built_record["reason"]}
        artifact = built_record["artifact"]
        job = {"kind": "cell", "key": cell.key, "model": cell.model.to_dict(), "runtime": cell.runtime,
               "precision": cell.precision, "batch_size": cell.batch_size, "threads": self.threads,
               "seed": self.config.seed, "profile": self.config.profile.to_dict(), "artifact": artifact,
               "cuda_graphs": self.config.cuda_graphs, "cache_dir": str(self.config.cache_path)}
        reference = inputs.get("reference") or {}
        if inputs.get("eval"):
            job["eval"] = inputs["eval"]
            job["reference_outputs"] = reference.get("outputs") if reference.get("status") == "ok" else None
            job["predictions_path"] = str(self.run_dir / "eval" / f"{cell.slug}.npy")
        started = time.monotonic()
        measured = run_isolated(job, self.run_dir / "logs" / cell.slug, timeout_s=self.config.cell_timeout_s,
                                env=self._thread_env())
        record.update(measured)
        record["artifact"] = {k: artifact[k] for k in ("path", "format", "precision", "toolchain")}
        record["size_mb"] = _size_mb(artifact)
        record["cell_wall_s"] = round(time.monotonic() - started, 3)
        self._annotate_accuracy(record, inputs, reference)
        return record

    def _annotate_accuracy(self, record: dict[str, Any], inputs: dict[str, Any], reference: dict[str, Any]) -> None:
        """Say what the accuracy of a cell is worth: images used, reference, and whether it is representative."""
        if inputs.get("eval_error"):
            record["accuracy_error"] = inputs["eval_error"]
        accuracy = record.get("accuracy")
        if not accuracy:
            return
        # The crops key names the exact pixels (image list and preprocessing) every cell of the model read.
        accuracy["eval_set"] = {**self.images.describe(), "crops_key": inputs["eval"]["key"],
                                "images_file": self.image_files.get("eval")}
        accuracy["reference"] = {"runtime": reference.get("runtime"), "precision": "fp32",
                                 "status": reference.get("status"), "reason": reference.get("reason")}
        caveats = []
        if record.get("weights") == "random":
            caveats.append("random weights: top-1/top-5 measure nothing; agreement and cosine with the FP32 "
                           "reference still measure the precision's fidelity")
        if (record.get("calibration") or {}).get("synthetic"):
            caveats.append(SYNTHETIC_WARNING)
        if self.images.overlap_forced and record.get("calibration"):
            caveats.append("calibration images overlap the evaluation images (--allow-calib-overlap)")
        accuracy["representative"] = not caveats
        accuracy["caveats"] = caveats

    def _thread_env(self) -> dict[str, str]:
        # OpenMP/MKL pools read these at start-up; set for the child only, so every runtime gets the same budget.
        n = str(self.threads)
        return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def _size_mb(artifact: dict[str, Any]) -> float | None:
    from edgebench.export.artifact import Artifact

    try:
        return Artifact.from_dict(artifact).size_mb
    except OSError:
        return None


def _engine_batches(spec: ModelSpec, batch_sizes: tuple[int, ...]) -> list[int]:
    """The batch sizes a compiled engine must serve (one optimisation profile each)."""
    return [spec.fixed_batch] if spec.fixed_batch else sorted(set(batch_sizes))


def _need_calibration(cells: list[Cell]) -> bool:
    """Whether any cell's precision is built by a recipe that calibrates (INT8, not FP16)."""
    from edgebench.quantize.base import recipe_class

    recipes = {get_runtime(c.runtime).recipes.get(c.precision) for c in cells} - {None}
    return any(recipe_class(path).needs_calibration for path in recipes)


def _compare_with_fp32(record: dict[str, Any], finished: dict[str, dict[str, Any]]) -> None:
    """Flag a reduced-precision cell slower than its FP32 sibling (same model, runtime, batch)."""
    if record["status"] != "ok" or record["precision"] == "fp32":
        return
    sibling = finished.get(f"{record['model']}|{record['runtime']}|fp32|b{record['batch_size']}")
    if not sibling or sibling["status"] != "ok":
        return
    ratio = record["latency_ms"]["p50"] / sibling["latency_ms"]["p50"]
    record["speedup_vs_fp32"] = 1.0 / ratio
    if ratio > SLOWER_MARGIN:
        settings = (record.get("quantization") or {}).get("settings") or {}
        reason = get_runtime(record["runtime"]).slower_reason(record["precision"], settings)
        record["slower_than_fp32"] = {"ratio": ratio, "fp32_p50_ms": sibling["latency_ms"]["p50"],
                                      "likely_reason": reason}


def _progress_line(position: int, total: int, record: dict[str, Any], elapsed_s: float) -> str:
    head = f"[{position:>3}/{total}] {record['model']:<32} {record['runtime']:<12} {record['precision']:<5} b{record['batch_size']:<3}"
    if record["status"] == "ok":
        lat = record["latency_ms"]
        body = f"ok      p50 {lat['p50']:9.3f} ms  cv {lat['cv']:.1%}  n={lat['n']}"
        if record.get("device_latency_ms"):
            body += f"  GPU compute p50 {record['device_latency_ms']['p50']:.3f} ms"
        acc = record.get("accuracy") or {}
        if acc:
            body += f"  top-1 {acc['top1']:.2%}"
            versus = acc.get("vs_reference") or {}
            if versus:
                change = versus["top1_change"]
                body += f" ({change['delta'] * 100:+.2f} pt, {change['verdict']}, agree {versus['top1_agreement']:.1%})"
    else:
        body = f"{record['status']:<7} {record['reason']}"
    return f"{head} {body}  [{elapsed_s:6.0f} s]"
