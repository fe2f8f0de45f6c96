"""Monocular depth: ground truth from depth PNGs, a relative-depth prediction aligned to it by least squares
(scale and shift), and the field's two figures, AbsRel (mean |d - d*| / d*) and δ1 (share of pixels with
max(d / d*, d* / d) < 1.25), each averaged over images with a 95% bootstrap interval over images and a paired
change against the model's FP32.

Relative-depth models (PyDNet++, MiDaS, Depth Anything) predict depth up to an unknown scale and shift. Each
image's prediction is fitted to its ground truth as ``s * pred + t`` over the valid pixels (ground truth > 0),
in depth space for a model whose output grows with distance (``output: depth``) and in inverse-depth space for
one that predicts disparity (``output: disparity``, as MiDaS-style evaluations align), then scored. The
prediction is resized to the ground truth's size (bilinear) first. Fidelity to FP32 uses the same figures with
FP32's aligned depth as the truth, so it needs no labels.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edgebench.stats import change_verdict, percentile_interval

BOOTSTRAP = 1000
DELTA = 1.25
OUTPUTS = ("depth", "disparity")  # what a relative-depth model's map grows with: distance, or nearness
FLOOR = 1e-2  # an aligned prediction's floor, as a share of the truth's median (in the fitted space)


def read_depth(path: str, scale: float) -> np.ndarray:
    """A depth PNG (16-bit: ``scale`` units per metre, 0 = no reading) → metres, float64, 0 where invalid."""
    from PIL import Image

    raw = np.asarray(Image.open(path)).astype(np.float64)
    if raw.ndim == 3:
        raw = raw[..., 0]
    return raw / float(scale)


def resize_map(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) float map → (height, width), bilinear (Pillow), float64."""
    from PIL import Image

    height, width = size
    if values.shape == (height, width):
        return values.astype(np.float64)
    image = Image.fromarray(np.ascontiguousarray(values, np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), np.float64)


def align(pred: np.ndarray, truth: np.ndarray, output: str = "depth") -> np.ndarray:
    """``pred`` fitted to ``truth`` (metres, 0 invalid) by least squares, scale and shift, over the valid pixels:
    in depth space (``output="depth"``) or inverse-depth space (``"disparity"``). Returns aligned depth, metres."""
    valid = truth > 0
    if valid.sum() < 2:
        raise ValueError("fewer than two valid ground-truth pixels to align a prediction to")
    target = truth[valid] if output == "depth" else 1.0 / truth[valid]
    design = np.stack([pred[valid], np.ones(int(valid.sum()))], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, target, rcond=None)
    fitted = scale * pred + shift
    # A fit can go to zero or below where the model saw farther than the truth reaches: clip it at a hundredth of
    # the truth's median (in the fitted space), whatever the truth's unit. Not its minimum: a near-zero disparity
    # there (an FP32 map as the truth, for fidelity) would turn a clipped pixel into an absurd depth.
    fitted = np.clip(fitted, FLOOR * float(np.median(target)), None)
    return fitted if output == "depth" else 1.0 / fitted


def image_errors(pred: np.ndarray, truth: np.ndarray, output: str = "depth") -> dict[str, float]:
    """One image: AbsRel and δ1 of the aligned ``pred`` (any size; resized to ``truth``) on the valid pixels."""
    depth = align(resize_map(pred, truth.shape), truth, output)
    valid = truth > 0
    d, t = depth[valid], truth[valid]
    return {"abs_rel": float(np.mean(np.abs(d - t) / t)), "delta1": float(np.mean(np.maximum(d / t, t / d) < DELTA)),
            "pixels": int(valid.sum())}


