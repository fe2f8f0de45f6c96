"""TensorRT engines: ONNX → engine through Polygraphy's loaders, one optimisation profile per batch size.

Every TensorRT precision is a recipe, FP32 included, because every engine is compiled. The engine is
cached like any artifact (``edgebench.quantize.build``): the key holds the GPU model and compute
capability, the TensorRT and Polygraphy versions, the precision and its route, and the shapes (input
shape and batch sizes), since an engine runs only on the GPU and TensorRT it was built for.

Precisions, as trtexec names them:

- ``fp32``: TF32 off (TensorRT enables TF32 by default; ``--noTF32``). ``tf32``: TF32 on. The reduced
  precisions keep TensorRT's default, TF32 allowed for the layers they leave in float, as trtexec does.
- ``fp16``: TensorRT 10 sets the FP16 builder flag on the FP32 network (``--fp16``: FP16 where faster,
  FP32 elsewhere). TensorRT 11 removed precision flags (every network is strongly typed), so there the
  engine is built from an FP16 ONNX whose inputs and outputs stay FP32.
- ``int8``: TensorRT 10 calibrates with its entropy calibrator (``IInt8EntropyCalibrator2``) on the run's
  calibration images (``--trt-int8 calibrate``, the default), or builds from a symmetric QDQ ONNX made by
  ONNX Runtime's quantiser on the same images (``--trt-int8 qdq``, explicit quantisation). TensorRT 11
  removed calibrators, so there it is always the QDQ route.
- ``best``: TensorRT 10 only (``--best``): FP32, TF32, FP16 and calibrated INT8 all allowed, TensorRT picks
  per layer. TensorRT 11 has no such mode; the cell is skipped with that reason.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgebench.errors import CellFailure, NotSupportedHere
from edgebench.export.artifact import Artifact
from edgebench.export.onnx_export import INPUT_NAME
from edgebench.machine.env import package_version
from edgebench.machine.gpus import gpu_identity
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData, Recipe

# Distributions that carry TensorRT's version (the ``tensorrt`` metapackage may be absent, e.g. with
# ``pip install tensorrt-cu12``); all of one install share the same version.
TRT_DISTRIBUTIONS = ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt_cu13_bindings", "tensorrt_cu12_bindings")


def trt_version() -> str:
    return next((v for d in TRT_DISTRIBUTIONS if (v := package_version(d))), "")


def trt_major(version: str | None = None) -> int:
    version = trt_version() if version is None else version
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


def static_batch(onnx_path: str) -> int | None:
    """The batch size fixed in the ONNX input, or None when it is dynamic (then profiles give the shapes)."""
    import onnx

    model = onnx.load(onnx_path, load_external_data=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return dims[0].dim_value if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0 else None


def profile_shapes(spec: ModelSpec, batch_sizes: tuple[int, ...]) -> list[tuple[int, ...]]:
    """One static shape per batch size; profile i of the engine serves ``batch_sizes[i]`` (min = opt = max,
    so each batch size gets kernels tuned for exactly its shape, as trtexec --shapes does)."""
    return [(b, *spec.input_shape) for b in sorted(set(batch_sizes))]


def polygraphy_profiles(input_name: str, shapes: list[tuple[int, ...]]) -> list:
    from polygraphy.backend.trt import Profile

    return [Profile().add(input_name, min=shape, opt=shape, max=shape) for shape in shapes]


class CalibrationFeed:
    """Calibration batches for Polygraphy's ``Calibrator``: dicts of input name → CUDA tensor, each of the
    calibration profile's shape (the last profile: Polygraphy calibrates with its OPT shape). The images
    wrap around to fill the last batch, so every batch holds real calibration images."""

    def __init__(self, calibration: CalibrationData, input_name: str, batch_size: int) -> None:
        self.calibration, self.input_name, self.batch_size = calibration, input_name, batch_size
        self.current = None  # the batch TensorRT is reading: kept alive until the next one is asked for

    def batches(self):
        """Normalised float32 batches of exactly ``batch_size`` images, read one batch at a time."""
        count = len(self.calibration.crops)
        if not count:
            raise CellFailure("INT8 calibration needs calibration images; none were given")
        from edgebench.data.images import normalize

        order = np.arange(-(-count // self.batch_size) * self.batch_size) % count
        for start in range(0, len(order), self.batch_size):
            crops = np.asarray(self.calibration.crops[order[start:start + self.batch_size]])
            yield normalize(crops, self.calibration.spec.preprocess)

    def __iter__(self):
        import torch

        for batch in self.batches():
            # Polygraphy's calibrator ends calibration silently on a wrong shape: check it here.
            if batch.shape != (self.batch_size, *self.calibration.spec.input_shape):
                raise CellFailure(f"calibration batch {batch.shape} does not match the engine's calibration profile")
            self.current = torch.from_numpy(batch).cuda()
            yield {self.input_name: self.current}


class TrtEngine(Recipe):
    """The FP32 engine (TF32 off); the other precisions change ``route``."""

    name = "trt-fp32"
    precision = "fp32"
    toolchain = "tensorrt (polygraphy loaders)"
    packages = (*TRT_DISTRIBUTIONS, "polygraphy")
    output_format = "engine"
    tf32 = False

    def route(self, major: int) -> dict[str, Any]:
        """How this precision is obtained on TensorRT ``major``: builder flags, and the ONNX it starts from."""
        return {"flags": {}, "onnx": "fp32"}

    def settings(self) -> dict[str, Any]:
        major = trt_major()
        return {"tf32": self.tf32, **self.route(major), "batch_sizes": sorted(set(self.batch_sizes)),
                "gpu": gpu_identity(), "tensorrt_major": major}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        s = self.settings()
        if not s["gpu"]:
            raise NotSupportedHere("TensorRT engines are built on the GPU they run on; no NVIDIA GPU is visible")
        onnx_path = self.prepare_onnx(source, spec, calibration, out_dir, s)
        loader, shapes = self.loader(onnx_path, spec, calibration, s)
        serialized = loader()  # here TensorRT parses the ONNX, calibrates if asked, and builds
        if serialized is None:
            raise CellFailure("TensorRT returned no engine (see the worker log for the builder's errors)")
        out = out_dir / f"model.{self.precision}.engine"
        out.write_bytes(bytes(serialized))
        return self.artifact(out, profiles=[shape[0] for shape in shapes], input_name=spec.input_name or INPUT_NAME,
                             tensorrt=trt_version())

    def loader(self, onnx_path: str, spec: ModelSpec, calibration: CalibrationData | None, s: dict[str, Any]):
        """Polygraphy's lazy loader chain (nothing touches TensorRT until it is called) and the profile shapes."""
        from polygraphy.backend.trt import CreateConfig, EngineBytesFromNetwork, NetworkFromOnnxPath

        input_name = spec.input_name or INPUT_NAME
        fixed = static_batch(onnx_path)
        shapes = [(fixed, *spec.input_shape)] if fixed else profile_shapes(spec, self.batch_sizes)
        calibrator = self.calibrator(calibration, input_name, shapes[-1][0]) if s.get("calibrator") else None
        config = CreateConfig(tf32=s["tf32"], **s["flags"], calibrator=calibrator,
                              profiles=None if fixed else polygraphy_profiles(input_name, shapes))
        # TensorRT 11 networks are always strongly typed (the precision is in the ONNX); on 10 the flags set it.
        return EngineBytesFromNetwork(NetworkFromOnnxPath(onnx_path), config=config), shapes

    def prepare_onnx(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path,
                     s: dict[str, Any]) -> str:
        if s["onnx"] == "fp16":
            from edgebench.quantize.onnxruntime import fp16_onnx

            return str(fp16_onnx(source.path, out_dir / "model.fp16.onnx"))
        if s["onnx"] == "qdq":
            from edgebench.quantize.onnxruntime import quantize_symmetric_qdq

            return str(quantize_symmetric_qdq(source.path, spec, calibration, out_dir, s["qdq"]))
        return source.path

    @staticmethod
    def calibrator(calibration: CalibrationData, input_name: str, batch_size: int):
        import tensorrt as trt
        from polygraphy.backend.trt import Calibrator

        # No cache file: Polygraphy would reuse any cache it finds without checking it; the engine itself is cached.
        return Calibrator(CalibrationFeed(calibration, input_name, batch_size), BaseClass=trt.IInt8EntropyCalibrator2)


