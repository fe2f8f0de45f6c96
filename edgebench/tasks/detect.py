"""Object detection: letterbox geometry, output decoding by name, class-wise NMS, and COCO mAP from pycocotools.

Decoding and NMS are numpy, the same code for every runtime, and run on each runtime's own raw outputs: what a
deployment loses in its boxes and scores shows in its mAP. The mAP is COCO's (``pycocotools.cocoeval.COCOeval``,
bbox, mAP@[.5:.95] and AP50 over the evaluated images only), with a 95% percentile-bootstrap interval over images
and, against the model's FP32 detections on the same images, a paired bootstrap of the difference.
"""
from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgebench.stats import change_verdict, percentile_interval

DECODERS = ("yolox", "yolov8", "ssd")
# How a detector's class index becomes a COCO category id: "dataset" (index i is the dataset's i-th category, in
# id order: 80-class models such as YOLOX), "coco" (the index is the category id: torchvision's 91-slot labels).
CLASS_IDS = ("dataset", "coco")
BOOTSTRAP = 200  # resamples of the images for the mAP intervals (each one COCOeval.accumulate, ~30 ms)


@dataclass(frozen=True)
class Geometry:
    """Where an image went in the model's input: input = original x ratio + pad (edgebench.data.images)."""

    ratio_x: float
    ratio_y: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    @classmethod
    def from_list(cls, values) -> "Geometry":
        rx, ry, px, py, w, h = values
        return cls(float(rx), float(ry), float(px), float(py), int(w), int(h))


# -- decoding ------------------------------------------------------------------------------------------------
def decode_yolox(raw: np.ndarray, input_hw: tuple[int, int], strides=(8, 16, 32)) -> tuple[np.ndarray, ...]:
    """YOLOX's raw head (anchors, 5 + classes) → boxes x1,y1,x2,y2 in input pixels, score, class index.

    Per anchor: centre = (out + cell index) x stride, size = exp(out) x stride; score = objectness x the best
    class score, as YOLOX's own ``postprocess`` takes it."""
    height, width = input_hw
    grids, scale = [], []
    for stride in strides:
        gh, gw = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        grids.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        scale.append(np.full((gh * gw, 1), stride, np.float32))
    grid = np.concatenate(grids).astype(np.float32)
    stride_col = np.concatenate(scale)
    if raw.shape[0] != grid.shape[0]:
        raise ValueError(f"YOLOX output has {raw.shape[0]} anchors, the input {width}x{height} with strides "
                         f"{strides} makes {grid.shape[0]}")
    raw = raw.astype(np.float32)
    centre = (raw[:, :2] + grid) * stride_col
    size = np.exp(np.minimum(raw[:, 2:4], 50.0)) * stride_col
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    classes = np.argmax(raw[:, 5:], axis=1)
    scores = raw[:, 4] * raw[np.arange(len(raw)), 5 + classes]
    return boxes, scores, classes


def decode_yolov8(raw: np.ndarray) -> tuple[np.ndarray, ...]:
    """A YOLOv8-style head, per image (4 + classes, anchors): centre x, centre y, width, height in input pixels,
    then the class scores (already sigmoid; no objectness) → boxes x1,y1,x2,y2, the best class and its score."""
    rows = raw.astype(np.float32).T
    centre, size = rows[:, :2], rows[:, 2:4]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    classes = np.argmax(rows[:, 4:], axis=1)
    return boxes, rows[np.arange(len(rows)), 4 + classes], classes


