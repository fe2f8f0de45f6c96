"""What the search may try: each toolchain's module proposes recipe variants (``propose(context)``).

Adding a recipe family touches its toolchain's module; adding a toolchain adds one module and one line here.
``defaults`` proposes every precision each runtime offers with its default recipe, so every runtime the
machine has (mobile and GPU ones included) takes part.
"""
from __future__ import annotations

from importlib import import_module

from edgebench.optimize.space import Proposal, SearchContext

FAMILY_MODULES = (
    "edgebench.optimize.recipes.defaults",
    "edgebench.optimize.recipes.onnxruntime",
    "edgebench.optimize.recipes.openvino",
)


def propose_all(context: SearchContext) -> list[Proposal]:
    """Every proposal, most promising first (the budget cuts the tail), without duplicates."""
    proposals: dict[str, Proposal] = {}
    for path in FAMILY_MODULES:
        for proposal in import_module(path).propose(context):
            proposals.setdefault(proposal.name, proposal)
    return sorted(proposals.values(), key=lambda p: p.priority)