class TrtTf32(TrtEngine):
    name = "trt-tf32"
    precision = "tf32"
    tf32 = True


class TrtFp16(TrtEngine):
    name = "trt-fp16"
    precision = "fp16"
    tf32 = True  # as trtexec --fp16: layers left in float may use TF32

    def route(self, major: int) -> dict[str, Any]:
        if major >= 11:
            return {"flags": {}, "onnx": "fp16"}
        return {"flags": {"fp16": True}, "onnx": "fp32"}


class TrtInt8(TrtEngine):
    name = "trt-int8"
    precision = "int8"
    needs_calibration = True
    tf32 = True  # as trtexec --int8: layers left in float may use TF32

    def route(self, major: int) -> dict[str, Any]:
        from edgebench.quantize.onnxruntime import symmetric_qdq_settings

        if major >= 11 or self.options.trt_int8 == "qdq":
            qdq = symmetric_qdq_settings(self.options.calib_method, self.options.per_channel)
            return {"flags": {} if major >= 11 else {"int8": True}, "onnx": "qdq", "qdq": qdq,
                    "why": "TensorRT 11 has no calibrators" if major >= 11 and self.options.trt_int8 != "qdq" else ""}
        return {"flags": {"int8": True}, "onnx": "fp32", "calibrator": "IInt8EntropyCalibrator2"}


class TrtBest(TrtEngine):
    name = "trt-best"
    precision = "best"
    needs_calibration = True
    tf32 = True

    def route(self, major: int) -> dict[str, Any]:
        return {"flags": {"fp16": True, "int8": True}, "onnx": "fp32", "calibrator": "IInt8EntropyCalibrator2"}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        if trt_major() >= 11:
            raise NotSupportedHere("TensorRT 11 removed the precision flags behind --best; measure fp16 and int8")
        return super().build(source, spec, calibration, out_dir)
