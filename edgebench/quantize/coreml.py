"""Core ML: ``torch.export`` → ML Program ``.mlpackage`` (FP32, FP16, INT8-weight compression).

coremltools converts on Linux too; only running the model needs macOS (edgebench.runtimes.coreml).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData, Recipe

DEPLOYMENT_TARGET = "iOS17"  # ML Program with INT8 weight compression needs iOS 16+; 17 for per-channel scales


class CoreMlFp32(Recipe):
    name = "coreml-fp32"
    precision = "fp32"
    toolchain = "coremltools (torch.export → ML Program)"
    packages = ("coremltools", "torch")
    output_format = "mlpackage"
    source_format = "torch"
    compute_precision = "FLOAT32"

    def settings(self) -> dict[str, Any]:
        return {"compute_precision": self.compute_precision, "minimum_deployment_target": DEPLOYMENT_TARGET,
                "dynamic_batch": [1, max(2, *self.batch_sizes)]}

    def convert(self, source: Artifact, spec: ModelSpec):
        import coremltools as ct

        from edgebench.quantize.torch_source import export_program, load_module

        program = export_program(load_module(source, spec), spec, max(self.batch_sizes)).run_decompositions({})
        return ct.convert(program, convert_to="mlprogram",
                          compute_precision=getattr(ct.precision, self.compute_precision),
                          minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET))

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        path = out_dir / "model.mlpackage"
        self.convert(source, spec).save(str(path))
        return self.artifact(path)


class CoreMlFp16(CoreMlFp32):
    name = "coreml-fp16"
    precision = "fp16"
    compute_precision = "FLOAT16"


class CoreMlInt8Weights(CoreMlFp16):
    """INT8 weights (linear symmetric, per channel), dequantised to FP16 for compute: a smaller app."""

    name = "coreml-int8-weights"
    precision = "int8-weights"

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "weights": "INT8 linear symmetric per channel (coremltools.optimize)"}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

        config = OptimizationConfig(global_config=OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8",
                                                                          granularity="per_channel"))
        path = out_dir / "model.mlpackage"
        linear_quantize_weights(self.convert(source, spec), config=config).save(str(path))
        return self.artifact(path)
