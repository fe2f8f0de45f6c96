"""ONNX Runtime on an NVIDIA GPU: the CUDA and the TensorRT execution providers (``onnxruntime-gpu``).

Inputs and outputs are bound to device buffers (IOBinding) and ONNX Runtime computes on the session's
own CUDA stream (``user_compute_stream``), so CUDA events on that stream time its kernels as they time
TensorRT's. ONNX Runtime silently falls back to the CPU when a provider cannot load (a missing cuDNN or
TensorRT library): every load checks the provider that was really given the graph and fails the cell
otherwise.

The CUDA provider runs FP32 with TF32 off (its ``use_tf32`` defaults to on), TF32, and the FP16 ONNX.
The TensorRT provider has no TF32 switch and TensorRT enables TF32 by default, so its float precision is
named ``tf32``, not ``fp32``; FP16 is its builder flag and INT8 a symmetric QDQ ONNX (explicit
quantisation). Its engines are cached in edgebench's cache folder (TensorRT EP's own engine cache).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from edgebench.cache import file_sha256
from edgebench.errors import CellFailure
from edgebench.export.artifact import Artifact
from edgebench.machine.env import package_version
from edgebench.machine.gpus import has_gpu, no_gpu_reason
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Availability, Session, SessionOptions
from edgebench.runtimes.cuda import CudaSession, GpuRuntime, cuda_versions, torch_cuda

GPU_WHEEL_HINT = "pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu[cuda,cudnn]' (it replaces the CPU wheel)"


class OrtCudaSession(CudaSession):
    def __init__(self, session, input_shape, batch_size: int, stream, cuda_graph: bool) -> None:
        super().__init__(input_shape, batch_size, stream=stream)
        import numpy as np

        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name
        self.binding = session.io_binding()
        self.binding.bind_input(self.input_name, "cuda", 0, np.float32, tuple(self.dev_in.shape), self.dev_in.data_ptr())
        # The output's shape comes from a first run with an output ONNX Runtime allocates itself.
        self.binding.bind_output(self.output_name, "cuda")
        self.stream.synchronize()
        session.run_with_iobinding(self.binding)
        shape = tuple(self.binding.get_outputs()[0].shape())
        self.set_output(shape)
        self.binding.clear_binding_outputs()
        self.binding.bind_output(self.output_name, "cuda", 0, np.float32, shape, self.dev_out.data_ptr())
        if cuda_graph:
            # ONNX Runtime captures its own graph after its first runs on fixed addresses (the bindings above).
            for _ in range(3):
                self.run_model()

    def run_model(self) -> None:
        # Computes on self.stream (user_compute_stream) and synchronises it before returning.
        self.session.run_with_iobinding(self.binding)


class OrtCudaRuntime(GpuRuntime):
    name = "onnxruntime-cuda"
    package = "onnxruntime"
    install_hint = GPU_WHEEL_HINT
    formats = ("onnx",)
    provider = "CUDAExecutionProvider"
    precisions = ("fp32", "tf32", "fp16")
    recipes = {"fp16": "edgebench.quantize.onnxruntime:OrtFp16"}
    slower_reasons = {"fp16": "the FP16 ONNX keeps casts around its inputs and outputs; small batches are bound by "
                              "kernel launches, not arithmetic",
                      "tf32": "TF32 speeds up only matmuls and convolutions on Ampere or newer"}
    description = "ONNX Runtime, CUDA execution provider, IOBinding on device buffers"

    @classmethod
    def availability(cls) -> Availability:
        if not has_gpu():
            return Availability(False, no_gpu_reason())
        if not package_version("onnxruntime-gpu"):
            return Availability(False, f"onnxruntime-gpu is not installed; {GPU_WHEEL_HINT}")
        if package_version("onnxruntime"):
            return Availability(False, "both onnxruntime and onnxruntime-gpu are installed and overwrite each other's "
                                       f"files; {GPU_WHEEL_HINT}")
        return super().availability()

    @classmethod
    def distribution(cls) -> str:
        return "onnxruntime-gpu"

    def provider_options(self, options: SessionOptions, stream: int, artifact: Artifact) -> dict[str, Any]:
        return {"device_id": 0, "user_compute_stream": str(stream), "use_tf32": int(options.precision == "tf32"),
                "cudnn_conv_algo_search": "EXHAUSTIVE", "enable_cuda_graph": int(options.cuda_graphs)}

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        torch = torch_cuda()  # first: loads the CUDA and cuDNN libraries ONNX Runtime's provider links against
        import onnxruntime as ort

        self.preload()
        stream = torch.cuda.Stream()
        provider_options = self.provider_options(options, stream.cuda_stream, artifact)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = options.threads  # for the nodes the provider leaves on the CPU
        session = ort.InferenceSession(artifact.path, so, providers=self.providers(provider_options, stream.cuda_stream))
        session.disable_fallback()
        active = session.get_providers()
        if not active or active[0] != self.provider:
            raise CellFailure(f"ONNX Runtime did not start {self.provider} (it runs {', '.join(active)}); its log says "
                              f"which library is missing (see the worker log)")
        # The session's stream is the one ONNX Runtime computes on, where the harness records its events.
        wrapped = OrtCudaSession(session, spec.input_shape, options.batch_size, stream, options.cuda_graphs)
        wrapped.config = {"providers": active, "provider_options": {k: v for k, v in provider_options.items()
                                                                    if k != "user_compute_stream"},
                          "artifact_precision": artifact.precision, "cuda_graphs": options.cuda_graphs,
                          **cuda_versions(torch)}
        wrapped.describe(threads_by="not readable: the model runs on the GPU; intra_op_num_threads sizes the pool of "
                                    "nodes left on the CPU, and ONNX Runtime has no getter for it",
                         shape=f"batch {options.batch_size} bound to fixed device buffers (IOBinding); the ONNX "
                               "batch dimension stays dynamic", static=False)
        return wrapped

    def providers(self, provider_options: dict[str, Any], stream: int) -> list:
        return [(self.provider, provider_options), "CPUExecutionProvider"]

    def preload(self) -> None:
        """Load libraries the provider links against but ONNX Runtime does not find by itself."""


class OrtTensorRtRuntime(OrtCudaRuntime):
    name = "onnxruntime-trt"
    provider = "TensorrtExecutionProvider"
    precisions = ("tf32", "fp16", "int8")
    recipes = {"int8": "edgebench.quantize.onnxruntime:OrtTrtInt8"}
    slower_reasons = {"int8": "layers TensorRT cannot run in INT8 (or Q/DQ pairs it cannot fuse) run in FP32 with "
                              "conversions around them",
                      "fp16": "small batches are bound by kernel launches, not arithmetic"}
    description = "ONNX Runtime, TensorRT execution provider (engines cached), IOBinding on device buffers"

    @classmethod
    def availability(cls) -> Availability:
        if importlib.util.find_spec("tensorrt_libs") is None and importlib.util.find_spec("tensorrt") is None:
            if has_gpu():
                return Availability(False, "TensorRT is not installed; pip install 'edgebench[tensorrt]' "
                                           "(ONNX Runtime's TensorRT provider loads its libraries)")
        return super().availability()

    def provider_options(self, options: SessionOptions, stream: int, artifact: Artifact) -> dict[str, Any]:
        # One folder per model file: the provider names its engines by file name and graph, not by weights,
        # so two models of one architecture in one folder would share an engine.
        cache = Path(options.cache_dir or ".") / "ort-trt-engines" / file_sha256(Path(artifact.path))[:16]
        cache.mkdir(parents=True, exist_ok=True)
        return {"device_id": 0, "user_compute_stream": str(stream),
                # INT8 as trtexec --int8: unquantised layers stay in TF32/FP32, not FP16
                "trt_fp16_enable": options.precision == "fp16",
                "trt_int8_enable": options.precision == "int8",  # a QDQ model: no calibration table
                "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache),
                "trt_cuda_graph_enable": options.cuda_graphs}

    def providers(self, provider_options: dict[str, Any], stream: int) -> list:
        # Nodes TensorRT does not take run on CUDA (same stream), not on the CPU with copies around them.
        return [(self.provider, provider_options), ("CUDAExecutionProvider", {"device_id": 0, "user_compute_stream":
                                                                             str(stream), "use_tf32": 1}),
                "CPUExecutionProvider"]

    def preload(self) -> None:
        # pip's TensorRT keeps libnvinfer in tensorrt_libs, which loads every library it holds on import.
        from importlib import import_module

        try:
            import_module("tensorrt_libs")
        except ImportError:
            pass
