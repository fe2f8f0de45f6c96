"""Was the machine busy while a cell was timed? Slice by slice, the CPU time the rest of the machine used on
the CPUs this process may run on (the kernel's per-CPU accounting, steal included, minus this process's own CPU
time: ``time.process_time``, the process clock in nanoseconds) and the cell's own CPU/wall; the load average is
kept beside them for the record. A slice in which other processes took a meaningful share of the CPUs the cell's
threads need is *disturbed*; it is left out of the cell's p50 and of its ratios (edgebench.pipeline.measure).

Why slice by slice: the 1-minute load average misses a neighbour that runs for seconds at a time. Beside a one-core
busy loop that ran half of the time, ResNet-18's ONNX Runtime slices went from 17 to 63 ms and OpenVINO's from 17
to 28 ms while every cell's load-average verdict still said "not busy".

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

import numpy as np


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


# A slice is disturbed when other processes used more than this share of the CPUs the cell's threads need, beyond
# the CPUs its threads leave free. The rest of a quiet machine (this harness's parent waiting on a pipe, the
# kernel, the idle workers of the group) stays far below it.
DISTURBED_SHARE = 0.10


def _ticks_per_s() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def affinity_cpus() -> list[int]:
    """The CPUs this process may run on (all of them where the OS cannot say)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def machine_busy_s(cpus: list[int]) -> float | None:
    """CPU seconds spent not idle on ``cpus`` since boot, by every process and the kernel, with the time the
    hypervisor stole (a vCPU that was not running); None where the kernel does not say."""
    import psutil

    try:
        per_cpu = psutil.cpu_times(percpu=True)
    except (OSError, AttributeError, NotImplementedError):
        return None
    busy = 0.0
    for index in cpus:
        if index < len(per_cpu):
            t = per_cpu[index]
            busy += sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
    return busy


class SliceWatch:
    """Started before a slice's timed calls, read after them: the cell's CPU and wall time and the rest of the
    machine's CPU time over the same span."""

    def __init__(self) -> None:
        self.cpus = affinity_cpus()
        self.load_before = loadavg()
        self.machine_before = machine_busy_s(self.cpus)
        self.cpu_before, self.wall_before = time.process_time(), time.perf_counter()

    def result(self) -> dict[str, Any]:
        cpu_s, wall_s = time.process_time() - self.cpu_before, time.perf_counter() - self.wall_before
        machine_after = machine_busy_s(self.cpus)
        machine = None if self.machine_before is None or machine_after is None else machine_after - self.machine_before
        return {"cpu_s": cpu_s, "wall_s": wall_s, "loadavg": [self.load_before, loadavg()],
                "machine_cpu_s": machine, "cpus": len(self.cpus)}


def interference(part: dict[str, Any], *, threads: int) -> dict[str, Any]:
    """What the rest of the machine did during one slice: ``others_cpus`` (CPUs' worth of time other processes
    used, on average over the slice), ``own_cpu_over_wall`` and whether the slice was ``disturbed``."""
    wall, own, machine = part.get("wall_s") or 0.0, part.get("cpu_s") or 0.0, part.get("machine_cpu_s")
    if machine is None or wall <= 0:
        return {"others_cpus": None, "own_cpu_over_wall": round(own / wall, 3) if wall > 0 else None,
                "disturbed": False}
    cpus = int(part.get("cpus") or 1)
    others = max(0.0, machine - own) / wall
    spare = max(0, cpus - threads)  # CPUs the cell's threads leave free: others may use them without harm
    # The kernel's per-CPU times count in clock ticks: each end of the span may be off by a tick on every CPU.
    allowance = 2.0 * cpus / _ticks_per_s() / wall
    disturbed = others - spare > DISTURBED_SHARE * min(threads, cpus) + allowance
    return {"others_cpus": round(others, 3), "own_cpu_over_wall": round(own / wall, 3), "disturbed": bool(disturbed)}


