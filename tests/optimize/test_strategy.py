"""The search's decisions on hand-made records: what the screen drops, what cannot win, what is chosen."""
from __future__ import annotations

import pytest

from edgebench.optimize import strategy
from edgebench.optimize.strategy import Goal


def record(key: str, p50: float, drop_pt: float, *, half: float = 0.2, drop_half: float = 1.0, size: float = 5.0,
           status: str = "ok", variant: str = "") -> dict:
    runtime, precision = key.split("-")[:2]
    delta = -drop_pt / 100.0
    return {"key": key, "runtime": runtime, "precision": precision, "variant": variant, "status": status,
            "reason": "" if status == "ok" else "it crashed", "size_mb": size, "peak_rss_mb": 100.0,
            "latency_ms": {"p50": p50}, "p50_precision": {"lo": p50 - half, "hi": p50 + half},
            "accuracy": {"images": 250, "top1": 0.75 + delta, "vs_reference": {"top1_change": {
                "delta": delta, "ci95": [delta - drop_half / 100.0, delta + drop_half / 100.0], "p_value": 0.5,
                "verdict": "no significant change"}}}}


def test_drop_in_points_turns_the_interval_round():
    drop = strategy.drop_pt(record("ort-int8", 3.0, 1.0, drop_half=0.5))
    assert drop["estimate"] == pytest.approx(1.0)
    assert (drop["lo"], drop["hi"]) == (pytest.approx(0.5), pytest.approx(1.5))


def test_the_budget_applies_to_the_estimate_or_to_the_upper_bound():
    r = record("ort-int8", 3.0, 0.4, drop_half=0.6)
    assert strategy.accuracy_breaks(r, Goal(max_drop_pt=0.5)) is None
    assert "upper bound 1.00 pt > budget 0.5" in strategy.accuracy_breaks(r, Goal(max_drop_pt=0.5, bound="upper"))


def test_screen_drops_broken_dominated_and_failed_but_keeps_baselines():
    records = {
        "ort-fp32": record("ort-fp32", 10.0, 0.0, drop_half=0.0),
        "ort-int8": record("ort-int8", 4.0, 0.2),
        "ort-broken": record("ort-broken", 3.0, 9.0, drop_half=2.0),  # even its low end (7 pt) is over 1 pt
        "ov-slow": record("ov-slow", 8.0, 0.5),  # slower, no more accurate, same size as ort-int8: dominated
        "ov-closer": record("ov-closer", 4.1, 0.5),  # intervals overlap ort-int8: not clearly slower
        "ov-crash": record("ov-crash", 1.0, 0.0, status="failed"),
    }
    fates = strategy.screen(records, Goal(max_drop_pt=1.0), keep={"ort-fp32"})
    assert fates["ort-fp32"] is None and fates["ort-int8"] is None and fates["ov-closer"] is None
    assert "over the 1 pt budget even at its low end" in fates["ort-broken"]
    assert fates["ov-slow"].startswith("dominated by ort int8")
    assert fates["ov-crash"].startswith("failed")


def test_a_more_accurate_slower_candidate_is_not_dominated():
    records = {"a-int8": record("a-int8", 4.0, 1.0), "b-int8": record("b-int8", 8.0, 0.2)}
    assert strategy.screen(records, Goal(max_drop_pt=1.0), keep=set()) == {"a-int8": None, "b-int8": None}


def test_cannot_win_only_when_intervals_are_apart():
    best = record("a-int8", 4.0, 0.1)
    assert strategy.cannot_win(record("b-int8", 4.3, 0.0), best, Goal()) is None
    assert strategy.cannot_win(record("b-int8", 5.0, 0.0), best, Goal()) is None  # within the probe's margin
    assert "slower than a int8" in strategy.cannot_win(record("b-int8", 6.0, 0.0), best, Goal())
    assert strategy.cannot_win(record("b-int8", 6.0, 0.0, size=1.0), best, Goal(objective="size")) is None


def test_choose_takes_the_fastest_feasible_and_says_why_the_others_fail():
    records = [record("ort-fp32", 10.0, 0.0, drop_half=0.0), record("ort-int8", 4.0, 1.2), record("ov-int8", 5.0, 0.3),
               record("ov-big", 4.5, 0.1, size=50.0), record("x-fp16", 1.0, 0.0, status="failed")]
    chosen, feasible, why_not = strategy.choose(records, Goal(max_drop_pt=0.5, max_size_mb=20.0))
    assert chosen["key"] == "ov-int8"
    assert [r["key"] for r in feasible] == ["ov-int8", "ort-fp32"]
    assert "drop 1.20 pt > budget 0.5 pt" in why_not["ort-int8"]
    assert "size 50.0 MB > 20 MB" in why_not["ov-big"]
    assert why_not["x-fp16"].startswith("failed")


def test_tied_records_are_named_with_the_chosen_one():
    a, b, c = record("a-int8", 4.0, 0.1), record("b-int8", 4.3, 0.1), record("c-int8", 6.0, 0.1)
    assert strategy.tied_with(a, [a, b, c], Goal()) == [b]


def test_contenders_are_the_feasible_ones_within_the_best_ones_noise():
    screened = {k: record(k, p50, 0.1) for k, p50 in (("a-int8", 4.0), ("b-int8", 4.6), ("c-int8", 7.0))}
    assert strategy.contenders(screened, ["c-int8", "b-int8", "a-int8"], Goal()) == ["a-int8", "b-int8"]


def test_dominance_reads_accuracy_as_the_budget_does():
    lossless = record("ov-bf16", 5.0, 0.0, drop_half=0.0)
    fast = record("ort-int8", 3.0, 0.0, drop_half=1.9)  # same estimate, but the interval reaches +1.9 pt
    records = {"ov-bf16": lossless, "ort-int8": fast}
    assert strategy.screen(records, Goal(max_drop_pt=0.5), keep=set())["ov-bf16"].startswith("dominated")
    assert strategy.screen(records, Goal(max_drop_pt=0.5, bound="upper"), keep=set())["ov-bf16"] is None


def test_among_deployments_not_told_apart_the_smaller_drop_wins():
    fastest = record("ort-int8", 4.0, 0.4, variant="entropy")
    close = record("ort-int8b", 4.1, 0.0)  # intervals overlap the fastest one's: equally fast
    slower = record("ov-int8", 6.0, -0.4)
    chosen, feasible, _ = strategy.choose([fastest, close, slower], Goal(max_drop_pt=0.5))
    assert chosen is close and feasible[1:] == [fastest, slower]


def with_rounds(key: str, round_p50s: list[float], drop: float = 0.0) -> dict:
    r = record(key, sorted(round_p50s)[len(round_p50s) // 2], drop, half=0.01)
    samples = [p for p in round_p50s for _ in range(5)]
    r["latency_ms"] = {"p50": r["latency_ms"]["p50"], "samples": samples}
    r["rounds"] = [{"round": i, "n": 5, "p50": p} for i, p in enumerate(round_p50s)]
    return r


def test_ties_are_judged_over_rounds_not_over_pooled_samples():
    # Tight pooled intervals (±0.01 ms) but rounds that swing with the host: not told apart.
    a = with_rounds("a-int8", [4.0, 5.0, 4.2, 6.0, 4.1, 5.5])
    b = with_rounds("b-int8", [4.6, 4.4, 6.2, 4.9, 5.8, 4.3])
    assert strategy.tied_with(a, [a, b], Goal()) == [b]
    c = with_rounds("c-int8", [8.0, 8.1, 7.9, 8.2, 8.0, 8.1])  # slower in every round
    assert strategy.tied_with(a, [a, c], Goal()) == []
