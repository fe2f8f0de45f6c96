"""Runtime and Session: the only things a runtime module implements.

A Runtime says whether it can run here (and how to install it if not), which artifact formats and
precisions it takes, and turns an artifact into a Session. A Session does ``infer(batch)`` and nothing
else: timing, memory and accuracy live in the harness (Polygraphy's ``BaseRunner`` split).
"""
from __future__ import annotations

import importlib.util
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edgebench.errors import CellFailure
from edgebench.export.artifact import Artifact
from edgebench.models.spec import TORCH_SOURCES, ModelSpec


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class SessionOptions:
    """What every runtime is given, identically: the run's thread count, precision and batch size; the
    GPU runtimes also read whether to replay CUDA graphs and where to keep their own caches."""

    threads: int
    precision: str
    batch_size: int
    cuda_graphs: bool = False
    cache_dir: str | None = None


class Session:
    """A loaded model. ``config`` records the settings the runtime actually used.

    One call is three steps, so that the harness times only the model: ``prepare_input`` puts the float32
    batch into the runtime's own input form (quantised, wrapped, staged in the runtime's input buffer),
    ``run`` is the model's inference on that (the only timed span), ``finish`` turns the raw output into a
    float32 array (dequantised, converted, copied out of a buffer the next run reuses). ``infer`` composes
    them, so the accuracy path sees what an application sees. A session that implements only
    ``infer_impl`` (the GPU sessions) times all of it as ``run``.
    """

    # What ``run`` holds, in the result's words (``timed_span``); sessions say it precisely.
    timed_span: str = "the whole infer() call"
    # Whether prepare_input/finish do work worth a figure of their own (``io_latency_ms``).
    io_work: bool = False

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.input_shape = tuple(input_shape)
        self.config: dict[str, Any] = {}
        # The thread count the runtime reports it uses (None where its API cannot say; config says why).
        self.threads_reported: int | None = None
        self.static_shape: bool = False  # the cell's batch was compiled as a fixed shape

    def check(self, batch: np.ndarray) -> None:
        if batch.dtype != np.float32 or batch.ndim != 4 or tuple(batch.shape[1:]) != self.input_shape:
            raise CellFailure(f"expected a float32 batch of shape (N, {', '.join(map(str, self.input_shape))}), "
                              f"got {batch.dtype} {tuple(batch.shape)}")

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch (N, C, H, W float32) and return the output as a numpy array."""
        self.check(batch)
        return self.finish(self.run(self.prepare_input(batch)))

    def prepare_input(self, batch: np.ndarray) -> Any:
        """The batch in the runtime's own input form (outside the timed span)."""
        return batch

    def run(self, native: Any) -> Any:
        """The model's inference on a prepared input: the timed span."""
        return self.infer_impl(native)

    def finish(self, raw: Any) -> np.ndarray:
        """The raw output as a float32 array the caller owns (outside the timed span)."""
        return raw

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} implements neither run() nor infer_impl()")

    def describe(self, *, threads_by: str, shape: str, static: bool, reported: int | None = None) -> None:
        """Record how the runtime reads back its threads and what input shape it compiled."""
        self.threads_reported, self.static_shape = reported, static
        self.config["threads_reported_by"] = threads_by
        self.config["shape"] = shape


def os_threads() -> int | None:
    """This process's OS thread count (Linux), to see how many threads a runtime starts while loading."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


class Runtime(ABC):
    name: ClassVar[str]
    package: ClassVar[str]  # the import name whose presence makes the runtime available
    install_hint: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]  # artifact formats it loads, preferred first
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    # precision -> "module:Recipe" that builds its artifact from the FP32 one (edgebench.quantize);
    # a precision absent here runs the FP32 artifact with a runtime setting (e.g. OpenVINO's bf16 hint).
    recipes: ClassVar[dict[str, str]] = {}
    # precision -> the likely reason when a cell of it runs slower than its FP32 sibling.
    slower_reasons: ClassVar[dict[str, str]] = {}
    device: ClassVar[str] = "cpu"
    # Its artifacts run on another machine of the same kind: `edgebench export` ships them (a TensorRT
    # engine is built for one GPU, PyTorch needs torch and the model's code, so those are built there).
    portable: ClassVar[bool] = True
    # Its converter starts from the PyTorch model (torch.export), so a model given as an ONNX file is skipped,
    # unless it also has a recipe from ONNX (``onnx_recipes``: pnnx reads ONNX for ncnn).
    converts_torch: ClassVar[bool] = False
    onnx_recipes: ClassVar[dict[str, str]] = {}
    description: ClassVar[str] = ""

    @classmethod
    def availability(cls) -> Availability:
        """Cheap check (no heavy import) whether this runtime can be used here."""
        if importlib.util.find_spec(cls.package) is None:
            return Availability(False, f"{cls.package} is not installed; install it with: {cls.install_hint}")
        return Availability(True)

    @classmethod
    def version(cls) -> str:
        from edgebench.machine.env import package_version

        return package_version(cls.distribution())

    @classmethod
    def distribution(cls) -> str:
        return cls.package

    @classmethod
    def slower_reason(cls, precision: str, settings: dict[str, Any]) -> str:
        """Why a ``precision`` cell built with recipe ``settings`` is likely slower than FP32."""
        return cls.slower_reasons.get(precision, "no known reason")

    def supports(self, spec: ModelSpec, precision: str, batch_size: int) -> str | None:
        """None when the cell can run, else why it is skipped."""
        if spec.fixed_batch and spec.fixed_batch != batch_size:
            return f"the model has a fixed batch size of {spec.fixed_batch}"
        if spec.source == "tflite" and "tflite" not in self.formats:
            return (f"{spec.id} is a LiteRT file: it runs on LiteRT alone (no maintained LiteRT-to-ONNX converter "
                    "runs here: tf2onnx's --tflite needs TensorFlow)")
        if spec.source == "tflite" and precision != "fp32":
            return (f"a LiteRT file is measured as it is (its own precision, the fp32 cell): {precision} needs the "
                    "float model it was converted from")
        if self.converts_torch and spec.source not in (*TORCH_SOURCES, "tflite") and not (
                spec.source == "onnx" and self.onnx_recipes):
            return f"{self.name} converts the PyTorch model, and {spec.id} is only an ONNX file"
        if precision not in self.precisions:
            return f"{self.name} does not offer {precision} (it offers {', '.join(self.precisions)})"
        return None

    @classmethod
    def recipe_for(cls, spec: ModelSpec, precision: str) -> str | None:
        """The recipe that builds ``spec``'s artifact at ``precision`` (None: the prepared artifact runs as it is):
        the one from ONNX for a model given as an ONNX file where the runtime has one."""
        if spec.source == "onnx" and precision in cls.onnx_recipes:
            return cls.onnx_recipes[precision]
        return cls.recipes.get(precision)

    @abstractmethod
    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        """Load (and compile, where the runtime compiles) ``artifact`` into a Session."""
