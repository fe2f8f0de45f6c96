"""ONNX Runtime static INT8 variants: calibration method, QDQ or QOperator, activation and weight types,
per-tensor weights, and the most sensitive layers kept in float (``nodes_to_exclude``)."""
from __future__ import annotations

from functools import partial

from edgebench.optimize.space import Proposal, SearchContext, int8_variant

RUNTIME = "onnxruntime"


def propose(context: SearchContext) -> list[Proposal]:
    if RUNTIME not in context.runtimes:
        return []
    variant = partial(int8_variant, RUNTIME)  # (kind, name, why, **quant options)
    out = [variant("calibration", "entropy", "KL-divergence ranges instead of min/max", calib_method="entropy"),
           variant("calibration", "percentile", "99.999th-percentile ranges clip outliers", calib_method="percentile"),
           variant("format", "qoperator", "QOperator (fused integer operators) instead of QDQ", ort_format="qoperator"),
           variant("types", "s8s8", "signed 8-bit activations", ort_activations="s8"),
           variant("types", "u8u8", "unsigned 8-bit weights", ort_weights="u8"),
           variant("granularity", "per-tensor", "one weight scale per tensor instead of per channel", per_channel=False)]
    for name, nodes, words in context.mixed():
        out.append(variant("mixed", name, words + " kept in float", exclude_nodes=nodes))
    return out
