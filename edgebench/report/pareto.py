"""The Pareto frontier of deployments: none of them is beaten on both cost and value by another."""
from __future__ import annotations

from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, value) that no other point dominates (cost no higher and value no lower,
    one of them strictly), ordered by cost. Lower cost (latency, size) and higher value (accuracy) are better."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def pareto_set(points: Sequence[tuple[float | None, ...]], maximise: Sequence[bool]) -> list[int]:
    """Indices (in input order) of the points no other point dominates: another dominates a point when it is at
    least as good in every dimension and strictly better in one, so equal points keep each other. ``maximise``
    says per dimension whether higher is better (accuracy) or lower (latency, size). A point with a missing or
    non-finite coordinate is left out: an unmeasured value can neither win nor lose."""
    import numpy as np

    dims = len(maximise)
    keep = [i for i, p in enumerate(points)
            if len(p) == dims and all(v is not None and np.isfinite(float(v)) for v in p)]
    if not keep:
        return []
    # Flip the maximised dimensions so that lower is better everywhere.
    values = np.array([[float(v) for v in points[i]] for i in keep]) * np.where(np.asarray(maximise, bool), -1.0, 1.0)
    no_worse = (values[:, None, :] <= values[None, :, :]).all(axis=2)  # [j, i]: j is no worse than i everywhere
    better = (values[:, None, :] < values[None, :, :]).any(axis=2)  # [j, i]: j is better than i somewhere
    dominated = (no_worse & better).any(axis=0)
    return [keep[k] for k in np.flatnonzero(~dominated)]
