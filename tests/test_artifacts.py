"""Export here, measure there: `edgebench export` writes a folder of artifacts, and `edgebench run
--artifacts` measures it in an environment that has no PyTorch (edgebench's core, ai-edge-litert and
onnxruntime only), producing the same results file with that environment's description."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import FAST, REPO, run_cli

MODEL = "timm:test_efficientnet"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, cache_dir, synset_images, litert_env):
    out = tmp_path_factory.mktemp("export") / "artifacts"
    done = run_cli("export", "--model", MODEL, "--weights", "random", "--runtime", "litert", "--runtime", "onnxruntime",
                   "--runtime", "executorch", "--runtime", "tensorrt", "--precision", "fp32", "--precision", "int8",
                   "--calib-data", str(synset_images), "--batch-size", "1", "--batch-size", "2",
                   "--cache-dir", str(cache_dir), "--out", str(out), timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def torchless_python(tmp_path_factory) -> str:
    """A fresh venv with edgebench's core and two runtimes' own packages; torch must not be there."""
    venv = tmp_path_factory.mktemp("torchless") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    installed = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                "-e", f"{REPO}[litert,onnxruntime]"], capture_output=True, text=True, timeout=1200)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert subprocess.run([python, "-c", "import torch"], capture_output=True).returncode != 0
    return python


def test_export_writes_portable_artifacts_and_their_metadata(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    entry = manifest["models"][0]
    assert entry["spec"]["preprocess"]["mean"] and entry["prepared"]["weights"]["weights"] == "random"
    shipped = {(a["runtime"], a["precision"]): a for a in entry["artifacts"]}
    assert set(shipped) == {(r, p) for r in ("litert", "onnxruntime", "executorch") for p in ("fp32", "int8")}
    for item in shipped.values():
        assert (bundle / item["artifact"]["path"]).is_file() and not item["artifact"]["path"].startswith("/")
    assert shipped[("litert", "int8")]["quantization"]["calibration"]["images"] == 40
    skipped = {(n["runtime"], n["precision"]): n["reason"] for n in entry["not_exported"]}
    assert "build them on the device" in skipped[("tensorrt", "fp32")]
    assert (bundle / entry["reference"]["path"]).is_file()


def test_run_artifacts_without_torch(bundle, torchless_python, synset_images, tmp_path):
    out = tmp_path / "device-run"
    done = subprocess.run([torchless_python, "-m", "edgebench", "run", "--artifacts", str(bundle), "--data",
                           str(synset_images), "--batch-size", "1", "--batch-size", "2", "--device-name", "no-torch-board",
                           "--out", str(out), *FAST], capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    records = {(r["runtime"], r["precision"], r["batch_size"]): r
               for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    for runtime in ("litert", "onnxruntime"):
        for precision in ("fp32", "int8"):
            for batch in (1, 2):
                record = records[(runtime, precision, batch)]
                assert record["status"] == "ok", record["reason"]
                assert record["exported"]["folder"] == str(bundle.resolve())
                assert record["accuracy"]["images"] >= 10 and record["accuracy"]["reference"]["status"] == "ok"
    assert records[("litert", "fp32", 2)]["accuracy"]["vs_reference"]["top1_agreement"] == 1.0
    assert records[("litert", "int8", 1)]["calibration"]["images"] == 40
    assert records[("executorch", "fp32", 1)]["status"] == "skipped"  # its bindings need torch; not here
    environment = json.loads((out / "environment.json").read_text())
    assert environment["device"] == "no-torch-board" and "torch" not in environment["versions"]
    assert "ai-edge-litert" in environment["versions"]
    assert done.returncode == 0, done.stderr[-2000:]


def test_run_artifacts_rejects_a_folder_that_is_not_one(tmp_path):
    done = run_cli("run", "--artifacts", str(tmp_path), "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and "not an artifacts folder" in done.stderr and "edgebench export" in done.stderr
    clash = run_cli("run", "--artifacts", str(tmp_path), "--model", MODEL, "--out", str(tmp_path / "r2"))
    assert clash.returncode == 2 and "brings its own models" in clash.stderr
