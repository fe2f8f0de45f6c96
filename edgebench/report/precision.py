"""How precisely each p50 is known, and how sure each speed-up is, written beside the numbers.

A cell timed by the stop-when-known engine records ``p50_precision``: the half-width of the 95% interval of its
median (order statistics) as a share of the p50, against a target (±1% by default). The report writes it
after the p50 (``12.31 ±0.4%``) and flags a cell that stopped short of its target (``±3.2%†``), listing those
cells in one section with what stopped them. Speed-ups carry their 95% interval (``1.52x (1.49–1.55)``), from
``edgebench.stats.cell_ratio``: paired over the rounds both cells were timed in.
Records from older runs have neither and render as before.
"""
from __future__ import annotations

from typing import Any

from edgebench.report.deployments import finite
from edgebench.report.document import Block, Bullets, Cell, Heading, Paragraph
from edgebench.stats import min_samples_for

FLAG = "†"
DEFAULT_TARGET_PCT = 1.0
# What to change when a cell stops short of its target, by what stopped it.
_REMEDY = {"time cap": "raise --max-duration", "interference": "re-run it on a quiet machine"}


FIELD = "p50_precision"  # not "precision": that field of a record already holds fp32 / int8 / ...


def of(record: dict[str, Any] | None) -> dict[str, Any]:
    """How precisely the record's p50 is known (empty for a record from an older run)."""
    found = (record or {}).get(FIELD)
    return found if isinstance(found, dict) else {}


def is_met(precision: dict[str, Any]) -> bool:
    """Whether the p50 is known to its target; a record without ``precision`` is not flagged."""
    if not precision:
        return True
    met = precision.get("met")
    if met is None:  # written by hand or by another tool: decide from the fields
        half = finite(precision.get("half_width_pct"))
        target = finite(precision.get("target_pct")) or DEFAULT_TARGET_PCT
        met = bool(precision.get("reached_level")) and half is not None and half <= target
    return bool(met)


def suffix(precision: dict[str, Any]) -> str:
    """`` ±0.4%`` after a p50, `` ±3.2%†`` when short of the target, nothing without a precision."""
    if not precision:
        return ""
    half = finite(precision.get("half_width_pct"))
    return (f" ±{half:.1f}%" if half is not None else " ±?%") + ("" if is_met(precision) else FLAG)


def latency_cell(value: float | None, record: dict[str, Any] | None, digits: int = 2) -> Cell:
    """A p50 in ms with its precision; sorts on the p50."""
    if value is None:
        return Cell("", None)
    return Cell(f"{value:.{digits}f}{suffix(of(record))}", value)


def ratio_text(value: float, ci: dict[str, Any] | None) -> str:
    """``1.52x``, or ``1.52x (1.49–1.55)`` with its 95% interval."""
    lo, hi = (finite(ci.get("lo")), finite(ci.get("hi"))) if ci else (None, None)
    return f"{value:.2f}x" + (f" ({lo:.2f}–{hi:.2f})" if lo is not None and hi is not None else "")


def shortfall(record: dict[str, Any]) -> str:
    """Why a flagged cell's p50 is not known to its target, and what to change, in one line."""
    p = of(record)
    half, target = finite(p.get("half_width_pct")), finite(p.get("target_pct")) or DEFAULT_TARGET_PCT
    known = f"±{half:.1f}%" if half is not None else "an unknown precision"
    line = f"p50 known only to {known} (target ±{target:g}%)"
    if p.get("reached_level") is False:
        line += (f"; {p.get('n', '?')} sample(s) cannot bound the median with 95% confidence "
                 f"(at least {min_samples_for()} are needed)")
    stopped = p.get("stopped_by")
    if stopped:
        line += f": stopped by {stopped}"
        if stopped in _REMEDY:
            line += f"; {_REMEDY[stopped]}"
    return line


def any_recorded(results: list[dict[str, Any]]) -> bool:
    """Whether any cell carries a precision, a speed-up CI or rounds (older runs have none of them)."""
    return any(of(r) or r.get("speedup_vs_fp32_ci") or r.get("rounds") for r in results)


def short_of_target(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ok cells whose p50 is not known to their target precision."""
    return [r for r in results if r.get("status") == "ok" and not is_met(of(r))]


FOOTNOTE = (f"±x% after a p50 is the half-width of its 95% interval (order statistics of the samples) as a share "
            f"of it; {FLAG} marks a p50 not known to its target precision (see \"p50 short of its target "
            f"precision\"). A speed-up is the median over shared rounds of the per-round p50 ratio, and its (lo–hi) "
            f"its 95% interval, paired over those rounds (a bootstrap of rounds; fewer than 5: their range).")


def blocks(results: list[dict[str, Any]]) -> list[Block]:
    """The section listing every flagged cell, or nothing when every p50 reached its target."""
    short = short_of_target(results)
    if not short:
        return []
    return [Heading(f"p50 short of its target precision ({len(short)} cell(s))", 3),
            Paragraph(f"These cells stopped before the 95% interval of their p50 was as narrow as the target; "
                      f"they are marked {FLAG} beside their latency. Their p50 is measured, but a difference "
                      f"smaller than the stated ± is not resolved."),
            Bullets([f"`{r['key']}`: {FLAG} {shortfall(r)}" for r in short])]
