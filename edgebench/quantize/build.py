"""Build a reduced-precision artifact in a worker process, cached like exports.

The cache key holds everything that changes the artifact: the source file (its export key, or its
bytes), the recipe and its settings, the calibration images (their list and preprocessing) and the
toolchain versions. A second run with the same inputs quantises nothing.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edgebench.cache import content_key, file_sha256, publish, slug, staging_dir
from edgebench.data.evalset import load_crops
from edgebench.errors import CellFailure
from edgebench.export.artifact import Artifact
from edgebench.machine.env import package_version
from edgebench.machine.memory import lifetime_peak_rss_mb
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData, QuantOptions, get_recipe
from edgebench.quantize.float_tail import with_float_tail

QUANTIZE_VERSION = 2  # bump when a recipe's code changes, to invalidate caches


def source_identity(artifact: Artifact) -> str:
    """Exported files live in a folder named by their cache key; a user's file is identified by its bytes."""
    path = Path(artifact.path)
    if artifact.toolchain == "user file":
        return file_sha256(path)
    return f"{path.parent.name}/{path.name}"


def cache_key_data(spec: ModelSpec, source: Artifact, recipe, calib_ref: dict[str, Any] | None,
                   validation_ref: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that changes the artifact; its hash names the cache folder. A recipe's ``settings()`` adds
    what is specific to it (a TensorRT engine's GPU and shapes). Labelled validation images (accuracy
    control) key it only when the recipe uses them."""
    key = {
        "model": spec.id, "source": source_identity(source), "recipe": recipe.name, "settings": recipe.settings(),
        "calibration": {k: calib_ref[k] for k in ("key", "count", "synthetic")} if calib_ref else None,
        "preprocess": spec.to_dict()["preprocess"] if calib_ref else None,
        "versions": {p: package_version(p) for p in recipe.packages}, "quantize_version": QUANTIZE_VERSION,
    }
    if validation_ref is not None:
        key["validation"] = {k: validation_ref[k] for k in ("key", "count")}
    return key


def build_artifact(job: dict[str, Any]) -> dict[str, Any]:
    """The ``quantize`` job: returns {"artifact": ..., "quantization": ...}; raises on failure."""
    spec = ModelSpec.from_dict(job["model"])
    source = Artifact.from_dict(job["source"])
    options = with_float_tail(QuantOptions(**job["options"]), spec, source)
    recipe = get_recipe(job["recipe"], options, tuple(job.get("batch_sizes") or (1,)))
    calib_ref = job.get("calibration") if recipe.needs_calibration else None
    if recipe.needs_calibration and not (calib_ref and calib_ref["count"]):
        raise CellFailure(f"{recipe.name} needs calibration images")
    validation_ref = job.get("validation") if recipe.needs_validation() else None
    if recipe.needs_validation() and not (validation_ref and validation_ref.get("count") and validation_ref.get("labels")):
        raise CellFailure(f"{recipe.name} with accuracy control needs labelled validation images")
    key_data = cache_key_data(spec, source, recipe, calib_ref, validation_ref)
    key = content_key(key_data)
    folder = Path(job["cache_dir"]) / "quantized" / f"{slug(f'{spec.id}-{recipe.name}')}-{key}"
    meta_path = folder / "quantized.json"
    if meta_path.exists():
        record = json.loads(meta_path.read_text())
        record["quantization"]["cached"] = True
        return record

    tmp = staging_dir(folder)
    calibration = CalibrationData(load_crops(calib_ref), spec) if calib_ref else None
    if validation_ref is not None:
        recipe.validation = (CalibrationData(load_crops(validation_ref), spec), list(validation_ref["labels"]))
    started = time.perf_counter()
    built = recipe.build(source, spec, calibration, tmp)
    elapsed = time.perf_counter() - started
    # The artifact was written into tmp; it lives in folder once renamed.
    artifact = Artifact(path=str(folder / Path(built.path).name), format=built.format, precision=built.precision,
                        toolchain=built.toolchain, versions=key_data["versions"], meta=built.meta)
    record = {
        "artifact": artifact.to_dict(),
        "quantization": {"recipe": recipe.name, "precision": recipe.precision, "toolchain": recipe.toolchain,
                         "settings": recipe.settings(), "seconds": round(elapsed, 3), "cache_key": key_data,
                         "peak_rss_mb": round(lifetime_peak_rss_mb()),  # of the build's process: what it needs
                         "calibration": _calibration_record(calib_ref, job, calibration)},
    }
    (tmp / "quantized.json").write_text(json.dumps(record, indent=1))
    for leftover in ("source.onnx", "preprocessed.onnx"):
        (tmp / leftover).unlink(missing_ok=True)
    publish(tmp, folder)
    record["quantization"]["cached"] = False
    return record


def _calibration_record(calib_ref: dict[str, Any] | None, job: dict[str, Any],
                        calibration: CalibrationData | None) -> dict[str, Any] | None:
    if not calib_ref:
        return None
    memory = calibration.memory if calibration is not None else None
    used = len(calibration) if calibration is not None else calib_ref["count"]  # after a recipe's calib_limit
    record = {"images": (memory or {}).get("images_used", used), "images_given": calib_ref["count"],
              "source": job.get("calib_source", "synthetic"), "synthetic": bool(calib_ref.get("synthetic"))}
    if memory:
        record["memory"] = memory  # the bound the calibration ran under: batch, budget, activation size
    return record
