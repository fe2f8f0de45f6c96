"""A lab run's boards at work: one thread per board holds its place (reserve, wait, acquire, release in every
case), copies the artifacts, runs the board's part over SSH and stores each line as it arrives. A board that
drops marks its unfinished cells ``device-lost``; Ctrl-C stops every board and releases every place."""
from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from edgebench.lab.coordinator import LabClient, LabError
from edgebench.lab.holds import Holds
from edgebench.lab.lines import CONTROL, MAX_LINE_BYTES, Rejected, parse_line
from edgebench.lab.ssh import Board, Tail, last_line, remote, ship, ssh
from edgebench.lab.store import LabStore

if TYPE_CHECKING:
    from edgebench.lab.fleet import LabOptions

REMOTE_ROOT = "edgebench-lab"  # on each board, in the login user's home
POLL_S = 1.0


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


class Dispatch:
    """Runs jobs on their boards in parallel threads; Ctrl-C (or SIGTERM) stops them and releases every place."""

    def __init__(self, client: LabClient, store: LabStore, holds: Holds, options: "LabOptions", run_dir: Path,
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
