"""The deploy folder: a real run's chosen record becomes files, preprocessing as data, figures and a
``predict.py`` that runs without edgebench and gives what the runtime gives through edgebench's own
preprocessing. The checks on real photos need the shared sample images (read from ``../shared`` beside the
project) and skip without them; the others make their model and images here."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST, run_cli

SHARED_DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()  # beside the project
IMAGES = SHARED_DATA / "imagenet-sample-500"
# Non-square photos: the shorter-side resize and the centre crop both matter.
SAMPLE = ("n01440764_tench.JPEG", "n01530575_brambling.JPEG")
# Runs a script with every import of edgebench refused, as on a machine without it.
# ``--refuse NAME`` (before the script) refuses that module too, as on a machine without the runtime.
GUARD = """
import runpy, sys
refused = ["edgebench"]
if sys.argv[1] == "--refuse":
    refused.append(sys.argv[2])
    del sys.argv[1:3]
class NoEdgebench:
    def find_spec(self, name, path=None, target=None):
        if name == "edgebench" or name.startswith("edgebench."):
            raise ImportError(f"{name} imported: the deploy folder must run without edgebench")
        if name.split(".")[0] in refused:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoEdgebench())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

needs_images = pytest.mark.skipif(not IMAGES.is_dir(), reason=f"needs the shared sample images in {IMAGES} "
                                  "(real photos: the resize and crop of non-square images)")


@pytest.fixture(scope="module")
def run_records(tmp_path_factory, cache_dir) -> dict[tuple[str, str], dict]:
    """A real tiny run: ONNX Runtime and OpenVINO, FP32 and INT8, accuracy and calibration on real photos."""
    if not IMAGES.is_dir():
        pytest.skip(f"needs the shared sample images in {IMAGES}")
    out = tmp_path_factory.mktemp("deploy-run") / "run"
    done = run_cli("run", "--model", "timm:test_efficientnet", "--weights", "random",
                   "--runtime", "onnxruntime", "--runtime", "openvino", "--precision", "fp32", "--precision", "int8",
                   "--batch-size", "1", "--data", str(IMAGES), "--labels", str(IMAGES / "labels.txt"),
                   "--limit", "8", "--calib-size", "8", "--out", str(out), "--cache-dir", str(cache_dir), *FAST)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {(r["runtime"], r["precision"]): r for r in records}


def _spec():
    from edgebench.models import resolve_model

    return resolve_model("timm:test_efficientnet")


