"""Run configuration: a plain dataclass built from CLI flags (or read back from a run folder to resume)."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgebench.data.evalset import DEFAULT_CALIB_SIZE
from edgebench.errors import ConfigError
from edgebench.harness.timing import PROFILES, TimingProfile
from edgebench.quantize.base import QuantOptions

WEIGHT_MODES = ("auto", "pretrained", "random")
# fp32 first: reduced precisions are compared with the FP32 cell of the same runtime and batch.
# tf32 and best exist on GPU runtimes only: TF32 matmuls/convolutions, and TensorRT choosing per layer.
# int8-weights: INT8 weights dequantised for float compute (Core ML's weight compression): a smaller file.
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "int8", "int8-dynamic", "int8-weights", "best")
DEFAULT_BATCH_SIZES = (1, 32)
MAX_SUSTAINED_MIN = 1440  # a day per cell: beyond it a time limit would overflow, and no run means that


def default_cache_dir() -> Path:
    base = os.environ.get("EDGEBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgebench")
    return Path(base)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What ``edgebench run`` measures. None means "the default" throughout."""

    models: tuple[str, ...] = ()
    suite: str | None = None  # None: "quick" when no models are named
    runtimes: tuple[str, ...] | None = None  # None: every default runtime, unavailable ones recorded as skipped
    precisions: tuple[str, ...] = ("fp32",)
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    weights: str = "auto"
    checkpoint: str | None = None
    threads: int | None = None  # None: the usable CPUs (affinity, cgroup quota)
    profile: TimingProfile = field(default_factory=TimingProfile)
    cuda_graphs: bool = False  # GPU runtimes replay a captured CUDA graph (trtexec --useCudaGraph)
    sustained_min: float | None = None  # each cell runs alone, without pause, this many minutes (p50 per minute)
    cell_timeout_s: float = 900.0
    prepare_timeout_s: float = 1800.0
    seed: int = 0
    cache_dir: str | None = None
    device_name: str | None = None
    onnx_options: dict[str, Any] = field(default_factory=dict)
    # Images: evaluation (accuracy) and calibration (INT8).
    data: str | None = None
    labels: str | None = None
    class_map: str | None = None
    calib_data: str | None = None
    limit: int | None = None
    calib_size: int = DEFAULT_CALIB_SIZE
    allow_calib_overlap: bool = False
    quant: QuantOptions = field(default_factory=QuantOptions)
    artifacts: str | None = None  # an `edgebench export` folder: measure its artifacts, convert nothing

    def __post_init__(self) -> None:
        # A value given twice is one cell, measured once: repeats are merged, first occurrence kept.
        for name in ("models", "batch_sizes", "runtimes"):
            values = getattr(self, name)
            if values is not None:
                object.__setattr__(self, name, tuple(dict.fromkeys(values)))
        if self.weights not in WEIGHT_MODES:
            raise ConfigError(f"--weights must be one of {', '.join(WEIGHT_MODES)}, got {self.weights!r}")
        bad = [p for p in self.precisions if p not in PRECISIONS]
        if bad or not self.precisions:
            raise ConfigError(f"--precision must be among {', '.join(PRECISIONS)}, got {', '.join(bad) or 'nothing'}")
        if not self.batch_sizes or any(int(b) < 1 for b in self.batch_sizes):
            raise ConfigError(f"--batch-size values must be positive integers, got {list(self.batch_sizes)}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if self.sustained_min is not None and not 0 < self.sustained_min <= MAX_SUSTAINED_MIN:
            raise ConfigError(f"--sustained takes minutes between 0 and {MAX_SUSTAINED_MIN} (a day) per cell, "
                              f"got {self.sustained_min!r}")
        if self.cell_timeout_s <= 0 or self.prepare_timeout_s <= 0:
            raise ConfigError("--timeout must be a positive number of seconds")
        if self.checkpoint is not None:
            if not Path(self.checkpoint).is_file():
                raise ConfigError(f"checkpoint {self.checkpoint} does not exist; give the path of a state-dict file")
            if len(self.models) != 1 or self.suite:
                raise ConfigError("--checkpoint belongs to exactly one model: name it with --model and no --suite")
        if self.models and self.suite:
            raise ConfigError("give either --suite or --model, not both")
        object.__setattr__(self, "precisions", tuple(p for p in PRECISIONS if p in self.precisions))
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        if self.calib_size < 1:
            raise ConfigError(f"--calib-size must be at least 1, got {self.calib_size}")
        for flag, value in (("--labels", self.labels), ("--class-map", self.class_map)):
            if value and not self.data:
                raise ConfigError(f"{flag} describes the images of --data; give --data too")

    def image_options(self) -> dict[str, Any]:
        """The arguments of ``edgebench.data.evalset.select_images``."""
        return {"data": self.data, "labels": self.labels, "class_map": self.class_map, "calib_data": self.calib_data,
                "limit": self.limit, "calib_size": self.calib_size, "seed": self.seed,
                "allow_overlap": self.allow_calib_overlap}

    @property
    def suite_name(self) -> str:
        return self.suite or ("custom" if self.models else "quick")

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "the configuration") -> "RunConfig":
        """Read back ``to_dict``. A key this version does not know is refused, never dropped: a setting
        silently lost would measure something else than the run asked for."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where} is not a mapping of settings; start a new run")
        data = dict(data)
        unknown = _unknown_keys(data, cls, "")
        for name, kind in (("profile", TimingProfile), ("quant", QuantOptions)):
            part = data.get(name) or {}
            if not isinstance(part, dict):
                raise ConfigError(f"{where}: {name} is not a mapping of settings; start a new run")
            unknown += _unknown_keys(part, kind, f"{name}.")
            data[name] = part
        if unknown:
            raise ConfigError(f"{where} has settings this edgebench does not know ({', '.join(unknown)}); it was "
                              "written by another edgebench version or edited: start a new run")
        wrong = [f"{key} ({type(data[key]).__name__})" for key, ok in _READ_BACK_TYPES.items()
                 if key in data and not ok(data[key])]
        if wrong:
            raise ConfigError(f"{where} holds settings of the wrong type ({', '.join(wrong)}); it was edited or "
                              "damaged: start a new run")
        data["profile"], data["quant"] = TimingProfile(**data["profile"]), QuantOptions(**data["quant"])
        for key in ("models", "precisions", "batch_sizes"):
            if key in data and data[key] is not None:
                data[key] = tuple(data[key])
        if data.get("runtimes") is not None:
            data["runtimes"] = tuple(data["runtimes"])
        return cls(**data)


def _is(*kinds: type, none: bool = False):
    """A check that a read-back value has one of ``kinds`` (bool is not an int here), or is None."""
    def ok(value: Any) -> bool:
        if value is None:
            return none
        if isinstance(value, bool) and bool not in kinds:
            return False
        return isinstance(value, kinds)
    return ok


def _list_of(kind: type, none: bool = False):
    item = _is(kind)
    return lambda value: (value is None and none) or (isinstance(value, (list, tuple)) and all(map(item, value)))


# What run.json's configuration must hold, key by key (the rest is checked by the dataclasses themselves).
_READ_BACK_TYPES = {
    "models": _list_of(str), "runtimes": _list_of(str, none=True), "precisions": _list_of(str),
    "batch_sizes": _list_of(int), "suite": _is(str, none=True), "weights": _is(str), "checkpoint": _is(str, none=True),
    "threads": _is(int, none=True), "cuda_graphs": _is(bool), "cell_timeout_s": _is(int, float),
    "prepare_timeout_s": _is(int, float), "seed": _is(int), "cache_dir": _is(str, none=True),
    "device_name": _is(str, none=True), "onnx_options": _is(dict), "data": _is(str, none=True),
    "labels": _is(str, none=True), "class_map": _is(str, none=True), "calib_data": _is(str, none=True),
    "limit": _is(int, none=True), "calib_size": _is(int), "allow_calib_overlap": _is(bool),
    "artifacts": _is(str, none=True), "sustained_min": _is(int, float, none=True),
}


def _unknown_keys(data: dict[str, Any], kind: type, prefix: str) -> list[str]:
    return [prefix + key for key in sorted(set(data) - set(kind.__dataclass_fields__))]


def make_profile(name: str, **overrides: Any) -> TimingProfile:
    """A named timing profile with the CLI's overrides (None leaves a field as the profile has it)."""
    if name not in PROFILES:
        raise ConfigError(f"unknown timing profile {name!r}; choose one of {', '.join(PROFILES)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(PROFILES[name], **changes)
