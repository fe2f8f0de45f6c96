"""``edgebench run | report | pick | list | doctor``. Errors print a message and exit non-zero, no traceback."""
from __future__ import annotations

import argparse
import errno
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from edgebench import cli_types as argtypes
from edgebench.cli_types import EXIT_BAD_INPUT
from edgebench.errors import ConfigError, EdgebenchError

EXIT_FAILED_CELLS = 1
EXIT_BUG = 70  # BSD's EX_SOFTWARE: an unexpected exception, i.e. a bug in edgebench (its traceback is in a log)
# OS errors that are the machine's, not edgebench's: bad input (exit 2) with the file named.
_USER_OS_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


def _add_model_args(parser: argparse.ArgumentParser, calib_help: str | None = None) -> None:
    """What to measure (or export), its images and its quantisation recipes: shared by run, export and optimize
    (``calib_help``: optimize's own --calib-size default, a share of its images, said in its help)."""
    from edgebench.data.evalset import DEFAULT_CALIB_SIZE
    from edgebench.quantize.base import AUTO_BOOL, CALIB_METHODS, ORT_ACTIVATIONS, ORT_FORMATS, TRT_INT8, QuantOptions

    what = parser.add_argument_group("what to measure")
    what.add_argument("--suite", help="built-in suite: quick (default), seed-table or tasks")
    what.add_argument("--model", action="append", default=[], metavar="ID",
                      help="timm:<name>, torchvision:<name>, transformers:<hub id>, onnx:<path> or tflite:<path> "
                           "(repeatable)")
    what.add_argument("--runtime", action="append", default=[], metavar="NAME",
                      help="runtime to use (repeatable; default: pytorch, onnxruntime, openvino, and the GPU "
                      "runtimes when an NVIDIA GPU is present; `mobile` names litert, executorch, coreml and ncnn, "
                      "`gpu` the GPU runtimes; see `edgebench list runtimes`)")
    what.add_argument("--precision", action="append", default=[], metavar="P",
                      help="fp32 (default), tf32, fp16, bf16, int8 (static, calibrated), int8-dynamic, best "
                      "(TensorRT picks per layer among FP32/FP16/INT8) (repeatable)")
    what.add_argument("--batch-size", action="append", default=[], type=argtypes.positive_int, metavar="N",
                      help="batch size (repeatable; default 1 and 32)")
    what.add_argument("--weights", default="auto", choices=("auto", "pretrained", "random"),
                      help="auto: pretrained when obtainable, else random (said in every result)")
    what.add_argument("--checkpoint", metavar="FILE", type=argtypes.checkpoint, help="state dict (.pt/.pth/.safetensors) for the one --model")
    images = parser.add_argument_group("images: accuracy and calibration")
    images.add_argument("--data", metavar="DIR", help="evaluation images: ImageNet val (synset folders, or flat with "
                        "LOC_val_solution.csv / a 'filename label' list) or any ImageFolder dataset")
    images.add_argument("--labels", metavar="FILE", help="ground-truth file of a flat --data folder")
    images.add_argument("--class-map", metavar="FILE", help="class order of an ImageFolder --data (one name per line)")
    images.add_argument("--limit", type=argtypes.positive_int, metavar="N", help="evaluate a fixed, seeded subset of N images")
    images.add_argument("--calib-data", metavar="DIR", help="calibration images (default: a held-out slice of --data)")
    images.add_argument("--calib-size", type=argtypes.positive_int, default=None if calib_help else DEFAULT_CALIB_SIZE,
                        metavar="N", help=calib_help or f"calibration images (default {DEFAULT_CALIB_SIZE})")
    images.add_argument("--allow-calib-overlap", action="store_true",
                        help="accept calibration images that are also evaluation images (recorded)")
    quant = parser.add_argument_group("quantisation recipes (defaults: the fastest measured; see README)")
    quant.add_argument("--calib-method", choices=CALIB_METHODS, default=QuantOptions.calib_method,
                       help="ONNX Runtime static INT8 calibration")
    quant.add_argument("--ort-quant-format", choices=ORT_FORMATS, default=QuantOptions.ort_format)
    quant.add_argument("--ort-activations", choices=ORT_ACTIVATIONS, default=QuantOptions.ort_activations)
    quant.add_argument("--reduce-range", choices=("auto", "on", "off"), default=QuantOptions.reduce_range,
                       help="7-bit weights (auto: on where the CPU lacks VNNI)")
    quant.add_argument("--no-per-channel", action="store_true", help="per-tensor INT8 weights")
    quant.add_argument("--ort-preprocess", action="store_true", help="run onnxruntime's quant_pre_process first")
    quant.add_argument("--nncf-preset", choices=("performance", "mixed"), default=QuantOptions.nncf_preset)
    quant.add_argument("--trt-int8", choices=TRT_INT8, default=QuantOptions.trt_int8,
                       help="TensorRT INT8: its entropy calibrator, or a symmetric QDQ ONNX (explicit quantisation)")
    quant.add_argument("--float-tail", choices=AUTO_BOOL, default=QuantOptions.float_tail,
                       help="keep the ops after the last weighted layers (a detector's decoding) in float "
                            "(auto: for detectors)")
    onnx = parser.add_argument_group("onnx: models (or a YAML file beside the model)")
    onnx.add_argument("--input-shape", metavar="NxCxHxW", type=argtypes.shape, help="input shape, e.g. 1x3x224x224")
    onnx.add_argument("--mean", type=argtypes.floats, help="per-channel mean, e.g. 0.485,0.456,0.406")
    onnx.add_argument("--std", type=argtypes.std, help="per-channel std")
    onnx.add_argument("--interpolation", choices=("nearest", "bilinear", "bicubic"))
    onnx.add_argument("--crop-pct", type=argtypes.crop_pct, help="fraction of the resized image kept by the centre crop, (0, 1]")
    onnx.add_argument("--channel-order", choices=("RGB", "BGR"))
    onnx.add_argument("--model-config", metavar="YAML",
                      help="the model's settings (task, preprocessing, decoder) from this file instead of the YAML "
                           "beside it, e.g. examples/yolox_nano.yaml")


