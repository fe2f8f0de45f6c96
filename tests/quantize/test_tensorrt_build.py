"""The TensorRT engine recipes without TensorRT: shapes, precision routes per TensorRT version, the cache
key, the calibration feed and Polygraphy's loader chain (built for real; it imports TensorRT only when
called). Building and running an engine needs a GPU: tests/runtimes/test_gpu.py."""
from __future__ import annotations

import numpy as np
import pytest

from edgebench.cache import content_key
from edgebench.errors import CellFailure, NotSupportedHere
from edgebench.export.artifact import Artifact
from edgebench.models import resolve_model
from edgebench.quantize import tensorrt as trt_recipes
from edgebench.quantize.base import CalibrationData, QuantOptions
from edgebench.quantize.build import cache_key_data
from edgebench.runtimes.tensorrt import TensorRtRuntime, profile_index

pytest.importorskip("polygraphy", reason="polygraphy is in the test extra: pip install -e '.[test]'")

GPU = {"name": "NVIDIA H100 80GB HBM3", "compute_cap": "9.0"}


@pytest.fixture
def tiny_spec(tiny_onnx):
    return resolve_model(f"onnx:{tiny_onnx}")


@pytest.fixture
def on_trt(monkeypatch):
    """Pretend this machine has ``GPU`` and TensorRT ``version`` (what the recipes read, nothing else)."""
    def set_version(version: str, gpu=GPU):
        monkeypatch.setattr(trt_recipes, "trt_version", lambda: version)
        monkeypatch.setattr(trt_recipes, "gpu_identity", lambda: dict(gpu))
    return set_version


def recipe(precision: str, batch_sizes=(1, 32), **options):
    return trt_recipes.__dict__[{"fp32": "TrtEngine", "tf32": "TrtTf32", "fp16": "TrtFp16", "int8": "TrtInt8",
                                 "best": "TrtBest"}[precision]](QuantOptions(**options), batch_sizes)


def test_every_precision_of_the_runtime_is_an_engine_recipe():
    from edgebench.quantize.base import recipe_class

    for precision in TensorRtRuntime.precisions:
        cls = recipe_class(TensorRtRuntime.recipes[precision])
        assert cls.precision == precision and cls.output_format == "engine"
        assert cls.needs_calibration == (precision in ("int8", "best"))


def test_one_static_profile_per_batch_size(tiny_spec):
    shapes = trt_recipes.profile_shapes(tiny_spec, (32, 1, 8, 1))
    assert shapes == [(1, 3, 32, 32), (8, 3, 32, 32), (32, 3, 32, 32)]
    profiles = trt_recipes.polygraphy_profiles("input", shapes)
    assert [tuple(p["input"].min) for p in profiles] == shapes
    assert all(p["input"].min == p["input"].opt == p["input"].max for p in profiles)
    assert profile_index([1, 8, 32], 8) == 1
    with pytest.raises(CellFailure, match=r"built for batch sizes \[1, 8, 32\], not 4"):
        profile_index([1, 8, 32], 4)


@pytest.mark.parametrize("version, precision, flags, onnx, calibrator", [
    ("10.13.3.9", "fp32", {}, "fp32", None),
    ("10.13.3.9", "tf32", {}, "fp32", None),
    ("10.13.3.9", "fp16", {"fp16": True}, "fp32", None),
    ("10.13.3.9", "int8", {"int8": True}, "fp32", "IInt8EntropyCalibrator2"),
    ("10.13.3.9", "best", {"fp16": True, "int8": True}, "fp32", "IInt8EntropyCalibrator2"),
    ("11.4.0.106", "fp16", {}, "fp16", None),  # no precision flags on TensorRT 11: an FP16 ONNX
    ("11.4.0.106", "int8", {}, "qdq", None),  # no calibrators on TensorRT 11: a QDQ ONNX
])
def test_precision_routes_follow_the_tensorrt_version(on_trt, version, precision, flags, onnx, calibrator):
    on_trt(version)
    settings = recipe(precision).settings()
    assert settings["flags"] == flags and settings["onnx"] == onnx and settings.get("calibrator") == calibrator
    assert settings["tf32"] == (precision != "fp32")  # FP32 is strict: TensorRT's default TF32 is off there


