"""The runtime registry: one line per runtime, imported only when used."""
from __future__ import annotations

from importlib import import_module

from edgebench.errors import ConfigError

# name -> "module:Class". Adding a runtime is one module and one line here.
REGISTRY = {
    "pytorch": "edgebench.runtimes.pytorch:PyTorchRuntime",
    "onnxruntime": "edgebench.runtimes.onnxruntime:OnnxRuntimeRuntime",
    "openvino": "edgebench.runtimes.openvino:OpenVinoRuntime",
    "tensorrt": "edgebench.runtimes.tensorrt:TensorRtRuntime",
    "onnxruntime-cuda": "edgebench.runtimes.onnxruntime_gpu:OrtCudaRuntime",
    "onnxruntime-trt": "edgebench.runtimes.onnxruntime_gpu:OrtTensorRtRuntime",
    "pytorch-cuda": "edgebench.runtimes.pytorch_cuda:PyTorchCudaRuntime",
    "pytorch-cuda-compile": "edgebench.runtimes.pytorch_cuda:PyTorchCudaCompileRuntime",
    "litert": "edgebench.runtimes.litert:LiteRtRuntime",
    "executorch": "edgebench.runtimes.executorch:ExecuTorchRuntime",
    "coreml": "edgebench.runtimes.coreml:CoreMlRuntime",
    "ncnn": "edgebench.runtimes.ncnn:NcnnRuntime",
}
DEFAULT_RUNTIMES = ("pytorch", "onnxruntime", "openvino")
# Added to the default run where an NVIDIA GPU is present (each then runs, or is recorded as skipped and why).
GPU_RUNTIMES = ("tensorrt", "onnxruntime-cuda", "onnxruntime-trt", "pytorch-cuda", "pytorch-cuda-compile")
# The runtimes an app ships with (`--runtime mobile` names them all).
MOBILE_RUNTIMES = ("litert", "executorch", "coreml", "ncnn")


def default_runtimes() -> tuple[str, ...]:
    """The CPU runtimes, and the GPU runtimes too where ``nvidia-smi`` lists a GPU."""
    from edgebench.machine.gpus import has_gpu

    return DEFAULT_RUNTIMES + GPU_RUNTIMES if has_gpu() else DEFAULT_RUNTIMES


RUNTIME_GROUPS = {"mobile": MOBILE_RUNTIMES, "gpu": GPU_RUNTIMES}


def expand_runtimes(names: tuple[str, ...]) -> tuple[list[str], set[str]]:
    """``--runtime`` values with the groups (mobile, gpu) expanded; and the names given one by one, which
    must be usable (a group's members that cannot run here are recorded as skipped instead)."""
    expanded = [member for name in names for member in RUNTIME_GROUPS.get(name, (name,))]
    return list(dict.fromkeys(expanded)), {name for name in names if name not in RUNTIME_GROUPS}


def get_runtime(name: str):
    """The Runtime class called ``name`` (its module imports no runtime library at import time)."""
    if name not in REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, list(REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown runtime {name!r}.{hint} Known runtimes: {', '.join(REGISTRY)}")
    module_name, _, class_name = REGISTRY[name].partition(":")
    return getattr(import_module(module_name), class_name)