def _add_output_args(parser: argparse.ArgumentParser, out_help: str, resume_help: str) -> None:
    """Where results go, resuming, caches, names and seed: shared by run and optimize."""
    out = parser.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", type=argtypes.folder_to_write, help=out_help)
    out.add_argument("--resume", metavar="RUN_DIR", help=resume_help)
    out.add_argument("--cache-dir", metavar="DIR", type=argtypes.folder_to_write, help="export cache (default ~/.cache/edgebench)")
    out.add_argument("--device-name", help="name of this machine in reports (default: host name)")
    out.add_argument("--seed", type=argtypes.seed, default=0, help="seed of inputs and random weights")


COORDINATOR_HELP = "labgrid coordinator (default LG_COORDINATOR, else 127.0.0.1:20408)"


def _add_lab_args(parser: argparse.ArgumentParser) -> None:
    lab = parser.add_argument_group("device lab: measure on boards through labgrid (README, \"A device lab\")")
    lab.add_argument("--on", action="append", default=[], metavar="TAGS",
                     help="build here, measure on every board whose labgrid place has these tags, e.g. "
                     "arch=aarch64,board=jetson-orin (name=PLACE names one board)")
    lab.add_argument("--store", metavar="URL", help="results store: postgresql://... for a shared lab (default: "
                     "lab.sqlite in the run folder)")
    lab.add_argument("--coordinator", metavar="HOST:PORT", help=COORDINATOR_HELP)
    lab.add_argument("--ssh-key", metavar="FILE", help="private key for the boards (default: ssh's own)")
    lab.add_argument("--known-hosts", metavar="FILE", help="the boards' host keys (default: ~/.ssh/known_hosts)")
    lab.add_argument("--accept-new-host-keys", action="store_true",
                     help="trust a board's host key the first time it is seen (a changed key is still refused)")
    lab.add_argument("--board-edgebench", metavar="CMD", help="how a board runs edgebench (default: edgebench)")
    lab.add_argument("--board-data", metavar="DIR", help="the evaluation images' folder on the boards")
    lab.add_argument("--parallel", type=argtypes.positive_int, metavar="N", help="boards measured at once (default all)")
    lab.add_argument("--elsewhere", action="store_true", help="with --resume: a lost board's cells go to another "
                     "board with its tags")


