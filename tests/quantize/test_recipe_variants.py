"""Recipe variants an optimisation search tries: layers kept in float (ONNX Runtime and NNCF), U8 weights,
fewer calibration images, NNCF accuracy control. Real quantisers on the tiny models of conftest."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgebench.data.evalset import materialize, select_images, synthetic_crops
from edgebench.errors import ConfigError
from edgebench.export.artifact import Artifact
from edgebench.models import resolve_model
from edgebench.quantize.base import QuantOptions
from edgebench.quantize.build import build_artifact, cache_key_data
from edgebench.quantize.onnxruntime import OrtStaticInt8, OrtTrtInt8, _has_vnni
from edgebench.quantize.openvino import OvNncfInt8
from edgebench.runtimes import get_runtime


@pytest.fixture(scope="module")
def tiny(tiny_onnx, tmp_path_factory):
    spec = resolve_model(f"onnx:{tiny_onnx}")
    cache = tmp_path_factory.mktemp("variants-cache")
    graph = onnx.load(str(tiny_onnx)).graph
    return {"spec": spec, "source": Artifact(path=str(tiny_onnx), format="onnx", toolchain="user file"),
            "calib": synthetic_crops(12, spec.preprocess, 0, cache), "cache": cache,
            "convs": [n.name for n in graph.node if n.op_type == "Conv"],
            "gemm": next(n.name for n in graph.node if n.op_type == "Gemm")}


def _build(model, runtime_name, options, **job):
    return build_artifact({"model": model["spec"].to_dict(), "source": model["source"].to_dict(),
                           "recipe": get_runtime(runtime_name).recipes["int8"], "options": options.to_dict(),
                           "calibration": model["calib"], "calib_source": "synthetic", "cache_dir": str(model["cache"]),
                           **job})


@pytest.mark.parametrize("fields, message", [
    ({"ort_weights": "u4"}, "ort_weights must be one of s8, u8"),
    ({"exclude_nodes": "node_conv"}, "exclude_nodes must be a list of ONNX node names"),
    ({"exclude_nodes": ["ok", 3]}, "exclude_nodes must be a list"),
    ({"calib_limit": 0}, "calib_limit must be a positive number"),
    ({"calib_limit": 2.5}, "calib_limit must be a positive number"),
    ({"nncf_accuracy_control": 0}, "nncf_accuracy_control must be a top-1 drop in points above 0"),
    ({"nncf_accuracy_control": -1.0}, "nncf_accuracy_control must be"),
])
def test_bad_variant_values_are_config_errors(fields, message):
    with pytest.raises(ConfigError, match=message):
        QuantOptions(**fields)


def test_options_round_trip_through_json():
    options = QuantOptions(exclude_nodes=("a", "b"), calib_limit=8, ort_weights="u8", nncf_accuracy_control=1.5)
    d = json.loads(json.dumps(options.to_dict()))
    assert d["exclude_nodes"] == ["a", "b"]
    again = QuantOptions(**d)
    assert again == options and again.exclude_nodes == ("a", "b")


def test_default_settings_are_unchanged():
    """The settings (and so the cache keys) of the default recipes are what they were before the variants."""
    default = QuantOptions()
    assert OrtStaticInt8(default).settings() == {
        "format": "QDQ", "activations": "U8", "weights": "S8", "per_channel": True, "reduce_range": not _has_vnni(),
        "calibration": "minmax", "preprocess": False}
    assert OvNncfInt8(default).settings() == {"preset": "performance", "fast_bias_correction": True,
                                              "target_device": "CPU", "statistics": "NNCF min/max per preset"}
    assert OrtTrtInt8(default).settings() == {
        "format": "QDQ", "activations": "S8", "weights": "S8", "symmetric": True, "per_channel": True,
        "reduce_range": False, "calibration": "minmax", "preprocess": False}
    varied = OrtStaticInt8(QuantOptions(ort_weights="u8", exclude_nodes=("x",), calib_limit=4)).settings()
    assert {k: varied[k] for k in ("weights", "nodes_excluded", "calib_limit")} == {
        "weights": "U8", "nodes_excluded": ["x"], "calib_limit": 4}


def test_ort_excluded_node_stays_float_and_u8_weights(tiny):
    kept, quantised = tiny["convs"][0], tiny["convs"][1]
    built = _build(tiny, "onnxruntime", QuantOptions(exclude_nodes=(kept,), ort_weights="u8", calib_limit=5))
    assert built["quantization"]["settings"]["nodes_excluded"] == [kept]
    assert built["quantization"]["calibration"]["images"] == 5 and built["quantization"]["calibration"]["images_given"] == 12
    model = onnx.load(built["artifact"]["path"])
    producer = {out: node for node in model.graph.node for out in node.output}
    nodes = {node.name: node for node in model.graph.node}
    inits = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}

    def dq_inputs(name):
        return [producer[t] for t in nodes[name].input if t in producer and producer[t].op_type == "DequantizeLinear"]

    assert dq_inputs(kept) == []
    assert nodes[kept].input[1] in inits and inits[nodes[kept].input[1]].dtype == np.float32  # float weight
    weight_dq = [dq for dq in dq_inputs(quantised) if dq.input[0] in inits]
    assert weight_dq and inits[weight_dq[0].input[0]].dtype == np.uint8  # U8 weights where quantised


def _activation_scales(path: str) -> dict[str, float]:
    """Each activation QuantizeLinear's scale (per-tensor), by the tensor it quantises."""
    model = onnx.load(path)
    inits = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    return {n.input[0]: float(inits[n.input[1]]) for n in model.graph.node
            if n.op_type == "QuantizeLinear" and n.input[0] not in inits and inits[n.input[1]].size == 1}


