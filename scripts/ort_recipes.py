"""Time ONNX Runtime's INT8/FP16 recipes on one exported ONNX model (batch 1, 2 threads, p50 of >= 4 s),
the measurement behind edgebench's default recipe (README, "Precisions"). Calibration uses 32 seeded
N(0,1) inputs: enough for speed, not for accuracy.

    python scripts/ort_recipes.py ~/.cache/edgebench/exports/timm_resnet50-<key>/model.onnx /tmp/recipes
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.transformers.float16 import convert_float_to_float16


def main(source: str, out: str, threads: int = 2) -> None:
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal((1, 3, 224, 224), dtype=np.float32) for _ in range(32)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calib)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {"input": x}

    def bench(path: str, label: str) -> None:
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        for _ in range(5):
            session.run(None, {"input": calib[0]})
        times, start = [], time.perf_counter()
        while time.perf_counter() - start < 4 or len(times) < 20:
            t0 = time.perf_counter()
            session.run(None, {"input": calib[0]})
            times.append(time.perf_counter() - t0)
        print(f"{label:45s} p50 {np.median(times) * 1e3:8.2f} ms  size {os.path.getsize(path) / 1e6:6.1f} MB", flush=True)

    pre = f"{out}/pre.onnx"
    quant_pre_process(source, pre)
    bench(source, "fp32")
    for use_pre in (False, True):
        for fmt in ("QDQ", "QOperator"):
            for act, reduce in (("U8", False), ("U8", True), ("S8", False)):
                path = f"{out}/static_{use_pre}_{fmt}_{act}_{reduce}.onnx"
                quantize_static(pre if use_pre else source, path, Reader(), quant_format=getattr(QuantFormat, fmt),
                                activation_type=QuantType.QUInt8 if act == "U8" else QuantType.QInt8,
                                weight_type=QuantType.QInt8, per_channel=True, reduce_range=reduce,
                                calibrate_method=CalibrationMethod.MinMax)
                bench(path, f"static pre={use_pre} {fmt} {act}S8 reduce_range={reduce}")
    for weights in (QuantType.QInt8, QuantType.QUInt8):
        path = f"{out}/dynamic_{weights.name}.onnx"
        quantize_dynamic(pre, path, weight_type=weights)
        bench(path, f"dynamic, {weights.name} weights")
    onnx.save(convert_float_to_float16(onnx.load(source), keep_io_types=True), f"{out}/fp16.onnx")
    bench(f"{out}/fp16.onnx", "fp16 (float32 inputs/outputs)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
