import numpy as np
import pytest

from edgebench.errors import ConfigError
from edgebench.harness.timing import LatencyStats, TimingProfile, measure


class FakeClock:
    """Each call of the measured function advances time by ``step_ns``."""

    def __init__(self, step_ns: int) -> None:
        self.now, self.step, self.calls = 0, step_ns, 0

    def __call__(self) -> int:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += self.step


def test_stats_match_numpy():
    samples = list(np.random.default_rng(1).gamma(2.0, 3.0, size=501))
    stats = LatencyStats.from_samples(samples)
    for q, value in ((50, stats.p50), (90, stats.p90), (99, stats.p99)):
        assert value == pytest.approx(np.percentile(samples, q))
    assert stats.mean == pytest.approx(np.mean(samples))
    assert stats.stdev == pytest.approx(np.std(samples, ddof=1))
    assert stats.cv == pytest.approx(stats.stdev / stats.mean)
    assert stats.n == 501 and len(stats.samples) == 501


def test_runs_until_both_iterations_and_duration():
    clock = FakeClock(step_ns=10_000_000)  # 10 ms per call
    profile = TimingProfile(warmup_iters=2, warmup_s=0.0, min_iters=5, min_s=1.0, max_s=100.0)
    result = measure(clock.work, profile, clock=clock)
    assert result.warmup_iters == 2
    assert result.latency.n == 100  # duration, not the 5 iterations, decided
    assert result.latency.p50 == pytest.approx(10.0)
    assert not result.capped

    clock = FakeClock(step_ns=1_000_000_000)  # 1 s per call: iterations decide
    result = measure(clock.work, TimingProfile(warmup_iters=0, warmup_s=0, min_iters=7, min_s=1.0, max_s=100), clock=clock)
    assert result.latency.n == 7


def test_cap_stops_slow_cells_and_says_so():
    clock = FakeClock(step_ns=10_000_000_000)  # 10 s per call
    profile = TimingProfile(warmup_iters=1, warmup_s=0, min_iters=50, min_s=3.0, max_s=30.0, floor_iters=3)
    result = measure(clock.work, profile, clock=clock)
    assert result.capped and result.latency.n == 3


def test_bad_profile_is_a_config_error():
    with pytest.raises(ConfigError):
        TimingProfile(min_iters=0)
    with pytest.raises(ConfigError):
        TimingProfile(min_s=10, max_s=5)


def test_after_runs_once_per_timed_call_outside_the_timed_span():
    """The GPU path reads its CUDA events in ``after``: one reading per timed sample, none for warm-up, and
    the time ``after`` takes is not in the samples."""
    clock = FakeClock(step_ns=10_000_000)
    calls = []

    def after():
        calls.append(clock.now)
        clock.now += 500_000_000  # slow bookkeeping must not show in the latency

    profile = TimingProfile(warmup_iters=3, warmup_s=0.0, min_iters=6, min_s=0.0, max_s=100.0)
    result = measure(clock.work, profile, clock=clock, after=after)
    assert len(calls) == result.latency.n == 6
    assert result.latency.max == pytest.approx(10.0)
