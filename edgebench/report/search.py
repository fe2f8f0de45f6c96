"""The report's section for a run folder written by ``edgebench optimize``: the chosen deployment, each
family's fate, every candidate's figures (a probe's latency and a selection top-1 marked as the decisions' figures
they are, never shown as measurements) and the layer sensitivity, from ``optimize.json`` and the results (nothing
is measured)."""
from __future__ import annotations

import json
from typing import Any

from edgebench.report.document import Block, Heading, Paragraph, Table, num, text


def search_blocks(run_path, results: list[dict[str, Any]]) -> tuple[list[Block], dict[str, Any] | None]:
    from edgebench.optimize import strategy
    from edgebench.optimize.log import read_summary
    from edgebench.optimize.outcome import (CANDIDATE_COLUMNS, accuracy_sentence, candidate_cells, images_sentence,
                                            plain_answer, plain_sentence, table_rows)

    summary = read_summary(run_path)
    if not summary:
        return [], None
    goal = strategy.Goal(**summary["goal"])
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
        line = f"**Chosen: {strategy.label(chosen)}**, p50 {chosen['latency_ms']['p50']:.2f} ms"
        drop = strategy.drop_pt(chosen)
        sentence = accuracy_sentence(chosen, goal)
        if drop and not sentence:
            line += f", drop {drop['estimate']:+.2f} pt (95% {drop['lo']:+.2f} to {drop['hi']:+.2f}, {drop['verdict']})"
        blocks.append(Paragraph(line + ". " + plain_sentence(chosen, plain_answer(results, goal))
                                + (" " + sentence if sentence else "")))
    else:
        blocks.append(Paragraph("**Nothing met the constraints**; the families below say why."))
    rows = [[text(fam["family"]), num(fam["candidates"], 0),
             text(strategy.key_label(fam["best"]) if fam.get("best") else "–"), text(fam["fate"])]
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
