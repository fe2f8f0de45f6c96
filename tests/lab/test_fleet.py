"""`edgebench run --on`: real boards (OpenSSH servers pinned to CPUs), a real labgrid coordinator and exporter,
real runs on the boards, one store."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_fixtures import lab, lab_bundle, lab_run_args, two_models  # noqa: F401 (fixtures)

from conftest import REPO, run_cli

pytestmark = pytest.mark.slow


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """An `edgebench` host process in its own process group (so a test can kill it with its ssh children)."""
    return subprocess.Popen([sys.executable, "-m", "edgebench", *args], stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"), cwd=REPO, start_new_session=True)


def _wait_for(condition, what: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _states(run: Path) -> dict[tuple[str, str], tuple[str, str]]:
    if not (run / "lab.sqlite").exists():
        return {}
    with sqlite3.connect(run / "lab.sqlite") as db:
        try:
            rows = db.execute("SELECT board, key, state, reason FROM lab_cells").fetchall()
        except sqlite3.OperationalError:
            return {}
    return {(board, key): (state, reason) for board, key, state, reason in rows}


def _holders(lab) -> dict[str, str | None]:
    from edgebench.lab.coordinator import LabClient

    client = LabClient(lab.coordinator.address)
    try:  # the two boards (another test adds places that no exporter offers)
        return {name: place.acquired for name, place in client.places().items() if name in lab.boards}
    finally:
        client.close()


def test_two_boards_in_parallel_one_lost_then_resumed(lab, two_models, tmp_path, cache_dir):
    """Both boards measure at once into one SQLite store; board B is unplugged after its first line: its other
    cell is marked device-lost, A finishes; B comes back and --resume measures only what B lost."""
    run = tmp_path / "run"
    models = [a for m in two_models for a in ("--model", f"onnx:{m}")]
    host = _start(lab_run_args(lab, "--on", "kind=test", *models, "--runtime", "onnxruntime", "--out", str(run),
                               "--cache-dir", str(cache_dir)), tmp_path / "host.log")
    _wait_for(lambda: any(s == "done" for (board, _), (s, _) in _states(run).items() if board == "lab-b"),
              "board B's first result")
    lab.boards["lab-b"].kill()
    assert host.wait(180) == 1, (tmp_path / "host.log").read_text()[-3000:]
    log = (tmp_path / "host.log").read_text()
    states = _states(run)
    on_a = [s for (board, _), (s, _) in states.items() if board == "lab-a"]
    on_b = {key: (s, why) for (board, key), (s, why) in states.items() if board == "lab-b"}
    assert on_a == ["done", "done"], log[-3000:]
    assert sorted(s for s, _ in on_b.values()) == ["device-lost", "done"], log[-3000:]
    lost = next(key for key, (s, _) in on_b.items() if s == "device-lost")
    assert "lab-b dropped" in on_b[lost][1] and "--resume" in on_b[lost][1]
    assert "lab-b: lost" in log and "kept 1 cells, 1 marked device-lost" in log
    assert _holders(lab) == {"lab-a": None, "lab-b": None}  # released in every case

    lab.boards["lab-b"].start()  # the board comes back on the same address, with the same host key
    again = run_cli("run", "--resume", str(run), *lab.ssh_args())
    assert again.returncode == 0, again.stderr[-3000:]
    assert "lab-b (1 cells)" in again.stderr and "lab-a" not in again.stderr.split("resuming")[1].split("\n")[0]
    assert {s for s, _ in _states(run).values()} == {"done"}
    with sqlite3.connect(run / "lab.sqlite") as db:
        stored = db.execute("SELECT board, key, record FROM lab_results").fetchall()
    assert len(stored) == 4
    assert {(b, json.loads(r)["environment"]["device"]) for b, _, r in stored} == {("lab-a", "lab-a"), ("lab-b", "lab-b")}
    # Each board measured pinned to its own CPU: one thread, the affinity its sshd was started with.
    assert {json.loads(r)["environment"]["usable_cpus"] for _, _, r in stored} == {1}

    report = run_cli("report", str(run))
    assert report.returncode == 0, report.stderr[-2000:]
    assert "| lab-a: b1 p50 (ms) | lab-b: b1 p50 (ms) |" in report.stdout
    picked = run_cli("pick", str(run), "--device", "lab-b", "--json")
    assert picked.returncode == 0 and json.loads(picked.stdout), picked.stderr[-2000:]


def test_a_held_board_is_waited_for_and_postgresql_is_the_store(lab, lab_bundle, tmp_path):
    """Someone else holds board A: the run queues behind them (labgrid's reservation) and measures once they
    release it; its lines go into a PostgreSQL server (initdb and pg_ctl in a temporary folder)."""
    import labkit

    why = labkit.postgres_missing()
    if why:
        pytest.skip(why)
    database = labkit.Postgres()
    alice = {**os.environ, "LG_USERNAME": "alice"}
    client = [str(labkit.BIN / "labgrid-client"), "-x", lab.coordinator.address, "-p", "lab-a"]
    try:
        subprocess.run([*client, "acquire"], env=alice, check=True, capture_output=True)
        run = tmp_path / "run"
        host = _start(lab_run_args(lab, "--on", "name=lab-a", "--artifacts", str(lab_bundle), "--store", database.url,
                                   "--out", str(run)), tmp_path / "host.log")
        _wait_for(lambda: "waiting for the place, held by" in (tmp_path / "host.log").read_text(), "the wait")
        assert "/alice" in (tmp_path / "host.log").read_text()
        time.sleep(2)
        assert host.poll() is None  # still queued: it never measures on a board someone else holds
        subprocess.run([*client, "release"], env=alice, check=True, capture_output=True)
        assert host.wait(180) == 0, (tmp_path / "host.log").read_text()[-3000:]
        lab_file = json.loads((run / "lab.json").read_text())
        assert lab_file["store"] == database.url and not (run / "lab.sqlite").exists()
        import psycopg

        with psycopg.connect(database.url) as db:
            rows = db.execute("SELECT board, state FROM lab_cells WHERE run_id = %s", (lab_file["run_id"],)).fetchall()
            records = db.execute("SELECT count(*) FROM lab_results WHERE run_id = %s", (lab_file["run_id"],)).fetchone()
        assert rows == [("lab-a", "done"), ("lab-a", "done")] and records == (2,)
        report = run_cli("report", str(run))
        assert report.returncode == 0 and "lab-a" in report.stdout, report.stderr[-2000:]
    finally:
        subprocess.run([*client, "release", "--kick"], env=alice, capture_output=True)
        database.stop()


def test_a_host_killed_mid_run_leaves_no_place_held_after_the_next_start(lab, lab_bundle, tmp_path):
    first = _start(lab_run_args(lab, "--on", "name=lab-b", "--artifacts", str(lab_bundle), "--out",
                                str(tmp_path / "one")), tmp_path / "one.log")
    _wait_for(lambda: "acquired place lab-b" in (tmp_path / "one.log").read_text(), "the first run to hold lab-b")
    os.killpg(first.pid, signal.SIGKILL)  # the host dies with its ssh sessions; nothing of it releases anything
    first.wait()
    assert _holders(lab)["lab-b"] is not None
    second = run_cli(*lab_run_args(lab, "--on", "name=lab-b", "--artifacts", str(lab_bundle), "--out",
                                   str(tmp_path / "two")))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "released place lab-b: held by an edgebench run that is gone" in second.stderr
    assert _holders(lab) == {"lab-a": None, "lab-b": None}


def test_a_hostile_board_and_an_unknown_host_key(lab, lab_bundle, tmp_path):
    """A board's output is data: lines that are not result records of its cells are rejected with the board
    named and never stored or run; a board whose host key is not known is refused (no auto-accept)."""
    marker = tmp_path / "ran"
    hostile = tmp_path / "hostile.sh"
    other = json.dumps({"key": "onnx:x|onnxruntime|fp32|b1", "model": "onnx:x", "runtime": "onnxruntime",
                        "precision": "fp32", "batch_size": 1, "status": "skipped", "environment": {"device": "lab-a"}})
    hostile.write_text(f"#!/bin/sh\necho 'touch {marker}'\necho '$(touch {marker})'\necho '{other}'\n"
                       "echo '{\"edgebench_lab\": \"exit\", \"code\": 0}'\n")
    hostile.chmod(0o755)
    run = tmp_path / "run"
    done = run_cli(*lab_run_args(lab, "--on", "name=lab-a", "--artifacts", str(lab_bundle), "--out", str(run)),
                   "--board-edgebench", str(hostile))
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stderr.count("board lab-a sent a line that is not stored") == 3
    assert "was not planned for this board" in done.stderr and not marker.exists()
    assert {s for s, _ in _states(run).values()} == {"failed"}
    with sqlite3.connect(run / "lab.sqlite") as db:
        assert db.execute("SELECT count(*) FROM lab_results").fetchone() == (0,)

    empty = tmp_path / "known_hosts"
    empty.write_text("")
    refused = run_cli(*lab_run_args(lab, "--on", "name=lab-a", "--artifacts", str(lab_bundle), "--out",
                                    str(tmp_path / "run2")), "--known-hosts", str(empty))
    assert refused.returncode == 1 and "Host key verification failed" in refused.stderr, refused.stderr[-3000:]
    assert {s for s, _ in _states(tmp_path / "run2").values()} == {"device-lost"}
    assert _holders(lab) == {"lab-a": None, "lab-b": None}


@pytest.mark.parametrize("args, says", [
    (["--on", "arch"], "give tags as KEY=VALUE"),
    (["--on", "arch=x", "--coordinator", "127.0.0.1:9"], "no labgrid coordinator answers at 127.0.0.1:9"),
    (["--elsewhere"], "--elsewhere goes with --resume"),
    (["--on", "arch=x", "--device-name", "x"], "each board is reported under its place's name"),
    (["--store", "postgresql://db/x", "--parallel", "2"], "--store --parallel go with --on (a lab run)"),
    (["--on", "Board=x"], "tag 'Board': labgrid takes keys of lowercase letters"),
])
def test_bad_lab_input_is_one_line(args, says, tmp_path):
    done = run_cli("run", "--model", "onnx:missing.onnx", *args, "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr, done.stderr
    status = run_cli("lab", "status", "--coordinator", "127.0.0.1:9")
    assert status.returncode == 2 and "no labgrid coordinator answers at 127.0.0.1:9" in status.stderr, status.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_releases_every_place(lab, lab_bundle, tmp_path, sig):
    run = tmp_path / "run"
    host = _start(lab_run_args(lab, "--on", "kind=test", "--artifacts", str(lab_bundle), "--out", str(run)),
                  tmp_path / "host.log")
    _wait_for(lambda: (tmp_path / "host.log").read_text().count("acquired place") == 2, "both boards held")
    host.send_signal(sig)
    assert host.wait(120) == 130, (tmp_path / "host.log").read_text()[-3000:]
    assert _holders(lab) == {"lab-a": None, "lab-b": None}
    assert "interrupted" in (tmp_path / "host.log").read_text()
    unfinished = {why for state, why in _states(run).values() if state != "done"}
    assert unfinished <= {"interrupted; finish with --resume"}


def test_lab_add_writes_the_exporter_config_and_status_shows_the_lab(lab, tmp_path):
    config = tmp_path / "exporter.yaml"
    added = run_cli("lab", "add", "lab-c", "--ssh", "pi@10.0.0.7:2222", "--tag", "arch=aarch64,board=rpi5",
                    "--exporter-config", str(config), "--exporter", "shelf", "--coordinator", lab.coordinator.address)
    assert added.returncode == 0, added.stderr[-2000:]
    import yaml

    assert yaml.safe_load(config.read_text()) == {
        "lab-c": {"NetworkService": {"address": "10.0.0.7", "username": "pi", "port": 2222}}}
    assert f"labgrid-exporter -c {lab.coordinator.address} -n shelf {config}" in added.stderr
    shown = run_cli("lab", "status", "--coordinator", lab.coordinator.address, "--ssh-key", str(lab.key),
                    "--known-hosts", str(lab.known_hosts))
    assert shown.returncode == 0, shown.stderr[-2000:]
    rows = {line.split()[0]: line for line in shown.stdout.splitlines() if line.startswith("lab-")}
    assert "arch=aarch64,board=rpi5" in rows["lab-c"] and "matches no NetworkService" in rows["lab-c"]
    assert rows["lab-a"].rstrip().endswith("yes") and "free" in rows["lab-a"] and "kind=test" in rows["lab-a"]
    bad = run_cli("lab", "add", "x y", "--ssh", "nobody", "--coordinator", lab.coordinator.address)
    assert bad.returncode == 2 and "board name" in bad.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("lab-d: [unclosed\n")
    bad = run_cli("lab", "add", "lab-d", "--ssh", "pi@10.0.0.8", "--exporter-config", str(broken),
                  "--coordinator", lab.coordinator.address)
    assert bad.returncode == 2 and "is not YAML" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


def test_resume_elsewhere_measures_a_lost_boards_cells_on_another_board(lab, lab_bundle, tmp_path):
    """lab-b is refused (its host key is not in the file): its cells are device-lost. `--resume --elsewhere` has
    lab-a measure them, reported as lab-a-for-lab-b (lab-a's own device, never passed off as lab-b)."""
    only_a = tmp_path / "known_hosts"
    only_a.write_text(lab.boards["lab-a"].known_host() + "\n")
    run = tmp_path / "run"
    first = run_cli(*lab_run_args(lab, "--on", "kind=test", "--artifacts", str(lab_bundle), "--out", str(run)),
                    "--known-hosts", str(only_a))
    assert first.returncode == 1, first.stderr[-3000:]
    again = run_cli("run", "--resume", str(run), "--elsewhere", *lab.ssh_args(), "--known-hosts", str(only_a))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "goes to lab-a (reported as lab-a-for-lab-b)" in again.stderr.replace("cells go", "goes")
    states = _states(run)
    assert {s for (b, _), (s, _) in states.items() if b == "lab-a-for-lab-b"} == {"done"}
    lost = {why for (b, _), (s, why) in states.items() if b == "lab-b"}
    assert len(lost) == 1 and "its cells go to lab-a instead (reported as lab-a-for-lab-b)" in lost.pop()
    report = run_cli("report", str(run))
    assert report.returncode == 0 and "lab-a-for-lab-b: b1 p50 (ms)" in report.stdout, report.stderr[-2000:]
    twice = run_cli("run", "--resume", str(run), "--elsewhere", *lab.ssh_args(), "--known-hosts", str(only_a))
    assert twice.returncode == 0 and "nothing to resume" in twice.stderr, twice.stderr[-2000:]


def test_an_exporter_entry_cannot_smuggle_an_ssh_option(lab, lab_bundle, tmp_path):
    """The coordinator takes resources from any exporter: a NetworkService whose user name is an ssh option
    (-oProxyCommand=...) is not used, and nothing of it runs."""
    import labkit

    from edgebench.lab.coordinator import LabClient

    marker = tmp_path / "ran"
    config = tmp_path / "evil.yaml"
    config.write_text(f"evil:\n  NetworkService:\n    address: 127.0.0.1\n    username: '-oProxyCommand=touch {marker}'\n"
                      f"    port: {lab.boards['lab-a'].port}\n")
    exporter = labkit.Exporter(lab.coordinator, config, "evil")
    client = LabClient(lab.coordinator.address)
    try:
        client.add_place("lab-evil", "evil/evil/NetworkService", {"kind": "evil"})
        _wait_for(lambda: any("lab-evil" in p for p in client.boards({"kind": "evil"})[1]), "the exporter's entry")
    finally:
        client.close()
    try:
        done = run_cli(*lab_run_args(lab, "--on", "kind=evil", "--artifacts", str(lab_bundle), "--out",
                                     str(tmp_path / "run")))
        assert done.returncode == 2, done.stderr[-2000:]
        assert "not used: place lab-evil: its NetworkService username '-oProxyCommand=" in done.stderr
        assert "is not a plain user name" in done.stderr and not marker.exists()
    finally:
        exporter.stop()
