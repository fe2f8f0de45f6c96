"""Build: prepare each model (weights, ONNX export, parity check) and build each (runtime, precision)
artifact with the precision's recipe, each job in its own process, cached across runs.

``LocalBuild`` builds here; ``BundleBuild`` (edgebench.pipeline.bundle) takes the artifacts of an
``edgebench export`` folder instead. Both answer the same four questions for the measure step.

A command's own build job (``edgebench optimize``'s layer sensitivity) is a job like the others: ``run_builder``
runs it isolated, with the build's threads and time limit, and the job names its builder as ``module:function``
(as a quantise job names its recipe), which the worker imports only when it runs it.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable

from edgebench.cache import slug
from edgebench.config import RunConfig
from edgebench.data.evalset import SYNTHETIC_WARNING, ImageSets, materialize, synthetic_crops
from edgebench.harness.isolation import run_isolated
from edgebench.harness.trust import untrusted_reasons
from edgebench.models.spec import TORCH_SOURCES, ModelSpec
from edgebench.pipeline.plan import Cell, engine_batches, need_calibration
from edgebench.results.schema import precision_label
from edgebench.runtimes import get_runtime
from edgebench.tasks import headline

# Without images, INT8 builds calibrate on this many synthetic crops: a speed-only run, whose ranges no accuracy
# rests on and whose kernels do not depend on them. 16, not 64 (before issue 22): the seed table's INT8 builds took
# 11 of its 62 minutes, EfficientNet-B7's 200 s of them, in proportion to the images.
SYNTHETIC_CALIB_IMAGES = 16
REFERENCE_BATCH = 32  # the most images one call of the FP32 reference takes


def reference_batch(count: int) -> int:
    """The batch size of the FP32 reference outputs when the model takes any: batches of at most 32, as even as
    ``count`` allows, so that the last one pads little (2 images were padded to 32: Depth Anything spent 30 s of a
    test on 30 copies)."""
    if count < 1:
        return 1
    return math.ceil(count / math.ceil(count / REFERENCE_BATCH))


def dataset_mismatch(spec: ModelSpec, images: ImageSets) -> str | None:
    """Why a model cannot be scored on the run's labelled images (None: it can)."""
    layout = images.dataset.get("layout")
    coco = layout == "coco"
    unlabelled = layout == "unlabelled"  # no truth: a task model is scored against its FP32 outputs only
    if unlabelled and spec.task == "classify":
        return ("a classifier is scored on class labels and these images have none; put labels.txt beside them or "
                "use one folder per class")
    if spec.task in ("detect", "segment") and not coco and not unlabelled:
        what = "boxes" if spec.task == "detect" else "instance masks (drawn as VOC classes)"
        return (f"a {spec.task} model is scored on COCO-format {what}; give --data a folder with "
                "annotations/instances_*.json beside its images")
    if spec.task == "depth" and layout not in ("rgbd", "unlabelled"):
        return "a depth model is scored on RGB-D pairs; give --data a folder with color/ and depth/ (same file names)"
    if spec.task == "detect" or (spec.task == "segment" and not unlabelled):  # detection fidelity is COCOeval too
        import importlib.util

        if importlib.util.find_spec("pycocotools") is None:
            return f"{spec.task} models are scored with pycocotools, which is not installed: pip install 'edgebench[tasks]'"
    if spec.task in ("segment", "depth") and spec.preprocess.resize == "crop":
        return (f"a {spec.task} model is scored at each image's own size, which a centre crop loses; set resize: "
                "stretch or letterbox in the model's YAML")
    if spec.task == "classify" and layout in ("coco", "rgbd"):
        return "a classifier is scored on class labels; give --data an ImageNet or ImageFolder dataset"
    coco_ids = spec.task == "detect" and (spec.postprocess or {}).get("class_ids") == "coco"
    if coco_ids and max(images.dataset.get("category_ids") or [0]) >= spec.num_classes:
        return (f"the model's class indices are COCO category ids up to {spec.num_classes - 1}, the dataset has ids up "
                f"to {max(images.dataset['category_ids'])}; give a COCO-format dataset of COCO's categories")
    if spec.task in ("classify", "detect") and not coco_ids and images.num_classes \
            and spec.num_classes != images.num_classes:
        return (f"the model predicts {spec.num_classes} classes but the dataset has {images.num_classes}; give a "
                "dataset of the model's classes")
    return None


