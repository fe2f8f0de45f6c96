"""The "Sustained runs" section: per cell run with `--sustained`, p50 per minute, the drift from the first
minute to the last, and the CPU frequency and temperature where the machine exposed them; and a plot of each
cell's p50 per minute against its first minute."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.report import plots
from edgebench.report.document import Block, Bullets, Cell, Heading, Image, Paragraph, Table, num, text

DRIFT_FLAG_PCT = 5.0
FLAG = "throttling or heat-soak: the short-run p50 understates the sustained latency"


def sustained_records(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if r.get("status") == "ok" and (r.get("sustained") or {}).get("buckets")]


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def per_minute(summary: dict[str, Any]) -> str:
    """``m1 4.21 · m2 4.25 · m3+ 4.30 ms`` (``+``: the short last minute merged in; minutes are 1-based here)."""
    buckets = summary["buckets"]
    unit = "" if summary.get("bucket_s", 60.0) == 60.0 else f" ({summary['bucket_s']:g} s buckets)"
    parts = []
    for i, b in enumerate(buckets):
        tail = "+" if summary.get("merged_tail") and i == len(buckets) - 1 else ""
        parts.append(f"m{b['minute'] + 1}{tail} {_ms(b['p50'])}")
    return " · ".join(parts) + f" ms{unit}"


def _mhz(reading: dict[str, Any] | None) -> dict[str, Any] | None:
    mhz = (reading or {}).get("cpu_mhz")
    return mhz if isinstance(mhz, dict) and isinstance(mhz.get("mean"), (int, float)) else None


def frequency(summary: dict[str, Any]) -> tuple[float | None, float | None, bool]:
    """Mean CPU MHz at the end of the first and of the last minute, and whether it is only the nominal clock."""
    first, last = _mhz(summary["buckets"][0]), _mhz(summary["buckets"][-1])
    nominal = any(m and m.get("note") for m in (first, last))
    return (first or {}).get("mean"), (last or {}).get("mean"), nominal


def max_temp(summary: dict[str, Any]) -> float | None:
    readings = [*summary["buckets"], summary.get("sensors_end") or {}]
    values = [v for r in readings for v in ((r.get("temps_c") or {}).values()) if isinstance(v, (int, float))]
    return max(values) if values else None


def flagged(summary: dict[str, Any]) -> bool:
    drift = summary.get("drift_pct")
    return drift is not None and abs(drift) > DRIFT_FLAG_PCT


def rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The section as data, for report.json."""
    out = []
    for r in sustained_records(results):
        s = r["sustained"]
        first, last, nominal = frequency(s)
        out.append({"key": r["key"], "minutes": s.get("minutes"), "p50_per_minute": [b["p50"] for b in s["buckets"]],
                    "drift_pct": s.get("drift_pct"), "cpu_mhz_first": first, "cpu_mhz_last": last,
                    "cpu_mhz_nominal_only": nominal, "max_temp_c": max_temp(s), "flagged": flagged(s)})
    return out


def _table(records: list[dict[str, Any]]) -> Table:
    table_rows = []
    for r in records:
        s = r["sustained"]
        drift = s.get("drift_pct")
        first, last, nominal = frequency(s)
        mhz = f"{first:.0f} → {last:.0f}" + (" (nominal)" if nominal else "") if first and last else "not read"
        temp = max_temp(s)
        table_rows.append([text(r["key"]), num(s.get("minutes"), 1),
                           Cell(per_minute(s), s["buckets"][0]["p50"]),
                           Cell("" if drift is None else f"{drift:+.1f}%" + (" ⚠" if flagged(s) else ""), drift),
                           Cell(mhz, last), num(temp, 1, missing="not read")])
    return Table(["Cell", "Minutes", "p50 per minute", "Drift (last/first)", "CPU MHz first → last", "Max °C"],
                 table_rows, numeric={1, 3, 5})


def _plot(records: list[dict[str, Any]], path: Path, device: str) -> Path:
    """Each cell's p50 per minute as a percentage of its first minute, with the ±5% band the flag uses."""
    from matplotlib.figure import Figure  # the object API, as report/plots.py
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(8.0, 4.5), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for index, r in enumerate(records):
        buckets = r["sustained"]["buckets"]
        base = buckets[0]["p50"]
        ax.plot([b["minute"] + 1 for b in buckets], [100 * b["p50"] / base for b in buckets], label=r["key"],
                marker=plots.MARKERS[index % len(plots.MARKERS)], markersize=4, linewidth=1)
    ax.axhspan(100 - DRIFT_FLAG_PCT, 100 + DRIFT_FLAG_PCT, color="grey", alpha=0.12, label=f"±{DRIFT_FLAG_PCT:g}%")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("minute")
    ax.set_ylabel("p50 (% of the first minute)")
    ax.set_title(f"{device}: sustained runs, p50 per minute", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def sustained_blocks(results: list[dict[str, Any]], plot_path: Path | None = None,
                     device: str = "") -> list[Block]:
    """Nothing when no record was run with `--sustained`; the plot only when ``plot_path`` is given."""
    records = sustained_records(results)
    if not records:
        return []
    blocks: list[Block] = [
        Heading("Sustained runs", 3),
        Paragraph("Cells run with `--sustained MINUTES`: each ran alone and without pause (no interleaving) for "
                  "the minutes given. p50 per minute is m1, m2, … (m3+: a short last minute merged into the one "
                  "before); drift is the last minute's p50 against the first's; CPU frequency is read at the end "
                  "of the first and the last minute (\"nominal\": the OS reports only the fixed clock, so a "
                  f"throttle would not show); ⚠ marks a drift beyond ±{DRIFT_FLAG_PCT:g}%."),
        _table(records)]
    notes = list(dict.fromkeys(note for r in records if (note := r["sustained"].get("sensors_note"))))
    if notes:
        blocks.append(Paragraph("Sensors: " + " / ".join(n.removeprefix("sensors: ") for n in notes) + "."))
    drifting = [f"`{r['key']}`: {r['sustained']['drift_pct']:+.1f}% from the first minute to the last; {FLAG}."
                for r in records if flagged(r["sustained"])]
    if drifting:
        blocks.append(Bullets(drifting))
    if plot_path is not None and plots.available() is None:
        blocks.append(Image(_plot(records, plot_path, device), f"{device}: p50 per minute of each sustained run"))
    return blocks
