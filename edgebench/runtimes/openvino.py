"""OpenVINO on the CPU plugin.

OpenVINO runs in bf16 by default on CPUs with AVX-512 BF16 or AMX; an FP32 cell sets the inference
precision hint to f32 and records what the compiled model reports back, so FP32 is really FP32.
"""
from __future__ import annotations

import numpy as np

from edgebench.errors import CellFailure
from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions

PRECISION_HINTS = {"fp32": "f32"}


def _text(value: object) -> str:
    """Property values come back as strings, numbers or ov.Type (whose short name is e.g. "f32")."""
    get_name = getattr(value, "get_type_name", None)
    return get_name() if callable(get_name) else str(value)


class OpenVinoSession(Session):
    def __init__(self, compiled, input_shape) -> None:
        super().__init__(input_shape)
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.output = compiled.output(0)

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        # share_inputs avoids a copy per call, as benchmark_app reuses its input tensors.
        results = self.request.infer({0: batch}, share_inputs=True)
        return results[self.output]


class OpenVinoRuntime(Runtime):
    name = "openvino"
    package = "openvino"
    install_hint = "pip install openvino"
    formats = ("onnx",)
    description = "OpenVINO, CPU plugin, latency hint, one stream"

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(artifact.path)
        # A static shape compiles to faster kernels than a dynamic batch (benchmark_app's -shape does this).
        model.reshape({model.input(0): ov.PartialShape([options.batch_size, *spec.input_shape])})
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": "1",
            "INFERENCE_NUM_THREADS": str(options.threads),
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[options.precision],
        }
        compiled = core.compile_model(model, "CPU", config)
        actual = {key: _text(compiled.get_property(key)) for key in
                  ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS", "PERFORMANCE_HINT")}
        if actual["INFERENCE_PRECISION_HINT"] != PRECISION_HINTS[options.precision]:
            raise CellFailure(f"OpenVINO compiled in {actual['INFERENCE_PRECISION_HINT']} although "
                              f"{PRECISION_HINTS[options.precision]} was asked for")
        session = OpenVinoSession(compiled, spec.input_shape)
        session.config = {"device": "CPU", "requested": config, "compiled": actual}
        return session
