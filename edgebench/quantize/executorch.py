"""ExecuTorch: ``torch.export`` → XNNPACK-delegated ``.pte``, FP32 and INT8 (PT2E with XNNPACK's quantiser)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData, Recipe


class EtXnnpack(Recipe):
    name = "executorch-xnnpack-fp32"
    precision = "fp32"
    toolchain = "executorch (torch.export, to_edge_transform_and_lower, XnnpackPartitioner)"
    packages = ("executorch", "torch", "torchao")
    output_format = "pte"
    source_format = "torch"

    def settings(self) -> dict[str, Any]:
        # One static program per batch size, as an app ships a fixed input shape. (A dynamic batch dimension
        # exported, but ExecuTorch's memory plan then refused batches above 15 for MobileNetV2 at 224 px.)
        return {"delegate": "XNNPACK", "batch_sizes": sorted(self.batch_sizes)}

    def module(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None):
        from edgebench.quantize.torch_source import load_module

        return load_module(source, spec)

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        import torch

        from edgebench.quantize.torch_source import example

        module = self.module(source, spec, calibration)
        files = {}
        for batch in sorted(self.batch_sizes):
            program = torch.export.export(module, (example(spec, batch),))
            lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
            files[str(batch)] = f"model-b{batch}.pte"
            (out_dir / files[str(batch)]).write_bytes(lowered.buffer)
        return self.artifact(out_dir / next(iter(files.values())), files=list(files.values()), batch_files=files)


class EtXnnpackInt8(EtXnnpack):
    name = "executorch-xnnpack-int8"
    precision = "int8"
    needs_calibration = True

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "quantizer": "XNNPACKQuantizer", "scheme": "symmetric",
                "per_channel": self.options.per_channel, "activations": "S8 static"}

    def module(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None):
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer, get_symmetric_quantization_config)

        from edgebench.quantize.torch_source import load_module, pt2e_quantize

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=self.options.per_channel))
        return pt2e_quantize(load_module(source, spec), spec, quantizer, calibration)
