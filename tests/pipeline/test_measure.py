"""The measure step on real runtimes: a model's cells interleaved in rounds, a failure in one of them, workers
restarted each round when memory is short, and the stopping rule (precision reached, or the cap and a flag)."""
from __future__ import annotations

import json
import os
import time

import pytest

from conftest import FAST, run_cli

from edgebench.harness.worker import FAULT_VARIABLE


def _records(run_dir):
    return {r["key"].split("|")[1]: r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}


def _run(tiny_onnx, tmp_path, *extra, env=None):
    out = tmp_path / "run"
    proc = run_cli("run", "--model", f"onnx:{tiny_onnx}", "--runtime", "onnxruntime", "--runtime", "openvino",
                   "--batch-size", "1", *FAST, "--duration", "1", *extra, "--out", str(out),
                   "--cache-dir", str(tmp_path / "cache"), env=env)
    return proc, _records(out) if (out / "results.jsonl").exists() else {}


def test_a_cell_crashing_between_rounds_fails_alone_and_keeps_what_it_timed(tiny_onnx, tmp_path):
    proc, records = _run(tiny_onnx, tmp_path, "--duration", "2", "--max-duration", "2",
                         env={FAULT_VARIABLE: "|openvino|fp32|b1|slice=crash"})
    assert proc.returncode == 1, proc.stderr
    ort, ov = records["onnxruntime"], records["openvino"]
    assert ov["status"] == "failed" and ov["reason"] == "crashed with SIGSEGV"
    assert ort["status"] == "ok" and len(ort["rounds"]) >= 2  # the other cell went on, round after round
    assert ov["latency_ms"] is None  # it crashed before its first slice: nothing was timed


def test_a_loaded_worker_killed_for_memory_sends_the_group_to_restart_mode_and_the_cell_is_kept(tiny_onnx, tmp_path):
    """SIGKILL in a loaded worker's second slice, as the out-of-memory killer does when workers grow back to their
    peaks: the group goes on with one fresh worker per cell and round, and both cells finish (before: the cell
    failed, as EfficientNet-B6's ONNX Runtime cell at batch 32 did in the seed table)."""
    proc, records = _run(tiny_onnx, tmp_path, "--duration", "2", "--max-duration", "2",
                         env={FAULT_VARIABLE: "|openvino|fp32|b1|slice2=kill"})
    assert proc.returncode == 0, proc.stderr
    ort, ov = records["onnxruntime"], records["openvino"]
    for record in (ort, ov):
        assert record["status"] == "ok"
        assert record["interleave"]["mode"] == "restart" and "killed by SIGKILL" in record["interleave"]["why"]
    assert ov["rounds"][0]["round"] == 0 and 1 not in [r["round"] for r in ov["rounds"]]  # round 2 was lost
    assert ov["timing"]["worker_starts"] >= 2  # the loaded one, then a fresh one (to finish, at least)


def test_a_worker_killed_for_memory_at_finish_finishes_alone_in_a_fresh_one(tiny_onnx, tmp_path):
    """SIGKILL while a loaded worker finishes (its io timing, its memory figures), as the out-of-memory killer did to
    EfficientNet-B6's ONNX Runtime worker at batch 32 beside four loaded ones: the cell keeps what it timed and
    finishes in a fresh worker, the group's other workers closed first (before: the cell failed)."""
    proc, records = _run(tiny_onnx, tmp_path, env={FAULT_VARIABLE: "|onnxruntime|fp32|b1|finish-loaded=kill"})
    assert proc.returncode == 0, proc.stderr
    for record in records.values():
        assert record["status"] == "ok", record.get("reason")
        assert record["interleave"]["mode"] == "restart" and "killed by SIGKILL" in record["interleave"]["why"]
        assert record["latency_ms"]["n"] > 0 and record["peak_rss_mb"] > 0  # its rounds, and what finish reads
    assert records["onnxruntime"]["timing"]["worker_starts"] == 2