def _guarded(script: Path, *args: str, cwd: Path, refuse: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", GUARD, *(["--refuse", refuse] if refuse else []), str(script), *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def _top5(stdout: str) -> dict[str, list[tuple[int, float]]]:
    """predict.py's output: per image, (class, logit) best first."""
    found: dict[str, list[tuple[int, float]]] = {}
    current = None
    for line in stdout.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            current = found.setdefault(line[:-1], [])
        elif match := re.fullmatch(r"\s+class\s+(\d+)\s+score\s+\S+\s+logit\s+(\S+)", line):
            current.append((int(match[1]), float(match[2])))
    return found


def _through_edgebench(record: dict, spec, paths: list[str]) -> np.ndarray:
    """The runtime's output for the images, through edgebench's preprocessing and session."""
    from edgebench.data.images import crop_image, normalize
    from edgebench.export.artifact import Artifact
    from edgebench.runtimes import get_runtime
    from edgebench.runtimes.base import SessionOptions

    options = SessionOptions(threads=record["threads"], precision=record["precision"], batch_size=1)
    session = get_runtime(record["runtime"])().load(Artifact.from_dict(record["artifact"]), spec, options)
    batch = normalize(np.stack([crop_image(p, spec.preprocess) for p in paths]), spec.preprocess)
    return np.concatenate([session.infer(batch[i:i + 1]) for i in range(len(paths))])


@needs_images
@pytest.mark.parametrize("runtime,precision", [("onnxruntime", "fp32"), ("openvino", "int8"), ("onnxruntime", "int8")])
def test_predict_matches_the_runtime_through_edgebench(run_records, runtime, precision, tmp_path):
    from edgebench.optimize.deploy import write_deploy_folder

    record, spec = run_records[(runtime, precision)], _spec()
    assert record["status"] == "ok", record["reason"]
    command = "edgebench optimize --model timm:test_efficientnet --data IMAGES"
    folder = write_deploy_folder(record, spec, tmp_path / "deploy", command)
    names = {p.name for p in folder.iterdir()}
    model_files = {"model.onnx"} if precision == "fp32" else (
        {"model.int8.xml", "model.int8.bin"} if runtime == "openvino" else {"model.int8.onnx"})
    assert names == {"preprocess.json", "figures.json", "predict.py", "README.md", *model_files}
    shipped = sum((folder / name).stat().st_size for name in model_files) / 1e6
    assert shipped == pytest.approx(record["size_mb"])  # every file the measured artifact holds, nothing else

    pre = json.loads((folder / "preprocess.json").read_text())
    spec_pre = json.loads(json.dumps(spec.to_dict()["preprocess"]))
    assert {k: pre[k] for k in spec_pre} == spec_pre and pre["resize"] == "crop" and pre["scale"] == 255
    assert pre["input"] == {**pre["input"], "name": "input", "dtype": "float32", "shape": [1, 3, 160, 160]}
    assert pre["output"]["classes"] == 1000 and pre["layout"] == "NCHW" and pre["interpolation"] == "bicubic"

    figures = json.loads((folder / "figures.json").read_text())
    assert {k: figures["latency_ms"][k] for k in ("p50", "p90")} == {k: record["latency_ms"][k] for k in ("p50", "p90")}
    assert figures["deployment"]["threads"] == record["threads"] and figures["deployment"]["batch_size"] == 1
    assert figures["p50_precision"]["lo"] <= figures["latency_ms"]["p50"] <= figures["p50_precision"]["hi"]
    assert figures["accuracy"]["images"] == 8 and figures["accuracy"]["top1_ci95"] == record["accuracy"]["top1_ci95"]
    assert figures["accuracy"]["vs_fp32"]["verdict"] == record["accuracy"]["vs_reference"]["top1_change"]["verdict"]
    assert figures["machine"]["cpu"] == record["environment"]["cpu"] and figures["edgebench"]
    if precision == "int8":
        assert figures["quantization"]["recipe"] == record["quantization"]["recipe"]
        assert figures["quantization"]["settings"] == record["quantization"]["settings"]
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert command in readme and f"pip install {runtime} pillow numpy" in readme and "python predict.py" in readme

    paths = [str(IMAGES / name) for name in SAMPLE]
    done = _guarded(folder / "predict.py", *paths, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = _top5(done.stdout)
    expected = _through_edgebench(record, spec, paths)
    for path, logits in zip(paths, expected):
        classes = [c for c, _ in printed[path]]
        assert classes[0] == int(np.argmax(logits))
        assert classes == list(np.argsort(-logits, kind="stable")[:5])
        np.testing.assert_allclose([v for _, v in printed[path]], logits[classes], rtol=1e-5, atol=1e-5)

    if runtime == "openvino":
        # The example reads the preprocessing from the file: another interpolation gives other logits,
        # so the agreement above is the preprocessing's, not a coincidence.
        pre["interpolation"] = "bilinear"
        (folder / "preprocess.json").write_text(json.dumps(pre))
        other = _top5(_guarded(folder / "predict.py", paths[0], cwd=tmp_path).stdout)[paths[0]]
        assert not np.allclose([v for _, v in other], expected[0][[c for c, _ in other]], rtol=1e-5, atol=1e-5)
        config = re.search(r"^CONFIG = (.*)$", (folder / "predict.py").read_text(), re.M)[1]
        assert json.loads(config) == {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                                      "INFERENCE_PRECISION_HINT": "f32",
                                      "INFERENCE_NUM_THREADS": str(record["threads"])}


def test_the_guard_refuses_edgebench(tmp_path):
    script = tmp_path / "uses_edgebench.py"
    script.write_text("import edgebench\n")
    done = _guarded(script, cwd=tmp_path)
    assert done.returncode != 0 and "must run without edgebench" in done.stderr


@pytest.fixture(scope="module")
def tiny_deploy(tiny_onnx, tmp_path_factory) -> tuple[dict, object, Path, Path]:
    """The deploy folder of an ONNX Runtime FP32 record of the tiny convnet (no run: the record is written here),
    with a generated non-square image."""
    from PIL import Image

    from edgebench.export.artifact import Artifact
    from edgebench.models import resolve_model
    from edgebench.optimize.deploy import write_deploy_folder

    spec = resolve_model(f"onnx:{tiny_onnx}")
    record = {"key": f"{spec.id}|onnxruntime|fp32|b1", "model": spec.id, "runtime": "onnxruntime", "precision": "fp32",
              "batch_size": 1, "threads": 1, "status": "ok", "reason": "", "size_mb": tiny_onnx.stat().st_size / 1e6,
              "latency_ms": {"p50": 0.05, "p90": 0.06, "p99": 0.07, "mean": 0.05, "n": 100, "unit": "ms"},
              "artifact": Artifact(path=str(tiny_onnx), format="onnx", precision="fp32", toolchain="torch.onnx").to_dict()}
    root = tmp_path_factory.mktemp("tiny-deploy")
    folder = write_deploy_folder(record, spec, root / "deploy", "edgebench optimize --model onnx:tiny.onnx")
    image = root / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, size=(45, 60, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(image)
    return record, spec, folder, image


def test_predict_on_the_tiny_model_matches_onnxruntime_through_edgebench(tiny_deploy, tmp_path):
    record, spec, folder, image = tiny_deploy
    assert {p.name for p in folder.iterdir()} == {"tiny.onnx", "preprocess.json", "figures.json", "predict.py",
                                                  "README.md"}
    done = _guarded(folder / "predict.py", str(image), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = _top5(done.stdout)[str(image)]
    logits = _through_edgebench(record, spec, [str(image)])[0]
    assert [c for c, _ in printed] == list(np.argsort(-logits, kind="stable")[:5])
    np.testing.assert_allclose([v for _, v in printed], logits[[c for c, _ in printed]], rtol=1e-5, atol=1e-5)


def test_predict_help_and_bad_images_are_a_usage_line_or_one_error_line(tiny_deploy, tmp_path):
    _, _, folder, _ = tiny_deploy
    done = _guarded(folder / "predict.py", "--help", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("usage: predict.py [-h] IMAGE [IMAGE ...]"), done.stderr
    assert "onnxruntime pillow numpy" in done.stdout and not done.stderr

    done = _guarded(folder / "predict.py", cwd=tmp_path)  # no image: argparse's usage and error, exit 2
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("usage: predict.py") and "predict.py: error:" in done.stderr

    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not a picture")
    for args, words in ((["missing.jpg"], "missing.jpg: no such file"),
                        ([str(not_an_image)], f"cannot read {not_an_image} as an image"),
                        ([str(tmp_path)], "is a folder")):
        done = _guarded(folder / "predict.py", *args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("predict.py: error: ") and words in done.stderr, \
            done.stderr
        assert not done.stdout  # checked before anything runs


def test_predict_without_the_runtime_says_what_to_install(tiny_deploy, tmp_path):
    _, _, folder, image = tiny_deploy
    done = _guarded(folder / "predict.py", str(image), cwd=tmp_path, refuse="onnxruntime")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip() == "predict.py: error: onnxruntime is not installed here: pip install onnxruntime " \
                                  "pillow numpy"


def test_refuses_a_folder_in_use_a_missing_artifact_and_a_failed_cell(tiny_deploy, tmp_path):
    from edgebench.errors import ConfigError
    from edgebench.optimize.deploy import write_deploy_folder

    record, spec, _, _ = tiny_deploy
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an empty folder"):
        write_deploy_folder(record, spec, busy, "edgebench optimize")
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    moved = {**record, "runtime": "openvino", "precision": "int8",
             "artifact": {"path": str(tmp_path / "gone" / "model.int8.xml"), "format": "openvino-ir",
                          "precision": "int8", "toolchain": "nncf"}}
    with pytest.raises(ConfigError, match="is missing"):
        write_deploy_folder(moved, spec, tmp_path / "a", "edgebench optimize")
    with pytest.raises(ConfigError, match="has no measured artifact"):
        write_deploy_folder({**record, "status": "failed", "artifact": None}, spec, tmp_path / "b", "optimize")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
