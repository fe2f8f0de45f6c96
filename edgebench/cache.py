"""On-disk cache helpers shared by exports, quantised artifacts and decoded images: content keys,
file-name-safe slugs, and folders that appear whole or not at all."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any


def slug(text: str) -> str:
    """``text`` as a safe file name (model ids hold ':' and '/')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def content_key(data: Any, length: int = 16) -> str:
    """A short hash of JSON-able ``data``: the cache key of whatever ``data`` fully determines."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:length]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def staging_dir(folder: Path) -> Path:
    """An empty sibling of ``folder`` to build it in (per process, so concurrent runs do not collide)."""
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def publish(tmp: Path, folder: Path) -> None:
    """Replace ``folder`` by the finished ``tmp``: readers see the old folder, none, or the whole new one."""
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def unwritable_reason(folder: Path) -> str | None:
    """Why ``folder`` cannot be created or written into, or None when it can; checked without creating
    anything: the nearest existing ancestor must be a folder this process may write into."""
    folder = Path(folder).expanduser()
    if folder.exists():
        if not folder.is_dir():
            return "it is a file, not a folder"
        return None if os.access(folder, os.W_OK | os.X_OK) else "this user may not write into it"
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, so no folder can be made under it"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"this user may not create folders in {parent}"
    return None
