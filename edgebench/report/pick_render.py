"""What ``edgebench pick`` prints: the question asked, the ranking, the near misses, what was not considered
(failed cells, untrusted deployments) and which images the top-1 figures are on; text for people, JSON for
scripts, both with the same ranking."""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

from edgebench.report.deployments import LATENCY_STATS, Deployment
from edgebench.report.evalsets import EvalSet
from edgebench.report.exports import json_safe
from edgebench.report.pick import Constraints, PickResult, limit_text, accuracy_drop, top1_on


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# How each constraint reads in words ({stat}: the latency statistic; {figure}: top-1, or a task model's mAP, mIoU,
# δ1), in the order they are printed.
_CONSTRAINT_TEXT = (("max_latency_ms", "latency {stat} <= {value} ms"), ("min_top1", "{figure} >= {value}%"),
                    ("max_size_mb", "size <= {value} MB"), ("max_memory_mb", "peak memory <= {value} MB"),
                    ("max_gpu_memory_mb", "GPU memory <= {value} MB"),
                    ("max_accuracy_drop", "{figure} drop vs FP32 <= {value} pt"))


def describe_constraints(constraints: Constraints, latency_stat: str, figure: str = "top-1") -> str:
    parts = [text.format(stat=latency_stat, value=limit_text(getattr(constraints, name)), figure=figure)
             for name, text in _CONSTRAINT_TEXT if getattr(constraints, name) is not None]
    return ", ".join(parts) or "none"


def describe_objective(objective: str, latency_stat: str, figure: str = "top-1") -> str:
    what = {"latency": f"lowest latency {latency_stat}", "accuracy": f"highest {figure} (unmeasured or other images last)",
            "size": "smallest size", "throughput": "highest throughput"}[objective]
    return what if objective == "latency" else f"{what}, ties by latency {latency_stat}"


def _marked_top1(d: Deployment, unit: str = "", eval_set: EvalSet | None = None) -> str:
    """Top-1 with ``*`` when the run said it is not representative (random weights, synthetic calibration);
    "-" when it was measured on other images than the chosen set."""
    top1 = top1_on(d, eval_set)
    if top1 is None:
        return "-"
    return f"{top1:.2f}{unit}" + ("" if d.representative else "*")


def _mixed(result: PickResult) -> bool:
    """Top-1 of several evaluation sets is shown and none was chosen: each row must say its set."""
    return result.eval_set is None and len(result.eval_sets) > 1


def accuracy_note(result: PickResult) -> str:
    """Which images the top-1 (or a task model's mAP, mIoU, δ1) figures are on, in one line."""
    figure = result.figure
    if result.eval_set is not None:
        others = len(result.eval_sets) - 1
        rest = f" ({figure} on {others} other set(s) is shown as -)" if others > 0 else ""
        return f"{_cap(figure)} figures are on {result.eval_set.label}{rest}."
    if _mixed(result):
        return (f"{_cap(figure)} figures are on {len(result.eval_sets)} different evaluation sets (column "
                f"\"{_cap(figure)} on\"); they are not comparable with each other: pass --eval-set NAME to compare "
                f"{figure}.")
    return f"No {figure} measured for these deployments."


def _cap(figure: str) -> str:
    """At the start of a sentence or a column: Top-1, Accuracy; mAP, mIoU and δ1 keep their case."""
    return figure[0].upper() + figure[1:] if figure in ("top-1", "accuracy") else figure


