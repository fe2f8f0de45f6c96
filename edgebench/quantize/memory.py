"""How much memory a calibration pass may take, and the calibration batch that keeps it there.

ONNX Runtime's calibrator runs the model with every optimisation off and extra outputs on each tensor to
calibrate, so its peak memory grows with the batch: EfficientNet-B6 (528 px) peaked at 5.9 GB with one image
per batch, and batches of 8 were killed by the out-of-memory killer on a 24 GB machine. The batch is
therefore sized from the model's own activation sizes and the memory this machine has free.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Peak RSS of ONNX Runtime's calibration session per image, over the sum of the model's intermediate tensors
# for one image: 5.9 GB measured / 2.37 GB summed for EfficientNet-B6 at 528 px, batch 1 (rounded up).
PEAK_PER_ACTIVATION = 2.5
BUDGET_FRACTION = 0.5  # of the memory available when the build starts: leave the rest to everything else


@dataclass(frozen=True, kw_only=True)
class CalibrationMemory:
    """The bound a calibration ran under (recorded with the artifact)."""

    activation_mb_per_image: float  # sum of the model's float intermediate tensors for one image
    available_mb: float
    budget_mb: float
    batch: int  # images per calibration call
    max_images: int | None = None  # calibrators that keep every output: how many images fit the budget

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def activation_mb_per_image(model) -> float:
    """Sum of the float32/float16 intermediate tensors of ``model`` (an onnx.ModelProto) for one image; shapes
    from the exporter's value_info, or from ONNX shape inference when the file has none. Symbolic
    dimensions (the batch) count as 1."""
    import onnx

    infos = list(model.graph.value_info)
    if not infos:
        try:
            infos = list(onnx.shape_inference.infer_shapes(model).graph.value_info)
        except Exception:  # noqa: BLE001 - a model shape inference cannot read: no estimate, the caller uses 1
            infos = []
    sizes = {onnx.TensorProto.FLOAT: 4, onnx.TensorProto.FLOAT16: 2, onnx.TensorProto.BFLOAT16: 2}
    total = 0
    for info in infos:
        tensor = info.type.tensor_type
        if tensor.elem_type not in sizes:
            continue
        count = 1
        for dim in tensor.shape.dim:
            count *= dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else 1
        total += count * sizes[tensor.elem_type]
    return total / 1e6


def available_mb() -> float:
    import psutil

    return psutil.virtual_memory().available / 1e6


def bound(activation_mb: float, *, largest_batch: int, keeps_outputs: bool = False,
          available: float | None = None) -> CalibrationMemory:
    """The calibration batch (1..largest_batch) whose peak stays within the budget. ``keeps_outputs``: the
    calibrator holds every image's outputs until the end (histogram methods), so the image count is bounded
    instead and the batch is 1."""
    available = available_mb() if available is None else available
    budget = available * BUDGET_FRACTION
    per_image = max(activation_mb * PEAK_PER_ACTIVATION, 1e-3)
    if keeps_outputs:
        return CalibrationMemory(activation_mb_per_image=round(activation_mb, 1), available_mb=round(available),
                                 budget_mb=round(budget), batch=1, max_images=max(1, int(budget // per_image)))
    batch = int(min(largest_batch, max(1, budget // per_image)))
    return CalibrationMemory(activation_mb_per_image=round(activation_mb, 1), available_mb=round(available),
                             budget_mb=round(budget), batch=batch)