def test_restart_mode_when_the_workers_do_not_fit_together(tiny_onnx, tmp_path, monkeypatch, capsys):
    from edgebench import cli
    from edgebench.pipeline import measure

    monkeypatch.setattr(measure, "MEMORY_HEADROOM", 1e9)  # no second worker ever fits beside the first
    monkeypatch.setattr(measure, "RESTART_SHARE", 1e6)  # a restart "worth" hours of slice: the cell's cap bounds it
    out = tmp_path / "run"
    code = cli.main(["run", "--model", f"onnx:{tiny_onnx}", "--runtime", "onnxruntime", "--runtime", "openvino",
                     "--batch-size", "1", *FAST, "--duration", "1", "--max-duration", "1", "--out", str(out),
                     "--cache-dir", str(tmp_path / "cache")])
    assert code == 0, capsys.readouterr().err
    records = _records(out)
    for record in records.values():
        assert record["status"] == "ok"
        assert record["interleave"]["mode"] == "restart" and "do not fit in memory" in record["interleave"]["why"]
        # one fresh worker per round, each slice twice what its restart cost up to the cell's 1-s cap; each reads
        # its finish (memory, io) after its slice, so no worker starts again to finish (no accuracy job here)
        assert record["timing"]["worker_starts"] == len(record["rounds"]) >= 1
        assert record["peak_rss_mb"] > 0 and record["output_shape"]
        samples = record["latency_ms"]["samples"]
        assert sum(samples) / 1000.0 <= len(record["rounds"]) * (1.0 + max(samples) / 1000.0)
    ort, ov = records["onnxruntime"], records["openvino"]
    assert ort["rounds"][0]["at_s"] < ov["rounds"][0]["at_s"]


def test_stops_at_the_target_or_at_the_cap_and_says_which(tiny_onnx, tmp_path):
    proc, loose = _run(tiny_onnx, tmp_path / "loose", "--median-ci", "50", "--max-duration", "20")
    assert proc.returncode == 0, proc.stderr
    for record in loose.values():
        assert record["p50_precision"]["met"] and record["timing"]["stopped_by"] == "precision"
        assert record["p50_precision"]["half_width_pct"] <= 50 and record["latency_ms"]["n"] >= 6
    proc, tight = _run(tiny_onnx, tmp_path / "tight", "--median-ci", "0.0001", "--max-duration", "1.5")
    assert proc.returncode == 0, proc.stderr
    # A tiny model's calls can repeat to the timer's last digit, so one cell's interval may close to zero width
    # (its target met); the group still stops at its cap, with a target not met.
    assert any(not r["p50_precision"]["met"] for r in tight.values())
    for record in tight.values():
        ci = record["p50_precision"]
        assert ci["stopped_by"] == "time cap" and ci["met"] == (ci["half_width_pct"] <= 0.0001)
        assert sum(record["latency_ms"]["samples"]) / 1000 >= 1.5  # the cap counts timed seconds
    assert "(target not met)" in proc.stderr


def test_sustained_runs_each_cell_alone_and_reports_per_minute(tiny_onnx, tmp_path):
    proc, records = _run(tiny_onnx, tmp_path, "--sustained", "0.05")  # 3 s: one (merged) minute
    assert proc.returncode == 0, proc.stderr
    ort, ov = records["onnxruntime"], records["openvino"]
    for record in (ort, ov):
        assert record["interleave"]["mode"] == "sustained" and len(record["rounds"]) == 1
        summary = record["sustained"]
        assert summary["minutes"] == 0.05 and summary["buckets"] and summary["drift_pct"] is None
        assert sum(b["n"] for b in summary["buckets"]) == record["latency_ms"]["n"]
        assert 2.9 <= sum(record["latency_ms"]["samples"]) / 1000 <= summary["elapsed_s"] + 0.01
        assert record["p50_precision"]["stopped_by"] == "sustained"
    # alone: the second cell started after the first had run its whole span
    assert ov["rounds"][0]["at_s"] - ort["rounds"][0]["at_s"] >= 3.0


