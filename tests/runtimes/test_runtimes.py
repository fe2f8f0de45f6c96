"""Every CPU runtime runs the same real (tiny) model and must reproduce PyTorch's output."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

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
    assert session.threads_reported == 2 and "get_property" in session.config["threads_reported_by"]


@pytest.mark.parametrize("batch_size", [1, 4])
def test_onnxruntime_runs_the_cell_batch_as_a_fixed_shape(prepared_timm, batch_size):
    spec, _ = prepared_timm
    session = _session("onnxruntime", prepared_timm, batch_size=batch_size)
    # The exported graph's batch is a named free dimension; the session must see it pinned to the cell's batch.
    assert session.session.get_inputs()[0].shape == [batch_size, *spec.input_shape]
    assert session.session.get_outputs()[0].shape == [batch_size, 1000]
    assert session.static_shape and f"batch {batch_size}" in session.config["shape"]
    assert session.config["providers"] == ["CPUExecutionProvider"]
    out = session.infer(input_batch(spec, batch_size, seed=0))
    assert out.shape == (batch_size, 1000)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_onnxruntime_reports_the_threads_it_started(prepared_timm):
    """A fresh process, so that no other session's threads come or go while this one loads."""
    spec, record = prepared_timm
    code = ("import json, sys; from edgebench.export.artifact import Artifact; from edgebench.models.spec import "
            "ModelSpec; from edgebench.runtimes.onnxruntime import OnnxRuntimeRuntime; "
            "from edgebench.runtimes.base import SessionOptions; spec = ModelSpec.from_dict(json.loads(sys.argv[1])); "
            "s = OnnxRuntimeRuntime().load(Artifact.from_dict(json.loads(sys.argv[2])), spec, "
            "SessionOptions(threads=3, precision='fp32', batch_size=1)); print(s.threads_reported)")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(spec.to_dict()),
                           json.dumps(record["artifacts"]["onnx"])], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "3"  # the caller plus two pool workers, counted, not the option echoed


@pytest.mark.parametrize("name", DEFAULT_RUNTIMES)
def test_sessions_say_what_is_timed_and_infer_composes_the_steps(name, prepared_timm):
    spec, _ = prepared_timm
    session = _session(name, prepared_timm)
    batch = input_batch(spec, 2, seed=1)
    composed = session.finish(session.run(session.prepare_input(batch)))
    np.testing.assert_array_equal(session.infer(batch), composed)
    assert len(session.timed_span) > 20 and session.config["shape"]
    assert session.config["threads_reported_by"] and session.threads_reported == 2
    assert session.static_shape == (name != "pytorch")  # eager PyTorch compiles no shape, and says so


def test_cell_times_run_and_measures_the_work_around_it_apart(prepared_timm):
    from edgebench.harness.cell import run_cell
    from edgebench.harness.timing import TimingProfile

    spec, record = prepared_timm
    # Half a second of warm-up and of timing: long enough for the process CPU clock (other threads' time is
    # folded in at scheduler ticks) to compare with the wall clock over the same span.
    profile = TimingProfile(name="test", warmup_iters=1, warmup_s=0.5, min_iters=3, min_s=0.5, max_s=5, floor_iters=1)
    results = {}
    for name, fmt in (("onnxruntime", "onnx"), ("pytorch", "torch")):
        job = {"model": spec.to_dict(), "artifact": record["artifacts"][fmt], "profile": profile.to_dict(),
               "batch_size": 2, "runtime": name, "threads": 2, "precision": "fp32", "seed": 0}
        results[name] = run_cell(job)
    ort_cell, torch_cell = results["onnxruntime"], results["pytorch"]
    for cell in results.values():
        assert cell["status"] == "ok" and cell["latency_ms"]["n"] >= 3 and cell["threads_reported"] == 2
        assert cell["runtime_config"]["threads_reported_by"] and cell["runtime_config"]["shape"]
        # CPU time over the same span as the wall time: at most the thread count (a process cannot use more).
        usage = cell["contention"]
        assert 0 < usage["cpu_over_wall"] <= 2.1 and usage["cpu_ms_per_call"] > 0
    assert ort_cell["static_shape"] is True and torch_cell["static_shape"] is False
    assert ort_cell["timed_span"].startswith("InferenceSession.run()") and ort_cell["io_latency_ms"] is None
    assert torch_cell["timed_span"].startswith("module(tensor)")
    io = torch_cell["io_latency_ms"]  # torch.from_numpy and .numpy(): real, small, and apart from the latency
    assert io["n"] >= 5 and 0 < io["p50"] < torch_cell["latency_ms"]["p50"] and io["mean"] > 0


def test_a_worker_that_only_loaded_can_still_finish(prepared_timm):
    """In restart mode a group ends with a fresh worker that loads and finishes; a model slower than the warm-up
    made only its first inference there, and finishing (the io timing reads the last output) must not need
    another call (EfficientNet-B7's PyTorch cell at batch 32 failed so in the seed table)."""
    from edgebench.harness.cell import CellRunner
    from edgebench.harness.timing import TimingProfile

    spec, record = prepared_timm
    profile = TimingProfile(name="test", warmup_iters=1, warmup_s=0.0, warmup_max_s=0.0)
    runner = CellRunner({"model": spec.to_dict(), "artifact": record["artifacts"]["torch"],
                         "profile": profile.to_dict(), "batch_size": 1, "runtime": "pytorch", "threads": 1,
                         "precision": "fp32", "seed": 0})
    loaded = runner.load()
    assert loaded["status"] == "ok" and loaded["warmup_iters"] == 1
    finished = runner.finish()
    assert finished["status"] == "ok" and finished["io_latency_ms"]["n"] >= 5


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
