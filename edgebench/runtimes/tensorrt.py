"""TensorRT: runs the engines ``edgebench.quantize.tensorrt`` builds (one per precision, cached).

The engine holds one optimisation profile per batch size of the run; a session selects its batch size's
profile, binds torch-allocated device buffers by tensor name (TensorRT 10/11's name-based API) and
enqueues with ``execute_async_v3`` on its stream. With ``--cuda-graphs`` the enqueue is captured once
(after a first enqueue, so TensorRT's lazy initialisation is not recorded) and replayed, as trtexec's
``--useCudaGraph``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from edgebench.errors import CellFailure
from edgebench.export.artifact import Artifact
from edgebench.machine.gpus import has_gpu, no_gpu_reason
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Availability, Session, SessionOptions
from edgebench.runtimes.cuda import CudaSession, GpuRuntime, cuda_versions, torch_cuda

INSTALL = "pip install 'edgebench[tensorrt]' (TensorRT's wheels: tensorrt-cu13 or tensorrt-cu12, and polygraphy)"
MB = 1024.0 * 1024.0


def torch_dtype(trt, torch, trt_dtype):
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32, trt.int8: torch.int8,
             trt.bool: torch.bool}
    if hasattr(trt, "bfloat16"):
        table[trt.bfloat16] = torch.bfloat16
    if hasattr(trt, "int64"):
        table[trt.int64] = torch.int64
    if trt_dtype not in table:
        raise CellFailure(f"the engine has a tensor of type {trt_dtype}, which edgebench does not bind")
    return table[trt_dtype]


def profile_index(profiles: list[int], batch_size: int) -> int:
    """The optimisation profile serving ``batch_size`` (profile i was built for ``profiles[i]``)."""
    if batch_size not in profiles:
        raise CellFailure(f"the engine was built for batch sizes {profiles}, not {batch_size}; it is rebuilt when the "
                          "run's batch sizes change (delete the cached engine if this persists)")
    return profiles.index(batch_size)


class TensorRtSession(CudaSession):
    def __init__(self, engine, input_shape, batch_size: int, profile: int, input_name: str) -> None:
        super().__init__(input_shape, batch_size)
        import tensorrt as trt

        torch = self.torch
        self.engine = engine
        self.context = engine.create_execution_context()
        if self.context is None:
            raise CellFailure("TensorRT could not create an execution context (out of GPU memory?)")
        self.profile = profile
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if inputs != [input_name]:
            raise CellFailure(f"the engine's inputs are {inputs}; edgebench feeds one image input, {input_name!r}")
        if engine.get_tensor_dtype(input_name) != trt.float32:
            raise CellFailure(f"the engine's input is {engine.get_tensor_dtype(input_name)}, not float32")
        if engine.num_optimization_profiles > 1 or profile:
            self.context.set_optimization_profile_async(profile, self.stream.cuda_stream)
        self.context.set_input_shape(input_name, tuple(self.dev_in.shape))
        self.context.set_tensor_address(input_name, self.dev_in.data_ptr())
        # Every output gets a buffer; the first is the model's logits, cast to float32 if the engine's is not.
        self.raw_outputs = []
        for name in outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise CellFailure(f"output {name} has a data-dependent shape {shape}")
            tensor = torch.empty(shape, dtype=torch_dtype(trt, torch, engine.get_tensor_dtype(name)), device="cuda")
            self.context.set_tensor_address(name, tensor.data_ptr())
            self.raw_outputs.append(tensor)
        self.set_output(tuple(self.raw_outputs[0].shape))
        self.cast_output = self.raw_outputs[0].dtype != torch.float32
        if not self.cast_output:
            self.context.set_tensor_address(outputs[0], self.dev_out.data_ptr())  # TensorRT writes dev_out itself
        self.stream.synchronize()

    def run_model(self) -> None:
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise CellFailure("TensorRT's execute_async_v3 failed (see the worker log)")
        if self.cast_output:
            with self.torch.cuda.stream(self.stream):
                self.dev_out.copy_(self.raw_outputs[0])

    def gpu_memory(self) -> dict[str, Any]:
        engine = self.engine
        if hasattr(engine, "get_device_memory_size_for_profile_v2"):
            size = engine.get_device_memory_size_for_profile_v2(self.profile)
        elif hasattr(engine, "device_memory_size_v2"):
            size = engine.device_memory_size_v2
        else:
            size = engine.device_memory_size
        return {"engine_device_mb": size / MB}


class TensorRtRuntime(GpuRuntime):
    name = "tensorrt"
    package = "tensorrt"
    also_needs = ("polygraphy", "torch")
    install_hint = INSTALL
    formats = ("engine",)
    portable = False
    precisions = ("fp32", "tf32", "fp16", "int8", "best")
    # Every precision is compiled, FP32 included: each is an engine recipe.
    recipes = {"fp32": "edgebench.quantize.tensorrt:TrtEngine", "tf32": "edgebench.quantize.tensorrt:TrtTf32",
               "fp16": "edgebench.quantize.tensorrt:TrtFp16", "int8": "edgebench.quantize.tensorrt:TrtInt8",
               "best": "edgebench.quantize.tensorrt:TrtBest"}
    slower_reasons = {
        "int8": "layers without INT8 kernels run in FP32 with reformatting around them; at small batches the "
                "GPU is bound by launches, not arithmetic",
        "fp16": "small batches are bound by kernel launches, not arithmetic; CUDA graphs (--cuda-graphs) help",
        "best": "small batches are bound by kernel launches, not arithmetic",
        "tf32": "TF32 speeds up only matmuls and convolutions on Ampere or newer",
    }
    description = "TensorRT engines (Polygraphy loaders), one optimisation profile per batch size"

    @classmethod
    def availability(cls) -> Availability:
        if not has_gpu():
            return Availability(False, no_gpu_reason())
        if importlib.util.find_spec("tensorrt") is None:
            return Availability(False, f"TensorRT is not installed; {INSTALL}. Its builder libraries come from "
                                       "PyPI (tensorrt-cu13/-cu12 pull tensorrt_libs) or NVIDIA's index, pypi.nvidia.com")
        return super().availability()

    @classmethod
    def version(cls) -> str:
        from edgebench.quantize.tensorrt import trt_version

        return trt_version()

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        torch = torch_cuda()
        import tensorrt as trt

        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        engine = runtime.deserialize_cuda_engine(Path(artifact.path).read_bytes())
        if engine is None:
            raise CellFailure(f"TensorRT {trt.__version__} could not load {artifact.path} (built by another TensorRT "
                              "or for another GPU? the cache key should prevent this)")
        profiles = artifact.meta.get("profiles") or [options.batch_size]
        index = profile_index(profiles, options.batch_size)
        session = TensorRtSession(engine, spec.input_shape, options.batch_size, index,
                                  artifact.meta.get("input_name") or spec.input_name or "input")
        session.runtime = runtime  # the engine must not outlive its runtime
        if options.cuda_graphs:
            session.capture_graph()
        session.config = {"tensorrt": trt.__version__, "profile": index, "profiles": profiles,
                          "build": {k: artifact.meta.get(k) for k in ("tf32", "flags", "onnx", "calibrator", "why")
                                    if artifact.meta.get(k)},
                          "cuda_graphs": options.cuda_graphs, **cuda_versions(torch)}
        session.describe(threads_by="not applicable: TensorRT runs the model on the GPU (no CPU thread pool)",
                         shape=f"batch {options.batch_size} in optimisation profile {index} of {profiles}",
                         static=True)
        return session
