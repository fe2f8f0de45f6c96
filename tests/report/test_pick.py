"""``edgebench pick`` on hand-made result records: ranking, constraints, output and exit codes (no runtime runs)."""
from __future__ import annotations

import json

import pytest
from conftest import run_cli
from records import record, write_run

from edgebench.cli import main
from edgebench.errors import ConfigError
from edgebench.report.deployments import deployments
from edgebench.report.pick import EXIT_NOTHING_QUALIFIES, Constraints, breaks, pick


def _cell(model: str, runtime: str = "onnxruntime", precision: str = "fp32", **kw) -> dict:
    """A record with exact latency (no spread), so p50 equals the value given."""
    return record(model, runtime, precision, spread=0.0, **kw)


# fast but small-and-inaccurate, slow but accurate, and a middle one that is the smallest file
FAST = _cell("timm:fast", precision="int8", p50=5.0, top1=0.70, delta=-0.03, verdict="significant drop",
             size_mb=4.0, peak_rss_mb=500.0)
MID = _cell("timm:mid", p50=8.0, top1=0.74, delta=-0.005, size_mb=3.0, peak_rss_mb=250.0)
SLOW = _cell("timm:slow", p50=20.0, top1=0.80, delta=0.0, size_mb=40.0, peak_rss_mb=300.0)


def _names(items) -> list[str]:
    return [getattr(x, "deployment", x).model for x in items]


@pytest.mark.parametrize("objective, order", [
    ("latency", ["timm:fast", "timm:mid", "timm:slow"]),
    ("accuracy", ["timm:slow", "timm:mid", "timm:fast"]),
    ("size", ["timm:mid", "timm:fast", "timm:slow"]),
    ("throughput", ["timm:fast", "timm:mid", "timm:slow"]),
])
def test_ranking_by_objective(objective, order):
    result = pick(deployments([SLOW, FAST, MID]), Constraints(), objective=objective, batch_size=1)
    assert _names(result.qualifying) == order and not result.misses


def test_ties_broken_by_latency_and_missing_accuracy_last():
    same_size = [_cell("timm:a", p50=9.0, size_mb=5.0, top1=None), _cell("timm:b", p50=3.0, size_mb=5.0, top1=0.1)]
    by_size = pick(deployments(same_size), Constraints(), objective="size", batch_size=1)
    assert _names(by_size.qualifying) == ["timm:b", "timm:a"]
    no_accuracy = [_cell("timm:a", p50=1.0, top1=None), _cell("timm:b", p50=9.0, top1=0.2)]
    by_accuracy = pick(deployments(no_accuracy), Constraints(), objective="accuracy", batch_size=1)
    assert _names(by_accuracy.qualifying) == ["timm:b", "timm:a"]


def test_latency_stat_and_batch_size_are_the_ones_ranked():
    cells = [_cell("timm:a", p50=4.0, batch=1), _cell("timm:a", p50=100.0, batch=32),
             _cell("timm:b", p50=6.0, batch=1), _cell("timm:b", p50=50.0, batch=32)]
    assert _names(pick(deployments(cells), Constraints(), objective="latency", batch_size=32).qualifying) \
        == ["timm:b", "timm:a"]
    spread = [_cell("timm:a", p50=5.0), record("timm:b", p50=5.0, spread=0.5, seed=3)]
    worst = pick(deployments(spread), Constraints(), objective="latency", batch_size=1, latency_stat="p99")
    assert _names(worst.qualifying) == ["timm:a", "timm:b"]


@pytest.mark.parametrize("constraints, excluded, message", [
    (Constraints(max_latency_ms=10), "timm:slow", "latency p50 20.0 ms > 10 ms"),
    (Constraints(min_top1=72), "timm:fast", "top-1 70.0% < 72%"),
    (Constraints(max_size_mb=10), "timm:slow", "size 40.0 MB > 10 MB"),
    (Constraints(max_memory_mb=400), "timm:fast", "peak memory 500.0 MB > 400 MB"),
    (Constraints(max_accuracy_drop=1), "timm:fast", "accuracy drop 3.0 pt > 1 pt"),
])
def test_each_constraint_excludes_the_right_deployment(constraints, excluded, message):
    result = pick(deployments([FAST, MID, SLOW]), constraints, objective="latency", batch_size=1)
    assert [(m.deployment.model, m.breaks) for m in result.misses] == [(excluded, [message])]
    assert excluded not in _names(result.qualifying) and len(result.qualifying) == 2


def test_limits_are_inclusive_and_messages_never_print_the_limit_as_broken():
    on_the_line = deployments([_cell("timm:a", p50=10.0, top1=0.75, delta=-0.01)])[0]
    assert breaks(on_the_line, Constraints(max_latency_ms=10, min_top1=75, max_accuracy_drop=1), batch_size=1) == []
    just_over = deployments([_cell("timm:a", p50=10.004)])[0]
    assert breaks(just_over, Constraints(max_latency_ms=10), batch_size=1) == ["latency p50 10.004 ms > 10 ms"]


def test_missing_measurements_break_their_constraints():
    blind = deployments([_cell("timm:a", top1=None, size_mb=0.0, peak_rss_mb=0.0)])[0]
    everything = Constraints(min_top1=1, max_accuracy_drop=5, max_size_mb=100, max_memory_mb=100)
    assert breaks(blind, everything, batch_size=1) == ["no accuracy measured", "no size measured",
                                                       "no memory measured", "no accuracy measured"]
    no_reference = deployments([_cell("timm:a", top1=0.8, delta=None)])[0]
    assert breaks(no_reference, Constraints(min_top1=50), batch_size=1) == []
    assert breaks(no_reference, Constraints(max_accuracy_drop=5), batch_size=1) \
        == ["no accuracy drop measured (no FP32 reference)"]


