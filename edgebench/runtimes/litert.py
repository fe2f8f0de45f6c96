"""LiteRT (TensorFlow Lite): the ai-edge-litert interpreter with its default XNNPACK delegate."""
from __future__ import annotations

import numpy as np

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions


class LiteRtSession(Session):
    io_work = True

    def __init__(self, interpreter, input_shape, output_name: str | None = None, nhwc: bool = False) -> None:
        super().__init__(input_shape)
        self.interpreter = interpreter
        self.input = interpreter.get_input_details()[0]
        outputs = interpreter.get_output_details()
        self.output = next((o for o in outputs if o["name"] == output_name), outputs[0])
        self.nhwc = nhwc  # the file takes NHWC (a LiteRT model's own layout): the batch is transposed to it
        integer = np.dtype(self.input["dtype"]) != np.float32
        self.timed_span = ("interpreter.invoke() on an input staged in the interpreter beforehand"
                           + ("; quantise + set_tensor and get_tensor + dequantise in io_latency_ms" if integer
                              else "; set_tensor and get_tensor in io_latency_ms")
                           + ("; the NCHW batch transposed to the file's NHWC in io_latency_ms" if nhwc else ""))

    def prepare_input(self, batch: np.ndarray) -> np.ndarray:
        # A full-integer model takes INT8: quantise here, as an app would, and stage it in the interpreter's
        # input buffer (an app writes that buffer directly); invoke() reads it from there.
        if self.nhwc:
            batch = np.ascontiguousarray(batch.transpose(0, 2, 3, 1))
        native = _quantize(batch, self.input)
        self.interpreter.set_tensor(self.input["index"], native)
        return native

    def run(self, native: np.ndarray) -> None:
        self.interpreter.invoke()  # on the input staged by prepare_input

    def finish(self, raw: None) -> np.ndarray:
        return _dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)


def _quantize(batch: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return batch
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(batch / scale) + zero, info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if values.dtype == np.float32:
        return values.copy()  # get_tensor's buffer is the interpreter's; the next invoke overwrites it
    scale, zero = detail["quantization"]
    return (values.astype(np.float32) - zero) * np.float32(scale)


class LiteRtRuntime(Runtime):
    name = "litert"
    package = "ai_edge_litert"
    install_hint = "pip install 'edgebench[litert]' (and, to convert models, `edgebench env create litert`)"
    formats = ("tflite",)
    converts_torch = True
    precisions = ("fp32", "fp16", "int8", "int8-dynamic")
    recipes = {
        "fp32": "edgebench.quantize.litert:LiteRtFp32",
        "fp16": "edgebench.quantize.litert:LiteRtFp16",
        "int8": "edgebench.quantize.litert:LiteRtInt8",
        "int8-dynamic": "edgebench.quantize.litert:LiteRtDynamicInt8",
    }
    slower_reasons = {
        "fp16": "FP16 weights only shrink the file: XNNPACK dequantises them at load and computes in FP32",
        "int8": "operators XNNPACK has no INT8 kernel for fall back to the reference kernels",
        "int8-dynamic": "dynamic-range INT8 quantises activations on every call; on a CPU with fast FP32 "
                        "(AVX-512) that costs more than the INT8 arithmetic saves",
    }
    description = "LiteRT interpreter (ai-edge-litert) with the XNNPACK delegate"

    @classmethod
    def distribution(cls) -> str:
        return "ai-edge-litert"

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        from ai_edge_litert.interpreter import Interpreter

        # XNNPACK is applied by default; num_threads sizes its thread pool (and the built-in kernels').
        interpreter = Interpreter(model_path=artifact.path, num_threads=options.threads)
        detail = interpreter.get_input_details()[0]
        # The cell's batch as a fixed shape: resize before allocate_tensors, so XNNPACK plans for it.
        converted = [int(d) for d in detail["shape"]]
        channels, height, width = spec.input_shape
        nhwc = converted[1:] == [height, width, channels] and converted[1:] != list(spec.input_shape)
        if converted[0] != options.batch_size:
            shape = [height, width, channels] if nhwc else list(spec.input_shape)
            interpreter.resize_tensor_input(detail["index"], [options.batch_size, *shape], strict=False)
        interpreter.allocate_tensors()
        allocated = [int(d) for d in interpreter.get_input_details()[0]["shape"]]
        session = LiteRtSession(interpreter, spec.input_shape, spec.output_name, nhwc)
        session.config = {"threads": options.threads, "delegate": "XNNPACK (default)",
                          "input_dtype": np.dtype(session.input["dtype"]).name, "input_layout": "NHWC" if nhwc else "NCHW",
                          "output": session.output["name"],
                          "artifact_precision": artifact.precision}
        how = "as converted" if converted == allocated else f"resized from {converted} before allocate_tensors"
        session.describe(threads_by="not readable: the LiteRT Interpreter has no getter for its thread count "
                                    "(num_threads is only passed in)",
                         shape=f"static {allocated} ({how})", static=allocated[0] == options.batch_size)
        return session
