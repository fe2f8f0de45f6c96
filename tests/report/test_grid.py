"""The report's grids: with one batch size, one set of columns (not the b1 figures again under another batch's
headers); with two, latency at the small one and throughput at the big one."""
from __future__ import annotations

from records import record

from edgebench.report.deployments import deployments
from edgebench.report.grid import model_grid


def _column(table, name: str, row: int = 0) -> str:
    return table.rows[row][table.columns.index(name)].text


def test_one_batch_size_is_one_set_of_columns():
    table = model_grid(deployments([record(precision="fp32", p50=10.0, spread=0.0, peak_rss_mb=300.0),
                                    record(precision="int8", p50=4.0, spread=0.0, peak_rss_mb=200.0)]))
    assert len(table.columns) == len(set(table.columns))
    assert not [c for c in table.columns if "b32" in c or "batch 32" in c], table.columns
    assert [c for c in table.columns if c.startswith("b1 ")] == [
        "b1 p50 (ms)", "b1 p99 (ms)", "b1 peak RSS (MB)", "b1 vs own FP32", "b1 vs PyTorch FP32"]
    assert "img/s at b1" in table.columns and not any(c.startswith("ms / batch") for c in table.columns)
    assert all(len(row) == len(table.columns) for row in table.rows)
    assert _column(table, "b1 p50 (ms)", 1).startswith("4.00") and _column(table, "img/s at b1", 1) == "250.0"
    assert _column(table, "b1 peak RSS (MB)", 1) == "200"


def test_one_batch_size_other_than_1_names_that_batch():
    table = model_grid(deployments([record(batch=8, p50=40.0, spread=0.0)]))
    assert "b8 p50 (ms)" in table.columns and "img/s at b8" in table.columns
    assert len(table.columns) == len(set(table.columns)) and all(len(r) == len(table.columns) for r in table.rows)
    assert _column(table, "img/s at b8") == "200.0"


def test_two_batch_sizes_keep_both_sets():
    table = model_grid(deployments([record(batch=1, p50=10.0, spread=0.0, peak_rss_mb=300.0),
                                    record(batch=32, p50=160.0, spread=0.0, peak_rss_mb=900.0)]))
    assert {"b1 p50 (ms)", "ms / batch 32", "img/s at b32", "b1 peak RSS (MB)", "b32 peak RSS (MB)",
            "b32 vs PyTorch FP32"} <= set(table.columns)
    assert len(table.columns) == len(set(table.columns)) and all(len(r) == len(table.columns) for r in table.rows)
    assert _column(table, "img/s at b32") == "200.0" and _column(table, "b32 peak RSS (MB)") == "900"
