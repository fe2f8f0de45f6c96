"""How a GPU cell's memory is read from NVML: this process's entry, else the device's growth since the
worker started, else torch's allocator. NVML (the driver's library) is played by a stand-in module; the
reading logic is what is under test. On a real GPU, tests/runtimes/test_gpu.py checks the figures."""
from __future__ import annotations

import os
import sys
import types

import pytest

from edgebench.harness import gpu_memory

MB = 1024 * 1024


def stand_in_nvml(processes, used_mb: float) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetHandleByIndex = lambda index: ("index", index)
    nvml.nvmlDeviceGetHandleByUUID = lambda uuid: ("uuid", uuid)
    nvml.nvmlDeviceGetComputeRunningProcesses = lambda handle: [types.SimpleNamespace(pid=p, usedGpuMemory=m)
                                                                for p, m in processes]
    nvml.nvmlDeviceGetGraphicsRunningProcesses = lambda handle: []
    nvml.nvmlDeviceGetMemoryInfo = lambda handle: types.SimpleNamespace(used=int(used_mb * MB))
    return nvml


class Session:
    import torch

    def gpu_memory(self):
        return {"engine_device_mb": 12.0}


@pytest.mark.parametrize("processes, headline, scope", [
    ([(1, 10 * MB), (os.getpid(), 700 * MB)], 700.0, "NVML, this process"),
    ([(1, 10 * MB)], 900.0 - 250.0, "NVML device use since the worker started"),  # a container's PID namespace
    ([(os.getpid(), None)], 900.0 - 250.0, "NVML device use since the worker started"),  # NOT_AVAILABLE (WDDM)
])
def test_nvml_readings(monkeypatch, processes, headline, scope):
    monkeypatch.setitem(sys.modules, "pynvml", stand_in_nvml(processes, used_mb=900.0))
    record = gpu_memory.snapshot(Session(), baseline_used_mb=250.0)
    assert record["mb"] == pytest.approx(headline) and record["scope"].startswith(scope)
    assert record["engine_device_mb"] == 12.0 and "torch_peak_reserved_mb" in record


def test_without_nvml_torch_allocator_stands_in(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    record = gpu_memory.snapshot(Session(), baseline_used_mb=None)
    assert record["scope"].startswith("torch's allocator") and record["mb"] == pytest.approx(12.0)
    assert "nvml_error" in record
    assert gpu_memory.device_used_mb() is None


@pytest.mark.parametrize("visible, handle", [(None, ("index", 0)), ("2,3", ("index", 2)),
                                             ("GPU-abc,GPU-def", ("uuid", "GPU-abc"))])
def test_the_gpu_is_the_one_cuda_calls_device_0(monkeypatch, visible, handle):
    monkeypatch.setitem(sys.modules, "pynvml", stand_in_nvml([], 1.0))
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_memory._nvml_handle()[1] == handle