def decode_ssd(raw: np.ndarray, score_threshold: float, topk: int | None) -> tuple[np.ndarray, ...]:
    """SSD boxes + scores, per image (anchors, 4 + classes): x1,y1,x2,y2 in input pixels, then every class's score
    with index 0 the background. As torchvision's ``SSD.postprocess_detections``: every (anchor, class) pair above the
    threshold is a candidate (an anchor may stand for several classes), the ``topk`` best of each class kept."""
    raw = raw.astype(np.float32)
    boxes, scores = raw[:, :4], raw[:, 5:]  # the background column goes
    anchor, column = np.nonzero(scores > score_threshold)
    values = scores[anchor, column]
    if topk is not None and len(values):
        order = np.lexsort((-values, column))  # by class, best first within it
        anchor, column, values = anchor[order], column[order], values[order]
        first = np.searchsorted(column, column, side="left")  # where each row's class starts
        keep = np.arange(len(column)) - first < topk
        anchor, column, values = anchor[keep], column[keep], values[keep]
    return boxes[anchor], values, column + 1


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, max_det: int) -> np.ndarray:
    """Indices kept by greedy class-wise NMS, best score first (classes apart: boxes offset per class)."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    offset = classes[:, None].astype(np.float32) * (float(boxes.max()) + 1.0)
    b = boxes + offset
    area = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size and len(keep) < max_det:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        x1 = np.maximum(b[i, 0], b[rest, 0])
        y1 = np.maximum(b[i, 1], b[rest, 1])
        x2 = np.minimum(b[i, 2], b[rest, 2])
        y2 = np.minimum(b[i, 3], b[rest, 3])
        inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
        overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, np.int64)


@dataclass(frozen=True)
class Postprocess:
    """How raw outputs become detections: the decoder's name, the score threshold, NMS IoU, detections kept."""

    decoder: str = "yolox"
    score_threshold: float = 0.001
    nms_iou: float = 0.65
    max_det: int = 100
    topk: int | None = None  # ssd: candidates kept per class before NMS
    class_ids: str = "dataset"

    def to_dict(self) -> dict[str, Any]:
        out = {"decoder": self.decoder, "score_threshold": self.score_threshold, "nms_iou": self.nms_iou,
               "max_det": self.max_det}
        out.update({k: v for k, v in (("topk", self.topk), ("class_ids", self.class_ids))
                    if v != getattr(Postprocess, k)})
        return out

    def category_ids(self, dataset_ids: list[int]) -> list[int] | None:
        """COCO category id of each class index the decoder gives (None: the index is the id)."""
        return list(dataset_ids) if self.class_ids == "dataset" else None

    def decode(self, raw: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, ...]:
        """One image's raw output → boxes x1,y1,x2,y2 in input pixels, scores, class indices."""
        if self.decoder == "ssd":
            return decode_ssd(raw.reshape(-1, raw.shape[-1]), self.score_threshold, self.topk)
        if self.decoder == "yolov8":
            return decode_yolov8(raw.reshape(raw.shape[-2], -1) if raw.ndim > 2 else raw)
        return decode_yolox(raw.reshape(-1, raw.shape[-1]), input_hw)

    def detections(self, raw: np.ndarray, input_hw: tuple[int, int], geometry: Geometry) -> np.ndarray:
        """One image's raw output → (k, 6) rows x, y, w, h (original pixels, COCO's box form), score, class."""
        boxes, scores, classes = self.decode(raw, input_hw)
        chosen = scores >= self.score_threshold
        boxes, scores, classes = boxes[chosen], scores[chosen], classes[chosen]
        keep = nms(boxes, scores, classes, self.nms_iou, self.max_det)
        boxes = ((boxes[keep] - [geometry.pad_x, geometry.pad_y, geometry.pad_x, geometry.pad_y])
                 / [geometry.ratio_x, geometry.ratio_y, geometry.ratio_x, geometry.ratio_y])
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, geometry.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, geometry.height)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        return np.concatenate([xywh, scores[keep, None], classes[keep, None].astype(np.float32)], axis=1)


# -- COCO mAP ------------------------------------------------------------------------------------------------
def _quiet(call):
    with contextlib.redirect_stdout(io.StringIO()):
        return call()


