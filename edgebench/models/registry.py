"""Model ids (``timm:<name>``, ``torchvision:<name>``, ``transformers:<hub id>``, ``onnx:<path>``, ``tflite:<path>``)
and the built-in suites."""
from __future__ import annotations

import difflib
from typing import Any

from edgebench.errors import ConfigError
from edgebench.models.spec import SOURCES, ModelSpec, Preprocess
from edgebench.reference import reference_for_timm, reference_rows

QUICK_SUITE = ("timm:mobilenetv2_100", "timm:resnet18", "torchvision:mobilenet_v3_small")
# A detector, a segmenter per torchvision family and a depth model: latency, size and fidelity to FP32 on every
# runtime (their hubs are unreachable offline: random weights, said; a user's own detector or LiteRT file joins with
# --model).
TASKS_SUITE = ("torchvision:ssdlite320_mobilenet_v3_large", "torchvision:lraspp_mobilenet_v3_large",
               "torchvision:deeplabv3_mobilenet_v3_large",
               "transformers:depth-anything/Depth-Anything-V2-Small-hf")
SUITE_HELP = {
    "quick": "three small models (the default of `edgebench run`)",
    "tasks": "a detector and two segmenters (torchvision) and a depth model (Depth Anything V2 Small, transformers)",
    "seed-table": "the reference table's models through their timm equivalents, in its order",
}


def list_suites() -> dict[str, str]:
    return dict(SUITE_HELP)


def resolve_suite(name: str) -> list[ModelSpec]:
    """The models of a built-in suite; reference rows with no implementation stay in, marked unavailable."""
    if name == "quick":
        return [resolve_model(model_id) for model_id in QUICK_SUITE]
    if name == "tasks":
        return [resolve_model(model_id) for model_id in TASKS_SUITE]
    if name == "seed-table":
        specs = []
        for row in reference_rows():
            if row["timm_equivalent"]:
                specs.append(resolve_model(f"timm:{row['timm_equivalent']}"))
            else:
                specs.append(ModelSpec(
                    id=f"reference:{row['model']}", source="reference", name=row["model"],
                    reference=dict(row), available=False,
                    unavailable_reason="no implementation available (timm has no equivalent of this model)",
                ))
        return specs
    raise ConfigError(_unknown("suite", name, list(SUITE_HELP)))


def resolve_model(model_id: str, onnx_options: dict[str, Any] | None = None) -> ModelSpec:
    """Turn a model id into a ModelSpec, with a clear error (and close matches) when it is unknown."""
    source, sep, name = model_id.partition(":")
    if not sep:
        raise ConfigError(
            f"model {model_id!r} needs a source prefix: one of "
            + ", ".join(f"{s}:<name>" for s in SOURCES) + f" (for example timm:{model_id})"
        )
    if source == "timm":
        return _timm_spec(name)
    if source == "torchvision":
        return _torchvision_spec(name)
    if source == "transformers":
        from edgebench.models.transformers_models import transformers_spec

        return transformers_spec(name)
    if source == "onnx":
        from edgebench.models.onnx_file import onnx_spec

        return onnx_spec(name, onnx_options or {})
    if source == "tflite":
        from edgebench.models.tflite_file import tflite_spec

        return tflite_spec(name, onnx_options or {})
    raise ConfigError(_unknown("model source", source, list(SOURCES)))


def _unknown(what: str, name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return f"unknown {what} {name!r}.{hint}"


def _timm_spec(name: str) -> ModelSpec:
    try:
        import timm
    except ImportError as exc:
        raise ConfigError("timm models need timm and torch: pip install 'edgebench[export]'") from exc
    names = timm.list_models()
    if name not in names:
        raise ConfigError(_unknown("timm model", name, names) + " List them with: python -c 'import timm; print(timm.list_models())'")
    cfg = timm.get_pretrained_cfg(name)
    cfg = cfg.to_dict() if cfg is not None else {}
    preprocess = Preprocess(
        input_size=tuple(cfg.get("input_size", (3, 224, 224))),
        interpolation=cfg.get("interpolation", "bicubic") or "bicubic",
        crop_pct=float(cfg.get("crop_pct", 0.875) or 0.875),
        mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),
    )
    return ModelSpec(id=f"timm:{name}", source="timm", name=name, preprocess=preprocess,
                     num_classes=int(cfg.get("num_classes", 1000) or 1000), reference=reference_for_timm(name))


def _torchvision_segmenter(name: str) -> ModelSpec:
    """A torchvision segmentation model: its weights' transforms resize the shorter side to 520 px and keep the
    aspect ratio (a shape per image); a deployment takes one shape, so the image is stretched to 520 x 520, its
    logits (21 VOC classes, at the input's size) resized back to the image."""
    import torchvision.models as tvm

    weights = tvm.get_model_weights(name).DEFAULT
    transforms = weights.transforms()
    size = int(transforms.resize_size[0])
    (dataset, metrics), = weights.meta["_metrics"].items()
    reference = {"miou": metrics["miou"], "pixel_accuracy": metrics["pixel_acc"], "dataset": dataset,
                 "params_m": weights.meta["num_params"] / 1e6, "source": f"torchvision {weights} meta (published)"}
    preprocess = Preprocess(input_size=(3, size, size), interpolation=str(transforms.interpolation.value),
                            resize="stretch", mean=tuple(transforms.mean), std=tuple(transforms.std))
    return ModelSpec(id=f"torchvision:{name}", source="torchvision", name=name, preprocess=preprocess,
                     task="segment", num_classes=21, postprocess={"segment_labels": "voc"}, reference=reference)


def _torchvision_spec(name: str) -> ModelSpec:
    try:
        import torchvision.models as tvm
    except ImportError as exc:
        raise ConfigError("torchvision models need torchvision: pip install 'edgebench[export]'") from exc
    names = tvm.list_models(module=tvm)  # classification models
    segmenters = tvm.list_models(module=tvm.segmentation)
    detectors = tvm.list_models(module=tvm.detection)
    if name in segmenters:
        return _torchvision_segmenter(name)
    if name in detectors:
        from edgebench.models.torchvision_detect import detector_spec

        return detector_spec(name)
    if name not in names:
        raise ConfigError(_unknown("torchvision classification, detection or segmentation model", name,
                                   names + segmenters + detectors))
    weights = tvm.get_model_weights(name).DEFAULT
    transforms = weights.transforms()
    crop = int(transforms.crop_size[0])
    resize = int(transforms.resize_size[0])
    preprocess = Preprocess(
        input_size=(3, crop, crop),
        interpolation=str(transforms.interpolation.value),
        crop_pct=crop / resize,
        mean=tuple(transforms.mean),
        std=tuple(transforms.std),
    )
    return ModelSpec(id=f"torchvision:{name}", source="torchvision", name=name, preprocess=preprocess,
                     num_classes=len(weights.meta.get("categories") or []) or 1000)
