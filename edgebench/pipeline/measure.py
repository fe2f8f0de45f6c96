"""Measure: a model's cells at one batch size (the cells compared with each other) timed in lockstep rounds, so
that a slow minute on a shared or throttling machine hits all of them alike, and every ratio between them is paired
round by round.

Each cell keeps its own worker process (a crash or a hang fails that cell only). Workers stay loaded between rounds
when their memory fits beside each other ("loaded"); otherwise each round starts a fresh worker per cell
("restart"), and a round's slice lasts twice what the restart costs, up to the cell's cap. Every cell is timed in every round
until the group stops: when every cell's median *and* every ratio the report shows between its cells is known to
the profile's precision, or at the group's time cap (the profile's per-cell cap times its cells). A cell's slice
during which other processes took a meaningful share of the CPUs is left out of its p50 and of every ratio it is
part of (a ratio pairs the rounds both of its cells kept), and rounds go on, within a bound. Each round starts
with a short reference workload while the workers wait, so a host that runs slower than its best with no process
of its own to blame is recorded (``host_ms`` per round, ``contention.host_slow``), and each slice is bracketed by the
co-run probe (the same workload on the cells' CPUs at once), which sees a host that runs threads together slower
than its best: a slice slower than the group's usual state is left out and repeated like a disturbed one, within an
allowance, and a group slow throughout is marked ``host_slow`` (``rounds[i].corun_x``; ``--host-check``).
``--sustained`` runs each cell alone instead.
"""
from __future__ import annotations

import math
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebench.harness.cell import timed_fields
from edgebench.harness.isolation import Worker
from edgebench.harness.timing import TimingProfile, floor_calls, median_known
from edgebench.machine import contention, host_speed
from edgebench.pipeline.plan import Cell

MEMORY_HEADROOM = 1.25  # the next worker may need as much as the largest one loaded so far, and a quarter more
MEMORY_RESERVE = 0.10  # of the machine's memory, left to the system and the parent
RESTART_SHARE = 2.0  # in restart mode a slice lasts this many times what the restart cost
# One untimed call opens each slice of a worker that stayed loaded while the others ran, when a call costs at
# most this share of the slice: its caches, pages and thread pool are cold after the others' turns, and a first
# call after a pause ran 5-13% slower than the rest (MobileNetV2 at batch 32, ONNX Runtime and OpenVINO here).
REWARM_SHARE = 0.25
# Rounds left out for interference are repeated while the group's timed seconds stay within this many times its
# cap; past it the group stops, and a cell with fewer clean rounds than MIN_CLEAN_ROUNDS keeps the disturbed ones
# (and says so: busy) rather than report a figure from one or two rounds.
INTERFERENCE_BOUND = 2.0
MIN_CLEAN_ROUNDS = 3
# Slices left out for a slow host alone (the co-run probe) may add at most this share of the group's cap; past it,
# slow-host slices are kept and counted (``slices_host_slow_kept``): this host stays in its slow state for minutes,
# and leaving it out without end doubled a group's time (every group stopped by the interference bound).
HOST_LEAVE_OUT_SHARE = 0.5


def report_pairs(cells: list[tuple[str, str, str]]) -> list[tuple[int, int]]:
    """The pairs of a group's cells, given as (runtime, precision, variant), whose ratio a report shows, as
    (reference, other) indices: each reduced precision against its runtime's FP32, every cell against PyTorch FP32
    (the reference of its kind of device), and the runtimes of one precision (and recipe variant) against each
    other."""
    from edgebench.results.schema import PYTORCH_BASELINE
    from edgebench.runtimes import get_runtime

    pairs: set[tuple[int, int]] = set()
    for i, (runtime_a, precision_a, variant_a) in enumerate(cells):
        for j, (runtime_b, precision_b, variant_b) in enumerate(cells):
            if i == j:
                continue
            fp32_a = precision_a == "fp32" and not variant_a
            own_fp32 = fp32_a and runtime_a == runtime_b and precision_b != "fp32"
            baseline = fp32_a and runtime_a == PYTORCH_BASELINE.get(get_runtime(runtime_b).device)
            same_precision = precision_a == precision_b and variant_a == variant_b and i < j
            if own_fp32 or baseline or same_precision:
                pairs.add((i, j))
    return sorted(pairs)


