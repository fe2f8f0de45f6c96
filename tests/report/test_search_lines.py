"""A search folder as ``report`` and ``pick`` read it, on hand-made lines (no runtime runs): lines an older
``edgebench optimize`` stored for its decisions (a screen's short probe and subset top-1, a full evaluation on the
selection images: ``search.stage`` "screen" or "full") are not measurements, and neither the report's tables nor pick
show them; a run's lines (no ``search``) and the final round's are."""
from __future__ import annotations

import json

from records import record, write_run

from edgebench.cli import main
from edgebench.report.build import build
from edgebench.report.document import to_markdown
from edgebench.report.runs import all_results, load_run, load_runs
from edgebench.results.search import is_measurement

MODEL = "timm:m"
PLAIN = record(MODEL, "pytorch", "fp32", p50=20.0)  # a run's line: no search field
FINAL = record(MODEL, "onnxruntime", "int8", p50=5.0, delta=-0.002, search={"stage": "final", "fate": "chosen"})
# a probe faster than anything measured, and a full evaluation: figures of a decision
PROBE = record(MODEL, "openvino", "int8", p50=1.0, delta=-0.001, search={"stage": "screen"})
FULL = record(MODEL, "openvino", "fp16", p50=2.0, delta=0.0, search={"stage": "full"})


def test_only_lines_without_a_search_stage_or_from_the_final_round_are_measurements():
    assert is_measurement(PLAIN) and is_measurement(FINAL)
    assert not is_measurement(PROBE) and not is_measurement(FULL)
    assert is_measurement({**FINAL, "search": {"fate": "chosen"}})  # a search field without a stage: the final round's


def test_report_tables_and_pick_leave_out_an_older_searchs_probe_and_full_lines(tmp_path, capsys):
    folder = write_run(tmp_path / "search", [PLAIN, PROBE, FINAL, FULL])
    assert [r["key"] for r in load_run(folder).results] == [PLAIN["key"], FINAL["key"]]
    assert [r["key"] for r in all_results(load_runs([folder]))] == [PLAIN["key"], FINAL["key"]]

    blocks, data = build([load_run(folder)], None)
    shown = {(d["runtime"], d["precision"]) for d in data["devices"]["box"]["deployments"]}
    assert shown == {("pytorch", "fp32"), ("onnxruntime", "int8")}
    page = to_markdown(blocks)
    assert "openvino" not in page  # neither the probe nor the full evaluation appears anywhere

    assert main(["pick", str(folder), "--json"]) == 0
    picked = json.loads(capsys.readouterr().out)
    assert [(d["runtime"], d["precision"]) for d in picked["qualifying"]] == [("onnxruntime", "int8"),
                                                                              ("pytorch", "fp32")]
