"""OpenVINO on the CPU plugin.

OpenVINO runs in bf16 by default on CPUs with AVX-512 BF16 or AMX; every cell sets the inference
precision hint and checks what the compiled model reports back, so FP32 is really FP32. An FP16 cell
runs the FP16-compressed IR: in f16 where the CPU has FP16 arithmetic, else in f32 (the plugin would
otherwise silently pick bf16 for an f16 hint, which is another precision); the record says which.
An INT8 cell computes the layers NNCF left in float in f32.
"""
from __future__ import annotations

import numpy as np

from edgebench.errors import CellFailure, NotSupportedHere
from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions

# Cell precision -> inference precision hint for the float parts of the graph.
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
# The capability (OPTIMIZATION_CAPABILITIES) a hint needs.
NEEDS = {"bf16": "BF16", "f16": "FP16"}


def _text(value: object) -> str:
    """Property values come back as strings, numbers or ov.Type (whose short name is e.g. "f32")."""
    get_name = getattr(value, "get_type_name", None)
    return get_name() if callable(get_name) else str(value)


class OpenVinoSession(Session):
    timed_span = ("InferRequest.infer() on the float32 input (shared, not copied) at the compiled static shape; "
                  "it includes copying the output out of the request")

    def __init__(self, compiled, input_shape) -> None:
        super().__init__(input_shape)
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.output = compiled.output(0)

    def run(self, native: np.ndarray) -> np.ndarray:
        # share_inputs avoids a copy per call, as benchmark_app reuses its input tensors.
        results = self.request.infer({0: native}, share_inputs=True)
        return results[self.output]


class OpenVinoRuntime(Runtime):
    name = "openvino"
    package = "openvino"
    install_hint = "pip install openvino"
    formats = ("onnx",)
    precisions = ("fp32", "fp16", "bf16", "int8")
    recipes = {
        "int8": "edgebench.quantize.openvino:OvNncfInt8",
        "fp16": "edgebench.quantize.openvino:OvFp16",
    }
    slower_reasons = {
        "int8": "OpenVINO's INT8 kernels need VNNI or AMX-INT8; without them, or with many layers NNCF left in "
                "float, reorders between INT8 and FP32 cost more than they save",
        "fp16": "this CPU has no FP16 arithmetic, so the FP16 weights are converted and computed in FP32",
        "bf16": "BF16 gains most with AMX; with AVX-512 BF16 only, some layers convert between layouts",
    }
    description = "OpenVINO, CPU plugin, latency hint, one stream"

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        import openvino as ov

        core = ov.Core()
        capabilities = set(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        hint = PRECISION_HINTS[options.precision]
        if NEEDS.get(hint) not in (None, *capabilities):
            if options.precision == "fp16":
                hint = "f32"  # FP16 weights, FP32 arithmetic: what this CPU can do with an FP16 IR
            else:
                raise NotSupportedHere(f"this CPU has no {NEEDS[hint]} support (OpenVINO reports "
                                       f"{', '.join(sorted(capabilities))})")
        model = core.read_model(artifact.path)
        # A static shape compiles to faster kernels than a dynamic batch (benchmark_app's -shape does this).
        model.reshape({model.input(0): ov.PartialShape([options.batch_size, *spec.input_shape])})
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": "1",
            "INFERENCE_NUM_THREADS": str(options.threads),
            "INFERENCE_PRECISION_HINT": hint,
        }
        compiled = core.compile_model(model, "CPU", config)
        actual = {key: _text(compiled.get_property(key)) for key in
                  ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS", "PERFORMANCE_HINT")}
        if actual["INFERENCE_PRECISION_HINT"] != hint:
            raise CellFailure(f"OpenVINO compiled in {actual['INFERENCE_PRECISION_HINT']} although {hint} was asked for")
        session = OpenVinoSession(compiled, spec.input_shape)
        session.config = {"device": "CPU", "requested": config, "compiled": actual,
                          "execution_precision": hint, "artifact_precision": artifact.precision,
                          "cpu_capabilities": sorted(capabilities)}
        shape = [options.batch_size, *spec.input_shape]
        session.describe(threads_by="compiled_model.get_property('INFERENCE_NUM_THREADS')",
                         shape=f"static {shape} (model.reshape before compiling)", static=True,
                         reported=int(actual["INFERENCE_NUM_THREADS"]))
        return session
