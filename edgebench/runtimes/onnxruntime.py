"""ONNX Runtime with the CPU execution provider."""
from __future__ import annotations

import numpy as np

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions, os_threads


class OnnxRuntimeSession(Session):
    timed_span = ("InferenceSession.run() on a float32 numpy input (wrapped without a copy) at a fixed batch; "
                  "it includes allocating the output array it returns")

    def __init__(self, session, input_shape) -> None:
        super().__init__(input_shape)
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def run(self, native: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: native})[0]


def batch_dim_name(path: str) -> str | int | None:
    """The name (dim_param) of the first input's batch dimension; its size when it is already fixed.

    Read from the graph with ``onnx`` where it is installed (no weights loaded); a device that runs
    ``run --artifacts`` may have only onnxruntime, so a probe session reads it there."""
    try:
        import onnx
    except ImportError:
        import onnxruntime as ort

        probe = ort.SessionOptions()
        probe.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        shape = ort.InferenceSession(path, probe, providers=["CPUExecutionProvider"]).get_inputs()[0].shape
        return shape[0] if shape else None
    graph = onnx.load(path, load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    first = next(i for i in graph.input if i.name not in initializers)
    dims = first.type.tensor_type.shape.dim
    if not dims:
        return None
    return dims[0].dim_param or (dims[0].dim_value if dims[0].HasField("dim_value") else None)


def fix_batch(so, path: str, batch_size: int) -> tuple[bool, str]:
    """Pin the batch dimension to the cell's batch (a free-dimension override), so ONNX Runtime plans
    memory and picks kernels for one shape. Returns (static, what was done)."""
    dim = batch_dim_name(path)
    if isinstance(dim, int) and dim > 0:
        return dim == batch_size, f"batch fixed to {dim} in the ONNX file"
    if isinstance(dim, str) and dim:
        so.add_free_dimension_override_by_name(dim, batch_size)
        return True, f"batch {batch_size} (free dimension '{dim}' overridden)"
    return False, "dynamic batch (the input's batch dimension has no name to override)"


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
        from edgebench.machine.env import package_version

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
        static, shape = fix_batch(so, artifact.path, options.batch_size)
        before = os_threads()
        session = ort.InferenceSession(artifact.path, so, providers=["CPUExecutionProvider"])
        started = os_threads()
        wrapped = OnnxRuntimeSession(session, spec.input_shape)
        wrapped.config = {"providers": session.get_providers(), "intra_op_threads": options.threads,
                          "inter_op_threads": 1, "graph_optimization": "ORT_ENABLE_ALL",
                          "artifact_precision": artifact.precision,
                          "input_shape": [d if isinstance(d, int) else str(d) for d in session.get_inputs()[0].shape]}
        if before is None or started is None:
            wrapped.describe(threads_by="not readable: ONNX Runtime has no getter for its intra-op pool, and this "
                                        "platform has no /proc/self/task to count the threads it starts",
                             shape=shape, static=static)
        else:
            # The intra-op pool runs on the calling thread plus the workers it starts with the session.
            wrapped.describe(threads_by="1 + the OS threads InferenceSession() started (/proc/self/task); "
                                        "get_session_options() would only echo the option",
                             shape=shape, static=static, reported=1 + started - before)
        return wrapped
