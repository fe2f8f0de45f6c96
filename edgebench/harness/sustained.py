"""Sustained mode: one cell runs back to back for minutes, and its latency is summarised per minute.

A short run measures a cool machine; a phone, a Jetson or a Raspberry Pi slows down as it heats. The drift
from the first minute's p50 to the last says how much, and the sensor readings (CPU frequency,
temperatures), taken between calls at each minute's end and never inside a timed call, say why.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edgebench.errors import ConfigError
from edgebench.machine.sensors import describe_sensors, read_sensors

NS_PER_S = 1_000_000_000


def _read(sensors: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A sensor reading that cannot break the run (an injected reader may raise; read_sensors never does)."""
    try:
        return dict(sensors())
    except Exception as exc:
        return {"cpu_mhz": None, "temps_c": None, "why": f"sensor read failed ({type(exc).__name__}: {exc})"}


def _bucket(index: int, samples: list[float], span_s: float, reading: dict[str, Any]) -> dict[str, Any]:
    p50, p90 = np.percentile(np.asarray(samples, dtype=np.float64), [50, 90])
    out = {"minute": index, "n": len(samples), "p50": float(p50), "p90": float(p90), "span_s": round(span_s, 3),
           "cpu_mhz": reading.get("cpu_mhz"), "temps_c": reading.get("temps_c")}
    if reading.get("throttled"):
        out["throttled"] = reading["throttled"]
    return out


def run_sustained(call: Callable[[], object], minutes: float, *, clock: Callable[[], int] = time.perf_counter_ns,
                  sensors: Callable[[], dict[str, Any]] = read_sensors,
                  bucket_s: float = 60.0) -> tuple[list[float], dict[str, Any]]:
    """Call ``call`` back to back for ``minutes`` (at least once), timing each call alone.

    Returns every sample in ms, in call order, and the summary: per bucket (a minute by default; a call belongs
    to the bucket it started in) n, p50, p90 and the sensors read when the bucket ended; ``drift_pct``, the last
    bucket's p50 against the first's (None with one bucket). A last bucket shorter than half a bucket is merged
    into the one before (``merged_tail``): a few seconds' p50 would make the drift noise.
    """
    if not minutes > 0:  # also rejects NaN
        raise ConfigError(f"--sustained needs a positive number of minutes, got {minutes!r}")
    if not bucket_s > 0:
        raise ValueError(f"bucket_s must be positive, got {bucket_s!r}")
    duration_ns, bucket_ns = int(minutes * 60 * NS_PER_S), int(bucket_s * NS_PER_S)
    sensors_start = _read(sensors)
    samples: list[float] = []
    # per bucket: index, samples, first call's start, last call's end, the reading at its end
    groups: list[tuple[int, list[float], int, int, dict[str, Any]]] = []
    current: list[float] = []
    current_index, first_ns, last_end = 0, 0, 0
    start = clock()
    while True:
        t0 = clock()
        index = (t0 - start) // bucket_ns
        if current and index != current_index:
            # A bucket has ended: read the sensors now, between calls, then take the time again. (A call longer
            # than a bucket leaves the buckets it spanned empty; they are not listed.)
            groups.append((current_index, current, first_ns, last_end, _read(sensors)))
            current = []
            t0 = clock()
            index = (t0 - start) // bucket_ns
        if not current:
            current_index, first_ns = index, t0
        call()
        t1 = clock()
        current.append((t1 - t0) / 1e6)
        samples.append(current[-1])
        last_end = t1
        if t1 - start >= duration_ns:
            break
    sensors_end = _read(sensors)
    groups.append((current_index, current, first_ns, last_end, sensors_end))
    merged_tail = False
    if len(groups) > 1 and groups[-1][3] - groups[-1][0] * bucket_ns - start < bucket_ns / 2:
        index, tail, _, end, reading = groups.pop()
        prev_index, prev, prev_first, _, _ = groups.pop()
        groups.append((prev_index, prev + tail, prev_first, end, reading))
        merged_tail = True
    buckets = [_bucket(i, group, (end - first) / NS_PER_S, reading) for i, group, first, end, reading in groups]
    drift = (buckets[-1]["p50"] / buckets[0]["p50"] - 1) * 100 if len(buckets) > 1 and buckets[0]["p50"] > 0 else None
    summary = {"minutes": float(minutes), "bucket_s": float(bucket_s), "buckets": buckets, "drift_pct": drift,
               "merged_tail": merged_tail, "elapsed_s": round((last_end - start) / NS_PER_S, 3),
               "sensors_start": sensors_start, "sensors_end": sensors_end,
               "sensors_note": describe_sensors(sensors_end)}
    return samples, summary
