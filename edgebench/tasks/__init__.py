"""Tasks: what a model's outputs mean and how they are scored (``classify``: edgebench.harness.accuracy;
``detect``, ``segment``, ``depth``: edgebench.tasks.*). Light: heavy libraries (pycocotools) load inside the task that needs them."""
from __future__ import annotations

from typing import Any


def headline(summary: dict[str, Any]) -> str:
    """The task's main figures of an accuracy summary, for a console line."""
    if summary.get("metric") == "map":
        return f"mAP {summary['map']:.3f}, AP50 {summary['ap50']:.3f} (COCO, {summary.get('images', '?')} images)"
    if summary.get("metric") == "miou":
        return f"mIoU {summary['miou']:.3f}, pixel accuracy {summary['pixel_accuracy']:.3f} ({summary.get('images', '?')} images)"
    if summary.get("metric") == "depth":
        return f"AbsRel {summary['abs_rel']:.3f}, δ1 {summary['delta1']:.3f} ({summary.get('images', '?')} images)"
    return f"top-1 {summary['top1']:.2%}, top-5 {summary['top5']:.2%}"