@dataclass
class Entry:
    """A cell ready to be measured: its record so far (plan and build filled it) and its worker's job."""

    cell: Cell
    record: dict[str, Any]
    job: dict[str, Any]


@dataclass
class _State:
    entry: Entry
    worker: Worker | None = None
    loaded: dict[str, Any] | None = None
    samples: list[float] = field(default_factory=list)  # the kept rounds' samples
    slices: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    timed_s: float = 0.0  # timed seconds of the kept rounds
    left_out_s: float = 0.0  # timed seconds of the rounds left out for interference
    starts: int = 0
    restart_cost_s: float = 0.0
    finished: dict[str, Any] | None = None  # restart mode: the last slice's worker's finish (no accuracy job)
    record: dict[str, Any] | None = None  # set when the cell is done (ok or failed)


class GroupMeasure:
    """Times the cells of one group; ``run`` returns their finished records in the entries' order."""

    def __init__(self, entries: list[Entry], profile: TimingProfile, *, timeout_s: float, log_dir: Path,
                 env: dict[str, str], threads: int, usable_cpus: int, sustained_min: float | None = None,
                 status: Callable[[str], None] = lambda text: None,
                 host: host_speed.Baseline | None = None) -> None:
        self.entries, self.profile, self.timeout_s, self.log_dir = entries, profile, timeout_s, Path(log_dir)
        # The host's speed on a reference workload at the start of every round (edgebench.machine.host_speed).
        self.host = host if host is not None else host_speed.Baseline(None)
        self.probes: list[float] = []
        self.fork = 0  # which of the cell's worker processes times this round (--forks)
        self.corun_cpus = host_speed.corun_cpus(threads)  # the co-run probe's CPUs (none: one-thread cells)
        self._host_verdict: dict[str, Any] | None = None
        self._corun_last: float | None = None  # the reading just after the last slice: the next slice's "before"
        self.host_left_out_s = 0.0  # timed seconds left out for a slow host alone (bounded: HOST_LEAVE_OUT_SHARE)
        self.coruns: list[float] = []  # every slice's co-run reading in this group: its state (the median)
        self.cap_s = 0.0
        self.last_round_s = 0.0  # timed seconds of the group's last round (every cell's slice)
        # The rounds of this run of the group: only rounds of the same run pair (edgebench.stats.cell_ratio).
        self.group_run = uuid.uuid4().hex[:12]
        self.pairs = report_pairs([(e.cell.runtime, e.cell.precision, e.cell.variant) for e in entries])
        self.stopped_by: str | None = None
        self.env, self.threads, self.usable_cpus, self.sustained_min = env, threads, usable_cpus, sustained_min
        self.status = status
        self.mode = "single" if len(entries) == 1 else "loaded"
        self.why = "one cell in its group" if len(entries) == 1 else "the group's workers fit in memory together"
        if sustained_min:
            self.mode, self.why = "sustained", f"--sustained {sustained_min:g}: each cell alone, without pause"

    def run(self) -> list[dict[str, Any]]:
        self.states = [_State(entry) for entry in self.entries]
        self.started = time.monotonic()
        try:
            if self.mode == "sustained":
                for state in self.states:
                    self._sustained(state)
            else:
                self._load_all(self.states)
                self._rounds(self.states)
        finally:
            for state in self.states:
                if state.worker is not None:
                    state.worker.kill()
        return [state.record for state in self.states]

    def completed(self) -> list[dict[str, Any]]:
        """The records of the cells that finished (after an interruption: the ones to keep; the others are
        measured again on resume)."""
        return [state.record for state in getattr(self, "states", []) if state.record is not None]

    # -- phases -------------------------------------------------------------------------------------------
    def _load_all(self, states: list[_State]) -> None:
        for state in states:
            if self.mode == "loaded":
                fits, why = self._fits(states)
                if not fits:
                    self.mode, self.why = "restart", why
            if self.mode != "restart":
                self._start(state)

    def _rounds(self, states: list[_State]) -> None:
        """Every cell in every round, until every p50 and every reported ratio is known, or the group's cap."""
        number = 0
        active = [s for s in states if s.record is None]
        cap_s = self.cap_s = self.profile.max_s * len(active)
        while active:
            turn = number % len(active)
            parts = []
            self.probes.append(host_speed.probe_ms())  # every worker waits: the host alone runs it
            self._corun_last = None
            for state in active[turn:] + active[:turn]:  # each cell takes each place in the order in turn
                if state.worker is None and not self._start(state):
                    continue
                part = self._slice(state, number)
                if part is not None:
                    parts.append((state, part))
            self._close_round(number, parts)
            number += 1
            active = [s for s in active if s.record is None]
            self._next_fork(number, active)
            self.stopped_by = self._group_stop(active, cap_s)
            if self.stopped_by:
                break
        for state in active:
            if state.finished is not None or state.worker is not None or self._start(state):
                self._finish(state, self.stopped_by)

    def _next_fork(self, number: int, active: list[_State]) -> None:
        """With ``forks`` > 1, every loaded worker is closed after each 1/forks of the group's expected rounds
        (its cap over a round's slice); the next round starts each cell's next process."""
        forks = self.profile.forks
        every = max(1, math.ceil(self.profile.max_s / max(self.profile.round_s, 1e-9) / forks))
        if forks <= 1 or self.mode not in ("loaded", "single") or number % every or number // every >= forks:
            return
        self.fork = number // every
        for state in active:
            if state.worker is not None:
                state.worker.close()
                state.worker = None

    def _close_round(self, number: int, parts: list[tuple[_State, dict[str, Any]]]) -> None:
        """Keep each cell's slice of the round, or leave it out of that cell's p50 and of its ratios when another
        process took a meaningful share of the CPUs during it, or (``host_check`` "leave-out") when the co-run probe
        just before or after it read the host slower than ``host_speed.CORUN_FACTOR`` times both its best and the
        group's median reading, within an allowance (its samples stay in the round's entry, with ``left_out_for``:
        others, host or both). A ratio pairs
        only the rounds both of its cells kept (edgebench.stats.cell_ratio), so a neighbour that comes and goes
        costs each cell the slices it overlapped, not every cell's whole round."""
        self.last_round_s = sum(sum(part["samples"]) for _, part in parts) / 1000.0
        self.coruns.extend(part["corun_x"] for _, part in parts if part.get("corun_x") is not None)
        # A slice is slow when its reading is over CORUN_FACTOR times the group's usual state (the median so far) and
        # the machine's best: a stretch slower than the rest of the group is left out, while a host slow through the
        # whole group is not repeated without end (that is recorded for the group: corun_x_median, host_slow).
        # In the seed table, slices over 1.15x the best were 13-75% of a group's; over 1.15x its median, 6-24%.
        threshold = host_speed.CORUN_FACTOR * max(1.0, float(np.median(self.coruns))) if self.coruns else math.inf
        # A group whose cap affords fewer rounds than a clean figure needs is not repeated for the host: one round of
        # EfficientNet-B7 at batch 32 is 130 s of calls against a 40-s cap, and its one slow-host slice (OpenVINO FP32,
        # 1.18x) made a second round of every cell (521 s for the group), whose cell then kept both rounds anyway.
        afforded = self._rounds_afforded(self.cap_s)
        repeatable = afforded is None or afforded >= MIN_CLEAN_ROUNDS
        for state, part in parts:
            watched = contention.interference(part, threads=self.threads)
            corun = part.get("corun_x")  # kept in the slice too: contention.judge reports its worst
            host_slow = corun is not None and corun > threshold
            leave_host = (host_slow and self.profile.host_check == "leave-out" and repeatable
                          and self.host_left_out_s < HOST_LEAVE_OUT_SHARE * self.cap_s)
            if leave_host and not watched["disturbed"]:
                self.host_left_out_s += sum(part["samples"]) / 1000.0
            samples = part["samples"]
            entry = {"round": number, "n": len(samples), "p50": float(np.median(samples)), "at_s": part.pop("at_s"),
                     "others_cpus": watched["others_cpus"], "own_cpu_over_wall": watched["own_cpu_over_wall"],
                     "host_ms": round(self.probes[-1], 4) if self.probes else None,
                     "corun_x": round(corun, 3) if corun is not None else None, "host_slow": host_slow,
                     "kept": not (watched["disturbed"] or leave_host)}
            if not entry["kept"]:
                entry["left_out_for"] = "+".join(why for why, yes in (("others", watched["disturbed"]),
                                                                     ("host", leave_host)) if yes)
            if self.profile.forks > 1:
                entry["fork"] = self.fork
            part["host_slow"], part["left_out_for_host"] = host_slow, leave_host
            part["host_slow_kept"] = bool(host_slow and not leave_host and self.profile.host_check == "leave-out"
                                          and not watched["disturbed"])
            state.slices.append(part)
            if not entry["kept"]:
                state.rounds.append({**entry, "samples": samples})
                state.left_out_s += sum(samples) / 1000.0
            else:
                state.rounds.append(entry)
                state.samples.extend(samples)
                state.timed_s += sum(samples) / 1000.0

    def _group_stop(self, active: list[_State], cap_s: float) -> str | None:
        """Why the group stops now: "precision" (every p50 and every reported ratio known to the target), "time
        cap" (the kept rounds reached the group's cap, every cell with its floor of calls), "interference" (rounds
        left out for other processes took the group past the bound), or None (another round)."""
        if not active:
            return None
        profile = self.profile
        kept_s = sum(s.timed_s for s in active)
        if all(median_known(s.samples, s.timed_s, profile) for s in active) and self._ratios_known(active):
            return "precision"
        # A cell's floor of calls, or as many kept rounds as the group's cap affords when one round of the whole
        # group takes most of it (EfficientNet-B6 at batch 32: a 68-s round against a 40-s cap made a second round
        # for the INT8 cells' floor of 2 calls, and repeated every other cell's 10-33-s call with it).
        rounds_afforded = self._rounds_afforded(cap_s)
        if kept_s >= cap_s and all(s.samples and (len(s.samples) >= floor_calls(profile, np.median(s.samples) / 1000.0)
                                                  or (rounds_afforded is not None
                                                      and _kept_rounds(s) >= rounds_afforded))
                                   for s in active):
            return "time cap"
        left_out_s = sum(s.left_out_s for s in active)
        # Only rounds left out extend a group past its cap; slow calls that pass twice the cap before their floor
        # of calls is not interference (the seed table's EfficientNet-B6 at batch 32 stopped after one call so).
        # The bound is twice what the group needs: its cap, or its floors of calls where those take longer (one
        # round of EfficientNet-B7 at batch 32 is 111 s of calls against a 40-s cap: a disturbed round is repeated).
        needed_s = max(cap_s, sum(floor_calls(profile, np.median(s.samples) / 1000.0) * np.median(s.samples) / 1000.0
                                  for s in active if s.samples))
        if left_out_s > 0 and kept_s + left_out_s >= INTERFERENCE_BOUND * needed_s:
            return "interference"
        return None

    def _rounds_afforded(self, cap_s: float) -> int | None:
        """How many rounds like the last one the group's cap holds (at least one; None before any round)."""
        return max(1, math.ceil(cap_s / self.last_round_s - 1e-9)) if self.last_round_s > 0 else None

    def _ratios_known(self, active: list[_State]) -> bool:
        from edgebench.stats import CONFIDENCE, cell_ratio

        ok = {id(s) for s in active}
        for i, j in self.pairs:
            a, b = self.states[i], self.states[j]
            if id(a) not in ok or id(b) not in ok:
                continue  # a failed cell has no ratio to wait for
            try:
                ratio = cell_ratio(self._provisional(a), self._provisional(b))
            except ValueError:
                return False
            if ratio["confidence"] < CONFIDENCE - 1e-9 or ratio["half_width_pct"] > self.profile.target_pct:
                return False
        return True

    def _provisional(self, state: _State) -> dict[str, Any]:
        return {"interleave": {"group_run": self.group_run}, "rounds": state.rounds,
                "latency_ms": {"samples": state.samples}}

    def _start(self, state: _State) -> bool:
        cell = state.entry.cell
        self.status(f"{cell.group} · loading {cell.runtime} {cell.precision}")
        self._corun_last = None  # a reading from before this load is no longer "just before" the next slice
        state.worker = Worker(state.entry.job, self.log_dir / cell.slug, env=self.env)
        started = time.monotonic()
        reply = state.worker.request("load", self.timeout_s)
        state.starts += 1
        if reply.get("status") != "ok":
            self._fail(state, reply.get("reason", "the worker failed to load"), status=reply.get("status", "failed"))
            return False
        state.restart_cost_s = time.monotonic() - started
        if state.loaded is None:
            state.loaded = reply
        return True

    def _slice(self, state: _State, number: int) -> dict[str, Any] | None:
        """One cell's turn in a round: its timed calls and what the machine did meanwhile (None: it failed)."""
        cell, profile = state.entry.cell, self.profile
        seconds = profile.round_s
        if self.mode == "restart":
            # Long enough to be worth its restart, but no longer than the cell's cap (one call of a slower model
            # is the slice): EfficientNet-B7's restarts at batch 32 made 200-s slices of 4 PyTorch calls before.
            seconds = max(seconds, min(RESTART_SHARE * state.restart_cost_s, profile.max_s))
        call_s = (float(np.median(state.samples)) / 1000.0 if state.samples
                  else state.loaded["warmup_s"] / state.loaded["warmup_iters"])
        rewarm = bool(self.mode == "loaded" and number > 0 and call_s <= REWARM_SHARE * profile.round_s)
        self.status(f"{cell.group} · round {number + 1} · {cell.runtime} {cell.precision}")
        before = self._corun_last if self._corun_last is not None else self._corun()
        at = time.monotonic() - self.started
        reply = state.worker.request("slice", self.timeout_s, seconds=float(seconds), min_calls=1, rewarm=rewarm)
        if reply.get("status") != "ok":
            if not self._out_of_memory(state):
                self._fail(state, reply.get("reason", "the worker failed"))
            return None
        after = self._corun_last = self._corun()
        if self.mode == "restart":
            # Its finish (memory, the work around the model) is read in this worker after every slice, so the group
            # need not start one more worker per cell when it stops (a second warm-up: 48 s of PyTorch for
            # EfficientNet-B7 at batch 32). An accuracy job still finishes once, in a fresh worker at the end.
            if not state.entry.job.get("eval"):
                finished = state.worker.request("finish", self.timeout_s)
                state.finished = finished if finished.get("status") in ("ok", "failed") and "peak_rss_mb" in finished \
                    else None
            state.worker.close()
            state.worker = None
        corun = max(before, after) if before is not None and after is not None else None
        return {**reply, "at_s": round(at, 3), "corun_x": corun}

    def _corun(self) -> float | None:
        """The co-run probe now, against the machine's best (None where the cells run on one thread or CPU)."""
        if not self.corun_cpus:
            return None
        return self.host.corun_slowdown(host_speed.corun_ms(self.corun_cpus), len(self.corun_cpus))

    def _out_of_memory(self, state: _State) -> bool:
        """A loaded worker killed by SIGKILL (the out-of-memory killer, most often) was killed for the group's
        memory, not for its runtime: once per group, every worker is closed and the group goes on in restart mode
        (one fresh worker per cell and round), that cell's kept rounds kept. A second such kill fails the cell."""
        worker = state.worker
        if self.mode != "loaded" or worker is None or worker.proc.returncode != -signal.SIGKILL:
            return False
        self.mode = "restart"
        self.why = (f"a loaded worker ({state.entry.cell.runtime} {state.entry.cell.precision}) was killed by SIGKILL "
                    f"with {sum(s.worker is not None for s in self.states)} loaded: one fresh worker per cell and round")
        for other in self.states:
            if other.worker is not None:
                other.worker.close()
                other.worker = None
        return True

    def _sustained(self, state: _State) -> None:
        cell = state.entry.cell
        if not self._start(state):
            return
        self.status(f"{cell.group} · {cell.runtime} {cell.precision} · sustained {self.sustained_min:g} min")
        at = time.monotonic() - self.started
        reply = state.worker.request("sustained", self.sustained_min * 60.0 + self.timeout_s, minutes=self.sustained_min)
        if reply.get("status") != "ok":
            self._fail(state, reply.get("reason", "the worker failed"))
            return
        samples = reply.pop("samples")
        summary = reply.pop("sustained")
        state.slices.append({**reply, "samples": samples})
        state.rounds.append({"round": 0, "n": len(samples), "p50": float(np.median(samples)), "at_s": round(at, 3),
                             "kept": True})
        state.samples.extend(samples)
        state.timed_s += sum(samples) / 1000.0
        self._finish(state, "sustained", extra={"sustained": summary})

    # -- endings ------------------------------------------------------------------------------------------
    def _finish(self, state: _State, stopped_by: str, extra: dict[str, Any] | None = None) -> None:
        if state.worker is None and state.finished is not None:  # restart mode: read after its last slice
            self._close_finish(state, state.finished, stopped_by, extra)
            return
        reply = state.worker.request("finish", self.timeout_s)
        if reply.get("status") != "ok" and self._out_of_memory(state):
            # Killed for the group's memory while finishing (EfficientNet-B6's ONNX Runtime FP32 worker at batch 32,
            # beside four loaded workers, in the seed table): every other worker is closed now; this one finishes
            # alone in a fresh worker, and the others after it in theirs.
            if not self._start(state):
                return  # its load failed: _start recorded why
            reply = state.worker.request("finish", self.timeout_s)
        state.worker.close()
        state.worker = None
        self._close_finish(state, reply, stopped_by, extra)

    def _close_finish(self, state: _State, reply: dict[str, Any], stopped_by: str,
                      extra: dict[str, Any] | None) -> None:
        record = dict(state.entry.record)
        record.update(reply)
        record.update(self._timed(state, stopped_by))
        record.update(extra or {})
        state.record = record

    def _fail(self, state: _State, reason: str, status: str = "failed") -> None:
        if state.worker is not None:
            state.worker.kill()
            state.worker = None
        record = {**state.entry.record, "status": status, "reason": reason}
        if state.samples:  # what was timed before the failure stays in the record
            record.update(self._timed(state, None))
        state.record = record

    def _timed(self, state: _State, stopped_by: str | None) -> dict[str, Any]:
        clean = sum(1 for r in state.rounds if r.get("kept", True))
        left_out = len(state.rounds) - clean
        contaminated = bool(left_out) and clean < MIN_CLEAN_ROUNDS
        if contaminated:  # interference never stopped: keep the disturbed rounds, and say so (busy)
            state.samples = [v for r in state.rounds for v in (r.pop("samples", None) or [])] or state.samples
            for r in state.rounds:
                r["kept"] = True
        fields = timed_fields(state.samples, state.loaded, self.profile, stopped_by, state.entry.cell.batch_size)
        fields["timing"].update(rounds=len(state.rounds), worker_starts=state.starts)
        if self.profile.forks > 1:
            fields["timing"]["forks"] = _forks(state.rounds, self.profile.forks)
        fields["rounds"] = state.rounds
        fields["interleave"] = {"mode": self.mode, "group": state.entry.cell.group, "group_run": self.group_run,
                                "cells": len(self.entries), "why": self.why, "lockstep": self.mode != "sustained",
                                "stopped_by": stopped_by, "pairs": len(self.pairs)}
        fields["contention"] = contention.judge(state.slices, threads=self.threads, usable_cpus=self.usable_cpus,
                                                rounds_kept=len(state.rounds) - (0 if contaminated else left_out),
                                                rounds_left_out=0 if contaminated else left_out,
                                                contaminated=contaminated)
        if self._host_verdict is None and self.probes:  # once per group: every cell shares its rounds' probes
            self._host_verdict = self.host.judge(self.probes)
            if self.coruns:
                self._host_verdict.update(_corun_verdict(float(np.median(self.coruns)), self._host_verdict, self.threads))
        fields["contention"].update(self._host_verdict or {})
        return fields

    def _fits(self, states: list[_State]) -> tuple[bool, str]:
        """Whether one more worker fits beside the loaded ones: as large as the largest so far, with headroom."""
        import psutil

        loaded = [s for s in states if s.worker is not None and s.loaded]
        if not loaded:
            return True, ""
        peaks = [s.loaded["peak_rss_mb"] for s in loaded]
        memory = psutil.virtual_memory()
        # A loaded worker may grow back to its peak in its next slice (what its allocator returned after warm-up
        # counts as free now): keep that room too. EfficientNet-B6 at batch 32 lost its ONNX Runtime worker to the
        # out-of-memory killer in round 2 when only the next worker's peak was counted.
        regrow_mb = sum(max(0.0, s.loaded["peak_rss_mb"] - _rss_mb(s.worker)) for s in loaded)
        free_mb = memory.available / 2**20 - MEMORY_RESERVE * memory.total / 2**20 - regrow_mb
        need_mb = MEMORY_HEADROOM * max(peaks)
        if free_mb >= need_mb:
            return True, ""
        return False, (f"the group's workers do not fit in memory together (next needs about {need_mb:.0f} MB, "
                       f"{max(free_mb, 0):.0f} MB free beside {len(peaks)} loaded): one fresh worker per cell and round")


