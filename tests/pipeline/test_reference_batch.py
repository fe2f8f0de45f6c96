"""The FP32 reference outputs' batch size: at most 32 images a call, batches as even as the count allows, so that
a run on a few images does not pay for a padded batch of 32."""
from __future__ import annotations

import math

import pytest

from edgebench.pipeline.build import REFERENCE_BATCH, reference_batch


@pytest.mark.parametrize("count, batch", [(1, 1), (2, 2), (31, 31), (32, 32), (33, 17), (40, 20), (500, 32)])
def test_the_reference_pads_less_than_one_image_per_batch(count, batch):
    assert reference_batch(count) == batch
    calls = math.ceil(count / batch)
    assert batch <= REFERENCE_BATCH and calls == math.ceil(count / REFERENCE_BATCH)  # no more calls than at 32
    assert calls * batch - count < calls  # padding: fewer copies than calls