def test_ort_entropy_calibration_chooses_other_ranges_than_min_max(tiny):
    """ONNX Runtime's entropy calibrator with its own 128 bins has one candidate threshold, the whole range: its
    model was min/max's, byte for byte. With 2048 bins (recorded) it clips some ranges below min/max's."""
    minmax = _build(tiny, "onnxruntime", QuantOptions())
    entropy = _build(tiny, "onnxruntime", QuantOptions(calib_method="entropy"))
    assert entropy["quantization"]["settings"]["entropy_bins"] == [2048, 128]
    assert "entropy_bins" not in minmax["quantization"]["settings"]
    wide, clipped = _activation_scales(minmax["artifact"]["path"]), _activation_scales(entropy["artifact"]["path"])
    assert wide.keys() == clipped.keys() and wide
    assert all(clipped[t] <= wide[t] * (1 + 1e-6) for t in wide)  # never wider than the whole range
    assert any(clipped[t] < 0.99 * wide[t] for t in wide)


def _fq_inputs(op) -> list[str]:
    return [i.get_source_output().get_node().get_type_name() for i in op.inputs()]


def test_nncf_ignored_scope_maps_onnx_nodes_to_openvino_ops(tiny):
    import openvino as ov

    kept, quantised = tiny["convs"][0], tiny["convs"][1]
    built = _build(tiny, "openvino", QuantOptions(exclude_nodes=(kept, tiny["gemm"]), calib_limit=4))
    meta = built["artifact"]["meta"]
    assert built["quantization"]["settings"]["ignored_scope"] == [kept, tiny["gemm"]]
    assert built["quantization"]["calibration"]["images"] == 4
    # Conv with bias → "<node>/WithoutBiases" (Convolution) and "<node>" (Add); Gemm → MatMul and the Add
    # named after its output tensor.
    assert f"{kept}/WithoutBiases" in meta["ignored_ov_ops"] and kept in meta["ignored_ov_ops"]
    assert f"{tiny['gemm']}/WithoutBiases" in meta["ignored_ov_ops"]
    assert meta["ignored_ov_count"] == len(meta["ignored_ov_ops"])
    ops = {op.get_friendly_name(): op for op in ov.Core().read_model(built["artifact"]["path"]).get_ordered_ops()}
    assert "FakeQuantize" not in _fq_inputs(ops[f"{kept}/WithoutBiases"])
    assert "FakeQuantize" not in _fq_inputs(ops[f"{tiny['gemm']}/WithoutBiases"])
    assert "FakeQuantize" in _fq_inputs(ops[f"{quantised}/WithoutBiases"])  # the others still INT8


