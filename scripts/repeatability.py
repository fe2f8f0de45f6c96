"""Two runs of the same cells, back to back: how far each p50 moved, and how far each ratio between two
runtimes (same model, precision and batch) moved.

    python scripts/repeatability.py RUN_A RUN_B [--pair onnxruntime openvino] [--out FILE.md]

Issue 14's targets on the quick suite: every ONNX Runtime/OpenVINO ratio within ±2% between the runs, every
p50 within ±3%. Prints a markdown table (and writes it with --out).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(run: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]
    return {r["key"]: r for r in rows if r.get("status") == "ok"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--pair", nargs=2, default=["onnxruntime", "openvino"], metavar=("NUMERATOR", "DENOMINATOR"))
    parser.add_argument("--p50-tolerance", type=float, default=3.0, help="percent (default 3)")
    parser.add_argument("--ratio-tolerance", type=float, default=2.0, help="percent (default 2)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    a, b = load(args.run_a), load(args.run_b)
    lines = [f"# Repeatability: `{args.run_a.name}` then `{args.run_b.name}`", "",
             "## Each p50", "",
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
    num, den = args.pair
    lines += ["", f"## {num}/{den} p50 ratio", "", f"| model, precision, batch | ratio A | ratio B | B/A − 1 | within ±{args.ratio_tolerance:g}% |",
              "|---|---|---|---|---|"]
    worst_ratio = 0.0
    for key in a:
        model, runtime, precision, batch = key.split("|")
        other = f"{model}|{den}|{precision}|{batch}"
        if runtime != num or other not in a or key not in b or other not in b:
            continue
        ra = a[key]["latency_ms"]["p50"] / a[other]["latency_ms"]["p50"]
        rb = b[key]["latency_ms"]["p50"] / b[other]["latency_ms"]["p50"]
        change = (rb / ra - 1) * 100
        worst_ratio = max(worst_ratio, abs(change))
        lines.append(f"| {model} {precision} {batch} | {ra:.4f} | {rb:.4f} | {change:+.2f}% | "
                     f"{'yes' if abs(change) <= args.ratio_tolerance else '**no**'} |")
    lines += ["", f"Largest p50 change {worst_p50:.2f}% (target ±{args.p50_tolerance:g}%); largest {num}/{den} ratio "
              f"change {worst_ratio:.2f}% (target ±{args.ratio_tolerance:g}%)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


def _pct(value: float | None) -> str:
    return f"±{value:.1f}%" if value is not None else ""


if __name__ == "__main__":
    raise SystemExit(main())
