"""Every bad input a hurried user can give, through the real CLI: one line on stderr that says what is
wrong and how to fix it, exit status 2, no traceback, and nothing measured.

Every case goes through ``edgebench.cli.main`` in this process (the console entry point's one call, without an
interpreter start per case: 79 of those took about two minutes of the suite); a few go through ``python -m
edgebench`` in a fresh process as well, so that the entry point itself is held to the same line.

One table: (argv, setup, words the message must hold). ``setup(tmp, tiny)`` writes the files a case needs
under ``tmp``; ``{tmp}`` and ``{tiny}`` (a real tiny ONNX model) are filled into the argv. To add a case,
add a row."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, run_cli

# Given to every run/export case that names no --data of its own: were a check to let a bad input through,
# the command would still stop (at the missing images) before measuring anything.
NO_DATA = "--data={tmp}/no-such-images"

RECORD = {"key": "onnx:m|onnxruntime|fp32|b1", "model": "onnx:m", "runtime": "onnxruntime", "precision": "fp32",
          "batch_size": 1, "status": "ok", "latency_ms": {"p50": 1.0, "p90": 1.1, "p99": 1.2, "mean": 1.05},
          "environment": {"device": "box"}}


def _write(relative: str, content: bytes | str):
    def setup(tmp: Path, tiny: Path) -> None:
        path = tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


def _results(*lines: object, run_json: object = None):
    """A run folder ``{tmp}/run`` whose results.jsonl holds ``lines`` (records, or raw text/bytes)."""
    def setup(tmp: Path, tiny: Path) -> None:
        (tmp / "run").mkdir()
        data = b"".join(line if isinstance(line, bytes) else
                        ((line if isinstance(line, str) else json.dumps(line)) + "\n").encode() for line in lines)
        (tmp / "run" / "results.jsonl").write_bytes(data)
        if run_json is not None:
            (tmp / "run" / "run.json").write_bytes(run_json if isinstance(run_json, bytes) else json.dumps(run_json).encode())
    return setup


def _sidecar(text: str):
    """A copy of the tiny model as ``{tmp}/m.onnx`` with ``text`` as its ``m.yaml``."""
    def setup(tmp: Path, tiny: Path) -> None:
        shutil.copy(tiny, tmp / "m.onnx")
        (tmp / "m.yaml").write_text(text)
    return setup


def _truncated_onnx(tmp: Path, tiny: Path) -> None:
    (tmp / "m.onnx").write_bytes(tiny.read_bytes()[: tiny.stat().st_size // 2])


def _checkpoints(tmp: Path, tiny: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1000)}, str(tmp / "whole.safetensors"))
    data = (tmp / "whole.safetensors").read_bytes()
    (tmp / "cut.safetensors").write_bytes(data[: len(data) // 2])
    (tmp / "junk.safetensors").write_bytes(struct.pack("<Q", 10**9) + b"x" * 50)
    torch.save([1, 2, 3], str(tmp / "list.pt"))
    torch.save({"w": torch.zeros(3), "note": "text"}, str(tmp / "mixed.pt"))
    (tmp / "garbage.pt").write_bytes(b"\x00\x13garbage" * 100)


MANIFEST = {"format": "edgebench-artifacts", "version": 1, "edgebench": "0", "created": "now",
            "config": {"precisions": ["fp32"], "quant": {}}, "runtimes": ["onnxruntime"],
            "models": [{"spec": {"id": "onnx:m", "source": "onnx", "name": "m", "preprocess": {"input_size": [3, 32, 32]}},
                        "artifacts": [{"runtime": "onnxruntime", "precision": "fp32",
                                       "artifact": {"path": "onnx_m/onnxruntime-fp32/m.onnx", "format": "onnx"}}],
                        "not_exported": []}]}


def _images(bad: str | None = None, *, calib_bad: bool = False, labels: bytes | None = None):
    """``{tmp}/val``: an ImageFolder dataset of two classes (and ``{tmp}/calib``), one file damaged as asked."""
    def setup(tmp: Path, tiny: Path) -> None:
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        for folder in ("val/cat", "val/dog", "calib"):
            (tmp / folder).mkdir(parents=True)
            for i in range(3):
                pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp / folder / f"img{i}.jpg", quality=90)
        if bad == "not-an-image":
            (tmp / "val/dog/broken.jpg").write_bytes(b"this is no JPEG")
        elif bad == "truncated":
            whole = (tmp / "val/cat/img1.jpg").read_bytes()
            (tmp / "val/cat/broken.jpg").write_bytes(whole[: len(whole) // 2])
        if calib_bad:
            (tmp / "calib/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
        if labels is not None:
            (tmp / "flat").mkdir()
            shutil.copy(tmp / "calib/img0.jpg", tmp / "flat/a.jpg")
            (tmp / "labels.txt").write_bytes(labels)
    return setup


def _nothing(tmp: Path, tiny: Path) -> None:
    pass


def _file(tmp: Path, tiny: Path) -> None:
    (tmp / "file").write_text("a file, not a folder")


TINY = ["run", "--model", "onnx:{tiny}", "--runtime", "onnxruntime", "--batch-size", "1", "--quick", "--out", "{tmp}/run"]

CASES = [
    # numbers out of range, zero where it makes no sense, not finite
    (["run", "--timeout", "0"], _nothing, ["--timeout", "greater than 0"]),
    (["run", "--seed", "-1"], _nothing, ["--seed", "at least 0"]),
    (["run", "--seed", "1.5"], _nothing, ["--seed", "not an integer"]),
    (["run", "--warmup", "-1"], _nothing, ["--warmup", "at least 0"]),
    (["run", "--iterations", "0"], _nothing, ["--iterations", "at least 1"]),
    (["run", "--duration", "5", "--max-duration", "1"], _nothing, ["--max-duration", "--duration"]),
    (["run", "--max-duration", "0"], _nothing, ["--max-duration", "greater than 0"]),
    (["run", "--duration", "nan"], _nothing, ["--duration", "not a finite number"]),
    (["run", "--max-duration", "inf"], _nothing, ["--max-duration", "not a finite number"]),
    (["run", "--threads", "0"], _nothing, ["--threads", "at least 1"]),
    (["run", "--sustained", "1e12"], _nothing, ["--sustained", "1440"]),
    (["run", "--median-ci", "0"], _nothing, ["--median-ci", "greater than 0"]),
    (["run", "--limit", "0"], _nothing, ["--limit", "at least 1"]),
    (["run", "--calib-size", "0"], _nothing, ["--calib-size", "at least 1"]),
    (["run", "--batch-size", "0"], _nothing, ["--batch-size", "at least 1"]),
    (["run", "--crop-pct", "0"], _nothing, ["--crop-pct", "greater than 0"]),
    (["run", "--crop-pct", "2"], _nothing, ["--crop-pct", "(0, 1]"]),
    (["run", "--mean", "0.5,nan,0.5"], _nothing, ["--mean", "finite"]),
    (["run", "--std", "0,1,1"], _nothing, ["--std", "positive"]),
    (["run", "--input-shape", "0x3x224x224"], _nothing, ["--input-shape", "positive sizes"]),
    (["run", "--input-shape", "1x3xbig"], _nothing, ["--input-shape", "not a list of integers"]),
    ([*TINY, "--input-shape", "1x3x224"], _nothing, ["C,H,W", "NxCxHxW", "1x3x32x32"]),
    ([*TINY, "--mean", "0.5,0.5"], _nothing, ["mean", "3 values"]),
    (["report", "{tmp}", "--alpha", "2"], _nothing, ["--alpha", "between 0 and 1"]),
    (["report", "{tmp}", "--alpha", "0"], _nothing, ["--alpha", "between 0 and 1"]),
    (["report", "{tmp}", "--threshold", "-1"], _nothing, ["--threshold", "at least 0"]),
    (["pick", "{tmp}", "--top", "0"], _nothing, ["--top", "at least 1"]),
    (["pick", "{tmp}", "--max-latency-ms", "-1"], _nothing, ["--max-latency-ms", "at least 0"]),
    (["pick", "{tmp}", "--min-top1", "101"], _nothing, ["--min-top1", "at most 100"]),
    (["pick", "{tmp}", "--batch-size", "0"], _nothing, ["--batch-size", "at least 1"]),
    # results files given to report / pick, and a run folder's run.json
    (["report", "{tmp}/run"], _results({"a": 1}), ["results.jsonl:1", "not a result record", "lacks key"]),
    (["pick", "{tmp}/run"], _results({"a": 1}), ["results.jsonl:1", "not a result record"]),
    (["report", "{tmp}/run"], _results([1, 2]), ["results.jsonl:1", "JSON list"]),
    (["pick", "{tmp}/run"], _results(RECORD, {**RECORD, "batch_size": "1"}), ["results.jsonl:2", "batch_size", "int"]),
    (["report", "{tmp}/run"], _results({**RECORD, "status": "great"}), ["status", "great", "ok, failed, skipped"]),
    (["report", "{tmp}/run"], _results({**RECORD, "latency_ms": None}), ["ok cell without its latency"]),
    (["report", "{tmp}/run"], _results({**RECORD, "environment": "box"}), ["environment", "dict"]),
    (["report", "{tmp}/run"], _results("model,latency", "resnet,3.2"), ["results.jsonl:1", "not a JSON line"]),
    (["pick", "{tmp}/run"], _results(b"\x89\xfe\x00\x01garbage\n\x00\x00\n"), ["results.jsonl:1", "binary"]),
    (["report", "{tmp}/run"], _results(b"\x89\xfe\x00\x01garbage"), ["not a text file"]),
    (["report", "{tmp}/run"], _results(), ["holds no results"]),
    (["report", "{tmp}/run"], _results(RECORD, run_json=b"{\"config\": "), ["run.json is damaged", "delete it"]),
    (["report", "{tmp}/run"], _results(RECORD, run_json=[1]), ["run.json", "not an edgebench run.json"]),
    (["pick", "{tmp}/run"], _results(RECORD, run_json=b"\xff\xfe\x00"), ["run.json is damaged", "binary"]),
    # the sidecar YAML beside an onnx: model, and the ONNX file itself
    (["run", "--model", "onnx:{tmp}/m.onnx"], _sidecar("crop_pct: [0.9\n"), ["m.yaml", "not valid YAML", "line"]),
    (["run", "--model", "onnx:{tmp}/m.onnx"], _sidecar("- crop_pct\n- mean\n"), ["m.yaml", "mapping", "list"]),
    (["run", "--model", "onnx:{tmp}/m.onnx"], _sidecar("crop_pct: abc\n"), ["m.yaml", "crop_pct", "0.875"]),
    (["run", "--model", "onnx:{tmp}/m.onnx"], _sidecar("mean: 5\n"), ["m.yaml", "mean", "[0.485"]),
    (["run", "--model", "onnx:{tmp}/m.onnx"], _sidecar("input_shape: [1, x]\n"), ["m.yaml", "input_shape"]),
    (["run", "--model", "onnx:{tmp}/m.onnx"], _sidecar("num_classes: many\n"), ["m.yaml", "num_classes"]),
    (["run", "--model", "onnx:{tmp}/m.onnx"], _sidecar("cropping: 0.9\n"), ["m.yaml", "unknown keys"]),
    (["run", "--model", "onnx:{tmp}/m.onnx"], _sidecar("crop_pct: 0.9\n\x00\xff"), ["m.yaml"]),
    (["run", "--model", "onnx:{tmp}/m.onnx"], _write("m.onnx", b"not onnx at all"), ["not a valid ONNX model"]),
    (["run", "--model", "onnx:{tmp}/m.onnx"], _truncated_onnx, ["not a valid ONNX model"]),
    # --checkpoint
    (["run", "--model", "timm:test_efficientnet", "--checkpoint", "{tmp}/garbage.pt"], _checkpoints,
     ["--checkpoint", "garbage.pt", "neither a torch.save file"]),
    (["run", "--model", "timm:test_efficientnet", "--checkpoint", "{tmp}/cut.safetensors"], _checkpoints,
     ["cut.safetensors", "truncated"]),
    (["run", "--model", "timm:test_efficientnet", "--checkpoint", "{tmp}/junk.safetensors"], _checkpoints,
     ["junk.safetensors", "not a whole .safetensors file"]),
    (["run", "--model", "timm:test_efficientnet", "--checkpoint", "{tmp}/list.pt"], _checkpoints,
     ["list.pt", "does not hold a state dict", "list"]),
    (["export", "--out", "{tmp}/art", "--model", "timm:test_efficientnet", "--checkpoint", "{tmp}/mixed.pt"],
     _checkpoints, ["mixed.pt", "does not hold a state dict"]),
    (["run", "--model", "timm:test_efficientnet", "--checkpoint", "{tmp}/whole.safetensors"], _checkpoints,
     ["whole.safetensors", "does not fit timm:test_efficientnet"]),
    # run --artifacts manifests
    (["run", "--artifacts", "{tmp}/art"], _write("art/manifest.json", b"{\"format\": \"edgeb"), ["manifest.json is damaged"]),
    (["run", "--artifacts", "{tmp}/art"], _write("art/manifest.json", b"\x00\xff\xfe"), ["manifest.json is damaged", "binary"]),
    (["run", "--artifacts", "{tmp}/art"], _write("art/manifest.json", "[1]"), ["not an edgebench artifacts manifest"]),
    (["run", "--artifacts", "{tmp}/art"], _write("art/manifest.json", json.dumps({**MANIFEST, "models": 3})),
     ["manifest.json", "models"]),
    (["run", "--artifacts", "{tmp}/art"], _write("art/manifest.json", json.dumps(MANIFEST)),
     ["m.onnx is missing", "export the artifacts again"]),
    # images, labels, class maps
    ([*TINY, "--data", "{tmp}/val"], _images("not-an-image"), ["broken.jpg", "cannot be decoded", "nothing was measured"]),
    ([*TINY, "--data", "{tmp}/val"], _images("truncated"), ["broken.jpg", "cannot be decoded"]),
    ([*TINY, "--data", "{tmp}/val", "--calib-data", "{tmp}/calib"], _images(calib_bad=True),
     ["calibration images", "broken.png"]),
    ([*TINY, "--data", "{tmp}/flat", "--labels", "{tmp}/labels.txt"], _images(labels=b"\xff\xd8\xff\x00\x00"),
     ["labels.txt", "not a text file"]),
    ([*TINY, "--data", "{tmp}/flat", "--labels", "{tmp}/labels.txt"], _images(labels=b"a.jpg 3 extra\n"),
     ["labels.txt:1", "filename label"]),
    ([*TINY, "--data", "{tmp}/val", "--class-map", "{tmp}/calib/img0.jpg"], _images(), ["class map", "not a text file"]),
    # folders that cannot be written
    (["run", "--out", "{tmp}/file/run"], _file, ["--out", "is a file"]),
    (["run", "--cache-dir", "{tmp}/file/cache"], _file, ["--cache-dir", "is a file"]),
    (["run", "--out", "{tmp}/file"], _file, ["--out", "is a file, not a folder"]),
    (["export", "--out", "{tmp}/file/art"], _file, ["--out", "is a file"]),
    (["report", "{tmp}", "--out", "{tmp}/file/report"], _file, ["--out", "is a file"]),
    # tools
    (["env", "create", "tflite"], _nothing, ["unknown toolchain", "litert"]),
    (["env", "create"], _nothing, ["say which toolchain"]),
    (["run", "--model", "onnx:{tiny}", "--runtime", "tensorrtx"], _nothing, ["unknown runtime"]),
]


def _main(*argv: str) -> subprocess.CompletedProcess:
    """``edgebench.cli.main(argv)`` in this process, from the folder ``run_cli`` runs in, its output captured."""
    from edgebench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(REPO), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return subprocess.CompletedProcess(list(argv), code, out.getvalue(), err.getvalue())


IDS = [f"{i:02d}-{' '.join(c[0])[:60]}" for i, c in enumerate(CASES)]
# Through a fresh process too: an argparse error, an image that cannot be decoded, an unknown runtime.
ENTRY_POINT = {0, next(i for i, c in enumerate(CASES) if "cannot be decoded" in c[2]), len(CASES) - 1}


@pytest.mark.parametrize("argv, setup, words, fresh",
                         [pytest.param(*case, i in ENTRY_POINT, id=IDS[i]) for i, case in enumerate(CASES)])
def test_bad_input_is_one_line_and_exit_2(argv, setup, words, fresh, tmp_path, tiny_onnx):
    setup(tmp_path, tiny_onnx)
    if argv[0] in ("run", "export") and not any(a.startswith("--data") for a in argv):
        argv = [*argv, NO_DATA]
    argv = [a.format(tmp=tmp_path, tiny=tiny_onnx) for a in argv]
    proc = run_cli(*argv, timeout=300) if fresh else _main(*argv)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    for word in words:
        assert word in lines[0], lines[0]
    assert not (tmp_path / "run" / "logs").exists() and "results" not in proc.stdout  # nothing was measured


def test_a_runtime_that_is_not_installed(tmp_path, tiny_onnx):
    """A GPU runtime named on a machine without an NVIDIA driver: the line says why and exit 2."""
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has an NVIDIA driver: tensorrt may be available")
    proc = run_cli("run", "--model", f"onnx:{tiny_onnx}", "--runtime", "tensorrt", "--out", str(tmp_path / "run"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "runtime tensorrt is not available" in proc.stderr and "NVIDIA" in proc.stderr
    assert not (tmp_path / "run" / "results.jsonl").exists()
