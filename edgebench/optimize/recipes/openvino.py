"""OpenVINO INT8 variants through NNCF: the mixed preset, the most sensitive layers in an ignored scope,
and NNCF's own accuracy-controlled quantisation (``quantize_with_accuracy_control``) at the search's budget.
BF16 and FP16 come with the defaults (the runtime offers them where the CPU has them)."""
from __future__ import annotations

from functools import partial

from edgebench.optimize.space import Proposal, SearchContext, int8_variant

RUNTIME = "openvino"


def propose(context: SearchContext) -> list[Proposal]:
    if RUNTIME not in context.runtimes:
        return []
    variant = partial(int8_variant, RUNTIME)  # (kind, name, why, **quant options)
    out = [variant("preset", "mixed", "NNCF's mixed preset: asymmetric activations", nncf_preset="mixed")]
    for name, nodes, words in context.mixed():
        out.append(variant("mixed", name, words + " in NNCF's ignored scope", exclude_nodes=nodes))
    # NNCF's accuracy control validates top-1 on labelled images: a classifier's budget only.
    if context.has_validation and context.max_drop_pt is not None and context.spec.task == "classify":
        out.append(variant("accuracy-control", f"ac{context.max_drop_pt:g}",
                           "NNCF reverts the layers that cost most until the drop on held-out images is within budget",
                           nncf_accuracy_control=context.max_drop_pt))
    return out
