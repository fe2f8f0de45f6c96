"""Measure: a model's cells at one batch size (the cells compared with each other) timed in alternating
rounds, so that a slow minute on a shared or throttling machine hits all of them alike.

Each cell keeps its own worker process (a crash or a hang fails that cell only). Workers stay loaded
between rounds when their memory fits beside each other ("loaded"); otherwise each round starts a fresh
worker per cell ("restart"), and a round's slice lasts at least twice what the restart costs. Each cell
stops on its own once its median is known to the profile's precision (or at its time cap); the record
keeps every round's samples and the precision reached. ``--sustained`` runs each cell alone instead.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebench.harness.cell import timed_fields
from edgebench.harness.isolation import Worker
from edgebench.harness.timing import TimingProfile, stop_reason
from edgebench.machine import contention
from edgebench.pipeline.plan import Cell

MEMORY_HEADROOM = 1.25  # the next worker may need as much as the largest one loaded so far, and a quarter more
MEMORY_RESERVE = 0.10  # of the machine's memory, left to the system and the parent
RESTART_SHARE = 2.0  # in restart mode a slice lasts this many times what the restart cost
# One untimed call opens each slice of a worker that stayed loaded while the others ran, when a call costs at
# most this share of the slice: its caches, pages and thread pool are cold after the others' turns, and a first
# call after a pause ran 5-13% slower than the rest (MobileNetV2 at batch 32, ONNX Runtime and OpenVINO here).
REWARM_SHARE = 0.25


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
    samples: list[float] = field(default_factory=list)
    slices: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    timed_s: float = 0.0
    starts: int = 0
    restart_cost_s: float = 0.0
    record: dict[str, Any] | None = None  # set when the cell is done (ok or failed)
    stop: str | None = None  # lockstep: why it may stop, once it may


class GroupMeasure:
    """Times the cells of one group; ``run`` returns their finished records in the entries' order."""

    def __init__(self, entries: list[Entry], profile: TimingProfile, *, timeout_s: float, log_dir: Path,
                 env: dict[str, str], threads: int, usable_cpus: int, sustained_min: float | None = None,
                 status: Callable[[str], None] = lambda text: None, lockstep: bool = False) -> None:
        self.entries, self.profile, self.timeout_s, self.log_dir = entries, profile, timeout_s, Path(log_dir)
        # lockstep: no cell stops before every cell may (each met its target or its cap), so all of them are timed
        # over the same rounds; a cell stopping early in a fast minute would otherwise look faster than the rest.
        self.lockstep = lockstep
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
        number = 0
        active = [s for s in states if s.record is None]
        while active:
            turn = number % len(active)
            for state in active[turn:] + active[:turn]:  # each cell takes each place in the order in turn
                if state.worker is None and not self._start(state):
                    continue
                self._slice(state, number)
            number += 1
            if self.lockstep and all(s.stop is not None for s in active if s.record is None):
                for state in active:
                    if state.record is None and (state.worker is not None or self._start(state)):
                        self._finish(state, stop_reason(state.samples, state.timed_s, self.profile) or state.stop)
            active = [s for s in active if s.record is None]

    def _start(self, state: _State) -> bool:
        cell = state.entry.cell
        self.status(f"{cell.group} · loading {cell.runtime} {cell.precision}")
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

    def _slice(self, state: _State, number: int) -> None:
        cell, profile = state.entry.cell, self.profile
        seconds, min_calls = profile.round_s, 1
        if self.mode == "restart":
            seconds = max(seconds, RESTART_SHARE * state.restart_cost_s)
        left = profile.max_s - state.timed_s
        if left <= seconds:  # the cap falls in this slice: make it the last one the floor allows
            seconds, min_calls = max(left, 0.0), max(1, profile.floor_iters - len(state.samples))
        call_s = (float(np.median(state.samples)) / 1000.0 if state.samples
                  else state.loaded["warmup_s"] / state.loaded["warmup_iters"])
        rewarm = bool(self.mode == "loaded" and number > 0 and call_s <= REWARM_SHARE * profile.round_s)
        self.status(f"{cell.group} · round {number + 1} · {cell.runtime} {cell.precision}")
        at = time.monotonic() - self.started
        reply = state.worker.request("slice", self.timeout_s, seconds=float(seconds), min_calls=int(min_calls),
                                     rewarm=rewarm)
        if reply.get("status") != "ok":
            self._fail(state, reply.get("reason", "the worker failed"))
            return
        samples = reply.pop("samples")
        state.slices.append({**reply, "samples": samples})
        state.rounds.append({"round": number, "n": len(samples), "p50": float(np.median(samples)), "at_s": round(at, 3)})
        state.samples.extend(samples)
        state.timed_s += sum(samples) / 1000.0
        reason = stop_reason(state.samples, state.timed_s, profile)
        if reason and self.lockstep:
            state.stop = reason  # it goes on with the others until every cell may stop
            if self.mode == "restart":
                state.worker.close()
                state.worker = None
        elif reason:
            self._finish(state, reason)
        elif self.mode == "restart":
            state.worker.close()
            state.worker = None

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
        state.rounds.append({"round": 0, "n": len(samples), "p50": float(np.median(samples)), "at_s": round(at, 3)})
        state.samples.extend(samples)
        state.timed_s += sum(samples) / 1000.0
        self._finish(state, "sustained", extra={"sustained": summary})

    # -- endings ------------------------------------------------------------------------------------------
    def _finish(self, state: _State, stopped_by: str, extra: dict[str, Any] | None = None) -> None:
        reply = state.worker.request("finish", self.timeout_s)
        state.worker.close()
        state.worker = None
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
        fields = timed_fields(state.samples, state.loaded, self.profile, stopped_by, state.entry.cell.batch_size)
        fields["timing"].update(rounds=len(state.rounds), worker_starts=state.starts)
        fields["rounds"] = state.rounds
        fields["interleave"] = {"mode": self.mode, "group": state.entry.cell.group, "cells": len(self.entries),
                                "why": self.why, "lockstep": self.lockstep}
        fields["contention"] = contention.judge(state.slices, threads=self.threads, usable_cpus=self.usable_cpus)
        return fields

    def _fits(self, states: list[_State]) -> tuple[bool, str]:
        """Whether one more worker fits beside the loaded ones: as large as the largest so far, with headroom."""
        import psutil

        peaks = [s.loaded["peak_rss_mb"] for s in states if s.worker is not None and s.loaded]
        if not peaks:
            return True, ""
        memory = psutil.virtual_memory()
        free_mb = memory.available / 2**20 - MEMORY_RESERVE * memory.total / 2**20
        need_mb = MEMORY_HEADROOM * max(peaks)
        if free_mb >= need_mb:
            return True, ""
        return False, (f"the group's workers do not fit in memory together (next needs about {need_mb:.0f} MB, "
                       f"{max(free_mb, 0):.0f} MB free beside {len(peaks)} loaded): one fresh worker per cell and round")
