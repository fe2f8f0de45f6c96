"""The staged search's decisions, pure (records in, verdicts out) so they are tested without measuring.

1. screen: every candidate's batch latency from a short probe, and its fidelity on a small subset of the
   evaluation images. A candidate is dropped when even the optimistic end of its subset drop's 95% interval
   breaks the accuracy budget, when it breaks a hard limit, or when another candidate is clearly faster
   (latency intervals apart), no larger and no less accurate on the subset (dominated).
2. full: the survivors, best objective first, evaluated on every evaluation image; once one meets the
   budget, a candidate whose probe latency cannot beat it (intervals apart) is not evaluated.
3. final: the feasible candidates that can still win, each runtime's FP32 and default-INT8 cells and the
   best of every family, timed together in interleaved rounds with the run's profile; the choice is made there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BOUNDS = ("estimate", "upper")
OBJECTIVES = ("latency", "size", "throughput", "accuracy")
MAX_CONTENDERS = 4  # feasible candidates within the winner's noise that go to the final round
# "Clearly faster" in the short probe: intervals apart by this much more. A probe's interval comes from two to
# four half-second slices, and a shared host changes speed between minutes: on the development machine two ONNX
# Runtime INT8 recipes with the same graph (min/max and entropy calibration) came out more than 5% apart in one
# probe and tied in the final round. So the probe drops only what is slower by more than a quarter.
PROBE_MARGIN = 0.25


@dataclass(frozen=True, kw_only=True)
class Goal:
    objective: str = "latency"
    batch_size: int = 1
    max_drop_pt: float | None = None
    bound: str = "estimate"  # the budget applies to the drop's estimate, or to its 95% interval's upper end
    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    max_memory_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def bound_words(self) -> str:
        """What of the drop the budget applies to."""
        return "estimate" if self.bound == "estimate" else "95% upper bound"

    def budgeted(self, drop: dict[str, float]) -> float:
        """The part of a drop (``drop_pt``) the budget reads: its estimate or its interval's upper end."""
        return drop["estimate"] if self.bound == "estimate" else drop["hi"]

    def budget_text(self) -> str:
        if self.max_drop_pt is None:
            return "no accuracy budget"
        return f"top-1 drop ≤ {self.max_drop_pt:g} pt applied to the drop's {self.bound_words}"


def drop_pt(record: dict[str, Any]) -> dict[str, float] | None:
    """Top-1 drop against the FP32 reference in points: estimate, 95% interval, McNemar's verdict."""
    change = ((record.get("accuracy") or {}).get("vs_reference") or {}).get("top1_change")
    if not change:
        return None
    lo, hi = change["ci95"]
    # "or 0.0": no drop prints as 0.00, not -0.00
    return {"estimate": -change["delta"] * 100.0 or 0.0, "lo": -hi * 100.0 or 0.0, "hi": -lo * 100.0 or 0.0,
            "p_value": change["p_value"], "verdict": change["verdict"],
            "images": (record.get("accuracy") or {}).get("images")}


def latency(record: dict[str, Any]) -> tuple[float, float, float]:
    """p50 and its interval (lo, p50, hi) in ms; the interval collapses to the p50 when unknown."""
    p50 = (record.get("latency_ms") or {}).get("p50", math.inf)
    interval = record.get("p50_precision") or {}
    return interval.get("lo", p50), p50, interval.get("hi", p50)


def objective_value(record: dict[str, Any], goal: Goal) -> float:
    """Lower is better."""
    if goal.objective == "size":
        return record.get("size_mb") or math.inf
    if goal.objective == "accuracy":
        drop = drop_pt(record)
        return drop["estimate"] if drop else math.inf
    return latency(record)[1]  # latency and throughput rank alike at one batch size


