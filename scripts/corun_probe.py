"""Does the co-run probe see what slows two-thread runtimes on this host? Every half second or so: the one-thread
reference workload alone (edgebench.machine.host_speed.corun_ms on the first CPU), the same on two CPUs at
once (corun_ms), then 40 calls of ONNX Runtime (two threads) on an ONNX model; one JSON line each, then the
correlations and the co-run slowdown in ONNX Runtime's fast and slow states.

    python scripts/corun_probe.py MODEL.onnx [--seconds 240] [--out readings.jsonl]
"""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort

from edgebench.machine.host_speed import corun_cpus, corun_ms

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("model", help="an ONNX model with one image input (NCHW, 224 x 224 unless --size)")
parser.add_argument("--size", type=int, default=224)
parser.add_argument("--seconds", type=float, default=240.0)
parser.add_argument("--out", help="write the readings here too (JSON lines)")
args = parser.parse_args()

cpus = corun_cpus(2)
if len(cpus) < 2:
    raise SystemExit("needs two CPUs")
options = ort.SessionOptions()
options.intra_op_num_threads = 2
session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
feed = {session.get_inputs()[0].name: np.random.default_rng(1).standard_normal((1, 3, args.size, args.size),
                                                                                dtype=np.float32)}
for _ in range(20):
    session.run(None, feed)
rows = []
sink = open(args.out, "w") if args.out else None
end = time.time() + args.seconds
while time.time() < end:
    one, two = corun_ms(cpus[:1]), corun_ms(cpus)  # alone on the first CPU, then on both
    calls = []
    for _ in range(40):
        started = time.perf_counter_ns()
        session.run(None, feed)
        calls.append((time.perf_counter_ns() - started) / 1e6)
    row = {"t": round(time.time(), 1), "one": round(one, 3), "two": round(two, 3), "ratio": round(two / one, 3),
           "ort_p50": round(float(np.median(calls)), 3)}
    rows.append(row)
    print(json.dumps(row), flush=True)
    if sink:
        sink.write(json.dumps(row) + "\n")
    time.sleep(0.5)
ort_p50 = np.array([r["ort_p50"] for r in rows])
ratio, one = np.array([r["ratio"] for r in rows]), np.array([r["one"] for r in rows])
fast, slow = ort_p50 < np.percentile(ort_p50, 25) * 1.1, ort_p50 > np.percentile(ort_p50, 25) * 1.25
print(f"{len(rows)} readings; correlation with ONNX Runtime's p50: co-run/alone {np.corrcoef(ratio, ort_p50)[0, 1]:.2f}, "
      f"one-thread probe {np.corrcoef(one, ort_p50)[0, 1]:.2f}")
for name, mask in (("fast", fast), ("slow", slow)):
    if mask.any():
        print(f"ONNX Runtime {name} ({mask.sum()} readings): co-run/alone p10/p50/p90 "
              f"{' / '.join(f'{v:.3f}' for v in np.percentile(ratio[mask], [10, 50, 90]))}")
