"""Image → model input. Classifiers the way timm and torchvision evaluate (``resize: crop``): resize the shorter
side to ``floor(size / crop_pct)`` with the model's interpolation and centre-crop ``size``; detectors and
segmenters fit the whole image (``letterbox``: aspect ratio kept, padded; ``stretch``). Then scale (divide by
``scale``), normalise with mean/std, in the model's channel order.

Crops are kept as uint8 (what a decoder gives); ``normalize`` turns them into float32 NCHW, the same
arithmetic for every runtime, so every runtime of a run sees bit-identical tensors.
"""
from __future__ import annotations

import math

import numpy as np

from edgebench.errors import ConfigError
from edgebench.models.spec import Preprocess

_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling values


def _open(path: str):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            return opened.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ConfigError(f"cannot read image {path} ({exc}); remove it or replace it") from None


def crop_image(path: str, pre: Preprocess) -> np.ndarray:
    """Decode and fit one image to the input by ``pre.resize`` → uint8 (H, W, 3) RGB."""
    if pre.resize != "crop":
        return fit_image(_open(path), pre)
    _, height, width = pre.input_size
    image = _open(path)
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


def geometry(size: tuple[int, int], pre: Preprocess) -> list[float]:
    """Where an image of ``size`` (width, height) lands in the input of a letterbox or stretch: ``[ratio_x,
    ratio_y, pad_x, pad_y, width, height]``, so that input = original x ratio + pad (boxes map back by it)."""
    _, height, width = pre.input_size
    w, h = size
    if pre.resize == "stretch":
        return [width / w, height / h, 0.0, 0.0, w, h]
    ratio = min(width / w, height / h)
    new_w, new_h = int(round(w * ratio)), int(round(h * ratio))
    pad_x, pad_y = ((width - new_w) // 2, (height - new_h) // 2) if pre.position == "center" else (0, 0)
    return [ratio, ratio, float(pad_x), float(pad_y), w, h]  # boxes map back by the ratio, as YOLOX's own code does


def image_geometry(path: str, pre: Preprocess) -> list[float]:
    """``geometry`` of the image at ``path`` (its header only)."""
    from PIL import Image

    with Image.open(path) as opened:
        return geometry(opened.size, pre)


def fit_image(image, pre: Preprocess) -> np.ndarray:
    """A letterbox (the whole image, aspect ratio kept, on a ``pad_value`` canvas) or a stretch."""
    from PIL import Image

    _, height, width = pre.input_size
    ratio_x, ratio_y, pad_x, pad_y, w, h = geometry(image.size, pre)
    size = (int(round(w * ratio_x)), int(round(h * ratio_y)))
    resized = image.resize(size, _RESAMPLE[pre.interpolation])
    if pre.resize == "stretch":
        return np.asarray(resized, dtype=np.uint8)
    canvas = Image.new("RGB", (width, height), (int(pre.pad_value),) * 3)
    canvas.paste(resized, (int(pad_x), int(pad_y)))
    return np.asarray(canvas, dtype=np.uint8)


def normalize(crops: np.ndarray, pre: Preprocess) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB → float32 (N, 3, H, W), scaled, normalised, in the model's channel order."""
    x = crops.astype(np.float32) / np.float32(pre.scale)
    if pre.channel_order == "BGR":
        x = x[..., ::-1]
    mean = np.asarray(pre.mean, dtype=np.float32)
    std = np.asarray(pre.std, dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
