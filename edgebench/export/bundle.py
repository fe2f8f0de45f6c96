"""``edgebench export``: the artifacts of a suite in one folder, to measure on another machine.

The folder holds every portable artifact (one sub-folder per model, runtime and precision), an FP32 ONNX
reference per model, and ``manifest.json``: each model's spec (input shape, preprocessing, published
numbers), how it was prepared, and each artifact's recipe, settings and calibration images. ``edgebench
run --artifacts DIR`` (edgebench.pipeline.bundle) measures it with no PyTorch and no converter.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from edgebench import __version__
from edgebench.cache import slug
from edgebench.config import RunConfig
from edgebench.data.evalset import ImageSets
from edgebench.errors import ConfigError
from edgebench.export.artifact import Artifact
from edgebench.machine import env as envmod
from edgebench.pipeline.build import LocalBuild
from edgebench.pipeline.plan import Cell
from edgebench.models.spec import ModelSpec
from edgebench.results.store import read_json
from edgebench.runtimes import get_runtime

MANIFEST = "manifest.json"
BUNDLE_FORMAT = "edgebench-artifacts"
BUNDLE_VERSION = 1
PREPARED_FIELDS = ("weights", "params", "exporter", "opset", "parity")


def export_bundle(config: RunConfig, specs: list[ModelSpec], runtimes: list[str], out_dir: Path,
                  images: ImageSets, say: Callable[[str], None]) -> dict[str, Any]:
    """Prepare each model, build each (runtime, precision) artifact, copy them into ``out_dir``."""
    out_dir = Path(out_dir)
    if (out_dir / MANIFEST).exists() or (out_dir.exists() and any(out_dir.iterdir())):
        raise ConfigError(f"{out_dir} is not empty; give --out a new folder for the artifacts")
    out_dir.mkdir(parents=True, exist_ok=True)
    build = LocalBuild(config, images, out_dir / "logs", config.threads or envmod.usable_cpus(), say)
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "edgebench": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "exported_on": _host(), "config": config.to_dict(), "runtimes": runtimes, "models": [],
    }
    for spec in specs:
        manifest["models"].append(_export_model(build, spec, runtimes, out_dir, say))
        (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))  # what is done stays done
    return manifest


def _export_model(build: LocalBuild, spec: ModelSpec, runtimes: list[str], out_dir: Path,
                  say: Callable[[str], None]) -> dict[str, Any]:
    entry: dict[str, Any] = {"spec": spec.to_dict(), "artifacts": [], "not_exported": []}
    if not spec.available:
        entry["error"] = spec.unavailable_reason
        return entry
    prepared = build.prepare(spec)
    if prepared["status"] != "ok":
        entry["error"] = f"model preparation failed: {prepared['reason']}"
        return entry
    entry["prepared"] = {k: prepared.get(k) for k in PREPARED_FIELDS}
    folder = out_dir / slug(spec.id)
    copied: dict[str, dict[str, Any]] = {}
    if "onnx" in prepared["artifacts"]:
        entry["reference"] = _copy(prepared["artifacts"]["onnx"], folder / "reference", out_dir, copied)
    cells = [Cell(spec, name, precision, build.config.batch_sizes[0])
             for name in runtimes for precision in build.config.precisions]
    inputs = build.model_inputs(spec, prepared, cells) if build.needs_calibration(cells) else {}
    for cell in cells:
        runtime = get_runtime(cell.runtime)()
        why_not = None if runtime.portable else (f"{cell.runtime} artifacts are built for one machine "
                                                 "(a TensorRT engine, a PyTorch model): build them on the device")
        why_not = why_not or runtime.supports(spec, cell.precision, cell.batch_size)
        result = {"skip": why_not} if why_not else build.artifact(cell, prepared, inputs)
        if "artifact" not in result:
            status = "skipped" if "skip" in result else "failed"
            reason = result.get("skip") or result.get("reason")
            entry["not_exported"].append({"runtime": cell.runtime, "precision": cell.precision,
                                          "status": status, "reason": reason})
            say(f"  {cell.runtime} {cell.precision}: {status}: {reason}")
            continue
        target = folder / f"{cell.runtime}-{cell.precision}"
        artifact = _copy(result["artifact"], target, out_dir, copied)
        entry["artifacts"].append({"runtime": cell.runtime, "precision": cell.precision, "artifact": artifact,
                                   "size_mb": Artifact.from_dict(result["artifact"]).size_mb,
                                   "quantization": result.get("quantization")})
        say(f"  {cell.runtime} {cell.precision}: {artifact['path']} ({entry['artifacts'][-1]['size_mb']:.2f} MB)")
    return entry


def _copy(artifact: dict[str, Any], target: Path, root: Path, copied: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Copy an artifact's files (or folder) into ``target``; its path becomes relative to the bundle.
    An artifact several cells share (OpenVINO reads the ONNX file) is copied once."""
    if artifact["path"] in copied:
        return copied[artifact["path"]]
    target.mkdir(parents=True, exist_ok=True)
    for source in Artifact.from_dict(artifact).files:
        destination = target / Path(source).name
        if Path(source).is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)
    moved = {**artifact, "path": str((target / Path(artifact["path"]).name).relative_to(root))}
    copied[artifact["path"]] = moved
    return moved


