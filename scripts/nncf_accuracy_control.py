"""NNCF's accuracy-controlled quantisation run by hand, outside edgebench's search: the yardstick an
``edgebench optimize`` result is compared with. Same model, same image split (edgebench's seeded split of
--data: calibration slice, evaluation rest), same threads; NNCF validates on the labelled calibration slice
(held out from the evaluation images), as edgebench's accuracy-control variant does.

    python scripts/nncf_accuracy_control.py /tmp/lite1/lite1.onnx --data DIR --labels FILE --max-drop 0.5 --out OUT

Prints and writes OUT/nncf-ac.json: FP32 and INT8 top-1 on the evaluation images, the drop, the layers NNCF
kept in float (as its log says), the quantisation time, and the batch-1 p50 of both (a plain loop of
compiled-model calls, f32 precision hint, the given threads).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NNCF_CI", "1")  # no telemetry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--labels")
    parser.add_argument("--max-drop", type=float, required=True, help="points")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per model")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import nncf
    import openvino as ov

    from edgebench.data.evalset import select_images
    from edgebench.data.images import crop_image, normalize
    from edgebench.models.onnx_file import onnx_spec

    spec = onnx_spec(args.model, {})
    pre = spec.preprocess
    images = select_images(data=args.data, labels=args.labels)
    calib = normalize(np.stack([crop_image(p, pre) for p in images.calib_paths]), pre)
    calib_labels = np.array(images.calib_labels)
    evals = normalize(np.stack([crop_image(p, pre) for p, _ in images.eval_samples]), pre)
    eval_labels = np.array([label for _, label in images.eval_samples])
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": args.threads, "NUM_STREAMS": 1,
              "PERFORMANCE_HINT": "LATENCY"}

    def top1(model, x: np.ndarray, y: np.ndarray) -> float:
        compiled = core.compile_model(model, "CPU", config)
        hits = [int(np.argmax(compiled(x[i:i + 1])[0])) == int(y[i]) for i in range(len(x))]
        return float(np.mean(hits))

    def validate(compiled_model, dataset) -> float:
        hits = [int(np.argmax(compiled_model(image)[0])) == int(label) for image, label in dataset]
        return float(np.mean(hits))

    fp32 = core.read_model(args.model)
    fp32.reshape([1, *pre.input_size])
    started = time.perf_counter()
    calibration = nncf.Dataset([calib[i:i + 1] for i in range(len(calib))])
    validation = nncf.Dataset([(calib[i:i + 1], calib_labels[i]) for i in range(len(calib))])
    int8 = nncf.quantize_with_accuracy_control(fp32, calibration, validation, validate, max_drop=args.max_drop / 100.0,
                                               drop_type=nncf.DropType.ABSOLUTE, preset=nncf.QuantizationPreset.PERFORMANCE,
                                               subset_size=len(calib))
    seconds = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(int8, str(out / "nncf-ac.xml"), compress_to_fp16=False)
    result = {"model": args.model, "max_drop_pt": args.max_drop, "quantize_s": round(seconds, 1),
              "calibration_images": len(calib), "eval_images": len(evals), "threads": args.threads,
              "fp32_top1": top1(fp32, evals, eval_labels), "int8_top1": top1(int8, evals, eval_labels),
              "fp32_p50_ms": p50_ms(core.compile_model(fp32, "CPU", config), evals[:1], args.seconds),
              "int8_p50_ms": p50_ms(core.compile_model(int8, "CPU", config), evals[:1], args.seconds),
              "float_ops_in_int8_model": sum(1 for op in int8.get_ops() if op.get_type_name() == "Convolution"
                                             and not _quantized(op))}
    result["drop_pt"] = (result["fp32_top1"] - result["int8_top1"]) * 100.0
    (out / "nncf-ac.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


def _quantized(op) -> bool:
    """A convolution whose weights come through a FakeQuantize (or a compressed int8 constant) is quantised."""
    weights = op.input_value(1).get_node()
    seen = 0
    while weights is not None and seen < 4:
        if weights.get_type_name() in ("FakeQuantize", "FakeConvert"):
            return True
        if weights.get_type_name() == "Constant":
            return weights.get_element_type().get_type_name() in ("i8", "u8")
        weights = weights.input_value(0).get_node() if weights.get_input_size() else None
        seen += 1
    return False


def p50_ms(compiled, x: np.ndarray, seconds: float) -> float:
    request = compiled.create_infer_request()
    for _ in range(10):
        request.infer([x])
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        request.infer([x])
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


if __name__ == "__main__":
    main()
