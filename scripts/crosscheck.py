"""Cross-check edgebench's FP32 p50 against plain loops and OpenVINO's benchmark_app, interleaved in rounds.

    python scripts/crosscheck.py MODEL_ID [--rounds 5] [--seconds 10] [--batch-size 1] [--threads N] [--out DIR]

Each round runs four steps, in an order that rotates by one step per round (so no tool always runs first,
right after another, or on a machine warmed by the same neighbour):

  edgebench      ``python -m edgebench run --model MODEL_ID --runtime onnxruntime --runtime openvino`` into
                 DIR/round-<r>: the whole CLI path with its own default timing (exports are cached after round 0)
  ort-loop       a plain loop over ``InferenceSession.run`` on the same ONNX file, in a fresh process
  benchmark_app  OpenVINO's own tool (sync API, one stream, f32, static shape; -nthreads needs -hint none)
  ov-loop        a plain loop over ``compiled.create_infer_request().infer`` (benchmark_app's median is over
                 its own loop, so this one separates "edgebench vs OpenVINO" from "edgebench vs benchmark_app")

All use the ONNX file and thread count the round's edgebench results name (``artifact.path``, ``threads``),
and one fixed input shape (ONNX Runtime: a free-dimension override of the batch, as edgebench does). Per round
and overall it writes each tool's median beside edgebench's p50 and the ratio edgebench/tool, with the median
and the min-max over rounds: DIR/crosscheck.md (table) and DIR/crosscheck.json (raw numbers).
Run it on a quiet machine: the ratios are only as good as the machine's stillness.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STEPS = ("edgebench", "ort-loop", "benchmark_app", "ov-loop")
# (edgebench runtime, tool): the ratios reported.
COMPARISONS = (("onnxruntime", "ort-loop"), ("openvino", "benchmark_app"), ("openvino", "ov-loop"))
LABELS = {"ort-loop": "plain InferenceSession.run loop", "benchmark_app": "benchmark_app",
          "ov-loop": "plain InferRequest.infer loop"}
TOLERANCE = 0.02


# ---- the plain loops (each runs in a fresh process: `crosscheck.py loop KIND PATH THREADS SHAPE SECONDS`) ----

def timed_loop(call, seconds: float) -> dict:
    """Warm up as edgebench does (>= 10 calls and >= 1 s, at most 15 s), then time one call at a time for
    >= ``seconds`` and >= 50 calls; the median of the per-call times."""
    start = time.perf_counter()
    warm = 0
    while warm < 10 or time.perf_counter() - start < 1.0:
        call()
        warm += 1
        if time.perf_counter() - start > 15.0:
            break
    samples, cpu0, wall0 = [], time.process_time(), time.perf_counter()
    end = wall0 + seconds
    while time.perf_counter() < end or len(samples) < 50:
        t0 = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    # CPU over wall time of the timed calls, as edgebench's `contention.cpu_over_wall`: far below the
    # thread count means the threads waited for CPUs other processes held.
    cpu_over_wall = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return {"median": float(np.median(samples)), "n": len(samples), "warmup_iters": warm,
            "cpu_over_wall": round(cpu_over_wall, 3)}


def ort_call(path: str, threads: int, shape: list[int]):
    import onnxruntime as ort

    from edgebench.runtimes.onnxruntime import fix_batch

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    fix_batch(so, path, shape[0])  # the same fixed shape edgebench gives ONNX Runtime
    session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}
    return lambda: session.run(None, feed)


def ov_call(path: str, threads: int, shape: list[int]):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(path)
    model.reshape({model.input(0): ov.PartialShape(shape)})
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                                                 "INFERENCE_NUM_THREADS": str(threads),
                                                 "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    return lambda: request.infer({0: x}, share_inputs=True)


def loop_main(argv: list[str]) -> int:
    kind, path, threads, shape, seconds = argv
    make = {"ort-loop": ort_call, "ov-loop": ov_call}[kind]
    call = make(path, int(threads), [int(d) for d in shape.split("x")])
    print(json.dumps(timed_loop(call, float(seconds))))
    return 0


def plain_loop(kind: str, path: str, threads: int, shape: list[int], seconds: float) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "loop", kind, path, str(threads),
               "x".join(map(str, shape)), str(seconds)]
    proc = subprocess.run(command, capture_output=True, text=True, env=child_env())
    if proc.returncode != 0:
        return {"error": f"{kind} exited {proc.returncode}: " + (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def benchmark_app(path: str, threads: int, shape: list[int], seconds: float) -> dict:
    tool = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    command = [tool, "-m", path, "-d", "CPU", "-hint", "none", "-nstreams", "1", "-api", "sync", "-nthreads", str(threads),
               "-infer_precision", "f32", "-shape", "[" + ",".join(map(str, shape)) + "]",
               "-t", str(max(1, round(seconds)))]
    try:
        proc = subprocess.run(command, capture_output=True, text=True)
    except OSError as error:
        return {"error": f"benchmark_app could not start: {error}"}
    out = proc.stdout
    if proc.returncode != 0:
        return {"error": f"benchmark_app exited {proc.returncode}: " + ((out + proc.stderr).strip().splitlines() or ["?"])[-1]}
    median = re.search(r"Median:\s+([\d.]+)\s+ms", out)
    count = re.search(r"Count:\s+(\d+)", out)
    if not median:
        return {"error": "benchmark_app printed no median"}
    return {"median": float(median.group(1)), "n": int(count.group(1)) if count else None}


# ---- edgebench itself ----

def child_env() -> dict[str, str]:
    """This checkout's edgebench first on the path, whatever the working directory."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def edgebench_run(args: argparse.Namespace, run_dir: Path, log: Path) -> dict[str, dict]:
    """Run the CLI into ``run_dir``; its ok FP32 cells at the batch size, by runtime."""
    command = [sys.executable, "-m", "edgebench", "run", "--model", args.model, "--runtime", "onnxruntime",
               "--runtime", "openvino", "--precision", "fp32", "--batch-size", str(args.batch_size),
               "--out", str(run_dir)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    proc = subprocess.run(command, capture_output=True, text=True, env=child_env())
    log.write_text(f"$ {' '.join(command)}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode not in (0, 1):  # 1: some cell failed; its record says why
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"crosscheck: edgebench run exited {proc.returncode}: {last} (log: {log})")
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines() if line.strip()]
    return {r["runtime"]: r for r in rows if r["batch_size"] == args.batch_size and r["precision"] == "fp32"}


