"""torchvision's SSD detectors (``ssdlite320_mobilenet_v3_large``, ``ssd300_vgg16``) as deployable graphs.

torchvision's ``SSD.forward`` takes a list of images, resizes and normalises them inside the model, and ends in a
per-image loop of thresholds, top-k and NMS: none of it exports to a fixed-shape graph. A deployment runs what lies
between: the backbone and the head, with the head's box offsets decoded against the model's own anchors (its
``anchor_generator`` and ``box_coder``, run once for the fixed input size) and its class logits turned into
probabilities (softmax over the classes, index 0 the background). The graph's one output, per image, is
``(anchors, 4 + classes)``: x1, y1, x2, y2 in input pixels (clipped to the input), then the class scores. The
resize and normalisation become edgebench's preprocessing (a stretch to the fixed size, the model's mean/std) and
the selection torchvision does in ``postprocess_detections`` is the ``ssd`` decoder (edgebench.tasks.detect),
the same numpy for every runtime. The decoding ops after the head's last convolutions stay in float in INT8
builds (edgebench.quantize.float_tail).
"""
from __future__ import annotations

from typing import Any

from edgebench.errors import ConfigError

SSD_DETECTORS = ("ssdlite320_mobilenet_v3_large", "ssd300_vgg16")


def build_detector(name: str, pretrained: bool):
    import torchvision.models as tvm

    weights = tvm.get_model_weights(name).DEFAULT if pretrained else None
    # Without its weights it must not fetch its backbone's ImageNet ones either (the builders' default).
    return tvm.get_model(name, weights=weights, **({} if pretrained else {"weights_backbone": None})).eval()


def detector_spec(name: str):
    """The ModelSpec of a torchvision SSD detector: its fixed input size, mean/std and torchvision's own selection
    settings (score threshold, per-class top-k, NMS IoU, detections per image), and the published box mAP."""
    import torchvision.models as tvm

    from edgebench.models.spec import ModelSpec, Preprocess

    if name not in SSD_DETECTORS:
        others = [m for m in tvm.list_models(module=tvm.detection) if m not in SSD_DETECTORS]
        raise ConfigError(f"torchvision:{name} is not supported: of torchvision's detectors, only the single-stage SSD "
                          f"family ({', '.join(SSD_DETECTORS)}) exports to a fixed-shape graph here"
                          + (f" ({', '.join(others[:3])}, ... select and resize inside the model)" if others else ""))
    module = build_detector(name, pretrained=False)
    transform = module.transform
    height, width = transform.fixed_size
    weights = tvm.get_model_weights(name).DEFAULT
    (dataset, metrics), = weights.meta["_metrics"].items()
    reference = {"map": metrics["box_map"], "dataset": dataset, "params_m": weights.meta["num_params"] / 1e6,
                 "source": f"torchvision {weights} meta (published)"}
    preprocess = Preprocess(input_size=(3, int(height), int(width)), interpolation="bilinear", resize="stretch",
                            mean=tuple(float(v) for v in transform.image_mean),
                            std=tuple(float(v) for v in transform.image_std))
    postprocess = {"decoder": "ssd", "score_threshold": float(module.score_thresh), "nms_iou": float(module.nms_thresh),
                   "max_det": int(module.detections_per_img), "topk": int(module.topk_candidates),
                   "class_ids": "coco"}
    return ModelSpec(id=f"torchvision:{name}", source="torchvision", name=name, preprocess=preprocess, task="detect",
                     num_classes=len(weights.meta["categories"]), postprocess=postprocess,
                     reference=reference)


def SsdOutputs(model, input_hw: tuple[int, int]):
    """The deployable part of a torchvision ``SSD``: image batch → (N, anchors, 4 + classes), boxes decoded against
    the anchors of ``input_hw`` and clipped to it, scores softmaxed (see the module's docstring)."""
    import torch
    from torchvision.models.detection.image_list import ImageList

    height, width = input_hw
    with torch.no_grad():
        probe = torch.zeros(1, 3, height, width)
        features = _features(model, probe)
        anchors = model.anchor_generator(ImageList(probe, [(height, width)]), features)[0]

    class _Ssd(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model
            self.register_buffer("anchors", anchors.clone(), persistent=False)

        def forward(self, x):
            head = self.inner.head(_features(self.inner, x))
            regression, logits = head["bbox_regression"], head["cls_logits"]
            batch, count = regression.shape[0], regression.shape[1]
            boxes = self.inner.box_coder.decode_single(regression.reshape(-1, 4),
                                                       self.anchors.repeat(batch, 1)).reshape(batch, count, 4)
            limit = torch.tensor([width, height, width, height], dtype=boxes.dtype)
            boxes = torch.minimum(boxes.clamp(min=0), limit)
            return torch.cat([boxes, torch.softmax(logits, dim=-1)], dim=-1)

    return _Ssd().eval()


def _features(model, x) -> list[Any]:
    features = model.backbone(x)
    return [features] if not isinstance(features, dict) else list(features.values())
