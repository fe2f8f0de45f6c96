"""GPU memory of a cell's process, beside its host peak RSS.

NVML's per-process figure is what ``nvidia-smi`` shows for the process: CUDA context, runtime workspaces,
engine memory and the caching allocator's pool. In a container the driver may report host PIDs, so the
process can be missing from NVML's list; then the change of the device's used memory since the worker
started stands in (exact when nothing else uses the GPU meanwhile, and said so). torch's allocator peaks
are added as detail (they see only torch's own allocations).
"""
from __future__ import annotations

import os
from typing import Any

MB = 1024.0 * 1024.0


def _nvml_handle():
    """NVML and the handle of the GPU CUDA calls device 0: the first of CUDA_VISIBLE_DEVICES (an index or a
    UUID), else NVML's first. Found without touching CUDA, so reading it creates no context. (NVML counts
    in PCI bus order: with mixed GPUs, set CUDA_DEVICE_ORDER=PCI_BUS_ID so that indices agree.)"""
    import pynvml

    pynvml.nvmlInit()
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if first.startswith(("GPU-", "MIG-")):
        return pynvml, pynvml.nvmlDeviceGetHandleByUUID(first)
    return pynvml, pynvml.nvmlDeviceGetHandleByIndex(int(first) if first.isdigit() else 0)


def device_used_mb() -> float | None:
    """Memory in use on the GPU by every process (None without NVML). Read before the runtime loads."""
    try:
        pynvml, handle = _nvml_handle()
        return pynvml.nvmlDeviceGetMemoryInfo(handle).used / MB
    except Exception:
        return None


def _process_mb(pynvml, handle) -> float | None:
    for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        try:
            processes = getattr(pynvml, getter)(handle)
        except Exception:
            continue
        for process in processes:
            used = getattr(process, "usedGpuMemory", None)
            if process.pid == os.getpid() and isinstance(used, int) and used < 2**63:  # NOT_AVAILABLE is 2**64-1
                return used / MB
    return None


def snapshot(session, baseline_used_mb: float | None) -> dict[str, Any]:
    """The cell's GPU memory after timing (allocations are static by then). ``mb`` is the headline figure."""
    record: dict[str, Any] = {"mb": None, "scope": None}
    try:
        pynvml, handle = _nvml_handle()
        process = _process_mb(pynvml, handle)
        used = pynvml.nvmlDeviceGetMemoryInfo(handle).used / MB
        if process is not None:
            record.update(mb=process, scope="NVML, this process")
        elif baseline_used_mb is not None:
            record.update(mb=used - baseline_used_mb,
                          scope="NVML device use since the worker started (the process is not in NVML's list, "
                                "e.g. a container's PID namespace; exact only if nothing else used the GPU)")
    except Exception as exc:  # nvidia-ml-py missing or NVML unusable: torch's figures remain
        record["nvml_error"] = f"{type(exc).__name__}: {exc}"
    torch = session.torch
    record["torch_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / MB
    record["torch_peak_reserved_mb"] = torch.cuda.max_memory_reserved() / MB
    try:
        record.update(session.gpu_memory())
    except Exception as exc:  # a runtime's own figure is detail: never lose a timed cell over it
        record["runtime_memory_error"] = f"{type(exc).__name__}: {exc}"
    if record["mb"] is None:
        record.update(mb=record["torch_peak_reserved_mb"] + record.get("engine_device_mb", 0.0),
                      scope="torch's allocator peak (+ engine memory): no CUDA context, no other allocations")
    return record
