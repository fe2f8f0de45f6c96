"""Toolchains that cannot share the core environment get one of their own.

litert-torch pins an older torch than edgebench's core (``torch<2.15``) and brings JAX and transformers;
installing it beside the core would downgrade torch under every other runtime. So it lives in a venv
of its own, made once by ``edgebench env create litert``, and the conversion jobs that need it run with
that venv's interpreter (cells already run in their own processes). The venv holds only third-party
packages: edgebench's own code reaches it on ``PYTHONPATH``, so both sides always run the same code.

Nothing here installs anything unless the user runs ``edgebench env create``; a run only uses a venv
that exists, and says how to make it when it does not.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from edgebench.errors import ConfigError, EdgebenchError

READY_FILE = "edgebench-env.json"


@dataclass(frozen=True)
class Toolchain:
    name: str
    extra: str  # the extra of edgebench's pyproject.toml that lists its packages
    module: str  # the import name that proves it is installed
    why: str  # why it cannot live in the core environment


TOOLCHAINS = {
    "litert": Toolchain("litert", "litert-convert", "litert_torch",
                        "litert-torch pins torch<2.15 (the core has a newer torch) and brings JAX and transformers"),
}


def envs_dir() -> Path:
    from edgebench.config import default_cache_dir

    return Path(os.environ.get("EDGEBENCH_ENVS") or default_cache_dir() / "envs")


def env_dir(name: str) -> Path:
    return envs_dir() / f"{name}-py{sys.version_info.major}{sys.version_info.minor}"


def env_python(name: str) -> Path:
    return env_dir(name) / "bin" / "python"


def get_toolchain(name: str) -> Toolchain:
    if name not in TOOLCHAINS:
        raise ConfigError(f"unknown toolchain {name!r}; known: {', '.join(TOOLCHAINS)}")
    return TOOLCHAINS[name]


def python_for(name: str | None) -> tuple[str | None, str]:
    """The interpreter a job of toolchain ``name`` runs with, or (None, how to get one).

    This environment's own interpreter when the toolchain is importable here; else its venv's."""
    if name is None:
        return sys.executable, ""
    toolchain = get_toolchain(name)
    if importlib.util.find_spec(toolchain.module) is not None:
        return sys.executable, ""
    if (env_dir(name) / READY_FILE).exists() and env_python(name).exists():
        return str(env_python(name)), ""
    return None, (f"{toolchain.module} is not installed: it needs an environment of its own ({toolchain.why}); "
                  f"create it once with `edgebench env create {name}`")


def worker_env() -> dict[str, str]:
    """What a worker in a toolchain venv needs to import this very edgebench (its code, not a copy)."""
    root = str(Path(__file__).resolve().parents[1])
    return {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p),
            "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"}


def requirements(extra: str) -> list[str]:
    """edgebench's core requirements, the ``export`` extra (model loading) and the toolchain's extra,
    read from edgebench's installed metadata (the single list of versions, pyproject.toml)."""
    from importlib import metadata

    try:
        declared = metadata.requires("edgebench") or []
    except metadata.PackageNotFoundError:
        raise EdgebenchError("edgebench's package metadata is missing; install edgebench with pip first") from None
    if not any(_extra_of(line) == extra for line in declared):
        raise EdgebenchError(f"edgebench's metadata has no '{extra}' extra; reinstall edgebench")
    wanted = {None, "export", extra}
    return [line.partition(";")[0].strip() for line in declared
            if _extra_of(line) in wanted and not line.startswith("edgebench")]


def _extra_of(line: str) -> str | None:
    """The extra a requirement line of the metadata belongs to (None: a core requirement)."""
    found = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", line.partition(";")[2])
    return found.group(1) if found else None


def create(name: str, say: Callable[[str], None]) -> Path:
    """Make (or re-make) the venv of toolchain ``name`` and check that the toolchain imports there."""
    toolchain = get_toolchain(name)
    folder = env_dir(name)
    packages = requirements(toolchain.extra)
    (folder / READY_FILE).unlink(missing_ok=True)
    say(f"creating {folder} for {name} ({toolchain.why})")
    _call([sys.executable, "-m", "venv", str(folder)], f"could not create a venv in {folder}")
    say(f"installing into it: {' '.join(packages)}")
    _call([str(env_python(name)), "-m", "pip", "install", "--disable-pip-version-check", *packages],
          f"pip could not install the {name} toolchain into {folder} (its output is above)", quiet=False)
    _call([str(env_python(name)), "-c", f"import {toolchain.module}"],
          f"{toolchain.module} was installed into {folder} but does not import (see above)", quiet=False)
    versions = subprocess.run([str(env_python(name)), "-m", "pip", "list", "--format=json",
                               "--disable-pip-version-check"], capture_output=True, text=True).stdout
    record = {"toolchain": name, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "requirements": packages, "packages": {p["name"]: p["version"] for p in json.loads(versions or "[]")}}
    (folder / READY_FILE).write_text(json.dumps(record, indent=1))
    return folder


def describe(name: str) -> str:
    """One line: where the toolchain runs from, or how to get it."""
    python, reason = python_for(name)
    if python is None:
        return f"{name:<10} not set up: {reason}"
    if python == sys.executable:
        return f"{name:<10} installed in this environment"
    ready = json.loads((env_dir(name) / READY_FILE).read_text())
    module = get_toolchain(name).module.replace("_", "-")
    return f"{name:<10} own environment {env_dir(name)} ({module} {ready['packages'].get(module, '?')}, created {ready['created']})"


def _call(command: list[str], failure: str, quiet: bool = True) -> None:
    result = subprocess.run(command, capture_output=quiet, text=True)
    if result.returncode != 0:
        if quiet and result.stderr:
            print(result.stderr[-2000:], file=sys.stderr)
        raise EdgebenchError(failure)
