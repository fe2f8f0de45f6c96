"""The contention record of a cell: CPU time per call measured for real, busy judged from the load average."""
from __future__ import annotations

import time

from edgebench.machine import contention
from edgebench.machine.contention import Watch


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_cpu_time_per_call_is_measured():
    watch = Watch(threads=1, usable_cpus=2)
    for _ in range(4):
        _spin(0.05)  # busy: CPU time ~ wall time
    for _ in range(4):
        time.sleep(0.05)  # idle: no CPU time
    result = watch.result(calls=8)
    assert 15 < result["cpu_ms_per_call"] < 40  # 200 ms of CPU over 8 calls
    assert 0.3 < result["cpu_over_wall"] < 0.75


def test_busy_when_the_load_exceeds_the_cells_own_threads(monkeypatch):
    loads = iter([[1.9, 1.5, 1.2], [3.4, 2.0, 1.3]])
    monkeypatch.setattr(contention, "loadavg", lambda: next(loads))
    busy = Watch(threads=2, usable_cpus=2).result(calls=10)
    assert busy["busy"] and "3.4 on 2 usable CPUs" in busy["note"]
    loads = iter([[2.0, 1.5, 1.2], [2.2, 2.0, 1.3]])  # the cell's own two threads: not busy
    quiet = Watch(threads=2, usable_cpus=2).result(calls=10)
    assert not quiet["busy"] and "note" not in quiet
    loads = iter([[1.6, 1.5, 1.2], [1.8, 1.0, 1.0]])  # one thread on a 2-CPU machine, another process beside it
    assert not Watch(threads=1, usable_cpus=2).result(calls=10)["busy"]


def test_judge_pools_the_slices_of_interleaved_rounds():
    """Rounds time a cell in slices: CPU per call pools them (re-warm calls counted), and the busiest load
    average read around any slice decides, not only the first and the last."""
    slices = [{"samples": [1.0] * 9, "rewarm_calls": 1, "cpu_s": 0.02, "wall_s": 0.01, "loadavg": [[1.0], [1.1]]},
              {"samples": [1.0] * 10, "cpu_s": 0.02, "wall_s": 0.01, "loadavg": [[3.5], [1.2]]},
              {"samples": [1.0] * 10, "cpu_s": 0.02, "wall_s": 0.01, "loadavg": [[1.0], [1.0]]}]
    out = contention.judge(slices, threads=2, usable_cpus=2)
    assert out["cpu_ms_per_call"] == 2.0 and out["cpu_over_wall"] == 2.0
    assert out["busy"] and out["loadavg_peak"] == 3.5
    assert not contention.judge(slices[:1] + slices[2:], threads=2, usable_cpus=2)["busy"]
