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

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        import ncnn

        # ncnn's tensors have no batch dimension: a batch of N is N extractions, as an app runs it.
        outputs = []
        for image in batch:
            extractor = self.net.create_extractor()
            extractor.input(self.input_name, ncnn.Mat(np.ascontiguousarray(image)))
            status, out = extractor.extract(self.output_name)
            if status != 0:
                raise RuntimeError(f"ncnn extract returned {status}")
            outputs.append(np.array(out, dtype=np.float32).reshape(-1))
        return np.stack(outputs)


class NcnnRuntime(Runtime):
    name = "ncnn"
    package = "ncnn"
    install_hint = "pip install 'edgebench[ncnn]'"
    formats = ("ncnn",)
    converts_torch = True
    precisions = ("fp32",)
    recipes = {"fp32": "edgebench.quantize.ncnn:PnnxFp32"}
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
        session.config = {"threads": options.threads, "fp16": False, "bf16": False,
                          "batch": "one extraction per image (ncnn has no batch dimension)"}
        return session
