"""How fast the host runs a fixed reference workload now, against the fastest this machine has run it.

A virtual machine can slow down without any process of its own taking CPU time: the hypervisor runs other guests
on the same cores or their siblings, shares their caches and memory bandwidth, or changes their clock. The kernel's
CPU accounting inside the guest does not see it when its steal time is not reported (edgebench.machine.contention
then sees CPU/wall near the thread count and nothing else running). On the development machine two back-to-back
runs of the quick suite differed so: every batch-1 cell of MobileNetV2 and MobileNetV3-Small ran 1.35-2.4x slower
in the second run, with tight intervals and no round disturbed by another process, while ResNet-18's stayed within
5%; the ratios between runtimes moved by up to 45% (reports/dev-epyc-2core/quick-lockstep-f/repeatability.md).
Pairing rounds cannot cancel a slowdown that lasts a whole group and hits runtimes unlike each other.

So each round of a group starts with a short reference workload in the measuring process, while every worker
waits: 60 small matrix products with a tanh between them (96 x 96, float32: numpy runs them on one thread), about
1.2 ms on the development machine, best of 4 such batches. What it does not see: a slowdown of threads that work
together. It read 1.21-1.22 ms through three rounds in which MobileNetV2's ONNX Runtime and OpenVINO cells (two
threads each) ran 1.5-2x slower than in the rest (reports/dev-epyc-2core/quick-lockstep-h). A two-thread probe
(numpy's BLAS threads at 128 x 128) took 597 ms instead of 1.5 ms once beside a busy neighbour, its threads
spinning for each other: not a probe to run every round. Its time is recorded per round (``host_ms``). Against the fastest this machine
has run it (kept in the cache folder, ``host-speed.json``), a group whose median is clearly slower is marked
``host_slow``: its latencies and ratios may not repeat on this machine at its usual speed. The probe cannot say
which runtime a slowdown favours; it says that the machine was not itself.

What it missed is measured by the co-run probe: the same work on two (up to eight) of the cell's CPUs at once, one
Python thread pinned to each (numpy releases the GIL in these products; at 96 x 96 OpenBLAS runs each on its own
thread), read just before and just after each cell's slice. On the development machine the two vCPUs run together at
one thread's speed (co-run 1.22-1.26 ms against 1.21 alone) in one state and up to 1.9x slower in another that comes
and goes within seconds, while the one-thread probe stays at 1.21 ms: over 423 readings about half a second apart
(``scripts/corun_probe.py``, reports/dev-epyc-2core/corun-probe), the co-run probe's slowdown went with ONNX
Runtime's two-thread p50 on MobileNetV3-Small (correlation 0.67; one-thread probe 0.01), 1.03x (median) when ONNX
Runtime ran at its usual 1.1 ms and 1.28x when it ran over 1.35 ms. A slice bracketed by a co-run reading over
``CORUN_FACTOR`` times the machine's best is left out like a slice disturbed by another process
(edgebench.pipeline.measure), and ``rounds[i].corun_x`` keeps the reading.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

PROBE = "numpy float32 matmul 96x96, 4 x 60 products, best of the 4 batches (v1)"
SIZE, PRODUCTS, BATCHES = 96, 60, 4
# A group whose median probe is this much slower than the machine's best is marked host_slow. The probe's own
# spread on the quiet development machine is far below it (edgebench.machine.host_speed tests; reports/README).
SLOW_FACTOR = 1.25
FILE = "host-speed.json"
CORUN = "numpy float32 matmul 96x96 on k pinned CPUs at once, 4 x 60 products each, slowest thread's best (v1)"
# A slice whose co-run reading (before or after it) is this much slower than the machine's best is left out. In the
# fast state 90% of readings were within 1.094x; in the slow state the median was 1.28x (423 readings, see above).
CORUN_FACTOR = 1.15
CORUN_MAX_CPUS = 8


def probe_ms() -> float:
    """Milliseconds of the reference workload: the best of a few short batches of matrix products (the best, so a
    preemption in one batch does not read as a slow host)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((SIZE, SIZE), dtype=np.float32)
    b = rng.standard_normal((SIZE, SIZE), dtype=np.float32)
    best = float("inf")
    for _ in range(BATCHES):
        started = time.perf_counter_ns()
        c = a
        for _ in range(PRODUCTS):
            c = np.tanh(c @ b)  # tanh keeps the values bounded: every batch does the same arithmetic
        best = min(best, (time.perf_counter_ns() - started) / 1e6)
    return best


