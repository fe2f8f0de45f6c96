"""A device lab on this machine, for trying `edgebench run --on` and for the lab evidence in reports/.

Starts BOARDS OpenSSH servers on local ports (each pinned with taskset to the CPU given for it), a labgrid
coordinator and exporter on localhost with one place per board (tags: --tags, and cpu=N), runs each
--command as `edgebench COMMAND <lab options>`, and stops everything. With --kill-board, the first command
runs in the background until that board has sent --after result lines, the board is unplugged (its sshd and
everything under it killed), the command ends, the board is started again, and the next commands run. With
--kill-host, the first command itself is killed (SIGKILL, with its ssh sessions) once the boards have sent --after
lines, and the places held then and at the end are shown.

  python scripts/local_lab.py --boards 3 --cpus 0,1,1 --tags kind=local \\
      --command "run --on kind=local --suite quick --quick --out /tmp/lab-run"

Needs sshd (scripts/install-system.sh) and labgrid (pip install "edgebench[lab]"). The lab's files (keys,
known_hosts, exporter.yaml, logs) are in --folder.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))

import labkit  # noqa: E402


def done_lines(run_dir: Path, board: str) -> int:
    try:
        with sqlite3.connect(run_dir / "lab.sqlite") as db:
            return db.execute("SELECT count(*) FROM lab_cells WHERE board = ? AND state = 'done'", (board,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def held(lab: labkit.Lab) -> dict[str, str | None]:
    from edgebench.lab.coordinator import LabClient

    client = LabClient(lab.coordinator.address)
    try:
        return {name: place.acquired for name, place in sorted(client.places().items())}
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", type=int, default=3)
    parser.add_argument("--cpus", default="0,1,1", help="the CPU each board is pinned to, in order")
    parser.add_argument("--tags", default="kind=local", help="tags of every board's place")
    parser.add_argument("--folder", default="/tmp/edgebench-local-lab")
    parser.add_argument("--command", action="append", default=[], help="an edgebench command line (repeatable)")
    parser.add_argument("--kill-board", metavar="NAME", help="unplug this board during the first command")
    parser.add_argument("--kill-host", action="store_true",
                        help="kill the first command (the host: SIGKILL to it and its ssh sessions) instead")
    parser.add_argument("--after", type=int, default=1, help="... once the board (or, with --kill-host, all boards) "
                        "has sent this many result lines")
    args = parser.parse_args()
    why = labkit.missing()
    if why:
        print(f"local_lab: cannot make a lab here: {why}", file=sys.stderr)
        return 2
    cpus = [int(c) for c in args.cpus.split(",")]
    names = [f"board-{i + 1}" for i in range(args.boards)]
    tags = dict(pair.split("=", 1) for pair in args.tags.split(","))
    lab = labkit.Lab(Path(args.folder), names, [cpus[i % len(cpus)] for i in range(args.boards)], tags)
    print(f"local_lab: {', '.join(f'{n} on CPU {b.cpu} (port {b.port})' for n, b in lab.boards.items())}; "
          f"coordinator {lab.coordinator.address}", file=sys.stderr, flush=True)
    code = 0
    try:
        for number, command in enumerate(args.command):
            words = [sys.executable, "-m", "edgebench", *shlex.split(command), *lab.ssh_args()]
            started = time.monotonic()
            if number == 0 and args.kill_host:
                out = Path(shlex.split(command)[shlex.split(command).index("--out") + 1])
                process = subprocess.Popen(words, start_new_session=True)
                while sum(done_lines(out, n) for n in names) < args.after and process.poll() is None:
                    time.sleep(0.2)
                print(f"local_lab: killing the host (SIGKILL to its process group) after "
                      f"{sum(done_lines(out, n) for n in names)} lines", file=sys.stderr, flush=True)
                os.killpg(process.pid, signal.SIGKILL)
                code = process.wait()
                print(f"local_lab: places held now: {held(lab)}", file=sys.stderr, flush=True)
            elif number == 0 and args.kill_board:
                out = Path(shlex.split(command)[shlex.split(command).index("--out") + 1])
                process = subprocess.Popen(words)
                while done_lines(out, args.kill_board) < args.after and process.poll() is None:
                    time.sleep(0.2)
                print(f"local_lab: unplugging {args.kill_board} after {done_lines(out, args.kill_board)} lines",
                      file=sys.stderr, flush=True)
                lab.boards[args.kill_board].kill()
                code = process.wait()
                lab.boards[args.kill_board].start()
                print(f"local_lab: {args.kill_board} is back", file=sys.stderr, flush=True)
            else:
                code = subprocess.run(words).returncode
            print(f"local_lab: `edgebench {command}` exit {code}, {time.monotonic() - started:.1f} s",
                  file=sys.stderr, flush=True)
        if args.kill_host:
            print(f"local_lab: places held at the end: {held(lab)}", file=sys.stderr, flush=True)
    finally:
        lab.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
