"""Statistics of latency samples and accuracy outcomes, from scipy and numpy (imported when called).

The median's interval is distribution-free (order statistics): latencies are skewed and multi-modal,
so no normal or log-normal shape is assumed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True, kw_only=True)
class MedianInterval:
    """An interval [lo, hi] of the median from order statistics, and how sure it is."""

    n: int
    p50: float
    lo: float
    hi: float
    confidence: float  # the interval's exact coverage (≥ the level asked for, or less when n is too small)
    half_width_pct: float  # max(p50 - lo, hi - p50) / p50 * 100: the precision reached
    method: str = "order statistics (binomial)"

    @property
    def reached_level(self) -> bool:
        return self.confidence >= CONFIDENCE - 1e-12

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reached_level": self.reached_level}


def min_samples_for(confidence: float = CONFIDENCE) -> int:
    """The fewest samples whose extreme values bound the median with ``confidence`` (6 at 95%)."""
    n = 1
    while 1.0 - 2.0 * 0.5 ** n < confidence:
        n += 1
    return n


def median_interval(samples: Sequence[float], confidence: float = CONFIDENCE) -> MedianInterval:
    """The narrowest symmetric order-statistic interval [x(k), x(n+1-k)] that covers the median with at
    least ``confidence``: coverage is 1 - 2 P(B <= k-1) with B ~ Binomial(n, 1/2). With fewer samples
    than ``min_samples_for(confidence)`` the interval is [min, max] and its coverage is lower (said so)."""
    from scipy.stats import binom

    values = np.sort(np.asarray(samples, dtype=np.float64))
    n = values.size
    if n == 0:
        raise ValueError("no samples")
    p50 = float(np.median(values))
    # Coverage of [x(j+1), x(n-j)] (1-based) is 1 - 2 P(B <= j); take the largest j that keeps the level.
    cdf = binom.cdf(np.arange(n), n, 0.5)
    allowed = np.nonzero(cdf <= (1.0 - confidence) / 2.0)[0]
    j = min(int(allowed[-1]), (n - 1) // 2) if allowed.size else 0
    lo, hi = float(values[j]), float(values[n - 1 - j])
    coverage = max(0.0, 1.0 - 2.0 * float(cdf[j])) if n > 1 else 0.0
    half = max(p50 - lo, hi - p50) / p50 * 100.0 if p50 > 0 else float("inf")
    return MedianInterval(n=n, p50=p50, lo=lo, hi=hi, confidence=coverage, half_width_pct=half)


# --- proportions and paired outcomes (accuracy) ------------------------------------------------------------

def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion: sound at 0%, 100% and small n, where the normal one is not."""
    from scipy.stats import binomtest

    if n == 0:
        return (float("nan"), float("nan"))
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return (max(0.0, float(ci.low)), min(1.0, float(ci.high)))