def build_parser() -> argparse.ArgumentParser:
    parser = argtypes.OneLineParser(prog="edgebench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="benchmark models on this machine's runtimes")
    _add_model_args(run)
    run.add_argument("--artifacts", metavar="DIR", help="measure the artifacts an `edgebench export` wrote "
                     "(no PyTorch or converter needed here); models and runtimes come from its manifest")
    timing = run.add_argument_group("timing")
    timing.add_argument("--quick", action="store_true", help="short timing profile (a look, not a benchmark)")
    timing.add_argument("--warmup", type=argtypes.non_negative_int, metavar="N", help="minimum warm-up iterations")
    timing.add_argument("--warmup-duration", type=argtypes.non_negative_float, metavar="S",
                        help="minimum warm-up seconds (default 1, --quick 0.2)")
    timing.add_argument("--iterations", type=argtypes.positive_int, metavar="N", help="minimum timed iterations")
    timing.add_argument("--duration", type=argtypes.non_negative_float, metavar="S", help="minimum timed seconds")
    timing.add_argument("--max-duration", type=argtypes.positive_float, metavar="S", help="cap on timed seconds per cell")
    timing.add_argument("--median-ci", type=argtypes.positive_float, metavar="PCT",
                        help="stop a cell once the 95%% interval of its median is within ±PCT%% (default 1, --quick 2)")
    timing.add_argument("--sustained", type=argtypes.positive_float, metavar="MINUTES",
                        help="run each cell alone, without pause, this long: p50 per minute, drift, CPU clock and temperature")
    timing.add_argument("--forks", type=argtypes.positive_int, metavar="N",
                        help="worker processes per cell, each timed over its share of the group's rounds (default 1): "
                        "a speed that belongs to one process shows as forks that disagree")
    timing.add_argument("--host-check", choices=("leave-out", "record"),
                        help="slices the co-run probe read slower than the host's best: left out and repeated like "
                        "slices another process disturbed (default), or only recorded")
    timing.add_argument("--threads", type=argtypes.positive_int, help="intra-op threads for every runtime (default: the CPUs this process may use: affinity and cgroup quota)")
    timing.add_argument("--cuda-graphs", action="store_true",
                        help="GPU runtimes replay one captured CUDA graph per call (as trtexec --useCudaGraph)")
    timing.add_argument("--timeout", type=argtypes.positive_float, metavar="S", help="time limit of one cell's process")
    _add_output_args(run, "run folder (default edgebench-runs/<time>-<suite>)",
                     "finish an interrupted run without redoing finished cells")
    _add_lab_args(run)

    export = sub.add_parser("export", help="write a suite's artifacts (every runtime and precision) into a folder "
                            "that `edgebench run --artifacts` measures on another machine")
    _add_model_args(export)
    export.add_argument("--out", required=True, metavar="DIR", type=argtypes.folder_to_write, help="the artifacts folder to write (new or empty)")
    export.add_argument("--cache-dir", metavar="DIR", type=argtypes.folder_to_write, help="export cache (default ~/.cache/edgebench)")
    export.add_argument("--seed", type=argtypes.seed, default=0, help="seed of random weights")
    export.set_defaults(quick=False, warmup=None, warmup_duration=None, host_check=None, iterations=None, duration=None,
                        max_duration=None, threads=None,
                        median_ci=None, sustained=None, forks=None,
                        timeout=None, cuda_graphs=False, device_name=None, resume=None, artifacts=None)

    optimize = sub.add_parser("optimize", help="search runtimes, precisions and quantisation recipes for the "
                              "fastest (or smallest) deployment within an accuracy budget")
    _add_model_args(optimize, calib_help="calibration images, the first of three disjoint roles of --data "
                    "(default 30%% of it, at most 300: INT8 ranges settle within a few hundred images, and every image "
                    "more is lost to accuracy; with --calib-data, 300 of that folder). With 500 images the defaults "
                    "are 150 calibration, 150 selection, 200 report")
    roles = optimize.add_argument_group("image roles: what decides is never what reports (seeded, disjoint, lists in "
                                        "the search folder's images/)")
    roles.add_argument("--selection-images", type=argtypes.positive_int, metavar="N",
                       help="images every decision reads: the screen (its first --screen-images), the full "
                       "evaluation, tie-breaks and NNCF's accuracy control (default 30%% of --data, at most 1000: each "
                       "surviving candidate is evaluated on all of them)")
    roles.add_argument("--report-images", type=argtypes.positive_int, metavar="N",
                       help="images held out from every decision, on which the final round's deployments, the chosen "
                       "one's top-1 and drop included, are reported (default the rest of --data, at most 2000: the "
                       "largest share, as theirs is the interval a user reads)")
    goal = optimize.add_argument_group("what to find")
    goal.add_argument("--max-accuracy-drop", type=argtypes.percent, metavar="D",
                      help="top-1 drop against the FP32 reference, in points")
    goal.add_argument("--accuracy-bound", choices=("estimate", "upper"), default="estimate",
                      help="apply --max-accuracy-drop to the drop's estimate (default: a few hundred images give "
                      "intervals wider than a 0.5-point budget, which would reject even lossless recipes) or to "
                      "its 95%% interval's upper end (needs more images)")
    goal.add_argument("--max-latency-ms", type=argtypes.non_negative_float, metavar="X", help="p50 latency per call")
    goal.add_argument("--max-size-mb", type=argtypes.non_negative_float, metavar="Z", help="size of the shipped file(s)")
    goal.add_argument("--max-memory-mb", type=argtypes.non_negative_float, metavar="W", help="peak host memory (RSS)")
    goal.add_argument("--objective", choices=("latency", "size", "throughput", "accuracy"), default="latency")
    goal.add_argument("--budget", type=argtypes.positive_float, default=30.0, metavar="MINUTES",
                      help="time the search may take (default 30); what does not fit is listed as not tried")
    goal.add_argument("--screen-images", type=argtypes.positive_int, default=100, metavar="N",
                      help="selection images the first, cheap fidelity check uses (default 100, at most "
                      "--selection-images)")
    timing = optimize.add_argument_group("timing of the final round")
    timing.add_argument("--quick", action="store_true", help="short timing profile for the final round")
    timing.add_argument("--max-duration", type=argtypes.positive_float, metavar="S",
                        help="cap on timed seconds per deployment in the final round (default 8, --quick 5)")
    timing.add_argument("--host-check", choices=("leave-out", "record"),
                        help="probe and final-round slices the co-run probe read slower than the host's best: left "
                        "out and repeated (default), or only recorded")
    timing.add_argument("--threads", type=argtypes.positive_int, help="intra-op threads for every runtime")
    timing.add_argument("--timeout", type=argtypes.positive_float, metavar="S", help="time limit of one cell's process")
    _add_output_args(optimize, "search folder (default edgebench-runs/<time>-optimize)",
                     "finish an interrupted search without redoing finished stages")
    optimize.set_defaults(warmup=None, warmup_duration=None, iterations=None, duration=None, median_ci=None,
                          forks=None, sustained=None, cuda_graphs=False, artifacts=None)

    report = sub.add_parser("report", help="render tables, plots, HTML, CSV and JSON from run folders (no measuring)")
    report.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders, from one or several machines")
    report.add_argument("--out", metavar="DIR", type=argtypes.folder_to_write, help="write report.md, report.html, plots, CSV and JSON there "
                        "(default: print the Markdown)")
    report.add_argument("--baseline", metavar="RUN_DIR", action="append", default=[],
                        help="an earlier run to compare with: regressions beyond the noise are flagged (repeatable)")
    report.add_argument("--alpha", type=argtypes.probability, default=0.01,
                        help="with --baseline: significance level of the regression test (default 0.01)")
    report.add_argument("--threshold", type=argtypes.non_negative_float, default=5.0, metavar="PCT",
                        help="with --baseline: smallest slow-down worth flagging, in percent (default 5)")
    report.add_argument("--fail-on-regression", action="store_true",
                        help="with --baseline: exit with status 4 when a regression is found (for CI)")

    pick = sub.add_parser("pick", help="rank the measured deployments that meet your constraints")
    pick.add_argument("runs", nargs="+", metavar="RUN_DIR")
    pick.add_argument("--device", metavar="NAME", help="the machine to pick for (needed when the runs hold several)")
    pick.add_argument("--batch-size", type=argtypes.positive_int, default=1, metavar="B", help="batch size (default 1)")
    pick.add_argument("--max-latency-ms", type=argtypes.non_negative_float, metavar="X", help="latency per call at --batch-size")
    pick.add_argument("--latency-stat", choices=("p50", "p90", "p99", "mean"), default="p50",
                      help="which latency --max-latency-ms and the latency objective use (default p50)")
    pick.add_argument("--min-top1", type=argtypes.percent, metavar="Y", help="top-1 accuracy in percent (0-100)")
    pick.add_argument("--max-size-mb", type=argtypes.non_negative_float, metavar="Z", help="size of the shipped file(s)")
    pick.add_argument("--max-memory-mb", type=argtypes.non_negative_float, metavar="W", help="peak host memory (RSS) of the process")
    pick.add_argument("--max-gpu-memory-mb", type=argtypes.non_negative_float, metavar="G",
                      help="GPU memory of the process (CPU runtimes use none)")
    pick.add_argument("--max-accuracy-drop", type=argtypes.percent, metavar="D",
                      help="top-1 drop against the model's FP32 reference, in points")
    pick.add_argument("--objective", choices=("latency", "accuracy", "size", "throughput"), default="latency",
                      help="what to rank by (default latency)")
    pick.add_argument("--eval-set", metavar="NAME", help="compare top-1 on this evaluation set (folder name or id); "
                      "needed when top-1 is compared and the runs hold several")
    pick.add_argument("--top", type=argtypes.positive_int, default=10, metavar="N", help="show this many (default 10)")
    pick.add_argument("--json", action="store_true", help="print JSON for scripts")

    lister = sub.add_parser("list", help="list models, suites or runtimes")
    lister.add_argument("what", choices=("models", "suites", "runtimes"))
    lister.add_argument("--suite", help="with models: the models of this suite")
    lister.add_argument("--source", choices=("timm", "torchvision"), help="with models: every model of this source")

    doctor = sub.add_parser("doctor", help="show this machine and which runtimes can run here")
    doctor.add_argument("--json", action="store_true",
                        help="print one JSON object for scripts: the machine record, the sensors and the runtimes")

    lab = sub.add_parser("lab", help="the device lab: add boards, show places and holders (labgrid)")
    lab_sub = lab.add_subparsers(dest="action", required=True)
    status = lab_sub.add_parser("status", help="places, their tags and holders, waiting reservations, boards that answer")
    add = lab_sub.add_parser("add", help="add a board: a NetworkService in the exporter's YAML and a place with tags")
    add.add_argument("name", help="the board's (and its place's) name")
    add.add_argument("--ssh", required=True, metavar="USER@HOST[:PORT]", help="how the host logs in to the board")
    add.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a place tag (repeatable)")
    add.add_argument("--exporter-config", default="exporter.yaml", metavar="FILE",
                     help="the exporter's YAML to write (default exporter.yaml)")
    add.add_argument("--exporter", default="lab", metavar="NAME", help="the exporter's name (-n; default lab)")
    for action in (status, add):
        action.add_argument("--coordinator", metavar="HOST:PORT", help=COORDINATOR_HELP)
    status.add_argument("--ssh-key", metavar="FILE", help="probe each board over SSH with this key")
    status.add_argument("--known-hosts", metavar="FILE", help="the boards' host keys")
    status.add_argument("--no-probe", action="store_true", help="do not log in to the boards")
    board = lab_sub.add_parser("board", help="(on a board; `run --on` starts it over SSH) run and stream result lines")
    board.add_argument("work", help="the board's folder for this run")
    board.add_argument("--resume", action="store_true", help="continue the run in WORK/run (give it before WORK)")
    board.add_argument("run_args", nargs=argparse.REMAINDER, help="-- then `edgebench run` options")

    env = sub.add_parser("env", help="environments of their own for toolchains that conflict with the core")
    env.add_argument("action", choices=("create", "list"))
    env.add_argument("toolchain", nargs="?", help="with create: the toolchain (litert)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 1 a cell failed, 2 bad input, 3 nothing qualifies (pick), 4 a regression
    (report --fail-on-regression), 70 a bug in edgebench (traceback in a log), 130 interrupted."""
    import time

    argv = list(sys.argv[1:] if argv is None else argv)
    started = time.time()
    args = build_parser().parse_args(argv)
    try:
        commands = {"run": cmd_run, "optimize": cmd_optimize, "export": cmd_export, "report": cmd_report, "pick": cmd_pick, "list": cmd_list, "doctor": cmd_doctor,
                    "env": cmd_env, "lab": cmd_lab}
        return commands[args.command](args)
    except EdgebenchError as exc:
        print(f"edgebench: error: {_flat(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgebench: interrupted; finished cells are saved (resume with --resume RUN_DIR)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `edgebench report RUN | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0
    except OSError as exc:
        if exc.errno in _USER_OS_ERRORS:  # the machine, not edgebench: a full disk, a read-only or forbidden folder
            where = f" ({exc.filename})" if exc.filename else ""
            print(f"edgebench: error: {exc.strerror}{where}; free space or choose a writable folder", file=sys.stderr)
            return EXIT_BAD_INPUT
        return _bug(exc, argv, args, started)
    except Exception as exc:  # anything else is a bug: one line, the traceback in a log, results untouched
        return _bug(exc, argv, args, started)


def _flat(message: str) -> str:
    """A message as one line (a runtime's multi-line reason would otherwise spill over the terminal)."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _bug(exc: Exception, argv: list[str], args: argparse.Namespace, started: float) -> int:
    from edgebench.crash_log import log_folders, one_line, write_log

    try:
        log = write_log(exc, argv, log_folders(args.command, vars(args), started))
    except Exception:  # the crash path must not crash
        log = None
    where = f"full traceback in {log}" if log else "no log could be written"
    print(f"edgebench: internal error (a bug in edgebench): {_flat(one_line(exc))}; {where}; "
          "results already written are intact; please report it with the log", file=sys.stderr)
    return EXIT_BUG


def _profile(args: argparse.Namespace):
    """The timing profile the command line asks for."""
    from edgebench.config import make_profile
    from edgebench.harness.timing import PROFILES

    name = "quick" if args.quick else "default"
    min_s = args.duration
    if min_s is None and args.max_duration is not None:  # a cap alone lowers the profile's minimum to it
        min_s = min(PROFILES[name].min_s, args.max_duration)
    warmup_cap = None  # a warm-up asked to last longer than the profile's cap is given its length
    if args.warmup_duration is not None:
        warmup_cap = max(PROFILES[name].warmup_max_s, args.warmup_duration)
    return make_profile(name, warmup_iters=args.warmup, warmup_s=args.warmup_duration, warmup_max_s=warmup_cap,
                        min_iters=args.iterations, min_s=min_s, max_s=args.max_duration, target_pct=args.median_ci,
                        forks=args.forks, host_check=args.host_check)


def _run_config(args: argparse.Namespace):
    from edgebench.config import RunConfig
    from edgebench.quantize.base import QuantOptions

    profile = _profile(args)
    onnx_options: dict[str, Any] = {"input_shape": args.input_shape, "mean": args.mean, "std": args.std,
                                    "interpolation": args.interpolation, "crop_pct": args.crop_pct,
                                    "channel_order": args.channel_order, "model_config": args.model_config}
    timeouts = {"cell_timeout_s": args.timeout} if args.timeout else {}
    return RunConfig(
        models=tuple(args.model), suite=args.suite, runtimes=tuple(args.runtime) or None,
        precisions=tuple(args.precision) or ("fp32",), batch_sizes=tuple(args.batch_size) or (1, 32),
        weights=args.weights, checkpoint=args.checkpoint, threads=args.threads, profile=profile, seed=args.seed,
        sustained_min=args.sustained,
        cache_dir=args.cache_dir, device_name=args.device_name,
        onnx_options={k: v for k, v in onnx_options.items() if v is not None}, **timeouts,
        data=args.data, labels=args.labels, class_map=args.class_map, calib_data=args.calib_data, limit=args.limit,
        calib_size=args.calib_size, allow_calib_overlap=args.allow_calib_overlap,
        quant=QuantOptions(calib_method=args.calib_method, ort_format=args.ort_quant_format,
                           ort_activations=args.ort_activations, reduce_range=args.reduce_range,
                           per_channel=not args.no_per_channel, ort_preprocess=args.ort_preprocess,
                           nncf_preset=args.nncf_preset, trt_int8=args.trt_int8, float_tail=args.float_tail),
        cuda_graphs=args.cuda_graphs, artifacts=str(Path(args.artifacts).resolve()) if args.artifacts else None,
    )


def _resolve(config, check_available: bool = True) -> tuple[list, list[str]]:
    from edgebench.models import resolve_model, resolve_suite
    from edgebench.runtimes import default_runtimes, expand_runtimes, get_runtime

    if config.models:
        # One model named twice (onnx:net.onnx and onnx:./net.onnx are one file) is measured once.
        unique: dict[tuple[str, str], Any] = {}
        for model_id in config.models:
            spec = resolve_model(model_id, config.onnx_options)
            unique.setdefault((spec.source, spec.name), spec)
        specs = list(unique.values())
    else:
        specs = resolve_suite(config.suite or "quick")
    if config.checkpoint:  # keys that do not fit the model: one line now, not a failure in every cell
        from edgebench.models.torch_models import check_checkpoint_fits

        check_checkpoint_fits(specs[0], config.checkpoint)
    runtimes, named = expand_runtimes(config.runtimes) if config.runtimes else (list(default_runtimes()), set())
    for name in runtimes:
        runtime = get_runtime(name)
        if check_available and name in named:  # asked for by name: it must be usable
            available = runtime.availability()
            if not available.ok:
                raise ConfigError(f"runtime {name} is not available: {available.reason}")
    return specs, runtimes


def cmd_run(args: argparse.Namespace) -> int:
    from edgebench.data.evalset import select_images
    from edgebench.pipeline.sweep import Sweep, load_run_config, prepare_run_dir
    from edgebench.lab.runfolder import is_lab_run
    from edgebench.machine.env import usable_cpus
    from edgebench.progress import SweepProgress

    if args.on or (args.resume and is_lab_run(Path(args.resume))):
        from edgebench.lab.cli import run_on_lab

        return run_on_lab(args, _run_config, _resolve, run_summary)
    from edgebench.lab.cli import refuse_lab_flags

    refuse_lab_flags(args)  # a lab option without --on would be ignored: said instead
    if args.resume:
        from edgebench.pipeline.resume import ignored_flags

        run_dir = Path(args.resume)
        config = load_run_config(run_dir)
        ignored = ignored_flags(vars(args), vars(build_parser().parse_args(["run"])))
        if ignored:
            print(f"edgebench: --resume ignores {' '.join(ignored)}: the run's configuration is fixed in "
                  f"{run_dir / 'run.json'}", file=sys.stderr)
    else:
        config = _run_config(args)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.out) if args.out else Path("edgebench-runs") / f"{stamp}-{config.suite_name}"
    if config.artifacts:
        config, manifest, runtimes = _from_artifacts(config, args)
    else:
        specs, runtimes = _resolve(config)
    # Detectors, segmenters and depth models take unlabelled images too: scored against their own FP32 outputs.
    unlabelled = any(spec.task != "classify" for spec in specs) if not config.artifacts else False
    images = select_images(**config.image_options(), unlabelled=unlabelled)  # bad folders stop the run here
    if not args.resume:
        prepare_run_dir(run_dir, config, images)
    threads = config.threads or usable_cpus()
    with SweepProgress(0) as progress:
        build = None
        if config.artifacts:
            from edgebench.pipeline.bundle import BundleBuild

            build = BundleBuild(config, manifest, images, run_dir / "logs", threads, progress.log)
            specs = build.specs
        sweep = Sweep(config, specs, runtimes, run_dir, images=images, build=build, progress=progress)
        if args.resume:
            sweep.check_resumable()  # before run() rewrites environment.json
        results = sweep.run()
    page = run_summary(run_dir)
    (run_dir / "table.md").write_text(page)
    print(page)
    print(f"\nresults: {run_dir / 'results.jsonl'}\ntable:   {run_dir / 'table.md'}\n"
          f"report (plots, HTML, CSV): edgebench report {run_dir} --out {run_dir / 'report'}")
    failed = [r for r in results if r["status"] == "failed"]
    return EXIT_FAILED_CELLS if failed else 0


def cmd_optimize(args: argparse.Namespace) -> int:
    import json
    import shlex

    from edgebench.data.evalset import DEFAULT_CALIB_SIZE, RoleSizes, select_images, split_roles
    from edgebench.optimize.log import read_summary
    from edgebench.optimize.outcome import markdown
    from edgebench.optimize.search import Optimize
    from edgebench.optimize.strategy import Goal
    from edgebench.pipeline.sweep import load_run_config, prepare_run_dir
    from edgebench.progress import SweepProgress
    from edgebench.results.store import ResultStore

    if args.resume:
        run_dir = Path(args.resume)
        summary = read_summary(run_dir)
        if not summary:
            raise ConfigError(f"{run_dir} holds no optimize search (no optimize.json); give the folder "
                              "`edgebench optimize --out` wrote")
        config = load_run_config(run_dir)
        goal, budget, command = Goal(**summary["goal"]), summary["budget_min"], summary["command"]
        screen_images = summary.get("screen_images", 100)
        if not summary.get("image_sizes"):
            raise ConfigError(f"{run_dir} is a search from before the selection and report images were split; "
                              "start a new search (its builds are cached)")
        sizes = RoleSizes(**summary["image_sizes"])
    else:
        if not args.data:
            raise ConfigError("edgebench optimize needs --data DIR (evaluation images with labels): accuracy is what "
                              "the search trades for speed")
        if len(args.batch_size) > 1:
            raise ConfigError("edgebench optimize searches at one batch size; give --batch-size once")
        if args.limit:
            raise ConfigError("edgebench optimize sizes its images with --calib-size, --selection-images and "
                              "--report-images, not --limit")
        sizes = _search_image_sizes(args)
        # select_images' calibration slice is the calibration role; its first selection + report images the rest
        calib_size = sizes.calibration if not args.calib_data else (args.calib_size or DEFAULT_CALIB_SIZE)
        config = _run_config(argparse.Namespace(**{**vars(args), "calib_size": calib_size,
                                                   "limit": sizes.selection + sizes.report}))
        if len(config.models) != 1:
            raise ConfigError("edgebench optimize searches for one model; give --model once")
        goal = Goal(objective=args.objective, batch_size=args.batch_size[0] if args.batch_size else 1,
                    max_drop_pt=args.max_accuracy_drop, bound=args.accuracy_bound, max_latency_ms=args.max_latency_ms,
                    max_size_mb=args.max_size_mb, max_memory_mb=args.max_memory_mb)
        budget, screen_images = args.budget, args.screen_images
        from dataclasses import replace

        from edgebench.config import PRECISIONS
        from edgebench.runtimes import default_runtimes

        # Every precision unless --precision narrows the search (FP32 stays: it is what the drop is taken against).
        precisions = tuple(dict.fromkeys(["fp32", *args.precision])) if args.precision else PRECISIONS
        # Every runtime that may run here: the defaults (GPU ones where a GPU is), and the mobile runtimes, which
        # are skipped with their reason where not installed or where the model has no PyTorch implementation.
        runtimes = tuple(args.runtime) or (*default_runtimes(), "mobile")
        config = replace(config, batch_sizes=(goal.batch_size,), precisions=precisions, runtimes=runtimes)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.out) if args.out else Path("edgebench-runs") / f"{stamp}-optimize"
        command = "edgebench " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["optimize"] \
            else "edgebench optimize ..."
    specs, runtimes = _resolve(config)
    from dataclasses import replace as with_figure

    from edgebench.tasks import FIGURE_NAMES, TASK_FIGURE

    goal = with_figure(goal, figure=FIGURE_NAMES[TASK_FIGURE[specs[0].task]])  # the budget's points are the task's
    images = split_roles(select_images(**config.image_options()), sizes)
    if args.resume:
        _check_search_images(run_dir, images)
    else:
        prepare_run_dir(run_dir, config, images.report)  # images/eval.txt: the report images; images/calib.txt
        images.write_selection_list(run_dir)
    with SweepProgress(0) as progress:
        search = Optimize(config, specs[0], runtimes, goal, budget, run_dir, images, command, say=progress.log,
                          progress=progress, screen_images=screen_images)
        search.summary.update(screen_images=screen_images, image_sizes=sizes.to_dict())
        summary = search.run()
    sensitivity_path = run_dir / "sensitivity.json"
    sensitivity = json.loads(sensitivity_path.read_text()) if sensitivity_path.exists() else None
    page = markdown(summary, ResultStore(run_dir).load(), sensitivity)
    (run_dir / "optimize.md").write_text(page)
    print(page)
    print(f"search: {run_dir / 'optimize.md'}\nreport: edgebench report {run_dir} --out {run_dir / 'report'}")
    return 0 if summary.get("chosen") else 3


def _search_image_sizes(args: argparse.Namespace):
    """The sizes of optimize's three image roles from --data's count and the flags (None: the default share)."""
    from edgebench.data.evalset import role_sizes
    from edgebench.data.layouts import open_dataset

    total = len(open_dataset(args.data, labels=args.labels, class_map=args.class_map).samples)
    return role_sizes(total, calibration=None if args.calib_data else args.calib_size,
                      selection=args.selection_images, report=args.report_images, calib_from_data=not args.calib_data)


def _check_search_images(run_dir: Path, images) -> None:
    """A resumed search must find the images it started with, in every role."""
    from edgebench.data.evalset import SELECTION_LIST, image_lists
    from edgebench.pipeline.resume import check_images

    check_images(run_dir, images.report)
    path = run_dir / SELECTION_LIST
    if path.exists() and path.read_text() != image_lists(images.selection).get("eval", ""):
        raise ConfigError(f"the selection images found now differ from those the search started with ({path}): the "
                          "folder's images changed; start a new search")


def _from_artifacts(config, args: argparse.Namespace):
    """The run of an artifacts folder: its models; its runtimes and precisions unless named here."""
    from dataclasses import replace

    from edgebench.config import PRECISIONS
    from edgebench.export.bundle import load_manifest, shipped_runtimes
    from edgebench.runtimes import expand_runtimes, get_runtime

    if config.models or config.suite or config.checkpoint:
        raise ConfigError("--artifacts brings its own models; drop --model/--suite/--checkpoint")
    manifest = load_manifest(Path(config.artifacts))
    exported = manifest["config"]
    precisions = config.precisions if args.resume or args.precision else tuple(exported["precisions"])
    runtimes, named = expand_runtimes(config.runtimes) if config.runtimes else (shipped_runtimes(manifest), set())
    for name in named:
        available = get_runtime(name).availability()
        if not available.ok:
            raise ConfigError(f"runtime {name} is not available: {available.reason}")
    config = replace(config, precisions=tuple(p for p in PRECISIONS if p in precisions),
                     runtimes=tuple(runtimes), quant=type(config.quant)(**exported["quant"]))
    return config, manifest, runtimes


def cmd_export(args: argparse.Namespace) -> int:
    from edgebench.data.evalset import select_images
    from edgebench.export.bundle import MANIFEST, export_bundle

    config = _run_config(args)
    specs, runtimes = _resolve(config, check_available=False)  # the device runs them, not necessarily this machine
    if not args.runtime:  # by default: the CPU runtimes whose artifacts travel, and the mobile ones
        from edgebench.runtimes import MOBILE_RUNTIMES

        runtimes = ["onnxruntime", "openvino", *MOBILE_RUNTIMES]
    images = select_images(**config.image_options())
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    manifest = export_bundle(config, specs, runtimes, Path(args.out), images, say)
    done = sum(len(m["artifacts"]) for m in manifest["models"])
    missing = sum(len(m["not_exported"]) for m in manifest["models"])
    print(f"{done} artifacts of {len(manifest['models'])} models in {args.out} ({missing} not exported, "
          f"reasons in {Path(args.out) / MANIFEST}); measure them on a device with:\n"
          f"  edgebench run --artifacts {args.out} [--data DIR]")
    return 0


def run_summary(run_dir: Path) -> str:
    """The Markdown tables of a finished run (the full report, with plots, is `edgebench report`)."""
    from edgebench.report.build import build
    from edgebench.report.document import to_markdown
    from edgebench.report.runs import load_run

    try:
        return to_markdown(build([load_run(run_dir)], None)[0])
    except Exception as exc:  # the results are safe on disk; a rendering bug must not hide that
        return (f"(the tables could not be rendered: {type(exc).__name__}: {exc}; the results are in "
                f"{run_dir / 'results.jsonl'})")


def cmd_report(args: argparse.Namespace) -> int:
    from edgebench.report.build import report_command

    return report_command(args)


def cmd_pick(args: argparse.Namespace) -> int:
    from edgebench.report.pick import pick_command

    return pick_command(args)


def cmd_list(args: argparse.Namespace) -> int:
    from edgebench.models import list_suites, resolve_suite
    from edgebench.runtimes import REGISTRY, get_runtime

    if args.what == "suites":
        for name, text in list_suites().items():
            print(f"{name:<12} {text}")
    elif args.what == "runtimes":
        for name in REGISTRY:
            runtime = get_runtime(name)
            available = runtime.availability()
            state = f"available ({runtime.version()})" if available.ok else f"unavailable: {available.reason}"
            print(f"{name:<20} {runtime.device:<4} {','.join(runtime.precisions):<34} {state}")
    elif args.source:
        if args.source == "timm":
            import timm

            names = timm.list_models()
        else:
            import torchvision.models as tvm

            names = tvm.list_models(module=tvm)
        print("\n".join(f"{args.source}:{n}" for n in names))
    else:
        suites = [args.suite] if args.suite else list(list_suites())
        for suite in suites:
            print(f"{suite}:")
            for spec in resolve_suite(suite):
                note = "" if spec.available else f"  ({spec.unavailable_reason})"
                print(f"  {spec.id}{note}")
        if not args.suite:
            print("any timm:<name> or torchvision:<name> (see --source), transformers:<hub id> (see the tasks suite), "
                  "onnx:<path> or tflite:<path>")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from edgebench.machine.env import capture
    from edgebench.machine.sensors import describe_sensors, read_sensors

    machine = capture()
    if args.json:
        import json

        from edgebench.runtimes import REGISTRY, get_runtime

        runtimes = {}
        for name in REGISTRY:
            runtime = get_runtime(name)
            available = runtime.availability()
            runtimes[name] = {"device": runtime.device, "precisions": list(runtime.precisions), "available": available.ok,
                              "version": runtime.version() if available.ok else None,
                              "reason": None if available.ok else available.reason}
        print(json.dumps({"machine": machine, "sensors": read_sensors(), "runtimes": runtimes}, indent=1, default=str))
        return 0
    print("\n".join(_readable(machine)))
    print("\n" + describe_sensors().replace("sensors:", "sensors (read by --sustained):", 1) + "\n")
    return cmd_list(argparse.Namespace(what="runtimes", suite=None, source=None))


def _readable(record: dict[str, Any], indent: int = 0) -> list[str]:
    """A machine record for a person: aligned "key: value" lines, nested records indented, lists joined."""
    pad = " " * indent
    width = max((len(str(key)) for key in record), default=0) + 1
    lines = []
    for key, value in record.items():
        label = f"{pad}{str(key) + ':':<{width}}"
        if isinstance(value, dict) and value:
            lines += [f"{pad}{key}:", *_readable(value, indent + 2)]
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            lines.append(f"{pad}{key}:")
            for number, item in enumerate(value, 1):
                lines += ([f"{pad}  {number}.", *_readable(item, indent + 4)] if isinstance(item, dict)
                          else [f"{pad}  {number}. {_plain(item)}"])
        else:
            lines.append(f"{label} {_plain(value)}")
    return lines


def _plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return "none" if value is None or value == {} else str(value)


def cmd_lab(args: argparse.Namespace) -> int:
    from edgebench.lab.cli import lab_command

    return lab_command(args)


def cmd_env(args: argparse.Namespace) -> int:
    from edgebench import toolchains

    if args.action == "list":
        for name in toolchains.TOOLCHAINS:
            print(toolchains.describe(name))
        return 0
    if not args.toolchain:
        raise ConfigError(f"say which toolchain to create: edgebench env create {'|'.join(toolchains.TOOLCHAINS)}")
    folder = toolchains.create(args.toolchain, say=lambda text: print(text, file=sys.stderr, flush=True))
    print(f"{args.toolchain}: ready in {folder}; `edgebench run --runtime {args.toolchain}` converts with it")
    return 0
