"""The report writes how precisely each p50 is known, flags those short of their target, and gives speed-ups
their 95% CI; runs from before issue 14 (no rounds, no precision) render as they did."""
from __future__ import annotations

import csv
from functools import partial

import pytest
from conftest import run_cli
from records import in_rounds, record, with_speedup, write_run

from edgebench.report import precision
from edgebench.report.build import build
from edgebench.report.document import to_html, to_markdown
from edgebench.report.runs import load_runs

MODEL = "timm:m"


def _new_run() -> list[dict]:
    """PyTorch and ONNX Runtime FP32 known to ±1%, an INT8 cell that stopped at its time cap short of it."""
    cell = partial(record, MODEL, batch=1, top1=None)
    torch = in_rounds(cell("pytorch", "fp32", p50=20.0, spread=0.004, n=240, seed=1), rounds=8)
    fp32 = in_rounds(cell("onnxruntime", "fp32", p50=5.0, spread=0.004, n=240, seed=2), rounds=8)
    int8 = in_rounds(cell("onnxruntime", "int8", p50=2.0, spread=0.15, n=24, seed=3), rounds=8)
    return [torch, fp32, with_speedup(int8, fp32)]


def _report(tmp_path, records: list[dict]) -> tuple[str, dict]:
    blocks, data = build(load_runs([write_run(tmp_path / "run", records)]), None)
    return to_markdown(blocks), data


