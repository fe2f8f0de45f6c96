"""Why the results of a model must not be trusted, said in every one of its records (``untrusted``)."""
from __future__ import annotations

from typing import Any


def untrusted_reasons(prepared: dict[str, Any] | None) -> list[str]:
    """Why no result of a model can be trusted (one line each): today, an ONNX export that failed its
    parity check against PyTorch, which every converted artifact and the references inherit."""
    parity = (prepared or {}).get("parity") or {}
    if parity.get("ok") is not False:
        return []
    if "cosine" in parity:
        detail = f"max abs err {parity['max_abs_err']:.1e}, cosine {parity['cosine']:.4g}"
    else:
        detail = parity.get("reason") or "parity check failed"
    return [f"ONNX export does not match PyTorch ({detail}): every result of this model is suspect"]