class CocoScorer:
    """COCO bbox mAP of detections on a set of images, with bootstrap intervals over the images.

    ``gt`` is a ``pycocotools.coco.COCO``; ``image_ids`` the images evaluated (in the detections' order);
    ``category_ids`` maps a model's class index to a COCO category id (COCO's sorted ids for 80-class models; None:
    the index is the id, as torchvision's detectors give it)."""

    def __init__(self, gt, image_ids: list[int], category_ids: list[int] | None) -> None:
        self.gt, self.image_ids = gt, list(image_ids)
        self.category_ids = list(category_ids) if category_ids is not None else None

    def results(self, detections: list[np.ndarray]) -> list[dict[str, Any]]:
        rows = []
        for image_id, dets in zip(self.image_ids, detections):
            for x, y, w, h, score, cls in dets.tolist():
                category = self.category_ids[int(cls)] if self.category_ids is not None else int(cls)
                rows.append({"image_id": image_id, "category_id": category,
                             "bbox": [x, y, w, h], "score": score})
        return rows

    def evaluated(self, detections: list[np.ndarray]):
        """A COCOeval with ``evaluate()`` done on this scorer's images (per image and category)."""
        from pycocotools.cocoeval import COCOeval

        rows = self.results(detections)
        dt = _quiet(lambda: self.gt.loadRes(rows)) if rows else _empty_results(self.gt)
        ev = COCOeval(self.gt, dt, "bbox")
        ev.params.imgIds = list(self.image_ids)
        # Only the figures reported (area "all", 100 detections): the same values COCO's summary gives for them,
        # with a twelfth of the work, so the bootstrap's resamples cost milliseconds each.
        ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [[0, 1e10]], ["all"], [100]
        _quiet(ev.evaluate)
        return ev

    @staticmethod
    def summary(ev, picks: np.ndarray | None = None) -> tuple[float, float]:
        """mAP@[.5:.95] and AP50 (area all, 100 detections) of an evaluated COCOeval, on the images at
        ``picks`` (positions in its image list, repeats allowed: a bootstrap resample) or on all of them."""
        if picks is not None:
            n_img = len(ev._paramsEval.imgIds)
            n_area = len(ev._paramsEval.areaRng)
            n_cat = len(ev._paramsEval.catIds)
            base = ev.evalImgs
            ev.evalImgs = [base[k * n_area * n_img + a * n_img + i]
                           for k in range(n_cat) for a in range(n_area) for i in picks]
            saved = ev._paramsEval.imgIds, ev.params.imgIds
            ids = [saved[0][i] for i in picks]
            ev._paramsEval.imgIds = ev.params.imgIds = ids
            try:
                _quiet(ev.accumulate)
            finally:
                ev.evalImgs = base
                ev._paramsEval.imgIds, ev.params.imgIds = saved
        else:
            _quiet(ev.accumulate)
        precision = ev.eval["precision"][:, :, :, 0, 0]  # IoU x recall x class (area all, 100 detections)
        ap50 = ev.eval["precision"][0, :, :, 0, 0]
        return _mean_valid(precision), _mean_valid(ap50)

    def score(self, detections: list[np.ndarray], reference: list[np.ndarray] | None = None,
              seed: int = 0) -> dict[str, Any]:
        """mAP and AP50 with their 95% intervals; with ``reference`` (FP32's detections on the same images),
        the paired change in mAP and AP50 and its interval (the same resampled images for both)."""
        ev = self.evaluated(detections)
        mean_ap, ap50 = self.summary(ev)
        ref_ev = self.evaluated(reference) if reference is not None else None
        ref = self.summary(ref_ev) if ref_ev is not None else None
        rng = np.random.default_rng(seed)
        n = len(self.image_ids)
        draws, diffs = [], []
        for _ in range(BOOTSTRAP if n > 1 else 0):
            picks = rng.integers(0, n, n)
            value = self.summary(ev, picks)
            draws.append(value)
            if ref_ev is not None:
                other = self.summary(ref_ev, picks)
                diffs.append((value[0] - other[0], value[1] - other[1]))
        result: dict[str, Any] = {
            "images": n, "metric": "map", "map": mean_ap, "ap50": ap50,
            "map_ci95": percentile_interval([d[0] for d in draws]),
            "ap50_ci95": percentile_interval([d[1] for d in draws]),
            "detections": int(sum(len(d) for d in detections)),
            "scorer": "pycocotools COCOeval (bbox), on the evaluated images only",
            "interval": f"percentile bootstrap over images ({BOOTSTRAP} resamples)",
        }
        if ref is not None:
            ci = percentile_interval([d[0] for d in diffs])
            result["vs_reference"] = {"map_change": {
                "delta": mean_ap - ref[0], "ci95": ci,
                "ap50_delta": ap50 - ref[1], "ap50_ci95": percentile_interval([d[1] for d in diffs]),
                "test": "paired bootstrap over images", "verdict": change_verdict(ci)}}
        return result


FIDELITY_SCORE = 0.3  # FP32 detections at least this confident are the truth a deployment is scored against


