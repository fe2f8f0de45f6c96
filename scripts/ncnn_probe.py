"""Why edgebench's ncnn figures look as they do: an interleaved probe of ncnn against ONNX Runtime.

Each variant (runtime, threads, options, OpenMP environment) lives in its own worker process, loaded
once per block. The parent runs short rounds, variant after variant, so that a change in the machine's
load hits every variant alike; a "hog" (a busy loop pinned to CPU 1, paused with SIGSTOP when off)
stands for another process wanting one of the two cores. Modes:

- ncnn ``b1-extract`` / ``b32-extract``: Mats built beforehand; an image is create_extractor, input,
  extract -- the model's work alone.
- ncnn ``b1-full`` / ``b32-full``: edgebench's NcnnSession.infer_impl as committed (numpy -> ncnn.Mat,
  extract, np.array(out); b32 runs it image after image, np.stack of the 32 outputs is timed apart).
- ort ``b1`` / ``b32``: InferenceSession.run with edgebench's options, on the same model's ONNX.

``cpu/wall`` is the worker's CPU time (all its threads) over wall time: about the thread count when its
threads compute or spin, lower when they sleep or wait for a core; ``cpu ms/im`` is CPU time per image
(for one thread, close to what the image takes on a core of its own). Workers and the hog each get their
own session, as edgebench's cells do (with kernel.sched_autogroup_enabled=1 a session is a scheduling group).

    python scripts/ncnn_probe.py --cache-dir /tmp/ncnn-cache      # about 4 minutes on the 2-core dev box
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BATCH = 32
SHAPE = (3, 224, 224)


@dataclass(frozen=True)
class Variant:
    """One worker process: a runtime, its thread count, ncnn options or ORT config, OpenMP environment."""

    label: str
    kind: str  # "ncnn" | "ort"
    threads: int
    opts: tuple[tuple[str, object], ...] = ()  # ncnn Option attributes / ORT session config entries
    env: tuple[tuple[str, str], ...] = ()  # set before the runtime's library is loaded
    omp_dynamic: bool = False
    realtime: bool = False  # SCHED_FIFO: it preempts every ordinary process, as if the machine were idle
    modes: tuple[str, ...] = field(default=(), compare=False)


# ---------------------------------------------------------------- worker side


def _ncnn_calls(variant: Variant, param: str, batch: np.ndarray):
    """Per-image calls by mode, the first two images' outputs, and the pieces _overheads times."""
    import ncnn

    if variant.omp_dynamic:
        ncnn.set_omp_dynamic(1)
    net = ncnn.Net()
    net.opt.num_threads = variant.threads  # as edgebench.runtimes.ncnn does
    net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = net.opt.use_fp16_packed = False
    net.opt.use_bf16_storage = False
    for name, value in variant.opts:
        setattr(net.opt, name, value)
    if net.load_param(param) != 0 or net.load_model(param[: -len(".param")] + ".bin") != 0:
        raise RuntimeError(f"ncnn could not load {param}")
    iname, oname = net.input_names()[0], net.output_names()[0]
    mats = [ncnn.Mat(np.ascontiguousarray(image)) for image in batch]

    def extract(i: int):
        ex = net.create_extractor()
        ex.input(iname, mats[i])
        status, out = ex.extract(oname)
        if status != 0:
            raise RuntimeError(f"ncnn extract returned {status}")
        return out

    def full(i: int) -> np.ndarray:  # the body of edgebench's NcnnSession.infer_impl loop, verbatim
        extractor = net.create_extractor()
        extractor.input(iname, ncnn.Mat(np.ascontiguousarray(batch[i])))
        status, out = extractor.extract(oname)
        if status != 0:
            raise RuntimeError(f"ncnn extract returned {status}")
        return np.array(out, dtype=np.float32).reshape(-1)

    calls = {"extract": extract, "full": full}
    return calls, np.stack([full(0), full(1)]), (ncnn, net, iname, oname, mats[0], extract(0))


def _ort_calls(variant: Variant, onnx_path: str, batch: np.ndarray):
    import onnxruntime as ort

    so = ort.SessionOptions()  # as edgebench.runtimes.onnxruntime does
    so.intra_op_num_threads = variant.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for key, value in variant.opts:
        so.add_session_config_entry(key, str(value))
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name
    one = batch[:1].copy()
    return sess, (lambda: sess.run(None, {iname: one})), (lambda: sess.run(None, {iname: batch})), \
        sess.run(None, {iname: batch[:2]})[0].reshape(2, -1)


