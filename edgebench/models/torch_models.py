"""Build a torch module for a ModelSpec and give it the weights the user asked for.

Runs inside a worker process (it imports torch). Weight modes:
- ``pretrained``: published weights from the download cache or the hub; failing that, an error;
- ``auto``: pretrained when they can be obtained, else random weights, said loudly;
- ``random``: seeded random initialisation (results never show accuracy);
- a checkpoint file (``--checkpoint``): a state dict, loaded with ``weights_only=True`` or from safetensors.
"""
from __future__ import annotations

import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgebench.cache import file_sha256
from edgebench.errors import ConfigError, UnavailableError
from edgebench.models.spec import ModelSpec

HUB_HOSTS = {"timm": "huggingface.co", "torchvision": "download.pytorch.org", "transformers": "huggingface.co"}


@dataclass(frozen=True, kw_only=True)
class WeightsInfo:
    weights: str  # pretrained | random | checkpoint
    note: str
    identity: str  # what the export cache is keyed by

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hub_reachable(source: str, timeout_s: float = 3.0) -> bool:
    """A quick connect to the weights host, so an offline machine does not sit through retries."""
    host = HUB_HOSTS.get(source)
    if host is None:
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def build_module(spec: ModelSpec, *, pretrained: bool = False):
    """The architecture of ``spec`` in eval mode, with published weights when ``pretrained``."""
    if spec.source == "timm":
        import timm

        return timm.create_model(spec.name, pretrained=pretrained).eval()
    if spec.source == "torchvision":
        import torchvision.models as tvm

        if spec.task == "detect":
            from edgebench.models.torchvision_detect import SsdOutputs, build_detector

            return SsdOutputs(build_detector(spec.name, pretrained), spec.input_shape[1:])
        weights = tvm.get_model_weights(spec.name).DEFAULT if pretrained else None
        if spec.task != "segment":
            return tvm.get_model(spec.name, weights=weights).eval()
        # A segmenter without its weights must not fetch its backbone's ImageNet ones either (the default).
        module = tvm.get_model(spec.name, weights=weights, **({} if pretrained else {"weights_backbone": None}))
        return OutputOf(module.eval(), "out")
    if spec.source == "transformers":
        from edgebench.models.transformers_models import build

        return build(spec, pretrained)
    raise ConfigError(f"{spec.id} has no PyTorch implementation (source {spec.source!r})")


SAVE_HINT = "save it with torch.save(model.state_dict(), path) or as .safetensors"


