"""How long a cell is timed and when it may stop: the timing profile, the latency statistics, and the stopping
rule (the median known to a stated precision once its minimum count *and* duration are met, or a time cap,
and the record says which).

The minimums follow MLPerf LoadGen (min_query_count and min_duration) and trtexec (--iterations,
--duration, --warmUp); the precision rule stops a stable slow cell early and gives a noisy small one more
calls. The timing loops are elsewhere and share this rule (``stop_reason``): a cell timed in one block in
``edgebench.harness.cell`` (slices of ``CHECK_EVERY_S``), a model's cells in interleaved rounds in
``edgebench.pipeline.measure``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgebench.errors import ConfigError


_FLAGS = {"warmup_iters": "--warmup", "warmup_s": "--warmup-duration", "min_iters": "--iterations",
          "min_s": "--duration", "max_s": "--max-duration",
          "target_pct": "--median-ci", "round_s": "--round", "forks": "--forks", "host_check": "--host-check"}
HOST_CHECKS = ("leave-out", "record")


@dataclass(frozen=True, kw_only=True)
class TimingProfile:
    """How long a cell is timed. The default is what a careful user would trust; ``quick`` is for a look."""

    name: str = "default"
    warmup_iters: int = 10  # the first inference counts as one
    warmup_s: float = 1.0
    # A slow model's first call or two are its warm-up. 2 s, not 5 (before issue 22): trtexec warms for 200 ms and
    # benchmark_app with one inference; here every slice of a loaded worker after the first also opens with an
    # untimed call (measure.REWARM_SHARE), and the seed table's 15 batch-32 groups spent 25 s each warming up.
    warmup_max_s: float = 2.0
    min_iters: int = 6  # the fewest calls whose extremes bound the median at 95%
    min_s: float = 3.0  # six rounds at least: a ratio rests on more than one or two turns
    # Timed seconds per cell; a group's cap is this times its cells, so 16 rounds of ``round_s`` at most. A cell
    # stopped here records the precision it reached. 8 s, not 15 (before issue 22): a ratio's interval comes from
    # its number of rounds, and 0.5-s rounds give as many (16, then 15) in about half the time.
    max_s: float = 8.0
    floor_iters: int = 3  # even a capped cell gets this many timed runs, unless fewer cover max_s (floor_calls)
    target_pct: float = 1.0  # stop once the 95% interval of the median is within ±target_pct of it
    round_s: float = 0.5  # timed seconds per cell and round when a model's cells are interleaved
    # Worker processes per cell in a group (JMH's forks): with more than one, every loaded worker is started afresh
    # after each 1/forks of the group's expected rounds, so a speed that belongs to one process (PyTorch's MobileNetV2
    # at batch 1 took 24 CPU ms per call in one run and 35 in the next, every round alike) shows as forks that
    # disagree instead of as the cell's speed.
    forks: int = 1
    # A slice that the co-run probe read slower than the host's best (edgebench.machine.host_speed) is left out of
    # the p50 and its ratios and repeated, as a slice disturbed by another process ("leave-out"), or only recorded.
    host_check: str = "leave-out"

    def __post_init__(self) -> None:
        if self.host_check not in HOST_CHECKS:
            raise ConfigError(f"--host-check must be one of {', '.join(HOST_CHECKS)}, got {self.host_check!r}")
        if not isinstance(self.forks, int) or isinstance(self.forks, bool) or self.forks < 1:
            raise ConfigError(f"--forks must be a positive number of worker processes per cell, got {self.forks!r}")
        for name in ("warmup_iters", "min_iters", "floor_iters"):
            if getattr(self, name) < 0 or not isinstance(getattr(self, name), int):
                raise ConfigError(f"{_FLAGS.get(name, name)} must be a non-negative integer, got {getattr(self, name)!r}")
        for name in ("warmup_s", "warmup_max_s", "min_s", "max_s", "target_pct", "round_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{_FLAGS.get(name, name)} must be non-negative, got {getattr(self, name)!r}")
        if self.min_iters < 1:
            raise ConfigError("at least one timed iteration is needed (--iterations ≥ 1)")
        if self.target_pct <= 0 or self.round_s <= 0:
            raise ConfigError(f"{'--median-ci' if self.target_pct <= 0 else '--round'} must be a positive number")
        if self.max_s < self.min_s:
            raise ConfigError(f"--max-duration ({self.max_s}) must not be shorter than --duration ({self.min_s})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES = {
    "default": TimingProfile(),
    "quick": TimingProfile(name="quick", warmup_iters=3, warmup_s=0.2, warmup_max_s=2.0, min_iters=6, min_s=1.0,
                           max_s=5.0, floor_iters=3, target_pct=2.0, round_s=0.5),
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


def median_ci_record(samples_ms: list[float], profile: TimingProfile, stopped_by: str | None) -> dict[str, Any]:
    """How well the median is known: its 95% order-statistic interval against the profile's target."""
    from edgebench.stats import median_interval

    interval = median_interval(samples_ms)
    met = interval.reached_level and interval.half_width_pct <= profile.target_pct
    return {**interval.to_dict(), "target_pct": profile.target_pct, "met": met, "stopped_by": stopped_by}


def median_known(samples_ms: list[float], timed_s: float, profile: TimingProfile) -> bool:
    """The minimums are met and the median's 95% interval is within the profile's target."""
    if len(samples_ms) < profile.min_iters or timed_s < profile.min_s:
        return False
    from edgebench.stats import median_interval

    interval = median_interval(samples_ms)
    return interval.reached_level and interval.half_width_pct <= profile.target_pct


def floor_calls(profile: TimingProfile, call_s: float) -> int:
    """The fewest timed calls a capped cell gets: ``floor_iters``, or fewer when fewer calls already cover the
    cell's cap ``max_s`` (at least one). Slow calls get fewer, longer slices, as a duration-bound benchmark does
    (benchmark_app's ``-t``, MLPerf's offline scenario with its one query): EfficientNet-B7 at batch 32 took 106 s
    per PyTorch call here, and a floor of three such calls made its one group longer than a third of the reference
    table's target. A cell stopped so records its floor, and its median and ratios say how little they rest on."""
    if call_s <= 0:
        return max(profile.floor_iters, 1)
    return max(1, min(profile.floor_iters, math.ceil(profile.max_s / call_s - 1e-9)))


def stop_reason(samples_ms: list[float], timed_s: float, profile: TimingProfile) -> str | None:
    """Why timing may stop now: "precision" (minimums met and the median known to the target), "time cap"
    (past max_s with at least its floor of calls, ``floor_calls``), or None (go on)."""
    n = len(samples_ms)
    if median_known(samples_ms, timed_s, profile):
        return "precision"
    if n and timed_s >= profile.max_s and n >= floor_calls(profile, float(np.median(samples_ms)) / 1000.0):
        return "time cap"
    return None


CHECK_EVERY_S = 0.25  # how often a cell timed in one block checks the precision of its median (O(n))

