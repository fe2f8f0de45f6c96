"""Recipes: how one toolchain turns the FP32 artifact into a reduced-precision one.

A runtime names the recipe of each precision it offers (``Runtime.recipes``); a recipe says which
settings it used, needs calibration images or not, and builds its artifact. Caching, calibration data
and process isolation live outside the recipes (``edgebench.quantize.build``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from edgebench.errors import ConfigError
from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec

CALIB_METHODS = ("minmax", "entropy", "percentile")
ORT_FORMATS = ("qdq", "qoperator")
ORT_ACTIVATIONS = ("u8", "s8")
AUTO_BOOL = ("auto", "on", "off")
TRT_INT8 = ("calibrate", "qdq")
ORT_WEIGHTS = ("s8", "u8")


@dataclass(frozen=True, kw_only=True)
class QuantOptions:
    """Knobs of the INT8 recipes. The defaults are the fastest recipe measured on x86 CPUs (README)."""

    calib_method: str = "minmax"  # ONNX Runtime static INT8: how activation ranges are chosen
    ort_format: str = "qdq"  # QDQ (ONNX Runtime fuses it into integer kernels) or QOperator
    ort_activations: str = "u8"  # U8S8: ONNX Runtime's fast path on x86 (S8S8 is 2-14x slower there)
    reduce_range: str = "auto"  # 7-bit weights: on by auto only where the CPU lacks VNNI (U8S8 saturation)
    per_channel: bool = True
    ort_preprocess: bool = False  # onnxruntime's quant_pre_process (shape inference + optimisation) first
    nncf_preset: str = "performance"  # "performance" (symmetric) or "mixed" (asymmetric activations)
    # TensorRT INT8: its entropy calibrator on the calibration images, or an explicitly quantised (QDQ) ONNX
    trt_int8: str = "calibrate"
    # Recipe variants an optimisation search tries (edgebench optimize); each default leaves the recipe as above.
    ort_weights: str = "s8"  # ONNX Runtime static INT8 weight type
    exclude_nodes: tuple[str, ...] = ()  # ONNX node names kept in float (the layers sensitivity ranks worst)
    calib_limit: int | None = None  # use only the first N calibration images
    nncf_accuracy_control: float | None = None  # OpenVINO INT8: max top-1 drop in points, restored by NNCF
    # The ops after the last weighted layers (a detector's decoding) in float: auto for detectors, on, off
    # (edgebench.quantize.float_tail); ``tail_nodes`` are the ONNX nodes it found, set at build time.
    float_tail: str = "auto"
    tail_nodes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, value, allowed in (("--calib-method", self.calib_method, CALIB_METHODS),
                                     ("--ort-quant-format", self.ort_format, ORT_FORMATS),
                                     ("--ort-activations", self.ort_activations, ORT_ACTIVATIONS),
                                     ("--reduce-range", self.reduce_range, AUTO_BOOL),
                                     ("--nncf-preset", self.nncf_preset, ("performance", "mixed")),
                                     ("--trt-int8", self.trt_int8, TRT_INT8),
                                     ("--float-tail", self.float_tail, AUTO_BOOL),
                                     ("ort_weights", self.ort_weights, ORT_WEIGHTS)):
            if value not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        for name in ("exclude_nodes", "tail_nodes"):
            nodes = getattr(self, name)
            if isinstance(nodes, str) or not isinstance(nodes, (list, tuple)) \
                    or not all(isinstance(n, str) and n for n in nodes):
                raise ConfigError(f"{name} must be a list of ONNX node names, got {nodes!r}")
            object.__setattr__(self, name, tuple(nodes))  # from JSON it arrives as a list
        limit = self.calib_limit
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigError(f"calib_limit must be a positive number of images, got {limit!r}")
        drop = self.nncf_accuracy_control
        if drop is not None and (isinstance(drop, bool) or not isinstance(drop, (int, float)) or not drop > 0):
            raise ConfigError(f"nncf_accuracy_control must be a top-1 drop in points above 0 (e.g. 1.0), got {drop!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (tuples become lists); ``QuantOptions(**d)`` reads it back."""
        d = asdict(self)
        d["exclude_nodes"], d["tail_nodes"] = list(self.exclude_nodes), list(self.tail_nodes)
        return d


class CalibrationData:
    """Normalised calibration batches from cached uint8 crops (memory-mapped, read per batch)."""

    def __init__(self, crops: np.ndarray, spec: ModelSpec, batch_size: int = 1) -> None:
        self.crops, self.spec, self.batch_size = crops, spec, batch_size
        # Set by a recipe that bounds its calibration memory (edgebench.quantize.memory): recorded with the artifact.
        self.memory: dict | None = None

    def __len__(self) -> int:
        return len(self.crops)

    def limit(self, count: int | None) -> None:
        """Keep only the first ``count`` images (``QuantOptions.calib_limit``); None keeps them all."""
        if count is not None and count < len(self.crops):
            self.crops = self.crops[:count]

    def __iter__(self) -> Iterator[np.ndarray]:
        from edgebench.data.images import normalize

        for start in range(0, len(self.crops), self.batch_size):
            yield normalize(np.asarray(self.crops[start:start + self.batch_size]), self.spec.preprocess)


class Recipe(ABC):
    name: ClassVar[str]
    precision: ClassVar[str]
    toolchain: ClassVar[str]
    packages: ClassVar[tuple[str, ...]]  # distributions whose versions key the cache
    needs_calibration: ClassVar[bool] = False  # then ``build`` always receives calibration images
    output_format: ClassVar[str] = "onnx"
    source_format: ClassVar[str] = "onnx"  # the prepared artifact it starts from: "onnx", or "torch" (the state dict)
    # A toolchain that needs an environment of its own (edgebench.toolchains); None: this one.
    toolchain_env: ClassVar[str | None] = None

    def __init__(self, options: QuantOptions, batch_sizes: tuple[int, ...] = (1,)) -> None:
        # batch_sizes: the run's, for recipes that compile shapes in (TensorRT's optimisation profiles);
        # a recipe whose artifact depends on them must say so in settings(), which keys the cache.
        self.options, self.batch_sizes = options, tuple(batch_sizes)
        # Labelled images and their labels, set by the build step before ``build`` when ``needs_validation()``.
        self.validation: tuple[CalibrationData, list[int]] | None = None

    def needs_validation(self) -> bool:
        """Whether ``build`` measures accuracy on labelled images (OpenVINO INT8 with accuracy control)."""
        return False

    def settings(self) -> dict[str, Any]:
        """The settings this recipe uses (recorded in results and part of the cache key)."""
        return {}

    def artifact(self, path: Path, **meta: Any) -> Artifact:
        """The Artifact this recipe wrote at ``path``, described by its settings (and ``meta``)."""
        return Artifact(path=str(path), format=self.output_format, precision=self.precision, toolchain=self.toolchain,
                        meta={"recipe": self.name, **self.settings(), **meta})

    @abstractmethod
    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        """Write the artifact into ``out_dir`` (empty, owned by the caller) and describe it."""


def recipe_class(path: str) -> type[Recipe]:
    """A recipe class from its ``module:Class`` path (the modules import their toolchain only in ``build``)."""
    module_name, _, class_name = path.partition(":")
    return getattr(import_module(module_name), class_name)


def get_recipe(path: str, options: QuantOptions, batch_sizes: tuple[int, ...] = (1,)) -> Recipe:
    return recipe_class(path)(options, batch_sizes)