def test_ctrl_c_mid_group_keeps_the_finished_groups_and_resume_measures_the_rest(tiny_onnx, tmp_path):
    """A hung cell holds its group; Ctrl-C then keeps every group that finished (the first) and a resume measures
    the interrupted group again whole: its cells must share their rounds, so none of them ends alone."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import REPO

    out = tmp_path / "run"
    args = [sys.executable, "-m", "edgebench", "run", "--model", f"onnx:{tiny_onnx}", "--runtime", "onnxruntime",
            "--runtime", "openvino", "--batch-size", "1", "--batch-size", "2", *FAST, "--out", str(out),
            "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, FAULT_VARIABLE: "|openvino|fp32|b2|slice=hang"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (results.exists() and len(results.read_text().splitlines()) >= 2):
        time.sleep(0.5)
    time.sleep(8)  # the second group: ONNX Runtime finishes its first slice, OpenVINO hangs in its own
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    kept = [json.loads(line)["key"].split("|", 1)[1] for line in results.read_text().splitlines()]
    assert sorted(kept) == ["onnxruntime|fp32|b1", "openvino|fp32|b1"], err
    resumed = run_cli("run", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "4 cells (2 already done)" in resumed.stderr
    last = [json.loads(line) for line in results.read_text().splitlines()[-2:]]
    assert sorted(r["key"].split("|", 1)[1] for r in last) == ["onnxruntime|fp32|b2", "openvino|fp32|b2"]
    assert all(r["status"] == "ok" for r in last)


def _group(tiny_onnx, tmp_path, profile, runtimes=("onnxruntime", "openvino"), before=None):
    """One group measured through the sweep's public steps; ``before`` runs just before its rounds start."""
    from edgebench.config import RunConfig
    from edgebench.models import resolve_model
    from edgebench.pipeline.plan import plan
    from edgebench.pipeline.sweep import Sweep

    config = RunConfig(models=(f"onnx:{tiny_onnx}",), runtimes=runtimes, batch_sizes=(1,), profile=profile,
                       cache_dir=str(tmp_path / "cache"))
    spec = resolve_model(f"onnx:{tiny_onnx}")
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    sweep = Sweep(config, [spec], list(runtimes), run_dir, say=lambda text: None)
    sweep.begin()
    prepared = sweep.build.prepare(spec)
    if before:
        before()
    return sweep.measure_group(plan([spec], list(runtimes), config), prepared, {})


def test_a_group_runs_in_lockstep_until_its_ratios_are_known_too(tiny_onnx, tmp_path, monkeypatch):
    """Each p50 is known to ±50% after the first round, but the ONNX Runtime/OpenVINO ratio needs five shared
    rounds for its 95% interval: every cell is timed in every round until then, and the record says why it stopped.
    (Other processes are not watched here: the neighbour tests below cover that.)"""
    from edgebench.config import make_profile
    from edgebench.machine import contention
    from edgebench.stats import cell_ratio

    monkeypatch.setattr(contention, "DISTURBED_SHARE", 1e9)
    profile = make_profile("quick", min_iters=6, min_s=0.0, max_s=30.0, round_s=0.2, target_pct=50, host_check="record")
    records = _group(tiny_onnx, tmp_path, profile)
    ort, ov = (records[k] for k in sorted(records))
    assert [r["round"] for r in ort["rounds"]] == [r["round"] for r in ov["rounds"]]
    assert ort["interleave"]["group_run"] == ov["interleave"]["group_run"] and ort["interleave"]["lockstep"]
    assert ort["latency_ms"]["n"] >= 6 and ov["latency_ms"]["n"] >= 6  # each p50 alone was known in round one
    kept = [r for r in ort["rounds"] if r["kept"]]
    assert len(kept) >= 5  # ... the ratio needed five shared rounds
    for record in (ort, ov):
        assert record["interleave"]["stopped_by"] == record["timing"]["stopped_by"] == "precision"
    ratio = cell_ratio(ort, ov)
    assert ratio["paired"] and ratio["rounds"] == len(kept) and ratio["confidence"] >= 0.95
    assert ratio["half_width_pct"] <= 50


