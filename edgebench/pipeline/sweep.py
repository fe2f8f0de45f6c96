"""A run: plan its cells, build what each model needs, measure each model's cells group by group (a model at
one batch size, timed in interleaved rounds), and store each result.

Results are appended as each group ends (a reduced precision's speed-up is taken against its FP32 sibling
of the same rounds); ``resume`` skips the cells already in the results file.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from edgebench import __version__
from edgebench.config import RunConfig
from edgebench.data.evalset import IMAGE_LISTS, SYNTHETIC_WARNING, ImageSets, write_image_lists
from edgebench.errors import ConfigError
from edgebench.harness.trust import untrusted_reasons
from edgebench.machine import env as envmod
from edgebench.machine import host_speed
from edgebench.models.spec import ModelSpec
from edgebench.pipeline.build import LocalBuild, calibration_warning, thread_env
from edgebench.pipeline.estimate import cell_seconds
from edgebench.pipeline.measure import Entry, GroupMeasure
from edgebench.tasks import fidelity_text
from edgebench.pipeline.plan import Cell, plan, skip_reason
from edgebench.pipeline.resume import ENV_FILE
from edgebench.results.schema import SCHEMA_VERSION, base_record, precision_label
from edgebench.results.store import RUN_FILE, ResultStore
from edgebench.runtimes import get_runtime

SLOWER_MARGIN = 1.05  # a reduced precision counts as slower than FP32 beyond run-to-run noise


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
    from edgebench.pipeline.resume import read_run

    return read_run(Path(run_dir))[1]


class Sweep:
    """Runs the cells of one run folder. ``build`` is where artifacts come from (default: built here);
    ``progress`` shows what runs now (default: lines on stderr)."""

    def __init__(self, config: RunConfig, specs: list[ModelSpec], runtimes: list[str], run_dir: Path,
                 say: Callable[[str], None] | None = None, images: ImageSets | None = None,
                 build: LocalBuild | None = None, progress=None) -> None:
        self.config, self.specs, self.runtimes, self.run_dir = config, specs, runtimes, Path(run_dir)
        self.images = images or ImageSets()
        self.store = ResultStore(self.run_dir)
        self.progress = progress
        self.say = say or (progress.log if progress else (lambda text: print(text, file=sys.stderr, flush=True)))
        self.threads = config.threads or envmod.usable_cpus()
        self.build = build or LocalBuild(config, self.images, self.run_dir / "logs", self.threads, self.say)
        # The image lists this run folder holds (written when it was created), referenced from the records.
        self.image_files = {kind: name for kind, name in IMAGE_LISTS.items() if (self.run_dir / name).exists()}
        self.work: dict[str, float] = {}  # expected seconds per cell key: the progress estimate's weights
        # The fastest this machine has run the host-speed probe, kept beside the cache (edgebench.machine.host_speed).
        self.host_baseline = host_speed.Baseline(config.cache_path)

    def check_resumable(self) -> None:
        """Refuse to add cells to this folder unless they would be measured as its cells were: same
        machine and software, same plan, threads, seed, timing and images (ConfigError saying what differs).
        Call before ``run``, which rewrites environment.json."""
        from edgebench.pipeline.resume import check_images, check_machine, check_records

        self.store.repair()
        records = self.store.load()
        check_machine(self.run_dir, self.config, records)
        check_records(self.run_dir, records, plan(self.specs, self.runtimes, self.config), self.threads, self.config,
                      self.images)
        check_images(self.run_dir, self.images)

    def begin(self) -> None:
        """Before measuring: repair the results file, record the environment, read the finished cells."""
        removed = self.store.repair()
        if removed:
            self.say(f"dropped a torn last line ({removed} bytes) from an interrupted write")
        self.environment = envmod.capture(self.config.device_name)
        (self.run_dir / ENV_FILE).write_text(json.dumps(self.environment, indent=1))
        self.finished = {r["key"]: r for r in self.store.load()}

    def run(self) -> list[dict[str, Any]]:
        self.begin()
        done = self.store.finished_keys()
        cells = plan(self.specs, self.runtimes, self.config)
        todo = [c for c in cells if c.key not in done]
        self.say(f"edgebench {__version__}: {len(cells)} cells ({len(cells) - len(todo)} already done), "
                 f"{self.threads} threads, timing profile '{self.config.profile.name}' (median to "
                 f"±{self.config.profile.target_pct:g}%), results in {self.run_dir}")
        self._say_images(todo)
        if self.progress:
            # A model's quantised artifact serves all its batch sizes: its quantisation weighs on the first cell.
            quantised, calib = set(), self.build.calibration_count()
            self.work = {}
            for c in todo:
                first = (c.model.id, c.runtime, c.precision, c.variant) not in quantised
                quantised.add((c.model.id, c.runtime, c.precision, c.variant))
                self.work[c.key] = cell_seconds(c, self.config.profile, calib if first else 0)
            self.progress.add_work(sum(self.work.values()), cells=len(todo))
        for spec in self.specs:
            pending = [c for c in todo if c.model.id == spec.id]
            if pending:
                self._run_model(spec, pending)
        return self.store.load()

    # -- one model: build, then measure each batch size's group ------------------------------------------
    def _run_model(self, spec: ModelSpec, pending: list[Cell]) -> None:
        runnable = [c for c in pending if not skip_reason(c)]
        prepared = self.build.prepare(spec) if runnable else None
        inputs = {}
        if prepared and prepared.get("status") == "ok":
            inputs = self.build.model_inputs(spec, prepared, runnable, reference_dir=self.run_dir / "eval")
        for batch in dict.fromkeys(c.batch_size for c in pending):
            group = [c for c in pending if c.batch_size == batch]
            records = self.measure_group(group, prepared, inputs)
            self.store_group([records[c.key] for c in group])

    def measure_group(self, group: list[Cell], prepared: dict[str, Any] | None, inputs: dict[str, Any],
                      profile=None, keep_on_interrupt: bool = True) -> dict[str, dict[str, Any]]:
        """Build and measure the cells of one group (lockstep rounds) with ``profile`` (default: the run's);
        their records by key, not yet stored. On Ctrl-C or a bug the finished cells are stored first, unless
        ``keep_on_interrupt`` is False (records that are not results: ``optimize``'s probes and evaluations)."""
        entries, records = [], {}
        for cell in group:
            outcome = self.entry(cell, prepared, inputs)
            if isinstance(outcome, Entry):
                entries.append(outcome)
            else:
                records[cell.key] = outcome
        if not entries:
            return records
        profile = profile or self.config.profile
        for entry in entries:
            entry.job["profile"] = profile.to_dict()
        group_measure = GroupMeasure(entries, profile, timeout_s=self.config.cell_timeout_s,
                                     log_dir=self.run_dir / "logs", env=thread_env(self.threads),
                                     threads=self.threads, usable_cpus=envmod.usable_cpus(),
                                     sustained_min=self.config.sustained_min,
                                     status=self.progress.status if self.progress else (lambda text: None),
                                     host=self.host_baseline)
        try:
            measured = group_measure.run()
        except BaseException:  # Ctrl-C or a bug: keep the cells that finished; resume measures the rest
            if keep_on_interrupt:
                self.store_group([*records.values(), *group_measure.completed()])
            raise
        for entry, record in zip(entries, measured):
            self._annotate_accuracy(record, inputs, inputs.get("reference") or {})
            records[entry.cell.key] = record
        return records

    def store_group(self, records: list[dict[str, Any]]) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for record in records:
            record["finished_at"] = record.get("finished_at") or stamp
            self.build.annotate(record)
        by_key = {r["key"]: r for r in records}
        for record in records:
            compare_with_fp32(record, {**self.finished, **by_key})
        for record in records:
            self.store.append(record)
            self.finished[record["key"]] = record
            self.say(progress_line(record))
            contention = record.get("contention") or {}
            if contention.get("busy"):
                self.say(f"      WARNING machine busy: {contention['note']}")
            elif contention.get("rounds_left_out"):
                self.say(f"      note: {contention['note']}")
            forks = (record.get("timing") or {}).get("forks") or {}
            if forks.get("disagree"):
                self.say(f"      WARNING its worker processes disagree: p50 by process {forks['p50']} ms; this "
                         "speed belongs to a process, not to the deployment (measure it again)")
            if contention.get("host_slow") and record is records[-1]:  # once per group: its cells share the probes
                self.say(f"      WARNING host slow: {contention['host_note']}")
            if record.get("slower_than_fp32"):
                slow = record["slower_than_fp32"]
                self.say(f"      WARNING slower than fp32 ({slow['ratio']:.2f}x the fp32 p50): {slow['likely_reason']}")
            if self.progress:
                self.progress.advance(1, weight=self.work.get(record["key"], 1.0 + record["batch_size"] / 4.0))

    def entry(self, cell: Cell, prepared: dict[str, Any] | None, inputs: dict[str, Any]) -> Entry | dict[str, Any]:
        """The cell ready to measure, or its final record when it is skipped or its build failed."""
        record = base_record(cell, self.config, self.threads, prepared, self.environment)
        record["untrusted"] = untrusted_reasons(prepared)
        why_not = skip_reason(cell)
        if why_not:
            return {**record, "status": "skipped", "reason": why_not}
        if prepared is None or prepared.get("status") != "ok":
            return {**record, "status": "failed", "reason": f"model preparation failed: {(prepared or {}).get('reason')}"}
        built = self.build.artifact(cell, prepared, inputs)
        quantization = built.get("quantization")
        if quantization:
            record["quantization"] = quantization
            record["calibration"] = quantization.get("calibration")
            calibrated = inputs.get("calibration") or {}
            if record["calibration"] and calibrated and not calibrated.get("synthetic") and "calib" in self.image_files:
                record["calibration"] = {**record["calibration"], "images_file": self.image_files["calib"]}
            if (quantization.get("calibration") or {}).get("synthetic"):
                record["warnings"] = [SYNTHETIC_WARNING]
        if "skip" in built:
            return {**record, "status": "skipped", "reason": built["skip"]}
        if "artifact" not in built:
            return {**record, "status": "failed", "reason": built["reason"]}
        artifact = built["artifact"]
        record["artifact"] = {k: artifact[k] for k in ("path", "format", "precision", "toolchain")}
        record["size_mb"] = _size_mb(artifact)
        job = {"kind": "cell", "key": cell.key, "model": cell.model.to_dict(), "runtime": cell.runtime,
               "precision": cell.precision, "batch_size": cell.batch_size, "threads": self.threads,
               "seed": self.config.seed, "profile": self.config.profile.to_dict(), "artifact": artifact,
               "cuda_graphs": self.config.cuda_graphs, "cache_dir": str(self.config.cache_path)}
        reference = inputs.get("reference") or {}
        if inputs.get("eval"):
            job["eval"] = inputs["eval"]
            job["reference_outputs"] = reference.get("outputs") if reference.get("status") == "ok" else None
            job["predictions_path"] = str(self.run_dir / "eval" / f"{cell.slug}.npy")
        return Entry(cell, record, job)

    def _say_images(self, todo: list[Cell]) -> None:
        described = self.images.describe()
        if self.images.has_eval:
            data = described["dataset"]
            self.say(f"accuracy on {described['eval_images']} of {data['images']} images in {data['root']} "
                     f"({data['layout']}, {data['classes']} classes); calibration: {described['calib_images']} images "
                     f"({described['calib_source']})")
        warning = calibration_warning(todo, self.images)
        if warning:
            self.say(warning)

    def _annotate_accuracy(self, record: dict[str, Any], inputs: dict[str, Any], reference: dict[str, Any]) -> None:
        """Say what the accuracy of a cell is worth: images used, reference, and whether it is representative."""
        if inputs.get("eval_error"):
            record["accuracy_error"] = inputs["eval_error"]
        accuracy = record.get("accuracy")
        if not accuracy:
            return
        # The crops key names the exact pixels (image list and preprocessing) every cell of the model read. Inputs of
        # other images than the run's (LocalBuild.eval_inputs: a search's selection images) say which they are.
        accuracy["eval_set"] = {**(inputs.get("eval_images") or self.images.describe()),
                                "crops_key": inputs["eval"]["key"],
                                "images_file": inputs.get("eval_images_file", self.image_files.get("eval"))}
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


def _size_mb(artifact: dict[str, Any]) -> float | None:
    from edgebench.export.artifact import Artifact

    try:
        return Artifact.from_dict(artifact).size_mb
    except OSError:
        return None


def compare_with_fp32(record: dict[str, Any], finished: dict[str, dict[str, Any]]) -> None:
    """Flag a reduced-precision cell slower than its FP32 sibling (same model, runtime, batch)."""
    if record["status"] != "ok" or record["precision"] == "fp32":
        return
    sibling = finished.get(f"{record['model']}|{record['runtime']}|fp32|b{record['batch_size']}")
    if not sibling or sibling["status"] != "ok":
        return
    from edgebench.stats import cell_ratio

    try:
        versus = cell_ratio(sibling, record)  # FP32 / this, paired over the rounds both were timed in
    except ValueError:  # no samples on a side: the p50s' ratio stands without an interval
        versus = {"ratio": sibling["latency_ms"]["p50"] / record["latency_ms"]["p50"]}
    record["speedup_vs_fp32"] = versus["ratio"]
    if "lo" in versus:
        record["speedup_vs_fp32_ci"] = {k: versus[k] for k in ("lo", "hi", "confidence", "method", "paired", "rounds")}
    ratio = 1.0 / versus["ratio"]
    if ratio > SLOWER_MARGIN:
        settings = (record.get("quantization") or {}).get("settings") or {}
        reason = get_runtime(record["runtime"]).slower_reason(record["precision"], settings)
        record["slower_than_fp32"] = {"ratio": ratio, "fp32_p50_ms": sibling["latency_ms"]["p50"],
                                      "likely_reason": reason}


def progress_line(record: dict[str, Any]) -> str:
    precision = precision_label(record["precision"], record.get("variant") or "")
    head = f"{record['model']:<32} {record['runtime']:<12} {precision:<5} b{record['batch_size']:<3}"
    if record["status"] == "ok":
        lat = record["latency_ms"]
        body = f"ok      p50 {lat['p50']:9.3f} ms"
        interval = record.get("p50_precision") or {}
        if interval:
            body += f" ±{interval['half_width_pct']:.1f}%{'' if interval['met'] else ' (target not met)'}"
        body += f"  n={lat['n']}"
        if record.get("rounds"):
            left_out = sum(1 for r in record["rounds"] if r.get("kept") is False)
            body += f" in {len(record['rounds']) - left_out} rounds" + (f" ({left_out} left out)" if left_out else "")
        if record.get("device_latency_ms"):
            body += f"  GPU compute p50 {record['device_latency_ms']['p50']:.3f} ms"
        acc = record.get("accuracy") or {}
        if acc.get("labels") is False:  # a task model on unlabelled images: its fidelity to FP32 only
            body += f"  no labels; {fidelity_text(acc) or 'the FP32 reference'}  post p50 {acc['postprocess_ms']['p50']:.2f} ms"
        elif acc.get("metric") == "map":
            body += f"  mAP {acc['map']:.3f}"
            change = (acc.get("vs_reference") or {}).get("map_change")
            if change:
                body += f" ({change['delta'] * 100:+.2f} pt, {change['verdict']})"
            body += f"  decode+NMS p50 {acc['postprocess_ms']['p50']:.2f} ms"
        elif acc.get("metric") in ("miou", "depth"):
            miou = acc.get("metric") == "miou"
            body += f"  mIoU {acc['miou']:.3f}" if miou else f"  AbsRel {acc['abs_rel']:.3f} δ1 {acc['delta1']:.3f}"
            change = (acc.get("vs_reference") or {}).get("miou_change" if miou else "delta1_change")
            if change:
                body += f" ({change['delta'] * 100:+.2f} pt, {change['verdict']})"
            body += f"  post p50 {acc['postprocess_ms']['p50']:.2f} ms"
        elif acc:
            body += f"  top-1 {acc['top1']:.2%}"
            versus = acc.get("vs_reference") or {}
            if versus:
                change = versus["top1_change"]
                body += f" ({change['delta'] * 100:+.2f} pt, {change['verdict']}, agree {versus['top1_agreement']:.1%})"
    else:
        body = f"{record['status']:<7} {record['reason']}"
    return f"{head} {body}"
