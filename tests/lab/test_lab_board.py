"""`edgebench lab board` (what runs on a board), run here without SSH: it streams its run's lines, and a second
start on the same folder (a host that came back while the first session lingers) stops the first and resumes."""
from __future__ import annotations

import json
import subprocess
import sys

from lab_fixtures import lab_bundle, two_models  # noqa: F401 (fixtures)

from conftest import FAST, REPO


def test_a_second_board_run_of_a_folder_stops_the_first_and_resumes_it(lab_bundle, tmp_path):
    work = tmp_path / "work"
    args = ["--artifacts", str(lab_bundle), "--device-name", "board-x", "--batch-size", "1", *FAST,
            "--duration", "2", "--max-duration", "2"]
    command = [sys.executable, "-m", "edgebench", "lab", "board"]
    first = subprocess.Popen([*command, str(work), "--", *args], stdout=subprocess.PIPE, cwd=REPO)
    line = json.loads(first.stdout.readline())  # its first cell's line, as soon as the run wrote it
    assert line["environment"]["device"] == "board-x" and line["status"] == "ok"
    assert first.poll() is None  # still measuring its second cell
    second = subprocess.run([*command, "--resume", str(work), "--", *args], capture_output=True, cwd=REPO, timeout=300)
    assert first.wait(60) != 0  # stopped by the second
    lines = [json.loads(raw) for raw in second.stdout.splitlines()]
    assert lines[-1]["edgebench_lab"] == "exit" and lines[-1]["code"] == 0, lines[-1]
    keys = [r["key"] for r in lines[:-1]]
    assert len(keys) == 2 and len(set(keys)) == 2  # the first cell again (sent from the file), the second measured
    written = (work / "run" / "results.jsonl").read_text().splitlines()
    assert len(written) == 2
