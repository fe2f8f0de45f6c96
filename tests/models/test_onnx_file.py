import pytest

from edgebench.errors import ConfigError
from edgebench.models import resolve_model


def test_dynamic_batch_model_needs_no_options(tiny_onnx):
    spec = resolve_model(f"onnx:{tiny_onnx}")
    assert spec.input_shape == (3, 32, 32) and spec.fixed_batch is None and spec.source == "onnx"


def test_sidecar_yaml_and_options(tiny_onnx, tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(tiny_onnx.read_bytes())
    (tmp_path / "net.yaml").write_text("mean: [0.5, 0.5, 0.5]\nstd: [0.5, 0.5, 0.5]\ninterpolation: bicubic\n")
    spec = resolve_model(f"onnx:{model}")
    assert spec.preprocess.mean == (0.5, 0.5, 0.5) and spec.preprocess.interpolation == "bicubic"
    spec = resolve_model(f"onnx:{model}", {"interpolation": "nearest"})
    assert spec.preprocess.interpolation == "nearest"  # options win over the YAML
    (tmp_path / "net.yaml").write_text("colour: red\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        resolve_model(f"onnx:{model}")
    # Published figures are a reference column, said to come from the YAML; a figure that is not a number is refused.
    (tmp_path / "net.yaml").write_text("published: {top1: 71.2, dataset: ImageNet val}\n")
    assert resolve_model(f"onnx:{model}").reference == {"top1": 71.2, "dataset": "ImageNet val",
                                                         "source": "net.yaml (published)"}
    (tmp_path / "net.yaml").write_text("published: {top1: high}\n")
    with pytest.raises(ConfigError, match="published is"):
        resolve_model(f"onnx:{model}")


def test_missing_malformed_and_mismatched(tiny_onnx, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(f"onnx:{tmp_path / 'nope.onnx'}")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf")
    with pytest.raises(ConfigError, match="not a valid ONNX model"):
        resolve_model(f"onnx:{bad}")
    with pytest.raises(ConfigError, match="does not match"):
        resolve_model(f"onnx:{tiny_onnx}", {"input_shape": "1x3x64x64"})
    with pytest.raises(ConfigError, match="1x3x224x224"):
        resolve_model(f"onnx:{tiny_onnx}", {"input_shape": "1xthree"})


def test_fixed_shape_model(tmp_path, tiny_module):
    import torch

    path = tmp_path / "fixed.onnx"
    torch.onnx.export(tiny_module, (torch.randn(1, 3, 32, 32),), str(path), dynamo=False, opset_version=17)
    spec = resolve_model(f"onnx:{path}")
    assert spec.fixed_batch == 1 and spec.input_shape == (3, 32, 32)
