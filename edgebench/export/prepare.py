"""The prepare step of a model: weights, a state-dict artifact, an ONNX artifact and its parity record.

Runs in a worker process. Results are cached on disk keyed by everything that changes them (model,
resolved weights, input size, opset, library versions), so a second run exports nothing.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edgebench.cache import content_key, file_sha256, publish, slug, staging_dir
from edgebench.errors import ExportError
from edgebench.export.artifact import Artifact
from edgebench.export.onnx_export import OPSET, corrupt_onnx, onnx_from_torch, onnx_parity
from edgebench.machine.env import package_version
from edgebench.models.spec import ModelSpec

EXPORT_VERSION = 1  # bump when the export recipe changes, to invalidate caches


def prepare(spec: ModelSpec, *, weights: str, checkpoint: str | None, seed: int, cache_dir: Path,
            online: bool, corrupt_export: bool = False) -> dict[str, Any]:
    """Everything the runtimes of one model need. Raises on failure (the worker records it).

    An export that fails its parity check is published beside the cache (the cells of this run measure
    it, marked untrusted), never as a cache hit: the next run exports and checks again.
    ``corrupt_export`` is the parity fault of the testing hook (see ``harness.worker.inject_fault``)."""
    if spec.source == "onnx":
        return _prepare_onnx_file(spec)
    if spec.source == "tflite":
        return _prepare_tflite_file(spec)
    from edgebench.models.torch_models import count_params, load_model

    module, info = load_model(spec, weights=weights, checkpoint=checkpoint, seed=seed, online=online)
    versions = {p: package_version(p) for p in ("torch", "timm", "torchvision", "onnx", "onnxscript")}
    key_data = {"model": spec.id, "weights": info.identity, "input": spec.input_shape, "opset": OPSET,
                "export_version": EXPORT_VERSION, "versions": versions}
    key = content_key(key_data)
    folder = cache_dir / "exports" / f"{slug(spec.id)}-{key}"
    meta_path = folder / "prepared.json"
    if meta_path.exists() and not corrupt_export:
        record = json.loads(meta_path.read_text())
        record["cached"] = True
        return record

    tmp = staging_dir(folder)
    import torch

    started = time.perf_counter()
    torch.save(module.state_dict(), tmp / "weights.pt")
    try:
        exporter = onnx_from_torch(module, tmp / "model.onnx", spec.input_shape)
    except ExportError as exc:
        # PyTorch can still be measured; the ONNX cells say why they have nothing to run. Not cached.
        publish(tmp, folder)
        return {"model": spec.id, "weights": info.to_dict(), "params": count_params(module), "exporter": None,
                "export_error": str(exc), "parity": {"ok": None, "reason": "export failed"}, "cached": False,
                "artifacts": {"torch": _torch_artifact(folder, versions)}}
    export_s = time.perf_counter() - started
    if corrupt_export:
        corrupt_onnx(tmp / "model.onnx")
    check = onnx_parity(module, tmp / "model.onnx", spec.input_shape, seed)
    if check.get("ok") is False:
        # Never where the good export is looked up, nor where artifacts converted from it are keyed
        # (they are cached by this folder's name): a later run exports again, and converts again.
        folder = folder.with_name(f"{folder.name}-parity-failed-{file_sha256(tmp / 'model.onnx')[:12]}")
    record = {
        "model": spec.id,
        "weights": info.to_dict(),
        "params": count_params(module),
        "exporter": exporter,
        "opset": OPSET,
        "export_s": round(export_s, 3),
        "parity": check,
        "cache_key": key_data,
        "artifacts": {
            "torch": _torch_artifact(folder, versions),
            "onnx": Artifact(path=str(folder / "model.onnx"), format="onnx", toolchain=f"torch.onnx ({exporter})",
                             versions=versions, meta={"opset": OPSET, "dynamic_batch": True}).to_dict(),
        },
    }
    if check.get("ok") is not False:  # a failed parity check is never a cache hit
        (tmp / "prepared.json").write_text(json.dumps(record, indent=1))
    publish(tmp, folder)
    record["cached"] = False
    return record


def _torch_artifact(folder: Path, versions: dict[str, str]) -> dict[str, Any]:
    return Artifact(path=str(folder / "weights.pt"), format="torch", toolchain="torch.save(state_dict)",
                    versions={"torch": versions["torch"]}).to_dict()


def _prepare_tflite_file(spec: ModelSpec) -> dict[str, Any]:
    """A LiteRT file is its own artifact: its parameters are the elements of its constant tensors."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=spec.name)
    # Constant tensors (the weights) have a buffer in the file, readable before allocation; their element types
    # say the file's precision (PyDNet++'s weights are INT8 with FP32 activations, a dynamic-range model).
    dtypes: dict[str, int] = {}
    for tensor in interpreter.get_tensor_details():
        values = _constant(interpreter, tensor)
        if values is not None and values.ndim:
            dtypes[values.dtype.name] = dtypes.get(values.dtype.name, 0) + int(values.size)
    params = sum(dtypes.values())
    main = max(dtypes, key=dtypes.get) if dtypes else "float32"
    precision = {"float32": "fp32", "float16": "fp16", "int8": "int8-weights"}.get(main, main)
    return {
        "model": spec.id,
        "weights": {"weights": "checkpoint", "note": f"weights from the LiteRT file {spec.name}", "identity": spec.name},
        "params": params,
        "exporter": None,
        "parity": {"ok": None, "reason": "the user's LiteRT file is the reference; nothing was converted"},
        "artifacts": {"tflite": Artifact(path=spec.name, format="tflite", toolchain="user file", precision=precision,
                                         versions={"ai-edge-litert": package_version("ai-edge-litert")},
                                         meta={"weight_elements_by_type": dtypes}).to_dict()},
        "cached": False,
    }


def _constant(interpreter, tensor: dict[str, Any]):
    """A tensor's data if it holds some before any inference (a weight), else None."""
    try:
        return interpreter.get_tensor(tensor["index"])
    except ValueError:
        return None


def _prepare_onnx_file(spec: ModelSpec) -> dict[str, Any]:
    import onnx
    import numpy as np

    model = onnx.load(spec.name)
    params = int(sum(np.prod(init.dims, dtype=np.int64) for init in model.graph.initializer))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "model": spec.id,
        "weights": {"weights": "checkpoint", "note": f"weights from the ONNX file {spec.name}", "identity": spec.name},
        "params": params,
        "exporter": None,
        "opset": opset,
        "parity": {"ok": None, "reason": "the user's ONNX file is the reference; nothing was exported"},
        "artifacts": {"onnx": Artifact(path=spec.name, format="onnx", toolchain="user file",
                                       versions={"onnx": package_version("onnx")}, meta={"opset": opset}).to_dict()},
        "cached": False,
    }
