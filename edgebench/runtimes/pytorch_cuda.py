"""PyTorch on an NVIDIA GPU: eager mode (FP32, TF32, FP16, BF16) and torch.compile.

FP32 is strict: TF32 is switched off for matmuls and convolutions (cuDNN allows TF32 convolutions by
default, which would make "FP32" a 10-bit-mantissa run on Ampere and newer); TF32 is its own precision.
FP16/BF16 convert the weights (``module.half()``), cast the input on the device and the output back to
FP32 inside the timed kernels, as a deployment would.
"""
from __future__ import annotations

from edgebench.export.artifact import Artifact
from edgebench.models.spec import TORCH_SOURCES, ModelSpec
from edgebench.runtimes.base import Session, SessionOptions
from edgebench.runtimes.cuda import CudaSession, GpuRuntime, cuda_versions, torch_cuda

DTYPES = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def set_tf32(torch, enabled: bool) -> dict[str, str]:
    """Allow or forbid TF32 in matmuls and cuDNN convolutions; returns what torch then reports. torch ≥ 2.9
    has ``fp32_precision`` ("ieee" or "tf32") and raises when it is mixed with the older ``allow_tf32``."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        value = "tf32" if enabled else "ieee"
        torch.backends.cuda.matmul.fp32_precision = value
        torch.backends.cudnn.conv.fp32_precision = value
        return {"matmul_fp32_precision": torch.backends.cuda.matmul.fp32_precision,
                "conv_fp32_precision": torch.backends.cudnn.conv.fp32_precision}
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    return {"matmul_tf32": str(torch.backends.cuda.matmul.allow_tf32), "cudnn_tf32": str(torch.backends.cudnn.allow_tf32)}


class TorchCudaSession(CudaSession):
    def __init__(self, module, input_shape, batch_size: int, dtype) -> None:
        super().__init__(input_shape, batch_size)
        self.module, self.dtype = module, dtype
        with self.torch.inference_mode():
            with self.torch.cuda.stream(self.stream):
                shape = tuple(self.module(self.dev_in.to(dtype)).shape)
        self.stream.synchronize()
        self.set_output(shape)

    def run_model(self) -> None:
        torch = self.torch
        with torch.inference_mode(), torch.cuda.stream(self.stream):
            self.dev_out.copy_(self.module(self.dev_in.to(self.dtype)))


class PyTorchCudaRuntime(GpuRuntime):
    name = "pytorch-cuda"
    package = "torch"
    also_needs = ()
    install_hint = "pip install 'edgebench[export]' (a CUDA build of torch; PyPI's Linux wheels are)"
    formats = ("torch",)
    portable = False
    precisions = ("fp32", "tf32", "fp16", "bf16")
    slower_reasons = {
        "fp16": "small batches are bound by kernel launches, not arithmetic; CUDA graphs (--cuda-graphs) remove them",
        "bf16": "small batches are bound by kernel launches, not arithmetic; CUDA graphs (--cuda-graphs) remove them",
        "tf32": "TF32 speeds up only matmuls and convolutions on Ampere or newer; elsewhere it changes nothing",
    }
    description = "PyTorch eager mode on an NVIDIA GPU"
    compile = False

    def supports(self, spec: ModelSpec, precision: str, batch_size: int) -> str | None:
        if spec.source not in TORCH_SOURCES:
            return f"{spec.id} has no PyTorch implementation (only its ONNX file)"
        return super().supports(spec, precision, batch_size)

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        torch = torch_cuda()
        from edgebench.models.torch_models import build_module, load_state_dict_file

        # is_bf16_supported() also says yes where BF16 is only emulated (T4, V100); BF16 units came with sm_80.
        if options.precision == "bf16" and torch.cuda.get_device_capability()[0] < 8:
            from edgebench.errors import NotSupportedHere

            raise NotSupportedHere(f"{torch.cuda.get_device_name()} has no BF16 arithmetic (it needs compute "
                                   "capability 8.0 or newer)")
        tf32 = set_tf32(torch, options.precision == "tf32")
        torch.backends.cudnn.benchmark = True  # one fixed shape per process: let cuDNN pick its fastest kernels
        dtype = getattr(torch, DTYPES[options.precision])
        module = build_module(spec, pretrained=False)
        module.load_state_dict(load_state_dict_file(artifact.path), strict=True)
        module = module.eval().to(device="cuda", dtype=dtype)
        mode = "eager"
        if self.compile:
            # reduce-overhead records CUDA graphs itself; default mode leaves launches as they are
            mode = "reduce-overhead" if options.cuda_graphs else "default"
            module = torch.compile(module, mode=mode)
        session = TorchCudaSession(module, spec.input_shape, options.batch_size, dtype)
        graphs = "torch.compile" if self.compile and options.cuda_graphs else False
        if options.cuda_graphs and not self.compile:
            session.capture_graph()
            graphs = "captured"
        session.config = {"device": "cuda", "mode": mode if self.compile else "eager, inference_mode",
                          "dtype": DTYPES[options.precision], **tf32, "cudnn_benchmark": True,
                          "cuda_graphs": graphs, **cuda_versions(torch)}
        # The host threads only launch kernels; torch reports them.
        session.describe(threads_by="torch.get_num_threads() (host threads; the model runs on the GPU)",
                         reported=torch.get_num_threads(), static=bool(graphs),
                         shape=f"batch {options.batch_size} in fixed device buffers"
                               + (" replayed as a CUDA graph" if graphs else "; kernels chosen per call (cudnn.benchmark)"))
        return session


class PyTorchCudaCompileRuntime(PyTorchCudaRuntime):
    name = "pytorch-cuda-compile"
    also_needs = ("triton",)  # inductor generates Triton kernels for the GPU
    install_hint = "pip install 'edgebench[export]' (torch's Linux wheels bring triton)"
    description = "torch.compile (inductor) on an NVIDIA GPU"
    compile = True
