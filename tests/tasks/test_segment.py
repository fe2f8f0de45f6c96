"""Segmentation: VOC ground truth drawn from COCO instance masks as torchvision's references draw it, mIoU and
pixel accuracy pooled over pixels with bootstrap intervals, and two real LiteRT segmenters (DeepLabV3, a
selfie segmenter) against the hand-measured figures in ../shared/data/README.md."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO

SHARED = (REPO / ".." / "shared").resolve()
COCO = SHARED / "data" / "coco-val-80"
DEEPLAB = SHARED / "models" / "deeplabv3_257_mv_gpu.tflite"
SELFIE = SHARED / "models" / "selfie_segmentation.tflite"
needs_shared = pytest.mark.skipif(not (COCO.exists() and DEEPLAB.exists() and SELFIE.exists()),
                                  reason=f"the shared COCO images and LiteRT segmenters are not at {SHARED}")


def test_confusion_and_miou_count_pixels_and_skip_the_ignored():
    from edgebench.tasks.segment import IGNORE, confusion, miou, score

    target = np.array([[0, 0, 1, 1], [0, 0, 1, IGNORE]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [0, 0, 0, 1]], np.uint8)
    matrix = confusion(pred, target, 3)
    assert matrix.tolist() == [[3, 1, 0], [1, 2, 0], [0, 0, 0]]
    mean_iou, accuracy, iou = miou(matrix)
    assert iou[0] == pytest.approx(3 / 5) and iou[1] == pytest.approx(2 / 4) and np.isnan(iou[2])
    assert mean_iou == pytest.approx((3 / 5 + 2 / 4) / 2) and accuracy == pytest.approx(5 / 7)
    same = score([matrix, matrix], [matrix, matrix], names=("a", "b", "c"))
    assert same["vs_reference"]["miou_change"]["delta"] == 0 and same["iou"]["c"] is None
    perfect = confusion(target.clip(0, 1), target, 3)
    better = score([perfect, perfect], [matrix, matrix], names=("a", "b", "c"))
    assert better["vs_reference"]["miou_change"]["delta"] > 0


def _litert(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=2)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    out = interpreter.get_output_details()[0]

    def run(image: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(inp["index"], image[None].astype(np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])[0]
    return run, tuple(inp["shape"][1:3])


def _images():
    from pycocotools.coco import COCO as Coco

    from edgebench.data.layouts import open_dataset

    dataset = open_dataset(COCO)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        gt = Coco(dataset.annotations)
    return dataset, gt


def _stretched(path: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR), np.float32)


def _matrices(model, scale, target_of, classes: int, threshold: float | None = None, keep=lambda anns: True):
    """Each shared COCO image (whose annotations ``keep`` accepts) through a LiteRT segmenter, stretched to its
    input and scaled by ``scale``, scored against ``target_of(gt, image_id)``: one confusion matrix per image."""
    from edgebench.tasks.segment import confusion, predict_classes

    run, size = _litert(model)
    dataset, gt = _images()
    matrices = []
    for path, image_id in dataset.samples:
        if keep(gt.imgToAnns[image_id]):
            target = target_of(gt, image_id)
            scores = run(scale(_stretched(path, size)))
            matrices.append(confusion(predict_classes(scores, target.shape, threshold), target, classes))
    return matrices


@needs_shared
def test_deeplabv3_on_coco_with_voc_classes_matches_the_hand_measurement():
    from edgebench.tasks.segment import score, voc_target

    result = score(_matrices(DEEPLAB, lambda x: (x - 127.5) / 127.5, voc_target, 21))
    assert result["miou"] == pytest.approx(0.253, abs=0.01) and result["pixel_accuracy"] == pytest.approx(0.865, abs=0.01)
    assert result["iou"]["person"] == pytest.approx(0.54, abs=0.02)
    assert result["miou_ci95"][0] < result["miou"] < result["miou_ci95"][1]


@needs_shared
def test_the_selfie_segmenter_scores_its_person_iou():
    from edgebench.tasks.segment import person_target, score

    matrices = _matrices(SELFIE, lambda x: x / 255.0, person_target, 2, threshold=0.5,
                         keep=lambda anns: any(a["category_id"] == 1 for a in anns))
    assert len(matrices) == 49
    result = score(matrices, names=("background", "person"))
    assert result["iou"]["person"] == pytest.approx(0.523, abs=0.01)
