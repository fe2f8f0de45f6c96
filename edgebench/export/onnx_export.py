"""OnnxFromTorch: export a torch module to a single ONNX file, check it, and compare it with PyTorch."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.errors import ExportError

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
# Exported graphs must reproduce PyTorch closely; beyond these the result says parity failed.
PARITY_MIN_COSINE = 0.9999
PARITY_MAX_REL_ERR = 1e-3


def onnx_from_torch(module, path: Path, input_shape: tuple[int, int, int], *, opset: int = OPSET) -> str:
    """Export with a dynamic batch axis; the dynamo exporter first, the TorchScript one as a fallback.

    Returns the exporter used. Raises ExportError when neither can export the model.
    """
    import torch

    example = torch.randn(2, *input_shape)
    errors = []
    for exporter in ("dynamo", "torchscript"):
        try:
            _export(module, example, path, opset, dynamo=exporter == "dynamo")
            check_onnx(path)
            return exporter
        except Exception as exc:  # exporters raise many types; the fallback decides
            errors.append(f"{exporter}: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}")
            path.unlink(missing_ok=True)
    raise ExportError("ONNX export failed; " + " | ".join(errors))


def _export(module, example, path: Path, opset: int, *, dynamo: bool) -> None:
    import torch

    kwargs: dict[str, Any] = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset)
    if dynamo:
        # The dynamo exporter is chatty on stdout; the worker's log keeps what it says.
        logging.getLogger("torch.onnx").setLevel(logging.WARNING)
        batch = torch.export.Dim("batch", min=1, max=4096)
        kwargs.update(dynamo=True, dynamic_shapes=({0: batch},), external_data=False, verbose=False)
    else:
        kwargs.update(dynamo=False, dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(module, (example,), str(path), **kwargs)


def check_onnx(path: Path) -> None:
    """ONNX checker plus strict shape inference on the exported file."""
    import onnx

    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    if len([i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]) != 1:
        raise ExportError("exported model must have exactly one input")


def corrupt_onnx(path: Path) -> None:
    """Testing hook: add noise to the largest float weight of an ONNX file, so its parity check fails."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    floats = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
    if not floats:
        raise ExportError(f"{path} has no float weight to corrupt")
    target = max(floats, key=lambda t: int(np.prod(t.dims, dtype=np.int64)))
    weights = numpy_helper.to_array(target)
    noise = np.random.default_rng(0).standard_normal(weights.shape).astype(weights.dtype)
    target.CopyFrom(numpy_helper.from_array(weights + noise * (np.abs(weights).max() + 1.0), target.name))
    onnx.save(model, str(path))


def parity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    """How closely ``candidate`` reproduces ``reference``: max abs error, relative error, cosine."""
    ref = reference.reshape(reference.shape[0], -1).astype(np.float64)
    cand = candidate.reshape(candidate.shape[0], -1).astype(np.float64)
    if ref.shape != cand.shape:
        return {"ok": False, "reason": f"output shapes differ: {reference.shape} vs {candidate.shape}"}
    max_abs = float(np.max(np.abs(ref - cand)))
    scale = float(np.max(np.abs(ref))) or 1.0
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    cosine = float(np.min(np.sum(ref * cand, axis=1) / np.where(norms == 0, 1.0, norms)))
    ok = cosine >= PARITY_MIN_COSINE and max_abs / scale <= PARITY_MAX_REL_ERR
    return {"ok": ok, "max_abs_err": max_abs, "max_rel_err": max_abs / scale, "cosine": cosine}


def onnx_parity(module, path: Path, input_shape: tuple[int, int, int], seed: int) -> dict[str, Any]:
    """Run PyTorch and ONNX Runtime on the same seeded batch of two and compare."""
    import torch

    try:
        import onnxruntime as ort
    except ImportError:
        return {"ok": None, "reason": "onnxruntime is not installed, so the export was not compared with PyTorch"}
    x = np.random.default_rng(seed).standard_normal((2, *input_shape), dtype=np.float32)
    with torch.inference_mode():
        expected = module(torch.from_numpy(x)).numpy()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    result = parity(expected, got)
    result["compared_with"] = "onnxruntime CPU, batch of 2 seeded N(0,1) inputs"
    return result
