"""What a search folder (``edgebench optimize``) holds, as anything may read it: the goal ``optimize.json`` records, the
figures a result line carries (its top-1 drop, its latency, its label, the selection images' figures in
``search.selection``) and which lines are measurements. The search writes these (``edgebench.optimize``); ``report``
and ``pick`` read them from here, so that rendering a search never imports the code that ran it."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.results.schema import precision_label

SUMMARY = "optimize.json"  # the search's settings and, once finished, its outcome (beside results.jsonl)
FINAL = "final"  # ``search.stage`` of a line measured in the final round: the only stage whose lines are measurements
SKIPPED = "skipped: "  # how a candidate's fate starts when it never ran (its runtime cannot take the model here)


def read_summary(run_dir: Path) -> dict[str, Any]:
    """``optimize.json`` of a search folder; empty for a folder no search wrote."""
    path = Path(run_dir) / SUMMARY
    return json.loads(path.read_text()) if path.exists() else {}


def is_measurement(record: dict[str, Any]) -> bool:
    """A result line is a measurement unless a search stage other than the final round wrote it: searches before
    issue 22 stored their screen (a short probe's latency, a subset's top-1) and full-evaluation lines in
    ``results.jsonl`` too, and those are figures of a decision, not measurements."""
    search = record.get("search")
    return not isinstance(search, dict) or search.get("stage", FINAL) == FINAL


@dataclass(frozen=True, kw_only=True)
class Goal:
    """What a search looks for (``optimize.json``'s ``goal``): the objective at one batch size within an accuracy
    budget and limits."""

    objective: str = "latency"
    batch_size: int = 1
    max_drop_pt: float | None = None
    bound: str = "estimate"  # the budget applies to the drop's estimate, or to its 95% interval's upper end
    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    max_memory_mb: float | None = None
    figure: str = "top-1"  # the task's main figure the budget is in (top-1, mAP, mIoU, δ1: edgebench.tasks)

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
        return f"{self.figure} drop ≤ {self.max_drop_pt:g} pt applied to the drop's {self.bound_words}"


def drop_pt(record: dict[str, Any]) -> dict[str, float] | None:
    """The drop of the task's main figure (top-1, mAP, mIoU, δ1) against the FP32 reference in points: estimate,
    95% interval, the paired test's verdict (McNemar's p-value for top-1)."""
    from edgebench.tasks import main_change

    change = main_change(record.get("accuracy"))
    if not change or not change.get("ci95"):
        return None
    lo, hi = change["ci95"]
    # "or 0.0": no drop prints as 0.00, not -0.00
    return {"estimate": -change["delta"] * 100.0 or 0.0, "lo": -hi * 100.0 or 0.0, "hi": -lo * 100.0 or 0.0,
            "p_value": change.get("p_value"), "verdict": change["verdict"],
            "images": (record.get("accuracy") or {}).get("images")}


def on_selection(record: dict[str, Any]) -> dict[str, Any]:
    """A final line as the search decided on it: its latency, and in place of its accuracy (the report images')
    the selection images' (``search.selection``); none when it has no selection figures. A line without
    ``search.selection`` (a search from before the image roles) is returned as it is."""
    search = record.get("search") or {}
    if "selection" not in search:
        return record
    from edgebench.tasks import main_figure

    chosen_on = search["selection"] or {}
    key = main_figure(chosen_on)
    accuracy = None
    if chosen_on.get(key) is not None:
        accuracy = {"images": chosen_on.get("images"), key: chosen_on[key], f"{key}_ci95": chosen_on.get(f"{key}_ci95"),
                    "vs_reference": {f"{key}_change": chosen_on.get(f"{key}_change")}}
        if chosen_on.get("metric"):
            accuracy["metric"] = chosen_on["metric"]
    return {**record, "accuracy": accuracy}


def latency(record: dict[str, Any]) -> tuple[float, float, float]:
    """p50 and its interval (lo, p50, hi) in ms; the interval collapses to the p50 when unknown."""
    p50 = (record.get("latency_ms") or {}).get("p50", math.inf)
    interval = record.get("p50_precision") or {}
    return interval.get("lo", p50), p50, interval.get("hi", p50)


def label(record: dict[str, Any]) -> str:
    """"onnxruntime int8 [entropy]": a line's runtime and precision with its recipe variant."""
    return f"{record['runtime']} {precision_label(record['precision'], record.get('variant') or '')}"


def key_label(key: str) -> str:
    """A candidate's label from its key (model|runtime|precision|bN[|variant]), for one never measured."""
    parts = key.split("|")
    return label({"runtime": parts[1], "precision": parts[2], "variant": parts[4] if len(parts) > 4 else ""})