def test_calls_slower_than_the_cap_get_their_floor_and_are_not_called_interference(tiny_onnx, tmp_path, monkeypatch):
    """One call per slice and a cap far below a call: the group runs until every cell has its floor of calls and
    says it stopped at its cap, not "interference" with no round left out (the seed table's EfficientNet-B6 at
    batch 32 did before). A call longer than the cap is the cell's whole cap: its floor is one call."""
    from edgebench.config import make_profile
    from edgebench.machine import contention

    monkeypatch.setattr(contention, "DISTURBED_SHARE", 1e9)  # the stopping rule alone is under test
    profile = make_profile("quick", min_iters=6, min_s=0.0, max_s=0.0001, round_s=0.0001, target_pct=0.01,
                           host_check="record")
    records = _group(tiny_onnx, tmp_path, profile)
    for record in records.values():
        assert record["interleave"]["stopped_by"] == "time cap"
        assert record["timing"]["floor_calls"] == 1 and not record["contention"]["rounds_left_out"]
        assert record["latency_ms"]["n"] >= 1 and len(record["rounds"]) >= 1


def test_a_neighbour_that_takes_the_cpus_is_seen_and_its_rounds_left_out(tiny_onnx, tmp_path, monkeypatch):
    """A real busy process beside the group for its first rounds: each cell's slices it overlapped are left out of
    the cell's p50 and its ratios (their samples kept in the round), later rounds are kept, busy stays false, and
    the ratio pairs only the rounds both cells kept. The neighbours are tied to the rounds (they spin from before
    round 0 until round 3 begins), not to a wall-clock span that worker start-up on a slow machine could use up."""
    import subprocess
    import sys

    from edgebench.config import make_profile
    from edgebench.machine.env import usable_cpus
    from edgebench.pipeline import measure

    stop, neighbours = tmp_path / "stop", []
    spin = ("import os, sys, time\nopen(sys.argv[1], 'w').close()\n"
            "while not os.path.exists(sys.argv[2]): pass")
    slice_ = measure.GroupMeasure._slice

    def slice_beside_neighbours(self, state, number):
        if number == 0 and not neighbours:  # one spinning process per usable CPU, running before the round starts
            ready = [tmp_path / f"ready{i}" for i in range(usable_cpus())]
            neighbours.extend(subprocess.Popen([sys.executable, "-c", spin, str(r), str(stop)]) for r in ready)
            deadline = time.monotonic() + 60
            while not all(r.exists() for r in ready) and time.monotonic() < deadline:
                time.sleep(0.02)
        if number == 3 and not stop.exists():
            stop.touch()
            for proc in neighbours:
                proc.wait(timeout=30)
        return slice_(self, state, number)

    monkeypatch.setattr(measure.GroupMeasure, "_slice", slice_beside_neighbours)
    profile = make_profile("quick", min_iters=6, min_s=0.0, max_s=6.0, round_s=0.25, target_pct=50, host_check="record")
    try:
        records = _group(tiny_onnx, tmp_path, profile)
    finally:
        stop.touch()
        for proc in neighbours:
            proc.wait(timeout=30)
    for record in records.values():
        left_out = [r for r in record["rounds"] if not r["kept"]]
        kept = [r for r in record["rounds"] if r["kept"]]
        assert left_out and all(r["samples"] and r["others_cpus"] > 0.5 for r in left_out)
        assert len(kept) >= 5 and sum(r["n"] for r in kept) == record["latency_ms"]["n"]
        assert record["contention"]["rounds_left_out"] == len(left_out) and not record["contention"]["busy"]
        assert "left out of this cell's p50" in record["contention"]["note"]
    from edgebench.stats import cell_ratio

    ort, ov = (records[k] for k in sorted(records))
    both = {r["round"] for r in ort["rounds"] if r["kept"]} & {r["round"] for r in ov["rounds"] if r["kept"]}
    assert cell_ratio(ort, ov)["rounds"] == len(both)