def mcnemar_exact(only_reference: int, only_candidate: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs against 1/2 (the pairs where
    both are right or both wrong say nothing about which is better)."""
    from scipy.stats import binomtest

    n = int(only_reference) + int(only_candidate)
    if n == 0:
        return 1.0
    return float(binomtest(min(int(only_reference), int(only_candidate)), n, 0.5).pvalue)


# --- two sets of latency samples -----------------------------------------------------------------------------

BOOTSTRAP_RESAMPLES = 2000
MIN_ROUNDS = 5  # fewer rounds than this on either side: resample samples, as a handful of rounds says little
_CHUNK_ELEMENTS = 2_000_000  # bootstrap draws held at once, so thousands of samples stay cheap in memory


def mann_whitney_p(current: Sequence[float], baseline: Sequence[float]) -> tuple[float, float]:
    """One-sided Mann–Whitney U p-values (current slower, current faster); scipy picks the exact distribution
    for small samples without ties and the normal approximation (tie and continuity corrected) otherwise."""
    from scipy.stats import mannwhitneyu

    x, y = np.asarray(current, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if np.ptp(np.concatenate([x, y])) == 0:  # every sample equal: no evidence either way
        return 1.0, 1.0
    slower = mannwhitneyu(x, y, alternative="greater").pvalue
    faster = mannwhitneyu(x, y, alternative="less").pvalue
    return float(slower), float(faster)


def _seeded(seed: int) -> dict[str, Any]:
    """scipy >= 1.15 takes ``rng``; older releases only ``random_state`` (same meaning for a Generator)."""
    import inspect

    from scipy.stats import bootstrap

    name = "rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state"
    return {name: np.random.default_rng(seed)}


def _percentile_bootstrap(data: tuple[np.ndarray, np.ndarray], statistic, width: int, *, confidence: float,
                          seed: int, resamples: int) -> tuple[float, float]:
    """A seeded percentile bootstrap of a two-sample statistic, each sample resampled on its own."""
    from scipy.stats import bootstrap

    result = bootstrap(data, statistic, n_resamples=resamples, batch=max(1, _CHUNK_ELEMENTS // max(1, width)),
                       vectorized=True, paired=False, confidence_level=confidence, method="percentile",
                       **_seeded(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _median_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.median(a, axis=axis) / np.median(b, axis=axis)


def ratio_of_medians_ci(current: Sequence[float], baseline: Sequence[float], *, confidence: float = CONFIDENCE,
                        seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float] | None:
    """Percentile bootstrap CI of median(current) / median(baseline), the samples of each resampled on their own;
    None when it cannot be formed (a side without samples, or a median of 0)."""
    x, y = np.asarray(current, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if not x.size or not y.size or np.median(y) == 0:
        return None
    lo, hi = _percentile_bootstrap((x, y), _median_ratio, x.size + y.size, confidence=confidence, seed=seed,
                                   resamples=resamples)
    return (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else None


# --- rounds: samples timed in interleaved rounds --------------------------------------------------------------

def rounds_of(record: dict[str, Any]) -> list[list[float]]:
    """A cell record's samples cut into its kept rounds (``rounds[i].n`` consecutive samples each; a round left out
    for interference keeps its samples in the round itself, not in ``latency_ms``); a record without ``rounds``, or
    whose counts do not add up to its samples, is one round of all its samples."""
    samples = [float(s) for s in ((record.get("latency_ms") or {}).get("samples") or [])]
    counts = [int(r.get("n") or 0) for r in (record.get("rounds") or []) if r.get("kept", True)]
    if not counts or sum(counts) != len(samples):
        return [samples] if samples else []
    edges = np.cumsum([0, *counts])
    return [samples[start:stop] for start, stop in zip(edges[:-1], edges[1:]) if stop > start]


def kept_rounds(record: dict[str, Any]) -> dict[tuple[str, int], float]:
    """The rounds of a cell kept for its p50 and its ratios, by (group run, round number): each round's p50.
    Rounds left out for interference are not there; a record written before group runs were recorded
    (no ``interleave.group_run``) pairs only when it was timed in lockstep."""
    interleave = record.get("interleave") or {}
    run = interleave.get("group_run")
    if run is None:
        if not interleave.get("lockstep"):
            return {}
        run = f"lockstep:{interleave.get('group')}"
    return {(str(run), int(r["round"])): float(r["p50"]) for r in record.get("rounds") or []
            if r.get("kept", True) and r.get("p50")}


def per_round_ratios(a: dict[str, Any], b: dict[str, Any]) -> list[float]:
    """p50(a) / p50(b) in each round both cells were timed in and kept (the same group run and round)."""
    mine, theirs = kept_rounds(a), kept_rounds(b)
    return [mine[key] / theirs[key] for key in sorted(mine.keys() & theirs.keys()) if theirs[key] > 0]


def _median_of_resamples(values: np.ndarray, confidence: float, seed: int, resamples: int) -> tuple[float, float]:
    from scipy.stats import bootstrap

    result = bootstrap((values,), np.median, n_resamples=resamples, vectorized=True, confidence_level=confidence,
                       method="percentile", **_seeded(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def cell_ratio(a: dict[str, Any], b: dict[str, Any], *, confidence: float = CONFIDENCE, seed: int = 0,
               resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """How many times slower cell ``a`` is than cell ``b`` (for a speed-up over a reference, pass the reference as
    ``a``): the one ratio estimator every speed-up of edgebench comes from.

    Cells timed in the same rounds (same group run): the median over shared kept rounds of round i's p50 ratio, so
    a slow minute that hit both cancels in each round's ratio. Its 95% interval: a percentile bootstrap over the
    rounds (each draw a whole round, both cells together: paired) with at least ``MIN_ROUNDS`` shared rounds;
    with fewer, the range of the per-round ratios, whose exact coverage of their median (1 - 2 * 0.5^n) is given.
    Cells that share no round (different runs or groups): p50(a) / p50(b) with an unpaired bootstrap over rounds,
    said in ``method``. Returns ``ratio``, ``lo``, ``hi``, ``confidence``, ``method``, ``paired``, ``rounds``,
    ``half_width_pct``; raises ValueError when a side has no samples or no positive median."""
    ratios = np.asarray(per_round_ratios(a, b), dtype=np.float64)
    if ratios.size:
        estimate = float(np.median(ratios))
        if ratios.size >= MIN_ROUNDS:
            lo, hi = _median_of_resamples(ratios, confidence, seed, resamples)
            method, coverage = "median of per-round ratios; paired bootstrap over shared rounds", confidence
        else:
            lo, hi = float(ratios.min()), float(ratios.max())
            coverage = max(0.0, 1.0 - 2.0 * 0.5 ** ratios.size) if ratios.size > 1 else 0.0
            method = f"median of per-round ratios; range of {ratios.size} shared round(s) (too few to resample)"
        out = {"ratio": estimate, "lo": lo, "hi": hi, "confidence": coverage, "method": method, "paired": True,
               "rounds": int(ratios.size)}
    else:
        unpaired = ratio_interval(rounds_of(a), rounds_of(b), confidence=confidence, seed=seed, resamples=resamples)
        out = {**unpaired, "method": f"unpaired (no shared rounds): ratio of p50s, {unpaired['method']}",
               "paired": False, "rounds": 0}
    half = max(out["ratio"] - out["lo"], out["hi"] - out["ratio"]) / out["ratio"] * 100.0
    out["half_width_pct"] = half if np.isfinite(half) else float("inf")
    return out


class _PooledRounds:
    """A cell's samples sorted once, each tagged with its round, so the median of any resample of rounds is
    found by a binary search over the sorted samples (weight: how often a sample's round was drawn)."""

    def __init__(self, rounds: list[list[float]]) -> None:
        values = np.concatenate([np.asarray(r, dtype=np.float64) for r in rounds])
        tags = np.repeat(np.arange(len(rounds)), [len(r) for r in rounds])
        order = np.argsort(values, kind="stable")
        self.values = values[order]
        # (samples, rounds): how many samples of each round sort at or before each sample
        self.upto = np.cumsum(np.eye(len(rounds), dtype=np.int32)[tags[order]], axis=0, dtype=np.int32)
        self.sizes = self.upto[-1].astype(np.int64)

    def _at(self, drawn: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Per row, the value at 0-based position ``k`` of the pooled sorted resample: the first sample whose
        count of drawn samples at or before it exceeds ``k``."""
        lo, hi = np.zeros(len(k), dtype=np.intp), np.full(len(k), len(self.values) - 1, dtype=np.intp)
        while np.any(lo < hi):
            mid = (lo + hi) // 2
            beyond = np.einsum("br,br->b", self.upto[mid].astype(np.int64), drawn) > k
            lo, hi = np.where(beyond, lo, mid + 1), np.where(beyond, mid, hi)
        return self.values[lo]

    def medians(self, picks: np.ndarray) -> np.ndarray:
        """The median of all samples of the rounds each row of ``picks`` (..., k) names (with repeats)."""
        flat = picks.astype(np.intp).reshape(-1, picks.shape[-1])
        drawn = (flat[:, :, None] == np.arange(len(self.sizes))).sum(axis=1)  # (resamples, rounds)
        total = drawn @ self.sizes
        middle = (self._at(drawn, (total - 1) // 2) + self._at(drawn, total // 2)) / 2.0
        return middle.reshape(picks.shape[:-1])


def ratio_interval(a_rounds: Sequence[Sequence[float]], b_rounds: Sequence[Sequence[float]], *,
                   confidence: float = CONFIDENCE, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """median(all a samples) / median(all b samples) and its percentile bootstrap CI, for samples that were not
    timed in the same rounds (``cell_ratio`` uses it for cells that share none; cells that do are paired there).

    With at least ``MIN_ROUNDS`` rounds on each side, whole rounds of each cell are resampled (independently),
    so a slow period that hit some rounds widens the interval as it should; samples within a round are
    correlated and resampling them alone would make the interval too narrow. With fewer rounds the samples are
    resampled instead (said in ``method``).
    Raises ValueError when a side has no samples or its median is not positive."""
    a = [[float(v) for v in r] for r in a_rounds if len(r)]
    b = [[float(v) for v in r] for r in b_rounds if len(r)]
    if not a or not b:
        raise ValueError("a ratio needs samples on both sides")
    a_all, b_all = np.concatenate(a), np.concatenate(b)
    median_a, median_b = float(np.median(a_all)), float(np.median(b_all))
    if median_a <= 0 or median_b <= 0:
        raise ValueError("a ratio of latencies needs positive medians")
    if len(a) >= MIN_ROUNDS and len(b) >= MIN_ROUNDS:
        pooled_a, pooled_b = _PooledRounds(a), _PooledRounds(b)

        def statistic(picks_a: np.ndarray, picks_b: np.ndarray, axis: int = -1) -> np.ndarray:
            return pooled_a.medians(picks_a) / pooled_b.medians(picks_b)

        data = (np.arange(len(a), dtype=np.float64), np.arange(len(b), dtype=np.float64))
        # a resample holds (rounds x rounds) flags of which round was drawn: that bounds the memory per batch
        lo, hi = _percentile_bootstrap(data, statistic, len(a) ** 2 + len(b) ** 2, confidence=confidence,
                                       seed=seed, resamples=resamples)
        method = "bootstrap over rounds"
    else:
        lo, hi = _percentile_bootstrap((a_all, b_all), _median_ratio, a_all.size + b_all.size,
                                       confidence=confidence, seed=seed, resamples=resamples)
        method = "bootstrap over samples"
    return {"ratio": median_a / median_b, "lo": lo, "hi": hi, "confidence": confidence, "method": method}


def percentile_interval(draws: Sequence[float], confidence: float = CONFIDENCE) -> list[float] | None:
    """The central ``confidence`` interval of bootstrap draws (the non-finite left out); None with fewer than two."""
    finite = [v for v in draws if np.isfinite(v)]
    if len(finite) < 2:
        return None
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return [float(lo), float(hi)]


def change_verdict(interval: Sequence[float] | None) -> str:
    """A paired change's verdict from its interval: a drop or a gain only when the interval excludes zero."""
    if interval is None:
        return "not tested"
    if interval[1] < 0:
        return "significant drop"
    if interval[0] > 0:
        return "significant gain"
    return "no significant change"
