"""The command-line side of the lab: ``edgebench run --on`` / ``--resume`` of a lab run, and ``edgebench lab``."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from edgebench.errors import ConfigError

# The `edgebench run` options a board's run is given as they were given here (its timing, batches, seed).
BOARD_FLAGS = ("quick", "warmup", "warmup_duration", "iterations", "duration", "max_duration", "median_ci",
               "sustained", "forks", "host_check", "threads", "timeout", "batch_size", "precision", "seed",
               "cuda_graphs", "limit")  # not --labels/--class-map: host paths; the boards' images come with --board-data


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def board_args(args: argparse.Namespace, defaults: argparse.Namespace) -> list[str]:
    words: list[str] = []
    for name in BOARD_FLAGS:
        value = getattr(args, name)
        if value == getattr(defaults, name, None) or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        else:
            for item in value if isinstance(value, list) else [value]:
                words += [flag, str(item)]
    if args.board_data:
        words += ["--data", args.board_data]
    return words


# The options only a lab run reads, and the value each has when not given.
LAB_FLAGS = {"store": None, "coordinator": None, "ssh_key": None, "known_hosts": None, "accept_new_host_keys": False,
             "board_edgebench": None, "board_data": None, "parallel": None}


def refuse_lab_flags(args: argparse.Namespace) -> None:
    """A lab option on a run that is not a lab run (no --on, not the resume of one) is refused, not ignored."""
    if args.elsewhere:
        raise ConfigError("--elsewhere goes with --resume of a lab run (one started with --on)")
    given = [name for name, unset in LAB_FLAGS.items() if getattr(args, name) != unset]
    if given:
        flags = " ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(f"{flags} go with --on (a lab run) or the --resume of one; add --on TAGS or drop them")


def _ssh_options(args: argparse.Namespace):
    from edgebench.lab.ssh import SshOptions

    return SshOptions(key=Path(args.ssh_key).expanduser() if args.ssh_key else None,
                      known_hosts=Path(args.known_hosts).expanduser() if args.known_hosts else None,
                      accept_new=getattr(args, "accept_new_host_keys", False))


def _interrupt_on_signals() -> None:
    """Ctrl-C and SIGTERM (a job scheduler, `kill`) stop a lab run: every place released, every line kept. SIGINT
    is set too: a process started in the background by a shell inherits it ignored, and a lab run must not
    hold boards past an interrupt."""
    import signal

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_on_lab(args: argparse.Namespace, run_config: Callable[..., Any], resolve: Callable[..., Any],
               summary: Callable[[Path], str]) -> int:
    from edgebench.cli import EXIT_FAILED_CELLS, build_parser
    from edgebench.lab import fleet
    from edgebench.lab.coordinator import check_reachable, coordinator_address
    from edgebench.lab.runfolder import read_lab
    from edgebench.pipeline.sweep import load_run_config

    _interrupt_on_signals()
    if args.resume:
        run_dir = Path(args.resume)
        lab = read_lab(run_dir)
        config = load_run_config(run_dir)
        options = fleet.LabOptions(coordinator=coordinator_address(args.coordinator) if args.coordinator
                                   else lab["coordinator"], ssh=_ssh_options(args), parallel=args.parallel,
                                   elsewhere=args.elsewhere)
        code = fleet.resume(run_dir, Path(lab.get("bundle") or run_dir / "bundle"), options, config.cache_path, _say)
    else:
        if args.elsewhere:
            raise ConfigError("--elsewhere goes with --resume of a lab run")
        if args.device_name:
            raise ConfigError("--device-name does not go with --on: each board is reported under its place's name")
        tags = fleet.parse_tags(args.on)
        check_reachable(coordinator_address(args.coordinator))  # before building, and before a model is read
        config = run_config(args)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.out) if args.out else Path("edgebench-runs") / f"{stamp}-{config.suite_name}-lab"
        options = fleet.LabOptions(on=tags, coordinator=coordinator_address(args.coordinator), store=args.store,
                                   ssh=_ssh_options(args), board_edgebench=args.board_edgebench or "edgebench",
                                   parallel=args.parallel)
        code = _start(args, config, run_dir, options, resolve, board_args(args, build_parser().parse_args(["run"])))
    page = summary(run_dir)
    (run_dir / "table.md").write_text(page)
    print(page)
    print(f"\nstore: {run_dir / 'lab.json'} names it\nreport (every board): edgebench report {run_dir} --out "
          f"{run_dir / 'report'}")
    if code:
        print(f"unfinished or failed cells: see the table; edgebench run --resume {run_dir} finishes lost ones",
              file=sys.stderr)
    return EXIT_FAILED_CELLS if code else 0


def _start(args: argparse.Namespace, config: Any, run_dir: Path, options: Any, resolve: Callable[..., Any],
           words: list[str]) -> int:
    from edgebench.data.evalset import select_images
    from edgebench.export.bundle import export_bundle, load_manifest, shipped_runtimes
    from edgebench.lab import fleet
    from edgebench.models.spec import ModelSpec
    from edgebench.pipeline.plan import plan
    from edgebench.pipeline.sweep import prepare_run_dir

    if config.artifacts:
        bundle, specs, runtimes, images = Path(config.artifacts), [], [], None
        load_manifest(bundle)  # a folder that is not one is refused before any board is held
    else:
        specs, runtimes = resolve(config, check_available=False)  # the boards run them, not this host
        if not args.runtime:
            from edgebench.runtimes import MOBILE_RUNTIMES

            runtimes = ["onnxruntime", "openvino", *MOBILE_RUNTIMES]
        images = select_images(**config.image_options())
        bundle = run_dir / "bundle"
    prepare_run_dir(run_dir, config, images)

    def build() -> list[str]:
        if not config.artifacts:
            _say(f"building the artifacts here ({len(specs)} models, {', '.join(runtimes)})")
            export_bundle(config, specs, runtimes, bundle, images, _say)
        manifest = load_manifest(bundle)
        precisions = config.precisions if args.precision else tuple(manifest["config"]["precisions"])
        board_config = replace(config, precisions=precisions)
        models = [ModelSpec.from_dict(entry["spec"]) for entry in manifest["models"]]
        return [cell.key for cell in plan(models, shipped_runtimes(manifest), board_config)]

    return fleet.start(bundle, run_dir, options, words, config.cache_path, _say, build)


def lab_command(args: argparse.Namespace) -> int:
    if args.action == "board":
        from edgebench.lab.board import follow

        words = args.run_args[1:] if args.run_args[:1] == ["--"] else args.run_args
        return follow(Path(args.work), words, args.resume)
    from edgebench.lab.coordinator import LabClient, coordinator_address

    client = LabClient(coordinator_address(args.coordinator))
    try:
        if args.action == "add":
            from edgebench.lab.describe import add_board
            from edgebench.lab.fleet import parse_tags

            add_board(client, args.name, args.ssh, parse_tags(args.tag), Path(args.exporter_config), args.exporter, _say)
        else:
            from edgebench.lab.describe import status

            print(status(client, None if args.no_probe else _ssh_options(args)))
    finally:
        client.close()
    return 0