def _layout(header: list[str], rows: list[list[str]], left: set[int]) -> list[str]:
    """Plain-text columns: those in ``left`` left-aligned (names, words), the rest right-aligned (numbers)."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def ranked_table(result: PickResult, top: int) -> list[str]:
    """The qualifying deployments, best first, at most ``top`` rows."""
    b, stat = result.batch_size, result.latency_stat
    stats = [s for s in LATENCY_STATS if s in ("p50", "p99", stat)]
    mixed = _mixed(result)
    variants = any(d.variant for d in result.qualifying[:top])  # a recipe variant column only when one is shown
    header = ["#", "Model", "Runtime", "Precision", *(["Variant"] if variants else []), *[f"{s} ms" for s in stats],
              "img/s", "Size MB", "Peak mem MB", f"{_cap(result.figure)} %", f"Δ {result.figure} pt vs FP32",
              "Verdict", *([f"{_cap(result.figure)} on"] if mixed else [])]
    rows = []
    for i, d in enumerate(result.qualifying[:top], start=1):
        shown = top1_on(d, result.eval_set) is not None
        delta = d.score_delta if shown else None
        rows.append([str(i), d.model, d.runtime, d.precision, *([d.variant] if variants else []),
                     *[_fmt(d.latency(b, s)) for s in stats],
                     _fmt(d.throughput(b), 1), _fmt(d.size_mb), _fmt(d.memory(b), 0),
                     _marked_top1(d, eval_set=result.eval_set), "-" if delta is None else f"{delta:+.2f}",
                     (d.score_change.get("verdict") or "") if shown else "",
                     *([d.eval_set.label if d.eval_set and d.score is not None else "-"] if mixed else [])])
    return _layout(header, rows, left={1, 2, 3, *({4} if variants else ()), len(header) - 1}
                   | ({len(header) - 2} if mixed else set()))


def _footnote(shown: list[Deployment]) -> list[str]:
    """Explain the ``*`` when a shown top-1 carries it."""
    if not any(d.score is not None and not d.representative for d in shown):
        return []
    return ["", "* top-1 not representative (random weights, synthetic or overlapping calibration images): it "
                "measures nothing about the model; Δ top-1 still measures the precision's fidelity."]


def render_text(result: PickResult, *, device: str, top: int, failed: Counter[str]) -> str:
    """What a person reads: the question asked, the ranking, what came close, what was not considered."""
    b, stat = result.batch_size, result.latency_stat
    total = len(result.qualifying) + len(result.misses)
    lines = [f"Pick for {device} at batch size {b}: {len(result.qualifying)} of {total} deployment(s) "
             "meet the constraints.",
             f"Constraints: {describe_constraints(result.constraints, stat, result.figure)}.",
             f"Objective: {describe_objective(result.objective, stat, result.figure)}.", accuracy_note(result), ""]
    if result.qualifying:
        shown = min(top, len(result.qualifying))
        if shown < len(result.qualifying):
            lines.append(f"Top {shown} of {len(result.qualifying)} (--top shows more):")
        lines += ranked_table(result, top)
    else:
        lines.append("No deployment meets the constraints.")
    if result.near_misses:
        lines += ["", f"Nearest misses (best by {result.objective} among those breaking constraints):"]
        for i, miss in enumerate(result.near_misses, start=1):
            d = miss.deployment
            lines.append(f"  {i}. {d.model} {d.label} ({stat} {_fmt(d.latency(b, stat))} ms, "
                         f"{result.figure} {_marked_top1(d, '%', result.eval_set)}, size {_fmt(d.size_mb)} MB): "
                         + "; ".join(miss.breaks))
    lines += _footnote(result.qualifying[:top] + [m.deployment for m in result.near_misses])
    if result.untrusted:
        lines += ["", f"Not recommended: {len(result.untrusted)} deployment(s) on {device} are untrusted and were "
                      "not ranked:"]
        lines += [f"  - {d.model} {d.label}: " + "; ".join(d.untrusted) for d in result.untrusted]
    if failed:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(failed.items()))
        lines += ["", f"Not candidates: {sum(failed.values())} cell(s) on {device} at batch size {b} did not "
                      f"succeed ({counts}); `edgebench report` says why."]
    return "\n".join(lines)


def _deployment_json(d: Deployment, batch_size: int, latency_stat: str, eval_set: EvalSet | None = None,
                     **extra: Any) -> dict[str, Any]:
    """Top-1 fields are null when the top-1 is on other images than the chosen ``eval_set``."""
    out = {**extra, **d.to_dict(), "label": d.label,
           f"b{batch_size}_{latency_stat}_ms": d.latency(batch_size, latency_stat),
           "accuracy_drop_pt": accuracy_drop(d, eval_set), "untrusted": d.untrusted}
    if top1_on(d, eval_set) is None:
        out.update({k: None for k in ("top1_pct", "top5_pct", "top1_delta_pt", "top1_delta_verdict", "top1_delta_p",
                                      "agreement_pct")})
    return json_safe(out)


def render_json(result: PickResult, *, device: str, top: int, failed: Counter[str]) -> str:
    """One object for scripts, with the same ranking as the text."""
    b, stat = result.batch_size, result.latency_stat
    doc = {"device": device, "batch_size": b, "objective": result.objective, "latency_stat": stat, "figure": result.figure,
           "constraints": result.constraints.given(),
           "eval_set": result.eval_set.to_dict() if result.eval_set else None,
           "eval_sets": [s.to_dict() for s in result.eval_sets],
           "qualifying": [_deployment_json(d, b, stat, result.eval_set, rank=i)
                          for i, d in enumerate(result.qualifying[:top], start=1)],
           "qualifying_total": len(result.qualifying),
           "near_misses": [_deployment_json(m.deployment, b, stat, result.eval_set, breaks=m.breaks)
                           for m in result.near_misses],
           "untrusted": [_deployment_json(d, b, stat, result.eval_set) for d in result.untrusted],
           "not_candidates": sum(failed.values()),
           "not_candidates_by_status": dict(sorted(failed.items()))}
    return json.dumps(doc, indent=2, allow_nan=False)