def test_a_neighbour_that_never_stops_is_said_not_hidden(tiny_onnx, tmp_path):
    """Interference in every round: the group stops at its bound, keeps the disturbed rounds (no clean figure
    exists) and marks every cell busy with the reason."""
    import subprocess
    import sys

    from edgebench.config import make_profile
    from edgebench.machine.env import usable_cpus

    spin = "import time\nend = time.time() + 60\nwhile time.time() < end: pass"
    neighbours = []
    profile = make_profile("quick", min_iters=6, min_s=0.0, max_s=0.5, round_s=0.25, target_pct=0.01,
                           host_check="record")
    try:
        records = _group(tiny_onnx, tmp_path, profile, runtimes=("onnxruntime",), before=lambda: neighbours.extend(
            subprocess.Popen([sys.executable, "-c", spin]) for _ in range(usable_cpus())))
    finally:
        for proc in neighbours:
            proc.kill()
    (record,) = records.values()
    assert record["status"] == "ok" and record["interleave"]["stopped_by"] == "interference"
    assert record["contention"]["busy"] and "in every round" in record["contention"]["note"]
    assert all(r["kept"] for r in record["rounds"]) and record["latency_ms"]["n"] == sum(r["n"] for r in record["rounds"])


def test_every_round_reads_the_hosts_speed_and_a_group_slower_than_the_machines_best_is_marked(tiny_onnx, tmp_path):
    """Each round starts with the host-speed probe (its time in every cell's round entry); the machine's fastest
    probe is kept in the cache folder. A best far faster than this host runs it now (as after a run on a quiet host,
    when the hypervisor's neighbours took the cores since) marks the group host_slow, and the report lists it."""
    from edgebench.config import make_profile
    from edgebench.machine import host_speed
    from edgebench.report.build import _interference_blocks

    (tmp_path / "cache").mkdir()
    best = host_speed.probe_ms() / 3.0
    (tmp_path / "cache" / host_speed.FILE).write_text(json.dumps({"probe": host_speed.PROBE, "best_ms": best}))
    profile = make_profile("quick", min_iters=3, min_s=0.0, max_s=1.0, round_s=0.1, target_pct=50, host_check="record")
    records = _group(tiny_onnx, tmp_path, profile)
    for record in records.values():
        assert all(r["host_ms"] > 0 for r in record["rounds"])
        seen = record["contention"]
        assert seen["host_best_ms"] == round(best, 4) and seen["host_slowdown"] > host_speed.SLOW_FACTOR
        assert seen["host_slow"] and "slower than its best" in seen["host_note"]
    headings = [getattr(b, "text", "") for b in _interference_blocks(list(records.values()))]
    assert "Measured while the host ran slower than its best" in headings


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the co-run probe needs two CPUs to run together")
def test_slices_slower_than_the_groups_co_run_state_are_left_out_within_an_allowance(tiny_onnx, tmp_path,
                                                                                     monkeypatch):
    """Each slice is bracketed by the co-run probe (the reference workload on the cells' CPUs at once). Here every
    third slice's reading is 3x the rest: slices over 1.15x the group's usual state (its median reading) are left
    out and repeated until they add the allowance (a share of the group's cap), later ones kept and counted; with
    ``host_check`` "record" nothing is left out. A host 3x slow through the whole group leaves nothing out (there is
    no faster state to wait for) and is recorded for the group instead: host_slow, its median reading, a note."""
    import itertools

    from edgebench.config import make_profile
    from edgebench.machine import host_speed
    from edgebench.pipeline import measure

    calls = itertools.count()  # two readings a slice (before and after): the third slice of every three reads 3x
    monkeypatch.setattr(host_speed, "corun_ms", lambda cpus: 3.0 if next(calls) % 6 == 5 else 1.0)
    monkeypatch.setattr(measure, "HOST_LEAVE_OUT_SHARE", 0.1)  # 0.06 s of the group's 0.6-s cap: one slice
    profile = make_profile("quick", min_iters=3, min_s=0.6, max_s=0.6, round_s=0.1, target_pct=50)
    (record,) = _group(tiny_onnx, tmp_path, profile, runtimes=("onnxruntime",)).values()
    rounds, seen = record["rounds"], record["contention"]
    slow = [r for r in rounds if r["corun_x"] == 3.0]
    assert len(slow) >= 2 and all(r["corun_x"] == 1.0 for r in rounds if r not in slow)
    assert all(r["host_slow"] for r in slow) and not any(r["host_slow"] for r in rounds if r not in slow)
    assert not slow[0]["kept"] and slow[0]["left_out_for"] == "host"  # left out, until the allowance was spent
    assert all(r["kept"] for r in slow[1:]) and seen["slices_host_slow_kept"] == len(slow) - 1
    assert seen["rounds_left_out_for_host"] == 1 and not seen["busy"] and "were kept" in seen["note"]
    assert seen["corun_x_median"] == 1.0 and not seen["host_slow"] and seen["corun_x_max"] == 3.0

    calls = itertools.count()
    kept = make_profile("quick", min_iters=3, min_s=0.6, max_s=0.6, round_s=0.1, target_pct=50, host_check="record")
    (record,) = _group(tiny_onnx, tmp_path / "record", kept, runtimes=("onnxruntime",)).values()
    assert all(r["kept"] for r in record["rounds"]) and any(r["host_slow"] for r in record["rounds"])
    assert not record["contention"]["rounds_left_out_for_host"] and not record["contention"]["slices_host_slow_kept"]

    (tmp_path / "slow" / "cache").mkdir(parents=True)  # the machine's best: 1 ms; the whole group reads 3 ms
    corun = {"probe": host_speed.CORUN, "best_ms": {"2": 1.0}}
    (tmp_path / "slow" / "cache" / host_speed.FILE).write_text(json.dumps({"probe": host_speed.PROBE, "corun": corun}))
    monkeypatch.setattr(host_speed, "corun_ms", lambda cpus: 3.0)
    (record,) = _group(tiny_onnx, tmp_path / "slow", profile, runtimes=("onnxruntime",)).values()
    seen = record["contention"]
    assert all(r["kept"] and r["corun_x"] == 3.0 and not r["host_slow"] for r in record["rounds"])
    assert seen["host_slow"] and seen["corun_x_median"] == 3.0 and "co-run probe" in seen["host_note"]


