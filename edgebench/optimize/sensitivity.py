"""Layer sensitivity: which quantised layers lose the most signal, measured with ONNX Runtime's own
quantisation debugger (``onnxruntime.quantization.qdq_loss_debug``).

The FP32 model and a QDQ copy of it (ONNX Runtime's static INT8 recipe with the given settings) run on the
same calibration images with every intermediate tensor saved. For each quantised compute node, three
signal-to-quantisation-noise ratios (dB, higher is better):

- ``activation_sqnr_db``: its activation input before vs after its QuantizeLinear/DequantizeLinear pair in
  the QDQ model (the local error of quantising what it reads; the worst input when it reads several);
- ``weight_sqnr_db``: its float weight vs the dequantised INT8 weight;
- ``output_sqnr_db``: its (dequantised) output in the QDQ model vs the same tensor of the float model, so
  the error accumulated from every layer before it.

``score_db`` is the lower of the local ones: the layers with the lowest scores are the candidates to keep in
float (``QuantOptions.exclude_nodes``). Errors are accumulated over images as sums of squares, so the
images are run in small groups and never all held in memory (32 MobileNet images with every tensor saved
would be gigabytes).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.export.onnx_export import INPUT_NAME
from edgebench.models.spec import ModelSpec

MAX_IMAGES = 32  # enough for stable SQNRs; each image runs both models with every tensor saved
GROUP_MB = 512  # saved tensors of one group of images (both models) stay under this
METHOD = ("onnxruntime.quantization.qdq_loss_debug: SQNR (dB) of each quantised node's activation input "
          "(pre vs post QDQ), weight (float vs dequantised) and output (QDQ model vs float model); "
          "score = min(activation, weight)")
# Nodes that only move or select data: ONNX Runtime gives them their input's scale, so keeping one in float
# saves nothing; they are not ranked.
DATA_MOVEMENT = frozenset({"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
                           "Gather", "MaxPool", "Resize", "Identity", "Expand", "Tile", "Pad", "DepthToSpace",
                           "SpaceToDepth", "QuantizeLinear", "DequantizeLinear"})


# The build job (``LocalBuild.run_builder``) that ranks the layers, named as the worker imports it.
BUILDER = "edgebench.optimize.sensitivity:sensitivity_job"


def sensitivity_job(job: dict[str, Any]) -> dict[str, Any]:
    """The build job: ``layer_sensitivity`` of the job's ONNX ``source`` on its ``calibration`` crops with ONNX
    Runtime static INT8 ``settings``, its files in ``out_dir``; returns ``{"sensitivity": ...}``."""
    return {"sensitivity": layer_sensitivity(job["source"]["path"], ModelSpec.from_dict(job["model"]),
                                             job["calibration"], Path(job["out_dir"]), job["settings"])}


def layer_sensitivity(onnx_path: str, spec: ModelSpec, calib_ref: dict[str, Any], out_dir: Path,
                      settings: dict[str, Any], max_images: int = MAX_IMAGES) -> dict[str, Any]:
    """The quantised compute nodes of ``onnx_path`` ranked most sensitive first (lowest ``score_db``).

    ``settings`` are ONNX Runtime static INT8 settings as ``OrtStaticInt8.settings()`` names them; the copy
    is always QDQ (the debugger reads QuantizeLinear/DequantizeLinear pairs)."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (compute_weight_error, create_weight_matching,
                                                         modify_model_output_intermediate_tensors)

    from edgebench.data.evalset import load_crops
    from edgebench.quantize.base import CalibrationData
    from edgebench.quantize.onnxruntime import quantize_qdq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    crops = load_crops(calib_ref)[:max_images]
    s = {**settings, "format": "QDQ"}
    qdq_path = quantize_qdq(onnx_path, spec, CalibrationData(crops, spec), out_dir, s)
    # The file ONNX Runtime quantised (no stale shapes, maybe pre-processed): its tensor names match the copy's.
    float_path = out_dir / ("preprocessed.onnx" if s.get("preprocess") else "source.onnx")
    augmented = {}
    for name, path in (("float", float_path), ("qdq", qdq_path)):
        augmented[name] = out_dir / f"{name}.saved.onnx"
        modify_model_output_intermediate_tensors(str(path), str(augmented[name]))

    qdq_graph = onnx.load(str(qdq_path)).graph
    layers = _quantised_nodes(qdq_graph, {n.name for n in onnx.load(onnx_path, load_external_data=False).graph.node})
    clamps = _removed_activations(onnx.load(str(float_path)).graph, qdq_graph)
    sums = _activation_sums(augmented, crops, spec, _group_size(float_path), clamps)
    weights = compute_weight_error(create_weight_matching(str(float_path), str(qdq_path)))

    ranked = []
    for layer in layers:
        activation = [_sqnr(*sums["qdq"][t]) for t in layer["activations"] if t in sums["qdq"]]
        output = layer["output"]
        out_sums = sums["xmodel"].get(output) or sums["raw"].get(output)
        row = {"node": layer["node"], "op": layer["op"],
               "activation_sqnr_db": _round(min(activation)) if activation else None,
               "weight_sqnr_db": _round(weights[layer["weight"]]) if layer["weight"] in weights else None,
               "output_sqnr_db": _round(_sqnr(*out_sums)) if out_sums else None}
        local = [v for v in (row["activation_sqnr_db"], row["weight_sqnr_db"]) if v is not None]
        score = min(local) if local else row["output_sqnr_db"]
        if score is None:
            continue  # nothing measured for it (its tensors were not saved)
        ranked.append({**row, "score_db": score})
    ranked.sort(key=lambda r: (r["score_db"], r["node"]))
    for leftover in ("source.onnx", "preprocessed.onnx", "float.saved.onnx", "qdq.saved.onnx"):
        (out_dir / leftover).unlink(missing_ok=True)
    return {"method": METHOD, "images": int(len(crops)), "settings": s, "layers": ranked}


