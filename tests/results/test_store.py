import json

import pytest

from edgebench.errors import ConfigError
from edgebench.results.store import ResultStore, check_record, load_results


def rec(key: str, status: str = "ok") -> dict:
    latency = {"p50": 1.0, "p90": 1.1, "p99": 1.2, "mean": 1.0} if status == "ok" else None
    return {"key": key, "model": "m", "runtime": "onnxruntime", "precision": "fp32", "batch_size": 1,
            "status": status, "latency_ms": latency}


def test_append_load_and_torn_line(tmp_path):
    store = ResultStore(tmp_path)
    store.append(rec("a"))
    store.append(rec("b", "failed"))
    with open(store.path, "ab") as handle:
        handle.write(b'{"key": "c", "sta')  # a writer killed mid-line
    assert [r["key"] for r in store.load()] == ["a", "b"]
    assert store.repair() > 0
    store.append(rec("c"))
    assert store.finished_keys() == {"a", "b", "c"}


def test_corrupt_middle_line_is_a_clear_error(tmp_path):
    (tmp_path / "results.jsonl").write_text(f"{json.dumps(rec('a'))}\nnot json\n{json.dumps(rec('b'))}\n")
    with pytest.raises(ConfigError, match="results.jsonl:2"):
        load_results(tmp_path)
    with pytest.raises(ConfigError, match="no results file"):
        load_results(tmp_path / "missing")


@pytest.mark.parametrize("change, words", [
    ({"batch_size": True}, "batch_size"),
    ({"batch_size": 0}, "positive"),
    ({"status": "done"}, "status"),
    ({"model": None}, "model"),
    ({"latency_ms": {"p50": "fast"}}, "latency"),
    ({"accuracy": [0.7]}, "accuracy"),
])
def test_records_that_are_not_results_are_refused(change, words):
    with pytest.raises(ConfigError, match=words):
        check_record({**rec("a"), **change}, "f:1")
    assert check_record(rec("a"), "f:1")["key"] == "a"  # the same record unchanged is a result