def cell_summary(cell: dict | None) -> dict:
    if cell is None or cell.get("status") != "ok":
        return {"error": (cell or {}).get("reason") or "no such cell"}
    out = {"p50": cell["latency_ms"]["p50"], "n": cell["latency_ms"]["n"]}
    contention = cell.get("contention") or {}
    out.update({key: contention[key] for key in ("cpu_over_wall", "busy") if key in contention})
    for key in ("p50_precision", "interleave"):  # the interleaved engine's record (issue 14)
        if isinstance(cell.get(key), dict):
            out[key] = cell[key]
    if cell.get("rounds"):
        out["rounds"] = len(cell["rounds"])
    return out


# ---- one crosscheck ----

def ratio(ours: dict, tool: dict) -> float | None:
    return ours["p50"] / tool["median"] if "p50" in ours and tool.get("median") else None


def summarise(rounds: list[dict]) -> list[dict]:
    rows = []
    for runtime, tool in COMPARISONS:
        ratios = [r["ratios"][f"{runtime}/{tool}"] for r in rounds]
        valid = [x for x in ratios if x is not None]
        ours = [r["edgebench"][runtime].get("p50") for r in rounds]
        theirs = [r["tools"][tool].get("median") for r in rounds]
        median = float(np.median(valid)) if valid else None
        rows.append({"edgebench": runtime, "tool": tool, "ratios": ratios,
                     "edgebench_p50_median": float(np.median([x for x in ours if x])) if any(ours) else None,
                     "tool_median_median": float(np.median([x for x in theirs if x])) if any(theirs) else None,
                     "ratio_median": median, "ratio_min": min(valid, default=None), "ratio_max": max(valid, default=None),
                     "outside": median is not None and abs(median - 1) > TOLERANCE,
                     "rounds_outside": [i for i, x in enumerate(ratios) if x is not None and abs(x - 1) > TOLERANCE]})
    return rows


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render(report: dict) -> str:
    tol = f"±{TOLERANCE:.0%}"
    lines = [f"# Crosscheck: {report['model']}, batch {report['batch_size']}, threads {report['threads']}", "",
             f"{len(report['rounds'])} of {report['rounds_requested']} rounds, {report['seconds']:g} s per tool; "
             f"ONNX file `{report['onnx']}`; started {report['started_at']}; ratio = edgebench p50 / tool median, "
             f"`!` marks one outside {tol}. CPU/wall: CPU time over wall time of the timed calls (edgebench's "
             "`contention.cpu_over_wall`; benchmark_app reports none): well below the thread count, the tool "
             "waited for CPUs and its number says little.", "",
             "## Overall (over rounds)", "",
             "| edgebench | tool | edgebench p50 (ms) | tool median (ms) | ratio, median | spread (min–max) | within " + tol + " |",
             "|---|---|---:|---:|---:|---|---|"]
    for row in report["summary"]:
        within = "—" if row["ratio_median"] is None else ("**no**" if row["outside"] else "yes")
        lines.append(f"| {row['edgebench']} | {LABELS[row['tool']]} | {fmt(row['edgebench_p50_median'])} | "
                     f"{fmt(row['tool_median_median'])} | {fmt(row['ratio_median'])} | "
                     f"{fmt(row['ratio_min'])}–{fmt(row['ratio_max'])} | {within} |")
    lines += ["", "## Per round", "", "| round | order | edgebench | tool | edgebench p50 (ms) | tool median (ms) | ratio | CPU/wall, edgebench · tool |",
              "|---:|---|---|---|---:|---:|---:|---|"]
    for r in report["rounds"]:
        for runtime, tool in COMPARISONS:
            ours, theirs, x = r["edgebench"][runtime], r["tools"][tool], r["ratios"][f"{runtime}/{tool}"]
            mark = " !" if x is not None and abs(x - 1) > TOLERANCE else ""
            note = ours.get("error") or theirs.get("error") or ("edgebench marked it busy" if ours.get("busy") else "")
            lines.append(f"| {r['round']} | {' → '.join(r['order'])} | {runtime} | {LABELS[tool]} | {fmt(ours.get('p50'))} | "
                         f"{fmt(theirs.get('median'))} | {fmt(x)}{mark}{' (' + note + ')' if note else ''} | "
                         f"{fmt(ours.get('cpu_over_wall'), 2)} · {fmt(theirs.get('cpu_over_wall'), 2)} |")
    outside = [f"{row['edgebench']} / {LABELS[row['tool']]} (median {fmt(row['ratio_median'])})"
               for row in report["summary"] if row["outside"]]
    lines += ["", f"Outside {tol}: " + ("; ".join(outside) if outside else "none") + "."]
    return "\n".join(lines) + "\n"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "loop":
        return loop_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model id, as for `edgebench run --model` (e.g. timm:resnet18)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds of each plain loop and benchmark_app")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, help="threads for every tool (default: edgebench's default, read back)")
    parser.add_argument("--out", help="folder (default edgebench-runs/crosscheck-<time>)")
    args = parser.parse_args()
    for name in ("rounds", "batch_size", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    stamp = datetime.now(timezone.utc)
    out = Path(args.out or f"edgebench-runs/crosscheck-{stamp:%Y%m%d-%H%M%S}").resolve()
    if (out / "crosscheck.json").exists() or (out / "round-0").exists():
        parser.error(f"{out} already holds a crosscheck; give a new --out")
    (out / "logs").mkdir(parents=True, exist_ok=True)

    report = {"model": args.model, "batch_size": args.batch_size, "threads": args.threads, "seconds": args.seconds,
              "rounds_requested": args.rounds, "tolerance": TOLERANCE, "onnx": None,
              "started_at": stamp.isoformat(timespec="seconds"), "rounds": [], "summary": []}
    for r in range(args.rounds):
        order = STEPS[r % len(STEPS):] + STEPS[:r % len(STEPS)]  # round 0 starts with edgebench: it names the file
        this = {"round": r, "order": list(order), "edgebench": {}, "tools": {}, "ratios": {}, "loadavg_before": {}}
        for step in order:
            began = time.perf_counter()
            this["loadavg_before"][step] = round(os.getloadavg()[0], 2)
            if step == "edgebench":
                cells = edgebench_run(args, out / f"round-{r}", out / "logs" / f"round-{r}-edgebench.txt")
                this["edgebench"] = {rt: cell_summary(cells.get(rt)) for rt in ("onnxruntime", "openvino")}
                source = next((c for c in cells.values() if c.get("status") == "ok"), None)
                if source is None:
                    raise SystemExit(f"crosscheck: no ok FP32 cell in {out / f'round-{r}'}; see its results.jsonl")
                if report["onnx"] not in (None, source["artifact"]["path"]):
                    print(f"  note: round {r} measured another ONNX file: {source['artifact']['path']}")
                report["onnx"], report["threads"] = source["artifact"]["path"], source["threads"]
                report["input_shape"] = [args.batch_size, *source["input"]["shape"]]
                result = " ".join(f"{rt} p50 {fmt(s.get('p50'))} ms" for rt, s in this["edgebench"].items())
            else:
                shape, threads = report["input_shape"], report["threads"]
                if step == "benchmark_app":
                    this["tools"][step] = benchmark_app(report["onnx"], threads, shape, args.seconds)
                else:
                    this["tools"][step] = plain_loop(step, report["onnx"], threads, shape, args.seconds)
                result = this["tools"][step].get("error") or f"median {fmt(this['tools'][step]['median'])} ms"
            print(f"round {r + 1}/{args.rounds} {step:<13} {result} ({time.perf_counter() - began:.0f} s)", flush=True)
        for runtime, tool in COMPARISONS:
            this["ratios"][f"{runtime}/{tool}"] = ratio(this["edgebench"][runtime], this["tools"][tool])
        report["rounds"].append(this)
        report["summary"] = summarise(report["rounds"])
        (out / "crosscheck.json").write_text(json.dumps(report, indent=1))  # after every round: a partial run keeps data
        (out / "crosscheck.md").write_text(render(report))
    print("\n" + render(report) + f"\nwritten: {out / 'crosscheck.md'}, {out / 'crosscheck.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