def fidelity(detections: list[np.ndarray], reference: list[np.ndarray], geometry: list,
             min_score: float = FIDELITY_SCORE) -> dict[str, Any]:
    """A deployment's detections scored with FP32's as the ground truth (those scoring at least ``min_score``):
    COCO mAP and AP50 by pycocotools, so INT8's damage is measured on images without labels."""
    from pycocotools.coco import COCO

    classes = sorted({int(c) for dets in [*detections, *reference] for c in dets[:, 5]}) or [0]
    images = [{"id": i, "width": int(g[4]), "height": int(g[5])} for i, g in enumerate(geometry)]
    annotations = [{"id": k + 1, "image_id": i, "category_id": int(row[5]), "bbox": [float(v) for v in row[:4]],
                    "area": float(row[2] * row[3]), "iscrowd": 0}
                   for k, (i, row) in enumerate((i, row) for i, dets in enumerate(reference) for row in dets
                                                if row[4] >= min_score)]
    against = f"FP32's detections scoring at least {min_score:g}"
    if not annotations:
        return {"map": None, "ap50": None, "images": len(images), "truth_boxes": 0, "against": against,
                "note": f"FP32 made no detection scoring at least {min_score:g} on these images: nothing to score "
                        "against (random weights, or a model that does not know these images)"}
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": c} for c in classes]}
    _quiet(gt.createIndex)
    scorer = CocoScorer(gt, list(range(len(images))), list(range(max(classes) + 1)))
    mean_ap, ap50 = scorer.summary(scorer.evaluated(detections))
    return {"map": mean_ap, "ap50": ap50, "images": len(images), "truth_boxes": len(annotations), "against": against}


def _empty_results(gt):
    from pycocotools.coco import COCO

    dt = COCO()
    dt.dataset = {"images": list(gt.dataset["images"]), "annotations": [], "categories": gt.dataset["categories"]}
    _quiet(dt.createIndex)
    return dt


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else math.nan




def detect_all(infer, crops: np.ndarray, pre, batch_size: int, geometry: list, post: Postprocess):
    """Every image's detections from ``infer``'s raw outputs at the cell's batch size, and the milliseconds of
    decoding + NMS per image (timed apart from the model call: it is the deployer's code, not the runtime's)."""
    import time

    from edgebench.data.evalset import batches

    input_hw = tuple(int(d) for d in pre.input_size[1:])
    detections, post_ms = [], []
    index = 0
    for batch, real in batches(crops, pre, batch_size):
        raw = np.asarray(infer(batch))
        for i in range(real):
            started = time.perf_counter_ns()
            detections.append(post.detections(raw[i], input_hw, Geometry.from_list(geometry[index])))
            post_ms.append((time.perf_counter_ns() - started) / 1e6)
            index += 1
    return detections, post_ms


def pack(detections: list[np.ndarray]) -> np.ndarray:
    """Per-image detections → one (rows, 7) array: image position, x, y, w, h, score, class."""
    rows = [np.concatenate([np.full((len(d), 1), i, np.float32), d.astype(np.float32)], axis=1)
            for i, d in enumerate(detections)]
    return np.concatenate(rows) if rows else np.zeros((0, 7), np.float32)


def unpack(packed: np.ndarray, images: int) -> list[np.ndarray]:
    position = packed[:, 0].astype(np.int64)
    return [packed[position == i, 1:] for i in range(images)]


def scorer(eval_ref: dict[str, Any], post: Postprocess) -> CocoScorer:
    """The scorer of an evaluation set's reference (``annotations``, ``category_ids``, image ids as labels), with
    the model's class indices mapped to category ids as its postprocessing says."""
    from pycocotools.coco import COCO

    gt = _quiet(lambda: COCO(eval_ref["annotations"]))
    return CocoScorer(gt, [int(v) for v in eval_ref["labels"]], post.category_ids(eval_ref["category_ids"]))


def postprocess_summary(post_ms: list[float], post: Postprocess) -> dict[str, Any]:
    values = np.asarray(post_ms) if post_ms else np.zeros(1)
    return {"p50": float(np.median(values)), "mean": float(values.mean()), "n": len(post_ms), "unit": "ms",
            "holds": f"{post.decoder} decode + class-wise NMS (IoU {post.nms_iou:g}) per image, numpy",
            **{k: v for k, v in post.to_dict().items() if k != "decoder"}}
