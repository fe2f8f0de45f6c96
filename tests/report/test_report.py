"""`edgebench report` on hand-made results: the reproduced table, grids, machines kept apart, files written."""
from __future__ import annotations

import csv
import json
from functools import partial

import pytest
from conftest import run_cli
from records import record, write_run

from edgebench.reference import reference_rows
from edgebench.report.build import build
from edgebench.report.document import Table, num, to_html, to_markdown
from edgebench.report.pareto import pareto_front
from edgebench.report.runs import load_runs

MOBILENET = {"model": "MobileNetV2", "size_mb": 14.0, "top1": 71.3, "top5": 90.1, "params_m": 3.5, "cpu_ms_b32": 25.9,
             "gpu_ms_b32": 3.8}
NASNET = {"model": "NASNetMobile"}


def _run(device: str, ort_b32: float = 400.0, spread: float = 0.0, ort_b1: float = 5.0) -> list[dict]:
    """Exact p50s (no spread) for the table checks; the baseline test gives them spread."""
    m = "timm:mobilenetv2_100"
    cell = partial(record, device=device, reference=MOBILENET, spread=spread)
    return [
        cell(m, "pytorch", "fp32", 1, p50=20.0, artifact={"format": "torch"}, seed=1),
        cell(m, "pytorch", "fp32", 32, p50=900.0, artifact={"format": "torch"}, seed=2),
        cell(m, "onnxruntime", "fp32", 1, p50=ort_b1, artifact={"format": "onnx"}, size_mb=14.1, seed=3),
        cell(m, "onnxruntime", "fp32", 32, p50=ort_b32, artifact={"format": "onnx"}, size_mb=14.1, seed=4),
        cell(m, "onnxruntime", "int8", 1, p50=2.0, size_mb=3.8, top1=0.74, delta=-0.01, speedup_vs_fp32=2.5,
             artifact={"format": "onnx"}, seed=5),
        cell(m, "openvino", "int8", 32, status="failed", reason="worker crashed (signal 11)"),
        record("reference:NASNetMobile", "onnxruntime", "fp32", 32, device=device, reference=NASNET, status="skipped",
               reason="no implementation available (timm has no equivalent of this model)"),
    ]


def _markdown(tmp_path, *runs):
    dirs = [write_run(tmp_path / f"run{i}", records) for i, records in enumerate(runs)]
    blocks, data = build(load_runs(dirs), None)
    return to_markdown(blocks), data


def _row(text: str, first_cell: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {first_cell} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_reference_table_keeps_its_order_and_puts_published_values_beside_measured(tmp_path):
    text, data = _markdown(tmp_path, _run("box"))
    table = data["devices"]["box"]["reference_table"]
    assert [r["model"] for r in table] == [r["model"] for r in reference_rows()]
    mobilenet = _row(text, "MobileNetV2")
    # measured size, published size, measured top-1, published ...; CPU time is the fastest FP32 runtime's b32
    assert mobilenet[2:4] == ["14.1", "14"] and mobilenet[5] == "71.3" and mobilenet[10] == "400.0 (onnxruntime)"
    assert mobilenet[11] == "25.9" and "no GPU runtime" in mobilenet[14]
    assert "no implementation available" in _row(text, "NASNetMobile")[14]
    assert _row(text, "EfficientNetB7")[14] == "not in these runs"


def test_grid_failed_cells_and_speedups(tmp_path):
    text, data = _markdown(tmp_path, _run("box"))
    int8 = next(d for d in data["devices"]["box"]["deployments"] if d["precision"] == "int8")
    assert int8["b1_speedup_vs_pytorch_fp32"] == pytest.approx(10.0, rel=0.05)
    assert int8["top1_delta_pt"] == pytest.approx(-1.0)
    assert "#### timm:mobilenetv2_100" in text
    failed = text[text.index("### Failed or skipped cells"):]
    assert "| timm:mobilenetv2_100 | openvino | int8 | 32 | failed | worker crashed (signal 11) |" in failed


def test_machines_never_share_a_column(tmp_path):
    text, data = _markdown(tmp_path, _run("jetson", ort_b32=300.0), _run("x86"))
    assert list(data["devices"]) == ["jetson", "x86"]
    assert "## Machine: jetson" in text and "## Machine: x86" in text and "## Across machines" in text
    header = next(line for line in text.splitlines() if "jetson: b1 p50 (ms)" in line)
    assert "x86: b1 p50 (ms)" in header
    # each machine's reproduced table shows its own batch-32 time
    jetson, x86 = text.index("## Machine: jetson"), text.index("## Machine: x86")
    assert "300.0 (onnxruntime)" in text[jetson:x86] and "300.0 (onnxruntime)" not in text[x86:]
    assert "400.0 (onnxruntime)" in text[x86:]


def test_report_command_writes_every_format(tmp_path):
    run = write_run(tmp_path / "run", _run("box"))
    out = tmp_path / "out"
    done = run_cli("report", str(run), "--out", str(out))
    assert done.returncode == 0, done.stderr
    for name in ("report.md", "report.html", "report.json", "cells.csv", "deployments.csv"):
        assert (out / name).stat().st_size > 0
    pngs = sorted((out / "plots").glob("*.png"))
    assert len(pngs) == 3 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    md = (out / "report.md").read_text()
    assert all(f"plots/{p.name}" in md for p in pngs)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "http" not in page.replace("http-equiv", "")
    cells = list(csv.DictReader((out / "cells.csv").open()))
    assert len(cells) == 7 and {c["status"] for c in cells} == {"ok", "failed", "skipped"}
    assert json.loads((out / "report.json").read_text())["devices"]["box"]["deployments"]


def test_report_errors_are_clear(tmp_path):
    done = run_cli("report", str(tmp_path / "missing"))
    assert done.returncode == 2 and "not a folder" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "empty").mkdir()
    done = run_cli("report", str(tmp_path / "empty"))
    assert done.returncode == 2 and "no results file" in done.stderr


