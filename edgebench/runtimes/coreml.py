"""Core ML: an ``.mlpackage`` run by Core ML, which exists only on Apple's systems.

Elsewhere the model is still converted and its size recorded; the cell says "converted; inference needs
macOS" and is counted as skipped, never as failed."""
from __future__ import annotations

import sys

import numpy as np

from edgebench.errors import NotSupportedHere
from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions

NOT_MACOS = "converted; inference needs macOS"


class CoreMlSession(Session):
    def __init__(self, model, input_shape) -> None:
        super().__init__(input_shape)
        self.model = model
        description = model.get_spec().description
        self.input_name, self.output_name = description.input[0].name, description.output[0].name

    timed_span = "MLModel.predict() on the float32 input, including its dictionary wrapping of input and output"

    def run(self, native: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict({self.input_name: native})[self.output_name], dtype=np.float32)


class CoreMlRuntime(Runtime):
    name = "coreml"
    package = "coremltools"
    install_hint = "pip install 'edgebench[coreml]'"
    formats = ("mlpackage",)
    converts_torch = True
    precisions = ("fp32", "fp16", "int8-weights")
    recipes = {"fp32": "edgebench.quantize.coreml:CoreMlFp32", "fp16": "edgebench.quantize.coreml:CoreMlFp16",
               "int8-weights": "edgebench.quantize.coreml:CoreMlInt8Weights"}
    description = "Core ML (coremltools converts anywhere; inference on macOS only)"

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        if sys.platform != "darwin":
            raise NotSupportedHere(f"{NOT_MACOS} (the .mlpackage is {artifact.size_mb:.2f} MB)")
        import coremltools as ct

        # ALL lets Core ML place layers on the CPU, GPU or Neural Engine, as an app does by default.
        model = ct.models.MLModel(artifact.path, compute_units=ct.ComputeUnit.ALL)
        session = CoreMlSession(model, spec.input_shape)
        session.config = {"compute_units": "ALL", "artifact_precision": artifact.precision,
                          "threads": "Core ML's own (it has no thread setting)"}
        session.describe(threads_by="not readable: Core ML has neither a thread setting nor a getter", static=False,
                         shape="dynamic batch (converted with a batch range; Core ML plans each call's shape)")
        return session
