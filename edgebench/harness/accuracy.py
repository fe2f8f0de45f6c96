"""Accuracy of a cell on real images, and how it compares with the FP32 reference on the same images.

Top-1/top-5 carry a 95% Wilson interval (edgebench.stats, from scipy). The change against the reference is tested on the paired
per-image outcomes with McNemar's exact test (only images where one is right and the other wrong count),
so a 0.3-point drop on 500 images is told apart from noise. Agreement (same top-1 class) and cosine
similarity of the outputs measure fidelity to the reference, whatever the labels.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgebench.stats import mcnemar_exact, wilson_interval

SIGNIFICANCE = 0.05


def evaluate(infer, crops: np.ndarray, pre, batch_size: int) -> np.ndarray:
    """Outputs (N, classes) float32 of ``infer`` over every crop, at the cell's batch size."""
    from edgebench.data.evalset import batches

    outputs = []
    for batch, real in batches(crops, pre, batch_size):
        out = np.asarray(infer(batch))
        outputs.append(out.reshape(out.shape[0], -1)[:real].astype(np.float32))
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def topk(outputs: np.ndarray, k: int = 5) -> np.ndarray:
    """Indices of the k largest outputs per row, best first."""
    k = min(k, outputs.shape[1])
    part = np.argpartition(-outputs, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(outputs, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def paired_change(reference_correct: np.ndarray, candidate_correct: np.ndarray) -> dict[str, Any]:
    """Candidate minus reference accuracy, its 95% interval (paired, normal) and McNemar's verdict."""
    from scipy.stats import norm

    ref = np.asarray(reference_correct, bool)
    cand = np.asarray(candidate_correct, bool)
    n = len(ref)
    only_ref = int(np.sum(ref & ~cand))
    only_cand = int(np.sum(~ref & cand))
    delta = (only_cand - only_ref) / n if n else math.nan
    # Variance of a difference of paired proportions.
    var = ((only_cand + only_ref) / n - delta * delta) / n if n else math.nan
    half = float(norm.ppf(0.975)) * math.sqrt(max(var, 0.0)) if n else math.nan
    p = mcnemar_exact(only_ref, only_cand)
    if p >= SIGNIFICANCE:
        verdict = "no significant change"
    else:
        verdict = "significant drop" if delta < 0 else "significant gain"
    return {"delta": delta, "ci95": [delta - half, delta + half], "only_reference_correct": only_ref,
            "only_candidate_correct": only_cand, "p_value": p, "test": "McNemar exact (two-sided)",
            "verdict": verdict}


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.sum(a64 * b64, axis=1) / np.where(norms == 0, 1.0, norms)


def summarize(outputs: np.ndarray, labels: np.ndarray, reference: np.ndarray | None) -> dict[str, Any]:
    """The accuracy record of a cell (``reference``: the FP32 reference outputs on the same images)."""
    labels = np.asarray(labels)
    n = len(labels)
    top5 = topk(outputs, 5)
    hit1 = top5[:, 0] == labels
    hit5 = (top5 == labels[:, None]).any(axis=1)
    result: dict[str, Any] = {
        "images": n,
        "top1": float(hit1.mean()) if n else math.nan, "top1_ci95": list(wilson_interval(int(hit1.sum()), n)),
        "top5": float(hit5.mean()) if n else math.nan, "top5_ci95": list(wilson_interval(int(hit5.sum()), n)),
        "vs_reference": None,
    }
    if reference is not None and reference.shape == outputs.shape:
        ref_top1 = topk(reference, 1)[:, 0]
        cos = cosine_rows(outputs, reference)
        result["vs_reference"] = {
            "top1_change": paired_change(ref_top1 == labels, hit1),
            "top1_agreement": float(np.mean(ref_top1 == top5[:, 0])),
            "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
        }
    elif reference is not None:
        result["vs_reference_error"] = f"reference outputs {reference.shape} do not match {outputs.shape}"
    return result
