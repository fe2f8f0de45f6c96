"""PyTorch eager on the CPU: the FP32 reference every other runtime is compared with.

It runs as PyTorch recommends for CPU inference of vision models: eager mode under ``torch.inference_mode()``,
with the module's weights and the input in channels-last memory (NHWC strides, the same NCHW shape), the layout
oneDNN's convolutions run in; a contiguous (NCHW) input would be reordered inside every call. On the development
machine (2 threads, ``scripts/pytorch_memory_format.py``) channels-last took 0.59–0.74× the contiguous time at
batch 32 (EfficientNet-B7: 108 s → 63 s) and 0.76–1.01× at batch 1 (ResNet-50s gain least), with outputs equal
to the contiguous module's to float rounding. TorchScript's ``freeze`` and
``optimize_for_inference`` are not used: TorchScript is deprecated and the latter is a prototype that may
slow a model down, and either would stop this being the eager reference.
"""
from __future__ import annotations

import numpy as np

from edgebench.export.artifact import Artifact
from edgebench.models.spec import TORCH_SOURCES, ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions

CHANNELS_LAST = "channels_last"


class PyTorchSession(Session):
    def __init__(self, module, input_shape, memory_format: str = CHANNELS_LAST) -> None:
        super().__init__(input_shape)
        self.module = module
        self.memory_format = memory_format
        if memory_format != CHANNELS_LAST:
            self.timed_span = ("module(tensor) under torch.inference_mode(), contiguous (NCHW) memory; "
                               "torch.from_numpy and .numpy() in io_latency_ms")

    timed_span = ("module(tensor) under torch.inference_mode(), weights and input in channels-last memory; "
                  "torch.from_numpy, the copy into channels-last and .numpy() in io_latency_ms")
    io_work = True

    def prepare_input(self, batch: np.ndarray):
        import torch

        tensor = torch.from_numpy(batch)  # shares the array's memory
        if self.memory_format == CHANNELS_LAST:
            # The same values in NHWC order (a copy), as a decoded HWC image would arrive: the model's own input form.
            tensor = tensor.to(memory_format=torch.channels_last)
        return tensor

    def run(self, native):
        import torch

        with torch.inference_mode():
            return self.module(native)

    def finish(self, raw) -> np.ndarray:
        # A 4-D output keeps the input's memory format; hand back C-ordered memory as the other runtimes do
        # (no copy for an output that already is, such as classification logits).
        return raw.contiguous().numpy()


class PyTorchRuntime(Runtime):
    name = "pytorch"
    package = "torch"
    install_hint = "pip install 'edgebench[export]'"
    formats = ("torch",)
    portable = False
    description = "PyTorch eager mode on the CPU (FP32 reference)"
    # PyTorch's CPU practice for vision models; "contiguous" would keep the default NCHW memory.
    memory_format = CHANNELS_LAST

    def supports(self, spec: ModelSpec, precision: str, batch_size: int) -> str | None:
        if spec.source not in TORCH_SOURCES:
            return f"{spec.id} has no PyTorch implementation (only its ONNX file)"
        return super().supports(spec, precision, batch_size)

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        import torch

        from edgebench.models.torch_models import build_module, load_state_dict_file

        torch.set_num_threads(options.threads)
        module = build_module(spec, pretrained=False)
        module.load_state_dict(load_state_dict_file(artifact.path), strict=True)
        module = module.eval()
        if self.memory_format == CHANNELS_LAST:
            module = module.to(memory_format=torch.channels_last)  # 4-D weights only; others are unchanged
        session = PyTorchSession(module, spec.input_shape, self.memory_format)
        session.config = {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
                          "mode": "eager, inference_mode", "dtype": "float32", "memory_format": self.memory_format,
                          "onednn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)}
        # Eager mode compiles nothing: each call runs the kernels for the shape it is given.
        session.describe(threads_by="torch.get_num_threads()", reported=torch.get_num_threads(), static=False,
                         shape="eager: no compiled shape (each call dispatches kernels for the tensor it gets)")
        return session
