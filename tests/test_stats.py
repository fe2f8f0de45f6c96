"""edgebench.stats against known values and independent computations: proportions, McNemar, Mann–Whitney,
the bootstrap CI of a ratio of medians, and rounds cut from a record."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgebench.stats import (_PooledRounds, mann_whitney_p, mcnemar_exact, ratio_interval, ratio_of_medians_ci, rounds_of,
                             wilson_interval)


def _wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The score interval written out (Wilson 1927), as edgebench computed it before scipy."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@pytest.mark.parametrize("k, n, low, high", [  # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_wilson_interval_matches_the_published_table(k, n, low, high):
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_is_the_score_interval_written_out():
    for k, n in [(80, 100), (0, 10), (10, 10), (3, 7), (499, 500), (371, 500)]:
        assert wilson_interval(k, n) == pytest.approx(_wilson_by_hand(k, n), abs=1e-12)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_mcnemar_exact_is_the_two_sided_binomial_tail():
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)
    assert mcnemar_exact(3, 12) == pytest.approx(0.03515625)
    for b, c in [(7, 19), (40, 25), (120, 150)]:
        n, k = b + c, min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
        assert mcnemar_exact(b, c) == pytest.approx(min(1.0, 2 * tail), rel=1e-9)
        assert mcnemar_exact(b, c) == mcnemar_exact(c, b)


def test_mann_whitney_exact_for_small_samples_without_ties():
    # every current sample below every baseline sample: exact one-sided p = 1 / C(10, 5) = 1/252
    slower_p, faster_p = mann_whitney_p(np.arange(1.0, 6.0), np.arange(6.0, 11.0))
    assert faster_p == pytest.approx(1 / 252) and slower_p == pytest.approx(1.0)


def test_mann_whitney_with_ties_is_the_corrected_normal_approximation():
    x, y = np.array([1, 2, 2, 3, 3, 3, 5.0]), np.array([2, 3, 4, 4, 5, 5, 6, 7.0])
    # by hand: U from average ranks, variance with the tie correction, continuity correction 0.5
    values, counts = np.unique(np.concatenate([x, y]), return_counts=True)
    rank = dict(zip(values, np.cumsum(counts) - (counts - 1) / 2.0))
    n1, n2 = len(x), len(y)
    u = sum(rank[v] for v in x) - n1 * (n1 + 1) / 2
    var = n1 * n2 / 12 * ((n1 + n2 + 1) - (counts ** 3 - counts).sum() / ((n1 + n2) * (n1 + n2 - 1)))
    sd = math.sqrt(var)
    slower_p, faster_p = mann_whitney_p(x, y)
    assert slower_p == pytest.approx(0.5 * math.erfc((u - n1 * n2 / 2 - 0.5) / sd / math.sqrt(2)), rel=1e-9)
    assert faster_p == pytest.approx(0.5 * math.erfc((n1 * n2 / 2 - u - 0.5) / sd / math.sqrt(2)), rel=1e-9)
    assert mann_whitney_p([2.0] * 5, [2.0] * 5) == (1.0, 1.0)


def _rounds(p50: float, rounds: int, per_round: int, seed: int, spread: float = 0.02) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [list(p50 * (1 + spread * rng.standard_normal(per_round))) for _ in range(rounds)]


def test_ratio_of_identical_data_is_one_with_a_ci_holding_one():
    a = _rounds(10.0, 12, 30, seed=1)
    out = ratio_interval(a, a)
    assert out["ratio"] == 1.0 and out["lo"] < 1.0 < out["hi"]
    assert out["method"] == "bootstrap over rounds" and out["confidence"] == 0.95


def test_ten_percent_slower_gives_a_ci_around_1_10_that_excludes_one():
    out = ratio_interval(_rounds(11.0, 10, 40, seed=2), _rounds(10.0, 10, 40, seed=3))
    assert out["ratio"] == pytest.approx(1.10, abs=0.01)
    assert 1.0 < out["lo"] < 1.10 < out["hi"] < 1.2
    assert out["hi"] - out["lo"] < 0.02


def test_ratio_is_the_ratio_of_pooled_medians():
    a, b = _rounds(8.0, 6, 7, seed=4), _rounds(5.0, 5, 9, seed=5)
    out = ratio_interval(a, b)
    assert out["ratio"] == pytest.approx(np.median(np.concatenate(a)) / np.median(np.concatenate(b)), rel=1e-12)
    assert out["lo"] <= out["ratio"] <= out["hi"]


def test_fewer_than_five_rounds_resample_samples():
    a, b = _rounds(11.0, 4, 50, seed=6), _rounds(10.0, 20, 10, seed=7)
    out = ratio_interval(a, b)
    assert out["method"] == "bootstrap over samples"
    assert out["lo"] < out["ratio"] < out["hi"] and out["lo"] > 1.0
    # the same samples as one block each: the same method, the same seeded answer
    assert ratio_interval([sum(a, [])], [sum(b, [])]) == out


def test_a_slow_period_in_some_rounds_widens_the_interval():
    """Rounds are what is resampled: two slow rounds move between resamples and widen the CI, where
    resampling the pooled samples as if they were independent would not."""
    calm = _rounds(10.0, 10, 40, seed=8)
    hit = [list(np.asarray(r) * (1.25 if i in (2, 3) else 1.0)) for i, r in enumerate(_rounds(11.0, 10, 40, seed=9))]
    by_rounds = ratio_interval(hit, calm)
    by_samples = ratio_interval([sum(hit, [])], [sum(calm, [])])
    assert by_rounds["ratio"] == by_samples["ratio"]
    assert by_rounds["hi"] - by_rounds["lo"] > 1.5 * (by_samples["hi"] - by_samples["lo"])


def test_median_of_resampled_rounds_equals_the_median_of_their_samples_pooled():
    """The binary search over the sorted samples, against concatenating the drawn rounds (ties included)."""
    rng = np.random.default_rng(13)
    for rounds in (1, 2, 7, 15):
        data = [list(np.round(rng.normal(10.0, 1.0, int(n)), 1)) for n in rng.integers(1, 30, rounds)]
        picks = rng.integers(0, rounds, (300, rounds))
        expected = [np.median(np.concatenate([data[i] for i in row])) for row in picks]
        assert np.array_equal(_PooledRounds(data).medians(picks.astype(float)), expected)


def test_ratio_interval_is_seeded_and_rejects_empty_sides():
    a, b = _rounds(3.0, 6, 20, seed=10), _rounds(2.0, 6, 20, seed=11)
    assert ratio_interval(a, b, seed=3) == ratio_interval(a, b, seed=3)
    with pytest.raises(ValueError):
        ratio_interval([], b)
    with pytest.raises(ValueError):
        ratio_interval([[0.0, 0.0]], b)


def test_ratio_of_medians_ci_holds_the_true_ratio():
    rng = np.random.default_rng(12)
    x, y = 12.0 * (1 + 0.03 * rng.standard_normal(400)), 10.0 * (1 + 0.03 * rng.standard_normal(400))
    low, high = ratio_of_medians_ci(x, y)
    assert low < 1.2 < high and high - low < 0.02
    assert ratio_of_medians_ci([], y) is None


def test_rounds_of_slices_samples_by_round_counts():
    record = {"latency_ms": {"samples": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]},
              "rounds": [{"round": 0, "n": 2, "p50": 1.5, "at_s": 0.0}, {"round": 1, "n": 3, "p50": 4.0, "at_s": 0.1},
                         {"round": 2, "n": 1, "p50": 6.0, "at_s": 0.2}]}
    assert rounds_of(record) == [[1.0, 2.0], [3.0, 4.0, 5.0], [6.0]]
    # an old record (no rounds) and one whose counts do not add up are one round of all samples
    assert rounds_of({"latency_ms": {"samples": [1.0, 2.0]}}) == [[1.0, 2.0]]
    assert rounds_of({**record, "rounds": record["rounds"][:2]}) == [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]
    assert rounds_of({"latency_ms": None}) == []


def _cell(rounds: list[list[float]], run: str | None = "g1", kept: list[bool] | None = None) -> dict:
    """A cell record timed in ``rounds`` of group run ``run`` (None: an old record without group runs)."""
    kept = kept or [True] * len(rounds)
    entries = [{"round": i, "n": len(r), "p50": float(np.median(r)), "kept": k, **({} if k else {"samples": r})}
               for i, (r, k) in enumerate(zip(rounds, kept))]
    samples = [v for r, k in zip(rounds, kept) if k for v in r]
    return {"latency_ms": {"samples": samples}, "rounds": entries,
            "interleave": {"group_run": run, "lockstep": True} if run else {"lockstep": False}}


def test_a_paired_ratio_cancels_a_slow_period_both_cells_shared():
    """Two cells timed in the same rounds, b always 10% faster, the host's speed swinging from round to round:
    the median of per-round ratios with its paired interval is tight around 1.1; the same samples with no shared
    rounds (different group runs) fall back to the unpaired ratio of p50s, whose interval is wide."""
    from edgebench.stats import cell_ratio

    rng = np.random.default_rng(3)
    speed = [1.0, 1.6, 1.0, 1.7, 1.1, 1.5, 1.0, 1.6, 1.2, 1.0]
    a = [list(s * 5.0 * (1 + rng.normal(0, 0.01, 20))) for s in speed]
    b = [list(s * 5.0 / 1.1 * (1 + rng.normal(0, 0.01, 20))) for s in speed]
    paired = cell_ratio(_cell(a), _cell(b))
    assert paired["paired"] and paired["rounds"] == 10 and paired["method"].startswith("median of per-round ratios")
    assert 1.0 < paired["lo"] < 1.1 < paired["hi"] < 1.12 and abs(paired["ratio"] - 1.1) < 0.01
    unpaired = cell_ratio(_cell(a, run="g1"), _cell(b, run="g2"))
    assert not unpaired["paired"] and unpaired["method"].startswith("unpaired")
    assert unpaired["lo"] < 1.0 < unpaired["hi"]


def test_cell_ratio_pairs_only_kept_rounds_of_the_same_group_run():
    """A round left out for interference (b's slice hit by a neighbour: 3x slower) is not paired: the estimate and
    its interval come from the kept rounds; records of an old run without group runs pair only when lockstep."""
    from edgebench.stats import cell_ratio, per_round_ratios, rounds_of

    a = [[2.0, 2.1, 2.0]] * 6
    b = [[1.0, 1.0, 1.1]] * 3 + [[3.0, 3.1, 3.0]] + [[1.0, 1.0, 1.1]] * 2
    kept = [True, True, True, False, True, True]
    ratios = per_round_ratios(_cell(a, kept=kept), _cell(b, kept=kept))
    assert ratios == [2.0] * 5
    assert rounds_of(_cell(b, kept=kept)) == [[1.0, 1.0, 1.1]] * 5  # latency samples hold the kept rounds only
    assert cell_ratio(_cell(a, kept=kept), _cell(b, kept=kept))["ratio"] == 2.0
    with_neighbour = cell_ratio(_cell(a), _cell(b))  # the same rounds, all kept: the disturbed one widens it
    assert with_neighbour["ratio"] == 2.0 and with_neighbour["lo"] < 1.5
    old = {k: v for k, v in _cell(a).items()}
    old["interleave"] = {"lockstep": True, "group": "m|b1"}
    assert cell_ratio(old, {**_cell(b), "interleave": {"lockstep": True, "group": "m|b1"}})["paired"]


def test_few_shared_rounds_give_their_range_with_its_exact_coverage():
    from edgebench.stats import cell_ratio

    out = cell_ratio(_cell([[2.0], [2.2], [2.1]]), _cell([[1.0], [1.0], [1.0]]))
    assert out["paired"] and out["rounds"] == 3 and out["ratio"] == 2.1
    assert (out["lo"], out["hi"]) == (2.0, 2.2) and out["confidence"] == 0.75  # 1 - 2 * 0.5**3
    assert abs(out["half_width_pct"] - 0.1 / 2.1 * 100) < 1e-9
    with pytest.raises(ValueError):
        cell_ratio({"latency_ms": {"samples": []}}, _cell([[1.0]], run="other"))

