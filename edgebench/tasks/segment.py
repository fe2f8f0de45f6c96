"""Semantic segmentation: ground truth drawn from COCO instance masks, mIoU and pixel accuracy from a confusion
matrix over all pixels, with 95% bootstrap intervals over images and a paired change against FP32.

Ground truth follows torchvision's segmentation references (``references/segmentation/coco_utils.py``): the 20
Pascal VOC classes are drawn from their COCO categories, every other category is background, and pixels covered
by two objects are ignored (255). A binary segmenter (a selfie model: person against the rest) is scored on the
person class alone. Predictions are scored at each image's own size: the model's logits (or probabilities) are
resized back to it, bilinear, before the argmax or the threshold.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgebench.stats import change_verdict, percentile_interval

IGNORE = 255
BOOTSTRAP = 1000  # resamples of the images; each is a sum of per-image confusion matrices (microseconds)
# VOC class i is drawn from COCO category COCO_FOR_VOC[i] (0: background): torchvision's CAT_LIST.
COCO_FOR_VOC = (0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72)
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
COCO_PERSON = 1
# What a segmenter's classes are: the 21 VOC classes (logits, argmax), or person against the rest (one
# probability map, thresholded; a selfie segmenter).
SEGMENT_LABELS = ("voc", "person")


def voc_target(gt, image_id: int) -> np.ndarray:
    """The VOC class of every pixel of a COCO image (uint8, 255 where two objects overlap)."""
    info = gt.imgs[image_id]
    height, width = info["height"], info["width"]
    voc_of = {coco: voc for voc, coco in enumerate(COCO_FOR_VOC) if voc}
    target = np.zeros((height, width), np.uint8)
    covered = np.zeros((height, width), np.uint8)
    for ann in gt.imgToAnns[image_id]:
        voc = voc_of.get(ann["category_id"])
        if voc is None:
            continue
        mask = gt.annToMask(ann).astype(bool)
        target = np.where(mask, np.maximum(target, voc), target).astype(np.uint8)
        covered += mask
    target[covered > 1] = IGNORE
    return target


def person_target(gt, image_id: int) -> np.ndarray:
    """1 where a COCO person is, 0 elsewhere."""
    info = gt.imgs[image_id]
    target = np.zeros((info["height"], info["width"]), np.uint8)
    for ann in gt.imgToAnns[image_id]:
        if ann["category_id"] == COCO_PERSON:
            target |= gt.annToMask(ann).astype(np.uint8)
    return target


def resize_scores(scores: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, channels) float scores → (height, width, channels), bilinear, per channel (Pillow)."""
    from PIL import Image

    height, width = size
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(scores[..., c], np.float32), mode="F")
                           .resize((width, height), Image.Resampling.BILINEAR)) for c in range(scores.shape[-1])]
    return np.stack(channels, axis=-1)


def predict_classes(scores: np.ndarray, size: tuple[int, int], threshold: float | None = None) -> np.ndarray:
    """A model's (h, w, classes) logits, or (h, w, 1) probabilities with ``threshold``, → classes at ``size``."""
    resized = resize_scores(scores, size)
    if threshold is not None:
        return (resized[..., 0] >= threshold).astype(np.uint8)
    return np.argmax(resized, axis=-1).astype(np.uint8)


