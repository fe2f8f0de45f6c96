"""Was the machine busy while a cell was timed? CPU time per call and the load average, read around the
timed runs, so that a result measured under contention says so instead of passing for a quiet one.

Why: a runtime whose threads spin at barriers (ncnn's OpenMP loops) collapses when another process takes a
core: MobileNetV2 on ncnn took 243.6 ms per image on the shared 2-core development machine and 9 ms with the
machine to itself (reports/dev-epyc-2core/ncnn-probe). CPU time far above the thread count times the wall
time cannot happen; CPU time per call far above a quiet run's, with a load average above the cell's own
threads, is the mark of such waiting.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


@dataclass
class Watch:
    """Started before the runs (warm-up and timed), read after them: CPU and wall time over the same span."""

    threads: int
    usable_cpus: int

    def __post_init__(self) -> None:
        self.load_before = _loadavg()
        self.cpu_before = _cpu_s()
        self.wall_before = time.perf_counter()

    def result(self, calls: int) -> dict[str, Any]:
        """``calls``: every call made since the watch started (warm-up included)."""
        wall_s = time.perf_counter() - self.wall_before
        cpu_s = _cpu_s() - self.cpu_before
        load_after = _loadavg()
        # The cell's own threads account for up to ``threads`` of the load; a whole runnable process beyond
        # what the machine's usable CPUs leave free means the timed runs shared the CPUs.
        own = min(self.threads, self.usable_cpus)
        peak_load = max((l[0] for l in (self.load_before, load_after) if l), default=None)
        busy = peak_load is not None and peak_load >= own + 1.0 and peak_load > self.usable_cpus - 0.5
        out = {"cpu_ms_per_call": round(cpu_s * 1000.0 / calls, 4) if calls else None,
               "cpu_over_wall": round(cpu_s / wall_s, 3) if wall_s > 0 else None,
               "loadavg_before": self.load_before, "loadavg_after": load_after,
               "usable_cpus": self.usable_cpus, "busy": busy}
        if busy:
            out["note"] = (f"the 1-minute load average reached {peak_load:.1f} on {self.usable_cpus} usable CPUs "
                           f"while this cell's {self.threads} thread(s) ran: other processes shared the CPUs, so "
                           "its latency is likely inflated; re-run it on a quiet machine")
        return out


def _cpu_s() -> float:
    """CPU seconds of this process, all threads, user and system (CLOCK_PROCESS_CPUTIME_ID: nanoseconds,
    where os.times() counts in 10 ms ticks, too coarse for a short cell)."""
    return time.process_time()
