"""Which images a top-1 was measured on, and whether a result may be trusted: the two things that decide
whether two numbers may share a frontier, a column or a ranking.

Top-1 on CIFAR-10 and top-1 on ImageNet are different quantities; so are two subsets of ImageNet. The run
records the evaluation image list's id (``accuracy.eval_set.eval_id``, a hash of the file list), so accuracy
is grouped by it and only compared within a group. A record's ``untrusted`` list holds one-line reasons (an
ONNX export that failed its parity check, ...); such a cell is shown, marked, and never ranked or recommended.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from edgebench.errors import ConfigError

UNTRUSTED_MARK = "[UNTRUSTED]"
UNRECORDED_ID = "unrecorded"


@dataclass(frozen=True, kw_only=True)
class EvalSet:
    """One list of evaluation images: ``eval_id`` identifies it, ``label`` says it in words."""

    eval_id: str
    name: str  # the dataset folder's name ("val", "cifar10-test"), or "unrecorded"
    images: int | None = None

    @property
    def label(self) -> str:
        if self.eval_id == UNRECORDED_ID:
            return "images not recorded (results older than schema 2)"
        count = f"{self.images} images, " if self.images else ""
        return f"{self.name} ({count}id {self.eval_id[:8]})"

    def to_dict(self) -> dict[str, Any]:
        return {"eval_id": self.eval_id, "name": self.name, "images": self.images, "label": self.label}


def eval_set_of(accuracy: dict[str, Any] | None) -> EvalSet | None:
    """The evaluation set of an accuracy record; None when there is no accuracy at all."""
    if not accuracy:
        return None
    described = accuracy.get("eval_set") or {}
    eval_id = described.get("eval_id")
    if not eval_id:
        return EvalSet(eval_id=UNRECORDED_ID, name=UNRECORDED_ID, images=accuracy.get("images"))
    root = (described.get("dataset") or {}).get("root") or ""
    name = PurePath(root).name or "images"
    return EvalSet(eval_id=str(eval_id), name=name, images=described.get("eval_images") or accuracy.get("images"))


def untrusted_reasons(record: dict[str, Any]) -> list[str]:
    """The record's reasons not to trust it (``untrusted``: a list of lines, or missing when trusted)."""
    value = record.get("untrusted") or []
    if isinstance(value, str):
        value = [value]
    return [str(reason) for reason in value if str(reason).strip()]


def choose_eval_set(sets: list[EvalSet], wanted: str) -> EvalSet:
    """The set a user named: its full id, an id prefix, or its folder name when only one set has it."""
    wanted = wanted.strip()
    hits = [s for s in sets if s.eval_id == wanted] or [s for s in sets if s.eval_id.startswith(wanted)] \
        or [s for s in sets if s.name == wanted]
    if len(hits) == 1:
        return hits[0]
    listing = "; ".join(s.label for s in sets) or "none (no accuracy in these runs)"
    what = "matches several" if hits else "matches none"
    raise ConfigError(f"--eval-set {wanted!r} {what} of the evaluation sets here: {listing} "
                      "(give the folder name or the id shown)")
