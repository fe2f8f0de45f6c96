from edgebench.report.table import markdown_table, problems


def _row(runtime, batch, status="ok", p50=1.0, **extra):
    return {"key": f"timm:m|{runtime}|fp32|b{batch}", "model": "timm:m", "runtime": runtime, "precision": "fp32",
            "batch_size": batch, "status": status, "reason": "" if status == "ok" else "boom",
            "latency_ms": {"p50": p50} if status == "ok" else None, "params_m": 3.5, "weights": "random",
            "size_mb": 14.0, "artifact": {"format": "onnx"},
            "reference": {"size_mb": 14.0, "params_m": 3.5, "cpu_ms_b32": 25.9}, **extra}


def test_table_has_reference_columns_and_failures():
    rows = [_row("onnxruntime", 1, p50=1.234), _row("onnxruntime", 32, p50=20.5), _row("openvino", 1, "failed")]
    table = markdown_table(rows)
    header, _, line = table.splitlines()
    assert "onnxruntime fp32 b1 p50 (ms)" in header and "ms / batch 32" in header
    assert "Published CPU ms / batch 32" in header
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert "1.23" in cells and "20.50" in cells and "failed" in cells and "25.9" in cells
    assert problems(rows) == ["- `timm:m|openvino|fp32|b1`: **failed**: boom"]
