"""The sweep's time estimate weighs each cell by what it should cost: parameters x pixels x batch per call, a
floor of calls for slow ones, the group's rounds for fast ones, and an INT8 cell's calibration."""
from __future__ import annotations

import pytest

from edgebench.config import RunConfig
from edgebench.harness.timing import PROFILES
from edgebench.models.registry import resolve_suite
from edgebench.pipeline.estimate import QUANTIZE_CALLS_PER_IMAGE, call_s, cell_seconds
from edgebench.pipeline.plan import plan


def _cells():
    specs = {s.id: s for s in resolve_suite("seed-table") if s.available}
    config = RunConfig(suite="seed-table", precisions=("fp32", "int8"), batch_sizes=(1, 32))
    chosen = [specs["timm:mobilenetv2_100"], specs["timm:tf_efficientnet_b7"]]
    return {c.key: c for c in plan(chosen, ["onnxruntime", "openvino"], config)}


def test_a_call_scales_with_parameters_pixels_and_batch():
    cells = _cells()
    small = call_s(cells["timm:mobilenetv2_100|onnxruntime|fp32|b32"])
    large = call_s(cells["timm:tf_efficientnet_b7|onnxruntime|fp32|b32"])
    # measured on the development machine: 145 ms and 21.1 s (ONNX Runtime, 2 threads): 145x
    assert 100 < large / small < 200
    assert call_s(cells["timm:mobilenetv2_100|onnxruntime|fp32|b1"]) * 32 == small


def test_slow_cells_weigh_their_floor_of_calls_and_int8_its_calibration():
    from edgebench.harness.timing import floor_calls

    cells, profile = _cells(), PROFILES["default"]
    fast = cell_seconds(cells["timm:mobilenetv2_100|onnxruntime|fp32|b1"], profile)
    assert profile.min_s <= fast - 2.0 <= profile.max_s + profile.warmup_max_s  # load, warm-up, the group's rounds
    slow = cells["timm:tf_efficientnet_b7|onnxruntime|fp32|b32"]
    assert call_s(slow) > profile.max_s and floor_calls(profile, call_s(slow)) == 1  # one call covers its cap
    assert cell_seconds(slow, profile) >= 2 * call_s(slow)  # its warm-up call and its one timed call
    fast_b7 = cells["timm:tf_efficientnet_b7|onnxruntime|fp32|b1"]
    assert floor_calls(profile, call_s(fast_b7)) == profile.floor_iters  # three calls fit in its cap
    int8 = cells["timm:tf_efficientnet_b7|onnxruntime|int8|b1"]
    fp32 = cells["timm:tf_efficientnet_b7|onnxruntime|fp32|b1"]
    assert cell_seconds(int8, profile, calib_images=64) - cell_seconds(fp32, profile) == pytest.approx(
        QUANTIZE_CALLS_PER_IMAGE * 64 * call_s(int8))
