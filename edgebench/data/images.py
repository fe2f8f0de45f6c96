"""Image → model input, the way timm and torchvision evaluate: resize the shorter side to
``floor(size / crop_pct)`` with the model's interpolation, centre-crop ``size``, scale to [0, 1],
normalise with mean/std, in the model's channel order.

Crops are kept as uint8 (what a decoder gives); ``normalize`` turns them into float32 NCHW, the same
arithmetic for every runtime, so every runtime of a run sees bit-identical tensors.
"""
from __future__ import annotations

import math

import numpy as np

from edgebench.errors import ConfigError
from edgebench.models.spec import Preprocess

_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling values


def crop_image(path: str, pre: Preprocess) -> np.ndarray:
    """Decode, resize and centre-crop one image → uint8 (H, W, 3) RGB."""
    from PIL import Image, UnidentifiedImageError

    _, height, width = pre.input_size
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ConfigError(f"cannot read image {path} ({exc}); remove it or replace it") from None
    # timm: scale_size = floor(img_size / crop_pct); torchvision: resize_size (crop_pct = crop / resize).
    # A small epsilon keeps torchvision's exact ratios (224 / 256) from flooring to one pixel less.
    scale = math.floor(min(height, width) / pre.crop_pct + 1e-6)
    w, h = image.size
    if w <= h:
        size = (scale, int(scale * h / w))
    else:
        size = (int(scale * w / h), scale)
    image = image.resize(size, _RESAMPLE[pre.interpolation])
    w, h = image.size
    if w < width or h < height:
        raise ConfigError(f"{path} is smaller than the crop {width}x{height} after resizing")
    top = int(round((h - height) / 2.0))
    left = int(round((w - width) / 2.0))
    return np.asarray(image.crop((left, top, left + width, top + height)), dtype=np.uint8)


def normalize(crops: np.ndarray, pre: Preprocess) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB → float32 (N, 3, H, W), scaled, normalised, in the model's channel order."""
    x = crops.astype(np.float32) / np.float32(255.0)
    if pre.channel_order == "BGR":
        x = x[..., ::-1]
    mean = np.asarray(pre.mean, dtype=np.float32)
    std = np.asarray(pre.std, dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