def test_baseline_flags_a_real_slowdown(tmp_path):
    old = write_run(tmp_path / "old", _run("box", spread=0.03))
    new = write_run(tmp_path / "new", _run("box", spread=0.03, ort_b1=7.0))
    out = tmp_path / "out"
    done = run_cli("report", str(new), "--baseline", str(old), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "1 regression(s)" in done.stdout
    data = json.loads((out / "report.json").read_text())["baseline"]
    flagged = [c for c in data["cells"] if c["verdict"] == "regression"]
    assert [c["key"] for c in flagged] == ["timm:mobilenetv2_100|onnxruntime|fp32|b1"]
    assert "## Compared with baseline" in (out / "report.md").read_text()
    gate = run_cli("report", str(new), "--baseline", str(old), "--out", str(out), "--fail-on-regression")
    assert gate.returncode == 4
    same = run_cli("report", str(old), "--baseline", str(old), "--fail-on-regression")
    assert same.returncode == 0 and "0 regression" not in same.stdout


def test_not_a_number_is_refused_or_treated_as_missing(tmp_path):
    cells = _run("box")
    cells[4]["accuracy"]["top1"] = float("nan")  # an empty evaluation gives NaN
    run = write_run(tmp_path / "run", cells)
    out = tmp_path / "out"
    assert run_cli("report", str(run), "--out", str(out)).returncode == 0
    int8 = next(d for d in json.loads((out / "report.json").read_text())["devices"]["box"]["deployments"]
                if d["precision"] == "int8")
    assert int8["top1_pct"] is None
    for flag in ("--max-latency-ms", "--min-top1"):
        done = run_cli("pick", str(run), flag, "nan")
        assert done.returncode == 2 and "finite" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("pick", str(run), "--min-top1", "150")
    assert done.returncode == 2 and "at most 100" in done.stderr


def test_pareto_front():
    points = [(10, 70), (5, 60), (20, 80), (12, 65), (5, 55), (30, 79)]
    assert pareto_front(points) == [1, 0, 2]


def test_html_escapes_and_keeps_sort_values():
    table = Table(columns=["a<b"], rows=[[num(3.14159, 2)]])
    page = to_html([table], "t")
    assert "a&lt;b" in page and 'data-sort="3.14159"' in page and ">3.14<" in page


def _gpu_run(device: str = "h100") -> list[dict]:
    """A machine with CPU and GPU runtimes: GPU cells carry CUDA-event time and GPU memory."""
    m = "timm:mobilenetv2_100"
    cell = partial(record, device=device, reference=MOBILENET, spread=0.0)

    def gpu(runtime, precision, batch, p50, device_p50, gpu_mb, **kw):
        return cell(m, runtime, precision, batch, p50=p50, device_kind="gpu", gpu_memory_mb=gpu_mb,
                    device_latency_ms={"p50": device_p50, "p99": device_p50 * 1.1, "n": 60}, **kw)

    return [
        cell(m, "pytorch", "fp32", 1, p50=20.0), cell(m, "pytorch", "fp32", 32, p50=900.0),
        gpu("pytorch-cuda", "fp32", 1, 4.0, 3.0, 900.0), gpu("pytorch-cuda", "fp32", 32, 12.0, 10.0, 1500.0),
        gpu("tensorrt", "fp32", 32, 6.0, 5.0, 700.0, size_mb=15.0),
        gpu("tensorrt", "fp16", 1, 1.0, 0.5, 600.0, size_mb=8.0), gpu("tensorrt", "fp16", 32, 3.0, 2.0, 650.0, size_mb=8.0),
    ]


def test_gpu_cells_fill_the_gpu_column_and_their_own_columns(tmp_path):
    text, data = _markdown(tmp_path, _gpu_run())
    mobilenet = _row(text, "MobileNetV2")
    assert mobilenet[12] == "6.0 (tensorrt)" and mobilenet[13] == "3.8"  # fastest FP32 GPU b32, beside published
    assert mobilenet[10] == "900.0 (pytorch)"  # the CPU column stays CPU-only
    grid = text[text.index("#### timm:mobilenetv2_100"):]
    header = [c.strip() for c in grid.splitlines()[2].strip("|").split("|")]
    assert "b1 GPU compute p50 (ms)" in header and "b32 GPU memory (MB)" in header
    row = dict(zip(header, _row(grid[grid.index("| tensorrt | fp16"):], "tensorrt")))
    assert row["b1 GPU compute p50 (ms)"] == "0.500" and row["b32 GPU memory (MB)"] == "650"
    assert row["b1 vs PyTorch FP32"] == "4.00x"  # against pytorch-cuda on the GPU, not PyTorch on the CPU
    deps = {(d["runtime"], d["precision"]): d for d in data["devices"]["h100"]["deployments"]}
    assert deps[("tensorrt", "fp16")]["b1_gpu_compute_p50_ms"] == 0.5
    assert "b1_gpu_compute_p50_ms" not in deps[("pytorch", "fp32")]


def test_pick_limits_gpu_memory(tmp_path):
    run_dir = write_run(tmp_path / "gpu", _gpu_run())
    result = run_cli("pick", str(run_dir), "--batch-size", "32", "--max-gpu-memory-mb", "1000", "--json")
    assert result.returncode == 0, result.stderr
    picked = json.loads(result.stdout)
    names = [(d["runtime"], d["precision"]) for d in picked["qualifying"]]
    assert names[:2] == [("tensorrt", "fp16"), ("tensorrt", "fp32")]
    assert ("pytorch", "fp32") in names  # a CPU runtime uses no GPU memory
    assert ("pytorch-cuda", "fp32") not in names


def test_baseline_under_another_timing_profile_never_fails_the_gate(tmp_path):
    old = _run("box", spread=0.03)
    new = _run("box", spread=0.03, ort_b1=10.0)  # twice as slow as the baseline's 5 ms
    for cell in new:
        if cell.get("timing"):
            cell["timing"] = {"profile": "quick"}
    out = tmp_path / "out"
    args = [str(write_run(tmp_path / "new", new)), "--baseline", str(write_run(tmp_path / "old", old))]
    gate = run_cli("report", *args, "--out", str(out), "--fail-on-regression")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    data = json.loads((out / "report.json").read_text())["baseline"]
    assert data["regressions"] == [] and data["counts"] == {"not comparable": 5, "both failed": 1}
    slow = next(c for c in data["cells"] if c["key"] == "timm:mobilenetv2_100|onnxruntime|fp32|b1")
    assert slow["differences"] == ["timing profile default → quick"] and slow["current_p50"] == pytest.approx(10, rel=.1)
    assert "timing profile default → quick" in (out / "report.md").read_text()
