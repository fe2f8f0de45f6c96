"""Toolchain environments: what a run says when one is missing, and what `env create` would install."""
from __future__ import annotations

import sys

import pytest
from conftest import run_cli

from edgebench import toolchains
from edgebench.errors import EdgebenchError


def test_missing_toolchain_env_says_how_to_create_it(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_ENVS", str(tmp_path))
    fake = toolchains.Toolchain("litert", "litert-convert", "no_such_module_xyz", "a test")
    monkeypatch.setitem(toolchains.TOOLCHAINS, "litert", fake)
    python, reason = toolchains.python_for("litert")
    assert python is None
    assert "edgebench env create litert" in reason
    # an environment that exists and says it is ready is used, with this edgebench's code on its path
    folder = toolchains.env_dir("litert")
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").symlink_to(sys.executable)
    (folder / toolchains.READY_FILE).write_text('{"packages": {}, "created": "now"}')
    python, reason = toolchains.python_for("litert")
    assert python == str(folder / "bin" / "python") and not reason
    assert str(toolchains.Path(toolchains.__file__).resolve().parents[1]) in toolchains.worker_env()["PYTHONPATH"]


def test_toolchain_requirements_come_from_the_package_metadata():
    wanted = toolchains.requirements("litert-convert")
    names = [r.split(">")[0].split("<")[0].split("=")[0] for r in wanted]
    assert "litert-torch" in names and "timm" in names and "numpy" in names
    assert any(r.startswith("torch") and "<2.15" in r for r in wanted)  # the pin that makes it conflict
    assert "onnxruntime" not in names and "openvino" not in names  # only what the converter needs
    with pytest.raises(EdgebenchError, match="no 'nope' extra"):
        toolchains.requirements("nope")


def test_env_cli_lists_and_refuses_unknown_toolchains():
    listed = run_cli("env", "list")
    assert listed.returncode == 0 and listed.stdout.startswith("litert")
    unknown = run_cli("env", "create", "tflite2")
    assert unknown.returncode == 2 and "unknown toolchain 'tflite2'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
