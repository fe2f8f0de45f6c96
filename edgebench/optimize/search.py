"""``edgebench optimize``: search runtimes × precisions × recipe variants for the best deployment within an
accuracy budget, on the pipeline every command shares (plan → build → measure).

The recipe modules (``edgebench.optimize.recipes``) propose candidates; the strategy
(``edgebench.optimize.strategy``) decides what goes on after each stage; this module runs the stages:
sensitivity, build (within the budget), screen (probe latency in lockstep rounds, subset fidelity), full
evaluation, and a final round of lockstep timing. Every decision reads the *selection* images; the final round's
deployments are evaluated on the *report* images, held out from all of them (``edgebench.data.evalset``'s roles).
Only the final round's deployments become lines of ``results.jsonl``: a probe's latency and a selection top-1 are
decisions' figures, kept in ``search.jsonl`` and in ``optimize.json``'s candidates, marked as such.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from edgebench.config import RunConfig
from edgebench.data.evalset import SELECTION_LIST, ImageSets, SearchImages, materialize
from edgebench.errors import EdgebenchError
from edgebench.harness.timing import TimingProfile
from edgebench.models.spec import ModelSpec
from edgebench.optimize import strategy
from edgebench.optimize.log import SearchLog, read_summary, write_summary
from edgebench.optimize.recipes import propose_all
from edgebench.optimize.space import Proposal, SearchContext
from edgebench.pipeline.plan import Cell, skip_reason
from edgebench.pipeline.sweep import Sweep, progress_line

SCREEN_IMAGES = 100
SENSITIVITY_IMAGES = 16
# Short probe: enough to order candidates and drop the clearly slower ones, not a benchmark. Quarter-second
# slices, at least five of them (min_s), so that every pair of candidates shares the rounds a paired interval
# needs (edgebench.stats.cell_ratio resamples rounds from five on); 2 s timed per candidate at most (max_s).
PROBE = TimingProfile(name="probe", warmup_iters=3, warmup_s=0.3, warmup_max_s=2.0, min_iters=6, min_s=1.25,
                      max_s=2.0, floor_iters=3, target_pct=3.0, round_s=0.25)
# The full evaluation only needs the outputs: its timing is a few calls, not recorded as the candidate's latency.
EVAL_ONLY = TimingProfile(name="eval-only", warmup_iters=1, warmup_s=0.0, warmup_max_s=1.0, min_iters=1, min_s=0.0,
                          max_s=0.2, floor_iters=1, target_pct=50.0, round_s=0.2, host_check="record")
# Rough costs for keeping within the budget before anything is measured (seconds).
COST = {"build": 30.0, "screen": 5.0, "full": 4.0}


class Optimize:
    def __init__(self, config: RunConfig, spec: ModelSpec, runtimes: list[str], goal: strategy.Goal,
                 budget_min: float, run_dir: Path, images: SearchImages, command: str,
                 say: Callable[[str], None], progress=None, screen_images: int = SCREEN_IMAGES) -> None:
        self.config, self.spec, self.runtimes, self.goal = config, spec, runtimes, goal
        self.budget_s, self.run_dir, self.images, self.command = budget_min * 60.0, Path(run_dir), images, command
        self.say, self.progress = say, progress
        self.screen_images = min(screen_images, len(images.selection.eval_samples))
        self.log = SearchLog(self.run_dir)
        self.summary = read_summary(self.run_dir)
        self.started = time.monotonic()
        self.before_s = float(self.summary.get("elapsed_s") or 0.0)  # earlier sessions of a resumed search
        # One Sweep measures every stage (plan, build and measure as ``run`` composes them): its run images are the
        # report images, on which the final round is evaluated and stored; the screen and the full evaluation pass it
        # the selection images' inputs per group (LocalBuild.eval_inputs).
        self.sweep = Sweep(config, [spec], runtimes, self.run_dir, say=say, images=images.report, progress=progress)
        self.build = self.sweep.build
        self.fates: dict[str, str] = {}
        self.stage_s: dict[str, float] = dict(self.summary.get("stage_s") or {})

    # -- the clock ---------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.before_s + time.monotonic() - self.started

    def _left(self) -> float:
        return self.budget_s - self.elapsed()

    def _timed(self, stage: str, started: float) -> None:
        self.stage_s[stage] = round(self.stage_s.get(stage, 0.0) + time.monotonic() - started, 1)
        self._save()

    def _save(self, **extra: Any) -> None:
        self.summary.update({"command": self.command, "model": self.spec.id, "goal": self.goal.to_dict(),
                             "budget_min": self.budget_s / 60.0, "elapsed_s": round(self.elapsed(), 1),
                             "stage_s": self.stage_s, **extra})
        write_summary(self.run_dir, self.summary)

    # -- the search --------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        if self.summary.get("status") == "done":
            self.say(f"the search in {self.run_dir} is finished; nothing to resume")
            return self.summary
        self._set_aside_partial_results()
        self.sweep.begin()
        self._save(status="running")
        started = time.monotonic()
        prepared = self.build.prepare(self.spec)
        if prepared.get("status") != "ok":
            raise EdgebenchError(f"cannot prepare {self.spec.id}: {prepared.get('reason')}")
        sensitivity = self._sensitivity(prepared)
        layers = (sensitivity or {}).get("layers", [])
        context = SearchContext(spec=self.spec, runtimes=tuple(self.runtimes), max_drop_pt=self.goal.max_drop_pt,
                                sensitive_nodes=tuple(layer["node"] for layer in layers),
                                sensitive_weighted=tuple(layer["node"] for layer in layers
                                                         if layer.get("weight_sqnr_db") is not None),
                                has_validation=self.images.selection.has_eval)
        proposals = [p for p in propose_all(context) if not self.config.precisions or p.precision in self.config.precisions]
        cells = {p.name: p.cell(self.spec, self.goal.batch_size, self.config.quant) for p in proposals}
        # The report images' crops and FP32 reference (the final round's), and the calibration crops.
        report = self.build.model_inputs(self.spec, prepared, list(cells.values()), reference_dir=self.run_dir / "eval")
        selection = self._eval_inputs(report, self.images.selection, prepared, "selection")
        # NNCF's accuracy control validates on the selection images: labelled, and never the ones that report.
        selection["validation"] = report["validation"] = selection["eval"]
        self._timed("prepare", started)
        self.candidates = {cells[p.name].key: (p, cells[p.name]) for p in proposals}
        self._save(candidates=[self._describe(p, c) for p, c in self.candidates.values()],
                   images=self.images.describe(self.config.seed))

        built = self._build_stage(prepared, selection)
        screened = self._screen_stage(built, prepared, selection)
        full = self._full_stage(screened, prepared, selection)
        final = self._final_stage(screened, full, prepared, report)
        return self._finish(screened, full, final, prepared, sensitivity)

    def _eval_inputs(self, inputs: dict[str, Any], images: ImageSets, prepared: dict[str, Any],
                     role: str) -> dict[str, Any]:
        """``inputs`` with (part of) the selection images as the evaluation set: their crops, FP32 reference outputs
        and description, so that the records measured on them say so (their list is ``images/selection.txt``)."""
        if inputs.get("eval_error"):
            raise EdgebenchError(f"no accuracy to search on: {inputs['eval_error']}")
        evaluation = self.build.eval_inputs(self.spec, prepared, images, self.run_dir / "eval" / role,
                                            images_file=SELECTION_LIST)
        for ref in (evaluation["reference"], inputs.get("reference") or {}):
            if ref.get("status") != "ok":
                raise EdgebenchError(f"no FP32 reference outputs, so no accuracy to search on: {ref.get('reason')}")
        return {**inputs, **evaluation}

    def _set_aside_partial_results(self) -> None:
        """A resumed search writes its result lines anew at the end: lines of an interrupted final round are kept
        beside, never lost, and never doubled; a half-written deploy folder is ours to replace."""
        import shutil

        results = self.sweep.store.path
        if self.summary and results.exists():
            results.replace(self.run_dir / f"results.interrupted-{int(time.time())}.jsonl")
        if self.summary and (self.run_dir / "deploy").exists():
            shutil.rmtree(self.run_dir / "deploy")

    def _describe(self, proposal: Proposal, cell: Cell) -> dict[str, Any]:
        return {"key": cell.key, "runtime": proposal.runtime, "precision": proposal.precision,
                "variant": proposal.variant, "family": proposal.family, "kind": proposal.kind, "why": proposal.why,
                "options": proposal.quant}

    def _sensitivity(self, prepared: dict[str, Any]) -> dict[str, Any] | None:
        """Per-layer quantisation error (ONNX Runtime's QDQ debugger): which layers a mixed variant keeps in float.
        A build job like the others (``LocalBuild.run_builder``), kept in ``sensitivity.json`` for a resumed search."""
        from edgebench.optimize.sensitivity import BUILDER
        from edgebench.quantize.onnxruntime import OrtStaticInt8

        done = self.run_dir / "sensitivity.json"
        if done.exists():
            return json.loads(done.read_text())
        if "onnx" not in prepared.get("artifacts", {}) or not self.images.selection.calib_paths:
            return None
        self.say(f"layer sensitivity (ONNX Runtime QDQ debugger, {SENSITIVITY_IMAGES} calibration images)...")
        calib = materialize(list(self.images.selection.calib_paths[:SENSITIVITY_IMAGES]), self.spec.preprocess,
                            self.config.cache_path)
        job = {"key": f"{self.spec.id}|sensitivity", "model": self.spec.to_dict(),
               "source": prepared["artifacts"]["onnx"], "calibration": calib,
               "settings": OrtStaticInt8(self.config.quant).settings(), "out_dir": str(self.run_dir / "logs" / "sensitivity")}
        record = self.build.run_builder(BUILDER, job, log_name="sensitivity")
        if record.get("status") != "ok":
            self.say(f"  sensitivity failed ({record.get('reason')}); no mixed-precision variants")
            self.summary["sensitivity_error"] = record.get("reason")
            return None
        sensitivity = record["sensitivity"]
        done.write_text(json.dumps(sensitivity, indent=1))
        top = ", ".join(f"{layer['node']} ({layer['score_db']:.1f} dB)" for layer in sensitivity["layers"][:3])
        self.say(f"  most sensitive: {top}")
        return sensitivity

    # -- build, within the budget -------------------------------------------------------------------------
    def _build_stage(self, prepared: dict[str, Any], inputs: dict[str, Any]) -> list[str]:
        started = time.monotonic()
        built, build_times = [], []
        builds: dict[tuple[str, str], str] = {}  # (runtime, digest of the built files) -> the first candidate with them
        screened = self.log.load().get("screen", {})
        for key, (proposal, cell) in self.candidates.items():
            why = skip_reason(cell)
            if why:
                self.fates[key] = f"skipped: {why}"
                continue
            if key in screened:  # a resumed search: built and screened before (the artifact is cached)
                built.append(key)
                continue
            n = len(built) + 1
            reserve = COST["screen"] * n + COST["full"] * min(n, 6) + self._final_cost(min(n, strategy.MAX_FINAL))
            cost = sum(build_times) / len(build_times) if build_times else COST["build"]
            needs_build = bool(self._recipe(cell))
            if self._left() < reserve + (cost if needs_build else 0.0):
                self.fates[key] = "not tried: the budget was spent"
                continue
            if needs_build:
                t0 = time.monotonic()
                outcome = self.build.artifact(cell, prepared, inputs)
                if not (outcome.get("quantization") or {}).get("cached"):
                    build_times.append(time.monotonic() - t0)
                if "artifact" not in outcome:
                    self.fates[key] = f"build failed: {outcome.get('reason') or outcome.get('skip')}"
                    continue
                same = builds.setdefault((cell.runtime, model_digest(outcome["artifact"])), key)
                if same != key:  # the variant changed nothing the runtime reads: one model, measured once
                    self.fates[key] = (f"not measured: its build is {strategy.key_label(same)}'s model byte for byte "
                                       "(the variant changed nothing in it)")
                    continue
            built.append(key)
        self._timed("build", started)
        return built

    def _work(self, cells: int) -> None:
        if self.progress:
            self.progress.add_work(float(cells), cells=cells)

    def _advance(self, cells: int) -> None:
        if self.progress:
            self.progress.advance(cells, weight=float(cells))

    def _final_cost(self, cells: int) -> float:
        """Seconds the final round may take: each cell's warm-up, most of its time cap, and its start."""
        profile = self.config.profile
        return cells * (0.7 * profile.max_s + 0.5 * profile.warmup_max_s + 3.0)

    def _recipe(self, cell: Cell) -> str | None:
        from edgebench.runtimes import get_runtime

        return get_runtime(cell.runtime).recipe_for(cell.model, cell.precision)

    # -- screen: probe latency and subset fidelity, together ----------------------------------------------
    def _screen_stage(self, keys: list[str], prepared: dict[str, Any], inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
        started = time.monotonic()
        done = {k: e["record"] for k, e in self.log.load().get("screen", {}).items() if k in keys}
        todo = [k for k in keys if k not in done]
        if todo:
            subset = replace(self.images.selection,
                             eval_samples=self.images.selection.eval_samples[:self.screen_images])
            screen_inputs = self._eval_inputs(inputs, subset, prepared, "screen")
            self.say(f"screening {len(todo)} candidates: probe latency at batch {self.goal.batch_size} (lockstep "
                     f"rounds) and {self.goal.figure} on {len(subset.eval_samples)} selection images...")
            self._work(len(todo))
            # One group in lockstep (measure_group's rounds): every candidate is timed in every round, so any two
            # are compared round by round (paired), which is what the strategy prunes on.
            records = self.sweep.measure_group([self.candidates[k][1] for k in todo], prepared, screen_inputs,
                                               profile=replace(PROBE, host_check=self.config.profile.host_check),
                                               keep_on_interrupt=False)
            self._advance(len(todo))
            for key in todo:
                self.log.append("screen", key, records[key])
                done[key] = records[key]
                self.say("  " + progress_line(records[key]))
        self._timed("screen", started)
        return done

    # -- full evaluation of the survivors -----------------------------------------------------------------
    def _full_stage(self, screened: dict[str, dict[str, Any]], prepared: dict[str, Any],
                    inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
        started = time.monotonic()
        keep = self._baselines(screened)
        fates = strategy.screen(screened, self.goal, keep)
        for key, fate in fates.items():
            if fate:
                self.fates[key] = f"screen: {fate}"
        survivors = {k: r for k, r in screened.items() if not fates.get(k)}
        logged = self.log.load().get("full", {})
        full: dict[str, dict[str, Any]] = {}
        best = None
        for key in strategy.full_order(survivors, self.goal):
            if best is not None and key not in keep:
                why = strategy.cannot_win(survivors[key], survivors[best], self.goal)
                if why:
                    self.fates[key] = f"not evaluated in full: {why}"
                    continue
            if key in logged:
                record = logged[key]["record"]
            elif self._left() < self._final_cost(min(len(survivors), strategy.MAX_FINAL)) and key not in keep:
                self.fates[key] = "not evaluated in full: the budget was spent"
                continue
            else:
                self._work(1)
                measured = self.sweep.measure_group([self.candidates[key][1]], prepared, inputs, profile=EVAL_ONLY,
                                                    keep_on_interrupt=False)
                record = measured[key]
                self._advance(1)
                self.log.append("full", key, record)
            full[key] = record
            broken = strategy.accuracy_breaks(record, self.goal) if record.get("status") == "ok" else record.get("reason")
            self.say(f"  full evaluation {strategy.label(record)}: {self._drop_text(record)}"
                     f"{'' if not broken else '  (' + broken + ')'}")
            if broken:
                self.fates[key] = f"full evaluation: {broken}"
            elif best is None:
                best = key  # the survivors come best objective first: the first feasible one leads
        self._timed("full", started)
        return full

    def _baselines(self, screened: dict[str, dict[str, Any]]) -> set[str]:
        """Each runtime's FP32 and default-INT8 cells: what a plain run measures, kept to the final table."""
        return {k for k in screened if self.candidates[k][0].kind == "baseline"
                or (self.candidates[k][0].kind == "default" and self.candidates[k][1].precision == "int8")}

    @staticmethod
    def _drop_text(record: dict[str, Any]) -> str:
        drop = strategy.drop_pt(record)
        if drop is None:
            return record.get("reason") or "no accuracy"
        return (f"drop {drop['estimate']:+.2f} pt (95% {drop['lo']:+.2f} to {drop['hi']:+.2f}, {drop['verdict']}) "
                f"on {drop['images']} images")

    # -- final: the contenders and the baselines, timed together -------------------------------------------
    def _final_stage(self, screened: dict[str, dict[str, Any]], full: dict[str, dict[str, Any]],
                     prepared: dict[str, Any], inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
        started = time.monotonic()
        feasible = [k for k, r in full.items() if r.get("status") == "ok" and not strategy.accuracy_breaks(r, self.goal)
                    and not strategy.hard_breaks(screened[k], self.goal)]
        finalists, left_out = strategy.finalists(screened, feasible, self._baselines(screened) & set(full),
                                                 {k: self.candidates[k][0].family for k in feasible}, self.goal)
        for key in feasible:
            if key in left_out:
                self.fates[key] = "feasible in full evaluation; not in the final round (it holds at most " \
                                  f"{strategy.MAX_FINAL} deployments)"
            elif key not in finalists:
                self.fates[key] = "feasible in full evaluation; not in the final round (not within the best one's noise, " \
                                  "nor its family's best)"
        self.say(f"final round: {len(finalists)} deployments timed together over the same rounds (profile "
                 f"'{self.config.profile.name}'), {self.goal.figure} on the {len(self.images.report.eval_samples)} "
                 "report images "
                 "(held out from every decision)...")
        if self.progress:  # the final lines advance it as they are stored (Sweep.store_group)
            self.progress.add_work(len(finalists) * (1.0 + self.goal.batch_size / 4.0), cells=len(finalists))
        # lockstep: the choice compares p50s, so every finalist is timed over the same rounds
        records = self.sweep.measure_group([self.candidates[k][1] for k in finalists], prepared, inputs)
        self._timed("final", started)
        return records

    # -- results and summary ------------------------------------------------------------------------------
    def _finish(self, screened, full, final, prepared, sensitivity) -> dict[str, Any]:
        from edgebench.optimize.outcome import candidate_figures, family_fates, pareto_keys, plain_answer

        # The choice reads the final round's latency and the selection images' accuracy, never the report images'.
        selection = {key: strategy.selection_summary(full.get(key)) for key in final}
        decided = [strategy.on_selection({**record, "search": {"selection": selection[key]}})
                   for key, record in final.items()]
        chosen, feasible, why_not = strategy.choose(decided, self.goal)
        for key, reason in why_not.items():
            self.fates.setdefault(key, f"final: {reason} (selection images)")
        if chosen:
            self.fates[chosen["key"]] = "chosen"
            for record in strategy.tied_with(chosen, feasible, self.goal):
                self.fates[record["key"]] = f"feasible, p50 not told apart from the chosen {strategy.label(chosen)}"
        for record in feasible:
            self.fates.setdefault(record["key"], f"feasible, slower than {strategy.label(chosen)}")
        lines = self._result_lines(final, selection)
        deploy = None
        if chosen:
            from edgebench.optimize.deploy import write_deploy_folder

            line = next(r for r in lines if r["key"] == chosen["key"])
            deploy = write_deploy_folder(line, self.spec, self.run_dir / "deploy", self.command)
        by_line = {r["key"]: r for r in lines}
        described = []
        for entry in self.summary.get("candidates") or []:
            key = entry["key"]
            described.append({**entry, "fate": self.fates.get(key, ""),
                              **candidate_figures(screened.get(key), full.get(key), by_line.get(key))})
        # What a plain run answers under the same constraints, decided here once: report reads it, deciding nothing.
        plain = plain_answer(lines, self.goal)
        self._save(status="done", chosen=chosen["key"] if chosen else None, plain=plain["key"] if plain else None,
                   candidates=described, fates=self.fates, pareto=pareto_keys(lines, self.goal.batch_size),
                   families=family_fates(described, self.goal),
                   deploy=str(deploy) if deploy else None,
                   sensitivity_layers=len((sensitivity or {}).get("layers", [])))
        return self.summary

    def _result_lines(self, final: dict[str, dict[str, Any]],
                      selection: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """One ordinary result line per deployment of the final round: its latency from the run's profile, its
        accuracy on the report images, and (in ``search.selection``) the selection figures the search chose on.
        The candidates that stopped earlier have only a probe's latency and a selection top-1, figures of a
        decision and not measurements: they stay in ``search.jsonl`` and in ``optimize.json``'s candidates."""
        lines = [{**r, "search": {**self._search_field(k), "selection": selection[k]}} for k, r in final.items()]
        self.sweep.store_group(lines)
        return lines

    def _search_field(self, key: str) -> dict[str, Any]:
        proposal = self.candidates[key][0]
        return {"stage": "final", "fate": self.fates.get(key, ""), "family": proposal.family, "why": proposal.why,
                "timing": "the run's profile, every finalist in the same lockstep rounds",
                "accuracy": "the report images, held out from every decision"}


def model_digest(artifact: dict[str, Any]) -> str:
    """SHA-256 over an artifact's files: the file, and an OpenVINO IR's weights beside its .xml."""
    from edgebench.cache import file_sha256

    path = Path(artifact["path"])
    files = [path, path.with_suffix(".bin")] if path.suffix == ".xml" else [path]
    return "+".join(file_sha256(f) for f in files if f.is_file())
