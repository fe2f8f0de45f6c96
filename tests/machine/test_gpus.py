"""Which GPU an engine is built for: the one CUDA calls device 0 (CUDA_VISIBLE_DEVICES by index or UUID)."""
from __future__ import annotations

import pytest

from edgebench.machine import gpus

FOUND = ({"name": "NVIDIA A100-SXM4-80GB", "compute_cap": "8.0", "uuid": "GPU-aaaa-1111"},
         {"name": "NVIDIA H100 80GB HBM3", "compute_cap": "9.0", "uuid": "GPU-bbbb-2222"})


@pytest.mark.parametrize("visible, name", [(None, "NVIDIA A100-SXM4-80GB"), ("1", "NVIDIA H100 80GB HBM3"),
                                           ("GPU-bbbb,GPU-aaaa", "NVIDIA H100 80GB HBM3"), ("5", None)])
def test_gpu_identity_follows_cuda_visible_devices(monkeypatch, visible, name):
    monkeypatch.setattr(gpus, "gpus", lambda: FOUND)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpus.gpu_identity().get("name") == name


def test_no_driver_means_no_gpu(monkeypatch):
    monkeypatch.setattr(gpus, "_smi", lambda *args: None)
    gpus.gpus.cache_clear()
    try:
        assert gpus.gpus() == () and gpus.gpu_identity() == {}
    finally:
        gpus.gpus.cache_clear()
