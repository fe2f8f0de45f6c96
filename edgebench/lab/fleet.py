"""``edgebench run --on TAGS``: one run measured on every board whose place has those tags.

The host plans and builds (``edgebench export``: it has torch and the converters), then, per board and
in parallel: reserve the place and wait for it (the coordinator queues us behind whoever holds it),
acquire it, copy the artifacts over, run ``edgebench lab board`` there over SSH and store each result
line as it arrives, and release the place whatever happens. A board that drops marks its unfinished
cells ``device-lost`` and the others go on; ``--resume`` finishes them on the same board, or with
``--elsewhere`` on another board with the same tags.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from edgebench.errors import ConfigError
from edgebench.lab.coordinator import LabClient
from edgebench.lab.dispatch import REMOTE_ROOT, Dispatch, Job
from edgebench.lab.holds import Holds
from edgebench.lab.runfolder import check_run, read_lab, store_location, write_lab
from edgebench.lab.ssh import Board, SshOptions
from edgebench.lab.store import SQLITE_FILE, LabStore, open_store, redacted



@dataclass(frozen=True, kw_only=True)
class LabOptions:
    on: dict[str, str] = field(default_factory=dict)
    coordinator: str
    store: str | None = None
    ssh: SshOptions
    board_edgebench: str = "edgebench"  # the command that runs edgebench on a board (its shell expands ~)
    parallel: int | None = None  # boards measured at once (default: all)
    elsewhere: bool = False


_TAG_KEY = re.compile(r"[a-z][a-z0-9_]+")  # labgrid's own rule for a tag key


def parse_tags(words: list[str]) -> dict[str, str]:
    """``--on board=jetson-orin,arch=aarch64`` (repeatable; every pair must match). ``name=PLACE`` names one place."""
    tags: dict[str, str] = {}
    for word in words:
        for pair in filter(None, (p.strip() for p in word.split(","))):
            key, sep, value = pair.partition("=")
            if not sep or not key or not value:
                raise ConfigError(f"--on {word!r}: give tags as KEY=VALUE[,KEY=VALUE], e.g. --on arch=aarch64 "
                                  "or --on name=PLACE")
            if not _TAG_KEY.fullmatch(key):
                raise ConfigError(f"tag {key!r}: labgrid takes keys of lowercase letters, digits and '_', starting "
                                  "with a letter (at least two characters), e.g. board or arch")
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
        for name, why in problems.items():
            say(f"not used: place {name}: {why}")
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
        options = replace(options, board_edgebench=lab["board_edgebench"])
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
