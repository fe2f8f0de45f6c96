"""The CPUs a process may use: its affinity and its cgroup CPU quota, whichever is smaller."""
from __future__ import annotations

import os

import pytest

from edgebench.machine import env


def _cgroup(monkeypatch, tmp_path, version: str, **files: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(env, "_cgroup_paths", lambda: [(version, tmp_path)])


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs CPU affinity (Linux)")
def test_quota_below_affinity_wins(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    _cgroup(monkeypatch, tmp_path, "v2", **{"cpu.max": "150000 100000\n"})
    budget = env.cpu_budget()
    assert budget["usable_cpus"] == 2 and budget["cgroup_cpu_quota"] == 1.5 and budget["affinity_cpus"] == 8
    assert env.usable_cpus() == 2


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs CPU affinity (Linux)")
def test_affinity_below_quota_wins_and_no_quota_means_affinity(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    _cgroup(monkeypatch, tmp_path, "v1", **{"cpu.cfs_quota_us": "400000\n", "cpu.cfs_period_us": "100000\n"})
    assert env.cpu_budget()["usable_cpus"] == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    _cgroup(monkeypatch, tmp_path, "v1", **{"cpu.cfs_quota_us": "-1\n"})
    assert env.cpu_budget() == {"usable_cpus": 3, "affinity_cpus": 3, "cgroup_cpu_quota": None,
                                "derived_from": "affinity"}
    _cgroup(monkeypatch, tmp_path / "none", "v2")  # no cpu.max there: no quota
    assert env.usable_cpus() == 3


def test_without_affinity_falls_back_to_cpu_count(monkeypatch, tmp_path):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    monkeypatch.setattr(env, "_cgroup_paths", lambda: [])
    assert env.cpu_budget()["usable_cpus"] == 6


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_real_affinity_is_read():
    import subprocess
    import sys

    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); from edgebench.machine import env; " \
           "print(env.usable_cpus(), env.capture()['usable_cpus'])"
    from conftest import REPO

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO).stdout.split()
    assert out == ["1", "1"]
