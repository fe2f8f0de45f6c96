"""Every INT8 and FP16 path, on a small CNN trained here on generated images: it keeps accuracy within
2 points of FP32 on held-out images; a deliberately broken quantisation is flagged as a real drop."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edgebench.data.evalset import load_crops, materialize, select_images
from edgebench.errors import NotSupportedHere
from edgebench.export.artifact import Artifact
from edgebench.harness.accuracy import evaluate, summarize
from edgebench.models import resolve_model
from edgebench.quantize.base import QuantOptions
from edgebench.quantize.build import build_artifact
from edgebench.runtimes import get_runtime
from edgebench.runtimes.base import SessionOptions


@pytest.fixture(scope="module")
def trained(image_task, tmp_path_factory):
    """The trained classifier's ONNX file, its evaluation crops, calibration crops and FP32 outputs."""
    root = image_task["root"]
    spec = resolve_model(f"onnx:{root / 'net.onnx'}")
    images = select_images(data=str(root / "val"), calib_size=60, seed=0)
    cache = tmp_path_factory.mktemp("quant-cache")
    eval_ref = materialize([p for p, _ in images.eval_samples], spec.preprocess, cache,
                           labels=[label for _, label in images.eval_samples])
    calib_ref = materialize(list(images.calib_paths), spec.preprocess, cache)
    source = Artifact(path=str(root / "net.onnx"), format="onnx", toolchain="user file")
    fp32 = _outputs("onnxruntime", "fp32", source, spec, eval_ref)
    labels = np.asarray(eval_ref["labels"])
    assert summarize(fp32, labels, None)["top1"] > 0.9  # the model learnt: accuracy changes mean something
    return {"spec": spec, "source": source, "eval": eval_ref, "calib": calib_ref, "fp32": fp32, "labels": labels,
            "cache": cache}


def _outputs(runtime_name, precision, artifact, spec, eval_ref, batch_size=8):
    runtime = get_runtime(runtime_name)()
    session = runtime.load(artifact, spec, SessionOptions(threads=2, precision=precision, batch_size=batch_size))
    return evaluate(session.infer, load_crops(eval_ref), spec.preprocess, batch_size)


def _build(trained, runtime_name, precision, options=None, calibration=None):
    recipe = get_runtime(runtime_name).recipes[precision]
    job = {"model": trained["spec"].to_dict(), "source": trained["source"].to_dict(), "recipe": recipe,
           "options": (options or QuantOptions()).to_dict(), "calibration": calibration or trained["calib"],
           "calib_source": "data-slice", "cache_dir": str(trained["cache"])}
    return build_artifact(job)


@pytest.mark.parametrize("runtime_name, precision", [
    ("onnxruntime", "int8"), ("onnxruntime", "int8-dynamic"), ("onnxruntime", "fp16"),
    ("openvino", "int8"), ("openvino", "fp16"), ("openvino", "bf16"),
])
def test_reduced_precision_keeps_accuracy(trained, runtime_name, precision):
    if precision in get_runtime(runtime_name).recipes:
        built = _build(trained, runtime_name, precision)
        artifact = Artifact.from_dict(built["artifact"])
        assert artifact.precision == precision and artifact.size_mb > 0
    else:
        artifact = trained["source"]  # a runtime setting (OpenVINO's bf16 hint), no new artifact
    try:
        outputs = _outputs(runtime_name, precision, artifact, trained["spec"], trained["eval"])
    except NotSupportedHere as exc:
        pytest.skip(str(exc))
    result = summarize(outputs, trained["labels"], trained["fp32"])
    change = result["vs_reference"]["top1_change"]
    assert abs(change["delta"]) <= 0.02, result
    assert result["vs_reference"]["top1_agreement"] >= 0.97