def corun_cpus(threads: int) -> list[int]:
    """The CPUs the co-run probe pins its threads to: as many of this process's CPUs as the cells' threads (at most
    ``CORUN_MAX_CPUS``); none for one-thread cells or one CPU (nothing runs together)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    k = min(threads, len(cpus), CORUN_MAX_CPUS)
    return cpus[:k] if k >= 2 else []


def corun_ms(cpus: list[int]) -> float:
    """Milliseconds of the reference workload run on every CPU of ``cpus`` at once, one pinned thread each: the
    slowest thread's best batch."""
    times = [float("inf")] * len(cpus)
    start = threading.Barrier(len(cpus))

    def run(i: int) -> None:
        try:
            os.sched_setaffinity(0, {cpus[i]})  # this thread only (Linux: pid 0 is the calling thread)
        except OSError:
            pass
        start.wait()
        times[i] = probe_ms()

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(cpus))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return max(times)


class Baseline:
    """The fastest probe this machine has run (in ``folder``/host-speed.json), updated as faster ones come."""

    def __init__(self, folder: str | Path | None) -> None:
        self.path = Path(folder) / FILE if folder else None
        self.best_ms: float | None = None
        self.corun_best: dict[str, float] = {}  # by the number of CPUs run together
        self._unsaved = False
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("probe") == PROBE and float(data.get("best_ms") or 0) > 0:
                    self.best_ms = float(data["best_ms"])
                corun = data.get("corun") or {}
                if corun.get("probe") == CORUN:
                    self.corun_best = {str(k): float(v) for k, v in corun["best_ms"].items() if float(v) > 0}
            except (ValueError, OSError, TypeError, AttributeError, KeyError):
                self.best_ms, self.corun_best = None, {}  # a damaged file is started afresh

    def corun_slowdown(self, ms: float, cpus: int) -> float:
        """A co-run reading against the machine's best for that many CPUs (this reading counts)."""
        key = str(cpus)
        if ms < self.corun_best.get(key, float("inf")):
            self.corun_best[key] = ms
            self._unsaved = True  # written with the group's verdict (judge), not between slices
        return ms / self.corun_best[key]

    def judge(self, probes: list[float]) -> dict[str, Any]:
        """A group's probes against the best known (this group's own fastest counts): ``host_ms`` (median),
        ``host_best_ms``, ``host_slowdown`` and ``host_slow``; the best known is saved when this group beat it."""
        if not probes:
            return {}
        median, fastest = float(np.median(probes)), float(min(probes))
        if self.best_ms is None or fastest < self.best_ms:
            self.best_ms = fastest
            self._unsaved = True
        if self._unsaved:
            self._save()
            self._unsaved = False
        slowdown = median / self.best_ms
        out = {"host_ms": round(median, 4), "host_best_ms": round(self.best_ms, 4), "host_slowdown": round(slowdown, 3),
               "host_slow": bool(slowdown > SLOW_FACTOR), "host_probe": PROBE}
        if out["host_slow"]:
            out["host_note"] = (f"the host ran a reference workload {slowdown:.2f}x slower than its best on this machine "
                                "during this group, with no other process seen: these latencies and the ratios between "
                                "runtimes may not repeat when the machine runs at its usual speed")
        return out

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"probe": PROBE, "best_ms": self.best_ms,
                                       "corun": {"probe": CORUN, "best_ms": self.corun_best}}))
            tmp.replace(self.path)
        except OSError:
            pass  # a read-only cache folder: the best is kept for this run only
