"""onnx:/tmp/lite1/lite1.onnx on onnxruntime int8: the deployment edgebench chose, run on one or more images.

Usage: python predict.py IMAGE [IMAGE ...]   (needs: onnxruntime pillow numpy)
Prints the top-5 class indices of each image with their softmax scores and logits.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model.int8.onnx"
PRE = json.loads((HERE / "preprocess.json").read_text())
THREADS = 2  # the thread count the figures were measured with
RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC}


def preprocess(path: str) -> np.ndarray:
    """Shorter side to floor(size / crop_pct), centre crop, [0, 1], mean/std, channel order, NCHW float32."""
    _, height, width = PRE["input_size"]
    image = Image.open(path).convert("RGB")
    scale = math.floor(min(height, width) / PRE["crop_pct"] + 1e-6)
    w, h = image.size
    image = image.resize((scale, int(scale * h / w)) if w <= h else (int(scale * w / h), scale),
                         RESAMPLE[PRE["interpolation"]])
    w, h = image.size
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    crop = np.asarray(image.crop((left, top, left + width, top + height)), dtype=np.uint8)
    x = crop.astype(np.float32) / np.float32(255.0)
    if PRE["channel_order"] == "BGR":
        x = x[..., ::-1]
    x = (x - np.asarray(PRE["mean"], dtype=np.float32)) / np.asarray(PRE["std"], dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def load(shape):
    """The session edgebench timed: one intra-op pool of THREADS, sequential, all graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python predict.py IMAGE [IMAGE ...]")
    shape = PRE["input"]["shape"]  # [batch, C, H, W]; a fixed batch above 1 gets the image repeated
    infer = load(shape)
    for path in sys.argv[1:]:
        logits = np.asarray(infer(np.repeat(preprocess(path), shape[0], axis=0)), dtype=np.float64)[0]
        scores = np.exp(logits - logits.max())
        scores /= scores.sum()
        print(f"{path}:")
        for index in np.argsort(-logits, kind="stable")[:5]:
            print(f"  class {int(index):5d}  score {scores[index]:.4f}  logit {logits[index]:.7g}")


if __name__ == "__main__":
    main()
