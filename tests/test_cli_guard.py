"""Results that guard themselves: a failed export parity marks every cell, `--resume` refuses a folder
measured elsewhere or otherwise, and values given twice are measured once."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import FAST, REPO, run_cli
from edgebench.harness.worker import FAULT_VARIABLE

TIMM = "timm:test_efficientnet"


def _results(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_a_failed_parity_check_marks_every_cell_and_is_not_cached(tmp_path):
    cache = tmp_path / "cache"  # its own cache: the corrupted export must not reach the shared one
    common = ["--model", TIMM, "--weights", "random", "--runtime", "pytorch", "--runtime", "onnxruntime",
              "--precision", "fp32", "--precision", "int8-dynamic", "--batch-size", "1",
              "--cache-dir", str(cache), *FAST]
    broken = run_cli("run", *common, "--out", str(tmp_path / "broken"), env={FAULT_VARIABLE: f"{TIMM}|prepare=parity"})
    assert broken.returncode == 0, broken.stderr[-3000:]
    assert "WARNING timm:test_efficientnet: ONNX export does not match PyTorch" in broken.stderr
    results = _results(tmp_path / "broken")
    assert len(results) == 4 and sum(r["status"] == "ok" for r in results) == 3  # pytorch has no int8-dynamic
    for record in results:
        assert record["parity"]["ok"] is False and record["parity"]["cosine"] < 0.9999
        (reason,) = record["untrusted"]
        assert reason.startswith("ONNX export does not match PyTorch (max abs err ") and "suspect" in reason
    # The corrupted export was not cached as good: the next run exports again and passes the check, and
    # converts again (no INT8 artifact built from the corrupted export is reused).
    assert not list(cache.glob("exports/*/prepared.json"))
    clean = run_cli("run", *common, "--out", str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert "cached export" not in clean.stderr and "does not match PyTorch" not in clean.stderr
    cleaned = _results(tmp_path / "clean")
    for record in cleaned:
        assert record["parity"]["ok"] is True and record["untrusted"] == [] and record["export"]["cached"] is False
        if record["quantization"]:
            assert record["quantization"]["cached"] is False
    assert any(r["quantization"] for r in cleaned)


def test_repeated_values_are_measured_once(tmp_path, tiny_onnx):
    out = tmp_path / "run"
    other_spelling = os.path.relpath(tiny_onnx, REPO)  # the same file, named relative to the CLI's folder
    done = run_cli("run", "--model", f"onnx:{tiny_onnx}", "--model", f"onnx:{other_spelling}",
                   "--model", f"onnx:{tiny_onnx}", "--runtime", "onnxruntime", "--runtime", "onnxruntime",
                   "--precision", "fp32", "--precision", "fp32", "--batch-size", "2", "--batch-size", "1",
                   "--batch-size", "2", "--out", str(out), *FAST)
    assert done.returncode == 0, done.stderr[-3000:]
    keys = [r["key"] for r in _results(out)]
    assert keys == [f"onnx:{tiny_onnx}|onnxruntime|fp32|b2", f"onnx:{tiny_onnx}|onnxruntime|fp32|b1"]


def test_runtime_groups_and_names_merge():
    from edgebench.config import RunConfig
    from edgebench.runtimes import MOBILE_RUNTIMES, expand_runtimes

    config = RunConfig(runtimes=("mobile", "litert", "mobile"), precisions=("int8", "fp32", "int8"))
    runtimes, named = expand_runtimes(config.runtimes)
    assert runtimes == list(MOBILE_RUNTIMES) and named == {"litert"}
    assert config.precisions == ("fp32", "int8")


# -- resume ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_onnx):
    out = tmp_path_factory.mktemp("finished") / "run"
    done = run_cli("run", "--model", f"onnx:{tiny_onnx}", "--runtime", "onnxruntime", "--batch-size", "1",
                   "--out", str(out), *FAST)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _copy(finished_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    return folder


def _edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _refused(folder, *words):
    before = (folder / "results.jsonl").read_text()
    done = run_cli("run", "--resume", str(folder))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("edgebench: error:")]
    assert len(lines) == 1 and all(w in lines[0] for w in (*words, "start a new run")), done.stderr
    assert (folder / "results.jsonl").read_text() == before  # nothing added
    return lines[0]


def test_resume_refuses_another_machine(finished_run, tmp_path):
    folder = _copy(finished_run, tmp_path)
    _edit(folder / "environment.json", lambda env: env.update(cpu="Some Other CPU 9000", physical_cores=128))
    _refused(folder, "another machine", "cpu", "Some Other CPU 9000")


def test_resume_refuses_other_runtime_versions(finished_run, tmp_path):
    folder = _copy(finished_run, tmp_path)
    _edit(folder / "environment.json", lambda env: env["versions"].update(onnxruntime="0.0.1"))
    _refused(folder, "onnxruntime", "0.0.1 in the run")


def test_resume_refuses_another_configuration(finished_run, tmp_path):
    folder = _copy(finished_run, tmp_path)
    (record,) = _results(folder)
    _edit(folder / "run.json", lambda meta: meta["config"].update(threads=record["threads"] + 1, seed=7))
    _refused(folder, "another configuration", f"threads {record['threads']}", "seed 0, 7 now")


def test_resume_refuses_cells_outside_its_plan(finished_run, tmp_path):
    folder = _copy(finished_run, tmp_path)
    _edit(folder / "run.json", lambda meta: meta["config"].update(batch_sizes=[4]))
    _refused(folder, "another configuration", "not a cell of the configuration")


def test_resume_refuses_unknown_configuration_keys(finished_run, tmp_path):
    folder = _copy(finished_run, tmp_path)
    _edit(folder / "run.json", lambda meta: (meta["config"].update(turbo=True), meta["config"]["profile"].update(x=1)))
    _refused(folder, "does not know (turbo, profile.x)")


def test_resume_refuses_another_schema_or_version(finished_run, tmp_path):
    folder = _copy(finished_run, tmp_path)
    _edit(folder / "run.json", lambda meta: meta.update(schema_version=2))
    _refused(folder, "results schema 2")
    folder = _copy(finished_run, tmp_path / "b")
    _edit(folder / "run.json", lambda meta: meta.update(edgebench="0.0.9"))
    _refused(folder, "edgebench 0.0.9")
    folder = _copy(finished_run, tmp_path / "c")
    lines = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    (folder / "results.jsonl").write_text("".join(json.dumps({**r, "schema_version": 1}) + "\n" for r in lines))
    _refused(folder, "results schema 1")


def test_resume_names_the_flags_it_ignores(finished_run, tmp_path):
    folder = _copy(finished_run, tmp_path)
    done = run_cli("run", "--resume", str(folder), "--precision", "int8", "--batch-size", "4", "--quick")
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("--resume ignores --precision int8 --batch-size 4 --quick: the run's configuration is fixed in "
            f"{folder / 'run.json'}") in done.stderr
    assert _results(folder) == _results(finished_run)  # nothing measured: every cell was done


def test_resume_refuses_settings_of_the_wrong_type(finished_run, tmp_path):
    folder = _copy(finished_run, tmp_path)
    _edit(folder / "run.json", lambda meta: meta["config"].update(seed="x"))
    _refused(folder, "wrong type", "seed (str)")