def _host() -> dict[str, Any]:
    environment = envmod.capture()
    return {k: environment.get(k) for k in ("device", "cpu", "arch", "os", "python", "versions")}


def load_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an artifacts folder, checked (its shape, and that every file it names is there);
    a clear message when the folder is not one."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise ConfigError(f"{folder} is not an artifacts folder (no {MANIFEST}); make one with `edgebench export`")
    manifest = read_json(path, "export the artifacts again")
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT or manifest.get("version") != BUNDLE_VERSION:
        found = (manifest.get("format"), manifest.get("version")) if isinstance(manifest, dict) else (type(manifest).__name__, None)
        raise ConfigError(f"{path} is not an edgebench artifacts manifest of version {BUNDLE_VERSION} "
                          f"(format {found[0]!r}, version {found[1]!r}); export again with this edgebench")
    _check_manifest(manifest, Path(folder), path)
    return manifest


def _check_manifest(manifest: dict[str, Any], folder: Path, path: Path) -> None:
    """The fields a run of the folder reads, and the files of each artifact (a partial copy is common)."""
    again = "export the artifacts again (or copy the whole folder)"
    try:
        for key, kind in (("config", dict), ("runtimes", list), ("models", list), ("created", str), ("edgebench", str)):
            if not isinstance(manifest.get(key), kind):
                raise ConfigError(f"{path} lacks {key!r} (or it is not a {kind.__name__}); {again}")
        for key in ("precisions", "quant"):
            if key not in manifest["config"]:
                raise ConfigError(f"{path}: its config lacks {key!r}; {again}")
        for entry in manifest["models"]:
            spec = ModelSpec.from_dict(entry["spec"])
            named = [entry["reference"]] if entry.get("reference") else []
            for item in entry["artifacts"]:
                if not (isinstance(item["runtime"], str) and isinstance(item["precision"], str)):
                    raise ConfigError(f"{path}: an artifact of {spec.id} lacks its runtime or precision; {again}")
                named.append(item["artifact"])
            for artifact in named:
                for file in Artifact.from_dict(absolute(artifact, folder)).files:
                    if not Path(file).exists():
                        raise ConfigError(f"{file} is missing: {path} lists it among the artifacts of {spec.id}; {again}")
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path} is malformed ({type(exc).__name__}: {exc}); {again}") from None


def shipped_runtimes(manifest: dict[str, Any]) -> list[str]:
    """The runtimes a folder holds at least one artifact for: what `run --artifacts` measures by default."""
    return [r for r in manifest["runtimes"] if any(a["runtime"] == r for m in manifest["models"] for a in m["artifacts"])]


def absolute(artifact: dict[str, Any], folder: Path) -> dict[str, Any]:
    return {**artifact, "path": str(Path(folder).resolve() / artifact["path"])}