def test_an_accuracy_gain_is_no_drop():
    better = deployments([_cell("timm:a", delta=0.02, verdict="significant gain")])[0]
    assert breaks(better, Constraints(max_accuracy_drop=0), batch_size=1) == []


# ---- through the command ---------------------------------------------------------------------------------

@pytest.fixture()
def run_dir(tmp_path):
    failed = record("timm:broken", "openvino", status="failed", reason="boom")
    skipped = record("timm:mid", "openvino", "bf16", status="skipped", reason="no BF16 here")
    other_batch = _cell("timm:mid", batch=32, p50=80.0, top1=0.74, delta=-0.005, size_mb=3.0, peak_rss_mb=250.0)
    return write_run(tmp_path / "run", [FAST, MID, SLOW, failed, skipped, other_batch])


def test_text_output(run_dir, capsys):
    code = main(["pick", str(run_dir), "--max-latency-ms", "10", "--min-top1", "72", "--top", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Pick for box at batch size 1: 1 of 3 deployment(s) meet the constraints." in out
    assert "Constraints: latency p50 <= 10 ms, top-1 >= 72%." in out
    table = out[out.index("Model"):out.index("Nearest misses")]
    assert "timm:mid" in table and "timm:fast" not in table and "timm:slow" not in table
    misses = out[out.index("Nearest misses"):]
    assert misses.index("timm:fast") < misses.index("timm:slow")
    assert "top-1 70.0% < 72%" in misses and "latency p50 20.0 ms > 10 ms" in misses
    assert "Not candidates: 2 cell(s) on box at batch size 1 did not succeed (1 failed, 1 skipped)" in out


def test_top_limits_rows_and_unrepresentative_accuracy_is_marked(tmp_path, capsys):
    random_weights = _cell("timm:rand", p50=1.0, top1=0.001)
    random_weights["accuracy"]["representative"] = False
    run = write_run(tmp_path / "run", [random_weights, FAST, MID, SLOW])
    assert main(["pick", str(run), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "Top 2 of 4" in out and "0.10*" in out and "* top-1 not representative" in out
    assert "timm:rand" in out and "timm:fast" in out and "timm:mid" not in out


def test_unmeasured_batch_size_names_the_measured_ones(run_dir, capsys):
    assert main(["pick", str(run_dir), "--batch-size", "8"]) == ConfigError.exit_code == 2
    err = capsys.readouterr().err
    assert "batch size 8" in err and "measured batch sizes there: 1, 32" in err


def test_nothing_qualifies_exits_3_with_near_misses(run_dir):
    proc = run_cli("pick", str(run_dir), "--max-latency-ms", "6", "--min-top1", "79")
    assert proc.returncode == EXIT_NOTHING_QUALIFIES == 3, proc.stderr
    assert "No deployment meets the constraints." in proc.stdout
    misses = proc.stdout[proc.stdout.index("Nearest misses"):].splitlines()[1:4]
    assert [line.split()[1] for line in misses] == ["timm:fast", "timm:mid", "timm:slow"]
    assert "top-1 70.0% < 79%" in misses[0] and "latency p50 8.0 ms > 6 ms; top-1 74.0% < 79%" in misses[1]
    assert "Traceback" not in proc.stderr


def test_json_has_the_same_ranking(run_dir):
    args = ["pick", str(run_dir), "--objective", "accuracy", "--max-size-mb", "10"]
    text, as_json = run_cli(*args), run_cli(*args, "--json")
    assert text.returncode == as_json.returncode == 0
    doc = json.loads(as_json.stdout)
    assert doc["device"] == "box" and doc["batch_size"] == 1 and doc["objective"] == "accuracy"
    assert doc["constraints"] == {"max_size_mb": 10.0} and doc["not_candidates"] == 2
    assert [(d["rank"], d["model"]) for d in doc["qualifying"]] == [(1, "timm:mid"), (2, "timm:fast")]
    assert text.stdout.index("timm:mid") < text.stdout.index("timm:fast")
    assert [(m["model"], m["breaks"]) for m in doc["near_misses"]] == [("timm:slow", ["size 40.0 MB > 10 MB"])]


def test_json_when_nothing_qualifies(run_dir):
    proc = run_cli("pick", str(run_dir), "--max-memory-mb", "100", "--json")
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)
    assert doc["qualifying"] == [] and len(doc["near_misses"]) == 3


def test_several_devices_need_device(tmp_path):
    run = write_run(tmp_path / "run", [_cell("timm:a", device="laptop"), _cell("timm:a", device="pi5")])
    proc = run_cli("pick", str(run))
    assert proc.returncode == 2
    assert "laptop" in proc.stderr and "pi5" in proc.stderr and "--device" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("pick", str(run), "--device", "jetson")
    assert proc.returncode == 2 and "jetson" in proc.stderr and "laptop, pi5" in proc.stderr
    assert "Traceback" not in proc.stderr
    chosen = run_cli("pick", str(run), "--device", "pi5", "--json")
    assert chosen.returncode == 0 and json.loads(chosen.stdout)["device"] == "pi5"
