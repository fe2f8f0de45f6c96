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


def test_slow_calls_get_fewer_longer_slices_down_to_one_call_longer_than_the_cap():
    from edgebench.harness.timing import PROFILES, floor_calls, stop_reason

    profile = PROFILES["default"]  # cap 8 s, floor 3 calls
    assert [floor_calls(profile, s) for s in (0.01, 2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 106.0)] == [3, 3, 3, 2, 2, 1, 1, 1]
    assert stop_reason([5000.0, 5000.0], 10.0, profile) == "time cap"  # two 5-s calls cover the cap
    assert stop_reason([5000.0], 5.0, profile) is None
    assert stop_reason([106000.0], 106.0, profile) == "time cap"
    assert stop_reason([1000.0] * 8, 8.0, profile) in ("precision", "time cap")
    assert stop_reason([3000.0, 3000.0], 6.0, profile) is None  # under the cap: calls go on


@pytest.mark.parametrize("argv, expected", [
    ([], {"warmup_s": 1.0, "warmup_max_s": 2.0, "min_s": 3.0, "max_s": 8.0}),
    (["--warmup-duration", "0"], {"warmup_s": 0.0, "warmup_max_s": 2.0}),
    (["--warmup-duration", "5"], {"warmup_s": 5.0, "warmup_max_s": 5.0}),  # a longer warm-up is not cut at 2 s
    (["--max-duration", "1"], {"min_s": 1.0, "max_s": 1.0}),  # a cap alone lowers the minimum to it
    (["--quick", "--max-duration", "0.5"], {"name": "quick", "min_s": 0.5, "max_s": 0.5}),
    (["--duration", "2", "--max-duration", "4"], {"min_s": 2.0, "max_s": 4.0}),
])
def test_timing_flags_set_the_profile(argv, expected):
    from edgebench.cli import _profile, build_parser

    for command in ("run", "optimize"):
        extra = ["--data", "x", "--max-accuracy-drop", "1"] if command == "optimize" else []
        if command == "optimize" and {a for a in argv if a.startswith("--")} - {"--quick", "--max-duration"}:
            continue  # the final round's timing takes --quick and --max-duration only
        profile = _profile(build_parser().parse_args([command, *extra, *argv]))
        assert {key: getattr(profile, key) for key in expected} == expected, command
