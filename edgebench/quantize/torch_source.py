"""The PyTorch side of the mobile toolchains: they convert the model itself, not its ONNX file.

LiteRT (litert-torch), ExecuTorch, Core ML and pnnx all start from ``torch.export`` or a trace of the
module, so their recipes start from the prepared state dict (``Recipe.source_format = "torch"``).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData


def load_module(source: Artifact, spec: ModelSpec):
    """The model in eval mode with the prepared weights (loaded with ``weights_only=True``)."""
    from edgebench.models.torch_models import build_module, load_state_dict_file

    module = build_module(spec, pretrained=False)
    module.load_state_dict(load_state_dict_file(source.path), strict=True)
    return module.eval()


def example(spec: ModelSpec, batch_size: int = 1, seed: int = 0):
    import torch

    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.standard_normal((batch_size, *spec.input_shape), dtype=np.float32))


def export_program(module, spec: ModelSpec, max_batch: int):
    """``torch.export`` with a dynamic batch dimension (1..max_batch), so one file serves every batch size.

    The example has batch 2: an example of batch 1 lets the exporter specialise the dimension to 1."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=max(2, max_batch))
    return torch.export.export(module, (example(spec, 2),), dynamic_shapes=({0: batch},))


def calibration_tensors(calibration: CalibrationData) -> Iterator:
    import torch

    for batch in calibration:
        yield torch.from_numpy(batch)


def pt2e_quantize(module, spec: ModelSpec, quantizer, calibration: CalibrationData):
    """PyTorch 2 export quantisation: observers from ``quantizer``, calibrated on the run's images (the
    graph keeps a dynamic batch, so the quantised model exports again at every batch size)."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = export_program(module, spec, 64).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in calibration_tensors(calibration):
            prepared(batch)
    return convert_pt2e(prepared)
