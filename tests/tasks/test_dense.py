"""Segmentation and depth through `edgebench run` on real LiteRT files (``tflite:`` models): DeepLabV3 on the shared
COCO images with VOC classes and PyDNet++ on a shared RGB-D pair, against the hand-measured figures of
../shared/data/README.md; the depth metrics' alignment on made-up maps; the layout of RGB-D folders."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FAST, REPO, run_cli

SHARED = (REPO / ".." / "shared").resolve()
COCO = SHARED / "data" / "coco-val-80"
RGBD = SHARED / "data" / "rgbd-samples" / "other_formats"
DEEPLAB = SHARED / "models" / "deeplabv3_257_mv_gpu.tflite"
PYDNET = SHARED / "models" / "pydnet_plus_plus.tflite"
needs_shared = pytest.mark.skipif(not (COCO.exists() and RGBD.exists() and DEEPLAB.exists() and PYDNET.exists()),
                                  reason=f"the shared COCO and RGB-D images and LiteRT models are not at {SHARED}")


def test_depth_alignment_recovers_scale_and_shift_in_either_space():
    from edgebench.tasks.depth import image_errors, score

    rng = np.random.default_rng(0)
    truth = rng.uniform(1.0, 8.0, size=(24, 32))
    truth[0, :5] = 0.0  # no reading: left out
    exact = image_errors(0.5 * truth - 0.2, truth, "depth")
    assert exact["abs_rel"] == pytest.approx(0.0, abs=1e-9) and exact["delta1"] == 1.0 and exact["pixels"] == 24 * 32 - 5
    disparity = image_errors(np.where(truth > 0, 3.0 / np.where(truth > 0, truth, 1) + 0.1, 0), truth, "disparity")
    assert disparity["abs_rel"] == pytest.approx(0.0, abs=1e-9)
    noisy = image_errors(truth * rng.uniform(0.7, 1.3, size=truth.shape), truth, "depth")
    assert 0.05 < noisy["abs_rel"] < 0.3 and 0.5 < noisy["delta1"] < 1.0
    summary = score([exact, noisy], [exact, exact])
    assert summary["abs_rel"] == pytest.approx(noisy["abs_rel"] / 2)
    assert summary["vs_reference"]["delta1_change"]["delta"] == pytest.approx((noisy["delta1"] - 1.0) / 2)


def test_an_rgbd_folder_pairs_colour_and_depth_by_name_and_reads_its_scale(tmp_path):
    from edgebench.data.layouts import open_dataset
    from edgebench.errors import ConfigError
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / "color").mkdir(exist_ok=True)
        (tmp_path / "depth").mkdir(exist_ok=True)
        Image.new("RGB", (8, 6)).save(tmp_path / "color" / f"{name}.jpg")
    Image.fromarray(np.full((6, 8), 5000, np.uint16)).save(tmp_path / "depth" / "a.png")
    (tmp_path / "rgbd.yaml").write_text("depth_scale: 5000\n")
    dataset = open_dataset(tmp_path)
    assert dataset.layout == "rgbd" and [p.rsplit("/", 1)[1] for p, _ in dataset.samples] == ["a.jpg"]
    assert dataset.depth_scale == 5000 and dataset.depth_files[0].endswith("depth/a.png")
    (tmp_path / "rgbd.yaml").write_text("depth_scale: -1\n")
    with pytest.raises(ConfigError, match="depth_scale"):
        open_dataset(tmp_path)


def _sun_pair(folder):
    """The SUN RGB-D pair as an RGB-D folder: its depth PNG decoded as the README says (rotate each value right by
    3 bits, millimetres) and written back as plain millimetres."""
    from PIL import Image

    (folder / "color").mkdir(parents=True)
    (folder / "depth").mkdir()
    (folder / "color" / "sun.jpg").write_bytes((RGBD / "SUN_color.jpg").read_bytes())
    raw = np.asarray(Image.open(RGBD / "SUN_depth.png")).astype(np.uint32)
    Image.fromarray((((raw >> 3) | (raw << 13)) & 0xFFFF).astype(np.uint16)).save(folder / "depth" / "sun.png")
    return folder


def _calibration(folder):
    from PIL import Image

    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (64, 64, 3), np.uint8)).save(folder / f"{i}.png")
    return folder


def _records(out):
    return {r["runtime"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


@needs_shared
def test_a_depth_file_through_run_matches_the_hand_measured_figures(tmp_path, cache_dir):
    """PyDNet++ (a LiteRT file whose weights are INT8) on the SUN pair: AbsRel 0.163 and δ1 0.75 by hand, scale and
    shift aligned in depth space; ONNX Runtime says why it cannot take a LiteRT file."""
    config = tmp_path / "pydnet.yaml"
    config.write_text("task: depth\nresize: stretch\nmean: [0, 0, 0]\nstd: [1, 1, 1]\n"
                      "output_name: PSD/resize_images/ResizeBilinear\ndepth_output: depth\n")
    out = tmp_path / "run"
    proc = run_cli("run", "--model", f"tflite:{PYDNET}", "--model-config", str(config), "--data",
                   str(_sun_pair(tmp_path / "rgbd")), "--calib-data", str(_calibration(tmp_path / "calib")),
                   "--runtime", "litert", "--runtime", "onnxruntime", "--batch-size", "1", *FAST,
                   "--cache-dir", str(cache_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    records = _records(out)
    assert records["onnxruntime"]["status"] == "skipped" and "LiteRT file" in records["onnxruntime"]["reason"]
    cell = records["litert"]
    assert cell["status"] == "ok", cell.get("reason")
    acc = cell["accuracy"]
    assert acc["metric"] == "depth" and acc["images"] == 1
    assert acc["abs_rel"] == pytest.approx(0.163, abs=0.003) and acc["delta1"] == pytest.approx(0.75, abs=0.01)
    assert acc["vs_reference"]["delta1_change"]["delta"] == 0 and acc["fidelity"]["delta1"] == 1.0
    assert acc["postprocess_ms"]["n"] == 1 and cell["runtime_config"]["input_layout"] == "NHWC"
    assert cell["artifact"]["precision"] == "int8-weights"


@needs_shared
def test_a_segmenter_file_through_run_matches_the_hand_measured_miou(tmp_path, cache_dir):
    """DeepLabV3 (LiteRT) on the 80 COCO images with VOC classes drawn from their masks: mIoU 0.253 and pixel
    accuracy 0.865 by hand; the report heads its table with mIoU."""
    config = tmp_path / "deeplab.yaml"
    config.write_text("task: segment\nresize: stretch\nmean: [0.5, 0.5, 0.5]\nstd: [0.5, 0.5, 0.5]\n")
    out = tmp_path / "run"
    proc = run_cli("run", "--model", f"tflite:{DEEPLAB}", "--model-config", str(config), "--data", str(COCO),
                   "--calib-data", str(_calibration(tmp_path / "calib")), "--runtime", "litert", "--batch-size", "1",
                   *FAST, "--cache-dir", str(cache_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    cell = _records(out)["litert"]
    assert cell["status"] == "ok", cell.get("reason")
    acc = cell["accuracy"]
    assert acc["metric"] == "miou" and acc["images"] == 80 and acc["iou"]["person"] == pytest.approx(0.54, abs=0.01)
    assert acc["miou"] == pytest.approx(0.253, abs=0.003) and acc["pixel_accuracy"] == pytest.approx(0.865, abs=0.003)
    assert acc["miou_ci95"][0] < acc["miou"] < acc["miou_ci95"][1] and acc["fidelity"]["pixels_agree"] == 1.0
    report = run_cli("report", str(out), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    assert "mIoU" in (tmp_path / "report" / "report.md").read_text()


RGBD_FRAMES = SHARED / "data" / "rgbd-samples"


@needs_shared
def test_torch_task_models_through_run_are_scored_and_compared_with_their_fp32(tmp_path, cache_dir):
    """A torchvision segmenter (LR-ASPP, random weights offline) on COCO images and Depth Anything V2 Small
    (transformers, its architecture from its configuration) on RGB-D frames: exported to ONNX, measured on ONNX
    Runtime, each cell scored with the task's figures and its fidelity to PyTorch FP32 (the reference outputs)."""
    out = tmp_path / "seg"
    proc = run_cli("run", "--model", "torchvision:lraspp_mobilenet_v3_large", "--data", str(COCO), "--limit", "3",
                   "--calib-data", str(_calibration(tmp_path / "calib")), "--runtime", "onnxruntime",
                   "--batch-size", "1", *FAST, "--cache-dir", str(cache_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    seg = _records(out)
    for record in seg.values():
        assert record["status"] == "ok", record.get("reason")
        assert record["accuracy"]["metric"] == "miou" and record["accuracy"]["images"] == 3
        assert record["reference"]["miou"] == 57.9  # torchvision's published figure, a reference column only
    assert seg["onnxruntime"]["accuracy"]["fidelity"]["pixels_agree"] > 0.99  # the same float model
    out = tmp_path / "depth"
    proc = run_cli("run", "--model", "transformers:depth-anything/Depth-Anything-V2-Small-hf", "--data",
                   str(RGBD_FRAMES), "--calib-data", str(tmp_path / "calib"), "--limit", "2", "--runtime",
                   "onnxruntime", "--batch-size", "1", *FAST, "--cache-dir", str(cache_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    cell = _records(out)["onnxruntime"]
    assert cell["status"] == "ok", cell.get("reason")
    acc = cell["accuracy"]
    assert acc["metric"] == "depth" and acc["images"] == 2 and 0 <= acc["delta1"] <= 1
    assert acc["fidelity"]["delta1"] > 0.99 and acc["fidelity"]["abs_rel"] < 0.01  # ONNX Runtime vs PyTorch FP32
    assert cell["params_m"] == pytest.approx(24.8, abs=0.1) and cell["weights"] == "random"
