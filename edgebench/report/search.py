"""The report's section for a run folder written by ``edgebench optimize``: the chosen deployment, each
family's fate, every candidate's figures (a probe's latency and a selection top-1 marked as the decisions' figures
they are, never shown as measurements) and the layer sensitivity, from ``optimize.json`` and the results (nothing
is measured, nothing decided: the search recorded its choices).

The sentences and the candidates table are also those of ``optimize.md`` (``edgebench.optimize.outcome``), so the
search and the report say the same; this module reads the search's records through ``edgebench.results.search``
and never imports ``edgebench.optimize``."""
from __future__ import annotations

import json
from typing import Any

from edgebench.report.document import Block, Heading, Paragraph, Table, num, text
from edgebench.results.search import SKIPPED, Goal, drop_pt, key_label, label, on_selection, read_summary
from edgebench.tasks import FIGURE_NAMES, main_figure, main_value

CANDIDATE_COLUMNS = ("Deployment", "Stage", "p50 ms", "Selection drop pt (95%)", "Report accuracy",
                     "Report drop pt (95%)", "Size MB", "Fate")


def search_blocks(run_path, results: list[dict[str, Any]]) -> tuple[list[Block], dict[str, Any] | None]:
    summary = read_summary(run_path)
    if not summary:
        return [], None
    goal = Goal(**summary["goal"])
    by_key = {r["key"]: r for r in results}
    blocks: list[Block] = [Heading(f"Search: {summary['model']} (edgebench optimize)", 2)]
    blocks.append(Paragraph(f"Objective {goal.objective} at batch {goal.batch_size}; {goal.budget_text()}; search budget "
                            f"{summary['budget_min']:g} min, took {summary.get('elapsed_s', 0) / 60:.1f} min. "
                            f"Reproduce: `{summary.get('command')}`"))
    images = images_sentence(summary)
    if images:
        blocks.append(Paragraph(images))
    chosen = by_key.get(summary.get("chosen") or "")
    if chosen:
        line = f"**Chosen: {label(chosen)}**, p50 {chosen['latency_ms']['p50']:.2f} ms"
        drop = drop_pt(chosen)
        sentence = accuracy_sentence(chosen, goal)
        if drop and not sentence:
            line += f", drop {drop['estimate']:+.2f} pt (95% {drop['lo']:+.2f} to {drop['hi']:+.2f}, {drop['verdict']})"
        parts = [line + "."]
        # What a plain run answers, as the search recorded it (``plain``: its key, None when no default recipe met
        # the constraints); a search from before it was recorded, or whose line is not here, says nothing of it.
        plain_key = summary.get("plain")
        if "plain" in summary and (plain_key is None or plain_key in by_key):
            parts.append(plain_sentence(chosen, by_key.get(plain_key or "")))
        if sentence:
            parts.append(sentence)
        blocks.append(Paragraph(" ".join(parts)))
    else:
        blocks.append(Paragraph("**Nothing met the constraints**; the families below say why."))
    rows = [[text(fam["family"]), num(fam["candidates"], 0),
             text(key_label(fam["best"]) if fam.get("best") else "–"), text(fam["fate"])]
            for fam in summary.get("families", [])]
    blocks.append(Table(["Family", "Tried", "Best", "Fate"], rows, numeric={1}))
    candidates = [c for c in summary.get("candidates", []) if "stage" in c]
    if candidates:
        blocks += [Heading("Candidates", 3),
                   Paragraph("Only the final round's deployments are measurements, and only they are in the "
                             "report's other tables: a p50 marked \"probe\" is the screen's short probe, and the "
                             "selection drop is on the images the search decided on; the report figures are on "
                             "images held out from every decision."),
                   Table(list(CANDIDATE_COLUMNS), [[text(cell) for cell in candidate_cells(row)]
                                                   for row in table_rows(candidates)], numeric={2, 4, 6})]
    path = run_path / "sensitivity.json"
    if path.exists():
        layers = json.loads(path.read_text()).get("layers", [])[:10]
        blocks += [Heading("Layer sensitivity", 3),
                   Paragraph("Signal-to-quantisation-noise of each layer's INT8 inputs (ONNX Runtime's QDQ debugger), "
                             "lowest first; the mixed-precision variants keep the first ones in float."),
                   Table(["Layer", "Op", "Activation SQNR dB", "Weight SQNR dB", "Output SQNR dB"],
                         [[text(layer["node"]), text(layer["op"]), num(layer.get("activation_sqnr_db"), 1),
                           num(layer.get("weight_sqnr_db"), 1), num(layer.get("output_sqnr_db"), 1)] for layer in layers],
                         numeric={2, 3, 4})]
    return blocks, summary


