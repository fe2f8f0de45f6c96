"""What the CUDA runtimes share: torch as the CUDA layer, one stream per session, staged copies, graphs.

Device buffers, the stream, CUDA events and CUDA graphs all come from PyTorch's CUDA tensors, not from
pycuda (it compiles against a local CUDA toolkit at install time and often fails) nor cuda-python (one
more package whose version must match the driver). torch is already installed for export, brings its own
CUDA runtime as pip wheels, and its caching allocator, streams and graph capture are tested at scale.
TensorRT and ONNX Runtime only need raw device pointers and a stream handle, which torch hands over.
"""
from __future__ import annotations

import importlib.util
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from edgebench.errors import CellFailure, NotSupportedHere
from edgebench.machine.gpus import has_gpu, no_gpu_reason
from edgebench.runtimes.base import Availability, Runtime, Session

GRAPH_WARMUP = 3  # runs on the capture stream before recording: lazy initialisation must not be captured


def torch_cuda():
    """torch, once it is known to reach the GPU (else the cell is skipped, saying why)."""
    try:
        import torch
    except ImportError:
        raise NotSupportedHere("torch is not installed; it provides the GPU buffers: pip install 'edgebench[export]'") from None
    if not torch.cuda.is_available():
        raise NotSupportedHere(f"torch {torch.__version__} cannot reach a GPU (a CPU-only build, or a driver older than "
                               f"its CUDA {torch.version.cuda}); install a CUDA build of torch")
    return torch


def cuda_versions(torch) -> dict[str, Any]:
    """The CUDA stack a GPU cell ran on, for its record."""
    index = torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(index)
    return {"gpu": torch.cuda.get_device_name(index), "compute_capability": f"{major}.{minor}",
            "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


class GpuRuntime(Runtime):
    """A runtime that needs an NVIDIA GPU: unavailable, with the reason, on a machine without one."""

    device = "gpu"
    also_needs: ClassVar[tuple[str, ...]] = ("torch",)  # import names it needs besides ``package``

    @classmethod
    def availability(cls) -> Availability:
        if not has_gpu():
            return Availability(False, no_gpu_reason())
        for name in (cls.package, *cls.also_needs):
            if importlib.util.find_spec(name) is None:
                return Availability(False, f"{name} is not installed; install it with: {cls.install_hint}")
        return Availability(True)


class CudaSession(Session):
    """``infer`` = upload → execute → download on one CUDA stream.

    The harness brackets ``execute()`` with CUDA events on ``stream`` (device compute time) and the whole
    ``infer()`` with the host clock (end to end, copies and synchronisation included), as trtexec reports
    "GPU Compute Time" beside "Latency". Input and output are staged through pinned host buffers, so the
    copies are asynchronous on the stream, as a deployment would do them.
    """

    timed_span = ("host clock: copy into the pinned input buffer, upload, the model on the stream, download and "
                  "synchronise (device_latency_ms: the model's kernels alone, between CUDA events)")

    def __init__(self, input_shape: tuple[int, ...], batch_size: int, stream=None) -> None:
        super().__init__(input_shape)
        torch = torch_cuda()
        self.torch = torch
        self.batch_size = batch_size
        self.stream = stream or torch.cuda.Stream()
        self.host_in = torch.empty((batch_size, *self.input_shape), dtype=torch.float32, pin_memory=True)
        self.dev_in = torch.empty(self.host_in.shape, dtype=torch.float32, device="cuda")
        self.dev_out = None  # allocated by the subclass once the output shape is known (set_output)
        self.host_out = None
        self.graph = None
        # Weights copied to the GPU before this point went through the default stream, which torch's streams
        # do not wait for: finish that work before anything runs on self.stream.
        torch.cuda.synchronize()

    def set_output(self, shape: tuple[int, ...]) -> None:
        torch = self.torch
        self.dev_out = torch.empty(shape, dtype=torch.float32, device="cuda")
        self.host_out = torch.empty(shape, dtype=torch.float32, pin_memory=True)

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        self.upload(batch)
        self.execute()
        return self.download()

    def upload(self, batch: np.ndarray) -> None:
        if batch.shape[0] != self.batch_size:
            raise CellFailure(f"this session was built for batch {self.batch_size}, got a batch of {batch.shape[0]}")
        self.host_in.numpy()[...] = batch
        with self.torch.cuda.stream(self.stream):
            self.dev_in.copy_(self.host_in, non_blocking=True)

    def execute(self) -> None:
        """Enqueue the model on the stream (replaying the CUDA graph when one was captured)."""
        if self.graph is not None:
            with self.torch.cuda.stream(self.stream):
                self.graph.replay()
        else:
            self.run_model()

    def download(self) -> np.ndarray:
        with self.torch.cuda.stream(self.stream):
            self.host_out.copy_(self.dev_out, non_blocking=True)
        self.stream.synchronize()
        return self.host_out.numpy().copy()

    @abstractmethod
    def run_model(self) -> None:
        """Enqueue the model on ``self.stream``, reading ``dev_in`` and writing ``dev_out``."""

    def capture_graph(self) -> None:
        """Record ``run_model()`` into a CUDA graph; ``execute()`` replays it from then on (the buffers are
        static, so a replay reads and writes the same addresses)."""
        torch = self.torch
        for _ in range(GRAPH_WARMUP):
            self.run_model()
        self.stream.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            self.run_model()
        self.stream.synchronize()
        self.graph = graph

    def gpu_memory(self) -> dict[str, Any]:
        """Device memory the runtime reports for itself (e.g. an engine's activation memory); may be empty."""
        return {}