def score(per_image: list[dict[str, float]], reference: list[dict[str, float]] | None = None,
          seed: int = 0) -> dict[str, Any]:
    """AbsRel and δ1 averaged over images, with 95% percentile bootstrap intervals over images; with
    ``reference`` (FP32's errors on the same images), the paired change of each on the same resampled images."""
    rel = np.array([e["abs_rel"] for e in per_image])
    d1 = np.array([e["delta1"] for e in per_image])
    n = len(per_image)
    rng = np.random.default_rng(seed)
    picks = [rng.integers(0, n, n) for _ in range(BOOTSTRAP if n > 1 else 0)]
    result: dict[str, Any] = {
        "images": n, "metric": "depth", "abs_rel": float(rel.mean()), "delta1": float(d1.mean()),
        "abs_rel_ci95": percentile_interval([rel[p].mean() for p in picks]),
        "delta1_ci95": percentile_interval([d1[p].mean() for p in picks]),
        "averaging": "per image over its valid pixels, then the mean over images",
        "interval": f"percentile bootstrap over images ({BOOTSTRAP} resamples)",
    }
    if reference is not None:
        ref_rel = np.array([e["abs_rel"] for e in reference])
        ref_d1 = np.array([e["delta1"] for e in reference])
        changes = {}
        for name, mine, theirs in (("delta1_change", d1, ref_d1), ("abs_rel_change", rel, ref_rel)):
            ci = percentile_interval([mine[p].mean() - theirs[p].mean() for p in picks])
            changes[name] = {"delta": float(mine.mean() - theirs.mean()), "ci95": ci,
                             "test": "paired bootstrap over images", "verdict": change_verdict(ci)}
        result["vs_reference"] = changes
    return result


def fidelity(preds: list[np.ndarray], fp32: list[np.ndarray], output: str = "depth") -> dict[str, Any]:
    """A deployment against its FP32 on the same images, with FP32's depth as the truth (no labels needed):
    AbsRel and δ1 after aligning each prediction to FP32's (the FP32 map is made positive first)."""
    errors = []
    for pred, ref in zip(preds, fp32):
        ref = ref.astype(np.float64)
        positive = np.isfinite(ref) & (ref > 0)  # a disparity map's zero or below (the far field) has no depth
        truth = np.where(positive, ref if output == "depth" else 1.0 / np.where(positive, ref, 1.0), 0.0)
        if int(positive.sum()) >= 2:  # else FP32 saw no depth in the image: nothing to be faithful to
            errors.append(image_errors(pred, truth, output))
    if not errors:
        return {"images": 0, "skipped": len(fp32), "against": "FP32's aligned depth (no positive FP32 map)"}
    summary = score(errors)
    return {"abs_rel": summary["abs_rel"], "delta1": summary["delta1"], "abs_rel_ci95": summary["abs_rel_ci95"],
            "delta1_ci95": summary["delta1_ci95"], "images": len(errors), "skipped": len(fp32) - len(errors),
            "against": "FP32's aligned depth"}


def truths(ref: dict[str, Any]) -> list[np.ndarray]:
    """Each evaluation image's ground-truth depth in metres (0: no reading)."""
    return [read_depth(ref["depth_files"][int(i)], ref["depth_scale"]) for i in ref["labels"]]


def depth_all(infer, crops: np.ndarray, pre, batch_size: int, geometry: list, post: dict[str, Any],
              targets: list[np.ndarray] | None) -> tuple[list[dict[str, float]], np.ndarray, list[float]]:
    """Per image: AbsRel and δ1 against its ground truth (none without it), the raw map at the model's output size (for fidelity
    to FP32), and the milliseconds of the post-processing (cutting the letterbox, resizing to the image), timed
    apart from the model call. Alignment and scoring are the evaluation's, not the deployment's: untimed."""
    import time

    from edgebench.data.evalset import batches
    from edgebench.tasks.segment import to_image

    output = post.get("depth_output", "depth")
    input_hw = tuple(int(d) for d in pre.input_size[1:])
    errors, maps, post_ms, index = [], [], [], 0
    for batch, real in batches(crops, pre, batch_size):
        raw = np.asarray(infer(batch))
        for i in range(real):
            started = time.perf_counter_ns()
            plane = np.squeeze(np.asarray(raw[i], np.float32))[..., None]  # (h, w, 1) from NHWC or NCHW
            resized = to_image(plane, geometry[index], input_hw)[..., 0]
            post_ms.append((time.perf_counter_ns() - started) / 1e6)
            if targets is not None:  # unlabelled images: the maps only (fidelity to FP32)
                errors.append(image_errors(resized, targets[index], output))
            maps.append(plane[..., 0].astype(np.float32))
            index += 1
    return errors, np.stack(maps), post_ms