def test_the_host_baseline_keeps_the_fastest_probe_and_starts_afresh_from_a_damaged_file(tmp_path):
    from edgebench.machine import host_speed

    assert host_speed.probe_ms() > 0
    baseline = host_speed.Baseline(tmp_path)
    assert baseline.judge([2.0, 2.2, 2.1])["host_slowdown"] == 1.05 and baseline.best_ms == 2.0
    again = host_speed.Baseline(tmp_path)
    slow = again.judge([3.0, 3.2])
    assert again.best_ms == 2.0 and slow["host_slow"] and slow["host_slowdown"] == 1.55
    assert not again.judge([1.9, 2.0])["host_slow"] and host_speed.Baseline(tmp_path).best_ms == 1.9
    (tmp_path / host_speed.FILE).write_text("{not json")
    assert host_speed.Baseline(tmp_path).best_ms is None


def test_forks_time_each_cell_in_several_worker_processes_and_say_when_they_disagree(tiny_onnx, tmp_path):
    """--forks 2: each loaded worker is started afresh halfway through the group's expected rounds; every round says
    which process timed it and the record gives each process's p50. Processes whose rounds do not overlap disagree."""
    from edgebench.config import make_profile
    from edgebench.pipeline.measure import _forks

    profile = make_profile("quick", min_iters=3, min_s=0.0, max_s=1.0, round_s=0.25, target_pct=0.001, forks=2,
                           host_check="record")
    records = _group(tiny_onnx, tmp_path, profile)
    for record in records.values():
        assert {r["fork"] for r in record["rounds"]} == {0, 1}
        assert record["timing"]["worker_starts"] == 2 and len(record["timing"]["forks"]["p50"]) == 2
    rounds = [{"fork": 0, "p50": p} for p in (10.0, 10.4, 10.2)] + [{"fork": 1, "p50": p} for p in (15.1, 15.6, 15.3)]
    assert _forks(rounds, 2)["disagree"] and _forks(rounds, 2)["spread"] == pytest.approx(1.5, abs=0.01)
    rounds[3]["p50"] = 10.3  # one round of the second process as fast as the first's: they overlap
    assert not _forks(rounds, 2)["disagree"]


