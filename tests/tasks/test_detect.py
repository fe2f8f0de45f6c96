"""Detection: YOLOX's, YOLOv8's and SSD's decoding and NMS, COCO mAP from pycocotools with intervals over images,
and real detectors measured through `edgebench run`: YOLOX-Nano (the shared ONNX file and COCO images) on ONNX
Runtime and OpenVINO, and torchvision's SSDLite against torchvision's own detections."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST, REPO, run_cli
from edgebench.tasks.detect import Geometry

SHARED = (REPO / ".." / "shared").resolve()  # beside the project; never copied into it
YOLOX = SHARED / "models" / "yolox_nano.onnx"
COCO = SHARED / "data" / "coco-val-80"
CONFIG = REPO / "examples" / "yolox_nano.yaml"
needs_shared = pytest.mark.skipif(not (YOLOX.exists() and COCO.exists()),
                                  reason=f"the shared YOLOX-Nano model and COCO images are not at {SHARED}")


def test_yolox_decoding_places_a_box_where_its_cell_says():
    from edgebench.tasks.detect import decode_yolox

    raw = np.full((52 * 52 + 26 * 26 + 13 * 13, 85), -20.0, np.float32)
    raw[:, 2:4] = 0.0
    anchor = 52 * 52 + 3 * 26 + 5  # stride 16, row 3, column 5
    raw[anchor, :5] = [0.5, 0.25, np.log(2.0), 0.0, 1.0]
    raw[anchor, 5 + 7] = 0.9
    boxes, scores, classes = decode_yolox(raw, (416, 416))
    # centre ((0.5 + 5) x 16, (0.25 + 3) x 16) = (88, 52); size (2 x 16, 1 x 16)
    np.testing.assert_allclose(boxes[anchor], [72.0, 44.0, 104.0, 60.0], atol=1e-4)
    assert classes[anchor] == 7 and scores[anchor] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="anchors"):
        decode_yolox(raw[:-1], (416, 416))


def test_nms_is_class_wise_and_keeps_the_best_score():
    from edgebench.tasks.detect import nms

    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 1, 0])
    assert nms(boxes, scores, classes, iou=0.65, max_det=100).tolist() == [1, 2, 3]  # box 0 overlaps box 1
    assert nms(boxes, scores, classes, iou=0.65, max_det=2).tolist() == [1, 2]


def test_letterbox_keeps_the_aspect_ratio_and_maps_back(tmp_path):
    from PIL import Image

    from edgebench.data.images import crop_image, image_geometry
    from edgebench.models.spec import Preprocess

    path = tmp_path / "wide.png"
    Image.new("RGB", (200, 100), (255, 0, 0)).save(path)
    pre = Preprocess(input_size=(3, 64, 64), resize="letterbox", position="top-left", pad_value=114)
    canvas = crop_image(str(path), pre)
    assert canvas.shape == (64, 64, 3)
    assert (canvas[:32] == [255, 0, 0]).all() and (canvas[32:] == 114).all()  # the image on top, grey below
    assert image_geometry(str(path), pre) == [0.32, 0.32, 0.0, 0.0, 200, 100]
    centred = Preprocess(input_size=(3, 64, 64), resize="letterbox")
    assert image_geometry(str(path), centred)[2:4] == [0.0, 16.0]


def _scorer(images: int | None = None):
    from edgebench.data.layouts import open_dataset
    from edgebench.tasks.detect import Postprocess, scorer

    dataset = open_dataset(COCO)
    ref = {"annotations": dataset.annotations, "category_ids": list(dataset.category_ids),
           "labels": [image_id for _, image_id in dataset.samples[:images]]}
    return dataset, scorer(ref, Postprocess())


@needs_shared
def test_the_ground_truth_scores_one_and_a_paired_loss_shows():
    """The annotations themselves as detections score mAP 1; dropping every other image's boxes is a
    significant drop against them, with a paired interval below zero."""
    dataset, coco = _scorer(images=30)
    assert dataset.layout == "coco" and dataset.num_classes == 80 and len(dataset.samples) == 80
    index = {c: i for i, c in enumerate(dataset.category_ids)}
    truth = []
    for image_id in coco.image_ids:
        anns = [a for a in coco.gt.imgToAnns[image_id] if not a.get("iscrowd")]
        truth.append(np.array([[*a["bbox"], 1.0, index[a["category_id"]]] for a in anns], np.float32).reshape(-1, 6))
    perfect = coco.score(truth, truth)
    assert perfect["map"] == pytest.approx(1.0) and perfect["vs_reference"]["map_change"]["delta"] == 0
    halved = [d if i % 2 else d[:0] for i, d in enumerate(truth)]
    worse = coco.score(halved, truth)
    change = worse["vs_reference"]["map_change"]
    assert change["delta"] < -0.2 and change["ci95"][1] < 0 and change["verdict"] == "significant drop"
    assert worse["map_ci95"][0] <= worse["map"] <= worse["map_ci95"][1]


@needs_shared
def test_yolox_nano_matches_the_hand_measured_map():
    """YOLOX-Nano on the 80 shared COCO images through edgebench's letterbox, decoder and NMS, scored by
    pycocotools: the hand-measured figures (../shared/data/README.md) are mAP 0.296 and AP50 0.464."""
    import onnxruntime as ort

    from edgebench.data.images import crop_image, image_geometry
    from edgebench.models.registry import resolve_model
    from edgebench.tasks.detect import Postprocess, detect_all

    spec = resolve_model(f"onnx:{YOLOX}", {"model_config": str(CONFIG)})
    assert spec.task == "detect" and spec.fixed_batch == 1 and spec.num_classes == 80
    dataset, coco = _scorer()
    pre = spec.preprocess
    crops = np.stack([crop_image(p, pre) for p, _ in dataset.samples])
    session = ort.InferenceSession(str(YOLOX), providers=["CPUExecutionProvider"])
    found, post_ms = detect_all(lambda b: session.run(None, {"images": b})[0], crops, pre, 1,
                                [image_geometry(p, pre) for p, _ in dataset.samples], Postprocess(**spec.postprocess))
    result = coco.score(found)
    assert result["map"] == pytest.approx(0.296, abs=0.003) and result["ap50"] == pytest.approx(0.464, abs=0.003)
    assert len(post_ms) == 80 and all(ms > 0 for ms in post_ms)


@needs_shared
def test_a_detector_through_run_on_two_runtimes_with_int8(tmp_path, cache_dir):
    """`edgebench run` on YOLOX-Nano: FP32 and INT8 on ONNX Runtime and OpenVINO, and FP32 on ncnn (pnnx reads the
    ONNX file), scored as COCO mAP with its interval, each INT8 cell's paired change against the FP32 detections,
    decode+NMS timed apart, and the report's table headed by the task's metric."""
    out = tmp_path / "run"
    proc = run_cli("run", "--model", f"onnx:{YOLOX}", "--model-config", str(CONFIG), "--data", str(COCO),
                   "--calib-size", "8", "--limit", "16", "--runtime", "onnxruntime", "--runtime", "openvino",
                   "--runtime", "ncnn", "--precision", "fp32", "--precision", "int8", "--batch-size", "1",
                   "--cache-dir", str(cache_dir), "--out", str(out), *FAST)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a cell failed (ncnn, below), recorded with its reason
    assert "reference mAP" in proc.stderr
    records = {r["key"].split("|", 1)[1]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert records.pop("ncnn|int8|b1")["status"] == "skipped"
    ncnn = records.pop("ncnn|fp32|b1")  # pnnx 20261020 leaves YOLOX's strided slices (its Focus stem) unlowered
    assert ncnn["status"] == "ok" or "pnnx could not turn Tensor.slice" in ncnn["reason"], ncnn.get("reason")
    assert proc.returncode == (0 if ncnn["status"] == "ok" else 1)
    assert sorted(records) == ["onnxruntime|fp32|b1", "onnxruntime|int8|b1", "openvino|fp32|b1", "openvino|int8|b1"]
    for key, record in records.items():
        assert record["status"] == "ok", record.get("reason")
        acc = record["accuracy"]
        assert acc["metric"] == "map" and acc["images"] == 16 and 0 < acc["map"] < 1
        assert acc["map_ci95"][0] <= acc["map"] <= acc["map_ci95"][1]
        assert acc["postprocess_ms"]["n"] == 16 and acc["postprocess_ms"]["p50"] > 0
        change = acc["vs_reference"]["map_change"]
        if key.endswith("fp32|b1"):
            assert abs(change["delta"]) < 0.01  # the same float model as the reference, on another runtime
            assert acc["fidelity"]["map"] > 0.9  # ... so it finds FP32's confident boxes again
        else:
            assert change["ci95"][0] <= change["delta"] <= change["ci95"][1]
        assert record["quantization"]["calibration"]["images"] == 8 if "int8" in key else True
    report = run_cli("report", str(out), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "COCO mAP" in text and "Δ mAP vs FP32 (pt)" in text and "b1 end to end per image (ms)" in text


@pytest.mark.parametrize("yaml_text, words", [
    ("task: segmentation\n", ["task", "classify or detect"]),
    ("task: detect\nnum_classes: 80\n", ["decoder", "yolox"]),
    ("decoder: yolox\n", ["task: detect"]),
    ("resize: squash\n", ["resize", "letterbox"]),
])
def test_a_bad_model_config_is_one_line(tiny_onnx, tmp_path, yaml_text, words):
    config = tmp_path / "model.yaml"
    config.write_text(yaml_text)
    proc = run_cli("run", "--model", f"onnx:{tiny_onnx}", "--model-config", str(config), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and all(w in proc.stderr for w in words), proc.stderr


def test_fidelity_scores_a_deployment_against_fp32s_confident_detections():
    """No labels needed: FP32's detections (score >= 0.3) are the truth. The same detections score mAP 1; boxes
    moved by half their size score less; a detection FP32 did not make costs precision."""
    from edgebench.tasks.detect import fidelity

    fp32 = [np.array([[10, 10, 40, 40, 0.9, 0], [100, 50, 30, 60, 0.8, 2], [5, 5, 10, 10, 0.1, 1]], np.float32),
            np.array([[20, 30, 50, 50, 0.7, 1]], np.float32)]
    geometry = [[1, 1, 0, 0, 200, 200], [1, 1, 0, 0, 100, 120]]
    same = fidelity(fp32, fp32, geometry)
    assert same["map"] == pytest.approx(1.0) and same["truth_boxes"] == 3
    moved = [d.copy() for d in fp32]
    moved[0][0, :2] += 20
    worse = fidelity(moved, fp32, geometry)
    assert worse["ap50"] < 1.0 and worse["map"] < same["map"]


@needs_shared
def test_optimize_searches_a_detector_within_an_map_budget(tmp_path, cache_dir):
    """`edgebench optimize` on YOLOX-Nano: the budget is in mAP points, every decision is read on the selection
    images and the chosen deployment's mAP and drop on the report images; the deploy folder says how the raw output
    is decoded (no classifier's predict.py)."""
    out = tmp_path / "search"
    proc = run_cli("optimize", "--model", f"onnx:{YOLOX}", "--model-config", str(CONFIG), "--data", str(COCO),
                   "--calib-size", "8", "--selection-images", "24", "--report-images", "40", "--screen-images", "12",
                   "--runtime", "onnxruntime", "--precision", "int8",
                   "--max-accuracy-drop", "25", "--budget", "1", "--quick", "--max-duration", "1",
                   "--host-check", "record", "--timeout", "300",
                   "--cache-dir", str(cache_dir), "--out", str(out), timeout=1200)
    assert proc.returncode in (0, 3), proc.stderr[-3000:]
    summary = json.loads((out / "optimize.json").read_text())
    assert summary["goal"]["figure"] == "mAP"
    text = (out / "optimize.md").read_text()
    assert "mAP drop ≤ 25 pt" in text
    finals = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert finals and all(r["accuracy"]["metric"] == "map" and r["accuracy"]["images"] == 40 for r in finals
                          if r["status"] == "ok")
    if proc.returncode == 0:
        figures = json.loads((out / "deploy" / "figures.json").read_text())
        assert figures["accuracy"]["figure"] == "map" and figures["accuracy"]["images_role"] == "report"
        assert not (out / "deploy" / "predict.py").exists()
        preprocess = json.loads((out / "deploy" / "preprocess.json").read_text())
        assert preprocess["output"]["postprocess"]["decoder"] == "yolox" and "canvas" in preprocess["crop"]


def test_yolov8_decoding_reads_centre_size_and_the_best_class():
    from edgebench.tasks.detect import Postprocess

    raw = np.zeros((4 + 3, 5), np.float32)  # (4 + classes, anchors), as YOLOv8's head gives it per image
    raw[:4, 2] = [100, 60, 40, 20]  # centre 100,60, 40 wide, 20 high
    raw[4:, 2] = [0.1, 0.8, 0.3]
    raw[4:, 4] = [0.02, 0.0, 0.0]
    post = Postprocess(decoder="yolov8", score_threshold=0.05)
    found = post.detections(raw[None], (416, 416), Geometry(2.0, 2.0, 0.0, 0.0, 300, 300))
    assert found.shape == (1, 6)  # the 0.02 anchor is under the threshold
    assert found[0].tolist() == pytest.approx([40.0, 25.0, 20.0, 10.0, 0.8, 1.0])


def test_ssd_decoding_makes_a_candidate_of_every_class_above_the_threshold_and_keeps_each_class_topk():
    from edgebench.tasks.detect import decode_ssd

    raw = np.zeros((4, 4 + 3), np.float32)  # (anchors, 4 + classes), class 0 the background
    raw[:, :4] = [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [60, 60, 70, 70]]
    raw[:, 4:] = [[0.2, 0.5, 0.3], [0.3, 0.6, 0.1], [0.9, 0.05, 0.05], [0.1, 0.2, 0.7]]
    boxes, scores, classes = decode_ssd(raw, 0.15, topk=None)
    found = sorted(zip(classes.tolist(), np.round(scores.astype(float), 3).tolist()))
    assert found == [(1, 0.2), (1, 0.5), (1, 0.6), (2, 0.3), (2, 0.7)]  # anchor 0 stands for both classes
    boxes, scores, classes = decode_ssd(raw, 0.15, topk=1)
    assert sorted(zip(classes.tolist(), np.round(scores.astype(float), 3).tolist())) == [(1, 0.6), (2, 0.7)]
    assert boxes[classes == 2].tolist() == [[60, 60, 70, 70]]


@pytest.fixture(scope="module")
def ssdlite(tmp_path_factory):
    """torchvision's SSDLite (random weights: its convolutions re-initialised with PyTorch's default, so that its
    scores differ from anchor to anchor; torchvision's own random init gives every anchor the same scores), its
    edgebench spec, and the weights saved as a checkpoint for `run`."""
    import torch

    from edgebench.models.registry import resolve_model
    from edgebench.models.torch_models import build_module

    spec = resolve_model("torchvision:ssdlite320_mobilenet_v3_large")
    torch.manual_seed(0)
    module = build_module(spec)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.Conv2d):
                layer.reset_parameters()
    checkpoint = tmp_path_factory.mktemp("ssdlite") / "ssdlite.pt"
    torch.save(module.inner.state_dict(), checkpoint)
    return spec, module, checkpoint


