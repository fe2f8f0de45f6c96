"""Every precision each runtime offers, built with its default recipe (what a plain ``edgebench run`` measures)."""
from __future__ import annotations

from edgebench.optimize.space import Proposal, SearchContext
from edgebench.runtimes import get_runtime


def propose(context: SearchContext) -> list[Proposal]:
    out = []
    for name in context.runtimes:
        for precision in get_runtime(name).precisions:
            kind = "baseline" if precision == "fp32" else "default"
            out.append(Proposal(name, precision, family=f"{name} {precision}", kind=kind,
                                why="the runtime's FP32 baseline" if kind == "baseline" else "the default recipe"))
    return out
