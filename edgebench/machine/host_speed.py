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
"""
from __future__ import annotations

import json
import os
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


class Baseline:
    """The fastest probe this machine has run (in ``folder``/host-speed.json), updated as faster ones come."""

    def __init__(self, folder: str | Path | None) -> None:
        self.path = Path(folder) / FILE if folder else None
        self.best_ms: float | None = None
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("probe") == PROBE and float(data.get("best_ms", 0)) > 0:
                    self.best_ms = float(data["best_ms"])
            except (ValueError, OSError, TypeError):
                self.best_ms = None  # a damaged file is started afresh

    def judge(self, probes: list[float]) -> dict[str, Any]:
        """A group's probes against the best known (this group's own fastest counts): ``host_ms`` (median),
        ``host_best_ms``, ``host_slowdown`` and ``host_slow``; the best known is saved when this group beat it."""
        if not probes:
            return {}
        median, fastest = float(np.median(probes)), float(min(probes))
        if self.best_ms is None or fastest < self.best_ms:
            self.best_ms = fastest
            self._save()
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
            tmp.write_text(json.dumps({"probe": PROBE, "best_ms": self.best_ms}))
            tmp.replace(self.path)
        except OSError:
            pass  # a read-only cache folder: the best is kept for this run only
