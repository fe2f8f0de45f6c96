"""ncnn (Tencent): ``.ncnn.param`` + ``.ncnn.bin`` from pnnx, run by ncnn's Python bindings."""
from __future__ import annotations

import numpy as np

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions


class NcnnSession(Session):
    def __init__(self, net, input_shape) -> None:
        super().__init__(input_shape)
        self.net = net
        self.input_name, self.output_name = net.input_names()[0], net.output_names()[0]

    timed_span = ("one extractor per image, input + extract (ncnn has no batch dimension: N images are N "
                  "extractions, a loop every ncnn app runs); numpy→ncnn.Mat and ncnn.Mat→numpy in io_latency_ms")
    io_work = True

    def prepare_input(self, batch: np.ndarray) -> list:
        import ncnn

        return [ncnn.Mat(np.ascontiguousarray(image)) for image in batch]

    def run(self, native: list) -> list:
        outputs = []
        for mat in native:
            extractor = self.net.create_extractor()
            extractor.input(self.input_name, mat)
            status, out = extractor.extract(self.output_name)
            if status != 0:
                raise RuntimeError(f"ncnn extract returned {status}")
            outputs.append(out)
        return outputs

    def finish(self, raw: list) -> np.ndarray:
        # Each image's output keeps its shape (ncnn drops the batch axis): a detector's (anchors, 85) rows, a
        # segmenter's (classes, h, w) maps; a classifier's scores are one row either way.
        return np.stack([np.array(out, dtype=np.float32) for out in raw])


class NcnnRuntime(Runtime):
    name = "ncnn"
    package = "ncnn"
    install_hint = "pip install 'edgebench[ncnn]'"
    formats = ("ncnn",)
    converts_torch = True
    precisions = ("fp32",)
    recipes = {"fp32": "edgebench.quantize.ncnn:PnnxFp32"}
    onnx_recipes = {"fp32": "edgebench.quantize.ncnn:PnnxOnnxFp32"}  # pnnx reads a user's ONNX file too
    description = "ncnn (models converted by pnnx), FP32"

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        import ncnn

        net = ncnn.Net()
        net.opt.num_threads = options.threads
        # ncnn stores and computes in FP16/BF16 where the CPU allows; the fp32 row must be FP32.
        net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = net.opt.use_fp16_packed = False
        net.opt.use_bf16_storage = False
        files = artifact.files
        if net.load_param(files[0]) != 0 or net.load_model(files[1]) != 0:
            raise RuntimeError(f"ncnn could not load {files[0]} and {files[1]}")
        session = NcnnSession(net, spec.input_shape)
        session.config = {"threads": net.opt.num_threads, "fp16": False, "bf16": False,
                          "batch": "one extraction per image (ncnn has no batch dimension)"}
        # ncnn hands opt.num_threads to every OpenMP loop of every layer: reading it back is the count it uses,
        # though it is the option as stored, not a count of running threads.
        session.describe(threads_by="net.opt.num_threads (the value ncnn passes to each layer's OpenMP loop)",
                         reported=int(net.opt.num_threads), static=False,
                         shape=f"per image {list(spec.input_shape)}, no batch dimension: the batch is a loop "
                               "of extractions; ncnn plans no shape ahead (it allocates per extraction)")
        return session
