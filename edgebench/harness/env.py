"""The environment record every result carries: device, CPU and its instruction sets, memory, versions."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from edgebench.harness.gpus import gpus

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
