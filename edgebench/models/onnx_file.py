"""``onnx:<path>`` models: a user's own ONNX file, its input shape and preprocessing.

Shape and preprocessing come from options or from a YAML file beside the model (``model.yaml`` next to
``model.onnx``); options win over the YAML.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.errors import ConfigError
from edgebench.models.spec import POSITIONS, RESIZES, TASKS, ModelSpec, Preprocess
from edgebench.tasks.depth import OUTPUTS
from edgebench.tasks.detect import CLASS_IDS, DECODERS
from edgebench.tasks.segment import SEGMENT_LABELS

YAML_KEYS = ("input_shape", "input_name", "output_name", "num_classes", "interpolation", "crop_pct", "mean", "std",
             "channel_order", "task", "resize", "pad_value", "position", "scale", "decoder", "score_threshold", "nms_iou",
             "max_det", "topk", "class_ids", "segment_labels", "threshold", "depth_output", "published")
# The keys that say how each task's raw output is read (the spec's ``postprocess``).
TASK_KEYS = {"classify": (), "detect": ("decoder", "score_threshold", "nms_iou", "max_det", "topk", "class_ids"),
             "segment": ("segment_labels", "threshold"), "depth": ("depth_output",)}
POSTPROCESS_KEYS = tuple(k for keys in TASK_KEYS.values() for k in keys)


def parse_shape(text: str) -> tuple[int, ...]:
    """``1x3x224x224`` or ``3,224,224`` → a tuple of ints."""
    parts = text.replace(",", "x").lower().split("x")
    try:
        shape = tuple(int(p) for p in parts if p.strip())
    except ValueError:
        raise ConfigError(f"input shape {text!r} is not a list of integers; write it like 1x3x224x224") from None
    if len(shape) not in (3, 4) or any(d <= 0 for d in shape):
        raise ConfigError(f"input shape {text!r} must be C,H,W or N,C,H,W with positive sizes, e.g. 1x3x224x224")
    return shape


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# What each sidecar key must hold, and an example of it.
YAML_TYPES = {
    "input_shape": (lambda v: isinstance(v, str) or (isinstance(v, list) and all(isinstance(d, int) for d in v)),
                    "1x3x224x224 or [1, 3, 224, 224]"),
    "input_name": (lambda v: isinstance(v, str), "input"),
    "output_name": (lambda v: isinstance(v, str), "logits"),
    "num_classes": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "1000"),
    "interpolation": (lambda v: isinstance(v, str), "bilinear"),
    "crop_pct": (_is_number, "0.875"),
    "mean": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "[0.485, 0.456, 0.406]"),
    "std": (lambda v: isinstance(v, list) and all(_is_number(x) and x > 0 for x in v), "[0.229, 0.224, 0.225]"),
    "channel_order": (lambda v: isinstance(v, str), "RGB"),
    "task": (lambda v: v in TASKS, " or ".join(TASKS)),
    "resize": (lambda v: v in RESIZES, " or ".join(RESIZES)),
    "pad_value": (lambda v: _is_number(v) and 0 <= v <= 255, "114"),
    "position": (lambda v: v in POSITIONS, " or ".join(POSITIONS)),
    "scale": (lambda v: _is_number(v) and v > 0, "255 (inputs in 0-1) or 1 (inputs in 0-255)"),
    "decoder": (lambda v: v in DECODERS, " or ".join(DECODERS)),
    "score_threshold": (lambda v: _is_number(v) and 0 <= v < 1, "0.001"),
    "nms_iou": (lambda v: _is_number(v) and 0 < v <= 1, "0.65"),
    "max_det": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "100"),
    "topk": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "300 (ssd: candidates per class)"),
    "class_ids": (lambda v: v in CLASS_IDS, " or ".join(CLASS_IDS)),
    "segment_labels": (lambda v: v in SEGMENT_LABELS, " or ".join(SEGMENT_LABELS)),
    "threshold": (lambda v: _is_number(v) and 0 < v < 1, "0.5"),
    "depth_output": (lambda v: v in OUTPUTS, " or ".join(OUTPUTS)),
    # The model's published figures (a reference column beside the measured ones, never a measurement): the task's
    # figures in points (map, ap50, miou, delta1, top1, ...), ``dataset`` and ``source`` as text.
    "published": (lambda v: isinstance(v, dict) and bool(v) and all(
        isinstance(k, str) and (_is_number(x) or (k in ("dataset", "source") and isinstance(x, str)))
        for k, x in v.items()), "{map: 25.8, dataset: COCO val2017, source: the model's paper}"),
}


def published_reference(settings: dict[str, Any], yaml_name: str) -> dict[str, Any] | None:
    """The reference a model's YAML gives (``published``), said to come from it."""
    published = settings.get("published")
    if not published:
        return None
    return {**published, "source": published.get("source") or f"{yaml_name} (published)"}


