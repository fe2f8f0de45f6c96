"""OpenVINO recipes: INT8 through NNCF post-training quantisation, and an FP16-compressed IR.

NNCF sends usage telemetry through openvino-telemetry unless told not to; ``import_nncf`` sets the
switch NNCF reads at import (``NNCF_CI``), so quantising with edgebench sends nothing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData, Recipe


def import_nncf():
    """NNCF with its telemetry off (it checks this variable once, when nncf.telemetry is imported)."""
    os.environ["NNCF_CI"] = "1"
    import nncf

    return nncf


class OvNncfInt8(Recipe):
    name = "nncf-ptq-int8"
    precision = "int8"
    toolchain = "nncf.quantize (post-training, OpenVINO backend)"
    packages = ("nncf", "openvino")
    needs_calibration = True
    output_format = "openvino-ir"

    def settings(self) -> dict[str, Any]:
        return {"preset": self.options.nncf_preset, "fast_bias_correction": True, "target_device": "CPU",
                "statistics": "NNCF min/max per preset"}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        import openvino as ov

        nncf = import_nncf()
        model = ov.Core().read_model(source.path)
        calibration.batch_size = 1  # NNCF counts subset_size in samples of its dataset
        # The iterable itself, not a list: NNCF reads it per pass, so only one normalised image is in memory
        # at a time (300 EfficientNet-B7 images at 600 px would be 1.3 GB as a list).
        dataset = nncf.Dataset(calibration)
        preset = nncf.QuantizationPreset.PERFORMANCE if self.options.nncf_preset == "performance" \
            else nncf.QuantizationPreset.MIXED
        quantized = nncf.quantize(model, dataset, preset=preset, target_device=nncf.TargetDevice.CPU,
                                  subset_size=len(calibration), fast_bias_correction=True)
        out = out_dir / "model.int8.xml"
        ov.save_model(quantized, str(out), compress_to_fp16=False)
        return self.artifact(out, files=[out.name, out.with_suffix(".bin").name])


class OvFp16(Recipe):
    name = "openvino-fp16-ir"
    precision = "fp16"
    toolchain = "openvino.save_model(compress_to_fp16=True)"
    packages = ("openvino",)
    output_format = "openvino-ir"

    def settings(self) -> dict[str, Any]:
        return {"weights": "FP16 in the IR", "compute": "f16 where the CPU has FP16 arithmetic, else f32"}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        import openvino as ov

        out = out_dir / "model.fp16.xml"
        ov.save_model(ov.Core().read_model(source.path), str(out), compress_to_fp16=True)
        return self.artifact(out, files=[out.name, out.with_suffix(".bin").name])
