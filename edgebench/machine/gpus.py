"""NVIDIA GPUs of this machine, found without importing torch or a runtime (``nvidia-smi``, then NVML).

Every GPU runtime asks ``has_gpu()`` for its cheap availability check; the environment record takes the
model, driver, CUDA driver version and compute capability from here.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache
from typing import Any

_QUERY = ("name", "driver_version", "memory.total", "compute_cap", "uuid")


def _smi(*args: str) -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        return subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


@lru_cache(maxsize=1)
def gpus() -> tuple[dict[str, str], ...]:
    """One dict per GPU: name, driver, memory, compute_cap, uuid (and cuda_driver, the CUDA version the
    driver supports). Empty without an NVIDIA driver."""
    out = _smi(f"--query-gpu={','.join(_QUERY)}", "--format=csv,noheader")
    if not out:
        return ()
    cuda = cuda_driver_version()
    found = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == len(_QUERY):
            name, driver, memory, cap, uuid = parts
            found.append({"name": name, "driver": driver, "memory": memory, "compute_cap": cap, "uuid": uuid,
                          "cuda_driver": cuda})
    return tuple(found)


def has_gpu() -> bool:
    return bool(gpus())


def no_gpu_reason() -> str:
    if not shutil.which("nvidia-smi"):
        return "no NVIDIA GPU: nvidia-smi is not on PATH (no NVIDIA driver installed)"
    return "no NVIDIA GPU: nvidia-smi lists none (or the driver does not answer)"


@lru_cache(maxsize=1)
def cuda_driver_version() -> str:
    """The highest CUDA version the driver supports, e.g. "12.8" (nvidia-smi's header)."""
    try:
        import pynvml  # nvidia-ml-py, where installed: no subprocess

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        finally:
            pynvml.nvmlShutdown()
        return f"{version // 1000}.{version % 1000 // 10}"
    except Exception:  # not installed, or NVML cannot start: fall back to the banner
        pass
    match = re.search(r"CUDA Version:\s*([\d.]+)", _smi() or "")
    return match.group(1) if match else ""


def cuda_gpu() -> dict[str, str]:
    """The GPU CUDA calls device 0: the first of CUDA_VISIBLE_DEVICES (an index or a UUID), else the first
    GPU nvidia-smi lists. Empty when there is none."""
    found = gpus()
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if first.startswith(("GPU-", "MIG-")):
        return next((g for g in found if g["uuid"].startswith(first)), {})
    index = int(first) if first.isdigit() else 0
    return found[index] if index < len(found) else {}


def gpu_identity() -> dict[str, Any]:
    """What a compiled engine is specific to: the GPU model and its compute capability."""
    gpu = cuda_gpu()
    return {"name": gpu["name"], "compute_cap": gpu["compute_cap"]} if gpu else {}
