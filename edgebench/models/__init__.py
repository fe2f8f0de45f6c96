"""Where models come from: timm, torchvision, or an ONNX file the user brings."""
from edgebench.models.registry import list_suites, resolve_model, resolve_suite
from edgebench.models.spec import ModelSpec, Preprocess

__all__ = ["ModelSpec", "Preprocess", "list_suites", "resolve_model", "resolve_suite"]
