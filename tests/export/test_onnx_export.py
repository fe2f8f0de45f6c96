import numpy as np
import onnx

from edgebench.export.onnx_export import OPSET, onnx_from_torch, onnx_parity, parity
from edgebench.export.prepare import prepare
from edgebench.models import resolve_model


def test_export_is_single_checked_file_with_dynamic_batch(tiny_module, tmp_path):
    path = tmp_path / "m.onnx"
    exporter = onnx_from_torch(tiny_module, path, (3, 32, 32))
    assert exporter in ("dynamo", "torchscript")
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert OPSET >= 17
    assert list(tmp_path.iterdir()) == [path]  # no external data files
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert not batch_dim.HasField("dim_value")
    check = onnx_parity(tiny_module, path, (3, 32, 32), seed=0)
    assert check["ok"] and check["cosine"] > 0.9999 and check["max_abs_err"] < 1e-4


def test_parity_flags_a_wrong_export():
    ref = np.random.default_rng(0).standard_normal((2, 10)).astype(np.float32)
    assert parity(ref, ref.copy())["ok"]
    assert not parity(ref, ref[:, ::-1].copy())["ok"]
    assert not parity(ref, ref + 0.1)["ok"]
    assert not parity(ref, ref[:1])["ok"]


def test_prepare_is_cached_and_counts_real_params(tmp_path):
    spec = resolve_model("timm:test_efficientnet")
    first = prepare(spec, weights="random", checkpoint=None, seed=0, cache_dir=tmp_path, online=False)
    assert first["cached"] is False and first["weights"]["weights"] == "random"
    import timm

    assert first["params"] == sum(p.numel() for p in timm.create_model("test_efficientnet").parameters())
    assert first["parity"]["ok"]
    second = prepare(spec, weights="random", checkpoint=None, seed=0, cache_dir=tmp_path, online=False)
    assert second["cached"] is True and second["artifacts"] == first["artifacts"]
    other_seed = prepare(spec, weights="random", checkpoint=None, seed=1, cache_dir=tmp_path, online=False)
    assert other_seed["cached"] is False and other_seed["artifacts"]["onnx"]["path"] != first["artifacts"]["onnx"]["path"]
