"""What a finished search says: the Pareto set, each family's fate, and ``optimize.md``."""
from __future__ import annotations

from typing import Any

from edgebench.optimize import strategy


def full_eval_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines whose top-1 is on every evaluation image (screened-out ones have a subset's)."""
    return [r for r in lines if r.get("status") == "ok" and (r.get("search") or {}).get("stage") in ("full", "final")
            and (r.get("accuracy") or {}).get("top1") is not None]


def pareto_keys(lines: list[dict[str, Any]], batch: int) -> list[str]:
    """Deployments no other beats on latency, top-1 and size at once (full evaluation only)."""
    from edgebench.report.pareto import pareto_set

    rows = [r for r in full_eval_lines(lines) if r["batch_size"] == batch]
    points = [(r["latency_ms"]["p50"], r["accuracy"]["top1"], r.get("size_mb") or float("nan")) for r in rows]
    return [rows[i]["key"] for i in pareto_set(points, maximise=(False, True, False))]


def family_fates(candidates: dict[str, tuple], fates: dict[str, str], lines: list[dict[str, Any]],
                 goal: strategy.Goal) -> list[dict[str, Any]]:
    """Per family: its candidates, its best one (by the objective, measured) and why it was not chosen."""
    by_key = {r["key"]: r for r in lines}
    families: dict[str, list[str]] = {}
    for key, (proposal, _cell) in candidates.items():
        families.setdefault(proposal.family, []).append(key)
    out = []
    for family, keys in families.items():
        measured = [k for k in keys if k in by_key and by_key[k].get("status") == "ok"]
        best = min(measured, key=lambda k: strategy.objective_value(by_key[k], goal)) if measured else keys[0]
        chosen = next((k for k in keys if fates.get(k) == "chosen"), None)
        out.append({"family": family, "candidates": len(keys), "best": chosen or best,
                    "fate": fates.get(chosen or best, "not measured"), "chosen": chosen is not None})
    return out


def plain_answer(lines: list[dict[str, Any]], goal: strategy.Goal) -> dict[str, Any] | None:
    """What ``pick`` answers on a plain run (each runtime's default recipes) under the same constraints."""
    plain = [r for r in lines if (r.get("search") or {}).get("stage") == "final" and not r.get("variant")]
    chosen, _, _ = strategy.choose(plain, goal)
    return chosen


def plain_sentence(chosen: dict[str, Any], plain: dict[str, Any] | None) -> str:
    """How the chosen deployment compares with what ``pick`` answers on a plain run, in the same final round."""
    if plain is None:
        return "No default recipe meets the constraints: only a searched variant does."
    if plain["key"] == chosen["key"]:
        return ("The chosen deployment is a plain run's own answer (a default recipe): no searched variant meeting the "
                "constraints was faster beyond the noise.")
    ratio = speedup(plain, chosen)
    return (f"A plain run's best under the same constraints (each runtime's default recipes, timed in the same final "
            f"rounds): {strategy.label(plain)}, {_figures(plain)}. The chosen one runs at {ratio['ratio']:.2f}× its "
            f"speed (95% interval {ratio['lo']:.2f} to {ratio['hi']:.2f}, {ratio['method']})"
            + (": not told apart, the interval reaches 1; the chosen one wins on accuracy or as a tie."
               if ratio["lo"] <= 1.0 <= ratio["hi"] else "."))


def speedup(slower: dict[str, Any], faster: dict[str, Any]) -> dict[str, Any]:
    """p50(slower) / p50(faster) with the bootstrap interval over their rounds (edgebench.stats)."""
    ci = strategy.ratio_of(slower, faster)
    return {"ratio": slower["latency_ms"]["p50"] / faster["latency_ms"]["p50"], "lo": ci["lo"], "hi": ci["hi"],
            "method": ci["method"]}


def markdown(summary: dict[str, Any], lines: list[dict[str, Any]], sensitivity: dict[str, Any] | None) -> str:
    goal = strategy.Goal(**summary["goal"])
    by_key = {r["key"]: r for r in lines}
    out = [f"# edgebench optimize: {summary['model']}", ""]
    out += [f"Objective: {goal.objective} at batch {goal.batch_size}; {goal.budget_text()}. Search budget "
            f"{summary['budget_min']:g} min, took {summary['elapsed_s'] / 60:.1f} min "
            f"({', '.join(f'{k} {v / 60:.1f}' for k, v in summary.get('stage_s', {}).items())} min).", ""]
    chosen = by_key.get(summary.get("chosen") or "")
    if chosen:
        out += [f"**Chosen: {strategy.label(chosen)}**: {_figures(chosen)}.", ""]
        plain = plain_answer(lines, goal)
        out += [plain_sentence(chosen, plain), ""]
        drop = strategy.drop_pt(chosen)
        if drop and goal.max_drop_pt is not None:
            sentence = (f"Accuracy: the budget applies to the drop's {goal.bound_words}; the chosen one's 95% interval is "
                        f"{drop['lo']:+.2f} to {drop['hi']:+.2f} pt on {drop['images']} images")
            if goal.bound == "estimate" and drop["hi"] > goal.max_drop_pt:
                sentence += (f", whose upper end is over the {goal.max_drop_pt:g} pt budget: these images cannot show "
                             "the drop is within it (`--accuracy-bound upper` requires that; give more images)")
            out += [sentence + ".", ""]
        if summary.get("deploy"):
            out += [f"Deploy folder: `{summary['deploy']}` (artifact, preprocess.json, figures.json, predict.py).", ""]
    else:
        out += ["**Nothing met the constraints.** The families below say why.", ""]
    out += ["## Families", "", "| family | tried | best | fate |", "|---|---:|---|---|"]
    for fam in summary.get("families", []):
        out.append(f"| {fam['family']} | {fam['candidates']} | {strategy.key_label(fam['best'])} | {fam['fate']} |")
    out += ["", "## Every candidate", "", "| deployment | stage | p50 ms | top-1 | drop pt (95%) | size MB | fate |",
            "|---|---|---:|---:|---|---:|---|"]
    for key, fate in summary.get("fates", {}).items():
        r = by_key.get(key)
        if r is None or r.get("status") != "ok":
            out.append(f"| {strategy.key_label(key)} | – | – | – | – | – | {fate} |")
            continue
        drop = strategy.drop_pt(r)
        drop_text = f"{drop['estimate']:+.2f} ({drop['lo']:+.2f}, {drop['hi']:+.2f})" if drop else "–"
        top1 = (r.get("accuracy") or {}).get("top1")
        stage = (r.get("search") or {}).get("stage", "")
        images = f" on {drop['images']}" if drop else ""
        out.append(f"| {strategy.label(r)} | {stage} | {r['latency_ms']['p50']:.2f} | "
                   f"{'–' if top1 is None else f'{top1:.2%}'}{images} | {drop_text} | {r.get('size_mb') or 0:.1f} | {fate} |")
    pareto = [by_key[k] for k in summary.get("pareto", []) if k in by_key]
    if pareto:
        out += ["", "## Pareto set (latency × top-1 × size, every evaluation image)", ""]
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
    drop = strategy.drop_pt(record)
    top1 = (record.get("accuracy") or {}).get("top1")
    if top1 is not None:
        text += f", top-1 {top1:.2%}"
    if drop:
        text += (f", drop {drop['estimate']:+.2f} pt (95% {drop['lo']:+.2f} to {drop['hi']:+.2f}, {drop['verdict']}, "
                 f"{drop['images']} images)")
    if record.get("size_mb"):
        text += f", {record['size_mb']:.1f} MB"
    return text
