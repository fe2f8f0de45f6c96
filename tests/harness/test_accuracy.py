"""Accuracy statistics: intervals, the paired test, and the comparison with a reference."""
from __future__ import annotations

import numpy as np
import pytest

from edgebench.harness.accuracy import paired_change, summarize, topk


def test_identical_outputs_are_no_significant_change():
    rng = np.random.default_rng(0)
    outputs = rng.standard_normal((500, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 500)
    result = summarize(outputs, labels, outputs.copy())
    versus = result["vs_reference"]
    assert versus["top1_change"]["verdict"] == "no significant change"
    assert versus["top1_change"]["delta"] == 0.0 and versus["top1_agreement"] == 1.0
    assert versus["cosine_min"] == pytest.approx(1.0)


def test_a_broken_candidate_is_a_significant_drop():
    reference = np.array([True] * 450 + [False] * 50)
    broken = reference.copy()
    broken[:60] = False  # 60 images lost, none gained
    change = paired_change(reference, broken)
    assert change["verdict"] == "significant drop" and change["p_value"] < 1e-10
    assert change["delta"] == pytest.approx(-0.12) and change["ci95"][1] < 0


def test_topk_orders_best_first():
    out = np.array([[0.1, 0.9, 0.5, 0.7]])
    assert topk(out, 3).tolist() == [[1, 3, 2]]
