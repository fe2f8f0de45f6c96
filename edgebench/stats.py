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
