"""The report's section for a run folder written by ``edgebench optimize``: the chosen deployment, each
family's fate and the layer sensitivity, from ``optimize.json`` and the results (nothing is measured)."""
from __future__ import annotations

import json
from typing import Any

from edgebench.report.document import Block, Heading, Paragraph, Table, num, text


def search_blocks(run_path, results: list[dict[str, Any]]) -> tuple[list[Block], dict[str, Any] | None]:
    from edgebench.optimize import strategy
    from edgebench.optimize.log import read_summary
    from edgebench.optimize.outcome import plain_answer, plain_sentence

    summary = read_summary(run_path)
    if not summary:
        return [], None
    goal = strategy.Goal(**summary["goal"])
    by_key = {r["key"]: r for r in results}
    blocks: list[Block] = [Heading(f"Search: {summary['model']} (edgebench optimize)", 2)]
    blocks.append(Paragraph(f"Objective {goal.objective} at batch {goal.batch_size}; {goal.budget_text()}; search budget "
                            f"{summary['budget_min']:g} min, took {summary.get('elapsed_s', 0) / 60:.1f} min. "
                            f"Reproduce: `{summary.get('command')}`"))
    chosen = by_key.get(summary.get("chosen") or "")
    if chosen:
        line = f"**Chosen: {strategy.label(chosen)}**, p50 {chosen['latency_ms']['p50']:.2f} ms"
        drop = strategy.drop_pt(chosen)
        if drop:
            line += f", drop {drop['estimate']:+.2f} pt (95% {drop['lo']:+.2f} to {drop['hi']:+.2f}, {drop['verdict']})"
        blocks.append(Paragraph(line + ". " + plain_sentence(chosen, plain_answer(results, goal))))
    else:
        blocks.append(Paragraph("**Nothing met the constraints**; the families below say why."))
    rows = [[text(fam["family"]), num(fam["candidates"], 0), text(strategy.key_label(fam["best"])), text(fam["fate"])]
            for fam in summary.get("families", [])]
    blocks.append(Table(["Family", "Tried", "Best", "Fate"], rows, numeric={1}))
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