def test_a_group_whose_one_round_fills_its_cap_stops_after_the_rounds_it_affords():
    """EfficientNet-B6 at batch 32 in the seed table: one round of its cells' calls (33 s of PyTorch, 6 s of an
    INT8 runtime) passes the group's cap, and the INT8 cell's floor of 2 calls made a second round that repeated
    every call. A cell's floor is also met by as many kept rounds as the cap affords; a round that leaves the cap
    room for more still waits for the floor."""
    from edgebench.config import make_profile
    from edgebench.pipeline import measure

    group = measure.GroupMeasure.__new__(measure.GroupMeasure)
    group.profile, group.pairs, group.states = make_profile("default"), [], []  # 8 s per cell, floor of 3 calls

    def state(call_s: float) -> measure._State:
        return measure._State(entry=None, samples=[call_s * 1000.0], timed_s=call_s,
                              rounds=[{"round": 0, "n": 1, "p50": call_s * 1000.0, "kept": True}])

    cap_s = 2 * group.profile.max_s
    group.last_round_s = 33.0 + 5.9
    assert group._group_stop([state(33.0), state(5.9)], cap_s) == "time cap"
    group.last_round_s = 12.0  # a round that fits the cap: the 5.9-s cell still needs its second call
    assert group._group_stop([state(10.0), state(5.9)], cap_s) is None


def test_a_group_too_slow_to_repeat_keeps_its_slow_host_slices():
    """EfficientNet-B7 at batch 32: one round of its five cells is 130 s of calls against a 40-s cap, so the group
    can never get three clean rounds; a slice the co-run probe reads slow there is kept and counted, not repeated
    with a whole second round. A group whose cap affords several rounds still leaves it out."""
    from edgebench.config import make_profile
    from edgebench.pipeline import measure

    def part(call_s: float, corun: float) -> dict:
        return {"samples": [call_s * 1000.0], "corun_x": corun, "at_s": 0.0, "wall_s": call_s, "cpu_s": 2 * call_s}

    def close(calls: list[float]) -> list[measure._State]:
        group = measure.GroupMeasure.__new__(measure.GroupMeasure)
        group.profile, group.threads, group.probes, group.coruns = make_profile("default"), 2, [], []
        group.cap_s, group.host_left_out_s, group.last_round_s = 8.0 * len(calls), 0.0, 0.0
        states = [measure._State(entry=None) for _ in calls]
        readings = [1.0] * (len(calls) - 1) + [1.3]  # the last cell's slice alone reads slow
        group._close_round(0, [(s, part(c, x)) for s, c, x in zip(states, calls, readings)])
        group._close_round(1, [(s, part(c, x)) for s, c, x in zip(states, calls, readings)])
        return states

    slow = close([60.0, 25.0, 10.0, 19.0, 11.0])[-1]
    assert [r["kept"] for r in slow.rounds] == [True, True] and all(s["host_slow_kept"] for s in slow.slices)
    fast = close([0.5, 0.5, 0.5])[-1]
    assert [r["kept"] for r in fast.rounds] == [False, False] and fast.rounds[0]["left_out_for"] == "host"