def test_the_ssd_graph_and_decoder_give_torchvisions_own_detections(ssdlite):
    """The exported part of SSDLite (backbone, head, anchor decoding, softmax) and the numpy ``ssd`` decoder give the
    detections torchvision's ``SSD.forward`` gives for the same image: the same boxes, scores and COCO labels,
    down to the first scores tied between boxes (their order is arbitrary in both)."""
    import torch
    from PIL import Image

    from edgebench.tasks.detect import Postprocess

    spec, module, _ = ssdlite
    assert spec.task == "detect" and spec.num_classes == 91 and spec.reference["map"] == 21.3
    assert spec.postprocess == {"decoder": "ssd", "score_threshold": 0.001, "nms_iou": 0.55, "max_det": 300,
                                "topk": 300, "class_ids": "coco"}
    image = Image.open(sorted((COCO / "val2017").glob("*.jpg"))[0] if COCO.exists() else None).convert("RGB") \
        if COCO.exists() else Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8))
    pixels = torch.from_numpy(np.asarray(image.resize((320, 320)), np.float32).transpose(2, 0, 1) / 255.0)
    with torch.no_grad():
        theirs = module.inner([pixels])[0]
        raw = module(((pixels - 0.5) / 0.5)[None]).numpy()
    ours = Postprocess(**spec.postprocess).detections(raw[0], (320, 320), Geometry(1, 1, 0, 0, 320, 320))
    scores = theirs["scores"].numpy()
    distinct = int(np.argmax(np.diff(scores) == 0)) or len(scores)  # detections before the first tie
    assert distinct >= 20 and len(ours) == len(scores)
    boxes = np.concatenate([ours[:, :2], ours[:, :2] + ours[:, 2:4]], axis=1)
    assert np.abs(boxes[:distinct] - theirs["boxes"].numpy()[:distinct]).max() < 1e-3
    assert ours[:distinct, 4] == pytest.approx(scores[:distinct], abs=1e-6)
    assert ours[:distinct, 5].tolist() == theirs["labels"].numpy()[:distinct].tolist()