def test_explicit_quantisation_is_symmetric(on_trt):
    on_trt("10.13.3.9")
    settings = recipe("int8", trt_int8="qdq", calib_method="entropy").settings()
    assert settings["onnx"] == "qdq" and settings["flags"] == {"int8": True} and "calibrator" not in settings
    assert settings["qdq"]["symmetric"] and settings["qdq"]["activations"] == "S8"
    assert settings["qdq"]["calibration"] == "entropy"


def test_best_is_refused_on_tensorrt_11(on_trt, tiny_spec, tiny_onnx, tmp_path):
    on_trt("11.4.0.106")
    with pytest.raises(NotSupportedHere, match="TensorRT 11"):
        recipe("best").build(Artifact(path=str(tiny_onnx), format="onnx"), tiny_spec, None, tmp_path)


def test_no_engine_is_built_without_a_gpu(on_trt, tiny_spec, tiny_onnx, tmp_path):
    on_trt("10.13.3.9", gpu={})
    with pytest.raises(NotSupportedHere, match="no NVIDIA GPU"):
        recipe("fp32").build(Artifact(path=str(tiny_onnx), format="onnx"), tiny_spec, None, tmp_path)


def test_the_engine_cache_key_holds_gpu_tensorrt_precision_and_shapes(on_trt, tiny_spec, tiny_onnx, monkeypatch):
    import edgebench.quantize.build as build

    source = Artifact(path=str(tiny_onnx), format="onnx", toolchain="user file")
    versions = {"tensorrt": "10.13.3.9"}
    monkeypatch.setattr(build, "package_version", lambda dist: versions.get(dist, ""))

    def key(precision="fp32", batch_sizes=(1, 32), version="10.13.3.9", gpu=GPU):
        on_trt(version, gpu)
        versions["tensorrt"] = version
        return content_key(cache_key_data(tiny_spec, source, recipe(precision, batch_sizes), None))

    first = key()
    assert key() == first  # the same build is found again
    others = [key(precision="fp16"), key(precision="tf32"), key(batch_sizes=(1, 8)),
              key(version="10.14.1.48"), key(gpu={"name": "NVIDIA A100-SXM4-80GB", "compute_cap": "8.0"})]
    assert len({first, *others}) == 1 + len(others)


def test_polygraphy_accepts_the_build_configuration(on_trt, tiny_spec, tiny_onnx):
    """The loader chain is Polygraphy's own objects, built with the arguments the recipe gives them."""
    on_trt("10.13.3.9")
    r = recipe("fp16", batch_sizes=(4, 1))
    loader, shapes = r.loader(str(tiny_onnx), tiny_spec, None, r.settings())
    assert shapes == [(1, 3, 32, 32), (4, 3, 32, 32)]
    config = loader._config
    assert config.fp16 is True and config.tf32 is True and not config.int8 and config.calibrator is None
    assert [tuple(p["input"].opt) for p in config.profiles] == shapes


def test_a_static_batch_onnx_gets_no_profiles(on_trt, tiny_spec, tiny_onnx, tmp_path):
    import onnx

    assert trt_recipes.static_batch(str(tiny_onnx)) is None  # exports have a dynamic batch
    model = onnx.load(str(tiny_onnx))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    path = tmp_path / "static.onnx"
    onnx.save(model, str(path))
    assert trt_recipes.static_batch(str(path)) == 2
    on_trt("10.13.3.9")
    r = recipe("fp32")
    loader, shapes = r.loader(str(path), tiny_spec, None, r.settings())
    assert shapes == [(2, 3, 32, 32)]


def test_calibration_batches_are_full_and_made_of_real_images(tiny_spec):
    crops = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 32, 32, 3), np.uint8)
    feed = trt_recipes.CalibrationFeed(CalibrationData(crops, tiny_spec), "input", batch_size=4)
    batches = list(feed.batches())
    assert [b.shape for b in batches] == [(4, 3, 32, 32)] * 3 and all(b.dtype == np.float32 for b in batches)
    # every image once, then the first two again to fill the last batch
    firsts = [float(b[i, 0, 0, 0]) for b in batches for i in range(4)]
    reference = [float(x) for x in CalibrationData(crops, tiny_spec, batch_size=1) for x in [x[0, 0, 0, 0]]]
    assert firsts == reference + reference[:2]
