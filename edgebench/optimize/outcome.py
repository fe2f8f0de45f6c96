"""What a finished search says: each candidate's figures (marked probe or final, selection or report images), the
Pareto set, each family's fate, and ``optimize.md``."""
from __future__ import annotations

from typing import Any

from edgebench.optimize import strategy

STAGE_DEPTH = {"final": 3, "full": 2, "screen": 1}
SKIPPED = "skipped: "


def final_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines measured in the final round with a top-1 (on the report images): the search's measurements. A probe's
    latency and a selection top-1 never are."""
    return [r for r in lines if r.get("status") == "ok" and (r.get("search") or {}).get("stage") == "final"
            and (r.get("accuracy") or {}).get("top1") is not None]


def pareto_keys(lines: list[dict[str, Any]], batch: int) -> list[str]:
    """Deployments no other beats on latency, top-1 and size at once (final round, report images)."""
    from edgebench.report.pareto import pareto_set

    rows = [r for r in final_lines(lines) if r["batch_size"] == batch]
    points = [(r["latency_ms"]["p50"], r["accuracy"]["top1"], r.get("size_mb") or float("nan")) for r in rows]
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
    if accuracy.get("top1") is None:
        return None
    drop = strategy.drop_pt(record) or {}
    return {"images": accuracy.get("images"), "top1": accuracy["top1"], "drop": drop.get("estimate"),
            "lo": drop.get("lo"), "hi": drop.get("hi"), "verdict": drop.get("verdict")}


CANDIDATE_COLUMNS = ("Deployment", "Stage", "p50 ms", "Selection drop pt (95%)", "Report top-1",
                     "Report drop pt (95%)", "Size MB", "Fate")


def candidate_cells(row: dict[str, Any]) -> list[str]:
    """One candidates-table row as text (CANDIDATE_COLUMNS). A probe's p50 says "probe": it decided, it is not a
    measurement; selection figures say on how many images (and "screen" for the screen's subset)."""
    latency = row.get("latency")
    p50 = "–" if not latency else f"{latency['p50']:.2f}" + (" probe" if latency["timing"] == "probe" else "")
    selection, report = row.get("selection"), row.get("report")
    chosen_on = "–" if not selection else (_drop_text(selection) + f" on {selection['images']}"
                                           + (" (screen)" if selection.get("subset") else ""))
    size = row.get("size_mb")
    return [row.get("label") or strategy.key_label(row["key"]), row.get("stage") or "–", p50, chosen_on,
            "–" if not report else f"{report['top1']:.2%} on {report['images']}",
            "–" if not report else _drop_text(report), "–" if size is None else f"{size:.1f}", row.get("fate", "")]


def _drop_text(figures: dict[str, Any]) -> str:
    if figures.get("drop") is None:
        return "–"
    return f"{figures['drop']:+.2f} ({figures['lo']:+.2f}, {figures['hi']:+.2f})"


def table_rows(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates table's rows: every candidate, except that a runtime which cannot take the model (every one of
    its candidates skipped for one reason: not installed, no PyTorch model) is one row, not one per precision."""
    rows, skipped = [], {}
    for row in candidates:
        fate = row.get("fate", "")
        if fate.startswith(SKIPPED):
            skipped.setdefault((row["runtime"], fate), []).append(row)
        else:
            rows.append(row)
    return rows + [_runtime_row(group) for group in skipped.values()]


def _runtime_row(group: list[dict[str, Any]]) -> dict[str, Any]:
    if len(group) == 1:
        return group[0]
    precisions = ", ".join(dict.fromkeys(r["precision"] for r in group))
    return {"key": group[0]["key"], "label": f"{group[0]['runtime']} ({precisions}: {len(group)} candidates)",
            "stage": None, "fate": group[0]["fate"]}


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
    plain = [r for r in lines if (r.get("search") or {}).get("stage") == "final" and not r.get("variant")]
    chosen, _, _ = strategy.choose([strategy.on_selection(r) for r in plain], goal)
    return next((r for r in plain if chosen and r["key"] == chosen["key"]), None)


def plain_sentence(chosen: dict[str, Any], plain: dict[str, Any] | None) -> str:
    """How the chosen deployment compares with what ``pick`` answers on a plain run, in the same final round."""
    if plain is None:
        return "No default recipe meets the constraints: only a searched variant does."
    if plain["key"] == chosen["key"]:
        return ("The chosen deployment is a plain run's own answer (a default recipe): no searched variant meeting the "
                "constraints was faster beyond the noise.")
    ratio = strategy.ratio_of(plain, chosen)
    return (f"A plain run's best under the same constraints (each runtime's default recipes, timed in the same final "
            f"rounds): {strategy.label(plain)}, {_figures(plain)}. The chosen one runs at {ratio['ratio']:.2f}× its "
            f"speed (95% interval {ratio['lo']:.2f} to {ratio['hi']:.2f}, {ratio['method']})"
            + (": not told apart, the interval reaches 1; the chosen one wins on accuracy or as a tie."
               if ratio["lo"] <= 1.0 <= ratio["hi"] else "."))


def accuracy_sentence(chosen: dict[str, Any], goal: strategy.Goal) -> str | None:
    """The chosen deployment's drop on the selection images (where the budget was applied) and on the report
    images (held out from every decision: the figure to expect), and what their intervals allow."""
    held_out = strategy.drop_pt(chosen)
    if goal.max_drop_pt is None or held_out is None:
        return None
    over = goal.bound == "estimate" and held_out["hi"] > goal.max_drop_pt
    if "selection" not in (chosen.get("search") or {}):  # a search from before the image roles: one set did both
        sentence = (f"Accuracy: the budget applies to the drop's {goal.bound_words}; the chosen one's 95% interval is "
                    f"{held_out['lo']:+.2f} to {held_out['hi']:+.2f} pt on {held_out['images']} images")
        if over:
            sentence += (f", whose upper end is over the {goal.max_drop_pt:g} pt budget: these images cannot show "
                         "the drop is within it (`--accuracy-bound upper` requires that; give more images)")
        return sentence + "."
    decided = strategy.drop_pt(strategy.on_selection(chosen))
    if decided is None:
        sentence = f"Accuracy on the {held_out['images']} report images: drop {_drop_words(held_out)}"
    else:
        sentence = (f"Accuracy: the budget ({goal.max_drop_pt:g} pt on the drop's {goal.bound_words}) was applied on "
                    f"the {decided['images']} selection images: drop {_drop_words(decided)}. On the "
                    f"{held_out['images']} report images, held out from every decision: drop {_drop_words(held_out)}")
        if goal.budgeted(held_out) > goal.max_drop_pt + 1e-9:
            sentence += "; that is over the budget: the selection images favoured the chosen one (expect the " \
                        "report figure)"
    if over:
        sentence += (f". The report interval's upper end is over the {goal.max_drop_pt:g} pt budget: these images "
                     "cannot show the drop is within it (give more images; `--accuracy-bound upper` requires it of "
                     "the selection images)")
    return sentence + "."


def _drop_words(drop: dict[str, Any]) -> str:
    return f"{drop['estimate']:+.2f} pt (95% {drop['lo']:+.2f} to {drop['hi']:+.2f}, {drop['verdict']})"


def images_sentence(summary: dict[str, Any]) -> str | None:
    """The three image roles of the search, in one sentence."""
    images = summary.get("images")
    if not images:
        return None
    calibration, selection, report = images["calibration"], images["selection"], images["report"]
    screen = min(summary.get("screen_images") or selection["images"], selection["images"])
    return (f"Images (seed {images['seed']}, disjoint, lists in `images/`): {calibration['images']} calibrate "
            f"({calibration['source']}); {selection['images']} select (the screen's first {screen}, the full "
            f"evaluation, tie-breaks, NNCF's accuracy control); {report['images']} report (held out from every "
            "decision: the final round's top-1 and drop).")


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
        out += [f"**Chosen: {strategy.label(chosen)}**: {_figures(chosen)}.", ""]
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
        out += ["", "## Pareto set (latency × top-1 × size: final round, report images)", ""]
        out += [f"- {strategy.label(r)}: {_figures(r)}" for r in sorted(pareto, key=lambda r: r["latency_ms"]["p50"])]
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


def _figures(record: dict[str, Any]) -> str:
    lat = record["latency_ms"]
    interval = record.get("p50_precision") or {}
    text = f"p50 {lat['p50']:.2f} ms"
    if interval:
        text += f" ±{interval['half_width_pct']:.1f}%"
    accuracy = record.get("accuracy") or {}
    role = (accuracy.get("eval_set") or {}).get("role")
    drop = strategy.drop_pt(record)
    if accuracy.get("top1") is not None:
        text += f", top-1 {accuracy['top1']:.2%}"
    if drop:
        text += (f", drop {drop['estimate']:+.2f} pt (95% {drop['lo']:+.2f} to {drop['hi']:+.2f}, {drop['verdict']}, "
                 f"{drop['images']} {role + ' ' if role else ''}images)")
    if record.get("size_mb"):
        text += f", {record['size_mb']:.1f} MB"
    return text
