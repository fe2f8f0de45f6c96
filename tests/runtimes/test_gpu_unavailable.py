"""GPU runtimes on a machine where they cannot run: each says why, a run records its cells as skipped with
that reason, and the CPU runtimes' results do not change. A stand-in ``nvidia-smi`` plays a GPU driver
where a test needs one (the driver is not what is under test; every runtime here is real)."""
from __future__ import annotations

import json
import os
import stat

import pytest
from conftest import FAST, run_cli

from edgebench.machine.gpus import has_gpu
from edgebench.runtimes import DEFAULT_RUNTIMES, GPU_RUNTIMES, default_runtimes, get_runtime

pytestmark = pytest.mark.skipif(has_gpu(), reason="this machine has an NVIDIA GPU: tests/runtimes/test_gpu.py runs")

FAKE_SMI = """#!/bin/sh
case "$1" in
  --query-gpu=*) echo "NVIDIA Stand-in GPU, 999.99, 81559 MiB, 9.0, GPU-00000000-0000-0000-0000-000000000000" ;;
  *) echo "| NVIDIA-SMI 999.99    Driver Version: 999.99    CUDA Version: 13.0 |" ;;
esac
"""


@pytest.fixture
def stand_in_driver(tmp_path) -> dict[str, str]:
    """An environment whose PATH holds an ``nvidia-smi`` that lists one GPU."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_without_a_gpu_the_gpu_runtimes_are_unavailable_and_say_why():
    for name in GPU_RUNTIMES:
        available = get_runtime(name).availability()
        assert not available.ok and available.reason.startswith("no NVIDIA GPU"), (name, available)
        assert get_runtime(name).device == "gpu"
    assert default_runtimes() == DEFAULT_RUNTIMES  # a CPU machine's default run is unchanged
    listed = run_cli("list", "runtimes")
    assert listed.returncode == 0
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()}
    for name in GPU_RUNTIMES:
        assert "unavailable: no NVIDIA GPU" in lines[name]


def test_asking_for_a_gpu_runtime_without_a_gpu_is_a_clear_error(tmp_path):
    result = run_cli("run", "--runtime", "tensorrt", "--model", "timm:test_efficientnet", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "runtime tensorrt is not available: no NVIDIA GPU" in result.stderr and "Traceback" not in result.stderr


def test_a_gpu_without_its_libraries_gives_skipped_cells_with_reasons(stand_in_driver, tmp_path, cache_dir):
    """With a GPU listed, the default run adds the GPU runtimes; here none can run, and each cell says why."""
    run_dir = tmp_path / "run"
    result = run_cli("run", "--model", "timm:test_efficientnet", "--weights", "random", "--batch-size", "1",
                     "--precision", "fp32", "--out", str(run_dir), "--cache-dir", str(cache_dir), *FAST,
                     env=stand_in_driver)
    assert result.returncode == 0, result.stderr[-3000:]
    records = {r["runtime"]: r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}
    assert set(records) == set(DEFAULT_RUNTIMES) | set(GPU_RUNTIMES)
    for name in DEFAULT_RUNTIMES:
        assert records[name]["status"] == "ok" and records[name]["device_kind"] == "cpu"
    for name in GPU_RUNTIMES:
        record = records[name]
        assert record["status"] == "skipped" and record["device_kind"] == "gpu" and record["reason"], record
    assert "torch" in records["pytorch-cuda"]["reason"] and "cannot reach a GPU" in records["pytorch-cuda"]["reason"]
    assert "onnxruntime-gpu" in records["onnxruntime-cuda"]["reason"]
    if not get_runtime("tensorrt").availability().ok:
        assert "TensorRT is not installed" in records["tensorrt"]["reason"]
    gpu = records["pytorch"]["environment"]["gpus"][0]
    assert gpu["name"] == "NVIDIA Stand-in GPU" and gpu["compute_cap"] == "9.0" and gpu["cuda_driver"] == "13.0"
    # the report names the skipped GPU runtimes in the reference table's GPU column and the skipped list
    report = run_cli("report", str(run_dir))
    assert report.returncode == 0 and "onnxruntime-gpu is not installed" in report.stdout
