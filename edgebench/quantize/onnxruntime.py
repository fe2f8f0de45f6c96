"""ONNX Runtime recipes: static INT8 (calibrated), dynamic INT8 and FP16, each an ONNX file.

Static INT8 default, measured (README, "Precisions"): QDQ, U8 activations and per-channel S8 weights.
ONNX Runtime fuses that into its integer kernels on x86 (about 3x faster than FP32 for resnet50 on
an AVX-512 VNNI CPU), whereas S8 activations ran 2.4x (QDQ) and 14x (QOperator) slower than U8 there.
Without VNNI, U8S8 can saturate (vpmaddubsw), hence ``reduce_range`` on such CPUs by default.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgebench.export.artifact import Artifact
from edgebench.export.onnx_export import INPUT_NAME
from edgebench.machine.env import cpu_flags
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData, Recipe

# Min/max calibrates as well on batches of 8 as on single images, faster; the histogram calibrators
# (entropy, percentile) stack per-batch arrays and need every batch the same size. Large models get smaller
# batches (edgebench.quantize.memory): the calibration session's memory grows with the batch.
MINMAX_BATCH = 8
# The entropy calibrator's histogram: 2048 bins, and the KL-divergence search over thresholds of 128 quantised bins
# and up, as TensorRT's entropy calibration. ONNX Runtime's own defaults (128 and 128) leave one candidate, the
# whole histogram, so its "entropy" ranges were its min/max ones: YOLOX-Nano's INT8 model came out byte for byte
# the same. quantize_static passes no bin counts to its calibrator, so the ranges are computed with ONNX Runtime's
# calibrator here and handed to quantize_static as its calibration cache.
ENTROPY_BINS = (2048, 128)


def _has_vnni() -> bool:
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


PER_CHANNEL_OPSET = 13


def _without_value_info(path: str, out_dir: Path) -> tuple[str, float]:
    """A copy without the exporter's intermediate shapes: the quantisers rewrite nodes (Gemm → MatMul) and
    then re-run shape inference, which fails against the stale shapes (onnx InferenceError). Also returns
    the model's activation megabytes per image, read from those shapes before they go. A model of an older
    opset (YOLOX-Nano's 11) is converted to 13 with onnx's version converter first: ONNX Runtime's quantiser
    writes per-axis DequantizeLinear nodes, which older opsets reject when the model loads."""
    import onnx

    from edgebench.quantize.memory import activation_mb_per_image

    model = onnx.load(path)
    activation_mb = activation_mb_per_image(model)
    del model.graph.value_info[:]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), PER_CHANNEL_OPSET)
    if opset < PER_CHANNEL_OPSET:  # per-channel (and per-axis) DequantizeLinear needs opset 13
        from onnx import version_converter

        model = version_converter.convert_version(model, PER_CHANNEL_OPSET)
    out = out_dir / "source.onnx"
    onnx.save(model, str(out))
    return str(out), activation_mb


def _quiet() -> None:
    # The quantiser logs a "consider pre-processing" warning per call at root level; the choice is ours.
    logging.getLogger().setLevel(logging.ERROR)


class OrtStaticInt8(Recipe):
    name = "ort-static-int8"
    precision = "int8"
    toolchain = "onnxruntime.quantization.quantize_static"
    packages = ("onnxruntime", "onnxruntime-gpu", "onnx")
    needs_calibration = True

    def settings(self) -> dict[str, Any]:
        o = self.options
        reduce = {"auto": not _has_vnni(), "on": True, "off": False}[o.reduce_range]
        s = {"format": o.ort_format.upper(), "activations": o.ort_activations.upper(),
             "weights": o.ort_weights.upper(), "per_channel": o.per_channel, "reduce_range": reduce,
             "calibration": o.calib_method, "preprocess": o.ort_preprocess}
        # Keys a default recipe does not have, only when set: the cache keys of default recipes stay as they were.
        if o.exclude_nodes:
            s["nodes_excluded"] = list(o.exclude_nodes)
        if o.tail_nodes:
            s["float_tail"] = list(o.tail_nodes)  # the ops after the last weighted layers (quantize.float_tail)
        if o.calib_limit is not None:
            s["calib_limit"] = o.calib_limit
        return {**s, **entropy_settings(o.calib_method)}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        out = quantize_qdq(source.path, spec, calibration, out_dir, self.settings())
        return self.artifact(out)


def quantize_qdq(source_path: str, spec: ModelSpec, calibration: CalibrationData, out_dir: Path,
                 s: dict[str, Any], extra_options: dict[str, Any] | None = None) -> Path:
    """ONNX Runtime's static quantiser with settings ``s`` (as ``OrtStaticInt8.settings`` names them; the
    optional ``nodes_excluded``, ``float_tail`` and ``calib_limit`` apply when present)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    from edgebench.quantize.memory import bound

    _quiet()
    calibration.limit(s.get("calib_limit"))
    model_path, activation_mb = _without_value_info(source_path, out_dir)
    model_path = _preprocessed(model_path, out_dir) if s["preprocess"] else model_path
    input_name = spec.input_name or INPUT_NAME  # a user's ONNX file names it; exports use INPUT_NAME
    # Min/max keeps only each tensor's reduced range per call: memory follows the batch. The histogram
    # calibrators keep every image's full outputs until the end: memory follows the number of images.
    histogram = s["calibration"] != "minmax"
    largest = 1 if histogram else min(MINMAX_BATCH, spec.fixed_batch or MINMAX_BATCH)  # a fixed batch takes no other
    memory = bound(activation_mb, largest_batch=largest, keeps_outputs=histogram)
    calibration.batch_size = memory.batch
    used = len(calibration)
    if memory.max_images is not None and memory.max_images < used:
        used = memory.max_images
        calibration.crops = calibration.crops[:used]
    calibration.memory = {**memory.to_dict(), "images_used": used}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    out = out_dir / "model.int8.onnx"
    ranges = {}
    if s["calibration"] == "entropy":
        ranges["calibration_cache_path"] = str(entropy_ranges(model_path, Reader(), out_dir))
    quantize_static(
        model_path, str(out), None if ranges else Reader(),
        quant_format=QuantFormat.QDQ if s["format"] == "QDQ" else QuantFormat.QOperator,
        activation_type=QuantType.QUInt8 if s["activations"] == "U8" else QuantType.QInt8,
        weight_type=QuantType.QUInt8 if s["weights"] == "U8" else QuantType.QInt8,
        nodes_to_exclude=list(dict.fromkeys([*s.get("nodes_excluded", ()), *s.get("float_tail", ())])),
        per_channel=s["per_channel"],
        reduce_range=s["reduce_range"],
        calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                          "percentile": CalibrationMethod.Percentile}[s["calibration"]],
        extra_options=extra_options or {},
        **ranges,
    )
    return out