def accuracy_breaks(record: dict[str, Any], goal: Goal) -> str | None:
    """Why the full-evaluation drop breaks the budget (None: it does not)."""
    if goal.max_drop_pt is None:
        return None
    drop = drop_pt(record)
    if drop is None:
        return "no top-1 against the FP32 reference"
    value = goal.budgeted(drop)
    if value > goal.max_drop_pt + 1e-9:
        what = "drop" if goal.bound == "estimate" else "drop's 95% upper bound"
        return f"{what} {value:.2f} pt > budget {goal.max_drop_pt:g} pt"
    return None


def hard_breaks(record: dict[str, Any], goal: Goal) -> list[str]:
    """Limits on latency (its interval's low end: clearly over), size and memory."""
    out = []
    lo, p50, _ = latency(record)
    if goal.max_latency_ms is not None and lo > goal.max_latency_ms:
        out.append(f"p50 {p50:.2f} ms > {goal.max_latency_ms:g} ms")
    size = record.get("size_mb")
    if goal.max_size_mb is not None and size is not None and size > goal.max_size_mb:
        out.append(f"size {size:.1f} MB > {goal.max_size_mb:g} MB")
    memory = record.get("peak_rss_mb")
    if goal.max_memory_mb is not None and memory is not None and memory > goal.max_memory_mb:
        out.append(f"peak memory {memory:.0f} MB > {goal.max_memory_mb:g} MB")
    return out


def clearly_faster(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """a's probe p50 interval ends below b's by more than the probe margin."""
    return latency(a)[2] * (1.0 + PROBE_MARGIN) < latency(b)[0]


def _dominates(a: dict[str, Any], b: dict[str, Any], goal: Goal) -> bool:
    """a is clearly faster than b, no larger, and no less accurate on the same images, accuracy read as the
    budget reads it (the drop's estimate, or its interval's upper end)."""
    da, db = drop_pt(a), drop_pt(b)
    if da is None or db is None:
        return False
    size_a, size_b = a.get("size_mb"), b.get("size_mb")
    return (clearly_faster(a, b) and goal.budgeted(da) <= goal.budgeted(db)
            and (size_a is None or size_b is None or size_a <= size_b))


def screen(records: dict[str, dict[str, Any]], goal: Goal, keep: set[str]) -> dict[str, str | None]:
    """Each screened candidate's fate: None goes on to the full evaluation, else why it stops here.
    ``keep``: keys that always go on (the baselines the final table compares with)."""
    fates: dict[str, str | None] = {}
    alive = {}
    for key, record in records.items():
        if record.get("status") != "ok":
            fates[key] = f"{record.get('status')}: {record.get('reason')}"
            continue
        reasons = hard_breaks(record, goal)
        drop = drop_pt(record)
        if goal.max_drop_pt is not None and drop is not None and drop["lo"] > goal.max_drop_pt:
            reasons.append(f"subset drop {drop['estimate']:.2f} pt (95% interval {drop['lo']:.2f} to "
                           f"{drop['hi']:.2f}) is over the {goal.max_drop_pt:g} pt budget even at its low end")
        fates[key] = "; ".join(reasons) or None
        if not reasons:
            alive[key] = record
    for key, record in alive.items():
        if key in keep:
            continue
        better = next((k for k, other in alive.items() if k != key and _dominates(other, record, goal)), None)
        if better:
            fates[key] = (f"dominated by {label(alive[better])}: faster beyond the probe's noise, no larger, no less "
                          "accurate on the subset")
    for key in keep:
        if key in fates and fates[key] and records[key].get("status") == "ok":
            fates[key] = None  # a baseline is measured to the end whatever it screens as
    return fates


def full_order(records: dict[str, dict[str, Any]], goal: Goal) -> list[str]:
    """Survivors in the order they are evaluated in full: best screened objective first."""
    return sorted(records, key=lambda k: objective_value(records[k], goal))


def cannot_win(candidate: dict[str, Any], best: dict[str, Any], goal: Goal) -> str | None:
    """Why ``candidate`` (screened) cannot beat ``best`` (feasible, screened): None if it still may."""
    if goal.objective in ("latency", "throughput"):
        if clearly_faster(best, candidate):
            return f"slower than {label(best)}, which meets the budget (probe p50 {latency(candidate)[1]:.2f} vs " \
                   f"{latency(best)[1]:.2f} ms, intervals more than {PROBE_MARGIN:.0%} apart)"
    elif goal.objective == "size":
        if (candidate.get("size_mb") or math.inf) > (best.get("size_mb") or math.inf):
            return f"larger than {label(best)}, which meets the budget"
    return None


def contenders(screened: dict[str, dict[str, Any]], feasible: list[str], goal: Goal) -> list[str]:
    """The feasible candidates that may still be the best once timed precisely: within the best one's noise."""
    if not feasible:
        return []
    ordered = sorted(feasible, key=lambda k: objective_value(screened[k], goal))
    best = screened[ordered[0]]
    out = [k for k in ordered if cannot_win(screened[k], best, goal) is None]
    return out[:MAX_CONTENDERS]


def choose(records: list[dict[str, Any]], goal: Goal) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, str]]:
    """Among final records: the chosen one, every feasible one best first, and why each other one fails."""
    feasible, why_not = [], {}
    for record in records:
        if record.get("status") != "ok":
            why_not[record["key"]] = f"{record.get('status')}: {record.get('reason')}"
            continue
        reasons = [*hard_breaks(record, goal)]
        broken = accuracy_breaks(record, goal)
        if broken:
            reasons.append(broken)
        if goal.max_latency_ms is not None and latency(record)[1] > goal.max_latency_ms and not reasons:
            reasons.append(f"p50 {latency(record)[1]:.2f} ms > {goal.max_latency_ms:g} ms")
        if reasons:
            why_not[record["key"]] = "; ".join(reasons)
        else:
            feasible.append(record)
    feasible.sort(key=lambda r: objective_value(r, goal))
    if feasible:
        # Deployments whose p50s are not told apart are equally fast: the smaller drop wins, then a default recipe.
        tied = [feasible[0], *tied_with(feasible[0], feasible, goal)]
        best = min(tied, key=lambda r: ((drop_pt(r) or {}).get("estimate", math.inf), bool(r.get("variant")),
                                        objective_value(r, goal)))
        feasible.remove(best)
        feasible.insert(0, best)
    return (feasible[0] if feasible else None), feasible, why_not


