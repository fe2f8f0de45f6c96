"""``edgebench run`` with images: accuracy per cell against the FP32 reference, INT8 calibrated on a
held-out slice, synthetic calibration said loudly, and bad image folders refused clearly."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST, run_cli


def _results(run_dir):
    return {r["key"]: r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}


def test_accuracy_and_int8_on_real_images(image_task, accuracy_run):
    out = accuracy_run
    stderr = (out / "stderr.txt").read_text()
    assert "accuracy on 200 of 320 images" in stderr and "calibration: 60 images (data-slice)" in stderr
    results = _results(out)
    assert len(results) == 8 and all(r["status"] == "ok" for r in results.values())
    for record in results.values():
        acc = record["accuracy"]
        assert acc["images"] == 200 and acc["eval_set"]["eval_images"] == 200 and acc["representative"]
        assert acc["top1"] > 0.9 and acc["top1_ci95"][0] <= acc["top1"] <= acc["top1_ci95"][1]
        assert acc["reference"]["runtime"] == "onnxruntime" and acc["vs_reference"]["cosine_mean"] > 0.99
        assert abs(acc["vs_reference"]["top1_change"]["delta"]) <= 0.02
        assert (out / "eval" / acc["predictions"]).exists()
    # The run keeps the image lists it used; an accuracy figure can be recomputed from them by hand.
    eval_lines = [line.split("\t") for line in (out / "images" / "eval.txt").read_text().splitlines()]
    calib_lines = (out / "images" / "calib.txt").read_text().splitlines()
    assert len(eval_lines) == 200 and len(calib_lines) == 60 and not {p for p, _ in eval_lines} & set(calib_lines)
    classes = sorted(d.name for d in image_task["val"].iterdir() if d.is_dir())
    assert all(os.path.isfile(p) and classes[int(label)] == Path(p).parent.name for p, label in eval_lines)
    run_meta = json.loads((out / "run.json").read_text())["images"]
    assert run_meta["files"] == {"eval": "images/eval.txt", "calib": "images/calib.txt"}
    for record in results.values():
        assert record["accuracy"]["eval_set"]["images_file"] == "images/eval.txt"
        top5 = np.load(out / "eval" / record["accuracy"]["predictions"])
        by_hand = float(np.mean(top5[:, 0] == np.array([int(label) for _, label in eval_lines])))
        assert by_hand == pytest.approx(record["accuracy"]["top1"])
    for runtime, batch in (("onnxruntime", 1), ("onnxruntime", 4), ("openvino", 1), ("openvino", 4)):
        int8 = results[f"onnx:{image_task['onnx']}|{runtime}|int8|b{batch}"]
        calibration = {k: v for k, v in int8["calibration"].items() if k != "memory"}
        assert calibration == {"images": 60, "images_given": 60, "source": "data-slice", "synthetic": False,
                               "images_file": "images/calib.txt"}
        if int8["quantization"]["recipe"] == "ort-static-int8":  # ONNX Runtime's bounded calibration batch
            assert int8["calibration"]["memory"]["batch"] == 8
        assert int8["quantization"]["recipe"] in ("ort-static-int8", "nncf-ptq-int8")
        assert int8["speedup_vs_fp32"] > 0 and int8["size_mb"] < results[int8["key"].replace("int8", "fp32")]["size_mb"]
    table = (out / "table.md").read_text()
    assert "### Every deployment" in table and "no significant change" in table


def test_int8_without_images_warns_of_synthetic_calibration(prepared_timm, tmp_path, cache_dir):
    out = tmp_path / "run"
    done = run_cli("run", "--model", "timm:test_efficientnet", "--weights", "random", "--runtime", "onnxruntime",
                   "--precision", "int8", "--batch-size", "1", "--out", str(out), "--cache-dir", str(cache_dir), *FAST)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SYNTHETIC" in done.stderr
    (record,) = _results(out).values()
    assert record["calibration"]["synthetic"] and "SYNTHETIC" in record["warnings"][0]
    assert "images_file" not in record["calibration"] and not (out / "images").exists()  # no images, no list
    assert record["accuracy"] is None


def test_class_count_mismatch_is_recorded_not_fatal(prepared_timm, image_task, tmp_path, cache_dir):
    out = tmp_path / "run"
    done = run_cli("run", "--model", "timm:test_efficientnet", "--weights", "random", "--runtime", "onnxruntime",
                   "--data", str(image_task["val"]), "--batch-size", "1", "--out", str(out),
                   "--cache-dir", str(cache_dir), *FAST)
    assert done.returncode == 0, done.stderr[-3000:]
    (record,) = _results(out).values()
    assert record["accuracy"] is None and "predicts 1000 classes but the dataset has 4" in record["accuracy_error"]


def test_bad_image_folders_stop_before_running(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, message in ((["--data", str(tmp_path / "missing")], "does not exist"),
                          (["--data", str(empty)], "no images found"),
                          (["--labels", "x.txt"], "give --data too"),
                          (["--precision", "int4"], "--precision must be among")):
        done = run_cli("run", "--model", "timm:test_efficientnet", "--out", str(tmp_path / "o"), *args)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
