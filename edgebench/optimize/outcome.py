"""What a finished search says: each candidate's figures (marked probe or final, selection or report images), the
Pareto set, each family's fate, what a plain run answers, and ``optimize.md`` (in the sentences and with the candidates
table of report's search section, ``edgebench.report.search``)."""
from __future__ import annotations

from typing import Any

from edgebench.optimize import strategy
from edgebench.report.search import (CANDIDATE_COLUMNS, accuracy_sentence, candidate_cells, figures_text,
                                     images_sentence, plain_sentence, table_rows)
from edgebench.results.search import FINAL, SKIPPED
from edgebench.tasks import main_figure, main_value

STAGE_DEPTH = {"final": 3, "full": 2, "screen": 1}


def final_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines measured in the final round with a top-1 (on the report images): the search's measurements. A probe's
    latency and a selection top-1 never are."""
    return [r for r in lines if r.get("status") == "ok" and (r.get("search") or {}).get("stage") == FINAL
            and main_value(r.get("accuracy")) is not None]


def pareto_keys(lines: list[dict[str, Any]], batch: int) -> list[str]:
    """Deployments no other beats on latency, accuracy (the task's main figure) and size at once (final round, report
    images)."""
    from edgebench.report.pareto import pareto_set

    rows = [r for r in final_lines(lines) if r["batch_size"] == batch]
    points = [(r["latency_ms"]["p50"], main_value(r["accuracy"]), r.get("size_mb") or float("nan")) for r in rows]
    return [rows[i]["key"] for i in pareto_set(points, maximise=(False, True, False))]


# -- each candidate's figures ------------------------------------------------------------------------------------
def candidate_figures(screened: dict[str, Any] | None, full: dict[str, Any] | None,
                      line: dict[str, Any] | None) -> dict[str, Any]:
    """A candidate's figures for the candidates table (``optimize.json``): the deepest stage it reached, its latency
    (``timing`` "final": the final round's, a measurement; "probe": the screen's short probe, a decision's figure),
    its size, its accuracy on the selection images (``subset``: only the screen's first ones) and, for the final
    round's deployments, on the report images."""
    if line is not None:
        stage = "final"
    elif full is not None and full.get("status") == "ok":
        stage = "full"
    elif screened is not None:
        stage = "screen"
    else:
        return {"stage": None}
    timed = line if line is not None else screened
    out: dict[str, Any] = {"stage": stage, "latency": None, "size_mb": (timed or {}).get("size_mb"),
                           "selection": None, "report": None}
    if (timed or {}).get("status") == "ok":
        lo, p50, hi = strategy.latency(timed)
        out["latency"] = {"p50": p50, "lo": lo, "hi": hi, "timing": "final" if line is not None else "probe"}
    if full is not None and full.get("status") == "ok":
        out["selection"] = {**_accuracy_figures(full), "subset": False}
    elif screened is not None and screened.get("status") == "ok":
        out["selection"] = {**_accuracy_figures(screened), "subset": True}
    if line is not None and line.get("status") == "ok":
        out["report"] = _accuracy_figures(line)
    return out


def _accuracy_figures(record: dict[str, Any]) -> dict[str, Any] | None:
    accuracy = record.get("accuracy") or {}
    if main_value(accuracy) is None:
        return None
    drop = strategy.drop_pt(record) or {}
    return {"images": accuracy.get("images"), "figure": main_figure(accuracy), "value": main_value(accuracy),
            "top1": accuracy.get("top1"), "drop": drop.get("estimate"),
            "lo": drop.get("lo"), "hi": drop.get("hi"), "verdict": drop.get("verdict")}


# -- families ----------------------------------------------------------------------------------------------------
def family_fates(candidates: list[dict[str, Any]], goal: strategy.Goal) -> list[dict[str, Any]]:
    """Per family: its candidates, its best one (the chosen one, else the one that went furthest, then by the
    objective) and why it was not chosen. A runtime that cannot take the model (every candidate of its families
    skipped for one reason) is one row for all its precisions, after the families a user can act on."""
    families: dict[str, list[dict[str, Any]]] = {}
    for row in candidates:
        families.setdefault(row["family"], []).append(row)
    out, skipped = [], {}
    for family, rows in families.items():
        if all(r.get("fate", "").startswith(SKIPPED) for r in rows) and len({r["fate"] for r in rows}) == 1:
            skipped.setdefault((rows[0]["runtime"], rows[0]["fate"]), []).append((family, rows))
            continue
        chosen = next((r for r in rows if r.get("fate") == "chosen"), None)
        best = chosen or min(rows, key=lambda r: (-STAGE_DEPTH.get(r.get("stage") or "", 0), _objective(r, goal)))
        out.append({"family": family, "candidates": len(rows), "best": best["key"],
                    "fate": best.get("fate") or "not measured", "chosen": chosen is not None})
    for (runtime, fate), group in skipped.items():
        if len(group) == 1:
            family, rows = group[0]
            out.append({"family": family, "candidates": len(rows), "best": rows[0]["key"], "fate": fate,
                        "chosen": False})
            continue
        precisions = ", ".join(dict.fromkeys(r["precision"] for _, rows in group for r in rows))
        out.append({"family": f"{runtime} ({precisions})", "candidates": sum(len(rows) for _, rows in group),
                    "best": None, "fate": fate, "chosen": False, "runtime": runtime})
    return out


def _objective(row: dict[str, Any], goal: strategy.Goal) -> float:
    """A candidate row's objective, lower better (compared within one stage: probe with probe, final with final)."""
    inf = float("inf")
    if goal.objective == "size":
        return row.get("size_mb") or inf
    if goal.objective == "accuracy":
        drop = (row.get("selection") or {}).get("drop")
        return inf if drop is None else drop
    return (row.get("latency") or {}).get("p50", inf)


# -- the chosen one, in words --------------------------------------------------------------------------------------
def plain_answer(lines: list[dict[str, Any]], goal: strategy.Goal) -> dict[str, Any] | None:
    """What ``pick`` answers on a plain run (each runtime's default recipes) under the same constraints, decided as
    the search decides (final-round latency, selection images' accuracy); the line itself is returned."""
    plain = [r for r in lines if (r.get("search") or {}).get("stage") == FINAL and not r.get("variant")]
    chosen, _, _ = strategy.choose([strategy.on_selection(r) for r in plain], goal)
    return next((r for r in plain if chosen and r["key"] == chosen["key"]), None)


# -- optimize.md ---------------------------------------------------------------------------------------------------
def markdown(summary: dict[str, Any], lines: list[dict[str, Any]], sensitivity: dict[str, Any] | None) -> str:
    goal = strategy.Goal(**summary["goal"])
    by_key = {r["key"]: r for r in lines}
    out = [f"# edgebench optimize: {summary['model']}", ""]
    out += [f"Objective: {goal.objective} at batch {goal.batch_size}; {goal.budget_text()}. Search budget "
            f"{summary['budget_min']:g} min, took {summary['elapsed_s'] / 60:.1f} min "
            f"({', '.join(f'{k} {v / 60:.1f}' for k, v in summary.get('stage_s', {}).items())} min).", ""]
    images = images_sentence(summary)
    if images:
        out += [images, ""]
    chosen = by_key.get(summary.get("chosen") or "")
    if chosen:
        out += [f"**Chosen: {strategy.label(chosen)}**: {figures_text(chosen)}.", ""]
        out += [plain_sentence(chosen, plain_answer(lines, goal)), ""]
        sentence = accuracy_sentence(chosen, goal)
        if sentence:
            out += [sentence, ""]
        if summary.get("deploy"):
            out += [f"Deploy folder: `{summary['deploy']}` (artifact, preprocess.json, figures.json, predict.py).", ""]
    else:
        out += ["**Nothing met the constraints.** The families below say why.", ""]
    out += ["## Families", "", "| family | tried | best | fate |", "|---|---:|---|---|"]
    for fam in summary.get("families", []):
        best = strategy.key_label(fam["best"]) if fam.get("best") else "–"
        out.append(f"| {fam['family']} | {fam['candidates']} | {best} | {fam['fate']} |")
    candidates = [c for c in summary.get("candidates", []) if "stage" in c]
    if candidates:
        out += ["", "## Every candidate", "",
                "Latency is the final round's (the run's profile, every finalist in the same rounds) or, marked "
                "\"probe\", the screen's short probe: a figure the search decided on, not a measurement. The "
                "selection drop is on the images the search decided on (\"screen\": the screen's subset); the report "
                "figures, on the images held out from every decision, exist for the final round's deployments only.",
                "", "| " + " | ".join(CANDIDATE_COLUMNS) + " |", "|---|---|---:|---|---:|---|---:|---|"]
        out += ["| " + " | ".join(candidate_cells(row)) + " |" for row in table_rows(candidates)]
    pareto = [by_key[k] for k in summary.get("pareto", []) if k in by_key]
    if pareto:
        out += ["", "## Pareto set (latency × accuracy × size: final round, report images)", ""]
        out += [f"- {strategy.label(r)}: {figures_text(r)}" for r in sorted(pareto, key=lambda r: r["latency_ms"]["p50"])]
    if sensitivity and sensitivity.get("layers"):
        out += ["", f"## Layer sensitivity ({sensitivity.get('method', '')}, {sensitivity.get('images')} images)", "",
                "Lowest signal-to-quantisation-noise first; the mixed variants keep the first N in float.", "",
                "| layer | op | activation SQNR dB | weight SQNR dB | output SQNR dB |", "|---|---|---:|---:|---:|"]
        for layer in sensitivity["layers"][:10]:
            out.append(f"| `{layer['node']}` | {layer['op']} | {_db(layer.get('activation_sqnr_db'))} | "
                       f"{_db(layer.get('weight_sqnr_db'))} | {_db(layer.get('output_sqnr_db'))} |")
    out += ["", "## Reproduce", "", f"    {summary['command']}", ""]
    return "\n".join(out)


def _db(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