# -- the candidates table ----------------------------------------------------------------------------------------
def candidate_cells(row: dict[str, Any]) -> list[str]:
    """One candidates-table row as text (CANDIDATE_COLUMNS). A probe's p50 says "probe": it decided, it is not a
    measurement; selection figures say on how many images (and "screen" for the screen's subset)."""
    latency = row.get("latency")
    p50 = "–" if not latency else f"{latency['p50']:.2f}" + (" probe" if latency["timing"] == "probe" else "")
    selection, report = row.get("selection"), row.get("report")
    chosen_on = "–" if not selection else (_drop_text(selection) + f" on {selection['images']}"
                                           + (" (screen)" if selection.get("subset") else ""))
    size = row.get("size_mb")
    return [row.get("label") or key_label(row["key"]), row.get("stage") or "–", p50, chosen_on,
            "–" if not report else f"{FIGURE_NAMES[report.get('figure') or 'top1']} {_value(report):.2%} on {report['images']}",
            "–" if not report else _drop_text(report), "–" if size is None else f"{size:.1f}", row.get("fate", "")]


def _value(figures: dict[str, Any]) -> float:
    """A candidate's main figure on the report images (before tasks, only top-1 was kept)."""
    return figures["value"] if figures.get("value") is not None else figures["top1"]


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


# -- the chosen one, in words --------------------------------------------------------------------------------------
def plain_sentence(chosen: dict[str, Any], plain: dict[str, Any] | None) -> str:
    """How the chosen deployment compares with what ``pick`` answers on a plain run (``plain``: that line, None when
    no default recipe meets the constraints), in the same final round."""
    from edgebench.stats import cell_ratio

    if plain is None:
        return "No default recipe meets the constraints: only a searched variant does."
    if plain["key"] == chosen["key"]:
        return ("The chosen deployment is a plain run's own answer (a default recipe): no searched variant meeting the "
                "constraints was faster beyond the noise.")
    ratio = cell_ratio(plain, chosen)
    return (f"A plain run's best under the same constraints (each runtime's default recipes, timed in the same final "
            f"rounds): {label(plain)}, {figures_text(plain)}. The chosen one runs at {ratio['ratio']:.2f}× its "
            f"speed (95% interval {ratio['lo']:.2f} to {ratio['hi']:.2f}, {ratio['method']})"
            + (": not told apart, the interval reaches 1; the chosen one wins on accuracy or as a tie."
               if ratio["lo"] <= 1.0 <= ratio["hi"] else "."))


def accuracy_sentence(chosen: dict[str, Any], goal: Goal) -> str | None:
    """The chosen deployment's drop on the selection images (where the budget was applied) and on the report
    images (held out from every decision: the figure to expect), and what their intervals allow."""
    held_out = drop_pt(chosen)
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
    decided = drop_pt(on_selection(chosen))
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
            "decision: the final round's accuracy and drop).")


def figures_text(record: dict[str, Any]) -> str:
    """A final line's figures in words: "p50 3.00 ms ±1.0%, top-1 74.50%, drop +0.50 pt (...), 14.0 MB"."""
    lat = record["latency_ms"]
    interval = record.get("p50_precision") or {}
    words = f"p50 {lat['p50']:.2f} ms"
    if interval:
        words += f" ±{interval['half_width_pct']:.1f}%"
    accuracy = record.get("accuracy") or {}
    role = (accuracy.get("eval_set") or {}).get("role")
    drop = drop_pt(record)
    if main_value(accuracy) is not None:
        words += f", {FIGURE_NAMES[main_figure(accuracy)]} {main_value(accuracy):.2%}"
    if drop:
        words += (f", drop {drop['estimate']:+.2f} pt (95% {drop['lo']:+.2f} to {drop['hi']:+.2f}, {drop['verdict']}, "
                  f"{drop['images']} {role + ' ' if role else ''}images)")
    if record.get("size_mb"):
        words += f", {record['size_mb']:.1f} MB"
    return words
