"""The lab the lab tests share: two boards (OpenSSH servers pinned to CPU 0 and 1), a labgrid coordinator and
exporter on localhost, and an artifacts folder of two tiny models for the boards to measure."""
from __future__ import annotations

from pathlib import Path

import labkit
import pytest

from conftest import FAST, run_cli


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    why = labkit.missing()
    if why:
        pytest.skip(f"no local lab: {why}")
    built = labkit.Lab(tmp_path_factory.mktemp("lab"), ["lab-a", "lab-b"], [0, 1], {"kind": "test"})
    yield built
    built.stop()


@pytest.fixture(scope="session")
def two_models(tmp_path_factory, tiny_onnx) -> list[Path]:
    """The tiny convnet and a wider one (its cells take longer): two models, so two groups, so a board sends its
    lines at two moments."""
    import torch
    from torch import nn

    from edgebench.export.onnx_export import onnx_from_torch

    torch.manual_seed(1)
    wide = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)).eval()
    path = tmp_path_factory.mktemp("wide") / "wide.onnx"
    onnx_from_torch(wide, path, (3, 32, 32))
    return [tiny_onnx, path]


@pytest.fixture(scope="session")
def lab_bundle(tmp_path_factory, two_models, cache_dir) -> Path:
    out = tmp_path_factory.mktemp("lab_bundle") / "artifacts"
    done = run_cli("export", *[a for m in two_models for a in ("--model", f"onnx:{m}")], "--runtime", "onnxruntime",
                   "--out", str(out), "--cache-dir", str(cache_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def lab_run_args(lab, *extra: str) -> list[str]:
    """`edgebench run` on the lab: its coordinator, key and known hosts, the boards' edgebench, the fast profile."""
    return ["run", *lab.ssh_args(), "--batch-size", "1", *FAST, *extra]