def check_checkpoint_file(path: str | Path) -> None:
    """Refuse a ``--checkpoint`` that cannot be a state dict before anything is measured (in a worker, a bad
    file would only fail every cell). A .safetensors header is checked against the file's size; any other
    file is read as ``torch.load(weights_only=True)`` would, memory-mapped. Whether its keys fit the model
    is known only once the model is built (``load_model``)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist; give the path of a state-dict file")
    if path.suffix == ".safetensors":
        _check_safetensors(path)
        return
    import zipfile

    with open(path, "rb") as handle:
        pickled = handle.read(1) == b"\x80"  # torch.save's legacy format starts with a pickle protocol byte
    if not pickled and not zipfile.is_zipfile(path):
        raise ConfigError(f"checkpoint {path} is neither a torch.save file (a zip archive) nor .safetensors "
                          f"(truncated, or another format); {SAVE_HINT}")
    load_state_dict_file(path, mmap=True)


def _check_safetensors(path: Path) -> None:
    import json
    import struct

    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        length = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        if length < 2 or 8 + length > size:
            raise ConfigError(f"checkpoint {path} is not a whole .safetensors file (its header does not fit in its "
                              f"{size} bytes: truncated or another format); {SAVE_HINT}")
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ConfigError(f"checkpoint {path} has a damaged .safetensors header; {SAVE_HINT}") from None
    tensors = {k: v for k, v in header.items() if k != "__metadata__"} if isinstance(header, dict) else None
    if not tensors or not all(isinstance(v, dict) and len(v.get("data_offsets") or ()) == 2 for v in tensors.values()):
        raise ConfigError(f"checkpoint {path} holds no tensors (or a malformed .safetensors header); {SAVE_HINT}")
    end = max(int(v["data_offsets"][1]) for v in tensors.values())
    if 8 + length + end > size:
        raise ConfigError(f"checkpoint {path} is truncated: its tensors need {8 + length + end} bytes, the file "
                          f"has {size}; copy it again")


def load_state_dict_file(path: str | Path, *, mmap: bool = False) -> dict[str, Any]:
    """A state dict from a checkpoint file, never unpickling arbitrary objects."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        _check_safetensors(path)
        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error type for a damaged file
            raise ConfigError(f"cannot read checkpoint {path} ({type(exc).__name__}: {str(exc)[:200]}); {SAVE_HINT}") from None
    import zipfile

    import torch

    try:  # mmap needs torch.save's zip format (the default since torch 1.6)
        data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap and zipfile.is_zipfile(path))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ConfigError(
            f"cannot read checkpoint {path} as a plain state dict ({type(exc).__name__}: {first}); {SAVE_HINT}"
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        found = type(data).__name__ if not isinstance(data, dict) else "a dict that is not name → tensor"
        raise ConfigError(f"checkpoint {path} does not hold a state dict (it holds {found}); {SAVE_HINT}")
    return data


def check_checkpoint_fits(spec: ModelSpec, checkpoint: str | Path) -> None:
    """Refuse a checkpoint whose keys or shapes do not fit ``spec``'s architecture, in the calling process,
    before any measuring (imports torch and builds the model: call it only when --checkpoint is given)."""
    module = build_module(spec, pretrained=False)
    try:
        weighted(module).load_state_dict(load_state_dict_file(checkpoint, mmap=True), strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise ConfigError(f"checkpoint {checkpoint} does not fit {spec.id}: {first}; give the state dict of this "
                          "architecture") from None


def load_model(spec: ModelSpec, *, weights: str, checkpoint: str | None, seed: int, online: bool):
    """Return (module, WeightsInfo) following the weight mode."""
    import torch

    if checkpoint:
        module = build_module(spec, pretrained=False)
        state = load_state_dict_file(checkpoint)
        try:
            weighted(module).load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0][:300]
            raise ConfigError(f"checkpoint {checkpoint} does not fit {spec.id}: {first}") from None
        return module.eval(), WeightsInfo(
            weights="checkpoint", note=f"weights from {checkpoint}", identity=f"checkpoint:{file_sha256(checkpoint)}"
        )
    if weights in ("pretrained", "auto"):
        try:
            module = build_module(spec, pretrained=True)
            return module, WeightsInfo(weights="pretrained", note="published pretrained weights",
                                       identity=f"pretrained:{_pretrained_tag(spec)}")
        except Exception as exc:  # download / cache errors come in many types
            where = "the hub is not reachable and they are not in the local cache" if not online else str(exc).splitlines()[0][:200]
            if weights == "pretrained":
                raise UnavailableError(
                    f"pretrained weights for {spec.id} could not be obtained: {where}. "
                    "Put them in the download cache, pass --checkpoint FILE, or use --weights random"
                ) from None
            reason = where
    else:
        reason = "random weights requested"
    torch.manual_seed(seed)
    module = build_module(spec, pretrained=False)
    note = f"RANDOM weights (seed {seed}): {reason}; accuracy is not meaningful"
    return module, WeightsInfo(weights="random", note=note, identity=f"random:{seed}")


def weighted(module):
    """The model a checkpoint is the state dict of: the module itself, or the model inside a wrapper that picks or
    decodes its output (``OutputOf``, ``SsdOutputs``, ``predicted_depth``: each holds it as ``inner``)."""
    import torch

    inner = getattr(module, "inner", None)
    return inner if isinstance(inner, torch.nn.Module) else module


def OutputOf(module, key: str):
    """A module whose forward returns ``module(x)[key]`` (torchvision's segmentation models return a dict)."""
    import torch

    class _Output(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, x):
            return self.inner(x)[key]

    return _Output().eval()


def _pretrained_tag(spec: ModelSpec) -> str:
    if spec.source == "transformers":
        return f"transformers:{spec.name}"
    if spec.source == "timm":
        import timm

        cfg = timm.get_pretrained_cfg(spec.name)
        return f"timm:{spec.name}.{getattr(cfg, 'tag', '') or ''}"
    import torchvision.models as tvm

    return f"torchvision:{tvm.get_model_weights(spec.name).DEFAULT}"


def count_params(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))