def test_unknown_excluded_node_is_one_clear_error(tiny):
    with pytest.raises(ConfigError, match="not nodes of"):
        _build(tiny, "openvino", QuantOptions(exclude_nodes=("no_such_node",)))


def test_nncf_accuracy_control_end_to_end(image_task, tmp_path_factory):
    """A trained classifier, labelled validation images: NNCF quantises, validates with our top-1 function
    and reports; the validation images key the cache."""
    root = image_task["root"]
    spec = resolve_model(f"onnx:{root / 'net.onnx'}")
    cache = tmp_path_factory.mktemp("ac-cache")
    images = select_images(data=str(root / "val"), calib_size=24, seed=0)
    labelled = list(images.eval_samples)[:24]
    model = {"spec": spec, "source": Artifact(path=str(root / "net.onnx"), format="onnx", toolchain="user file"),
             "calib": materialize(list(images.calib_paths), spec.preprocess, cache), "cache": cache}
    validation = materialize([p for p, _ in labelled], spec.preprocess, cache, labels=[label for _, label in labelled])
    options = QuantOptions(nncf_accuracy_control=0.5)
    with pytest.raises(Exception, match="needs labelled validation images"):
        _build(model, "openvino", options)
    built = _build(model, "openvino", options, validation=validation)
    q = built["quantization"]
    assert q["settings"]["accuracy_control"]["max_drop_pt"] == 0.5
    assert q["cache_key"]["validation"] == {"key": validation["key"], "count": 24}
    report = built["artifact"]["meta"]["accuracy_control"]
    assert report["validation_images"] == 24
    assert 0.5 <= report["fp32_top1"] <= 1.0 and 0.0 <= report["int8_top1"] <= 1.0  # measured by top1_validation
    if report["fp32_top1"] - report["int8_top1"] > 0.005:
        assert report["reverted_to_float"]  # NNCF had to restore accuracy: it says which operations
    default = OvNncfInt8(QuantOptions())
    assert "validation" not in cache_key_data(spec, model["source"], default, model["calib"])


def test_nncf_accuracy_control_reverts_the_layer_that_costs_accuracy(tmp_path):
    """A classifier whose two logits differ by less than one INT8 weight step: quantised, it loses every
    label (fp32 predictions); NNCF must revert its Gemm to float, and the artifact says so."""
    import onnxruntime as ort
    import torch
    from torch import nn

    from edgebench.data.evalset import load_crops
    from edgebench.data.images import normalize
    from edgebench.export.onnx_export import onnx_from_torch

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)).eval()
    with torch.no_grad():
        w = torch.randn(8)
        net[4].weight[:] = torch.stack([w, w + 2e-3 * torch.randn(8)])
        net[4].bias.zero_()
    path = tmp_path / "tie.onnx"
    onnx_from_torch(net, path, (3, 32, 32))
    spec = resolve_model(f"onnx:{path}")
    validation = synthetic_crops(40, spec.preprocess, 7, tmp_path)
    x = normalize(np.asarray(load_crops(validation)), spec.preprocess)
    validation["labels"] = [int(v) for v in ort.InferenceSession(str(path)).run(None, {"input": x})[0].argmax(1)]
    gemm = next(n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Gemm")
    model = {"spec": spec, "source": Artifact(path=str(path), format="onnx", toolchain="user file"),
             "calib": synthetic_crops(8, spec.preprocess, 1, tmp_path), "cache": tmp_path}
    report = _build(model, "openvino", QuantOptions(nncf_accuracy_control=5.0),
                    validation=validation)["artifact"]["meta"]["accuracy_control"]
    assert report["fp32_top1"] == 1.0 and report["int8_top1"] < 0.95, report
    assert report["reverted_to_float"] == [f"{gemm}/WithoutBiases"], report
