"""``tflite:<path>`` models: a user's own LiteRT (TensorFlow Lite) file, measured on LiteRT as it is.

The input shape comes from the file (NHWC, as LiteRT models take it, or NCHW), the preprocessing and the task from
options or a YAML file beside the model (``model.yaml`` next to ``model.tflite``; the keys of an ``onnx:`` model's
YAML). A LiteRT file runs on LiteRT alone: no maintained converter from LiteRT to ONNX runs here (tf2onnx's
``--tflite`` needs TensorFlow), and its precision is the file's own (INT8 or FP16 builds need the float model it
was converted from).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.errors import ConfigError
from edgebench.models.onnx_file import _sidecar, published_reference, task_settings
from edgebench.models.spec import ModelSpec, Preprocess

VOC_CLASSES = 21


def read_io(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The file's one input (shape, dtype, whether its batch is dynamic) and its outputs' names."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ConfigError("tflite: models need the LiteRT interpreter: pip install 'edgebench[litert]'") from exc
    try:
        interpreter = Interpreter(model_path=str(path))
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path} is not a LiteRT model the interpreter can read ({first})") from None
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise ConfigError(f"{path} has {len(inputs)} inputs; edgebench benchmarks image models with exactly one input")
    detail = inputs[0]
    return ({"name": detail["name"], "shape": [int(d) for d in detail["shape"]],
             "dynamic_batch": int(detail.get("shape_signature", detail["shape"])[0]) == -1},
            [o["name"] for o in interpreter.get_output_details()])


def tflite_spec(path_text: str, options: dict[str, Any]) -> ModelSpec:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ConfigError(f"LiteRT file {path} does not exist; give the path of a .tflite file, e.g. "
                          "tflite:models/net.tflite")
    given = options.get("model_config")
    settings = {**_sidecar(path, given), **{k: v for k, v in options.items() if v is not None and k != "model_config"}}
    yaml_name = Path(given).name if given else path.with_suffix(".yaml").name
    io, outputs = read_io(path)
    shape = io["shape"]
    if len(shape) != 4:
        raise ConfigError(f"{path}: its input is {shape}; edgebench benchmarks image models with an NHWC or NCHW input")
    chw = (shape[3], shape[1], shape[2]) if shape[3] in (1, 3) and shape[1] not in (1, 3) else tuple(shape[1:])
    if settings.get("input_shape") is not None:
        raise ConfigError(f"{path}: a LiteRT file fixes its input shape ({'x'.join(map(str, shape))}); remove "
                          f"input_shape from {yaml_name} or --input-shape")
    output_name = settings.get("output_name")
    if output_name is not None and output_name not in outputs:
        raise ConfigError(f"{path} has no output {output_name!r}; its outputs are {', '.join(outputs)}")
    task, postprocess = task_settings(settings, path, yaml_name)
    preprocess = Preprocess.from_dict({**settings, "input_size": chw})
    classes = settings.get("num_classes") or (VOC_CLASSES if task == "segment" and (postprocess or {}).get(
        "segment_labels", "voc") == "voc" else 2 if task == "segment" else 1000)
    return ModelSpec(id=f"tflite:{path}", source="tflite", name=str(path.resolve()), preprocess=preprocess, task=task,
                     num_classes=int(classes), input_name=io["name"], output_name=output_name, postprocess=postprocess,
                     fixed_batch=None if io["dynamic_batch"] else shape[0],
                     reference=published_reference(settings, yaml_name))