def test_int8_artifacts_are_smaller_and_cached(trained):
    first = _build(trained, "onnxruntime", "int8")
    again = _build(trained, "onnxruntime", "int8")
    assert again["quantization"]["cached"] and again["artifact"]["path"] == first["artifact"]["path"]
    calibration = first["quantization"]["calibration"]
    assert {k: calibration[k] for k in ("images", "images_given", "source", "synthetic")} == \
        {"images": 60, "images_given": 60, "source": "data-slice", "synthetic": False}
    # A tiny model's activations fit many times over: the largest calibration batch, and the bound recorded.
    assert calibration["memory"]["batch"] == 8 and calibration["memory"]["activation_mb_per_image"] < 5
    assert first["quantization"]["peak_rss_mb"] > 0
    other = _build(trained, "onnxruntime", "int8", QuantOptions(calib_method="percentile"))
    assert other["artifact"]["path"] != first["artifact"]["path"]  # the recipe is part of the key
    fp32_size = trained["source"].size_mb
    assert Artifact.from_dict(first["artifact"]).size_mb < fp32_size


def test_a_broken_quantisation_is_flagged_as_a_significant_drop(trained, tmp_path):
    # Deliberately break a real INT8 model: shuffle its quantised convolution weights.
    import onnx
    from onnx import numpy_helper

    built = _build(trained, "onnxruntime", "int8")
    model = onnx.load(built["artifact"]["path"])
    rng = np.random.default_rng(0)
    for init in model.graph.initializer:
        values = numpy_helper.to_array(init)
        if values.dtype == np.int8 and values.ndim == 4:
            init.CopyFrom(numpy_helper.from_array(rng.permutation(values.ravel()).reshape(values.shape), init.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    artifact = Artifact(path=str(broken), format="onnx", precision="int8")
    outputs = _outputs("onnxruntime", "int8", artifact, trained["spec"], trained["eval"])
    change = summarize(outputs, trained["labels"], trained["fp32"])["vs_reference"]["top1_change"]
    assert change["verdict"] == "significant drop", change
    # The same comparison on an intact INT8 model of the same recipe is not flagged.
    intact = _outputs("onnxruntime", "int8", Artifact.from_dict(built["artifact"]), trained["spec"], trained["eval"])
    assert summarize(intact, trained["labels"], trained["fp32"])["vs_reference"]["top1_change"]["verdict"] \
        == "no significant change"


def test_nncf_sends_no_telemetry():
    # Outside pytest (which NNCF itself detects), importing NNCF our way must leave its telemetry a stub.
    code = ("from unittest.mock import MagicMock\n"
            "from edgebench.quantize.openvino import import_nncf\n"
            "import_nncf()\n"
            "import nncf.telemetry.wrapper as w\n"
            "assert isinstance(w.telemetry, MagicMock), type(w.telemetry)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("NNCF_CI", "NNCF_DEV")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_tensorrt_qdq_model_is_symmetric_and_keeps_accuracy(trained):
    """The INT8 model TensorRT's explicit quantisation takes (onnxruntime-trt, tensorrt --trt-int8 qdq):
    S8 Q/DQ with zero points 0, calibrated on the same images. Run here by ONNX Runtime on the CPU."""
    import onnx
    from onnx import numpy_helper

    built = _build(trained, "onnxruntime-trt", "int8")
    artifact = Artifact.from_dict(built["artifact"])
    assert built["quantization"]["settings"]["symmetric"] and built["quantization"]["settings"]["activations"] == "S8"
    model = onnx.load(artifact.path)
    initializers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    quantizers = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert {n.op_type for n in quantizers} == {"QuantizeLinear", "DequantizeLinear"}
    for node in quantizers:  # activations, (per-channel) weights and biases (INT32) alike
        zero_point = initializers[node.input[2]]
        assert not zero_point.any(), node.name
        assert zero_point.dtype == (np.int32 if node.input[0].endswith("bias_quantized") else np.int8), node.name
    outputs = _outputs("onnxruntime", "int8", artifact, trained["spec"], trained["eval"])
    change = summarize(outputs, trained["labels"], trained["fp32"])["vs_reference"]
    assert abs(change["top1_change"]["delta"]) <= 0.02 and change["top1_agreement"] >= 0.95
