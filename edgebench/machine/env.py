"""The environment record every result carries: device, CPU and its instruction sets, memory, versions."""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from edgebench.machine.gpus import gpus

# The instruction sets that decide which kernels the runtimes pick on x86 (and NEON/SVE on Arm).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve", "sve2", "asimddp", "i8mm", "bf16")
PACKAGES = ("edgebench", "numpy", "torch", "torchvision", "timm", "onnx", "onnxscript", "onnxruntime",
            "onnxruntime-gpu", "openvino", "nncf", "pillow", "tensorrt", "tensorrt-cu12", "tensorrt-cu13",
            "tensorrt-cu12-libs", "tensorrt-cu13-libs", "polygraphy", "nvidia-ml-py", "ai-edge-litert", "executorch",
            "torchao", "coremltools", "ncnn", "pnnx")


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "Hardware") and value.strip():
            model = value.strip()
        elif key in ("flags", "Features"):
            flags.update(value.split())
    return model, flags


def cpu_flags() -> set[str]:
    """The CPU's feature flags (x86 ``flags`` or Arm ``Features`` of /proc/cpuinfo; empty elsewhere)."""
    return _cpuinfo()[1]


def physical_cores() -> int:
    try:
        import psutil

        count = psutil.cpu_count(logical=False)
        if count:
            return int(count)
    except ImportError:
        pass
    return os.cpu_count() or 1


def _cgroup_paths() -> list[tuple[str, Path]]:
    """(version, folder) of this process's CPU cgroup, its own folder first, then the mount root (which a
    container sees as its own)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    found: list[tuple[str, Path]] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":
            found.append(("v2", Path("/sys/fs/cgroup") / rel))
        elif "cpu" in controllers.split(","):
            for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                found.append(("v1", Path("/sys/fs/cgroup") / mount / rel))
    found += [("v2", Path("/sys/fs/cgroup")), ("v1", Path("/sys/fs/cgroup/cpu"))]
    return found


def cgroup_cpu_quota() -> float | None:
    """The CPU quota of this process's cgroup in CPUs (quota / period), or None when there is none."""
    for version, folder in _cgroup_paths():
        try:
            if version == "v2":
                quota, period = (folder / "cpu.max").read_text().split()[:2]
            else:
                quota = (folder / "cpu.cfs_quota_us").read_text().strip()
                period = (folder / "cpu.cfs_period_us").read_text().strip()
        except (OSError, ValueError):
            continue
        if quota in ("max", "-1") or int(quota) <= 0 or int(period) <= 0:
            return None
        return int(quota) / int(period)
    return None


def cpu_budget() -> dict[str, Any]:
    """The CPUs this process may really use, and how that was derived: its CPU affinity (the cores it may
    be scheduled on: taskset, a container's cpuset) and its cgroup CPU quota (docker --cpus, Kubernetes
    limits), whichever is smaller. A host's core count overstates both in a container or under taskset."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    quota = cgroup_cpu_quota()
    candidates = [n for n in (affinity, math.ceil(quota) if quota else None) if n]
    usable = max(1, min(candidates)) if candidates else (os.cpu_count() or 1)
    return {"usable_cpus": usable, "affinity_cpus": affinity, "cgroup_cpu_quota": quota,
            "derived_from": "affinity and cgroup quota" if affinity and quota else
                            "affinity" if affinity else "cgroup quota" if quota else "os.cpu_count()"}


def usable_cpus() -> int:
    """The default thread count of a run: the CPUs this process may really use (``cpu_budget``)."""
    return cpu_budget()["usable_cpus"]


def package_version(package: str) -> str:
    """Installed version of a distribution, or "" when it is not installed (no import needed)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def versions() -> dict[str, str]:
    return {p: v for p in PACKAGES if (v := package_version(p))}


def capture(device_name: str | None = None) -> dict[str, Any]:
    """Describe this machine. ``device_name`` labels it in reports (default: the host name)."""
    cpu_model, flags = _cpuinfo()
    try:
        import psutil

        ram_gb = round(psutil.virtual_memory().total / 2**30, 1)
        logical = psutil.cpu_count(logical=True)
    except ImportError:
        ram_gb, logical = None, os.cpu_count()
    record = {
        "device": device_name or socket.gethostname(),
        "cpu": cpu_model,
        "arch": platform.machine(),
        "isa": sorted(f for f in ISA_FLAGS if f in flags),
        "physical_cores": physical_cores(),
        "logical_cores": logical,
        "usable_cpus": (budget := cpu_budget())["usable_cpus"],  # the default thread count (affinity, quota)
        "cpu_budget": budget,
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
        "libc": " ".join(platform.libc_ver()).strip(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "versions": versions(),
        "gpus": [dict(g) for g in gpus()],
    }
    record["id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return record
