"""``edgebench run --on TAGS``: one run measured on every board whose place has those tags.

The host plans and builds (``edgebench export``: it has torch and the converters), then, per board and
in parallel: reserve the place and wait for it (the coordinator queues us behind whoever holds it),
acquire it, copy the artifacts over, run ``edgebench lab board`` there over SSH and store each result
line as it arrives, and release the place whatever happens. A board that drops marks its unfinished
cells ``device-lost`` and the others go on; ``--resume`` finishes them on the same board, or with
``--elsewhere`` on another board with the same tags.
"""
from __future__ import annotations

import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from edgebench.errors import ConfigError
from edgebench.lab.coordinator import LabClient, LabError, check_reachable
from edgebench.lab.holds import Holds
from edgebench.lab.lines import CONTROL, MAX_LINE_BYTES, Rejected, parse_line
from edgebench.lab.runfolder import check_run, read_lab, store_location, write_lab
from edgebench.lab.ssh import Board, SshOptions, Tail, last_line, remote, ship, ssh
from edgebench.lab.store import SQLITE_FILE, LabStore, open_store, redacted

REMOTE_ROOT = "edgebench-lab"  # on each board, in the login user's home
POLL_S = 1.0


@dataclass(frozen=True, kw_only=True)
class LabOptions:
    on: dict[str, str] = field(default_factory=dict)
    coordinator: str
    store: str | None = None
    ssh: SshOptions
    board_edgebench: str = "edgebench"  # the command that runs edgebench on a board (its shell expands ~)
    parallel: int | None = None  # boards measured at once (default: all)
    elsewhere: bool = False


@dataclass(frozen=True, kw_only=True)
class Job:
    """Cells for one board: ``slot`` is the name they are stored and reported under (the board's place, or
    ``C-for-A`` when board C stands in for lost board A)."""
    board: Board
    slot: str
    keys: list[str]
    accept: set[str]
    work: str
    resume: bool


def parse_tags(words: list[str]) -> dict[str, str]:
    """``--on board=jetson-orin,arch=aarch64`` (repeatable; every pair must match). ``name=PLACE`` names one place."""
    tags: dict[str, str] = {}
    for word in words:
        for pair in filter(None, (p.strip() for p in word.split(","))):
            key, sep, value = pair.partition("=")
            if not sep or not key or not value:
                raise ConfigError(f"--on {word!r}: give tags as KEY=VALUE[,KEY=VALUE], e.g. --on arch=aarch64 "
                                  "or --on name=PLACE")
            tags[key] = value
    return tags


