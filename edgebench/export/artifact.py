"""Artifact: a file plus what produced it. It is what passes between export, quantise and runtime."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Artifact:
    path: str
    format: str  # "torch" (a state dict), "onnx", "openvino-ir", "engine", "tflite", "pte", "mlpackage" (a folder)...
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
        # An artifact with one program per batch size (ExecuTorch) ships one of them: count that one.
        return sum(_bytes(f) for f in ([self.path] if self.meta.get("batch_files") else self.files)) / 1e6

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Artifact":
        return cls(**data)


def _bytes(path: str) -> int:
    """A file's size, or everything inside a folder artifact (a Core ML ``.mlpackage``)."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)
    return os.path.getsize(path)
