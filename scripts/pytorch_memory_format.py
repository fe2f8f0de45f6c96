"""Time PyTorch eager on the CPU with the model and input in channels-last against contiguous (NCHW) memory,
the measurement behind the `pytorch` runtime's memory format (README, "Runtimes").

Both variants of a cell are loaded together and timed in alternating 1 s slices (one untimed call opens a
slice when a call takes at most a quarter of it; a slower model's slice is one call), the order swapped each
round, so a slow minute on this shared machine hits both alike; the ratio is the median over rounds of
channels-last p50 / contiguous p50 (``edgebench.stats.cell_ratio``, with its 95% interval). Random weights
(``pretrained=False``), the same seeded input, ``torch.inference_mode()``, the same thread count.

    python scripts/pytorch_memory_format.py                         # the default models, batch 1 and 32
    python scripts/pytorch_memory_format.py --model timm:resnetv2_50 --batch 1 --rounds 7 --json out.jsonl
    python scripts/pytorch_memory_format.py --batch 1 --threads 1 --clock thread   # CPU work, for a busy machine
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

DEFAULT_MODELS = ("torchvision:resnet50", "torchvision:mobilenet_v2", "torchvision:efficientnet_b0",
                  "timm:efficientnet_b3", "timm:mobilenetv2_100", "timm:tf_efficientnet_b0", "timm:resnetv2_50",
                  "timm:inception_v3")


def build(model_id: str):
    import torch

    source, name = model_id.split(":", 1)
    torch.manual_seed(0)
    if source == "timm":
        import timm

        module = timm.create_model(name, pretrained=False).eval()
        size = tuple(module.pretrained_cfg.get("input_size", (3, 224, 224)))
    else:
        import torchvision.models as tvm

        module, size = tvm.get_model(name, weights=None).eval(), (3, 224, 224)
    return module, size


def slice_of(module, x, seconds: float, call_s: float, clock=time.perf_counter) -> list[float]:
    import torch

    times = []
    with torch.inference_mode():
        if call_s <= seconds / 4:
            module(x)  # the slice starts warm, as a loop would
        start = time.perf_counter()
        while not times or time.perf_counter() - start < seconds:
            t0 = clock()
            module(x)
            times.append(clock() - t0)
    return times


def compare(model_id: str, batch: int, rounds: int, seconds: float, clock=time.perf_counter) -> dict:
    import torch

    from edgebench.stats import cell_ratio

    module, size = build(model_id)
    variants = {"contiguous": (module, torch.randn(batch, *size, generator=torch.Generator().manual_seed(0)))}
    cl_module = copy.deepcopy(module).to(memory_format=torch.channels_last)
    variants["channels_last"] = (cl_module, variants["contiguous"][1].to(memory_format=torch.channels_last))
    call_s = {}
    with torch.inference_mode():
        outs = {}
        for name, (m, x) in variants.items():
            t0 = time.perf_counter()
            outs[name] = m(x)  # the first call (oneDNN primitives, allocations): it only decides the slices
            call_s[name] = time.perf_counter() - t0
        diff = float((outs["channels_last"] - outs["contiguous"]).abs().max() / outs["contiguous"].abs().max())
    records = {name: {"latency_ms": {"samples": []}, "rounds": [], "interleave": {"group_run": "bench"}}
               for name in variants}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            samples = [t * 1e3 for t in slice_of(*variants[name], seconds, call_s[name], clock)]
            records[name]["latency_ms"]["samples"] += samples
            records[name]["rounds"].append({"round": r, "n": len(samples), "p50": statistics.median(samples)})
    ratio = cell_ratio(records["channels_last"], records["contiguous"])
    p50 = {name: statistics.median(rec["latency_ms"]["samples"]) for name, rec in records.items()}
    return {"model": model_id, "batch": batch, "input": [batch, *size], "threads": torch.get_num_threads(),
            "p50_ms": p50, "calls": {n: len(rec["latency_ms"]["samples"]) for n, rec in records.items()},
            "ratio_cl_over_contiguous": ratio["ratio"], "lo": ratio["lo"], "hi": ratio["hi"],
            "rounds": ratio["rounds"], "per_round": [a["p50"] / b["p50"] for a, b in
                                                     zip(records["channels_last"]["rounds"],
                                                         records["contiguous"]["rounds"])],
            "max_rel_diff": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="timm:NAME or torchvision:NAME (repeatable)")
    parser.add_argument("--batch", type=int, action="append", help="batch sizes (default 1 and 32)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per cell, each one slice per variant")
    parser.add_argument("--slice", type=float, default=1.0, help="seconds per slice")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall",
                        help="thread: the calling thread's CPU time per call (needs --threads 1, where all of torch's "
                             "work runs in that thread): the work done, unaffected by other processes taking the CPU")
    parser.add_argument("--json", help="append one JSON line per cell here")
    args = parser.parse_args()
    if args.clock == "thread" and args.threads != 1:
        parser.error("--clock thread needs --threads 1 (other threads' CPU time is not the calling thread's)")
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clock} clock; "
          "ratio = channels_last / contiguous (< 1: channels-last faster)", flush=True)
    for model_id in args.model or DEFAULT_MODELS:
        for batch in args.batch or (1, 32):
            res = {**compare(model_id, batch, args.rounds, args.slice, clock), "clock": args.clock}
            print(f"{model_id:30s} b{batch:<3d} contiguous {res['p50_ms']['contiguous']:9.1f} ms  channels_last "
                  f"{res['p50_ms']['channels_last']:9.1f} ms  ratio {res['ratio_cl_over_contiguous']:.3f} "
                  f"[{res['lo']:.3f}, {res['hi']:.3f}] over {res['rounds']} rounds; max rel diff "
                  f"{res['max_rel_diff']:.1e}", flush=True)
            if args.json:
                with open(args.json, "a") as handle:
                    handle.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
