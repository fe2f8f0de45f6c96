"""The "Sustained runs" section: shown only for records run with `--sustained`, with p50 per minute, the drift,
the CPU frequency and temperature, a flag beyond ±5%, and the plot."""
from __future__ import annotations

import pytest
from records import record, sustained, write_run

from edgebench.report.build import build
from edgebench.report.document import Image, to_html, to_markdown
from edgebench.report.runs import load_runs
from edgebench.report.sustained import FLAG

HOT = "timm:m|onnxruntime|fp32|b1"
STEADY = "timm:m|openvino|fp32|b1"


def _records() -> list[dict]:
    return [record("timm:m", "onnxruntime", p50=4.3, seed=1,
                   sustained=sustained([4.00, 4.12, 4.32], mhz=[1800.0, 1500.0, 1200.0], temps=[55.0, 71.0, 82.5])),
            record("timm:m", "openvino", p50=3.0, seed=2, sustained=sustained([3.00, 3.03, 3.06], mhz=[2596.1] * 3,
                                                                              nominal=True, merged_tail=True)),
            record("timm:m", "pytorch", p50=9.0, seed=3)]


def _row(text: str, key: str) -> str:
    escaped = key.replace("|", "\\|")  # Markdown tables escape the bars of a cell key
    return next(line for line in text.splitlines() if line.startswith(f"| {escaped} |"))


def _build(tmp_path, records, out=None):
    blocks, data = build(load_runs([write_run(tmp_path / "run", records)]), out)
    return blocks, data, to_markdown(blocks, base=out)


def test_section_gives_p50_per_minute_drift_frequency_and_temperature(tmp_path):
    _, data, text = _build(tmp_path, _records())
    section = text[text.index("### Sustained runs"):text.index("### Failed or skipped cells")]
    hot = _row(section, HOT)
    assert "m1 4.00 · m2 4.12 · m3 4.32 ms" in hot and "+8.0% ⚠" in hot
    assert "1800 → 1200" in hot and "| 82.5 |" in hot
    steady = _row(section, STEADY)
    assert "m3+ 3.06" in steady and "+2.0%" in steady and "⚠" not in steady
    assert "2596 → 2596 (nominal)" in steady and "not read" in steady
    assert "timm:m|pytorch" not in section  # a cell run without --sustained has no row
    flags = [line for line in section.splitlines() if FLAG in line]
    assert flags == [f"- `{HOT}`: +8.0% from the first minute to the last; {FLAG}."]
    rows = {r["key"]: r for r in data["devices"]["box"]["sustained"]}
    assert rows[HOT]["drift_pct"] == pytest.approx(8.0) and rows[HOT]["flagged"] is True
    assert rows[HOT]["max_temp_c"] == 82.5 and rows[HOT]["cpu_mhz_last"] == 1200.0
    assert rows[STEADY]["flagged"] is False and rows[STEADY]["cpu_mhz_nominal_only"] is True


def test_no_section_without_sustained_records(tmp_path):
    _, data, text = _build(tmp_path, [record("timm:m", "onnxruntime", seed=1), record("timm:m", "openvino", seed=2)])
    assert "Sustained runs" not in text and data["devices"]["box"]["sustained"] == []


def test_a_drop_in_latency_is_flagged_too_and_one_minute_has_no_drift(tmp_path):
    _, _, text = _build(tmp_path, [record("timm:m", "onnxruntime", sustained=sustained([5.0, 4.5])),
                                   record("timm:m", "openvino", sustained=sustained([3.0]))])
    assert "-10.0% ⚠" in _row(text, HOT) and "none readable here (a VM)" in text
    steady = _row(text, STEADY)
    assert "m1 3.00 ms" in steady and "⚠" not in steady


def test_plot_of_p50_per_minute_is_drawn_and_embedded(tmp_path):
    out = tmp_path / "out"
    blocks, _, text = _build(tmp_path, _records(), out)
    images = [b for b in blocks if isinstance(b, Image) and b.path.name.endswith("-sustained.png")]
    assert len(images) == 1 and images[0].path.stat().st_size > 1000
    assert f"]({images[0].path.relative_to(out).as_posix()})" in text
    assert "data:image/png;base64," in to_html(blocks, "t")
