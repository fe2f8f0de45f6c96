"""ONNX Runtime with the CPU execution provider."""
from __future__ import annotations

import numpy as np

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions


class OnnxRuntimeSession(Session):
    def __init__(self, session, input_shape) -> None:
        super().__init__(input_shape)
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]


class OnnxRuntimeRuntime(Runtime):
    name = "onnxruntime"
    package = "onnxruntime"
    install_hint = "pip install onnxruntime"
    formats = ("onnx",)
    precisions = ("fp32", "fp16", "int8", "int8-dynamic")
    recipes = {
        "int8": "edgebench.quantize.onnxruntime:OrtStaticInt8",
        "int8-dynamic": "edgebench.quantize.onnxruntime:OrtDynamicInt8",
        "fp16": "edgebench.quantize.onnxruntime:OrtFp16",
    }
    slower_reasons = {
        "int8": "ONNX Runtime's fast integer kernels on x86 take U8 activations with S8 weights; S8 activations, "
                "Q/DQ pairs around operators without integer kernels, or a CPU without VNNI run slower than FP32",
        "int8-dynamic": "dynamic INT8 computes activation ranges on every call and runs convolutions through "
                        "ConvInteger; it pays off on MatMul-heavy models (transformers), not on CNNs",
        "fp16": "ONNX Runtime's CPU provider has few FP16 kernels on x86: it casts to FP32 around most operators",
    }
    description = "ONNX Runtime, CPU execution provider"

    @classmethod
    def distribution(cls) -> str:
        # onnxruntime-gpu provides the same package (with the CPU provider) under another distribution name
        from edgebench.harness.env import package_version

        return "onnxruntime" if package_version("onnxruntime") or not package_version("onnxruntime-gpu") else "onnxruntime-gpu"

    @classmethod
    def slower_reason(cls, precision: str, settings: dict) -> str:
        if precision == "int8" and settings.get("activations") == "S8":
            return ("this recipe quantises activations to S8; ONNX Runtime's fast integer kernels on x86 take U8 "
                    "activations (use the default --ort-activations u8)")
        return super().slower_reason(precision, settings)

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        import onnxruntime as ort

        so = ort.SessionOptions()
        # One intra-op pool of the run's size, no inter-op parallelism: the same budget as every runtime.
        so.intra_op_num_threads = options.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(artifact.path, so, providers=["CPUExecutionProvider"])
        wrapped = OnnxRuntimeSession(session, spec.input_shape)
        wrapped.config = {"providers": session.get_providers(), "intra_op_threads": options.threads,
                          "inter_op_threads": 1, "graph_optimization": "ORT_ENABLE_ALL",
                          "artifact_precision": artifact.precision}
        return wrapped