def _forks(rounds: list[dict[str, Any]], asked: int) -> dict[str, Any]:
    """Each worker process's median over its kept rounds' p50s, and whether they disagree: the slowest fork's
    fastest round slower than the fastest fork's slowest round (their rounds' ranges do not overlap)."""
    by_fork: dict[int, list[float]] = {}
    for r in rounds:
        if r.get("kept", True) and "fork" in r:
            by_fork.setdefault(int(r["fork"]), []).append(float(r["p50"]))
    medians = {k: float(np.median(v)) for k, v in sorted(by_fork.items())}
    out: dict[str, Any] = {"asked": asked, "p50": [round(v, 6) for v in medians.values()], "disagree": False}
    if len(medians) > 1:
        slow, fast = max(medians, key=medians.get), min(medians, key=medians.get)
        out["disagree"] = bool(min(by_fork[slow]) > max(by_fork[fast]))
        out["spread"] = round(medians[slow] / medians[fast], 4)
    return out


def _corun_verdict(median: float, verdict: dict[str, Any], threads: int) -> dict[str, Any]:
    """The group's co-run state: its median reading, and a slow host when that is over CORUN_FACTOR (its slices were
    not left out for it: only the ones slower than the group's own state are)."""
    out: dict[str, Any] = {"corun_x_median": round(median, 3)}
    if median > host_speed.CORUN_FACTOR:
        note = (f"the host ran work on {threads} CPUs at once {median:.2f}x slower than its best (co-run probe, median "
                "over this group's slices), with no other process seen: these latencies and the ratios between "
                "runtimes may not repeat when the machine runs at its usual speed")
        out["host_slow"] = True
        out["host_note"] = f"{verdict['host_note']}; {note}" if verdict.get("host_slow") else note
    return out


def _kept_rounds(state: _State) -> int:
    return sum(1 for r in state.rounds if r.get("kept", True))


def _rss_mb(worker: Worker) -> float:
    """The resident memory of a live worker now (0 when it has gone)."""
    import psutil

    try:
        return psutil.Process(worker.proc.pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0
