"""The `pytorch` runtime runs as PyTorch recommends on the CPU (channels-last weights and input under
inference_mode), says so in its settings, and still computes what the plain contiguous eager module computes."""
import numpy as np
import pytest

from edgebench.export.artifact import Artifact
from edgebench.harness.cell import input_batch
from edgebench.runtimes.base import SessionOptions
from edgebench.runtimes.pytorch import PyTorchRuntime


def _load(prepared, runtime=None, batch_size=2):
    spec, record = prepared
    runtime = runtime or PyTorchRuntime()
    artifact = Artifact.from_dict(record["artifacts"]["torch"])
    return runtime.load(artifact, spec, SessionOptions(threads=2, precision="fp32", batch_size=batch_size))


def _plain_forward(prepared, batch):
    """The same weights in a freshly built module, NCHW-contiguous memory, no inference_mode: plain eager."""
    import torch

    from edgebench.models.torch_models import build_module, load_state_dict_file

    spec, record = prepared
    module = build_module(spec, pretrained=False)
    module.load_state_dict(load_state_dict_file(record["artifacts"]["torch"]["path"]), strict=True)
    module.eval()
    tensor = torch.from_numpy(batch)
    assert tensor.is_contiguous() and not tensor.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        return module(tensor).numpy()


def test_session_records_its_memory_format_and_timed_span(prepared_timm):
    session = _load(prepared_timm)
    assert session.config["memory_format"] == "channels_last"
    assert session.config["mode"] == "eager, inference_mode" and session.config["dtype"] == "float32"
    assert session.config["threads"] == 2 and isinstance(session.config["onednn"], bool)
    assert session.timed_span.startswith("module(tensor)") and "channels-last" in session.timed_span
    assert "inference_mode" in session.timed_span


@pytest.mark.parametrize("batch_size", [1, 3])
def test_outputs_match_a_plain_contiguous_forward(prepared_timm, batch_size):
    spec, _ = prepared_timm
    batch = input_batch(spec, batch_size, seed=3)
    expected = _plain_forward(prepared_timm, batch)
    got = _load(prepared_timm, batch_size=batch_size).infer(batch)
    assert got.shape == expected.shape == (batch_size, 1000) and got.dtype == np.float32
    assert got.flags["C_CONTIGUOUS"]
    # Only the order of float additions differs (oneDNN's NHWC kernels): a few ulps, nothing like a changed model.
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * float(np.abs(expected).max()))
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_module_gets_channels_last_weights_and_input(prepared_timm):
    import torch

    spec, _ = prepared_timm
    session = _load(prepared_timm)
    convs = [m for m in session.module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    seen = []
    hook = session.module.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        batch = input_batch(spec, 2, seed=0)
        native = session.prepare_input(batch)
        session.finish(session.run(native))
    finally:
        hook.remove()
    (given,) = seen
    assert given is native and given.is_contiguous(memory_format=torch.channels_last)
    assert given.stride() != tuple(torch.from_numpy(batch).stride())  # really NHWC, not NCHW that passes both
    assert np.array_equal(given.numpy(), batch)  # the same values: only their order in memory changed


def test_contiguous_memory_format_stays_available_and_agrees(prepared_timm):
    import torch

    class Contiguous(PyTorchRuntime):
        memory_format = "contiguous"

    spec, _ = prepared_timm
    batch = input_batch(spec, 2, seed=5)
    session = _load(prepared_timm, runtime=Contiguous())
    assert session.config["memory_format"] == "contiguous" and "channels-last" not in session.timed_span
    native = session.prepare_input(batch)
    assert native.is_contiguous() and not native.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(session.infer(batch), _plain_forward(prepared_timm, batch))
