"""Comparison of a run with an earlier (baseline) run: which cells got slower or faster beyond the noise.

Medians alone flag noise as regressions, so each cell is judged from its raw latency samples: a one-sided
Mann–Whitney U test (no distribution assumed) says whether the shift is real, a seeded bootstrap CI of the
ratio of medians says how large it could be, and a relative threshold says whether it is large enough to
matter. Cells are matched by (device, key) only: timings from different machines are never compared, and
a matched pair measured under different conditions (timing profile, threads, batch size, recipe and its
settings, evaluation images) is "not comparable" and never a regression. Other runtime versions are no bar:
measuring a new version against the old is what a baseline is for, so the pair is judged and the change stated.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgebench.report.conditions import crops_key, differences, stated_differences
from edgebench.report.deployments import device_of
from edgebench.report.document import Block, Bullets, Cell, Heading, Paragraph, Table, num, text
from edgebench.report.evalsets import UNTRUSTED_MARK, untrusted_reasons
from edgebench.stats import BOOTSTRAP_RESAMPLES, mann_whitney_p, ratio_of_medians_ci

MIN_SAMPLES = 3
RESAMPLES = BOOTSTRAP_RESAMPLES

REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNCHANGED = "no significant change"
TOO_FEW = "not enough samples"
NEWLY_FAILING = "newly failing"
FIXED = "fixed"
ONLY_BASELINE = "only in baseline"
ONLY_CURRENT = "only in current"
BOTH_FAILED = "both failed"
NOT_COMPARABLE = "not comparable"


@dataclass(kw_only=True)
class CellComparison:
    device: str
    key: str
    model: str
    runtime: str
    precision: str
    batch_size: int
    verdict: str
    baseline_p50: float | None = None
    current_p50: float | None = None
    ratio: float | None = None  # current median / baseline median (>1 = slower)
    ratio_ci95: tuple[float, float] | None = None  # bootstrap CI of the ratio of medians
    p_value: float | None = None  # one-sided Mann–Whitney U in the direction of the ratio
    n_baseline: int = 0
    n_current: int = 0
    note: str = ""
    top1_change_pt: float | None = None  # informational: current − baseline top-1 on the same images, points
    differences: list[str] = field(default_factory=list)  # conditions that differ ("threads 2 → 4"): not comparable
    stated: list[str] = field(default_factory=list)  # differences that do not bar a comparison (runtime versions)
    untrusted: list[str] = field(default_factory=list)  # reasons either side is not to be trusted

    @property
    def label(self) -> str:
        return f"`{self.key}` ({self.device})" + (f" {UNTRUSTED_MARK}" if self.untrusted else "")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio_ci95"] = list(self.ratio_ci95) if self.ratio_ci95 else None
        return out


@dataclass(kw_only=True)
class Comparison:
    cells: list[CellComparison]
    alpha: float
    threshold: float  # a fraction: 0.05 = 5 %
    resamples: int = RESAMPLES
    seed: int = 0

    def with_verdict(self, *verdicts: str) -> list[CellComparison]:
        return [c for c in self.cells if c.verdict in verdicts]

    @property
    def regressions(self) -> list[CellComparison]:
        """Slower beyond the noise, or failing where the baseline succeeded."""
        return self.with_verdict(REGRESSION, NEWLY_FAILING)

    @property
    def improvements(self) -> list[CellComparison]:
        return self.with_verdict(IMPROVEMENT)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for cell in self.cells:
            out[cell.verdict] = out.get(cell.verdict, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "threshold": self.threshold, "resamples": self.resamples, "seed": self.seed,
                "counts": self.counts(), "cells": [c.to_dict() for c in self.cells]}


# --- statistics ------------------------------------------------------------------------------------------

def ratio_ci95(current: np.ndarray, baseline: np.ndarray, *, seed: int = 0,
               resamples: int = RESAMPLES) -> tuple[float, float] | None:
    """Percentile bootstrap CI of median(current) / median(baseline), each side resampled on its own."""
    return ratio_of_medians_ci(current, baseline, confidence=0.95, seed=seed, resamples=resamples)


# --- matching --------------------------------------------------------------------------------------------

def _samples(record: dict[str, Any]) -> np.ndarray:
    x = np.asarray((record.get("latency_ms") or {}).get("samples") or [], dtype=float)
    return x[np.isfinite(x)]


def _p50(record: dict[str, Any], samples: np.ndarray) -> float | None:
    p50 = (record.get("latency_ms") or {}).get("p50")
    if p50 is None and len(samples):
        p50 = float(np.median(samples))
    return None if p50 is None else float(p50)


def _is_ok(record: dict[str, Any]) -> bool:
    return record.get("status") == "ok" and bool(record.get("latency_ms"))


def _why(record: dict[str, Any]) -> str:
    status = record.get("status") or "failed"
    reason = record.get("reason") or ""
    return f"{status}: {reason}" if reason else status


def _top1_change_pt(current: dict[str, Any], baseline: dict[str, Any]) -> float | None:
    """Only when both measured top-1 on the same images; otherwise the difference would mean nothing."""
    a, b = current.get("accuracy") or {}, baseline.get("accuracy") or {}
    if a.get("top1") is None or b.get("top1") is None or crops_key(a) != crops_key(b):
        return None
    return (float(a["top1"]) - float(b["top1"])) * 100.0


def _cell(device: str, key: str, record: dict[str, Any], verdict: str, **values: Any) -> CellComparison:
    parts = key.split("|")
    batch = record.get("batch_size")
    if batch is None and len(parts) > 3 and parts[3][1:].isdigit():
        batch = int(parts[3][1:])
    return CellComparison(device=device, key=key,
                          model=record.get("model") or parts[0],
                          runtime=record.get("runtime") or (parts[1] if len(parts) > 1 else ""),
                          precision=record.get("precision") or (parts[2] if len(parts) > 2 else ""),
                          batch_size=int(batch or 0), verdict=verdict, **values)


def _judge(device: str, key: str, cur: dict[str, Any], base: dict[str, Any], *, alpha: float, threshold: float,
           seed: int, resamples: int) -> CellComparison:
    """Both cells succeeded: compare their latency samples."""
    x, y = _samples(cur), _samples(base)
    cur_p50, base_p50 = _p50(cur, x), _p50(base, y)
    ratio = cur_p50 / base_p50 if cur_p50 is not None and base_p50 else None
    values: dict[str, Any] = {"baseline_p50": base_p50, "current_p50": cur_p50, "ratio": ratio,
                              "n_baseline": len(y), "n_current": len(x), "top1_change_pt": _top1_change_pt(cur, base)}
    if len(x) < MIN_SAMPLES or len(y) < MIN_SAMPLES or ratio is None:
        return _cell(device, key, cur, TOO_FEW, note=f"need at least {MIN_SAMPLES} latency samples on each side",
                     **values)
    slower_p, faster_p = mann_whitney_p(x, y)
    p = slower_p if ratio > 1 else faster_p if ratio < 1 else min(slower_p, faster_p)
    ci = ratio_ci95(x, y, seed=seed, resamples=resamples)
    values.update(p_value=p, ratio_ci95=ci)
    verdict, note = UNCHANGED, ""
    if ci is not None and p < alpha:
        if ratio > 1 + threshold and ci[0] > 1:
            verdict = REGRESSION
        elif ratio < 1 / (1 + threshold) and ci[1] < 1:
            verdict = IMPROVEMENT
        elif abs(math.log(ratio)) <= math.log1p(threshold):
            note = f"significant but within the {threshold:.0%} threshold"
    return _cell(device, key, cur, verdict, note=note, **values)


def _index(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Records by (device, key) in first-seen order; a later record of the same cell replaces an earlier one."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if "key" in record:
            out[(device_of(record), record["key"])] = record
    return out


def compare(current: list[dict[str, Any]], baseline: list[dict[str, Any]], *, alpha: float = 0.01,
            threshold: float = 0.05, seed: int = 0, resamples: int = RESAMPLES) -> Comparison:
    """Every cell of either run, matched by (device, key); skipped cells count only when they changed to or
    from ok. Each cell's bootstrap uses ``seed`` itself, so a verdict does not depend on the other cells."""
    cur_index, base_index = _index(current), _index(baseline)
    cells: list[CellComparison] = []

    def both(cur: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        return {"stated": stated_differences(cur, base),
                "untrusted": list(dict.fromkeys(untrusted_reasons(cur) + untrusted_reasons(base)))}

    for device, key in list(cur_index) + [k for k in base_index if k not in cur_index]:
        cur, base = cur_index.get((device, key)), base_index.get((device, key))
        if cur is not None and base is not None:
            cur_ok, base_ok = _is_ok(cur), _is_ok(base)
            differ = differences(cur, base) if cur_ok and base_ok else []
            if differ:
                x, y = _samples(cur), _samples(base)
                cur_p50, base_p50 = _p50(cur, x), _p50(base, y)
                cells.append(_cell(device, key, cur, NOT_COMPARABLE, baseline_p50=base_p50, current_p50=cur_p50,
                                   n_baseline=len(y), n_current=len(x), differences=differ,
                                   note="; ".join(differ), **both(cur, base)))
            elif cur_ok and base_ok:
                judged = _judge(device, key, cur, base, alpha=alpha, threshold=threshold, seed=seed,
                                resamples=resamples)
                for name, value in both(cur, base).items():
                    setattr(judged, name, value)
                cells.append(judged)
            elif base_ok:
                cells.append(_cell(device, key, cur, NEWLY_FAILING, baseline_p50=_p50(base, _samples(base)),
                                   n_baseline=len(_samples(base)), note=_why(cur), **both(cur, base)))
            elif cur_ok:
                cells.append(_cell(device, key, cur, FIXED, current_p50=_p50(cur, _samples(cur)),
                                   n_current=len(_samples(cur)), note=f"was {_why(base)}", **both(cur, base)))
            elif cur.get("status") != "skipped" and base.get("status") != "skipped":
                cells.append(_cell(device, key, cur, BOTH_FAILED, note=_why(cur)))
        elif cur is not None and cur.get("status") != "skipped":
            x = _samples(cur)
            cells.append(_cell(device, key, cur, ONLY_CURRENT, current_p50=_p50(cur, x) if _is_ok(cur) else None,
                               n_current=len(x), note="" if _is_ok(cur) else _why(cur),
                               untrusted=untrusted_reasons(cur)))
        elif base is not None and base.get("status") != "skipped":
            y = _samples(base)
            cells.append(_cell(device, key, base, ONLY_BASELINE, baseline_p50=_p50(base, y) if _is_ok(base) else None,
                               n_baseline=len(y), note="" if _is_ok(base) else _why(base),
                               untrusted=untrusted_reasons(base)))
    return Comparison(cells=cells, alpha=alpha, threshold=threshold, resamples=resamples, seed=seed)


# --- Markdown --------------------------------------------------------------------------------------------

def _p(value: float | None) -> str:
    return "" if value is None else "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _ratio(cell: CellComparison) -> str:
    if cell.ratio is None:
        return ""
    text = f"{cell.ratio:.3f}"
    return text + (f" [{cell.ratio_ci95[0]:.3f}, {cell.ratio_ci95[1]:.3f}]" if cell.ratio_ci95 else "")


def _table(cells: list[CellComparison]) -> Table:
    """The judged cells; a last column states changed library versions when any cell has one."""
    stated = any(c.stated for c in cells)
    rows = [[text(c.label), num(c.baseline_p50, 3), num(c.current_p50, 3), Cell(_ratio(c), c.ratio),
             Cell(_p(c.p_value), c.p_value), num(c.top1_change_pt, 2), *([text("; ".join(c.stated))] if stated else [])]
            for c in cells]
    return Table(columns=["Cell", "Baseline p50 (ms)", "Current p50 (ms)", "Ratio [95% CI]", "p", "Δ top-1 (pt)",
                          *(["Versions (baseline → current)"] if stated else [])],
                 rows=rows, numeric={1, 2, 3, 4, 5})


def _not_comparable(cells: list[CellComparison]) -> Table:
    rows = [[text(c.label), num(c.baseline_p50, 3), num(c.current_p50, 3), text("; ".join(c.differences))]
            for c in cells]
    return Table(columns=["Cell", "Baseline p50 (ms)", "Current p50 (ms)", "Measured differently (baseline → current)"],
                 rows=rows, numeric={1, 2})


def _listing(cells: list[CellComparison], what: str) -> Bullets:
    return Bullets([f"{c.label}: **{what}**" + (f": {c.note}" if c.note else "") for c in cells])


def blocks(comparison: Comparison, baseline_name: str) -> list[Block]:
    """The report's baseline section: regressions first, then improvements, then what did not change."""
    c = comparison
    out: list[Block] = [Heading(f"Compared with baseline {baseline_name}", 2), Paragraph(
        f"Cells are matched by machine and key; timings from different machines are never compared. A cell "
        f"is a **regression** when its median latency is more than {c.threshold:.0%} above the baseline's, "
        f"the 95% bootstrap confidence interval of the ratio of medians ({c.resamples} resamples of the raw "
        f"samples, seed {c.seed}) lies wholly above 1, and a one-sided Mann–Whitney U test on the raw "
        f"samples gives p < {c.alpha:g}; an **improvement** is the mirror image (ratio below "
        f"1/{1 + c.threshold:g}). A significant shift smaller than the threshold counts as no significant "
        f"change, and cells with fewer than {MIN_SAMPLES} samples on either side are not judged. A cell that "
        f"succeeded in the baseline and fails (or is skipped) now is also a regression. The test treats a run's "
        f"samples as independent; consecutive calls are correlated and noise between runs is not in them, so "
        f"the threshold is what keeps run-to-run noise out: re-run a flagged cell before trusting a small one. "
        f"Only cells measured under the same conditions are judged (timing profile and its minimums, threads, "
        f"batch size, quantisation recipe and its settings, evaluation images); the others are listed as **not "
        f"comparable** with the difference and are never regressions. Changed library versions do not stop a "
        f"comparison; they are stated beside the cell.")]
    for title, verdict, status in (("Regressions", REGRESSION, NEWLY_FAILING), ("Improvements", IMPROVEMENT, FIXED)):
        timed, changed = c.with_verdict(verdict), c.with_verdict(status)
        out.append(Heading(f"{title} ({len(timed) + len(changed)})", 3))
        if timed:
            out.append(_table(timed))
        if changed:
            out.append(_listing(changed, status))
        if not timed and not changed:
            out.append(Paragraph("None."))
    different = c.with_verdict(NOT_COMPARABLE)
    out.append(Heading(f"Not comparable: measured under other conditions ({len(different)})", 3))
    out.append(_not_comparable(different) if different else Paragraph("None: every matched cell was measured "
                                                                      "under the same conditions."))
    counts = c.counts()
    summary = f"{counts.get(UNCHANGED, 0)} cell(s) show no significant change."
    rest = [f"{counts[v]} cell(s): {v}" for v in (TOO_FEW, ONLY_BASELINE, ONLY_CURRENT, BOTH_FAILED) if counts.get(v)]
    if rest:
        summary += " Not judged: " + "; ".join(rest) + "."
    out.append(Paragraph(summary))
    others = [cell for cell in c.cells if cell.verdict in (ONLY_BASELINE, ONLY_CURRENT, BOTH_FAILED) and cell.note]
    if others:
        out.append(Bullets([f"{cell.label}: {cell.verdict}: {cell.note}" for cell in others]))
    versions = [cell for cell in c.cells if cell.stated and cell.verdict not in (REGRESSION, IMPROVEMENT)]
    if versions:
        out.append(Paragraph("Compared across library versions (" + "; ".join(
            dict.fromkeys(line for cell in versions for line in cell.stated)) + f"): {len(versions)} other cell(s)."))
    untrusted = [cell for cell in c.cells if cell.untrusted]
    if untrusted:
        out.append(Paragraph(f"{UNTRUSTED_MARK}: " + "; ".join(f"{cell.label}: {', '.join(cell.untrusted)}"
                                                              for cell in untrusted) + "."))
    return out


__all__ = ["CellComparison", "Comparison", "blocks", "compare", "differences", "mann_whitney_p", "ratio_ci95",
           "stated_differences"]