def confusion(pred: np.ndarray, target: np.ndarray, classes: int) -> np.ndarray:
    """classes x classes counts (row: truth, column: prediction) over the pixels whose truth is not ignored."""
    valid = target != IGNORE
    index = target[valid].astype(np.int64) * classes + pred[valid].astype(np.int64)
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def miou(matrix: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Mean IoU over the classes present in truth or prediction, pixel accuracy, and each class's IoU (nan:
    absent from both)."""
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    total = matrix.sum()
    return (float(np.nanmean(iou)) if np.isfinite(iou).any() else math.nan,
            float(tp.sum() / total) if total else math.nan, iou)


def score(per_image: list[np.ndarray], reference: list[np.ndarray] | None = None, names: tuple[str, ...] = VOC_CLASSES,
          seed: int = 0) -> dict[str, Any]:
    """mIoU and pixel accuracy of per-image confusion matrices pooled over images, each with a 95% percentile
    bootstrap interval over images; with ``reference`` (FP32's matrices on the same images, against the same
    truth), the paired change in mIoU on the same resampled images."""
    stack = np.stack(per_image).astype(np.int64)
    mean_iou, accuracy, iou = miou(stack.sum(0))
    ref_stack = np.stack(reference).astype(np.int64) if reference is not None else None
    rng = np.random.default_rng(seed)
    n = len(per_image)
    draws, diffs = [], []
    for _ in range(BOOTSTRAP if n > 1 else 0):
        picks = rng.integers(0, n, n)
        value = miou(stack[picks].sum(0))
        draws.append(value[:2])
        if ref_stack is not None:
            diffs.append(value[0] - miou(ref_stack[picks].sum(0))[0])
    result: dict[str, Any] = {
        "images": n, "metric": "miou", "miou": mean_iou, "pixel_accuracy": accuracy,
        "miou_ci95": percentile_interval([d[0] for d in draws]),
        "pixel_accuracy_ci95": percentile_interval([d[1] for d in draws]),
        "iou": {name: (None if math.isnan(v) else float(v)) for name, v in zip(names, iou)},
        "averaging": "mean over the classes present in truth or prediction; pixels of all images pooled",
        "interval": f"percentile bootstrap over images ({BOOTSTRAP} resamples)",
    }
    if ref_stack is not None:
        ci = percentile_interval(diffs)
        result["vs_reference"] = {"miou_change": {
            "delta": mean_iou - miou(ref_stack.sum(0))[0], "ci95": ci, "test": "paired bootstrap over images",
            "verdict": change_verdict(ci)}}
    return result


def to_image(scores: np.ndarray, geometry: list[float], input_hw: tuple[int, int]) -> np.ndarray:
    """A model's (h, w, channels) map → the part that covers the image (a letterbox's padding cut away), resized to
    the image's own size, bilinear: (height, width, channels) float32."""
    ratio_x, ratio_y, pad_x, pad_y, width, height = geometry
    out_h, out_w = scores.shape[:2]
    sy, sx = out_h / input_hw[0], out_w / input_hw[1]
    top, left = int(round(pad_y * sy)), int(round(pad_x * sx))
    bottom = top + max(1, int(round(height * ratio_y * sy)))
    right = left + max(1, int(round(width * ratio_x * sx)))
    return resize_scores(scores[top:bottom, left:right], (int(height), int(width)))


def hwc(raw: np.ndarray, channels: int) -> np.ndarray:
    """One image's output as (h, w, channels), from NHWC's (h, w, c) or NCHW's (c, h, w) (or a bare (h, w) map)."""
    raw = np.asarray(raw, np.float32)
    if raw.ndim == 2:
        return raw[..., None]
    if raw.shape[-1] == channels or raw.shape[0] != channels:
        return raw
    return np.transpose(raw, (1, 2, 0))


def truths(ref: dict[str, Any], labels: str) -> list[np.ndarray]:
    """Each evaluation image's target: VOC classes, or person against the rest, from the COCO masks."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its loading times
        gt = COCO(ref["annotations"])
    draw = person_target if labels == "person" else voc_target
    return [draw(gt, int(image_id)) for image_id in ref["labels"]]


def segment_all(infer, crops: np.ndarray, pre, batch_size: int, geometry: list, post: dict[str, Any],
                targets: list[np.ndarray] | None) -> tuple[list[np.ndarray], np.ndarray, list[float]]:
    """Per image: the confusion matrix against its target at the image's size (none without targets), the class map at the model's output
    size (for fidelity to FP32), and the milliseconds of the post-processing (resize back, argmax or threshold),
    timed apart from the model call."""
    import time

    from edgebench.data.evalset import batches

    person = post.get("segment_labels") == "person"
    classes = 2 if person else len(VOC_CLASSES)
    channels = 1 if person else classes
    threshold = float(post.get("threshold", 0.5)) if person else None
    input_hw = tuple(int(d) for d in pre.input_size[1:])
    matrices, maps, post_ms, index = [], [], [], 0
    for batch, real in batches(crops, pre, batch_size):
        raw = np.asarray(infer(batch))
        for i in range(real):
            started = time.perf_counter_ns()
            scores = hwc(raw[i], channels)
            resized = to_image(scores, geometry[index], input_hw)
            pred = ((resized[..., 0] >= threshold) if person else np.argmax(resized, axis=-1)).astype(np.uint8)
            post_ms.append((time.perf_counter_ns() - started) / 1e6)
            if targets is not None:  # unlabelled images: the maps only (fidelity to FP32)
                matrices.append(confusion(pred, targets[index], classes))
            maps.append(((scores[..., 0] >= threshold) if person else np.argmax(scores, axis=-1)).astype(np.uint8))
            index += 1
    return matrices, np.stack(maps), post_ms


def fidelity(maps: np.ndarray, fp32_maps: np.ndarray, person: bool) -> dict[str, Any]:
    """mIoU of a deployment's class maps against FP32's on the same images (no labels needed), at the model's
    output size, with the share of pixels whose class changed."""
    classes = 2 if person else len(VOC_CLASSES)
    matrix = sum(confusion(m, f, classes) for m, f in zip(maps, fp32_maps))
    value, agreement, _ = miou(matrix)
    return {"miou": value, "pixels_agree": agreement, "images": len(maps), "against": "FP32's class maps"}
