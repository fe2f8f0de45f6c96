"""Shared fixtures: tiny real models (a small convnet exported to ONNX, timm's test_* models)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Cells run with a short profile in tests: enough to exercise every code path, not to benchmark.
# One second of timed calls per cell (two 0.5-s rounds), no warm-up beyond one call. The co-run probe's readings
# are recorded, not acted on: this host's slow state would stop short groups by "interference" at random
# (tests/pipeline/test_measure.py leaves such slices out on purpose).
FAST = ["--warmup", "1", "--warmup-duration", "0", "--iterations", "3", "--duration", "0", "--max-duration", "1",
        "--median-ci", "50", "--host-check", "record", "--timeout", "300"]


class TinyNet:
    """A small convnet (3x32x32 → 10 classes), built with a fixed seed."""

    @staticmethod
    def build():
        import torch
        from torch import nn

        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
        ).eval()


@pytest.fixture(scope="session")
def tiny_module():
    return TinyNet.build()


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, tiny_module) -> Path:
    from edgebench.export.onnx_export import onnx_from_torch

    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    onnx_from_torch(tiny_module, path, (3, 32, 32))
    return path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real console entry point in a fresh process, as a user would."""
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=REPO)


@pytest.fixture(scope="session")
def prepared_timm(cache_dir):
    """timm's test_efficientnet with seeded random weights, exported and cached."""
    from edgebench.export.prepare import prepare
    from edgebench.models import resolve_model

    spec = resolve_model("timm:test_efficientnet")
    return spec, prepare(spec, weights="random", checkpoint=None, seed=0, cache_dir=cache_dir, online=False)


@pytest.fixture(scope="session")
def image_task(tmp_path_factory):
    """A small CNN trained on generated images (seconds), as ``net.onnx`` with its YAML, and its held-out
    images as an ImageFolder dataset ``val/``."""
    from imagegen import train_tiny_classifier, write_imagefolder

    from edgebench.export.onnx_export import onnx_from_torch

    root = tmp_path_factory.mktemp("image_task")
    write_imagefolder(root / "train", 120, seed=1)
    write_imagefolder(root / "val", 80, seed=2)
    model, _ = train_tiny_classifier(root / "train")
    onnx_from_torch(model, root / "net.onnx", (3, 32, 32))
    (root / "net.yaml").write_text("interpolation: bilinear\ncrop_pct: 0.875\n")
    return {"root": root, "onnx": root / "net.onnx", "val": root / "val"}


@pytest.fixture(scope="session")
def accuracy_run(tmp_path_factory, image_task, cache_dir) -> Path:
    """One real run shared by the tests that read a run with accuracy: the trained CNN on ONNX Runtime and OpenVINO,
    FP32 and INT8 (calibrated on a 60-image slice), batch 1 and 4, accuracy on 200 held-out images."""
    run = tmp_path_factory.mktemp("accuracy_run") / "run"
    done = run_cli("run", "--model", f"onnx:{image_task['onnx']}", "--data", str(image_task["val"]),
                   "--calib-size", "60", "--limit", "200", "--runtime", "onnxruntime", "--runtime", "openvino",
                   "--precision", "int8", "--precision", "fp32", "--batch-size", "1", "--batch-size", "4",
                   "--device-name", "test-box", "--out", str(run), "--cache-dir", str(cache_dir), *FAST)
    assert done.returncode == 0, done.stderr[-3000:]
    (run / "stderr.txt").write_text(done.stderr)
    return run


@pytest.fixture(scope="session")
def synset_images(tmp_path_factory) -> Path:
    """Generated images in four ImageNet synset folders: labels a 1000-class timm model can be scored on."""
    from imagegen import write_imagefolder

    from edgebench.data.layouts import imagenet_synsets

    root = tmp_path_factory.mktemp("synsets")
    write_imagefolder(root, 10, seed=2, names=tuple(imagenet_synsets()[:4]))
    return root


@pytest.fixture(scope="session")
def litert_env() -> str:
    """The LiteRT converter's own environment (`edgebench env create litert`), made once per machine.

    litert-torch cannot be installed beside the core (it pins an older torch), which is what this
    environment is for; creating it downloads that torch once (a few minutes on a fresh machine)."""
    from edgebench import toolchains

    python, _ = toolchains.python_for("litert")
    if python is None:
        created = run_cli("env", "create", "litert", timeout=1800)
        assert created.returncode == 0, created.stderr[-3000:]
        python, reason = toolchains.python_for("litert")
        assert python, reason
    return python
