"""What the host accepts from a board, and how the lab store keeps cells and lines (SQLite, no lab needed)."""
from __future__ import annotations

import json

import pytest

from edgebench.lab.lines import MAX_LINE_BYTES, Rejected, parse_line
from edgebench.lab.store import open_store, redacted

KEY = "onnx:m.onnx|onnxruntime|fp32|b1"


def record(**fields) -> dict:
    base = {"key": KEY, "model": "onnx:m.onnx", "runtime": "onnxruntime", "precision": "fp32", "batch_size": 1,
            "status": "skipped", "reason": "", "environment": {"device": "board-1"}}
    return {**base, **fields}


def test_a_result_line_of_a_planned_cell_is_accepted():
    assert parse_line(json.dumps(record()).encode(), "board-1", {KEY})["key"] == KEY
    closing = parse_line(b'{"edgebench_lab": "exit", "code": 1, "tail": "x\\u001b[2Jy"}', "board-1", set())
    assert closing == {"edgebench_lab": "exit", "code": 1, "tail": "x [2Jy"}  # no terminal escape reaches the screen


@pytest.mark.parametrize("line, why", [
    (b"rm -rf ~", "not a JSON line"),
    (b"\xff\xfe", "not a JSON line"),
    (b"[1, 2]", "not a result record"),
    (json.dumps(record(status="done")).encode(), "status"),
    (json.dumps(record(status="ok")).encode(), "without its latency"),
    (json.dumps(record(key="onnx:m.onnx|onnxruntime|int8|b1")).encode(), "was not planned for this board"),
    (json.dumps(record(precision="int8")).encode(), "do not match its cell"),
    (json.dumps(record(environment={"device": "board-2"})).encode(), "measured on 'board-2'"),
    (b'{"edgebench_lab": "exit", "code": "0; reboot"}', "without an exit code"),
    (b"{" + b" " * MAX_LINE_BYTES + b"}", "more than a result line ever is"),
    (b"[" * 100000 + b"]" * 100000, "not a JSON line"),  # deeper than the parser's recursion
    (b'{"key": ' + b"9" * 5000 + b"}", "not a JSON line"),  # more digits than Python converts
    (json.dumps(record(size_mb=float("nan"))).encode(), "size_mb not a finite non-negative number"),
    (json.dumps(record(status="ok", latency_ms={"p50": -1.0, "p90": 1, "p99": 1, "mean": 1})).encode(),
     "latency p50 not a finite"),
])
def test_anything_else_is_rejected_with_the_board_named(line, why):
    with pytest.raises(Rejected, match="board board-1 sent a line that is not stored") as caught:
        parse_line(line, "board-1", {KEY})
    assert why in str(caught.value)


def test_the_store_keeps_a_line_once_and_never_unmarks_a_done_cell(tmp_path):
    store = open_store(tmp_path / "lab.sqlite")
    other = "onnx:m.onnx|onnxruntime|fp32|b2"
    store.add_run("r1", {"boards": {}})
    store.plan("r1", "board-1", [KEY, other])
    assert store.add_result("r1", "board-1", record()) is True
    assert store.add_result("r1", "board-1", record(reason="sent again after a resume")) is False
    assert store.mark("r1", "board-1", "device-lost", "dropped") == 1  # only the unfinished cell
    assert store.cells("r1", "board-1") == [(KEY, "done", ""), (other, "device-lost", "dropped")]
    assert [r["reason"] for r in store.results("r1")] == [""]
    assert store.connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    store.close()
    assert redacted("postgresql://lab:secret@db.lab:5432/results") == "postgresql://lab@db.lab:5432/results"
