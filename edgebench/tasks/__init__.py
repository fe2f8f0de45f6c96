"""Tasks: what a model's outputs mean and how they are scored (``classify``: edgebench.harness.accuracy;
``detect``, ``segment``, ``depth``: edgebench.tasks.*). Light: heavy libraries (pycocotools) load inside the task that needs them."""
from __future__ import annotations

from typing import Any


# Each task's main figure in an accuracy summary (keyed by its ``metric``; a classifier's summary has none): the
# figure a budget, a Pareto set and a drop are read on, and its paired change against FP32 (``<figure>_change``).
MAIN_FIGURE = {"map": "map", "miou": "miou", "depth": "delta1"}
FIGURE_NAMES = {"top1": "top-1", "map": "mAP", "miou": "mIoU", "delta1": "δ1"}
TASK_FIGURE = {"classify": "top1", "detect": "map", "segment": "miou", "depth": "delta1"}


def main_figure(accuracy: dict[str, Any] | None) -> str:
    """The key of the main figure of an accuracy summary: top1, map, miou or delta1."""
    return MAIN_FIGURE.get((accuracy or {}).get("metric"), "top1")


def main_value(accuracy: dict[str, Any] | None) -> float | None:
    """The main figure of an accuracy summary (a fraction), None without one."""
    return (accuracy or {}).get(main_figure(accuracy))


def main_change(accuracy: dict[str, Any] | None) -> dict[str, Any] | None:
    """The paired change of the main figure against the model's FP32 reference, None without one."""
    return ((accuracy or {}).get("vs_reference") or {}).get(f"{main_figure(accuracy)}_change")


UNLABELLED_FIGURES = {"map": ("map", "ap50"), "miou": ("miou", "pixel_accuracy"), "depth": ("abs_rel", "delta1")}


def unlabelled(metric: str, images: int) -> dict[str, Any]:
    """The accuracy summary of a task model on images without labels: its task figures are None (not measured);
    ``fidelity`` (against its FP32 outputs) is added beside it."""
    return {"metric": metric, "images": images, "labels": False, **{k: None for k in UNLABELLED_FIGURES[metric]},
            "note": "the images have no labels: the task's figures are not measured, only fidelity to FP32's outputs"}


def fidelity_text(summary: dict[str, Any]) -> str:
    """A task model's fidelity to its FP32 outputs, for a console line ("" without one)."""
    f = summary.get("fidelity") or {}
    if not f:
        return ""
    if summary.get("metric") == "map":
        return "vs FP32 boxes: " + (f"mAP {f['map']:.3f}" if f.get("map") is not None else "none confident")
    if summary.get("metric") == "miou":
        return f"vs FP32 maps: mIoU {f['miou']:.3f}, {f['pixels_agree']:.1%} pixels agree"
    if f.get("abs_rel") is None:
        return f"vs FP32 depth: none ({f.get('against', '')})"
    return f"vs FP32 depth: AbsRel {f['abs_rel']:.3f}, δ1 {f['delta1']:.3f}"


def headline(summary: dict[str, Any]) -> str:
    """The task's main figures of an accuracy summary, for a console line."""
    if summary.get("labels") is False:
        return f"no labels: fidelity to FP32 only ({summary.get('images', '?')} images)"
    if summary.get("metric") == "map":
        return f"mAP {summary['map']:.3f}, AP50 {summary['ap50']:.3f} (COCO, {summary.get('images', '?')} images)"
    if summary.get("metric") == "miou":
        return f"mIoU {summary['miou']:.3f}, pixel accuracy {summary['pixel_accuracy']:.3f} ({summary.get('images', '?')} images)"
    if summary.get("metric") == "depth":
        return f"AbsRel {summary['abs_rel']:.3f}, δ1 {summary['delta1']:.3f} ({summary.get('images', '?')} images)"
    return f"top-1 {summary['top1']:.2%}, top-5 {summary['top5']:.2%}"
