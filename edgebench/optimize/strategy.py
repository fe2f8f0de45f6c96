"""The staged search's decisions, pure (records in, verdicts out) so they are tested without measuring.

1. screen: every candidate's batch latency from a short probe, every candidate timed in the same (lockstep) rounds,
   and its fidelity on a small subset of the selection images. A candidate is dropped when even the optimistic end
   of its subset drop's 95% interval breaks the accuracy budget, when it breaks a hard limit, or when another
   candidate is faster beyond the probe's margin on paired evidence (``clearly_faster``), no larger and no less
   accurate on the subset (dominated).
2. full: the survivors, best objective first, evaluated on every selection image; once one meets the budget, a
   candidate the probe shows slower than it beyond the margin (paired) is not evaluated.
3. final: the feasible candidates that can still win, each runtime's FP32 and default-INT8 cells and the
   best of every family, at most ``MAX_FINAL`` (``finalists``), timed together in lockstep rounds with the run's
   profile; the choice is made there, on their final-round latency and their selection-image accuracy
   (``on_selection``). The report images, held out from all of this, give the figures the search reports.
"""
from __future__ import annotations

import math
from typing import Any

# What a result line and optimize.json say, read alike by the search and by report (edgebench.results.search).
from edgebench.results.search import Goal, drop_pt, key_label, label, latency, on_selection  # noqa: F401

BOUNDS = ("estimate", "upper")
OBJECTIVES = ("latency", "size", "throughput", "accuracy")
MAX_CONTENDERS = 4  # feasible candidates within the winner's noise that go to the final round
# Deployments in the final round: each is timed in every lockstep round with the run's profile, so the round's length
# grows with their number (the budget reserves it: edgebench.optimize.search).
MAX_FINAL = 10
# The probe drops a candidate for speed only on paired evidence: the 95% interval of its ratio to the faster one
# (``edgebench.stats.cell_ratio``: per-round p50 ratios over the lockstep rounds both were timed in) must exclude 1
# by this margin, i.e. its low end be above 1.10. Pairing cancels what the host's speed swings do to both cells of a
# round (the reason the unpaired probe needed intervals 25% apart); the margin is for what pairing cannot cancel in
# a probe of 0.25 s slices and the final round then sees: a neighbour that slows one runtime more than another, and
# the run-to-run drift of a ratio on this host, up to 8.9% between two back-to-back runs (ONNX Runtime/OpenVINO,
# MobileNetV3-Small, issue 22). A candidate dropped this way is slower by more than that in every credible case;
# one within it goes on, and the final round's longer rounds decide.
PROBE_MARGIN = 0.10
# Fewer shared rounds than this and the ratio's "interval" is the range of a handful of per-round ratios, which
# covers their median less than 7 times in 8 (edgebench.stats.cell_ratio): not enough to drop anything.
MIN_PAIRED_ROUNDS = 4


def selection_summary(record: dict[str, Any] | None) -> dict[str, Any]:
    """What a final line keeps (``search.selection``) of a candidate's full evaluation on the selection images: the
    figures the search decided on. Empty without one."""
    from edgebench.tasks import main_change, main_figure

    accuracy = (record or {}).get("accuracy") or {}
    if not accuracy:
        return {}
    key = main_figure(accuracy)
    return {"images": accuracy.get("images"), **({"metric": accuracy["metric"]} if accuracy.get("metric") else {}),
            key: accuracy.get(key), f"{key}_ci95": accuracy.get(f"{key}_ci95"), f"{key}_change": main_change(accuracy),
            "eval_id": (accuracy.get("eval_set") or {}).get("eval_id"),
            "images_file": (accuracy.get("eval_set") or {}).get("images_file")}


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
        return f"no {goal.figure} against the FP32 reference"
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
    """a is faster than b beyond the probe's margin on paired evidence: the 95% interval of b's ratio to a,
    over the rounds both were timed in, lies above 1 + ``PROBE_MARGIN``. Cells that share too few rounds (an
    unpaired comparison, or no samples) are never told apart here."""
    ratio = paired_ratio(b, a)
    return ratio is not None and ratio["lo"] > 1.0 + PROBE_MARGIN


def paired_ratio(slower: dict[str, Any], faster: dict[str, Any]) -> dict[str, Any] | None:
    """``ratio_of(slower, faster)`` when the two were timed in at least ``MIN_PAIRED_ROUNDS`` shared rounds, else None."""
    try:
        ratio = ratio_of(slower, faster)
    except ValueError:  # a side without samples
        return None
    return ratio if ratio.get("paired") and ratio.get("rounds", 0) >= MIN_PAIRED_ROUNDS else None


def _slower_words(slower: dict[str, Any], faster: dict[str, Any]) -> str:
    """The paired evidence, in words: "1.32× its p50 in the probe (95% 1.21 to 1.40 over 6 paired rounds, ...)"."""
    ratio = paired_ratio(slower, faster)
    if ratio is None:
        return "no paired evidence"
    return (f"{ratio['ratio']:.2f}× its p50 in the probe (95% {ratio['lo']:.2f} to {ratio['hi']:.2f} over "
            f"{ratio['rounds']} paired rounds, above 1 + {PROBE_MARGIN:.0%})")


def _dominates(a: dict[str, Any], b: dict[str, Any], goal: Goal) -> bool:
    """a is clearly faster than b (paired), no larger, and no less accurate on the same images, accuracy read as
    the budget reads it (the drop's estimate, or its interval's upper end). The cheap tests go first."""
    da, db = drop_pt(a), drop_pt(b)
    if da is None or db is None:
        return False
    size_a, size_b = a.get("size_mb"), b.get("size_mb")
    return (goal.budgeted(da) <= goal.budgeted(db) and (size_a is None or size_b is None or size_a <= size_b)
            and clearly_faster(a, b))


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
            fates[key] = (f"dominated by {label(alive[better])}: {_slower_words(record, alive[better])}; no "
                          "larger, no less accurate on the subset")
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
            return f"slower than {label(best)}, which meets the budget: {_slower_words(candidate, best)}"
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


def finalists(screened: dict[str, dict[str, Any]], feasible: list[str], baselines: set[str], family: dict[str, str],
              goal: Goal, limit: int = MAX_FINAL) -> tuple[list[str], list[str]]:
    """The final round's deployments, and the ones its size left out. It holds each runtime's FP32 and default-INT8
    cells evaluated in full (``baselines``, feasible or not: what a plain run measures, the comparison), the
    ``contenders`` (feasible, within the best one's noise) and each family's best feasible candidate (``family``: key to
    family), each once and at most ``limit``. Over the limit the contenders are kept first (the choice is made among the
    finalists, so the best feasible one is never cut), then the baselines in key order, then the families' bests, best
    screened objective first; the kept ones are listed as the round times them: baselines, contenders, families."""
    chosen = contenders(screened, feasible, goal)
    best_of: dict[str, str] = {}
    for key in sorted(feasible, key=lambda k: objective_value(screened[k], goal)):
        best_of.setdefault(family[key], key)
    listed = list(dict.fromkeys([*sorted(baselines), *chosen, *best_of.values()]))
    kept = set(list(dict.fromkeys([*chosen, *sorted(baselines), *best_of.values()]))[:limit])
    return [k for k in listed if k in kept], [k for k in listed if k not in kept]


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
    """How many times slower ``slower`` is than ``faster``: ``edgebench.stats.cell_ratio`` (paired over shared rounds)."""
    from edgebench.stats import cell_ratio

    return cell_ratio(slower, faster)
