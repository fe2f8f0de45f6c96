"""Was the machine busy while a cell was timed? CPU time per call (``time.process_time``: the process
clock in nanoseconds, where os.times() counts 10 ms ticks) and the load average, read around the timed runs, so that a result measured under contention says so instead of passing for a quiet one.

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


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def judge(slices: list[dict[str, Any]], *, threads: int, usable_cpus: int) -> dict[str, Any]:
    """Contention over a cell's timed slices (each: ``samples``, ``cpu_s``, ``wall_s``, ``loadavg`` [before,
    after], ``rewarm_calls``): the process CPU per call and the highest load average read around them."""
    calls = sum(len(s["samples"]) + s.get("rewarm_calls", 0) for s in slices)
    cpu_s = sum(s["cpu_s"] for s in slices)
    wall_s = sum(s["wall_s"] for s in slices)
    loads = [l for s in slices for l in s.get("loadavg") or [] if l]
    # The cell's own threads account for up to ``threads`` of the load; a whole runnable process beyond
    # what the machine's usable CPUs leave free means the timed runs shared the CPUs.
    own = min(threads, usable_cpus)
    peak_load = max((l[0] for l in loads), default=None)
    busy = peak_load is not None and peak_load >= own + 1.0 and peak_load > usable_cpus - 0.5
    out = {"cpu_ms_per_call": round(cpu_s * 1000.0 / calls, 4) if calls else None,
           "cpu_over_wall": round(cpu_s / wall_s, 3) if wall_s > 0 else None,
           "loadavg_before": loads[0] if loads else None, "loadavg_after": loads[-1] if loads else None,
           "loadavg_peak": peak_load, "usable_cpus": usable_cpus, "busy": busy}
    if busy:
        out["note"] = (f"the 1-minute load average reached {peak_load:.1f} on {usable_cpus} usable CPUs "
                       f"while this cell's {threads} thread(s) ran: other processes shared the CPUs, so "
                       "its latency is likely inflated; re-run it on a quiet machine")
    return out


@dataclass
class Watch:
    """Started before some runs, read after them: CPU and wall time over the same span (one slice)."""

    threads: int
    usable_cpus: int

    def __post_init__(self) -> None:
        self.load_before = loadavg()
        self.cpu_before = time.process_time()
        self.wall_before = time.perf_counter()

    def result(self, calls: int) -> dict[str, Any]:
        """``calls``: every call made since the watch started."""
        part = {"samples": [0.0] * calls, "cpu_s": time.process_time() - self.cpu_before,
                "wall_s": time.perf_counter() - self.wall_before, "loadavg": [self.load_before, loadavg()]}
        return judge([part], threads=self.threads, usable_cpus=self.usable_cpus)