def _quantised_nodes(graph, source_nodes: set[str]) -> list[dict[str, Any]]:
    """Compute nodes of the QDQ graph that read a DequantizeLinear output, with the activation tensors they
    read (names before quantisation), their weight's name and their output; only nodes the source model has
    (what ``exclude_nodes`` can name)."""
    from onnxruntime.quantization.quant_utils import QUANT_INPUT_SUFFIX, TENSOR_NAME_QUANT_SUFFIX

    producer = {out: node for node in graph.node for out in node.output}
    initializers = {init.name for init in graph.initializer}
    found = []
    for node in graph.node:
        if node.op_type in DATA_MOVEMENT or node.name not in source_nodes:
            continue
        activations, weight = [], None
        for index, tensor in enumerate(node.input):
            dq = producer.get(tensor)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            stored = dq.input[0]
            if stored in initializers:
                if index == 1:  # the weight (input 2 is a bias, quantised from it)
                    weight = stored[:-len(TENSOR_NAME_QUANT_SUFFIX)] if stored.endswith(TENSOR_NAME_QUANT_SUFFIX) \
                        else stored
                continue
            q = producer.get(stored)
            if q is not None and q.op_type == "QuantizeLinear":
                name = q.input[0]
                activations.append(name[:-len(QUANT_INPUT_SUFFIX)] if name.endswith(QUANT_INPUT_SUFFIX) else name)
        if activations or weight:
            output = node.output[0]  # a graph output is renamed <name>_QuantizeLinear_Input before its QDQ pair
            output = output[:-len(QUANT_INPUT_SUFFIX)] if output.endswith(QUANT_INPUT_SUFFIX) else output
            found.append({"node": node.name, "op": node.op_type, "activations": activations, "weight": weight,
                          "output": output})
    return found