def tied_with(chosen: dict[str, Any], feasible: list[dict[str, Any]], goal: Goal) -> list[dict[str, Any]]:
    """Feasible records not told apart from the chosen one on latency (latency objectives): the 95% bootstrap
    interval of their p50 ratio, resampling whole rounds (slow minutes included), reaches 1; records without
    rounds compare their p50 intervals."""
    if goal.objective not in ("latency", "throughput"):
        return []
    return [r for r in feasible if r is not chosen and not slower_beyond_noise(r, chosen)]


def slower_beyond_noise(record: dict[str, Any], than: dict[str, Any]) -> bool:
    from edgebench.stats import rounds_of

    if len(rounds_of(record)) >= 2 and len(rounds_of(than)) >= 2:
        return ratio_of(record, than)["lo"] > 1.0
    return latency(record)[0] > latency(than)[2]


def ratio_of(slower: dict[str, Any], faster: dict[str, Any]) -> dict[str, Any]:
    """p50(slower) / p50(faster) and its 95% bootstrap interval over rounds, paired when they shared rounds."""
    from edgebench.stats import ratio_interval, rounds_of, shared_rounds

    return ratio_interval(rounds_of(slower), rounds_of(faster), seed=0, paired=shared_rounds(slower, faster))


def label(record: dict[str, Any]) -> str:
    from edgebench.results.schema import precision_label

    return f"{record['runtime']} {precision_label(record['precision'], record.get('variant') or '')}"


def key_label(key: str) -> str:
    """A candidate's label from its key (model|runtime|precision|bN[|variant]), for one never measured."""
    parts = key.split("|")
    return label({"runtime": parts[1], "precision": parts[2], "variant": parts[4] if len(parts) > 4 else ""})
