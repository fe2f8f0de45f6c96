"""Two runs of the same cells, back to back (or one quiet and one beside a neighbour): how far each p50 moved, and
how far each ratio the report shows between two cells of a group moved (each reduced precision against its
runtime's FP32, every cell against PyTorch FP32, runtimes of one precision against each other), every ratio from
``edgebench.stats.cell_ratio`` (median of per-round ratios over the rounds both cells shared).

    python scripts/repeatability.py RUN_A RUN_B [--out FILE.md] [--ratio-tolerance 2] [--p50-tolerance 3]

Issue 22's targets: every within-group ratio within ±2% between two back-to-back runs of the quick suite, every
ONNX Runtime/OpenVINO ratio within ±3% between a quiet run and one beside an intermittent neighbour. Prints a
markdown table (and writes it with --out), with the rounds each run left out for other processes.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from edgebench.pipeline.measure import report_pairs
from edgebench.stats import cell_ratio


def load(run: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]
    return {r["key"]: r for r in rows if r.get("status") == "ok"}


def ratios(records: dict[str, dict]) -> dict[tuple[str, str], dict]:
    """Every reported ratio of every group: (reference key, other key) -> cell_ratio(reference, other)."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for record in records.values():
        groups[(record["model"], record["batch_size"])].append(record)
    out = {}
    for members in groups.values():
        cells = [(r["runtime"], r["precision"], r.get("variant") or "") for r in members]
        for i, j in report_pairs(cells):
            out[(members[i]["key"], members[j]["key"])] = cell_ratio(members[i], members[j])
    return out


def _label(pair: tuple[str, str]) -> str:
    (model, runtime_a, precision_a, batch), (_, runtime_b, precision_b, _) = (k.split("|")[:4] for k in pair)
    return f"{model} {batch}: {runtime_a} {precision_a} / {runtime_b} {precision_b}"


def left_out(records: dict[str, dict]) -> tuple[int, int]:
    """Rounds left out for other processes, and rounds in all, over a run's cells."""
    rounds = [r for record in records.values() for r in record.get("rounds") or []]
    return sum(1 for r in rounds if r.get("kept") is False), len(rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--p50-tolerance", type=float, default=3.0, help="percent (default 3)")
    parser.add_argument("--ratio-tolerance", type=float, default=2.0, help="percent (default 2)")
    parser.add_argument("--only", help="only ratios between these two runtimes, e.g. onnxruntime,openvino")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    a, b = load(args.run_a), load(args.run_b)
    lines = [f"# Repeatability: `{args.run_a.name}` then `{args.run_b.name}`", ""]
    for name, run in (("A", a), ("B", b)):
        out, total = left_out(run)
        lines.append(f"- Run {name}: {len(run)} ok cells; {out} of {total} cell-rounds left out for other processes.")
    lines += ["", "## Each p50", "",
              "| cell | p50 A (ms) | ±A | p50 B (ms) | ±B | B/A − 1 | within ±%g%% |" % args.p50_tolerance,
              "|---|---|---|---|---|---|---|"]
    worst_p50 = 0.0
    for key in a:
        if key not in b:
            continue
        pa, pb = a[key]["latency_ms"]["p50"], b[key]["latency_ms"]["p50"]
        change = (pb / pa - 1) * 100
        worst_p50 = max(worst_p50, abs(change))
        ca, cb = ((r.get("p50_precision") or {}).get("half_width_pct") for r in (a[key], b[key]))
        lines.append(f"| `{key}` | {pa:.3f} | {_pct(ca)} | {pb:.3f} | {_pct(cb)} | {change:+.2f}% | "
                     f"{'yes' if abs(change) <= args.p50_tolerance else '**no**'} |")
    lines += ["", "## Each ratio a report shows (reference / other: how many times faster the other is)", "",
              f"| ratio | A (95%) | B (95%) | B/A − 1 | within ±{args.ratio_tolerance:g}% |", "|---|---|---|---|---|"]
    only = set(args.only.split(",")) if args.only else None
    ra, rb = ratios(a), ratios(b)
    worst, worst_label = 0.0, ""
    for pair, first in ra.items():
        second = rb.get(pair)
        if second is None:
            continue
        if only and {k.split("|")[1] for k in pair} != only:
            continue
        change = (second["ratio"] / first["ratio"] - 1) * 100
        if abs(change) > worst:
            worst, worst_label = abs(change), _label(pair)
        lines.append(f"| {_label(pair)} | {_ratio(first)} | {_ratio(second)} | {change:+.2f}% | "
                     f"{'yes' if abs(change) <= args.ratio_tolerance else '**no**'} |")
    lines += ["", f"Largest p50 change {worst_p50:.2f}% (target ±{args.p50_tolerance:g}%); largest ratio change "
              f"{worst:.2f}% ({worst_label}; target ±{args.ratio_tolerance:g}%)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


def _pct(value: float | None) -> str:
    return f"±{value:.1f}%" if value is not None else ""


def _ratio(r: dict) -> str:
    return f"{r['ratio']:.3f} ({r['lo']:.3f}–{r['hi']:.3f}){'' if r['paired'] else ' unpaired'}"


if __name__ == "__main__":
    raise SystemExit(main())