def _worker(conn, variant: Variant, param: str, onnx_path: str) -> None:
    os.setsid()  # its own session, as edgebench's cell processes (and so its own autogroup where that is on)
    if variant.realtime:  # before any runtime thread exists: its threads inherit the policy
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    os.environ.update(dict(variant.env))
    os.environ["OMP_NUM_THREADS"] = str(variant.threads)  # as edgebench's cell processes get it
    batch = np.random.default_rng(0).standard_normal((BATCH, *SHAPE), dtype=np.float32)
    if variant.kind == "ncnn":
        calls, first, pieces = _ncnn_calls(variant, param, batch)
        b1 = {f"b1-{k}": (lambda c=c: c(0)) for k, c in calls.items()}
    else:
        _, one, many, first = _ort_calls(variant, onnx_path, batch)
        b1 = {"b1": one}
    conn.send(("ready", first))
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            return
        if msg[0] == "overheads":
            conn.send(_overheads(*pieces, batch))
            continue
        _, mode, max_calls, max_s = msg
        next(iter(b1.values()))()  # one untimed image: threads woken, caches refilled after the other variants
        if mode in b1:
            conn.send(_timed(b1[mode], max_calls, max_s))
        elif variant.kind == "ort":
            conn.send(_timed(many, 1, 0.0, images=BATCH))
        else:
            conn.send(_timed_loop(calls[mode.split("-")[1]], max_s))


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(call, max_calls: int, max_s: float, images: int = 1) -> tuple[list[float], int, float, float]:
    """Wall ms of each call (at least one); images run; wall and CPU seconds in all."""
    samples, begin, cpu0 = [], time.perf_counter(), _cpu_s()
    while len(samples) < max_calls and (not samples or time.perf_counter() - begin < max_s):
        t0 = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return samples, images * len(samples), time.perf_counter() - begin, _cpu_s() - cpu0


def _timed_loop(per_image, max_s: float) -> tuple[list[float], int, float, float]:
    """A batch of 32, image after image as edgebench runs ncnn. Where the machine is so loaded that it
    would take longer than max_s, it stops early: ms per image stays comparable, the call is not sampled."""
    begin, cpu0, done = time.perf_counter(), _cpu_s(), 0
    while done < BATCH and (done == 0 or time.perf_counter() - begin < max_s):
        per_image(done)
        done += 1
    wall = time.perf_counter() - begin
    return ([wall * 1e3] if done == BATCH else []), done, wall, _cpu_s() - cpu0


def _overheads(ncnn, net, iname, oname, mat, out, batch: np.ndarray, n: int = 300) -> dict[str, float]:
    """Median microseconds of each step edgebench does around extract()."""
    image = batch[0]
    outs = [np.array(out, dtype=np.float32).reshape(-1)] * BATCH
    steps = {"numpy -> ncnn.Mat": lambda: ncnn.Mat(np.ascontiguousarray(image)),
             "create_extractor + input": lambda: net.create_extractor().input(iname, mat),
             "np.array(out).reshape": lambda: np.array(out, dtype=np.float32).reshape(-1),
             "np.stack of 32 outputs": lambda: np.stack(outs)}
    result = {}
    for name, step in steps.items():
        times = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            step()
            times.append((time.perf_counter_ns() - t0) / 1e3)
        result[name] = float(np.median(times))
    return result


# ---------------------------------------------------------------- parent side


_LIGHT = """import os, time
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(2))
while True:
    t = time.perf_counter()
    while time.perf_counter() - t < 0.002:
        pass
    time.sleep(0.008)
"""


class Hog:
    """A busy loop pinned to CPU 1: another process wanting one of the two cores. ``light``: busy 2 ms of
    every 10 at SCHED_FIFO priority 2, so that it preempts the (priority 1) workers of the idle block."""

    def __init__(self, cpu: int, light: bool = False) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _LIGHT if light else "while True: pass"],
                                     start_new_session=True, preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
        self.set(False)

    def set(self, on: bool) -> None:
        os.kill(self.proc.pid, signal.SIGCONT if on else signal.SIGSTOP)
        time.sleep(0.3)

    def close(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)
        self.proc.kill()
        self.proc.wait()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_workers(variants: list[Variant], param: Path, onnx_path: Path):
    """Start one worker per variant, one after another (loading must not overlap another's timing)."""
    ctx = mp.get_context("spawn")
    pool, procs, outputs = {}, [], {}
    for v in variants:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, v, str(param), str(onnx_path)), daemon=True)
        proc.start()
        procs.append(proc)
        _, outputs[v.label] = parent.recv()
        pool[v.label] = parent
    return pool, procs, outputs


