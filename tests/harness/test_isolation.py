from edgebench.harness.isolation import run_isolated
from edgebench.harness.worker import FAULT_VARIABLE


def _job(key: str) -> dict:
    return {"kind": "cell", "key": key, "online": False}


def test_crash_becomes_a_failed_record(tmp_path):
    record = run_isolated(_job("m|rt|fp32|b1"), tmp_path, timeout_s=60, env={FAULT_VARIABLE: "m|rt=crash"})
    assert record == {"status": "failed", "reason": "crashed with SIGSEGV"}


def test_hang_is_killed_at_the_time_limit(tmp_path):
    record = run_isolated(_job("m|rt|fp32|b1"), tmp_path, timeout_s=3, env={FAULT_VARIABLE: "m|rt=hang"})
    assert record["status"] == "failed" and "timed out after 3 s" in record["reason"]


def test_exception_and_early_exit(tmp_path):
    record = run_isolated(_job("m|rt|fp32|b1"), tmp_path / "a", timeout_s=60, env={FAULT_VARIABLE: "m|rt=raise"})
    assert record == {"status": "failed", "reason": "RuntimeError: fault injected into m|rt|fp32|b1"}
    assert "Traceback" in (tmp_path / "a" / "log.txt").read_text()  # the log keeps the detail
    record = run_isolated(_job("m|rt|fp32|b1"), tmp_path / "b", timeout_s=60, env={FAULT_VARIABLE: "m|rt=exit"})
    assert record["status"] == "failed" and "exited with code 3" in record["reason"]


def test_fault_only_hits_the_named_cell(tmp_path):
    record = run_isolated({"kind": "nonsense", "key": "other"}, tmp_path, timeout_s=60, env={FAULT_VARIABLE: "m|rt=crash"})
    assert record["status"] == "failed" and "unknown job kind" in record["reason"]