def entropy_settings(calib_method: str) -> dict[str, Any]:
    """The histogram an entropy calibration uses, recorded with the recipe's settings (and in its cache key)."""
    return {"entropy_bins": list(ENTROPY_BINS)} if calib_method == "entropy" else {}


def entropy_ranges(model_path: str, reader, out_dir: Path) -> Path:
    """ONNX Runtime's entropy calibrator over ``reader`` with ``ENTROPY_BINS``; its ranges as quantize_static's
    calibration cache (a JSON file in ``out_dir``)."""
    import inspect
    import tempfile

    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator, save_tensors_data

    from edgebench.errors import NotSupportedHere

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise NotSupportedHere("entropy calibration needs an ONNX Runtime whose quantize_static takes calibration "
                               "ranges (calibration_cache_path); with its own 128 bins it gives min/max's ranges")
    bins, quantized_bins = ENTROPY_BINS
    with tempfile.TemporaryDirectory(prefix="entropy-", dir=out_dir) as work:
        calibrator = create_calibrator(Path(model_path), None, augmented_model_path=str(Path(work) / "augmented.onnx"),
                                       calibrate_method=CalibrationMethod.Entropy,
                                       extra_options={"num_bins": bins, "num_quantized_bins": quantized_bins})
        calibrator.collect_data(reader)
        path = out_dir / "entropy-ranges.json"
        save_tensors_data(calibrator.compute_data(), path)
        del calibrator
    return path


def symmetric_qdq_settings(calib_method: str, per_channel: bool) -> dict[str, Any]:
    """What TensorRT's explicit quantisation takes: QDQ, S8 activations and weights, zero points 0."""
    return {"format": "QDQ", "activations": "S8", "weights": "S8", "symmetric": True, "per_channel": per_channel,
            "reduce_range": False, "calibration": calib_method, "preprocess": False, **entropy_settings(calib_method)}


def quantize_symmetric_qdq(source_path: str, spec: ModelSpec, calibration: CalibrationData, out_dir: Path,
                           s: dict[str, Any]) -> Path:
    return quantize_qdq(source_path, spec, calibration, out_dir, s,
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})


def fp16_onnx(source_path: str, out: Path) -> Path:
    """The model with FP16 weights and arithmetic; inputs and outputs stay float32, so every runtime is
    fed the same tensors."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(source_path), keep_io_types=True), str(out))
    return out


class OrtTrtInt8(OrtStaticInt8):
    """For ONNX Runtime's TensorRT provider: the symmetric QDQ model TensorRT's explicit quantisation takes."""

    name = "ort-trt-int8"

    def settings(self) -> dict[str, Any]:
        return symmetric_qdq_settings(self.options.calib_method, self.options.per_channel)

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        return self.artifact(quantize_symmetric_qdq(source.path, spec, calibration, out_dir, self.settings()))


class OrtDynamicInt8(Recipe):
    name = "ort-dynamic-int8"
    precision = "int8-dynamic"
    toolchain = "onnxruntime.quantization.quantize_dynamic"
    packages = ("onnxruntime", "onnxruntime-gpu", "onnx")

    def settings(self) -> dict[str, Any]:
        # U8 weights: ConvInteger with S8 weights ran 2.6-3.6x slower than U8 for resnet50 on x86 (README).
        return {"weights": "U8", "activations": "U8 (ranges computed per call)", "per_channel": False}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        _quiet()
        out = out_dir / "model.int8-dynamic.onnx"
        quantize_dynamic(_without_value_info(source.path, out_dir)[0], str(out), weight_type=QuantType.QUInt8,
                         per_channel=False)
        return self.artifact(out)


class OrtFp16(Recipe):
    name = "ort-fp16"
    precision = "fp16"
    toolchain = "onnxruntime.transformers.float16.convert_float_to_float16"
    packages = ("onnxruntime", "onnxruntime-gpu", "onnx")

    def settings(self) -> dict[str, Any]:
        return {"keep_io_types": True}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        return self.artifact(fp16_onnx(source.path, out_dir / "model.fp16.onnx"))


def _preprocessed(path: str, out_dir: Path) -> str:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = out_dir / "preprocessed.onnx"
    quant_pre_process(path, str(out))
    return str(out)
