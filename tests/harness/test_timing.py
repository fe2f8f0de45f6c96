import numpy as np
import pytest

from edgebench.errors import ConfigError
from edgebench.harness.timing import LatencyStats, TimingProfile, stop_reason


def test_stats_match_numpy():
    samples = list(np.random.default_rng(1).gamma(2.0, 3.0, size=501))
    stats = LatencyStats.from_samples(samples)
    for q, value in ((50, stats.p50), (90, stats.p90), (99, stats.p99)):
        assert value == pytest.approx(np.percentile(samples, q))
    assert stats.mean == pytest.approx(np.mean(samples))
    assert stats.stdev == pytest.approx(np.std(samples, ddof=1))
    assert stats.cv == pytest.approx(stats.stdev / stats.mean)
    assert stats.n == 501 and len(stats.samples) == 501


def test_stop_reason_needs_both_minimums_then_the_precision_or_the_cap():
    profile = TimingProfile(warmup_iters=0, warmup_s=0.0, min_iters=6, min_s=1.0, max_s=10.0, floor_iters=3,
                            target_pct=1.0)
    steady = [10.0] * 200  # 10 ms a call: the median is known exactly
    assert stop_reason(steady[:5], 5.0, profile) is None  # the duration is met, not the count
    assert stop_reason(steady[:99], 0.99, profile) is None  # the count is met, not the duration
    assert stop_reason(steady[:100], 1.0, profile) == "precision"
    noisy = list(np.random.default_rng(0).uniform(5.0, 15.0, size=20))  # ±50%: never known to ±1% in 20 calls
    assert stop_reason(noisy, 5.0, profile) is None
    assert stop_reason(noisy, 10.0, profile) == "time cap"
    assert stop_reason(noisy[:2], 10.0, profile) is None  # a capped cell still gets its floor of calls
    assert stop_reason(noisy[:3], 10.0, profile) == "time cap"


def test_bad_profile_is_a_config_error():
    with pytest.raises(ConfigError):
        TimingProfile(min_iters=0)
    with pytest.raises(ConfigError):
        TimingProfile(min_s=10, max_s=5)
