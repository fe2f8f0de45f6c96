"""ncnn through pnnx: a TorchScript trace → ``.ncnn.param`` + ``.ncnn.bin`` (FP32)."""
from __future__ import annotations

import os
from pathlib import Path

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData, Recipe


class PnnxFp32(Recipe):
    name = "pnnx-ncnn-fp32"
    precision = "fp32"
    toolchain = "pnnx (TorchScript → ncnn)"
    packages = ("pnnx", "torch")
    output_format = "ncnn"
    source_format = "torch"

    def settings(self) -> dict:
        # pnnx writes FP16 weights into the .bin unless told not to: an "fp32" row would then run FP16-rounded
        # weights (in FP32 arithmetic) with half the file size, unlike every other runtime's FP32 row.
        return {"weights": "fp32"}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        import pnnx

        from edgebench.quantize.torch_source import example, load_module

        cwd = os.getcwd()
        os.chdir(out_dir)  # pnnx writes its debug files (model_pnnx.py, model_ncnn.py) into the working folder
        try:
            pnnx.export(load_module(source, spec), str(out_dir / "model.pt"), (example(spec, 1),), fp16=False)
        finally:
            os.chdir(cwd)
        for leftover in out_dir.iterdir():
            if leftover.name not in ("model.ncnn.param", "model.ncnn.bin"):
                leftover.unlink()
        return self.artifact(out_dir / "model.ncnn.param", files=["model.ncnn.param", "model.ncnn.bin"])
