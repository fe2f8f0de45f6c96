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