def _removed_activations(float_graph, qdq_graph) -> dict[str, tuple[float, float]]:
    """Relu/Clip nodes ONNX Runtime removed (U8 activations): the node before them now writes their output
    tensor, unclamped, and the QDQ pair does the clamping. Returns each such tensor's clamp range, applied to
    the pre-QDQ values so that the local error measures quantisation, not the removed activation."""
    from onnx import numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in float_graph.initializer}
    constants.update({n.output[0]: numpy_helper.to_array(a.t) for n in float_graph.node if n.op_type == "Constant"
                      for a in n.attribute if a.name == "value"})
    float_producer = {out: node for node in float_graph.node for out in node.output}
    qdq_producer = {out: node.op_type for node in qdq_graph.node for out in node.output}
    clamps = {}
    for tensor, node in float_producer.items():
        if node.op_type not in ("Relu", "Clip") or qdq_producer.get(tensor, node.op_type) == node.op_type:
            continue
        if node.op_type == "Relu":
            clamps[tensor] = (0.0, math.inf)
            continue
        bounds = [float(constants[name]) if name in constants else None for name in list(node.input[1:3])]
        bounds += [None] * (2 - len(bounds))
        attrs = {a.name: a.f for a in node.attribute}  # opset < 11 keeps them as attributes
        clamps[tensor] = (bounds[0] if bounds[0] is not None else attrs.get("min", -math.inf),
                          bounds[1] if bounds[1] is not None else attrs.get("max", math.inf))
    return clamps


def _group_size(float_path: Path) -> int:
    """Images per group so that the saved tensors of both models (the QDQ model saves about twice the float
    model's) stay under GROUP_MB."""
    import onnx

    from edgebench.quantize.memory import activation_mb_per_image

    per_image = max(activation_mb_per_image(onnx.load(str(float_path))), 0.01) * 3
    return int(max(1, min(16, GROUP_MB // per_image)))


def _activation_sums(augmented: dict[str, Path], crops, spec: ModelSpec, group: int,
                     clamps: dict[str, tuple[float, float]]) -> dict[str, dict]:
    """Per tensor, (signal, noise) sums of squares over every image: ``qdq`` pre vs post QDQ in the QDQ model,
    ``xmodel`` float model vs post QDQ, ``raw`` float vs QDQ model for tensors without a QDQ pair."""
    from onnxruntime.quantization.qdq_loss_debug import collect_activations, create_activation_matching

    from edgebench.quantize.base import CalibrationData

    input_name = spec.input_name or INPUT_NAME
    sums: dict[str, dict[str, list[float]]] = {"qdq": {}, "xmodel": {}, "raw": {}}
    for start in range(0, len(crops), group):
        images = CalibrationData(crops[start:start + group], spec)
        acts = {name: collect_activations(str(path), ({input_name: batch} for batch in images))
                for name, path in augmented.items()}
        matching = create_activation_matching(acts["qdq"], acts["float"])
        for tensor, match in matching.items():
            pre = match["pre_qdq"]
            if tensor in clamps:
                pre = [np.clip(values, *clamps[tensor]) for values in pre]
            _add(sums["qdq"], tensor, pre, match["post_qdq"])
            if match.get("float"):
                _add(sums["xmodel"], tensor, match["float"], match["post_qdq"])
        for tensor, values in acts["qdq"].items():
            if tensor not in matching and tensor in acts["float"]:
                _add(sums["raw"], tensor, acts["float"][tensor], values)
        del acts, matching
    return sums


def _add(sums: dict[str, list[float]], tensor: str, reference, test) -> None:
    signal = noise = 0.0
    for ref, out in zip(reference, test, strict=True):
        ref, out = np.asarray(ref, np.float64), np.asarray(out, np.float64)
        signal += float(np.dot(ref, ref))
        diff = ref - out
        noise += float(np.dot(diff, diff))
    total = sums.setdefault(tensor, [0.0, 0.0])
    total[0] += signal
    total[1] += noise


def _sqnr(signal: float, noise: float) -> float:
    """As qdq_loss_debug's SQNR, 20·log10(‖x‖ / ‖x − y‖) with its epsilon floor, from sums of squares."""
    eps = float(np.finfo(float).eps)
    return 20 * math.log10(max(math.sqrt(signal), eps) / max(math.sqrt(noise), eps))


def _round(value: float) -> float:
    return round(float(value), 3)