def judge(slices: list[dict[str, Any]], *, threads: int, usable_cpus: int, rounds_kept: int | None = None,
          rounds_left_out: int = 0, contaminated: bool = False) -> dict[str, Any]:
    """Contention over a cell's timed slices (each: ``samples``, ``cpu_s``, ``wall_s``, ``loadavg`` [before,
    after], ``rewarm_calls``, ``machine_cpu_s``, ``cpus``; from a lockstep group also ``corun_x``, ``host_slow``
    and ``left_out_for_host``): its process CPU per call, what other processes used, the load average, the co-run
    probe's worst reading, and the rounds kept and left out for interference. ``busy``: the figures include time in
    which other processes took a meaningful share of the CPUs, or the host ran its CPUs together slower than its best
    (``contaminated``: disturbed rounds had to be kept because interference never stopped within the bound)."""
    calls = sum(len(s["samples"]) + s.get("rewarm_calls", 0) for s in slices)
    cpu_s = sum(s["cpu_s"] for s in slices)
    wall_s = sum(s["wall_s"] for s in slices)
    loads = [l for s in slices for l in s.get("loadavg") or [] if l]
    peak_load = max((l[0] for l in loads), default=None)
    seen = [interference(s, threads=threads) for s in slices]
    others = [x["others_cpus"] for x in seen if x["others_cpus"] is not None]
    by_others = sum(1 for x in seen if x["disturbed"])
    # The co-run probe (edgebench.machine.host_speed): slices it read slow, and those left out for it.
    host_slow, by_host, host_kept = (sum(1 for s in slices if s.get(key))
                                     for key in ("host_slow", "left_out_for_host", "host_slow_kept"))
    coruns = [s["corun_x"] for s in slices if s.get("corun_x") is not None]
    out = {"cpu_ms_per_call": round(cpu_s * 1000.0 / calls, 4) if calls else None,
           "cpu_over_wall": round(cpu_s / wall_s, 3) if wall_s > 0 else None,
           "others_cpus_median": round(float(np.median(others)), 3) if others else None,
           "others_cpus_max": round(max(others), 3) if others else None,
           "loadavg_before": loads[0] if loads else None, "loadavg_after": loads[-1] if loads else None,
           "loadavg_peak": peak_load, "usable_cpus": usable_cpus,
           "rounds_kept": rounds_kept if rounds_kept is not None else len(slices), "rounds_left_out": rounds_left_out,
           "disturbed_share": DISTURBED_SHARE, "busy": bool(contaminated),
           "corun_x_max": round(max(coruns), 3) if coruns else None, "slices_host_slow": host_slow,
           "rounds_left_out_for_host": by_host, "slices_host_slow_kept": host_kept}
    causes = []
    if by_others:
        causes.append(f"other processes took more than {DISTURBED_SHARE:.0%} of the CPUs (up to "
                      f"{max(others, default=0):.2f} CPUs' worth)")
    if by_host:
        causes.append(f"the host ran work on {threads} CPUs at once up to {max(coruns, default=0):.2f}x slower than "
                      "its best and than the rest of the group (co-run probe), with no process of its own to blame")
    if not others:
        out["note"] = "the kernel's per-CPU accounting could not be read: interference from other processes unseen"
    if contaminated:
        out["note"] = (f"in every round it could repeat, {' and '.join(causes) or 'interference was seen'}: this p50 "
                       "includes those rounds and is likely inflated; re-run it on a quiet machine")
    elif rounds_left_out:
        out["note"] = (f"{rounds_left_out} round(s) left out of this cell's p50 and its ratios: "
                       f"{'; '.join(causes) or 'interference was seen'}")
    if host_kept and not contaminated:
        from edgebench.machine.host_speed import CORUN_FACTOR

        kept = (f"{host_kept} slice(s) the co-run probe read over {CORUN_FACTOR:g}x the group's usual state were kept: "
                "the group could not repeat them (its allowance for that was spent, or its cap affords too few rounds), "
                f"so these figures include a slower host (up to {max(coruns, default=0):.2f}x its best)")
        out["note"] = f"{out['note']}; {kept}" if out.get("note") else kept
    return out


@dataclass
class Watch:
    """Started before some runs, read after them: contention over that span, as one slice."""

    threads: int
    usable_cpus: int

    def __post_init__(self) -> None:
        self.slice = SliceWatch()

    def result(self, calls: int) -> dict[str, Any]:
        """``calls``: every call made since the watch started."""
        part = {"samples": [0.0] * calls, **self.slice.result()}
        return judge([part], threads=self.threads, usable_cpus=self.usable_cpus,
                     contaminated=interference(part, threads=self.threads)["disturbed"])