def eval_ref(spec: ModelSpec, images: ImageSets, cache: Path,
             say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The evaluation images' crops for ``spec`` and what scoring them needs (COCO: the annotations file and the
    category id of each of the model's classes; the labels are then image ids)."""
    ref = materialize([p for p, _ in images.eval_samples], spec.preprocess, cache,
                      labels=[label for _, label in images.eval_samples], say=say)
    if images.dataset.get("annotations"):
        ref.update(annotations=images.dataset["annotations"], category_ids=images.dataset["category_ids"])
    if images.dataset.get("depth_files"):
        ref.update(depth_files=images.dataset["depth_files"], depth_scale=images.dataset["depth_scale"])
    return ref


def thread_env(threads: int) -> dict[str, str]:
    # OpenMP/MKL pools read these at start-up; set for the child only, so every runtime gets the same budget.
    n = str(threads)
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


class LocalBuild:
    """Prepares models and builds artifacts on this machine; job logs go under ``log_dir``."""

    def __init__(self, config: RunConfig, images: ImageSets, log_dir: Path, threads: int,
                 say: Callable[[str], None]) -> None:
        self.config, self.images, self.log_dir, self.threads, self.say = config, images, Path(log_dir), threads, say
        self._online: dict[str, bool] = {}
        self._built: dict[tuple[str, str, str], dict[str, Any]] = {}

    # -- the model --------------------------------------------------------------------------------------
    def prepare(self, spec: ModelSpec) -> dict[str, Any]:
        """Weights, the FP32 ONNX export and its parity check: ``{"status": "ok", "artifacts": {...}, ...}``."""
        self.say(f"preparing {spec.id} (weights, ONNX export, parity check)...")
        job = {"kind": "prepare", "key": f"{spec.id}|prepare", "model": spec.to_dict(), "weights": self.config.weights,
               "checkpoint": self.config.checkpoint, "seed": self.config.seed,
               "cache_dir": str(self.config.cache_path), "online": self._online_for(spec)}
        record = run_isolated(job, self.log_dir / slug(spec.id + "-prepare"),
                              timeout_s=self.config.prepare_timeout_s, env=thread_env(self.threads))
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

    def _online_for(self, spec: ModelSpec) -> bool:
        from edgebench.models.torch_models import hub_reachable

        if self.config.weights == "random" or self.config.checkpoint or spec.source not in TORCH_SOURCES:
            return False
        if spec.source not in self._online:
            self._online[spec.source] = hub_reachable(spec.source)
            if not self._online[spec.source]:
                self.say(f"the {spec.source} weights hub is not reachable: pretrained weights only from the local cache")
        return self._online[spec.source]

    def needs_calibration(self, cells: list[Cell]) -> bool:
        return need_calibration(cells)

    def calibration_count(self) -> int:
        """How many images an INT8 build calibrates on: the run's calibration images, or the synthetic crops."""
        return len(self.images.calib_paths) or min(self.config.calib_size, SYNTHETIC_CALIB_IMAGES)

    def model_inputs(self, spec: ModelSpec, prepared: dict[str, Any], cells: list[Cell],
                     reference_dir: Path | None = None) -> dict[str, Any]:
        """Per model: the evaluation crops and FP32 reference outputs (when ``reference_dir`` is given and
        there are evaluation images), and the calibration crops if a cell needs them."""
        cache = self.config.cache_path
        inputs: dict[str, Any] = {}
        images = self.images
        if images.has_eval and reference_dir is not None:
            mismatch = dataset_mismatch(spec, images)
            if mismatch:
                inputs["eval_error"] = mismatch
            else:
                inputs["eval"] = eval_ref(spec, images, cache, say=self.say)
                inputs["reference"] = self.reference(spec, prepared, inputs["eval"], reference_dir)
        if self.needs_calibration(cells):
            if images.calib_paths:
                inputs["calibration"] = materialize(list(images.calib_paths), spec.preprocess, cache, say=self.say)
            else:
                inputs["calibration"] = synthetic_crops(self.calibration_count(), spec.preprocess,
                                                        self.config.seed, cache)
        return inputs

    def eval_inputs(self, spec: ModelSpec, prepared: dict[str, Any], images: ImageSets, reference_dir: Path,
                    images_file: str | None = None) -> dict[str, Any]:
        """The evaluation inputs of other labelled images than the run's (a search decides on images it does not
        report on): their crops and FP32 reference outputs, and what the records say of them (``eval_images``, the
        images' description; ``eval_images_file``, their list in the run folder). Merged over ``model_inputs``' for
        the groups measured on them (``Sweep.measure_group`` takes the inputs per group)."""
        crops = eval_ref(spec, images, self.config.cache_path)
        inputs = {"eval": crops, "reference": self.reference(spec, prepared, crops, reference_dir),
                  "eval_images": images.describe()}
        if images_file is not None:
            inputs["eval_images_file"] = images_file
        return inputs

    def reference(self, spec: ModelSpec, prepared: dict[str, Any], eval_ref: dict[str, Any],
                  out_dir: Path) -> dict[str, Any]:
        """FP32 outputs on the evaluation images: PyTorch for torch models, ONNX Runtime for an ONNX file, LiteRT
        for a LiteRT file."""
        artifacts = prepared.get("artifacts", {})
        fmt = next(f for f in ("torch", "onnx", "tflite") if f in artifacts)
        runtime = {"torch": "pytorch", "onnx": "onnxruntime", "tflite": "litert"}[fmt]
        out = Path(out_dir) / f"{slug(spec.id)}-reference.npy"
        out.parent.mkdir(parents=True, exist_ok=True)
        job = {"kind": "reference", "key": f"{spec.id}|reference", "model": spec.to_dict(), "runtime": runtime,
               "threads": self.threads, "batch_size": spec.fixed_batch or reference_batch(eval_ref["count"]), "eval": eval_ref,
               "artifact": prepared["artifacts"][fmt], "out": str(out)}
        self.say(f"  FP32 reference outputs ({runtime}) on {eval_ref['count']} images...")
        record = run_isolated(job, self.log_dir / slug(spec.id + "-reference"),
                              timeout_s=self.config.prepare_timeout_s, env=thread_env(self.threads))
        if record["status"] == "ok":
            self.say(f"  reference {headline(record)}")
        else:
            self.say(f"  FAILED to compute the reference outputs: {record['reason']}")
        return record

    # -- the artifacts ----------------------------------------------------------------------------------
    def artifact(self, cell: Cell, prepared: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        """The artifact a cell runs: the prepared one, or one built by the precision's recipe (once per model,
        runtime and precision; every batch size shares it). ``{"artifact": ...}`` (with ``quantization`` when
        built), ``{"skip": why}`` or ``{"reason": why it failed}``."""
        runtime = get_runtime(cell.runtime)
        recipe = runtime.recipe_for(cell.model, cell.precision)
        if cell.model.source == "tflite":  # a LiteRT file runs as it is (runtimes.base: its own precision only)
            recipe = None
        if recipe is None:
            artifact = next((prepared["artifacts"][f] for f in runtime.formats if f in prepared.get("artifacts", {})), None)
            if artifact is None:
                return {"reason": prepared.get("export_error") or f"no {'/'.join(runtime.formats)} artifact was produced"}
            return {"artifact": artifact}
        key = (cell.model.id, cell.runtime, cell.precision, cell.variant)
        if key not in self._built:
            self._built[key] = self._quantize(cell, recipe, prepared, inputs)
        return self._built[key]

    def _quantize(self, cell: Cell, recipe: str, prepared: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        from edgebench import toolchains
        from edgebench.quantize.base import recipe_class

        recipe_cls = recipe_class(recipe)
        source = prepared.get("artifacts", {}).get(recipe_cls.source_format)
        if source is None:
            return {"reason": prepared.get("export_error") or f"no {recipe_cls.source_format} artifact to convert"}
        python, missing = toolchains.python_for(recipe_cls.toolchain_env)
        if python is None:
            return {"skip": missing}
        calibration = inputs.get("calibration")
        options = cell.quant or self.config.quant
        job = {"kind": "quantize", "key": f"{cell.model.id}|{cell.runtime}|{cell.precision}|{cell.variant}|quantize",
               "model": cell.model.to_dict(), "source": source, "recipe": recipe,
               "options": options.to_dict(), "calibration": calibration,
               "batch_sizes": engine_batches(cell.model, self.config.batch_sizes),
               "calib_source": self.images.calib_source if calibration and not calibration["synthetic"] else "synthetic",
               "cache_dir": str(self.config.cache_path)}
        if getattr(options, "nncf_accuracy_control", None) is not None:
            job["validation"] = inputs.get("validation")  # labelled held-out images (never the evaluation ones)
        self.say(f"  building {precision_label(cell.precision, cell.variant)} artifact for {cell.runtime} ({recipe.rpartition(':')[2]})...")
        own_env = toolchains.worker_env() if python != sys.executable else {}
        record = run_isolated(job, self.log_dir / slug(job["key"]), python=python,
                              timeout_s=self.config.prepare_timeout_s, env={**thread_env(self.threads), **own_env})
        if record["status"] != "ok":
            return {"reason": f"{cell.precision} conversion failed: {record['reason']}"}
        return record

    def run_builder(self, builder: str, job: dict[str, Any], log_name: str | None = None) -> dict[str, Any]:
        """A build job other than export and quantisation: ``builder`` ("module:function") is called in a worker
        process with ``job`` (which has a ``key``) and returns the record's fields. Isolated like every build job,
        with this build's threads and time limit; logs under ``log_name`` (default: the key). Returns the record,
        ``{"status": "ok", ...}`` or failed with a reason."""
        module, _, function = builder.partition(":")
        if not module or not function:
            raise ValueError(f"a builder is named 'module:function', not {builder!r}")
        job = {**job, "kind": "build", "builder": builder}
        return run_isolated(job, self.log_dir / (log_name or slug(job["key"])), timeout_s=self.config.prepare_timeout_s,
                            env=thread_env(self.threads))

    def annotate(self, record: dict[str, Any]) -> None:
        """Fields this source adds to every record (a bundle says where its artifacts came from)."""


def calibration_warning(cells: list[Cell], images: ImageSets) -> str | None:
    if need_calibration(cells) and images.calib_source == "synthetic":
        return f"WARNING: INT8 cells are {SYNTHETIC_WARNING}. Pass --calib-data DIR or --data DIR."
    return None
