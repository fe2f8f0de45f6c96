"""The calibration memory bound: sized from the model's real activations and the memory available."""
from __future__ import annotations

import onnx

from edgebench.quantize.memory import PEAK_PER_ACTIVATION, activation_mb_per_image, bound


def test_activation_size_is_the_sum_of_the_intermediate_tensors(tiny_onnx):
    # TinyNet at 3x32x32: conv 8x32x32 (+BN, ReLU) then conv 16x16x16 (+ReLU), pooled, linear 10.
    model = onnx.load(str(tiny_onnx))
    mb = activation_mb_per_image(model)
    del model.graph.value_info[:]
    inferred = activation_mb_per_image(model)  # no exporter shapes: ONNX shape inference gives them
    assert 0.03 < mb < 0.5 and abs(inferred - mb) / mb < 0.5


def test_a_large_model_calibrates_one_image_at_a_time():
    # EfficientNet-B6 at 528 px: 2371 MB of activations per image (its exported graph); batches of 8 were
    # killed by the OOM killer on a 24 GB machine.
    b6 = bound(2371.0, largest_batch=8, available=20_000)
    assert b6.batch == 1 and b6.budget_mb == 10_000
    small = bound(25.0, largest_batch=8, available=20_000)
    assert small.batch == 8
    middle = bound(2000.0 / PEAK_PER_ACTIVATION, largest_batch=8, available=20_000)  # 2 GB a image
    assert middle.batch == 5


def test_histogram_calibration_bounds_the_image_count():
    kept = bound(1000.0, largest_batch=1, keeps_outputs=True, available=20_000)
    assert kept.batch == 1 and kept.max_images == 4  # 10 GB budget / (1000 MB x 2.5 per image)
