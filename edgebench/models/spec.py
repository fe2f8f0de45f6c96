"""ModelSpec: what a model is, where it comes from and how its input is prepared.

Metadata lives beside the model (torchvision's ``Weights.meta``, timm's ``PretrainedCfg``), so a result
can always say which preprocessing and which published reference numbers belong to it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgebench.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
SOURCES = ("timm", "torchvision", "transformers", "onnx", "tflite")
TORCH_SOURCES = ("timm", "torchvision", "transformers")  # sources with a PyTorch module to export
TASKS = ("classify", "detect", "segment", "depth")
# How an image is fitted to the input: "crop" (resize the shorter side, centre-crop: timm, torchvision),
# "letterbox" (fit whole, keep the aspect ratio, pad: detectors), "stretch" (resize to the input, ratio lost).
RESIZES = ("crop", "letterbox", "stretch")
POSITIONS = ("top-left", "center")  # where a letterboxed image sits on its canvas (YOLOX: top-left)


@dataclass(frozen=True, kw_only=True)
class Preprocess:
    """How an image becomes the model's input tensor (NCHW, float32)."""

    input_size: tuple[int, int, int] = (3, 224, 224)
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channel_order: str = "RGB"
    resize: str = "crop"
    pad_value: int = 114  # letterbox: the canvas's grey level
    position: str = "center"  # letterbox: where the image sits
    scale: float = 255.0  # pixels are divided by this before mean/std (1 for models that take 0-255)

    def __post_init__(self) -> None:
        if len(self.input_size) != 3 or any(int(d) <= 0 for d in self.input_size):
            raise ConfigError(f"input size must be three positive numbers C,H,W, got {self.input_size}")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if not 0.0 < self.crop_pct <= 1.0:
            raise ConfigError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        channels = self.input_size[0]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ConfigError(f"mean and std need {channels} values each (one per channel)")
        if any(s <= 0 for s in self.std):
            raise ConfigError("std values must be positive")
        if self.channel_order not in ("RGB", "BGR"):
            raise ConfigError(f"channel_order must be RGB or BGR, got {self.channel_order!r}")
        if self.resize not in RESIZES:
            raise ConfigError(f"resize must be one of {', '.join(RESIZES)}, got {self.resize!r}")
        if self.position not in POSITIONS:
            raise ConfigError(f"position must be one of {', '.join(POSITIONS)}, got {self.position!r}")
        if not 0 <= self.pad_value <= 255:
            raise ConfigError(f"pad_value must be a grey level in 0-255, got {self.pad_value!r}")
        if not self.scale > 0:
            raise ConfigError(f"scale must be positive (255 for inputs in 0-1, 1 for 0-255), got {self.scale!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocess":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("input_size", "mean", "std"):
            if key in known:
                if not isinstance(known[key], (list, tuple)) or not all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) for v in known[key]):
                    raise ConfigError(f"preprocessing {key} must be a list of numbers, got {known[key]!r}")
                known[key] = tuple(known[key])
        if "crop_pct" in known and (not isinstance(known["crop_pct"], (int, float)) or isinstance(known["crop_pct"], bool)):
            raise ConfigError(f"preprocessing crop_pct must be a number in (0, 1], got {known['crop_pct']!r}")
        return cls(**known)


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One model of a suite. ``available`` is False for a reference row with no implementation."""

    id: str
    source: str
    name: str
    preprocess: Preprocess = field(default_factory=Preprocess)
    task: str = "classify"
    num_classes: int = 1000
    # How raw outputs become a task's predictions (detect: decoder, score_threshold, nms_iou, max_det; segment:
    # segment_labels, threshold; depth: depth_output).
    postprocess: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    available: bool = True
    unavailable_reason: str = ""
    input_name: str | None = None
    output_name: str | None = None  # the output a task reads, where a model has several (None: the first)
    fixed_batch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        data = dict(data)
        data["preprocess"] = Preprocess.from_dict(data.get("preprocess") or {})
        if data.get("task") == "classification":  # records written before tasks had short names
            data["task"] = "classify"
        return cls(**data)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.preprocess.input_size)  # type: ignore[return-value]
