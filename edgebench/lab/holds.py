"""Which places this host's edgebench runs hold, so that a run killed with its host leaves none held.

A run writes one small file per reservation it makes (process id and start time, the place, the
reservation's token, its run folder) and removes it once the place is released. The next run on this
host reads them: when the holder process is gone, its reservation is cancelled and, if the place is
still acquired by this user under that very reservation, released, with a line saying so. A place held
by a run that is still alive is left alone (that run is waited for like any other holder), as is a
place this user acquired by hand with labgrid-client, or one that another reservation holds by now.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from edgebench.cache import slug
from edgebench.lab.coordinator import LabClient, LabError


def _me() -> dict[str, float | int]:
    import psutil

    return {"pid": os.getpid(), "started": psutil.Process().create_time()}


def _alive(holder: dict) -> bool:
    import psutil

    try:
        return abs(psutil.Process(int(holder["pid"])).create_time() - float(holder["started"])) < 1
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


class Holds:
    def __init__(self, cache: Path, coordinator: str) -> None:
        self.folder = Path(cache) / "lab" / "holds" / slug(coordinator)

    def _file(self, token: str) -> Path:
        return self.folder / f"{slug(token)}.json"

    def record(self, place: str, token: str, run_dir: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file(token).write_text(json.dumps({**_me(), "place": place, "token": token, "run": str(run_dir)}))

    def forget(self, token: str) -> None:
        self._file(token).unlink(missing_ok=True)

    def release_stale(self, client: LabClient, say: Callable[[str], None]) -> list[str]:
        """Release the places held (and cancel the reservations made) by runs of this host that are gone."""
        released = []
        if not self.folder.is_dir():
            return released
        places = client.places()
        for path in sorted(self.folder.glob("*.json")):
            try:
                holder = json.loads(path.read_text())
                name = str(holder["place"])
            except (OSError, ValueError, KeyError, TypeError):
                path.unlink(missing_ok=True)
                continue
            if _alive(holder):
                continue
            token = str(holder.get("token", ""))
            place = places.get(name)
            try:
                if place is not None and place.acquired == client.user and place.reservation == token:
                    client.release(name)
                    say(f"released place {name}: held by an edgebench run that is gone (pid {holder.get('pid')}, "
                        f"run {holder.get('run')}; resume it with --resume)")
                    released.append(name)
                client.cancel(token)
            except LabError:
                pass  # the reservation expired already; the place is not ours any more
            path.unlink(missing_ok=True)
        return released
