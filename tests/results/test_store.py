import pytest

from edgebench.errors import ConfigError
from edgebench.results.store import ResultStore, load_results


def test_append_load_and_torn_line(tmp_path):
    store = ResultStore(tmp_path)
    store.append({"key": "a", "status": "ok"})
    store.append({"key": "b", "status": "failed"})
    with open(store.path, "ab") as handle:
        handle.write(b'{"key": "c", "sta')  # a writer killed mid-line
    assert [r["key"] for r in store.load()] == ["a", "b"]
    assert store.repair() > 0
    store.append({"key": "c", "status": "ok"})
    assert store.finished_keys() == {"a", "b", "c"}


def test_corrupt_middle_line_is_a_clear_error(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(ConfigError, match="results.jsonl:2"):
        load_results(tmp_path)
    with pytest.raises(ConfigError, match="no results file"):
        load_results(tmp_path / "missing")
