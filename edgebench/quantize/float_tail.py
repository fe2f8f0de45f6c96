"""The float tail: the ops between a model's last weighted layers and its outputs, kept in float by INT8 recipes.

A detector that decodes in its graph ends in arithmetic (anchor offsets, exp, a softmax) and a concatenation of
quantities with unlike ranges: box coordinates in input pixels beside class probabilities in 0-1. Quantised as one
tensor, the probabilities get a step sized for the pixels. SSDLite's ONNX Runtime INT8 graph with its tail quantised
gave every anchor the same score (one distinct value over 8 images, each off by about 0.011, the whole score), and
boxes off by 0.58 px (median); with the tail in float, the scores matched FP32's to 1e-5 and the boxes to 0.001 px
(``tests/tasks/test_detect.py`` checks the graph). Ultralytics' OpenVINO INT8 export and NNCF's YOLOv8 example keep
that post-processing out of quantisation for the same reason; the tail holds no weights, so keeping it in float
costs little time. Where a head leaves decoding outside the graph the tail is small and matters less: YOLOX-Nano's
ONNX Runtime INT8 mAP moved from 0.1008 to 0.1026 with it (reports/dev-epyc-2core/yolox-nano-float-tail-*); its
loss lies in the min/max activation ranges, not in the tail.

The tail is found on the graph: walking back from each output, every node reached before a weighted layer (Conv,
ConvTranspose, Gemm, MatMul) is in it; the weighted layers themselves stay INT8.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")
SHAPE_ONLY = ("Shape", "Size")  # read a tensor's shape, not its values: the walk does not go through them
MODES = ("auto", "on", "off")
TASKS = ("detect",)  # "auto" keeps the tail in float for these tasks


def output_tail(onnx_path: str) -> list[str]:
    """Names of the nodes between the last weighted layers and the graph's outputs, in graph order (constants and
    shape arithmetic left out: nothing in them is quantised). A node without a name cannot be named to a quantiser
    and is left out."""
    import onnx

    graph = onnx.load(onnx_path, load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    order = {id(node): i for i, node in enumerate(graph.node)}
    tail: dict[int, Any] = {}
    pending = [o.name for o in graph.output]
    seen: set[str] = set()
    while pending:
        tensor = pending.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        node = producer.get(tensor)
        if node is None or node.op_type in WEIGHTED + SHAPE_ONLY:
            continue
        tail[id(node)] = node
        pending.extend(node.input)
    return [node.name for node in sorted(tail.values(), key=lambda n: order[id(n)])
            if node.name and node.op_type != "Constant"]


def applies(mode: str, task: str) -> bool:
    return mode == "on" or (mode == "auto" and task in TASKS)


def with_float_tail(options, spec, source) -> Any:
    """``options`` with ``tail_nodes`` set to the source's float tail when its mode applies to the model's task
    and the source is an ONNX file (the recipes that read ONNX name nodes; others ignore it)."""
    if not applies(options.float_tail, spec.task) or source.format != "onnx" or options.tail_nodes:
        return options
    return replace(options, tail_nodes=tuple(output_tail(source.path)))
