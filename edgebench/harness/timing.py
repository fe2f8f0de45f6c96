"""Latency measurement: warm-up, then timed runs until a minimum count *and* a minimum duration are met.

The rule follows MLPerf LoadGen (min_query_count and min_duration) and trtexec (--iterations,
--duration, --warmUp); a cap stops very slow cells and the result says so.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgebench.errors import ConfigError


_FLAGS = {"warmup_iters": "--warmup", "min_iters": "--iterations", "min_s": "--duration", "max_s": "--max-duration"}


@dataclass(frozen=True, kw_only=True)
class TimingProfile:
    """How long a cell is timed. The default is what a careful user would trust; ``quick`` is for a look."""

    name: str = "default"
    warmup_iters: int = 10
    warmup_s: float = 1.0
    warmup_max_s: float = 15.0
    min_iters: int = 50
    min_s: float = 3.0
    max_s: float = 120.0
    floor_iters: int = 5  # even a capped cell gets this many timed runs

    def __post_init__(self) -> None:
        for name in ("warmup_iters", "min_iters", "floor_iters"):
            if getattr(self, name) < 0 or not isinstance(getattr(self, name), int):
                raise ConfigError(f"{_FLAGS.get(name, name)} must be a non-negative integer, got {getattr(self, name)!r}")
        for name in ("warmup_s", "warmup_max_s", "min_s", "max_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{_FLAGS.get(name, name)} must be non-negative, got {getattr(self, name)!r}")
        if self.min_iters < 1:
            raise ConfigError("at least one timed iteration is needed (--iterations ≥ 1)")
        if self.max_s < self.min_s:
            raise ConfigError(f"--max-duration ({self.max_s}) must not be shorter than --duration ({self.min_s})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES = {
    "default": TimingProfile(),
    "quick": TimingProfile(name="quick", warmup_iters=3, warmup_s=0.2, warmup_max_s=5.0, min_iters=10, min_s=1.0,
                           max_s=20.0, floor_iters=3),
}


@dataclass(frozen=True, kw_only=True)
class LatencyStats:
    """Per-call latency in milliseconds, with the raw samples kept."""

    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    stdev: float
    cv: float
    min: float
    max: float
    total_s: float
    unit: str = "ms"
    samples: list[float] = field(default_factory=list, repr=False)

    @classmethod
    def from_samples(cls, samples_ms: list[float]) -> "LatencyStats":
        if not samples_ms:
            raise ValueError("no latency samples")
        values = np.asarray(samples_ms, dtype=np.float64)
        n = values.size
        mean = float(values.mean())
        stdev = float(values.std(ddof=1)) if n > 1 else 0.0
        p50, p90, p99 = (float(v) for v in np.percentile(values, [50, 90, 99]))  # linear interpolation
        return cls(n=n, p50=p50, p90=p90, p99=p99, mean=mean, stdev=stdev, cv=stdev / mean if mean else 0.0,
                   min=float(values.min()), max=float(values.max()), total_s=float(values.sum()) / 1000.0,
                   samples=[round(s, 5) for s in samples_ms])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Measurement:
    latency: LatencyStats
    warmup_iters: int
    warmup_s: float
    capped: bool  # stopped by max_s before min_iters/min_s were met


def measure(call: Callable[[], object], profile: TimingProfile, clock: Callable[[], int] = time.perf_counter_ns,
            after: Callable[[], None] | None = None) -> Measurement:
    """Warm up, then time ``call`` one invocation at a time. ``after`` runs after each timed call, outside
    the timed span (the GPU path reads its CUDA events there)."""
    start = clock()
    warm = 0
    while True:
        elapsed = (clock() - start) / 1e9
        if warm >= profile.warmup_iters and elapsed >= profile.warmup_s:
            break
        if warm >= 1 and elapsed >= profile.warmup_max_s:
            break
        call()
        warm += 1
    warmup_s = (clock() - start) / 1e9

    samples: list[float] = []
    begin = clock()
    capped = False
    while True:
        t0 = clock()
        call()
        samples.append((clock() - t0) / 1e6)
        if after is not None:
            after()
        elapsed = (clock() - begin) / 1e9
        if len(samples) >= profile.min_iters and elapsed >= profile.min_s:
            break
        if elapsed >= profile.max_s and len(samples) >= max(profile.floor_iters, 1):
            capped = True
            break
    return Measurement(latency=LatencyStats.from_samples(samples), warmup_iters=warm, warmup_s=warmup_s, capped=capped)
