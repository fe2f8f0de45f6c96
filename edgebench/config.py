"""Run configuration: a plain dataclass built from CLI flags (or read back from a run folder to resume)."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgebench.errors import ConfigError
from edgebench.harness.timing import PROFILES, TimingProfile

WEIGHT_MODES = ("auto", "pretrained", "random")
PRECISIONS = ("fp32",)
DEFAULT_BATCH_SIZES = (1, 32)


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
    threads: int | None = None  # None: physical cores
    profile: TimingProfile = field(default_factory=TimingProfile)
    cell_timeout_s: float = 900.0
    prepare_timeout_s: float = 1800.0
    seed: int = 0
    cache_dir: str | None = None
    device_name: str | None = None
    onnx_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.weights not in WEIGHT_MODES:
            raise ConfigError(f"--weights must be one of {', '.join(WEIGHT_MODES)}, got {self.weights!r}")
        bad = [p for p in self.precisions if p not in PRECISIONS]
        if bad or not self.precisions:
            raise ConfigError(f"--precision must be among {', '.join(PRECISIONS)}, got {', '.join(bad) or 'nothing'}")
        if not self.batch_sizes or any(int(b) < 1 for b in self.batch_sizes):
            raise ConfigError(f"--batch-size values must be positive integers, got {list(self.batch_sizes)}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if self.cell_timeout_s <= 0 or self.prepare_timeout_s <= 0:
            raise ConfigError("--timeout must be a positive number of seconds")
        if self.checkpoint is not None:
            if not Path(self.checkpoint).is_file():
                raise ConfigError(f"checkpoint {self.checkpoint} does not exist; give the path of a state-dict file")
            if len(self.models) != 1 or self.suite:
                raise ConfigError("--checkpoint belongs to exactly one model: name it with --model and no --suite")
        if self.models and self.suite:
            raise ConfigError("give either --suite or --model, not both")

    @property
    def suite_name(self) -> str:
        return self.suite or ("custom" if self.models else "quick")

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        data = dict(data)
        data["profile"] = TimingProfile(**data.get("profile", {}))
        for key in ("models", "precisions", "batch_sizes"):
            if key in data and data[key] is not None:
                data[key] = tuple(data[key])
        if data.get("runtimes") is not None:
            data["runtimes"] = tuple(data["runtimes"])
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def make_profile(name: str, **overrides: Any) -> TimingProfile:
    """A named timing profile with the CLI's overrides (None leaves a field as the profile has it)."""
    if name not in PROFILES:
        raise ConfigError(f"unknown timing profile {name!r}; choose one of {', '.join(PROFILES)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(PROFILES[name], **changes)
