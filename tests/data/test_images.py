"""Preprocessing matches the reference implementations (torchvision's eval transforms, as timm uses)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from edgebench.data.images import crop_image, normalize
from edgebench.models.spec import Preprocess


def test_crop_and_normalize_match_torchvision(tmp_path):
    import torch
    from torchvision import transforms

    rng = np.random.default_rng(0)
    path = tmp_path / "x.png"
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(path)
    pre = Preprocess(input_size=(3, 224, 224), interpolation="bicubic", crop_pct=0.875)
    ours = normalize(crop_image(str(path), pre)[None], pre)[0]
    reference = transforms.Compose([
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224), transforms.ToTensor(), transforms.Normalize(pre.mean, pre.std),
    ])(Image.open(path).convert("RGB"))
    assert ours.shape == (3, 224, 224)
    np.testing.assert_allclose(ours, reference.numpy(), atol=1e-5)
    assert isinstance(reference, torch.Tensor)


def test_bgr_channel_order_swaps_channels(tmp_path):
    crops = np.zeros((1, 4, 4, 3), np.uint8)
    crops[..., 0] = 255  # pure red
    rgb = Preprocess(input_size=(3, 4, 4), mean=(0, 0, 0), std=(1, 1, 1))
    bgr = Preprocess(input_size=(3, 4, 4), mean=(0, 0, 0), std=(1, 1, 1), channel_order="BGR")
    assert normalize(crops, rgb)[0, 0].max() == 1.0 and normalize(crops, bgr)[0, 2].max() == 1.0
