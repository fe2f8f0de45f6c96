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


def probed(key: str, round_p50s: list[float], drop_pt: float = 0.0, *, group_run: str = "g1", drop_half: float = 1.0,
           size: float = 5.0, status: str = "ok") -> dict:
    """A record timed in lockstep probe rounds: each round's p50, five samples a round around it (latency_ms.samples
    cut by the rounds' n), kept, with its group run."""
    r = record(key, sorted(round_p50s)[len(round_p50s) // 2], drop_pt, half=0.01, drop_half=drop_half, size=size,
               status=status)
    samples = [p * f for p in round_p50s for f in (0.98, 0.99, 1.0, 1.01, 1.02)]
    r["latency_ms"] = {"p50": r["latency_ms"]["p50"], "samples": samples}
    r["rounds"] = [{"round": i, "n": 5, "p50": p, "kept": True} for i, p in enumerate(round_p50s)]
    r["interleave"] = {"group": "net|b1", "group_run": group_run, "lockstep": True}
    return r


# The host's speed swings by up to 2x between rounds: each round slows every cell alike.
HOST = [1.0, 1.9, 1.1, 2.0, 1.0, 1.6, 1.2, 1.05]


def scaled(key: str, p50: float, drop_pt: float = 0.0, **kw) -> dict:
    return probed(key, [p50 * h for h in HOST], drop_pt, **kw)


def test_screen_drops_broken_dominated_and_failed_but_keeps_baselines():
    records = {
        "ort-fp32": scaled("ort-fp32", 10.0, 0.0, drop_half=0.0),
        "ort-int8": scaled("ort-int8", 4.0, 0.2),
        "ort-broken": scaled("ort-broken", 3.0, 9.0, drop_half=2.0),  # even its low end (7 pt) is over 1 pt
        "ov-slow": scaled("ov-slow", 8.0, 0.5),  # 2x ort-int8 in every round, no more accurate, same size: dominated
        "ov-closer": scaled("ov-closer", 4.1, 0.5),  # 1.025x in every round: within the margin, goes on
        "ov-crash": record("ov-crash", 1.0, 0.0, status="failed"),
    }
    fates = strategy.screen(records, Goal(max_drop_pt=1.0), keep={"ort-fp32"})
    assert fates["ort-fp32"] is None and fates["ort-int8"] is None and fates["ov-closer"] is None
    assert "over the 1 pt budget even at its low end" in fates["ort-broken"]
    assert fates["ov-slow"].startswith("dominated by ort int8: 2.00× its p50 in the probe")
    assert "8 paired rounds" in fates["ov-slow"]
    assert fates["ov-crash"].startswith("failed")


def test_the_host_swinging_2x_does_not_hide_a_paired_difference():
    # Pooled, the two overlap completely (each spans 4-8 ms); round by round the candidate is 1.3x slower every time.
    fast, slow = scaled("a-int8", 4.0), scaled("b-int8", 5.2)
    assert min(slow["latency_ms"]["samples"]) < max(fast["latency_ms"]["samples"]) / 1.5
    assert strategy.clearly_faster(fast, slow) and not strategy.clearly_faster(slow, fast)
    ratio = strategy.paired_ratio(slow, fast)
    assert ratio["paired"] and ratio["lo"] > 1.0 + strategy.PROBE_MARGIN


def test_a_candidate_is_dropped_only_when_its_paired_interval_excludes_1_by_the_margin():
    best = scaled("a-int8", 4.0)
    assert not strategy.clearly_faster(best, scaled("b-int8", 4.0 * 1.08))  # 8% slower: inside the margin
    assert strategy.clearly_faster(best, scaled("b-int8", 4.0 * 1.15))  # 15% slower in every round
    # Slower by 15% on the median round, but faster in some rounds: the interval reaches below 1.1, it goes on.
    mixed = probed("c-int8", [4.0 * h * f for h, f in zip(HOST, [1.3, 0.95, 1.3, 1.0, 1.15, 1.25, 0.9, 1.2])])
    assert strategy.paired_ratio(mixed, best)["lo"] <= 1.0 + strategy.PROBE_MARGIN
    assert not strategy.clearly_faster(best, mixed)


def test_an_unpaired_probe_drops_nothing():
    # The case: OpenVINO INT8 [ac0.5] probed at 2.30 ms in a fast minute, ONNX Runtime QOperator at 3.05 ms
    # in a slow one. Timed in different runs of the group, they share no round: no paired evidence, no drop.
    ov = probed("ov-int8", [2.3, 2.28, 2.32, 2.3, 2.31, 2.29], group_run="g1")
    ort = probed("ort-int8", [3.05, 3.04, 3.06, 3.05, 3.07, 3.03], group_run="g2")
    assert strategy.paired_ratio(ort, ov) is None
    assert not strategy.clearly_faster(ov, ort)
    assert strategy.cannot_win(ort, ov, Goal()) is None
    # Timed in the same lockstep rounds, the two were 1.0x apart round by round: nothing to drop either.
    ov_same = probed("ov-int8", [2.3, 3.9, 3.1, 2.4, 3.0, 3.5])
    ort_same = probed("ort-int8", [2.4, 3.8, 3.0, 2.5, 3.1, 3.4])
    assert not strategy.clearly_faster(ov_same, ort_same) and not strategy.clearly_faster(ort_same, ov_same)


def test_too_few_shared_rounds_or_no_samples_are_no_evidence():
    fast, slow = probed("a-int8", [4.0, 4.1, 4.0]), probed("b-int8", [8.0, 8.1, 8.0])  # 3 rounds: range covers 3 in 4
    assert strategy.paired_ratio(slow, fast) is None and not strategy.clearly_faster(fast, slow)
    bare_fast, bare_slow = record("a-int8", 4.0, 0.0), record("b-int8", 8.0, 0.0)  # no samples, no rounds
    assert not strategy.clearly_faster(bare_fast, bare_slow)
    # rounds left out for interference are not evidence: with them out, 3 shared rounds remain
    leaky = scaled("b-int8", 8.0)
    for r in leaky["rounds"][3:]:
        r["kept"] = False
    leaky["latency_ms"]["samples"] = leaky["latency_ms"]["samples"][:15]
    assert strategy.paired_ratio(leaky, scaled("a-int8", 4.0)) is None


def test_a_more_accurate_slower_candidate_is_not_dominated():
    records = {"a-int8": scaled("a-int8", 4.0, 1.0), "b-int8": scaled("b-int8", 8.0, 0.2)}
    assert strategy.screen(records, Goal(max_drop_pt=1.0), keep=set()) == {"a-int8": None, "b-int8": None}


def test_cannot_win_only_on_paired_evidence_beyond_the_margin():
    best = scaled("a-int8", 4.0, 0.1)
    assert strategy.cannot_win(scaled("b-int8", 4.3, 0.0), best, Goal()) is None  # 7.5% slower: within the margin
    why = strategy.cannot_win(scaled("b-int8", 6.0, 0.0), best, Goal())
    assert why.startswith("slower than a int8, which meets the budget: 1.50× its p50 in the probe")
    assert strategy.cannot_win(scaled("b-int8", 6.0, 0.0, size=1.0), best, Goal(objective="size")) is None


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
    screened = {k: scaled(k, p50, 0.1) for k, p50 in (("a-int8", 4.0), ("b-int8", 4.3), ("c-int8", 7.0))}
    assert strategy.contenders(screened, ["c-int8", "b-int8", "a-int8"], Goal()) == ["a-int8", "b-int8"]


def test_dominance_reads_accuracy_as_the_budget_does():
    lossless = scaled("ov-bf16", 5.0, 0.0, drop_half=0.0)
    fast = scaled("ort-int8", 3.0, 0.0, drop_half=1.9)  # same estimate, but the interval reaches +1.9 pt
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


def final_line(key: str, p50: float, report_drop: float, selection_drop: float | None, **kw) -> dict:
    """A final-round line: accuracy on the report images, the selection figures in search.selection."""
    line = record(key, p50, report_drop, **kw)
    selection = {}
    if selection_drop is not None:
        chosen_on = record(key, p50, selection_drop, **kw)["accuracy"]
        selection = {"images": 150, "top1": chosen_on["top1"], "top1_ci95": [0.7, 0.8],
                     "top1_change": chosen_on["vs_reference"]["top1_change"]}
    line["search"] = {"stage": "final", "selection": selection}
    return line


def test_the_final_choice_reads_the_selection_images_never_the_report_ones():
    # On the report images the fast one breaks the budget and the slow one meets it; on the selection images the
    # other way round. The choice is the selection's; the report figures stay in the line for what it reports.
    fast = final_line("ort-int8", 4.0, report_drop=0.9, selection_drop=0.2)
    slow = final_line("ov-int8", 6.0, report_drop=0.1, selection_drop=0.8)
    decided = [strategy.on_selection(r) for r in (fast, slow)]
    chosen, _, why_not = strategy.choose(decided, Goal(max_drop_pt=0.5))
    assert chosen["key"] == "ort-int8" and "drop 0.80 pt > budget" in why_not["ov-int8"]
    assert strategy.drop_pt(fast)["estimate"] == pytest.approx(0.9)  # the line itself still reports its report drop
    # no selection figures: no accuracy to decide on, so not feasible
    bare = strategy.on_selection(final_line("x-int8", 1.0, report_drop=0.0, selection_drop=None))
    assert bare["accuracy"] is None and strategy.accuracy_breaks(bare, Goal(max_drop_pt=0.5))


def test_selection_summary_keeps_what_the_search_decided_on():
    full = record("ort-int8", 4.0, 0.3)
    full["accuracy"]["eval_set"] = {"eval_id": "abc", "images_file": "images/selection.txt", "role": "selection"}
    kept = strategy.selection_summary(full)
    assert kept["eval_id"] == "abc" and kept["images_file"] == "images/selection.txt" and kept["images"] == 250
    assert strategy.drop_pt(strategy.on_selection({**record("ort-int8", 4.0, 2.0), "search": {"selection": kept}})
                            )["estimate"] == pytest.approx(0.3)
    assert strategy.selection_summary(None) == {} and strategy.selection_summary({"status": "failed"}) == {}


def _final_round_search() -> tuple[dict, list[str], set[str], dict[str, str]]:
    """Two runtimes' screened candidates: the baselines (each runtime's FP32 and default INT8; OpenVINO's FP32 broke
    the budget, still a baseline), five INT8 recipes within the best one's noise and two slower feasible families."""
    p50s = {"ort-fp32": 10.0, "ort-int8": 4.0, "ov-fp32": 9.0, "ov-int8": 4.2, "ort-int8-entropy": 4.05,
            "ort-int8-qop": 4.1, "ort-int8-pct": 4.3, "ov-int8-ac": 6.0, "ov-fp16": 8.0}
    screened = {k: scaled(k, p50, 0.1) for k, p50 in p50s.items()}
    family = {"ort-fp32": "ort fp32", "ort-int8": "ort int8", "ov-fp32": "ov fp32", "ov-int8": "ov int8",
              "ort-int8-entropy": "ort int8: calibration", "ort-int8-pct": "ort int8: calibration",
              "ort-int8-qop": "ort int8: format", "ov-int8-ac": "ov int8: accuracy-control", "ov-fp16": "ov fp16"}
    feasible = [k for k in p50s if k != "ov-fp32"]
    return screened, feasible, {"ort-fp32", "ort-int8", "ov-fp32", "ov-int8"}, {k: family[k] for k in feasible}


def test_the_final_round_holds_the_baselines_the_contenders_and_each_familys_best():
    screened, feasible, baselines, family = _final_round_search()
    assert strategy.contenders(screened, feasible, Goal()) == ["ort-int8", "ort-int8-entropy", "ort-int8-qop", "ov-int8"]
    finalists, left_out = strategy.finalists(screened, feasible, baselines, family, Goal())
    # baselines in key order (feasible or not), then the contenders, then each family's best not already there;
    # ort-int8-pct is none of these (fifth within the noise, second in its family): not in the round, not cut from it
    assert finalists == ["ort-fp32", "ort-int8", "ov-fp32", "ov-int8", "ort-int8-entropy", "ort-int8-qop",
                         "ov-int8-ac", "ov-fp16"]
    assert left_out == [] and len(finalists) <= strategy.MAX_FINAL == 10


def test_the_cut_to_the_final_rounds_size_keeps_the_contenders_then_the_baselines_then_the_families():
    screened, feasible, baselines, family = _final_round_search()
    finalists, left_out = strategy.finalists(screened, feasible, baselines, family, Goal(), limit=6)
    assert finalists == ["ort-fp32", "ort-int8", "ov-fp32", "ov-int8", "ort-int8-entropy", "ort-int8-qop"]
    assert left_out == ["ov-int8-ac", "ov-fp16"]  # the families' bests go first, slowest family last
    finalists, left_out = strategy.finalists(screened, feasible, baselines, family, Goal(), limit=5)
    assert finalists == ["ort-fp32", "ort-int8", "ov-int8", "ort-int8-entropy", "ort-int8-qop"]
    assert left_out == ["ov-fp32", "ov-int8-ac", "ov-fp16"]  # then the baselines, in key order from the end


def test_baselines_beyond_the_final_rounds_size_never_push_out_the_best_feasible_candidate():
    # a machine with six runtimes (GPU ones): twelve baselines alone are more than the round holds
    runtimes = [f"r{i}" for i in range(6)]
    p50s = {f"{r}-{p}": 5.0 + i + (0.5 if p == "int8" else 0.0) for i, r in enumerate(runtimes) for p in ("fp32", "int8")}
    p50s["r5-int8-fast"] = 2.0  # a recipe variant of the last runtime, the fastest of all
    screened = {k: scaled(k, p50, 0.1) for k, p50 in p50s.items()}
    feasible = list(p50s)
    baselines = {k for k in p50s if k != "r5-int8-fast"}
    family = {k: k.rsplit("-", 1)[0] if k == "r5-int8-fast" else k.replace("-", " ") for k in feasible}
    finalists, left_out = strategy.finalists(screened, feasible, baselines, family, Goal())
    assert len(finalists) == strategy.MAX_FINAL and "r5-int8-fast" in finalists
    assert finalists[-1] == "r5-int8-fast" and finalists[:-1] == sorted(baselines)[:strategy.MAX_FINAL - 1]
    assert left_out == sorted(baselines)[strategy.MAX_FINAL - 1:]
