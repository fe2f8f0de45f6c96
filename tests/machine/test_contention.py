"""The contention record of a cell: CPU time per call measured for real, other processes seen slice by slice in the
kernel's per-CPU accounting, busy when disturbed time could not be left out."""
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


def test_a_real_neighbour_is_seen_in_the_slice_it_overlaps():
    """A spinning process on every usable CPU while this process sleeps: its CPU time is the rest of the machine's,
    and the slice is disturbed; a quiet slice of the same length is not."""
    import subprocess
    import sys

    cpus = contention.affinity_cpus()
    spin = "import time\nend = time.time() + 1.0\nwhile time.time() < end: pass"
    watch = contention.SliceWatch()
    neighbours = [subprocess.Popen([sys.executable, "-c", spin]) for _ in cpus]
    for proc in neighbours:
        proc.wait(timeout=30)
    busy = contention.interference(watch.result(), threads=len(cpus))
    assert busy["disturbed"] and busy["others_cpus"] > 0.5 * len(cpus)
    watch = contention.SliceWatch()
    _spin(0.5)  # this process's own work is not another process's
    quiet = contention.interference(watch.result(), threads=1)
    assert quiet["own_cpu_over_wall"] > 0.8 and quiet["others_cpus"] < 0.5


def test_interference_allows_what_the_cells_threads_leave_free():
    part = {"wall_s": 1.0, "cpu_s": 1.0, "machine_cpu_s": 2.0, "cpus": 4}  # one CPU's worth used by others
    assert not contention.interference(part, threads=1)["disturbed"]  # three CPUs were free for them
    assert contention.interference(part, threads=4)["disturbed"]
    assert contention.interference({**part, "machine_cpu_s": None}, threads=4) == {
        "others_cpus": None, "own_cpu_over_wall": 1.0, "disturbed": False}


def test_judge_pools_the_slices_of_interleaved_rounds():
    """Rounds time a cell in slices: CPU per call pools them (re-warm calls counted); the rounds kept and left out
    are counted, and busy means disturbed time stayed in the figures."""
    slices = [{"samples": [1.0] * 9, "rewarm_calls": 1, "cpu_s": 0.02, "wall_s": 0.01, "loadavg": [[1.0], [1.1]],
               "machine_cpu_s": 0.02, "cpus": 2},
              {"samples": [1.0] * 10, "cpu_s": 0.02, "wall_s": 0.01, "loadavg": [[3.5], [1.2]],
               "machine_cpu_s": 0.03, "cpus": 2},
              {"samples": [1.0] * 10, "cpu_s": 0.02, "wall_s": 0.01, "loadavg": [[1.0], [1.0]],
               "machine_cpu_s": 0.02, "cpus": 2}]
    out = contention.judge(slices, threads=2, usable_cpus=2, rounds_kept=2, rounds_left_out=1)
    assert out["cpu_ms_per_call"] == 2.0 and out["cpu_over_wall"] == 2.0 and out["loadavg_peak"] == 3.5
    assert out["others_cpus_max"] == 1.0 and out["rounds_left_out"] == 1 and not out["busy"]
    assert "1 round(s) left out" in out["note"]
    dirty = contention.judge(slices, threads=2, usable_cpus=2, contaminated=True)
    assert dirty["busy"] and "in every round" in dirty["note"]
