"""Every CPU runtime runs the same real (tiny) model and must reproduce PyTorch's output."""
import numpy as np
import pytest

from edgebench.errors import CellFailure, ConfigError
from edgebench.export.artifact import Artifact
from edgebench.harness.cell import input_batch
from edgebench.runtimes import DEFAULT_RUNTIMES, get_runtime
from edgebench.runtimes.base import SessionOptions
from edgebench.runtimes.pytorch import PyTorchRuntime


def _session(name, prepared, batch_size=2):
    spec, record = prepared
    runtime = get_runtime(name)()
    artifact = Artifact.from_dict(record["artifacts"][runtime.formats[0]])
    return runtime.load(artifact, spec, SessionOptions(threads=2, precision="fp32", batch_size=batch_size))


@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_runtime_matches_pytorch(name, prepared_timm):
    spec, _ = prepared_timm
    batch = input_batch(spec, 2, seed=0)
    expected = _session("pytorch", prepared_timm).infer(batch)
    got = _session(name, prepared_timm).infer(batch)
    assert got.shape == expected.shape == (2, 1000)
    cos = np.sum(expected * got, axis=1) / (np.linalg.norm(expected, axis=1) * np.linalg.norm(got, axis=1))
    assert cos.min() > 0.9999
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


def test_openvino_fp32_is_really_fp32(prepared_timm):
    session = _session("openvino", prepared_timm)
    assert session.config["compiled"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert session.config["compiled"]["INFERENCE_NUM_THREADS"] == "2"


def test_onnxruntime_records_its_settings(prepared_timm):
    session = _session("onnxruntime", prepared_timm)
    assert session.config["providers"] == ["CPUExecutionProvider"] and session.config["intra_op_threads"] == 2


def test_session_checks_its_input(prepared_timm):
    session = _session("onnxruntime", prepared_timm)
    with pytest.raises(CellFailure, match="float32 batch"):
        session.infer(np.zeros((1, 3, 8, 8), dtype=np.float32))
    with pytest.raises(CellFailure):
        session.infer(np.zeros((1, 3, 160, 160), dtype=np.float64))


def test_unavailable_runtime_says_how_to_install():
    class Missing(PyTorchRuntime):
        package = "edgebench_no_such_package"
        install_hint = "pip install something"

    available = Missing.availability()
    assert not available.ok and "pip install something" in available.reason
    for name in DEFAULT_RUNTIMES:
        assert get_runtime(name).availability().ok  # the CPU extras are installed in the test environment
    with pytest.raises(ConfigError, match="Did you mean openvino"):
        get_runtime("openvin")


def test_supports_explains_skips(prepared_timm, tiny_onnx):
    from edgebench.models import resolve_model

    onnx_spec = resolve_model(f"onnx:{tiny_onnx}")
    assert "no PyTorch implementation" in PyTorchRuntime().supports(onnx_spec, "fp32", 1)
    assert "does not offer bf16" in get_runtime("onnxruntime")().supports(onnx_spec, "bf16", 1)
    assert get_runtime("onnxruntime")().supports(onnx_spec, "int8", 1) is None
