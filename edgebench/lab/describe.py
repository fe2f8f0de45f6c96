"""``edgebench lab add`` writes a board into the exporter's YAML and its place into the coordinator;
``edgebench lab status`` shows what the coordinator knows: places, tags, holders, queued reservations,
and whether each board answers over SSH."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from edgebench.errors import ConfigError
from edgebench.lab.coordinator import LabClient
from edgebench.lab.ssh import SshOptions, probe

_TARGET = re.compile(r"^(?P<user>[^@\s]+)@(?P<host>\[[^\]]+\]|[^:\s]+)(?::(?P<port>\d+))?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def add_board(client: LabClient, name: str, target: str, tags: dict[str, str], exporter_config: Path,
              exporter: str, say: Callable[[str], None]) -> None:
    """Add (or update) a board: a NetworkService group in the exporter's YAML, and a place matching it."""
    import yaml

    if not _NAME.match(name):
        raise ConfigError(f"board name {name!r}: use letters, digits, '-', '_' and '.'")
    found = _TARGET.match(target)
    if not found:
        raise ConfigError(f"--ssh {target!r}: give USER@HOST or USER@HOST:PORT")
    config = {}
    if exporter_config.exists():
        try:
            config = yaml.safe_load(exporter_config.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{exporter_config} is not YAML ({' '.join(str(exc).split())[:120]}); fix it or give "
                              "--exporter-config another file") from None
        if not isinstance(config, dict):
            raise ConfigError(f"{exporter_config} is not a labgrid exporter configuration (a mapping of groups)")
    config[name] = {"NetworkService": {"address": found["host"].strip("[]"), "username": found["user"],
                                       "port": int(found["port"] or 22)}}
    exporter_config.parent.mkdir(parents=True, exist_ok=True)
    exporter_config.write_text(yaml.safe_dump(config, sort_keys=True))
    client.add_place(name, f"{exporter}/{name}/NetworkService", {**tags})
    say(f"board {name}: {target} in {exporter_config}, place {name} with tags "
        f"{', '.join(f'{k}={v}' for k, v in tags.items()) or 'none'} on the coordinator at {client.address}")
    say(f"(re)start the exporter so the coordinator sees it: labgrid-exporter -c {client.address} -n {exporter} "
        f"{exporter_config}")


def status(client: LabClient, ssh_options: SshOptions | None) -> str:
    """The lab as a table: one line per place, then the reservations still waiting."""
    places = client.places()
    found, why_not = client.boards({})
    boards = {b.name: b for b in found}
    rows = [("place", "tags", "held by", "board", "answers")]
    for name, place in sorted(places.items()):
        board = boards.get(name)
        address = f"{board.target}:{board.port}" if board else why_not.get(name, "no exported NetworkService")
        answers = "-"
        if board and ssh_options is not None:
            answers = probe(board, ssh_options, timeout_s=15) or "yes"
        rows.append((name, ",".join(f"{k}={v}" for k, v in sorted(place.tags.items())) or "-",
                     place.acquired or "free", address, answers))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    waiting = [r for r in client.reservations() if r.state.name == "waiting"]
    lines.append(f"\ncoordinator {client.address}; you are {client.user}; {len(waiting)} reservations waiting")
    for reservation in waiting:
        wanted = ",".join(f"{k}={v}" for k, v in reservation.filters.get("main", {}).items())
        lines.append(f"  {reservation.owner} waits for {wanted}")
    return "\n".join(lines)
