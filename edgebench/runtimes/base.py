"""Runtime and Session: the only things a runtime module implements.

A Runtime says whether it can run here (and how to install it if not), which artifact formats and
precisions it takes, and turns an artifact into a Session. A Session does ``infer(batch)`` and nothing
else: timing, memory and accuracy live in the harness (Polygraphy's ``BaseRunner`` split).
"""
from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edgebench.errors import CellFailure
from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec


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


class Session(ABC):
    """A loaded model. ``config`` records the settings the runtime actually used."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.input_shape = tuple(input_shape)
        self.config: dict[str, Any] = {}

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch (N, C, H, W float32) and return the output as a numpy array."""
        if batch.dtype != np.float32 or batch.ndim != 4 or tuple(batch.shape[1:]) != self.input_shape:
            raise CellFailure(f"expected a float32 batch of shape (N, {', '.join(map(str, self.input_shape))}), "
                              f"got {batch.dtype} {tuple(batch.shape)}")
        return self.infer_impl(batch)

    @abstractmethod
    def infer_impl(self, batch: np.ndarray) -> np.ndarray: ...


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
    # Its converter starts from the PyTorch model (torch.export), so a model given as an ONNX file is skipped.
    converts_torch: ClassVar[bool] = False
    description: ClassVar[str] = ""

    @classmethod
    def availability(cls) -> Availability:
        """Cheap check (no heavy import) whether this runtime can be used here."""
        if importlib.util.find_spec(cls.package) is None:
            return Availability(False, f"{cls.package} is not installed; install it with: {cls.install_hint}")
        return Availability(True)

    @classmethod
    def version(cls) -> str:
        from edgebench.harness.env import package_version

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
        if self.converts_torch and spec.source not in ("timm", "torchvision"):
            return f"{self.name} converts the PyTorch model, and {spec.id} is only an ONNX file"
        if precision not in self.precisions:
            return f"{self.name} does not offer {precision} (it offers {', '.join(self.precisions)})"
        return None

    @abstractmethod
    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        """Load (and compile, where the runtime compiles) ``artifact`` into a Session."""
