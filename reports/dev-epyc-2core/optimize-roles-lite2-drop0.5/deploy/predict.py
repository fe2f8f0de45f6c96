"""onnx:/tmp/lite2/lite2.onnx on onnxruntime int8 [percentile]: the deployment edgebench chose, run on one or more images.

Usage: python predict.py IMAGE [IMAGE ...]   (needs: onnxruntime pillow numpy)
Prints the top-5 class indices of each image with their softmax scores and logits.
"""
import argparse
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
    x = crop.astype(np.float32) / np.float32(PRE.get("scale", 255.0))
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


def fail(message: str) -> None:
    """Bad input: one line on stderr and exit status 2, as argparse does, never a traceback."""
    print("predict.py: error: " + " ".join(message.split()), file=sys.stderr)
    sys.exit(2)


def checked(path: str) -> str:
    """The path, once Pillow can read it as an image (checked before the model loads)."""
    try:
        with Image.open(path) as image:
            image.verify()
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except IsADirectoryError:
        fail(f"{path} is a folder: give image files")
    except (OSError, SyntaxError, ValueError) as exc:
        fail(f"cannot read {path} as an image ({exc})")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(prog="predict.py", description=(__doc__ or "").split("\n\n")[0],
                                     epilog="needs: onnxruntime pillow numpy")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="an image file (JPEG, PNG, ... anything Pillow reads)")
    paths = [checked(path) for path in parser.parse_args().images]
    shape = PRE["input"]["shape"]  # [batch, C, H, W]; a fixed batch above 1 gets the image repeated
    try:
        infer = load(shape)
    except ImportError as exc:
        fail(f"{exc.name or exc} is not installed here: pip install onnxruntime pillow numpy")
    for path in paths:
        try:
            x = preprocess(path)
        except (OSError, SyntaxError, ValueError) as exc:
            fail(f"cannot read {path} as an image ({exc})")
        logits = np.asarray(infer(np.repeat(x, shape[0], axis=0)), dtype=np.float64)[0]
        scores = np.exp(logits - logits.max())
        scores /= scores.sum()
        print(f"{path}:")
        for index in np.argsort(-logits, kind="stable")[:5]:
            print(f"  class {int(index):5d}  score {scores[index]:.4f}  logit {logits[index]:.7g}")


if __name__ == "__main__":
    main()
