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

HUB_HOSTS = {"timm": "huggingface.co", "torchvision": "download.pytorch.org"}


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

        weights = tvm.get_model_weights(spec.name).DEFAULT if pretrained else None
        return tvm.get_model(spec.name, weights=weights).eval()
    raise ConfigError(f"{spec.id} has no PyTorch implementation (source {spec.source!r})")


def load_state_dict_file(path: str | Path) -> dict[str, Any]:
    """A state dict from a checkpoint file, never unpickling arbitrary objects."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(
            f"cannot read checkpoint {path} as a plain state dict ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "save it with torch.save(model.state_dict(), path) or as .safetensors"
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict):
        raise ConfigError(f"checkpoint {path} does not hold a state dict")
    return data


def load_model(spec: ModelSpec, *, weights: str, checkpoint: str | None, seed: int, online: bool):
    """Return (module, WeightsInfo) following the weight mode."""
    import torch

    if checkpoint:
        module = build_module(spec, pretrained=False)
        state = load_state_dict_file(checkpoint)
        try:
            module.load_state_dict(state, strict=True)
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


def _pretrained_tag(spec: ModelSpec) -> str:
    if spec.source == "timm":
        import timm

        cfg = timm.get_pretrained_cfg(spec.name)
        return f"timm:{spec.name}.{getattr(cfg, 'tag', '') or ''}"
    import torchvision.models as tvm

    return f"torchvision:{tvm.get_model_weights(spec.name).DEFAULT}"


def count_params(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))
