"""torch → ONNX with a parity check, cached on disk; later, ONNX → other formats."""
from edgebench.export.artifact import Artifact

__all__ = ["Artifact"]
