"""A reduced-precision cell slower than its FP32 sibling is flagged with the likely reason."""
from __future__ import annotations

from edgebench.pipeline.sweep import compare_with_fp32 as _compare_with_fp32


def _record(precision, p50, activations="U8"):
    return {"key": f"m|onnxruntime|{precision}|b1", "model": "m", "runtime": "onnxruntime", "precision": precision,
            "batch_size": 1, "status": "ok", "latency_ms": {"p50": p50},
            "quantization": {"settings": {"activations": activations}}}


def test_slower_int8_is_flagged_with_the_recipes_reason():
    finished = {"m|onnxruntime|fp32|b1": _record("fp32", 10.0)}
    fast, slow, s8 = _record("int8", 4.0), _record("int8", 12.0), _record("int8", 40.0, activations="S8")
    for record in (fast, slow, s8):
        _compare_with_fp32(record, finished)
    assert fast["speedup_vs_fp32"] == 2.5 and "slower_than_fp32" not in fast
    assert slow["slower_than_fp32"]["ratio"] == 1.2 and "U8 activations" in slow["slower_than_fp32"]["likely_reason"]
    assert "quantises activations to S8" in s8["slower_than_fp32"]["likely_reason"]


def test_noise_level_differences_and_missing_siblings_are_not_flagged():
    close = _record("fp16", 10.3)
    _compare_with_fp32(close, {"m|onnxruntime|fp32|b1": _record("fp32", 10.0)})
    assert "slower_than_fp32" not in close
    alone = _record("int8", 50.0)
    _compare_with_fp32(alone, {})
    assert "speedup_vs_fp32" not in alone