def task_settings(settings: dict[str, Any], path: Path, yaml_name: str) -> tuple[str, dict[str, Any] | None]:
    """The task a sidecar names and its postprocessing keys, checked: each key belongs to the task named."""
    task = settings.get("task") or "classify"
    postprocess = {k: settings[k] for k in POSTPROCESS_KEYS if settings.get(k) is not None}
    stray = sorted(k for k in postprocess if k not in TASK_KEYS[task])
    if stray:
        owners = sorted({t for t, keys in TASK_KEYS.items() for k in stray if k in keys})
        raise ConfigError(f"{path}: {', '.join(stray)} apply to task {' or '.join(owners)}, not {task}; add "
                          f"task: {owners[0]} to {yaml_name} or remove them")
    if task == "detect" and "decoder" not in postprocess:
        raise ConfigError(f"{path}: a detector needs its output decoder; add decoder: {' or '.join(DECODERS)} "
                          f"to {yaml_name}")
    return task, postprocess or None


def _sidecar(path: Path, given: str | None = None) -> dict[str, Any]:
    yaml_path = Path(given).expanduser() if given else path.with_suffix(".yaml")
    if given and not yaml_path.is_file():
        raise ConfigError(f"model config {yaml_path} does not exist; give a YAML file of 'key: value' lines")
    if not yaml_path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(yaml_path.read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{yaml_path} is not a text file; it should be YAML with keys among {', '.join(YAML_KEYS)}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{yaml_path} is not valid YAML{at} ({getattr(exc, 'problem', None) or 'syntax error'}); "
                          f"write it as 'key: value' lines with keys among {', '.join(YAML_KEYS)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{yaml_path} must be a mapping ('key: value' lines), not a YAML {type(data).__name__}; "
                          f"keys among {', '.join(YAML_KEYS)}")
    unknown = sorted(str(k) for k in set(data) - set(YAML_KEYS))
    if unknown:
        raise ConfigError(f"{yaml_path}: unknown keys {unknown}; allowed keys are {', '.join(YAML_KEYS)}")
    for key, value in data.items():
        valid, example = YAML_TYPES[key]
        if value is not None and not valid(value):
            raise ConfigError(f"{yaml_path}: {key} is {value!r}; write it like {key}: {example}")
    return data


def onnx_spec(path_text: str, options: dict[str, Any]) -> ModelSpec:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ConfigError(f"ONNX file {path} does not exist; give the path of a .onnx file, e.g. onnx:models/net.onnx")
    try:
        import onnx
    except ImportError as exc:
        raise ConfigError("onnx: models need the onnx package: pip install onnx") from exc
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(str(path))
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path} is not a valid ONNX model ({first}); re-export it or check the file") from None
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ConfigError(f"{path} has {len(inputs)} inputs; edgebench benchmarks image models with exactly one input")
    graph_input = inputs[0]
    dims = [d.dim_value if d.HasField("dim_value") else None for d in graph_input.type.tensor_type.shape.dim]

    given = options.get("model_config")
    settings = {**_sidecar(path, given), **{k: v for k, v in options.items() if v is not None and k != "model_config"}}
    yaml_name = Path(given).name if given else path.with_suffix(".yaml").name
    if settings.get("input_shape") is not None:
        shape = settings["input_shape"]
        shape = parse_shape(shape if isinstance(shape, str) else "x".join(str(d) for d in shape))
    elif len(dims) == 4 and all(d for d in dims[1:]):
        shape = tuple(dims)
    else:
        raise ConfigError(
            f"{path} does not fix its input size ({dims}); give it with --input-shape 1x3x224x224 "
            f"or input_shape in {yaml_name}"
        )
    chw = tuple(int(d) for d in shape[-3:])
    if len(dims) == 4 and any(d and d != s for d, s in zip(dims[1:], chw)):
        model_shape = "x".join(str(d or "N") for d in dims)
        raise ConfigError(f"input shape {'x'.join(map(str, shape))} (read as C,H,W {chw}) does not match the "
                          f"model's input {model_shape}; give it as NxCxHxW, e.g. {model_shape.replace('N', '1')}")
    fixed_batch = dims[0] if len(dims) == 4 and dims[0] else None
    out_dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] if model.graph.output else []
    if "num_classes" not in settings and len(out_dims) == 2 and out_dims[1]:
        settings["num_classes"] = out_dims[1]  # a classifier's (N, classes) output says how many classes
    preprocess = Preprocess.from_dict({**settings, "input_size": chw})
    task, postprocess = task_settings(settings, path, yaml_name)
    return ModelSpec(
        id=f"onnx:{path}", source="onnx", name=str(path.resolve()), preprocess=preprocess, task=task,
        num_classes=int(settings.get("num_classes") or 1000), input_name=graph_input.name, fixed_batch=fixed_batch,
        postprocess=postprocess, output_name=settings.get("output_name"),
        reference=published_reference(settings, yaml_name),
    )
