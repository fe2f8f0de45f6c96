"""Artifact: a file plus what produced it. It is what passes between export, quantise and runtime."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Artifact:
    path: str
    format: str  # "torch" (a state dict), "onnx", "openvino-ir", later "engine", "tflite", "pte"...
    precision: str = "fp32"
    toolchain: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        """Every file a deployment ships: the path, plus its companions (an IR's .bin) named in meta."""
        folder = os.path.dirname(self.path)
        extra = [os.path.join(folder, name) for name in self.meta.get("files", []) if name != os.path.basename(self.path)]
        return [self.path, *extra]

    @property
    def size_mb(self) -> float:
        """Size on disk in MB (10^6 bytes, as the reference table counts), all files together."""
        return sum(os.path.getsize(f) for f in self.files) / 1e6

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Artifact":
        return cls(**data)
