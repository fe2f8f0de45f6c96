"""ncnn through pnnx: a TorchScript trace, or a user's ONNX file, → ``.ncnn.param`` + ``.ncnn.bin`` (FP32)."""
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


class PnnxOnnxFp32(PnnxFp32):
    """A model given as an ONNX file: pnnx reads ONNX as well as TorchScript (at the model's input shape)."""

    name = "pnnx-ncnn-fp32-onnx"
    toolchain = "pnnx (ONNX → ncnn)"
    packages = ("pnnx",)
    source_format = "onnx"

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        import pnnx

        cwd = os.getcwd()
        os.chdir(out_dir)  # pnnx writes its intermediate files into the working folder
        try:
            pnnx.convert(str(source.path), input_shapes=[[1, *spec.input_shape]], input_types=["f32"], fp16=False,
                         ncnnparam=str(out_dir / "model.ncnn.param"), ncnnbin=str(out_dir / "model.ncnn.bin"),
                         pnnxparam=str(out_dir / "model.pnnx.param"), pnnxbin=str(out_dir / "model.pnnx.bin"),
                         pnnxpy=str(out_dir / "model_pnnx.py"), pnnxonnx=str(out_dir / "model.pnnx.onnx"),
                         ncnnpy=str(out_dir / "model_ncnn.py"))
        finally:
            os.chdir(cwd)
        for leftover in out_dir.iterdir():
            if leftover.is_file() and leftover.name not in ("model.ncnn.param", "model.ncnn.bin"):
                leftover.unlink()
        if not (out_dir / "model.ncnn.param").exists():
            raise RuntimeError(f"pnnx wrote no ncnn model for {source.path} (see the log for pnnx's messages)")
        unlowered = unlowered_layers(out_dir / "model.ncnn.param")
        if unlowered:
            raise RuntimeError(f"pnnx could not turn {', '.join(unlowered)} of this ONNX graph into ncnn layers "
                               "(ncnn cannot load it); convert the PyTorch model instead, or change those operations")
        return self.artifact(out_dir / "model.ncnn.param", files=["model.ncnn.param", "model.ncnn.bin"])


def unlowered_layers(param: Path) -> list[str]:
    """Layer types pnnx left at its own level (``Tensor.slice``, ``torch.*``, ``F.*``): ncnn has no such layer."""
    types = [line.split()[0] for line in param.read_text().splitlines()[2:] if line.strip()]
    return sorted({t for t in types if "." in t})

