"""PyTorch eager on the CPU: the FP32 reference every other runtime is compared with."""
from __future__ import annotations

import numpy as np

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions


class PyTorchSession(Session):
    def __init__(self, module, input_shape) -> None:
        super().__init__(input_shape)
        self.module = module

    timed_span = "module(tensor) under torch.inference_mode(); torch.from_numpy and .numpy() in io_latency_ms"
    io_work = True

    def prepare_input(self, batch: np.ndarray):
        import torch

        return torch.from_numpy(batch)  # shares the array's memory

    def run(self, native):
        import torch

        with torch.inference_mode():
            return self.module(native)

    def finish(self, raw) -> np.ndarray:
        return raw.numpy()


class PyTorchRuntime(Runtime):
    name = "pytorch"
    package = "torch"
    install_hint = "pip install 'edgebench[export]'"
    formats = ("torch",)
    portable = False
    description = "PyTorch eager mode on the CPU (FP32 reference)"

    def supports(self, spec: ModelSpec, precision: str, batch_size: int) -> str | None:
        if spec.source not in ("timm", "torchvision"):
            return f"{spec.id} has no PyTorch implementation (only its ONNX file)"
        return super().supports(spec, precision, batch_size)

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        import torch

        from edgebench.models.torch_models import build_module, load_state_dict_file

        torch.set_num_threads(options.threads)
        module = build_module(spec, pretrained=False)
        module.load_state_dict(load_state_dict_file(artifact.path), strict=True)
        session = PyTorchSession(module.eval(), spec.input_shape)
        session.config = {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
                          "mode": "eager, inference_mode", "dtype": "float32"}
        # Eager mode compiles nothing: each call runs the kernels for the shape it is given.
        session.describe(threads_by="torch.get_num_threads()", reported=torch.get_num_threads(), static=False,
                         shape="eager: no compiled shape (each call dispatches kernels for the tensor it gets)")
        return session