def test_the_float_tail_stops_at_the_last_weighted_layers(tmp_path):
    """The ops between a head's last convolutions and the output (here a sigmoid and the concatenation of boxes and
    scores) are the float tail; the convolutions, and what feeds them, are not."""
    import onnx
    from onnx import TensorProto, helper

    from edgebench.quantize.float_tail import output_tail

    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 1, 1], [0.1] * 12)
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="stem_relu"),
             helper.make_node("Conv", ["r", "w"], ["box"], name="box_conv"),
             helper.make_node("Conv", ["r", "w"], ["cls"], name="cls_conv"),
             helper.make_node("Sigmoid", ["cls"], ["prob"], name="cls_sigmoid"),
             helper.make_node("Shape", ["prob"], ["shape"], name="shape_of"),
             helper.make_node("Concat", ["box", "prob"], ["joined"], name="joined", axis=1),
             helper.make_node("Reshape", ["joined", "shape2"], ["out"], name="flat")]
    shape2 = helper.make_tensor("shape2", TensorProto.INT64, [3], [1, 8, -1])
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [weight, shape2])
    path = tmp_path / "head.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert output_tail(str(path)) == ["cls_sigmoid", "joined", "flat"]


@needs_shared
def test_a_torchvision_detector_through_run_keeps_its_decoding_in_float_in_int8(ssdlite, tmp_path, cache_dir):
    """SSDLite through `edgebench run` (its weights from a checkpoint of torchvision's own model): exported with its
    anchor decoding, scored with COCO's category ids as its labels, and built in INT8 by ONNX Runtime and NNCF with
    the ops after its last convolutions kept in float (the float tail), which the INT8 graph shows: its output comes
    from a float op, not from a DequantizeLinear."""
    import onnx

    spec, _, checkpoint = ssdlite
    out = tmp_path / "run"
    proc = run_cli("run", "--model", spec.id, "--checkpoint", str(checkpoint), "--data", str(COCO), "--limit", "4",
                   "--calib-data", str(COCO / "val2017"), "--calib-size", "4", "--allow-calib-overlap",
                   "--runtime", "onnxruntime", "--runtime", "openvino", "--precision", "fp32", "--precision", "int8",
                   "--batch-size", "1", *FAST, "--cache-dir", str(cache_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {r["key"].split("|", 1)[1]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert len(records) == 4 and all(r["status"] == "ok" for r in records.values())
    for record in records.values():
        acc = record["accuracy"]
        assert acc["metric"] == "map" and acc["images"] == 4 and 0 <= acc["map"] <= 1
        assert record["reference"]["map"] == 21.3  # torchvision's published box mAP, a reference column only
    assert abs(records["onnxruntime|fp32|b1"]["accuracy"]["vs_reference"]["map_change"]["delta"]) < 1e-3
    fp32 = onnx.load(records["onnxruntime|fp32|b1"]["artifact"]["path"]).graph
    op_of = {node.name: node.op_type for node in fp32.node}
    for runtime in ("onnxruntime", "openvino"):
        tail = records[f"{runtime}|int8|b1"]["quantization"]["settings"]["float_tail"]
        assert {"Softmax", "Exp", "Concat"} <= {op_of[name] for name in tail}, tail  # scores, box sizes, output
        assert not {"Conv", "MatMul", "Gemm"} & {op_of[name] for name in tail}
    # Quantised, the tail's probabilities would share one step with the pixel boxes (all of them one value here).
    import onnxruntime

    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 320, 320)).astype(np.float32)
    scores = [onnxruntime.InferenceSession(records[f"onnxruntime|{p}|b1"]["artifact"]["path"]).run(None, {"input": x})[0]
              [..., 4:] for p in ("fp32", "int8")]
    assert np.abs(scores[1] - scores[0]).max() < 1e-3 and len(np.unique(scores[1])) > 100
    int8 = onnx.load(records["onnxruntime|int8|b1"]["artifact"]["path"]).graph
    last = next(node for node in int8.node if int8.output[0].name in node.output)
    assert last.op_type == "Concat" and not any(n.op_type == "QuantizeLinear" and n.input[0] in last.input
                                               for n in int8.node)


@needs_shared
def test_task_models_on_images_without_labels_are_scored_against_their_fp32(tmp_path, cache_dir):
    """A plain folder of photos (no annotations): a detector's and a segmenter's task figures are not measured,
    each deployment's fidelity to its FP32 outputs is (so INT8's damage shows on any images), on the console, in
    the records and in the report; a classifier would need labels and the folder alone is still refused for it."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in sorted((COCO / "val2017").glob("*.jpg"))[:3]:
        (photos / path.name).symlink_to(path)
    calibration = tmp_path / "calib"
    calibration.mkdir()
    for path in sorted((COCO / "val2017").glob("*.jpg"))[-4:]:
        (calibration / path.name).symlink_to(path)
    out = tmp_path / "run"
    proc = run_cli("run", "--model", f"onnx:{YOLOX}", "--model-config", str(CONFIG), "--data", str(photos),
                   "--calib-data", str(calibration), "--runtime", "onnxruntime", "--precision", "fp32", "--precision",
                   "int8", "--batch-size", "1", *FAST, "--cache-dir", str(cache_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no labels; vs FP32 boxes: mAP" in proc.stderr
    records = {r["precision"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    for record in records.values():
        acc = record["accuracy"]
        assert acc["labels"] is False and acc["map"] is None and acc["images"] == 3
    assert records["fp32"]["accuracy"]["fidelity"]["map"] == pytest.approx(1.0)
    assert records["int8"]["accuracy"]["fidelity"]["truth_boxes"] > 0
    assert 0 <= records["int8"]["accuracy"]["fidelity"]["map"] < 1.0  # INT8 moves boxes
    report = run_cli("report", str(out), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    table = (tmp_path / "report" / "report.md").read_text()
    assert "mAP vs FP32's boxes (pt)" in table and "| no labels |" in table
    refused = run_cli("run", "--model", "timm:test_efficientnet", "--data", str(photos), "--out", str(tmp_path / "c"))
    assert refused.returncode == 2 and "no ground truth" in refused.stderr and "Traceback" not in refused.stderr
