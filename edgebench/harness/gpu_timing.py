"""GPU timing: device compute time from CUDA events, beside the host's end-to-end time of the same calls.

Each timed call is upload → [start event] execute [end event] → download and synchronise. The host clock
spans the whole call (what an application calling ``infer`` waits, copies included: trtexec's "Latency"
plus the host overhead); the events span only the model's kernels on the stream (trtexec's "GPU Compute
Time"). Both come from the same calls, so they can be compared sample by sample.
"""
from __future__ import annotations

import numpy as np

from edgebench.harness.timing import LatencyStats, Measurement, TimingProfile, measure


def measure_on_device(session, batch: np.ndarray, profile: TimingProfile) -> tuple[Measurement, LatencyStats]:
    """Host measurement and device (CUDA event) latency of a ``CudaSession`` running ``batch``."""
    torch = session.torch
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    device_ms: list[float] = []

    def call() -> None:
        session.upload(batch)
        start.record(session.stream)
        session.execute()
        end.record(session.stream)
        session.download()  # synchronises the stream, so both events have completed

    def after() -> None:
        device_ms.append(start.elapsed_time(end))

    result = measure(call, profile, after=after)
    return result, LatencyStats.from_samples(device_ms)
