"""The ``predict.py`` a deploy folder carries: plain Python that needs only the runtime, Pillow and numpy.

Each example is the shared preprocessing (the arithmetic of ``edgebench.data.images``, read from
``preprocess.json``) plus a few lines that load the model the way edgebench loaded it when it measured
it (same threads, same session settings). Placeholders are ``string.Template`` names (``$model``).
"""
from __future__ import annotations

from string import Template

HEADER = '''"""$title

Usage: python predict.py IMAGE [IMAGE ...]   (needs: $needs)
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
MODEL = HERE / "$model"
PRE = json.loads((HERE / "preprocess.json").read_text())
THREADS = $threads  # the thread count the figures were measured with
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
'''

MAIN = '''

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
    parser = argparse.ArgumentParser(prog="predict.py", description=(__doc__ or "").split("\\n\\n")[0],
                                     epilog="needs: $needs")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="an image file (JPEG, PNG, ... anything Pillow reads)")
    paths = [checked(path) for path in parser.parse_args().images]
    shape = PRE["input"]["shape"]  # [batch, C, H, W]; a fixed batch above 1 gets the image repeated
    try:
        infer = load(shape)
    except ImportError as exc:
        fail(f"{exc.name or exc} is not installed here: pip install $needs")
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
'''

LOADERS = {
    "onnxruntime": '''

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
''',
    "openvino": '''
# The settings edgebench compiled with; the precision hint keeps OpenVINO from switching to bf16 by itself.
CONFIG = $config


def load(shape):
    """Read the model, fix its input shape (static shapes compile to faster kernels), compile on the CPU."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(MODEL))
    model.reshape({model.input(0): ov.PartialShape(shape)})
    compiled = core.compile_model(model, "CPU", CONFIG)
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})[compiled.output(0)]
''',
}

# Runtimes without an example: the API that loads their file, for the README.
LOADING_APIS = {
    "pytorch": "a PyTorch state dict: build the model (`timm.create_model(name)` or `torchvision.models`) and "
               "call `module.load_state_dict(torch.load(path))`",
    "pytorch-cuda": "a PyTorch state dict: build the model, `load_state_dict(torch.load(path))`, move it to CUDA",
    "pytorch-cuda-compile": "a PyTorch state dict: build the model, load it, `torch.compile` it on CUDA",
    "litert": "`ai_edge_litert.interpreter.Interpreter(model_path=path, num_threads=N)`, then "
              "`allocate_tensors()`, `set_tensor`, `invoke()`, `get_tensor`",
    "executorch": "`executorch.runtime.Runtime.get().load_program(path).load_method('forward')`, then "
                  "`method.execute([torch.from_numpy(x)])`",
    "ncnn": "`ncnn.Net()` with `net.opt.num_threads = N`, `net.load_param(param)`, `net.load_model(bin)`, "
            "then `net.create_extractor()`",
    "coreml": "`coremltools.models.MLModel(path)` and `model.predict({input_name: x})` (macOS)",
    "tensorrt": "`tensorrt.Runtime(logger).deserialize_cuda_engine(bytes)` on the same GPU model and TensorRT "
                "version that built the engine",
    "onnxruntime-cuda": "`onnxruntime.InferenceSession(path, providers=['CUDAExecutionProvider'])`",
    "onnxruntime-trt": "`onnxruntime.InferenceSession(path, providers=['TensorrtExecutionProvider', "
                       "'CUDAExecutionProvider'])`",
}


def render_example(runtime: str, **values: object) -> str | None:
    """``predict.py`` for ``runtime``, or None where there is no example (the README names the API)."""
    loader = LOADERS.get(runtime)
    if loader is None:
        return None
    return Template(HEADER + loader + MAIN).substitute({k: str(v) for k, v in values.items()})
