"""The run's default thread count is what the process may really use, and each runtime reports it back.

The run is started in a process restricted to one CPU (its affinity), with no --threads: every runtime
must then be given one thread and, where its API can say, report one thread."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import FAST, REPO

CPU_RUNTIMES = ("pytorch", "onnxruntime", "openvino", "executorch", "ncnn")


def _litert_ready() -> bool:
    from edgebench import toolchains

    return toolchains.python_for("litert")[0] is not None  # the converter's own env (edgebench env create litert)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_one_cpu_process_runs_and_reports_one_thread(tmp_path, cache_dir):
    runtimes = CPU_RUNTIMES + (("litert",) if _litert_ready() else ())
    out = tmp_path / "run"
    args = [sys.executable, "-m", "edgebench", "run", "--model", "timm:test_efficientnet", "--weights", "random",
            "--batch-size", "1", "--cache-dir", str(cache_dir), "--out", str(out), *FAST]
    for name in runtimes:
        args += ["--runtime", name]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run(args, capture_output=True, text=True, timeout=1800, cwd=REPO, env=env,
                          preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["runtime"] for r in records) == sorted(runtimes)
    for r in records:
        assert r["status"] == "ok", (r["runtime"], r["reason"])
        assert r["environment"]["usable_cpus"] == 1 and r["environment"]["cpu_budget"]["affinity_cpus"] == 1
        assert r["threads"] == 1, r["runtime"]
        how = r["runtime_config"]["threads_reported_by"]
        if r["threads_reported"] is None:
            assert how.startswith("not readable"), (r["runtime"], how)
        else:
            assert r["threads_reported"] == 1, (r["runtime"], r["threads_reported"], how)
    readable = {r["runtime"] for r in records if r["threads_reported"] is not None}
    assert {"pytorch", "onnxruntime", "openvino", "executorch", "ncnn"} <= readable
