"""LiteRT: torch → ``.tflite`` with litert-torch, then ai-edge-quantizer for FP16 weights and INT8.

litert-torch lives in a venv of its own (``edgebench env create litert``; edgebench.toolchains says why),
so these recipes run in that venv's interpreter. ai-edge-quantizer works on the FP32 ``.tflite`` the way
ONNX Runtime's quantiser works on the ONNX file: one conversion, then a recipe per precision.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData, Recipe


class LiteRtFp32(Recipe):
    name = "litert-fp32"
    precision = "fp32"
    toolchain = "litert-torch"
    packages = ("litert-torch", "ai-edge-litert", "torch")
    output_format = "tflite"
    source_format = "torch"
    toolchain_env = "litert"

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        return self.artifact(self.convert(source, spec, out_dir / "model.tflite"))

    @staticmethod
    def convert(source: Artifact, spec: ModelSpec, path: Path) -> Path:
        """The FP32 ``.tflite``, traced at batch 1 (the interpreter resizes the input for other batches). One
        conversion per source weights file and input shape: it is kept beside the weights, and every recipe of the
        model (FP32, FP16, INT8, INT8-dynamic) copies it instead of converting the model again."""
        import litert_torch

        from edgebench.machine.env import package_version
        from edgebench.quantize.torch_source import example, load_module

        weights = Path(source.path)
        stat = weights.stat()
        key = hashlib.sha1(json.dumps([str(weights.resolve()), stat.st_size, stat.st_mtime_ns, list(spec.input_shape),
                                       package_version("litert-torch")]).encode()).hexdigest()[:16]
        kept = weights.parent / f"litert-float-{key}.tflite"
        if kept.is_file():
            shutil.copyfile(kept, path)
            return path
        litert_torch.convert(load_module(source, spec), (example(spec, 1),)).export(str(path))
        try:
            partial = kept.with_suffix(f".{os.getpid()}.part")
            shutil.copyfile(path, partial)
            partial.replace(kept)
        except OSError:
            pass  # a read-only cache: the next recipe converts again
        return path


class LiteRtQuantized(LiteRtFp32):
    """An ai-edge-quantizer recipe applied to the FP32 ``.tflite``."""

    toolchain = "litert-torch + ai-edge-quantizer"
    packages = ("litert-torch", "ai-edge-quantizer", "ai-edge-litert", "torch")

    def quant_recipe(self):
        raise NotImplementedError

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        from ai_edge_quantizer import quantizer

        float_path = self.convert(source, spec, out_dir / "float.tflite")
        tool = quantizer.Quantizer(str(float_path))
        tool.load_quantization_recipe(self.quant_recipe())
        ranges = tool.calibrate(self.calibration_inputs(float_path, calibration)) if tool.need_calibration else None
        path = out_dir / "model.tflite"
        tool.quantize(ranges, enable_progress_report=False).export_model(str(path), overwrite=True)
        float_path.unlink()
        return self.artifact(path)

    @staticmethod
    def calibration_inputs(float_path: Path, calibration: CalibrationData | None) -> dict[str, list[dict[str, Any]]]:
        """The calibration images in the form ai-edge-quantizer reads: {signature: [{input name: batch}]}."""
        from ai_edge_litert.interpreter import Interpreter

        signatures = Interpreter(model_path=str(float_path)).get_signature_list()
        signature = next(iter(signatures))
        name = signatures[signature]["inputs"][0]
        return {signature: [{name: batch} for batch in (calibration or [])]}


class LiteRtFp16(LiteRtQuantized):
    name = "litert-fp16-weights"
    precision = "fp16"

    def settings(self) -> dict[str, Any]:
        return {"weights": "FP16", "compute": "FP32 (the interpreter dequantises the weights once, at load)"}

    def quant_recipe(self):
        from ai_edge_quantizer import qtyping, recipe_manager
        from ai_edge_quantizer.algorithm_manager import AlgorithmName

        manager = recipe_manager.RecipeManager()
        manager.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                       num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)
        return manager.get_quantization_recipe()


class LiteRtDynamicInt8(LiteRtQuantized):
    name = "litert-dynamic-int8"
    precision = "int8-dynamic"

    def settings(self) -> dict[str, Any]:
        return {"weights": "INT8 per channel, symmetric", "activations": "FP32, quantised on the fly per call"}

    def quant_recipe(self):
        from ai_edge_quantizer import recipe

        return recipe.dynamic_wi8_afp32()


class LiteRtInt8(LiteRtQuantized):
    name = "litert-static-int8"
    precision = "int8"
    needs_calibration = True

    def settings(self) -> dict[str, Any]:
        return {"weights": "INT8 per channel, symmetric", "activations": "INT8 static (min/max on the calibration images)",
                "io": "INT8 (the session quantises inputs and dequantises outputs with the model's scales)"}

    def quant_recipe(self):
        from ai_edge_quantizer import recipe

        return recipe.static_wi8_ai8()