def stop_workers(pool: dict, procs: list) -> None:
    for conn in pool.values():
        conn.send(("stop",))
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()


def run_block(title: str, variants: list[Variant], hogs: tuple[bool, ...], rounds: int, hog: Hog,
              param: Path, onnx_path: Path, limits: dict[str, tuple[int, float]], first: bool = False) -> None:
    print(f"\n## {title}\n{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; load average (1, 5, 15 min) at start: {loadavg()}",
          flush=True)
    pool, procs, outputs = start_workers(variants, param, onnx_path)
    try:
        ref_label = next(v.label for v in variants if v.kind == "ort")
        print("outputs vs " + ref_label + " on 2 images (max abs diff): " + ", ".join(
            f"{k} {np.abs(o - outputs[ref_label]).max():.1e}" for k, o in outputs.items() if k != ref_label))
        if first:
            ncnn_label = next(v.label for v in variants if v.kind == "ncnn")
            pool[ncnn_label].send(("overheads",))
            print("steps around extract() in edgebench's per-image loop, median us: " + ", ".join(
                f"{k} {t:.1f}" for k, t in pool[ncnn_label].recv().items()))
        results: dict[tuple[str, bool, str], list] = {}
        for r in range(rounds):
            for on in hogs:
                hog.set(on)
                print(f"  round {r + 1}/{rounds} hog {'ON ' if on else 'off'}: load average {loadavg()}", flush=True)
                shift = r % len(variants)
                for v in variants[shift:] + variants[:shift]:  # rotated: no variant always runs first
                    for mode in v.modes:
                        pool[v.label].send(("run", mode, *limits[mode.split("-")[0]]))
                        results.setdefault((v.label, on, mode), []).append(pool[v.label].recv())
                        time.sleep(0.05)  # the previous worker's waiting threads go to sleep
        hog.set(False)
    finally:
        stop_workers(pool, procs)
    print(f"load average at end: {loadavg()}\n")
    print(f"{'variant':36} {'hog':3} {'mode':11} {'calls':>5} {'p50 ms':>8} {'p10':>8} {'p90':>8} {'min':>8}"
          f" {'ms/image':>8} {'cpu/wall':>8} {'cpu ms/im':>9}")
    for (label, on, mode), parts in results.items():
        samples = np.asarray([s for p in parts for s in p[0]])
        images, wall, cpu = (sum(p[i] for p in parts) for i in (1, 2, 3))
        stats = np.percentile(samples, [50, 10, 90]).tolist() + [samples.min()] if samples.size else [np.nan] * 4
        print(f"{label:36} {'ON' if on else 'off':3} {mode:11} {samples.size:5d} "
              + " ".join(f"{x:8.2f}" for x in stats)
              + f" {wall * 1e3 / images:8.2f} {cpu / wall:8.2f} {cpu * 1e3 / images:9.2f}")


def find_models(cache_dir: Path) -> tuple[Path, Path]:
    params = sorted(cache_dir.glob("quantized/timm_mobilenetv2_100-pnnx-ncnn-fp32-*/model.ncnn.param"))
    onnx = sorted(cache_dir.glob("exports/timm_mobilenetv2_100-*/model.onnx"))
    if not params or not onnx:
        sys.exit(f"no MobileNetV2 ncnn/ONNX files under {cache_dir}: run edgebench run --model timm:mobilenetv2_100"
                 f" --runtime ncnn --runtime onnxruntime --batch-size 1 --weights random --cache-dir {cache_dir}")
    return params[-1], onnx[-1]


