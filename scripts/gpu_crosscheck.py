"""Cross-check edgebench's GPU batch-1 FP32 latency against plain CUDA-event loops and trtexec.

    python scripts/gpu_crosscheck.py RUN_DIR MODEL_ID [--seconds 10]

For the model's b1 fp32 cells of RUN_DIR:
- pytorch-cuda: a bare loop of ``module(x)`` on a device-resident input, CUDA events around each call;
- tensorrt: the very engine the cell ran (its cached file), a bare ``execute_async_v3`` loop with events,
  and ``trtexec --loadEngine`` (its "GPU Compute Time" median) where trtexec is on PATH.
It prints each median beside edgebench's GPU compute p50 (``device_latency_ms``) and host p50, and the
ratios. Run it on the same quiet GPU right after `edgebench run`.
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
from pathlib import Path

from crosscheck import b1_fp32_cells  # scripts/ is on sys.path when a script in it runs


def event_loop(call, stream, seconds: float) -> float:
    """Median CUDA-event milliseconds of ``call()`` on ``stream`` (after 50 warm-up calls)."""
    import torch

    for _ in range(50):
        call()
    stream.synchronize()
    times, start = [], torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    import time

    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 100:
        start.record(stream)
        call()
        end.record(stream)
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def plain_torch(model_id: str, shape: list[int], seconds: float) -> float:
    import torch

    from edgebench.models import resolve_model
    from edgebench.models.torch_models import build_module

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # as edgebench's fp32
    torch.backends.cudnn.benchmark = True
    module = build_module(resolve_model(model_id), pretrained=False).eval().cuda()
    x = torch.randn(shape, device="cuda")
    stream = torch.cuda.Stream()

    def call():
        with torch.inference_mode(), torch.cuda.stream(stream):
            module(x)
    return event_loop(call, stream, seconds)


def plain_tensorrt(engine_path: str, shape: list[int], profile: int, seconds: float) -> float:
    import tensorrt as trt
    import torch

    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(Path(engine_path).read_bytes())
    context = engine.create_execution_context()
    stream = torch.cuda.Stream()
    context.set_optimization_profile_async(profile, stream.cuda_stream)
    buffers = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            context.set_input_shape(name, shape)
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        buffers.append(torch.empty(tuple(context.get_tensor_shape(name)), device="cuda"))
        context.set_tensor_address(name, buffers[-1].data_ptr())
    return event_loop(lambda: context.execute_async_v3(stream.cuda_stream), stream, seconds)


def trtexec(engine_path: str, input_name: str, shape: list[int], profile: int) -> float | None:
    if not shutil.which("trtexec"):
        return None
    out = subprocess.run(["trtexec", f"--loadEngine={engine_path}", f"--shapes={input_name}:{'x'.join(map(str, shape))}",
                          f"--profile={profile}", "--duration=10", "--noDataTransfers"],
                         capture_output=True, text=True).stdout
    match = re.search(r"GPU Compute Time: min = [\d.]+ ms, max = [\d.]+ ms, mean = [\d.]+ ms, median = ([\d.]+) ms", out)
    return float(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("model")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    cells = {runtime: cell for runtime, cell in b1_fp32_cells(args.run_dir, args.model).items()
             if cell.get("device_kind") == "gpu"}
    for runtime, cell in cells.items():
        shape = [1, *cell["input"]["shape"]]
        mine, host = cell["device_latency_ms"]["p50"], cell["latency_ms"]["p50"]
        others = {}
        if runtime == "pytorch-cuda":
            others["plain CUDA-event loop"] = plain_torch(args.model, shape, args.seconds)
        elif runtime == "tensorrt":
            profile = cell["runtime_config"]["profile"]
            others["plain execute_async_v3 loop"] = plain_tensorrt(cell["artifact"]["path"], shape, profile, args.seconds)
            others["trtexec GPU Compute median"] = trtexec(cell["artifact"]["path"], "input", shape, profile)
        for what, value in others.items():
            if value is None:
                print(f"{runtime:<14} {what}: not available here")
                continue
            print(f"{runtime:<14} edgebench GPU compute p50 {mine:.3f} ms (host p50 {host:.3f} ms); {what} {value:.3f} ms; "
                  f"ratio edgebench/plain {mine / value:.3f} (host {host / value:.3f})")


if __name__ == "__main__":
    main()
