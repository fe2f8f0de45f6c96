"""The mobile runtimes, run for real on timm's tiny test_efficientnet (random weights) and scored against
its FP32 PyTorch outputs on generated ImageNet-synset images: LiteRT (converted in its own environment),
ExecuTorch with XNNPACK, ncnn through pnnx, and Core ML (converted; measured only on macOS)."""
from __future__ import annotations

import json
import sys

from conftest import FAST, run_cli

MODEL = "timm:test_efficientnet"


def _run(tmp_path, cache_dir, images, *args, batches=(1, 3)):
    out = tmp_path / "run"
    sizes = [a for b in batches for a in ("--batch-size", str(b))]
    done = run_cli("run", "--model", MODEL, "--weights", "random", *sizes, "--data", str(images), "--calib-data", str(images), "--allow-calib-overlap",
                   "--cache-dir", str(cache_dir), "--out", str(out), *FAST, *args, timeout=1800)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return done, {(r["runtime"], r["precision"], r["batch_size"]): r for r in records}


def _agreement(record) -> float:
    return record["accuracy"]["vs_reference"]["top1_agreement"]


def test_litert_four_precisions(tmp_path, cache_dir, synset_images, litert_env):
    done, cells = _run(tmp_path, cache_dir, synset_images, "--runtime", "litert", "--precision", "fp32",
                       "--precision", "fp16", "--precision", "int8", "--precision", "int8-dynamic", batches=(3,))
    assert done.returncode == 0, done.stderr[-3000:]
    assert all(r["status"] == "ok" for r in cells.values()), [r["reason"] for r in cells.values()]
    fp32, fp16 = cells[("litert", "fp32", 3)], cells[("litert", "fp16", 3)]
    int8, dynamic = cells[("litert", "int8", 3)], cells[("litert", "int8-dynamic", 3)]
    assert _agreement(fp32) == 1.0 and fp32["accuracy"]["vs_reference"]["cosine_mean"] > 0.9999
    assert _agreement(fp16) >= 0.95
    # The file an app ships: FP16 weights halve it, INT8 quarters it (a little metadata aside).
    assert fp16["size_mb"] < 0.6 * fp32["size_mb"] and int8["size_mb"] < 0.4 * fp32["size_mb"]
    assert int8["runtime_config"]["input_dtype"] == "int8"  # full-integer: INT8 in, INT8 out
    assert int8["calibration"]["images"] == 40 and not int8["calibration"]["synthetic"]
    assert int8["quantization"]["cache_key"]["versions"]["litert-torch"]  # built by the env's converter
    assert _agreement(int8) >= 0.5 and _agreement(dynamic) >= 0.5
    for record in cells.values():  # LiteRT cannot say its threads; it must say so, not echo the option
        assert record["threads_reported"] is None
        assert record["runtime_config"]["threads_reported_by"].startswith("not readable")
        assert record["static_shape"] is True and record["runtime_config"]["shape"].startswith("static [")
        assert record["timed_span"].startswith("interpreter.invoke()") and record["io_latency_ms"]["n"] >= 5
    assert "quantise" in int8["timed_span"] and "quantise" not in fp32["timed_span"]


def test_executorch_and_ncnn_match_pytorch_and_coreml_converts(tmp_path, cache_dir, synset_images):
    done, cells = _run(tmp_path, cache_dir, synset_images, "--runtime", "executorch", "--runtime", "ncnn",
                       "--runtime", "coreml", "--precision", "fp32", "--precision", "int8",
                       "--precision", "int8-weights", batches=(3,))  # one program per batch: one batch size here
    assert done.returncode == 0, done.stderr[-3000:]
    for key in (("executorch", "fp32", 3), ("ncnn", "fp32", 3)):
        record = cells[key]
        assert record["status"] == "ok", record["reason"]
        assert _agreement(record) == 1.0 and record["accuracy"]["vs_reference"]["cosine_mean"] > 0.9999
    int8 = cells[("executorch", "int8", 3)]
    assert int8["status"] == "ok" and int8["size_mb"] < 0.5 * cells[("executorch", "fp32", 3)]["size_mb"]
    assert int8["calibration"]["images"] == 40 and _agreement(int8) >= 0.5
    for key in (("executorch", "fp32", 3), ("executorch", "int8", 3), ("ncnn", "fp32", 3)):
        record = cells[key]
        assert record["timed_span"] and record["io_latency_ms"]["p50"] > 0, key
        assert record["threads_reported"] == record["threads"], key
    assert cells[("executorch", "int8", 3)]["static_shape"] is True  # one program per batch
    ncnn = cells[("ncnn", "fp32", 3)]
    assert ncnn["static_shape"] is False and "no batch dimension" in ncnn["timed_span"]
    # The FP32 row stores FP32 weights (pnnx would write FP16 by default): 4 bytes a parameter, as the .pte.
    assert ncnn["size_mb"] > 0.95 * cells[("executorch", "fp32", 3)]["size_mb"]
    assert ncnn["quantization"]["settings"]["weights"] == "fp32"
    for precision in ("fp32", "int8-weights"):
        coreml = cells[("coreml", precision, 3)]
        assert coreml["size_mb"] > 0 and coreml["artifact"]["format"] == "mlpackage"
        if sys.platform != "darwin":
            assert coreml["status"] == "skipped" and coreml["reason"].startswith("converted; inference needs macOS")
    assert cells[("coreml", "int8-weights", 3)]["size_mb"] < 0.4 * cells[("coreml", "fp32", 3)]["size_mb"]
    assert cells[("ncnn", "int8", 3)]["status"] == "skipped"


def test_mobile_runtimes_skip_an_onnx_file_model(tmp_path, cache_dir, tiny_onnx):
    out = tmp_path / "run"
    done = run_cli("run", "--model", f"onnx:{tiny_onnx}", "--runtime", "executorch", "--batch-size", "1",
                   "--cache-dir", str(cache_dir), "--out", str(out), *FAST)
    record = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert done.returncode == 0 and record["status"] == "skipped"
    assert "converts the PyTorch model" in record["reason"]


def test_runtime_group_expands():
    from edgebench.runtimes import MOBILE_RUNTIMES, expand_runtimes

    runtimes, named = expand_runtimes(("mobile", "onnxruntime"))
    assert runtimes == [*MOBILE_RUNTIMES, "onnxruntime"] and named == {"onnxruntime"}


def test_ncnn_takes_an_onnx_file_through_pnnx(image_task, tmp_path, cache_dir):
    """A model given as an ONNX file reaches ncnn: pnnx reads the ONNX graph, and the ncnn cell agrees with the
    FP32 reference (ONNX Runtime) image by image."""
    out = tmp_path / "run"
    proc = run_cli("run", "--model", f"onnx:{image_task['onnx']}", "--data", str(image_task["val"]), "--calib-size",
                   "10", "--limit", "40", "--runtime", "ncnn", "--precision", "fp32", "--precision", "int8",
                   "--batch-size", "1", "--cache-dir", str(cache_dir), "--out", str(out), *FAST)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {r["precision"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert records["int8"]["status"] == "skipped" and "does not offer int8" in records["int8"]["reason"]
    cell = records["fp32"]
    assert cell["status"] == "ok", cell.get("reason")
    assert cell["artifact"]["toolchain"] == "pnnx (ONNX → ncnn)"
    assert cell["accuracy"]["vs_reference"]["top1_agreement"] >= 0.99
