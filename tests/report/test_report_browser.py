"""A real run (a CNN trained in the test, ONNX Runtime and OpenVINO, FP32 and INT8) rendered by `edgebench report`,
its HTML page opened in a real headless browser, and `edgebench pick` on the same run."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import FAST, run_cli

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, accuracy_run):
    """The shared real run (conftest's ``accuracy_run``), rendered by ``edgebench report``."""
    out = tmp_path_factory.mktemp("reported") / "report"
    done = run_cli("report", str(accuracy_run), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return accuracy_run, out


def test_report_of_a_real_run(real_run):
    run, out = real_run
    md = (out / "report.md").read_text()
    assert "## Machine: test-box" in md and "#### onnx:" in md and "None: every cell ran." in md
    data = json.loads((out / "report.json").read_text())
    deps = data["devices"]["test-box"]["deployments"]
    assert {(d["runtime"], d["precision"]) for d in deps} == {("onnxruntime", "fp32"), ("onnxruntime", "int8"),
                                                              ("openvino", "fp32"), ("openvino", "int8")}
    assert all(d["top1_pct"] is not None and d["b1_p50_ms"] > 0 and d["b4_throughput_ips"] > 0 for d in deps)
    assert len(list((out / "plots").glob("*.png"))) == 3


def test_pick_on_a_real_run(real_run):
    run, _ = real_run
    done = run_cli("pick", str(run), "--max-latency-ms", "10000", "--max-accuracy-drop", "100", "--json")
    assert done.returncode == 0, done.stderr
    picked = json.loads(done.stdout)
    latencies = [d["b1_p50_ms"] for d in picked["qualifying"]]
    assert len(latencies) == 4 and latencies == sorted(latencies)
    done = run_cli("pick", str(run), "--max-latency-ms", "0.000001")
    assert done.returncode == 3 and "Nearest misses" in done.stdout and "Traceback" not in done.stderr


def _browser(monkeypatch):
    binary = os.environ.get("EDGEBENCH_BROWSER") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("EDGEBENCH_CHROMEDRIVER") or shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("no headless browser: install chromium and chromium-driver (Debian: apt-get install chromium "
                    "chromium-driver), or set EDGEBENCH_BROWSER and EDGEBENCH_CHROMEDRIVER")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed: pip install 'edgebench[test]'")
    monkeypatch.setenv("SE_AVOID_STATS", "true")  # Selenium Manager must not report usage (unused: paths are given)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_html_report_in_a_real_browser(real_run, monkeypatch):
    _, out = real_run
    browser = _browser(monkeypatch)
    try:
        browser.get((out / "report.html").as_uri())
        tables = browser.execute_script("return document.querySelectorAll('table.sortable').length")
        md_tables = sum(line.startswith("|--") for line in (out / "report.md").read_text().splitlines())
        assert tables == md_tables >= 2  # every deployment, and the one model's grid
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.src.slice(0, 22)])")
        assert len(images) == 3 and all(done and width > 100 and src == "data:image/png;base64," for done, width, src
                                        in images)
        # sorting: click the b1 p50 header of "Every deployment" twice and read the column back
        column = browser.execute_script("""
            const table = [...document.querySelectorAll('h3')].find(h => h.textContent === 'Every deployment')
                .nextElementSibling.nextElementSibling;
            const index = [...table.tHead.rows[0].cells].findIndex(c => c.textContent.startsWith('b1 p50'));
            const read = () => [...table.tBodies[0].rows].map(r => Number(r.cells[index].dataset.sort));
            table.tHead.rows[0].cells[index].click();
            const up = read();
            table.tHead.rows[0].cells[index].click();
            return [up, read()];""")
        up, down = column
        assert len(up) == 4 and up == sorted(up) and down == sorted(up, reverse=True)
        # the latency × accuracy × size plot: drawn inline, one hover title per deployment
        svg = browser.execute_script("""
            const svg = document.querySelector('svg.pareto');
            return [svg.getBoundingClientRect().width, [...svg.querySelectorAll('circle.pt')].map(
                c => c.querySelector('title').textContent)];""")
        width, titles = svg
        assert width > 300 and len(titles) == 4 and all(" ms, top-1 " in t and " MB" in t for t in titles)
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        browser.quit()