def start(bundle: Path, run_dir: Path, options: LabOptions, board_args: list[str], config_cache: Path,
          say: Callable[[str], None], build: Callable[[], list[str]]) -> int:
    """A new lab run: ``build()`` the artifacts into ``bundle`` (it returns the cells' keys), pick the boards,
    dispatch. The build comes first: its isolated jobs fork, which gRPC's threads (the coordinator's client)
    do not survive; a coordinator that is not there was told before it (``check_reachable``)."""
    keys = build()
    if not keys:
        raise ConfigError(f"nothing was built to measure (reasons in {bundle / 'manifest.json'})")
    client = LabClient(options.coordinator)
    try:
        holds = Holds(config_cache, client.address)
        holds.release_stale(client, say)
        boards, problems = client.boards(options.on)
        for problem in problems:
            say(f"not used: {problem}")
        if not boards:
            wanted = ",".join(f"{k}={v}" for k, v in options.on.items())
            raise ConfigError(f"no place of the coordinator at {client.address} has the tags {wanted} and an SSH "
                              "address; see `edgebench lab status`")
        store_at = options.store or SQLITE_FILE
        run_id = f"{run_dir.name}-{uuid.uuid4().hex[:8]}"
        lab = {"run_id": run_id, "store": redacted(store_at), "coordinator": client.address, "on": options.on,
               "bundle": str(bundle.resolve()),
               "board_args": board_args, "board_edgebench": options.board_edgebench,
               "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "boards": {b.name: _entry(b, f"{REMOTE_ROOT}/{b.name}/{run_id}/{b.name}") for b in boards}}
        store = open_store(store_location(run_dir, {"store": store_at}))
        write_lab(run_dir, lab)
        store.add_run(run_id, lab)
        jobs = []
        for board in boards:
            store.plan(run_id, board.name, keys)
            jobs.append(Job(board=board, slot=board.name, keys=keys, accept=set(keys),
                            work=lab["boards"][board.name]["work"], resume=False))
        say(f"lab run {run_id}: {len(keys)} cells on each of {len(boards)} boards ({', '.join(b.name for b in boards)}); "
            f"store {store.where}")
        try:
            return Dispatch(client, store, holds, options, run_dir, lab, bundle, say).run(jobs)
        finally:
            store.close()
    finally:
        client.close()


def resume(run_dir: Path, bundle: Path, options: LabOptions, config_cache: Path, say: Callable[[str], None]) -> int:
    """Finish a lab run's unfinished cells: on their own boards, or (``elsewhere``) a lost board's on another
    board of the run's tags. Cells a stand-in has finished are not measured again, and a stand-in goes on in
    its own slot; a board that cannot be reached leaves its cells unfinished and the others go on."""
    lab = read_lab(run_dir)
    if not (bundle / "manifest.json").is_file():
        raise ConfigError(f"the artifacts this lab run measures are gone from {bundle}; restore that folder to resume")
    store = open_store(store_location(run_dir, lab), create=False)
    try:
        check_run(store, lab["run_id"])
        client = LabClient(options.coordinator)
    except BaseException:
        store.close()
        raise
    try:
        holds = Holds(config_cache, client.address)
        holds.release_stale(client, say)
        options = LabOptions(**{**options.__dict__, "board_edgebench": lab["board_edgebench"]})
        cells = store.cells(lab["run_id"])
        all_keys = {key for _, key, _, _ in cells}
        stand_ins = {slot: e["stands_in_for"] for slot, e in lab["boards"].items() if e.get("stands_in_for")}
        jobs, stuck = [], []
        for slot, entry in list(lab["boards"].items()):
            if slot in stand_ins.values():
                continue  # its stand-in's slot carries its unfinished cells
            unfinished = [k for k, state, _ in store.cells(lab["run_id"], slot) if state != "done"]
            if not unfinished:
                continue
            found, _ = client.boards({"name": entry["place"]})
            board = found[0] if found else None
            if board is not None and (not options.elsewhere or _answers(board, options.ssh)):
                jobs.append(Job(board=board, slot=slot, keys=unfinished, accept=all_keys, work=entry["work"], resume=True))
                continue
            try:
                if not options.elsewhere:
                    raise ConfigError(f"board {entry['place']} is not in the lab now: its {len(unfinished)} cells stay "
                                      "unfinished; bring it back, or resume with --elsewhere")
                jobs.append(_stand_in(client, store, lab, slot, entry, unfinished, all_keys, options.ssh, say))
                write_lab(run_dir, lab)
            except ConfigError as exc:
                say(str(exc))
                stuck.append(slot)
        if not jobs:
            say("nothing could be resumed" if stuck else "every cell of this lab run is done; nothing to resume")
            return 1 if stuck else 0
        say(f"resuming lab run {lab['run_id']}: " + ", ".join(f"{j.slot} ({len(j.keys)} cells)" for j in jobs))
        code = Dispatch(client, store, holds, options, run_dir, lab, bundle, say).run(jobs)
        return code or (1 if stuck else 0)
    finally:
        store.close()
        client.close()


def _entry(board: Board, work: str, stands_in_for: str | None = None) -> dict[str, Any]:
    entry = {"place": board.name, "address": board.address, "port": board.port, "username": board.username,
             "tags": board.tags, "work": work}
    return {**entry, "stands_in_for": stands_in_for} if stands_in_for else entry


def _answers(board: Board, options: SshOptions) -> bool:
    from edgebench.lab.ssh import probe

    return probe(board, options) is None


def _stand_in(client: LabClient, store: LabStore, lab: dict[str, Any], slot: str, entry: dict[str, Any],
              unfinished: list[str], all_keys: set[str], ssh_options: SshOptions, say: Callable[[str], None]) -> Job:
    """Another board with the tags the run asked for (--on) measures a lost board's unfinished cells, reported
    under the name C-for-A: its own device, never passed off as the lost one. The board measures the whole
    artifacts folder (a run has no cell filter); only the lost cells' lines are kept."""
    tags = dict(lab["on"])
    candidates = [b for b in client.boards(tags)[0] if b.name != entry["place"] and _answers(b, ssh_options)]
    if not candidates:
        raise ConfigError(f"no other board answering over SSH has the run's tags "
                          f"({', '.join(f'{k}={v}' for k, v in tags.items()) or 'none'}); bring {entry['place']} back")
    board = candidates[0]
    name = f"{board.name}-for-{slot}"
    number = 2
    while name in lab["boards"]:
        name, number = f"{board.name}-for-{slot}-{number}", number + 1
    lab["boards"][name] = _entry(board, f"{REMOTE_ROOT}/{board.name}/{lab['run_id']}/{name}", stands_in_for=slot)
    store.plan(lab["run_id"], name, unfinished)
    store.mark(lab["run_id"], slot, "device-lost", f"{entry['place']} did not come back; its cells go to "
               f"{board.name} instead (reported as {name})")
    say(f"{entry['place']} does not answer: its {len(unfinished)} unfinished cells go to {board.name} (reported as {name})")
    return Job(board=board, slot=name, keys=unfinished, accept=set(all_keys), work=lab["boards"][name]["work"], resume=False)


class Dispatch:
    """Runs jobs on their boards in parallel threads; Ctrl-C (or SIGTERM) stops them and releases every place."""

    def __init__(self, client: LabClient, store: LabStore, holds: Holds, options: LabOptions, run_dir: Path,
                 lab: dict[str, Any], bundle: Path, say: Callable[[str], None]) -> None:
        self.client, self.store, self.holds, self.options = client, store, holds, options
        self.run_dir, self.lab, self.bundle, self.say = run_dir, lab, bundle, say
        self.run_id = lab["run_id"]
        self.stop = threading.Event()
        self.processes: set[subprocess.Popen] = set()
        self.held: dict[str, str] = {}  # place -> reservation token, while a board thread holds it
        self.lock = threading.Lock()

    def run(self, jobs: list[Job]) -> int:
        started = time.monotonic()
        gate = threading.BoundedSemaphore(self.options.parallel or len(jobs))
        ended = [threading.Event() for _ in jobs]
        threads = [threading.Thread(target=self._job, args=(job, gate, end), name=f"board-{job.slot}", daemon=True)
                   for job, end in zip(jobs, ended)]
        for thread in threads:
            thread.start()
        # Events, not Thread.join: a join that Ctrl-C interrupts can report a live thread as finished (CPython 3.11).
        try:
            while not all(e.wait(0.2) for e in ended):
                pass
        except KeyboardInterrupt:
            self.stop.set()
            with self.lock:
                for process in self.processes:
                    process.terminate()
            deadline = time.monotonic() + 60
            for end in ended:
                end.wait(max(0.0, deadline - time.monotonic()))
            self._release_left()
            raise
        self.say(f"lab run {self.run_id}: {time.monotonic() - started:.1f} s wall")
        cells = self.store.cells(self.run_id)
        stand_ins = {slot: entry["stands_in_for"] for slot, entry in self.lab["boards"].items() if entry.get("stands_in_for")}
        covered = {(stand_ins[slot], key) for slot, key, state, _ in cells if slot in stand_ins and state == "done"}
        unfinished = [c for c in cells if c[2] != "done" and (c[0], c[1]) not in covered]
        failed = any(r.get("status") == "failed" for r in self.store.results(self.run_id))
        return 1 if unfinished or failed else 0

    def _started(self, process: subprocess.Popen) -> None:
        """An SSH process a board thread started: an interrupt terminates it."""
        with self.lock:
            self.processes.add(process)
            if self.stop.is_set():  # interrupted while it started
                process.terminate()

    def _release_left(self) -> None:
        """After an interrupt: any place a board thread still holds (it did not finish in time) is released here."""
        with self.lock:
            left = dict(self.held)
        for place, token in left.items():
            try:
                self.client.release(place)
                self.client.cancel(token)
                self.holds.forget(token)
                self.say(f"released place {place}")
            except LabError as exc:
                self.say(f"could not release place {place} ({exc}); the next edgebench run on this host releases it")

    def _job(self, job: Job, gate: threading.BoundedSemaphore, ended: threading.Event) -> None:
        try:
            self._job_on_board(job, gate)
        finally:
            ended.set()

    def _job_on_board(self, job: Job, gate: threading.BoundedSemaphore) -> None:
        with gate:
            if self.stop.is_set():
                return
            try:
                self._hold_and_measure(job)
            except (LabError, OSError) as exc:
                reason = f"{job.board.name}: {' '.join(str(exc).split())}"
                count = self.store.mark(self.run_id, job.slot, "device-lost", reason)
                self.say(f"{job.slot}: {reason}; {count} cells marked device-lost")
            except Exception as exc:  # a bug here must not lose the other boards' run, nor this board's place
                reason = f"internal error (a bug in edgebench) on {job.board.name}: {type(exc).__name__}: {exc}"
                count = self.store.mark(self.run_id, job.slot, "failed", reason)
                self.say(f"{job.slot}: {reason}; {count} cells marked failed")

    def _hold_and_measure(self, job: Job) -> None:
        place = job.board.name
        token = self.client.reserve({"name": place})
        self.holds.record(place, token, self.run_dir)
        released = True  # nothing is acquired yet
        try:
            if not self._wait(place, token):
                return
            self.client.acquire(place)
            released = False
            with self.lock:
                self.held[place] = token
            self.say(f"{job.slot}: acquired place {place}")
            try:
                self._measure(job)
            finally:
                released = self._release(job.slot, place)
        finally:
            if released:  # else the hold file stays: the next start on this host releases the place
                try:
                    self.client.cancel(token)
                except LabError:
                    pass
                self.holds.forget(token)

    def _release(self, slot: str, place: str) -> bool:
        with self.lock:
            self.held.pop(place, None)
        try:
            self.client.release(place)
        except LabError as exc:
            self.say(f"{slot}: could not release place {place} ({exc}); the next edgebench run on this host releases it")
            return False
        self.say(f"{slot}: released place {place}")
        return True

    def _wait(self, place: str, token: str) -> bool:
        """Until the coordinator allocates the place to our reservation (False: stopped first)."""
        said = False
        while not self.stop.is_set():
            state, allocated = self.client.poll(token)
            if state == "allocated" and allocated == place:
                return True
            if state in ("expired", "invalid"):
                raise LabError(f"the coordinator let our reservation of {place} go ({state})")
            if not said:
                holder = self.client.holder(place) or "another reservation"
                self.say(f"{place}: waiting for the place, held by {holder}")
                said = True
            self.stop.wait(POLL_S)
        return False

    def _measure(self, job: Job) -> None:
        board, opts = job.board, self.options.ssh
        reason = ship(board, opts, self.bundle, f"{job.work}/bundle", started=self._started)
        if reason and not self.stop.is_set():
            count = self.store.mark(self.run_id, job.slot, "device-lost", f"copying the artifacts to {board.name} "
                                    f"failed: {reason}")
            self.say(f"{job.slot}: copying the artifacts failed ({reason}); {count} cells marked device-lost")
            return
        if self.stop.is_set():
            self.store.mark(self.run_id, job.slot, "pending", "interrupted; finish with --resume")
            return
        args = [*self.lab["board_args"], "--artifacts", f"{job.work}/bundle", "--device-name", job.slot,
                "--cache-dir", f"{REMOTE_ROOT}/{board.name}/cache"]
        command = (f"cd && {self.options.board_edgebench} lab board{' --resume' if job.resume else ''} "
                   f"{remote([job.work])} -- {remote(args)}")
        process = ssh(board, opts, command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._started(process)
        errors = Tail(process.stderr)
        try:
            closing, stored, rejected = self._receive(job, process)
        finally:  # whatever happened here, the SSH session (and with it the board's run) ends with this job
            try:
                process.wait(30)  # the board sent its last line: its run is ending
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(30)
            with self.lock:
                self.processes.discard(process)
        if self.stop.is_set():
            self.store.mark(self.run_id, job.slot, "pending", "interrupted; finish with --resume")
        elif closing is None:
            why = last_line(errors.text()) or f"ssh exit status {process.returncode}"
            count = self.store.mark(self.run_id, job.slot, "device-lost",
                                    f"{board.name} dropped at {datetime.now(timezone.utc):%H:%M:%S} UTC ({why}); "
                                    f"finish with edgebench run --resume {self.run_dir}")
            self.say(f"{job.slot}: lost ({why}); kept {stored} cells, {count} marked device-lost")
        else:
            tail = last_line(closing["tail"])
            count = self.store.mark(self.run_id, job.slot, "failed", f"the board's edgebench ended (exit "
                                    f"{closing['code']}) without this cell: {tail}", job.keys)
            ended = f"{count} cells missing ({tail})" if count else "all cells in"
            self.say(f"{job.slot}: done, {stored} new lines stored, {ended}"
                     + (f", {rejected} lines rejected" if rejected else ""))

    def _receive(self, job: Job, process: subprocess.Popen) -> tuple[dict[str, Any] | None, int, int]:
        """Store each line the board sends as it comes: (its closing line or None, lines stored, lines rejected)."""
        closing, stored, rejected = None, 0, 0
        wanted = set(job.keys)
        while True:
            raw = process.stdout.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return closing, stored, rejected
            if not raw.endswith(b"\n") and len(raw) > MAX_LINE_BYTES:
                while raw and not raw.endswith(b"\n"):  # the rest of an over-long line is not read into memory
                    raw = process.stdout.readline(MAX_LINE_BYTES)
                raw = b"x" * (MAX_LINE_BYTES + 1)
            try:
                value = parse_line(raw.rstrip(b"\n"), job.slot, job.accept)
            except Rejected as exc:
                rejected += 1
                self.say(str(exc))
                continue
            if CONTROL in value:
                closing = value
            elif value["key"] in wanted and self.store.add_result(self.run_id, job.slot, value):
                stored += 1
                self.say(f"{job.slot}: {value['key']} {value['status']}")