def describe(param: Path, onnx_path: Path) -> None:
    import ncnn
    import onnx
    import onnxruntime

    print(f"# ncnn probe: {param}\n#   vs ONNX Runtime on {onnx_path}")
    print(f"# ncnn {ncnn.__version__}, onnxruntime {onnxruntime.__version__}, numpy {np.__version__}; "
          f"{os.cpu_count()} CPUs, affinity {sorted(os.sched_getaffinity(0))}; input seeded N(0,1) {SHAPE}")
    layers = [line.split()[0] for line in param.read_text().splitlines()[2:]]
    nodes = [n.op_type for n in onnx.load(str(onnx_path), load_external_data=False).graph.node]
    for name, ops in (("ncnn", layers), ("ONNX", nodes)):
        print(f"# {name} graph: " + ", ".join(f"{ops.count(t)} {t}" for t in sorted(set(ops), key=ops.count)[::-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", type=Path, help="an edgebench cache holding MobileNetV2's ncnn and ONNX files")
    ap.add_argument("--param", type=Path, help="model.ncnn.param (model.ncnn.bin beside it)")
    ap.add_argument("--onnx", type=Path, help="the same model as ONNX")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per block")
    ap.add_argument("--blocks", default="ABCD", help="which blocks to run, in order (default ABCD)")
    args = ap.parse_args()
    if not args.blocks or set(args.blocks) - set("ABCD"):
        sys.exit(f"--blocks takes letters from ABCD, got {args.blocks!r}")
    if args.param and args.onnx:
        param, onnx_path = args.param, args.onnx
    elif args.cache_dir:
        param, onnx_path = find_models(args.cache_dir)
    else:
        sys.exit("give --cache-dir, or --param and --onnx")
    describe(param, onnx_path)

    full = ("b1-extract", "b1-full", "b32-extract", "b32-full")
    ncnn2, ncnn1 = Variant("ncnn t2 (edgebench)", "ncnn", 2, modes=full), Variant("ncnn t1", "ncnn", 1, modes=full)
    ort2 = Variant("ort t2 (edgebench)", "ort", 2, modes=("b1", "b32"))
    ort1 = Variant("ort t1", "ort", 1, modes=("b1", "b32"))
    b1x = ("b1-extract", "b32-extract")
    waiting = [Variant("ncnn t2 (edgebench)", "ncnn", 2, modes=b1x),
               Variant("ncnn t2 OMP_WAIT_POLICY=PASSIVE", "ncnn", 2, env=(("OMP_WAIT_POLICY", "PASSIVE"),), modes=b1x),
               Variant("ncnn t2 set_omp_dynamic(1)", "ncnn", 2, omp_dynamic=True, modes=b1x),
               Variant("ncnn t1", "ncnn", 1, modes=b1x),
               Variant("ort t2 (edgebench)", "ort", 2, modes=("b1", "b32")),
               Variant("ort t2 allow_spinning=0", "ort", 2, opts=(("session.intra_op.allow_spinning", "0"),),
                       modes=("b1", "b32"))]
    options = [Variant("ncnn t1 (edgebench options)", "ncnn", 1, realtime=True, modes=("b1-extract",))] + [
        Variant(f"ncnn t1 {k}={v}", "ncnn", 1, opts=((k, v),), realtime=True, modes=("b1-extract",)) for k, v in (
            ("use_packing_layout", False), ("use_winograd_convolution", False), ("use_sgemm_convolution", False),
            ("lightmode", False), ("use_bf16_storage", True))] + [Variant("ort t1", "ort", 1, realtime=True,
                                                                          modes=("b1",))]

    idle = [Variant(v.label, v.kind, v.threads, v.opts, v.env, realtime=True, modes=m) for v, m in (
        (ncnn2, ("b1-extract", "b1-full", "b32-full")), (ncnn1, ("b1-extract", "b32-full")),
        (waiting[1], ("b1-extract", "b32-extract")), (ort2, ("b1", "b32")), (ort1, ("b1", "b32")),
        (waiting[5], ("b1", "b32")))]

    b1, both = {"b1": (10, 0.25), "b32": (1, 2.0)}, (False, True)
    blocks = {
        "A": ("A. edgebench's settings: b1 and per image inside b32, extract only vs with conversions, threads 2"
              " vs 1, without and with a hog on CPU 1", [ncnn2, ncnn1, ort2, ort1], both, args.rounds, b1),
        "B": ("B. how waiting threads wait (libgomp spin vs sleep, ORT spinning), without and with a hog",
              waiting, both, args.rounds, b1),
        "C": ("C. ncnn options at b1 on one thread (no barriers to wait at), at SCHED_FIFO priority 1 as in D"
              " (a core of its own); ONNX Runtime t1 for scale", options, (False,), args.rounds + 1,
              {"b1": (15, 0.3)}),
        "D": ("D. an idle machine, emulated: each worker at SCHED_FIFO priority 1 preempts every ordinary process"
              " (the kernel still leaves them 5% of each second); hog ON here is a light one, busy 2 ms of every"
              " 10 on CPU 1 at priority 2", idle, both, args.rounds + 2, {"b1": (20, 0.2), "b32": (1, 1.0)}),
    }
    for letter in args.blocks:
        title, variants, hogs, rounds, limits = blocks[letter]
        hog = Hog(cpu=1, light=letter == "D")
        try:
            run_block(title, variants, hogs, rounds, hog, param, onnx_path, limits, first=letter == args.blocks[0])
        finally:
            hog.close()

if __name__ == "__main__":
    main()
