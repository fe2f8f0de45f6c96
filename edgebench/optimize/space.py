"""The search space: a proposal is a runtime, a precision and a recipe variant (named options on top of the
run's recipe defaults), grouped into families ("onnxruntime int8 mixed precision") whose fate the summary
explains. Proposals become ordinary pipeline cells, so build and measure treat them like any run's cells."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from edgebench.models.spec import ModelSpec
from edgebench.pipeline.plan import Cell

# Most promising first: the budget cuts the tail.
PRIORITY = {"baseline": 0, "default": 1, "mixed": 2, "accuracy-control": 3, "calibration": 4, "preset": 5,
            "types": 6, "granularity": 7, "format": 8}


@dataclass(frozen=True)
class Proposal:
    runtime: str
    precision: str
    family: str  # what the summary groups: "<runtime> <precision>: <kind>"
    kind: str = "default"  # a PRIORITY key
    variant: str = ""  # "" = the runtime's default recipe for the precision
    quant: dict[str, Any] = field(default_factory=dict)  # overrides of the run's QuantOptions
    why: str = ""

    @property
    def name(self) -> str:
        return f"{self.runtime}|{self.precision}|{self.variant}"

    @property
    def priority(self) -> tuple[int, str]:
        return (PRIORITY.get(self.kind, 9), self.runtime)

    def cell(self, spec: ModelSpec, batch_size: int, base_quant) -> Cell:
        quant = replace(base_quant, **self.quant) if self.quant else None
        return Cell(spec, self.runtime, self.precision, batch_size, variant=self.variant, quant=quant)


@dataclass(frozen=True)
class SearchContext:
    spec: ModelSpec
    runtimes: tuple[str, ...]
    max_drop_pt: float | None  # the accuracy budget, in points of the task's main figure (top-1, mAP, ...)
    sensitive_nodes: tuple[str, ...] = ()  # ONNX node names, most sensitive first (empty: no sensitivity)
    sensitive_weighted: tuple[str, ...] = ()  # the same ranking, only layers with weights (Conv, Gemm, MatMul)
    has_validation: bool = False  # labelled held-out images exist (accuracy-controlled quantisation needs them)
    mixed_counts: tuple[int, ...] = (1, 3, 8)  # how many of the most sensitive layers a mixed variant keeps in float
    weighted_counts: tuple[int, ...] = (3,)  # the same, counting only layers with weights (where the compute is)

    def mixed(self) -> list[tuple[str, tuple[str, ...], str]]:
        """(variant name, nodes kept in float, in words) for each mixed-precision variant."""
        out = [(f"float{n}", self.sensitive_nodes[:n], f"the {n} most sensitive layers")
               for n in self.mixed_counts if len(self.sensitive_nodes) >= n]
        out += [(f"float-w{n}", self.sensitive_weighted[:n], f"the {n} most sensitive layers with weights")
                for n in self.weighted_counts if len(self.sensitive_weighted) >= n]
        return out


def int8_variant(runtime: str, kind: str, name: str, why: str, **quant: Any) -> Proposal:
    """An INT8 recipe variant of ``runtime``, in the family "<runtime> int8: <kind>"."""
    return Proposal(runtime, "int8", family=f"{runtime} int8: {kind}", kind=kind, variant=name, quant=quant, why=why)
