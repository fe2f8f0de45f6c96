"""A bug in edgebench (an exception nothing expected) mid-run: one line naming the error and a log file
with the full traceback in the run folder, exit status 70, and the results already measured intact."""
from __future__ import annotations

from conftest import FAST


def test_a_bug_mid_run_gives_one_line_a_log_and_exit_70(tmp_path, tiny_onnx, capsys, monkeypatch):
    from edgebench import cli
    from edgebench.pipeline import sweep

    real = sweep.compare_with_fp32
    calls: list[str] = []

    def second_cell_breaks(record, finished):  # a real internal error, after the first cell was stored
        calls.append(record["key"])
        if len(calls) == 2:
            raise ValueError("injected fault in the sweep")
        return real(record, finished)

    monkeypatch.setattr(sweep, "compare_with_fp32", second_cell_breaks)
    run_dir = tmp_path / "run"
    code = cli.main(["run", "--model", f"onnx:{tiny_onnx}", "--runtime", "onnxruntime", "--batch-size", "1",
                     "--batch-size", "2", *FAST, "--out", str(run_dir), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # the lines before it are the run's own progress
    assert code == cli.EXIT_BUG == 70
    assert "Traceback" not in err
    assert last.startswith("edgebench: internal error") and "ValueError: injected fault in the sweep" in last
    logs = list((run_dir / "logs").glob("edgebench-error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in last
    log = logs[0].read_text()
    assert "Traceback (most recent call last)" in log and "second_cell_breaks" in log and "--batch-size" in log
    results = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(results) == 1 and calls[0] in results[0] and '"status":"ok"' in results[0]


def test_a_bug_outside_a_run_logs_to_the_cache(tmp_path, capsys, monkeypatch):
    """No run folder (here: `report`): the log goes to the cache's logs/ (EDGEBENCH_CACHE), still one line."""
    from edgebench import cli
    from edgebench.report import build

    def broken(args):
        return {}["no such key"]

    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(build, "report_command", broken)
    code = cli.main(["report", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 70 and len(err.strip().splitlines()) == 1 and "KeyError: 'no such key'" in err
    logs = list((tmp_path / "cache" / "logs").glob("edgebench-error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err and "KeyError" in logs[0].read_text()