def _grid_row(text: str, runtime: str, precision_: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {runtime} | {precision_} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_fixture_cells_are_met_and_short_as_intended():
    torch, fp32, int8 = _new_run()
    assert fp32["p50_precision"]["met"] and fp32["p50_precision"]["half_width_pct"] < 1.0
    assert not int8["p50_precision"]["met"] and int8["p50_precision"]["half_width_pct"] > 1.0


def test_precision_beside_each_p50_and_the_short_cell_flagged(tmp_path):
    torch, fp32, int8 = _new_run()
    text, _ = _report(tmp_path, [torch, fp32, int8])
    met = _grid_row(text, "onnxruntime", "fp32")
    assert met[2] == f"{fp32['latency_ms']['p50']:.2f} ±{fp32['p50_precision']['half_width_pct']:.1f}%"
    assert precision.FLAG not in " ".join(met)
    short = _grid_row(text, "onnxruntime", "int8")
    half = int8["p50_precision"]["half_width_pct"]
    assert short[2] == f"{int8['latency_ms']['p50']:.2f} ±{half:.1f}%{precision.FLAG}"
    # the section lists the short cell (only it), with what stopped it and what to change
    section = text[text.index("### p50 short of its target precision"):]
    assert section.splitlines()[0].endswith("(1 cell(s))")
    assert (f"`{MODEL}|onnxruntime|int8|b1`: {precision.FLAG} p50 known only to ±{half:.1f}% (target ±1%): "
            "stopped by time cap; raise --max-duration") in section
    assert "onnxruntime|fp32|b1`" not in section.split("###")[1]
    assert "half-width of its 95% interval" in text


def test_speedups_carry_their_confidence_interval(tmp_path):
    torch, fp32, int8 = _new_run()
    text, data = _report(tmp_path, [torch, fp32, int8])
    ci = int8["speedup_vs_fp32_ci"]
    assert ci["method"] == "bootstrap over rounds" and ci["lo"] < int8["speedup_vs_fp32"] < ci["hi"]
    row = _grid_row(text, "onnxruntime", "int8")
    own = f"{int8['speedup_vs_fp32']:.2f}x ({ci['lo']:.2f}–{ci['hi']:.2f})"
    assert own in row
    # vs PyTorch FP32: both cells were timed in rounds, so the report forms the interval from them
    deps = data["devices"]["box"]["deployments"]
    onnx_fp32 = next(d for d in deps if (d["runtime"], d["precision"]) == ("onnxruntime", "fp32"))
    lo, hi, ratio = (onnx_fp32[f"b1_speedup_vs_pytorch_fp32{k}"] for k in ("_lo", "_hi", ""))
    assert lo < ratio < hi and ratio == pytest.approx(4.0, rel=0.02) and hi - lo < 0.1
    assert f"{ratio:.2f}x ({lo:.2f}–{hi:.2f})" in _grid_row(text, "onnxruntime", "fp32")
    assert onnx_fp32["b1_p50_precision_pct"] == pytest.approx(fp32["p50_precision"]["half_width_pct"])
    assert onnx_fp32["b1_precision_met"] is True
    # PyTorch against itself: 1.00x with no interval
    assert next(d for d in deps if d["runtime"] == "pytorch")["b1_speedup_vs_pytorch_fp32_lo"] is None


def test_csv_columns_for_precision_and_the_speedup_ci(tmp_path):
    torch, fp32, int8 = _new_run()
    old = record(MODEL, "openvino", "fp32", 1, top1=None, seed=4)
    out = tmp_path / "out"
    done = run_cli("report", str(write_run(tmp_path / "run", [torch, fp32, int8, old])), "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = {(r["runtime"], r["precision"]): r for r in csv.DictReader((out / "cells.csv").open())}
    short = rows[("onnxruntime", "int8")]
    assert float(short["p50_precision_pct"]) == pytest.approx(int8["p50_precision"]["half_width_pct"])
    assert short["precision_met"] == "False" and rows[("onnxruntime", "fp32")]["precision_met"] == "True"
    assert float(short["speedup_vs_fp32_lo"]) == pytest.approx(int8["speedup_vs_fp32_ci"]["lo"])
    assert float(short["speedup_vs_fp32_hi"]) == pytest.approx(int8["speedup_vs_fp32_ci"]["hi"])
    legacy = rows[("openvino", "fp32")]
    assert legacy["p50_precision_pct"] == legacy["precision_met"] == legacy["speedup_vs_fp32_lo"] == ""
    assert precision.FLAG in (out / "report.html").read_text()


def test_old_records_render_without_precision_or_flags(tmp_path):
    cell = partial(record, MODEL, batch=1, top1=None)
    old = [cell("pytorch", "fp32", p50=20.0, seed=1), cell("onnxruntime", "fp32", p50=5.0, seed=2),
           cell("onnxruntime", "int8", p50=2.0, seed=3, speedup_vs_fp32=2.5)]
    text, data = _report(tmp_path, old)
    row = _grid_row(text, "onnxruntime", "int8")
    assert row[2] == f"{old[2]['latency_ms']['p50']:.2f}" and "2.50x" in row and "2.50x (" not in " ".join(row)
    assert "±" not in text and precision.FLAG not in text and "short of its target" not in text
    dep = next(d for d in data["devices"]["box"]["deployments"] if d["precision"] == "int8")
    assert dep["b1_p50_precision_pct"] is None and dep["b1_speedup_vs_fp32_lo"] is None


def test_is_met_and_the_shortfall_line():
    assert precision.is_met({}) and precision.suffix({}) == ""
    # decided from the fields when ``met`` is absent
    assert precision.is_met({"half_width_pct": 0.8, "target_pct": 1.0, "reached_level": True})
    assert not precision.is_met({"half_width_pct": 0.8, "target_pct": 1.0, "reached_level": False})
    few = {"p50_precision": {"half_width_pct": 12.0, "target_pct": 2.0, "reached_level": False, "met": False,
                             "stopped_by": "floor", "n": 3}}
    line = precision.shortfall(few)
    assert line.startswith("p50 known only to ±12.0% (target ±2%); 3 sample(s) cannot bound the median")
    assert line.endswith("stopped by floor") and "at least 6" in line
    # ``precision`` is the cell's fp32 / int8, never the interval
    assert precision.of({"precision": "fp32"}) == {}


def test_html_page_keeps_the_flag_and_sorts_on_the_number(tmp_path):
    blocks, _ = build(load_runs([write_run(tmp_path / "run", _new_run())]), None)
    page = to_html(blocks, "t")
    int8 = _new_run()[2]
    assert f'data-sort="{int8["latency_ms"]["p50"]!r}">{int8["latency_ms"]["p50"]:.2f} ±' in page
