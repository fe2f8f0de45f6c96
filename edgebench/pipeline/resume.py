"""What ``edgebench run --resume`` checks before it adds a cell to a run folder.

A run's table is only worth reading if its cells were measured under one set of conditions. So a
folder is resumed only by the edgebench version and results schema that started it, on the machine it
was measured on (the same hardware and the same software: a changed runtime version changes the
numbers), under the configuration in its run.json, on the same images. Anything else is refused with
one line saying what differs; the way out is always a new run.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench import __version__
from edgebench.errors import ConfigError
from edgebench.results.schema import SCHEMA_VERSION
from edgebench.results.store import RUN_FILE

if TYPE_CHECKING:
    from edgebench.config import RunConfig
    from edgebench.data.evalset import ImageSets
    from edgebench.pipeline.plan import Cell

ENV_FILE = "environment.json"
NEW_RUN = "start a new run (--out DIR) instead"
# What identifies the machine: the hardware a cell ran on, and the name it is reported under.
HARDWARE = ("device", "cpu", "arch", "isa", "physical_cores", "logical_cores", "ram_gb", "os")
# And the software: a cell measured with another runtime version is another measurement.
SOFTWARE = ("python", "libc")
GPU_FIELDS = ("name", "memory", "driver", "compute_cap")
RAM_TOLERANCE = 0.02  # the total the kernel reports moves a little between boots


def read_run(run_dir: Path) -> tuple[dict[str, Any], "RunConfig"]:
    """run.json of a folder and its configuration, refused when another edgebench or schema wrote it."""
    from edgebench.config import RunConfig

    path = run_dir / RUN_FILE
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run folder (no {RUN_FILE}); give the folder an earlier `edgebench run` wrote")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); {NEW_RUN}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ConfigError(f"{path} is damaged (no configuration in it); {NEW_RUN}")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(f"{run_dir} was written with results schema {meta.get('schema_version')}, this edgebench "
                          f"writes {SCHEMA_VERSION}: its cells cannot be mixed with new ones; {NEW_RUN}")
    if meta.get("edgebench") != __version__:
        raise ConfigError(f"{run_dir} was measured with edgebench {meta.get('edgebench')}, this is {__version__}: "
                          f"its cells cannot be mixed with new ones; {NEW_RUN}")
    try:
        config = RunConfig.from_dict(meta["config"], where=str(path))
    except TypeError as exc:
        raise ConfigError(f"{path} is damaged ({exc}); {NEW_RUN}") from None
    return meta, config


def machine_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How two environment records differ in what identifies a machine and its software, one item each."""
    diffs = []
    for key in HARDWARE + SOFTWARE:
        was, now = recorded.get(key), current.get(key)
        if key == "ram_gb" and isinstance(was, (int, float)) and isinstance(now, (int, float)):
            if math.isclose(was, now, rel_tol=RAM_TOLERANCE):
                continue
        if was != now:
            diffs.append(f"{key} {now!r} here, {was!r} in the run")
    was_gpus = [{k: g.get(k) for k in GPU_FIELDS} for g in recorded.get("gpus") or []]
    now_gpus = [{k: g.get(k) for k in GPU_FIELDS} for g in current.get("gpus") or []]
    if was_gpus != now_gpus:
        diffs.append(f"GPUs {now_gpus} here, {was_gpus} in the run")
    was_versions, now_versions = recorded.get("versions") or {}, current.get("versions") or {}
    for package in sorted(set(was_versions) | set(now_versions)):
        if was_versions.get(package) != now_versions.get(package):
            diffs.append(f"{package} {now_versions.get(package) or 'absent'} here, "
                         f"{was_versions.get(package) or 'absent'} in the run")
    return diffs


def check_machine(run_dir: Path, config: "RunConfig", records: list[dict[str, Any]]) -> None:
    """Refuse when environment.json, or a finished cell's environment, describes another machine."""
    from edgebench.machine.env import capture

    current = capture(config.device_name)
    recorded: list[tuple[str, dict[str, Any]]] = []
    env_path = run_dir / ENV_FILE
    if env_path.exists():
        try:
            recorded.append((ENV_FILE, json.loads(env_path.read_text())))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{env_path} is damaged ({exc}); {NEW_RUN}") from None
    seen = set()
    for record in records:
        environment = record.get("environment")
        if isinstance(environment, dict) and environment.get("id") not in seen:
            seen.add(environment.get("id"))
            recorded.append((f"cell {record.get('key')}", environment))
    for where, environment in recorded:
        if not isinstance(environment, dict):
            raise ConfigError(f"{run_dir / where} is damaged (not an environment record); {NEW_RUN}")
        diffs = machine_differences(environment, current)
        if diffs:
            shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
            raise ConfigError(f"{run_dir} was measured on another machine or software ({where}: {shown}); "
                              f"its cells cannot be mixed with cells measured here; {NEW_RUN}")


def check_records(run_dir: Path, records: list[dict[str, Any]], cells: list["Cell"], threads: int,
                  config: "RunConfig", images: "ImageSets") -> None:
    """Refuse when the finished cells were not measured under the configuration the run would go on with."""
    planned = {cell.key for cell in cells}
    eval_id = images.describe()["eval_id"] if images.has_eval else None
    for record in records:
        key = record.get("key")
        if record.get("schema_version") != SCHEMA_VERSION:
            raise ConfigError(f"{run_dir}: cell {key} has results schema {record.get('schema_version')}, this "
                              f"edgebench writes {SCHEMA_VERSION}; {NEW_RUN}")
        differences = []
        if key not in planned:
            differences.append("it is not a cell of the configuration in run.json")
        if isinstance(record.get("threads"), int) and record["threads"] != threads:
            differences.append(f"threads {record['threads']}, {threads} now")
        seed = (record.get("input") or {}).get("seed")
        if seed is not None and seed != config.seed:
            differences.append(f"seed {seed}, {config.seed} now")
        timing = record.get("timing") or {}
        profile = config.profile
        for field, now in (("profile", profile.name), ("min_iters", profile.min_iters), ("min_s", profile.min_s),
                           ("max_s", profile.max_s), ("target_pct", profile.target_pct)):
            if field in timing and timing[field] != now:
                differences.append(f"timing {field} {timing[field]}, {now} now")
        eval_set = (record.get("accuracy") or {}).get("eval_set") or {}
        if eval_set.get("eval_id") and eval_set["eval_id"] != eval_id:
            differences.append("other evaluation images")
        if differences:
            raise ConfigError(f"{run_dir}: cell {key} was measured under another configuration "
                              f"({'; '.join(differences)}); {NEW_RUN}")


def check_images(run_dir: Path, images: "ImageSets") -> None:
    """Refuse when the image lists the run started with are not the images it would use now."""
    from edgebench.data.evalset import IMAGE_LISTS, image_lists

    texts = image_lists(images)
    for kind, name in IMAGE_LISTS.items():
        path = run_dir / name
        if path.exists() and path.read_text() != texts.get(kind, ""):
            raise ConfigError(f"the {kind} images found now differ from those the run started with ({path}): "
                              f"the folder's images changed; {NEW_RUN}")


def ignored_flags(given: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """The options given beside --resume (values that differ from the parser's defaults), as flags."""
    flags = []
    for name, value in given.items():
        if name in ("command", "resume") or value == defaults.get(name):
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif isinstance(value, list):
            flags.extend(f"{flag} {v}" for v in value)
        else:
            flags.append(f"{flag} {value}")
    return flags
