"""Numbers that guard themselves: top-1 is compared only on the same images, and an untrusted result is marked
everywhere, kept off every frontier and never recommended (hand-made records; no runtime is under test)."""
from __future__ import annotations

import json

import pytest
from conftest import run_cli
from records import on_images, record, write_run

from edgebench.report.build import build
from edgebench.report.document import to_markdown
from edgebench.report.runs import load_runs

PARITY = "ONNX export failed its parity check against PyTorch (max abs err 0.41)"


def _cell(model: str, runtime: str = "onnxruntime", **kw) -> dict:
    return record(model, runtime, spread=0.0, **kw)


def _two_datasets() -> list[dict]:
    """A CIFAR-10 model that is fast and 95% right, and two ImageNet models. One frontier through all three
    would hold the CIFAR model alone (it beats both on latency and top-1); per dataset, each has its own."""
    return [on_images(_cell("timm:cifar", p50=1.0, top1=0.95), "/data/cifar10-test", "c1f4r000", 10000),
            on_images(_cell("timm:small", p50=5.0, top1=0.70), "/data/imagenet-val", "1m4g3000", 500),
            on_images(_cell("timm:big", p50=10.0, top1=0.80), "/data/imagenet-val", "1m4g3000", 500)]


def _report(tmp_path, records, out=None):
    blocks, data = build(load_runs([write_run(tmp_path / "run", records)]), out)
    return to_markdown(blocks), data


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n#", start + 1)
    return text[start:end if end > 0 else None]


def test_two_datasets_get_two_frontiers_never_one_through_both(tmp_path):
    text, data = _report(tmp_path, _two_datasets())
    cifar = _section(text, "### Pareto-optimal deployments at batch 1 (latency against top-1 on cifar10-test")
    imagenet = _section(text, "### Pareto-optimal deployments at batch 1 (latency against top-1 on imagenet-val")
    assert "timm:cifar" in cifar and "timm:small" not in cifar
    assert "timm:small" in imagenet and "timm:big" in imagenet and "timm:cifar" not in imagenet
    assert "2 different evaluation sets" in text
    # every accuracy row says its set; the JSON and CSV rows carry it
    header = next(line for line in text.splitlines() if line.startswith("| Model | Runtime | Precision |"))
    assert "Top-1 measured on" in header
    row = next(line for line in text.splitlines() if line.startswith("| timm:big |"))
    assert "imagenet-val (500 images, id 1m4g3000)" in row
    assert {d["model"]: d["eval_set_id"] for d in data["devices"]["box"]["deployments"]} == \
        {"timm:cifar": "c1f4r000", "timm:small": "1m4g3000", "timm:big": "1m4g3000"}


def test_one_dataset_names_it_in_the_accuracy_columns(tmp_path):
    text, _ = _report(tmp_path, _two_datasets()[1:])
    header = next(line for line in text.splitlines() if line.startswith("| Model | Runtime | Precision |"))
    assert "Top-1 % on imagenet-val (500 images, id 1m4g3000) [95% CI]" in header
    assert "Top-1 measured on" not in header


def test_plots_draw_a_frontier_per_dataset(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    out.mkdir()
    untrusted = on_images(_cell("timm:bad", p50=0.5, top1=0.99, untrusted=[PARITY]), "/data/imagenet-val", "1m4g3000")
    text, _ = _report(tmp_path, _two_datasets() + [untrusted], out)
    drawn = sorted(p.name for p in (out / "plots").glob("*accuracy-latency*.png"))
    assert drawn == ["1-box-accuracy-latency-b1-set1.png", "1-box-accuracy-latency-b1-set2.png"]
    assert "top-1 on cifar10-test (10000 images, id c1f4r000) against p50 latency" in text
    from edgebench.report import plots
    from edgebench.report.deployments import deployments
    with pytest.raises(ValueError, match="2 evaluation sets"):
        plots.accuracy_vs_latency(deployments(_two_datasets()), 1, tmp_path / "mixed.png", "box")


def test_untrusted_is_marked_everywhere_and_off_the_frontier(tmp_path):
    # the untrusted deployment is the fastest and the most accurate: it would be the whole frontier
    cells = _two_datasets()[1:] + [on_images(_cell("timm:bad", p50=0.5, top1=0.99, untrusted=[PARITY]),
                                             "/data/imagenet-val", "1m4g3000", 500),
                                   on_images(_cell("timm:bad", p50=9.0, batch=32, top1=0.99, untrusted=[PARITY]),
                                             "/data/imagenet-val", "1m4g3000", 500)]
    text, data = _report(tmp_path, cells)
    front = _section(text, "### Pareto-optimal")
    assert "timm:bad" not in front and "timm:small" in front and "timm:big" in front
    every = [line for line in text.splitlines() if "timm:bad" in line and line.startswith("|")]
    assert len(every) == 1 and every[0].startswith("| timm:bad [UNTRUSTED] |")
    grid = _section(text, "#### timm:bad")
    assert "| onnxruntime [UNTRUSTED] | fp32 |" in grid
    listing = _section(text, "### Untrusted results (2 cell(s))")
    assert f"`timm:bad|onnxruntime|fp32|b1`: {PARITY}" in listing and "b32" in listing
    bad = next(d for d in data["devices"]["box"]["deployments"] if d["model"] == "timm:bad")
    assert bad["untrusted"] == PARITY
    assert not any("[UNTRUSTED]" in line for line in text.splitlines() if "timm:big" in line)


# ---- pick ------------------------------------------------------------------------------------------------

def test_pick_refuses_to_rank_top1_across_datasets(tmp_path):
    run = write_run(tmp_path / "run", _two_datasets())
    for args in (["--min-top1", "60"], ["--objective", "accuracy"], ["--max-accuracy-drop", "1"]):
        proc = run_cli("pick", str(run), *args)
        assert proc.returncode == 2, (args, proc.stdout)
        assert "2 different evaluation sets" in proc.stderr and "--eval-set" in proc.stderr
        assert "cifar10-test" in proc.stderr and "imagenet-val" in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_pick_on_one_named_dataset(tmp_path):
    run = write_run(tmp_path / "run", _two_datasets())
    proc = run_cli("pick", str(run), "--min-top1", "60", "--objective", "accuracy", "--eval-set", "imagenet-val")
    assert proc.returncode == 0, proc.stderr
    assert "Top-1 figures are on imagenet-val (500 images, id 1m4g3000)" in proc.stdout
    table = proc.stdout[proc.stdout.index("Model"):proc.stdout.index("Nearest misses")]
    assert table.index("timm:big") < table.index("timm:small") and "timm:cifar" not in table
    miss = proc.stdout[proc.stdout.index("Nearest misses"):]
    assert "timm:cifar" in miss and "top-1 measured on cifar10-test (10000 images, id c1f4r000), not on imagenet-val" in miss
    by_id = run_cli("pick", str(run), "--min-top1", "60", "--eval-set", "c1f4", "--json")
    doc = json.loads(by_id.stdout)
    assert doc["eval_set"]["eval_id"] == "c1f4r000" and [d["model"] for d in doc["qualifying"]] == ["timm:cifar"]
    unknown = run_cli("pick", str(run), "--eval-set", "coco")
    assert unknown.returncode == 2 and "matches none" in unknown.stderr and "cifar10-test" in unknown.stderr


def test_pick_without_accuracy_criteria_says_each_rows_dataset(tmp_path):
    run = write_run(tmp_path / "run", _two_datasets())
    proc = run_cli("pick", str(run))
    assert proc.returncode == 0, proc.stderr
    assert "Top-1 figures are on 2 different evaluation sets" in proc.stdout and "Top-1 on" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if "timm:cifar" in line)
    assert row.rstrip().endswith("cifar10-test (10000 images, id c1f4r000)")


def test_pick_never_recommends_an_untrusted_deployment(tmp_path):
    cells = [_cell("timm:bad", p50=0.5, top1=0.99, untrusted=[PARITY]), _cell("timm:ok", p50=5.0, top1=0.70)]
    run = write_run(tmp_path / "run", cells)
    proc = run_cli("pick", str(run), "--objective", "accuracy")
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout[proc.stdout.index("Model"):proc.stdout.index("Not recommended")]
    assert "timm:ok" in table and "timm:bad" not in table
    assert f"timm:bad onnxruntime fp32: {PARITY}" in proc.stdout
    doc = json.loads(run_cli("pick", str(run), "--json").stdout)
    assert [d["model"] for d in doc["qualifying"]] == ["timm:ok"] and doc["near_misses"] == []
    assert [(d["model"], d["untrusted"]) for d in doc["untrusted"]] == [("timm:bad", [PARITY])]
    alone = write_run(tmp_path / "alone", cells[:1])
    nothing = run_cli("pick", str(alone))
    assert nothing.returncode == 3 and "No deployment meets the constraints." in nothing.stdout


def test_cells_csv_carries_eval_set_trust_and_what_was_timed(tmp_path):
    cells = _two_datasets()[:1] + [_cell("timm:bad", untrusted=[PARITY], threads_reported=2, static_shape=True,
                                         timed_span="session.run() on the float32 input",
                                         io_latency_ms={"p50": 0.125, "n": 10, "unit": "ms"})]
    out = tmp_path / "out"
    done = run_cli("report", str(write_run(tmp_path / "run", cells)), "--out", str(out))
    assert done.returncode == 0, done.stderr
    import csv
    rows = {r["model"]: r for r in csv.DictReader((out / "cells.csv").open())}
    assert rows["timm:cifar"]["eval_set_id"] == "c1f4r000" and rows["timm:cifar"]["untrusted"] == ""
    bad = rows["timm:bad"]
    assert (bad["untrusted"], bad["threads_reported"], bad["static_shape"], bad["io_p50_ms"]) == (PARITY, "2", "True",
                                                                                                  "0.125")
    assert bad["timed_span"] == "session.run() on the float32 input"


def _task_cell(model: str, metric: str, figure: float, p50: float, precision: str = "fp32") -> dict:
    """A task model's cell on the same 80 COCO images: its main figure under its own key, no top-1."""
    rec = _cell(model, precision=precision, p50=p50, top1=None,
                reference={"map" if metric == "map" else "miou": 21.3, "dataset": "COCO-val2017"})
    second = {"map": "ap50", "miou": "pixel_accuracy"}[metric]
    rec["accuracy"] = {"metric": metric, "images": 80, metric: figure, f"{metric}_ci95": [figure - 0.02, figure + 0.02],
                       second: figure + 0.1, "representative": True}
    return on_images(rec, "/data/coco-val-80", "c0c0c0c0", 80)


def test_task_models_get_a_frontier_per_task_and_no_classifier_table(tmp_path):
    """A detector and a segmenter on the same COCO images: mAP and mIoU are different quantities, so each task has
    its own frontier on its own figure; and a task model's published figure does not summon the classifiers'
    reference table."""
    records = [_task_cell("torchvision:det", "map", 0.20, 10.0), _task_cell("torchvision:det", "map", 0.15, 12.0, "int8"),
               _task_cell("torchvision:seg", "miou", 0.55, 30.0)]
    text, data = _report(tmp_path, records)
    detect = _section(text, "### Pareto-optimal deployments at batch 1 (latency against mAP on coco-val-80")
    segment = _section(text, "### Pareto-optimal deployments at batch 1 (latency against mIoU on coco-val-80")
    assert "torchvision:det on onnxruntime fp32: 10.00 ms" in detect and "mAP 20.00" in detect
    assert "int8" not in detect and "torchvision:seg" not in detect  # slower and worse: not on the frontier
    assert "torchvision:seg" in segment and "mIoU 55.00" in segment
    assert "The reference table, reproduced" not in text and "no deployment here has accuracy" not in text
    assert all(not device["reference_table"] for device in data["devices"].values())
    classifier = _cell("timm:mobilenetv2_100", reference={"model": "MobileNetV2", "top1": 71.3})
    text, _ = _report(tmp_path / "with-classifier", [*records, classifier])
    assert "The reference table, reproduced" in text


def test_pick_ranks_task_models_on_their_own_figure_and_never_across_tasks():
    """`pick` on a detector's deployments constrains and shows mAP (it said "no top-1 measured"); a detector's mAP
    and a segmenter's mIoU are never ranked together."""
    from collections import Counter

    from edgebench.errors import ConfigError
    from edgebench.report.deployments import deployments
    from edgebench.report.pick import Constraints, accuracy_set, pick
    from edgebench.report.pick_render import render_text

    fp32 = _task_cell("torchvision:det", "map", 0.20, 10.0)
    int8 = _task_cell("torchvision:det", "map", 0.15, 6.0, "int8")
    fp32["accuracy"]["vs_reference"] = {"map_change": {"delta": 0.0, "ci95": [0.0, 0.0],
                                                       "verdict": "no significant change"}}
    int8["accuracy"]["vs_reference"] = {"map_change": {"delta": -0.05, "ci95": [-0.08, -0.02],
                                                       "verdict": "significant drop"}}
    candidates = deployments([fp32, int8])
    constraints = Constraints(max_accuracy_drop=1.0)
    chosen = pick(candidates, constraints, objective="latency", batch_size=1,
                  eval_set=accuracy_set(candidates, constraints, "latency"))
    assert [d.precision for d in chosen.qualifying] == ["fp32"] and chosen.figure == "mAP"
    assert chosen.misses[0].breaks == ["accuracy drop 5.0 pt > 1 pt"]
    text = render_text(chosen, device="box", top=5, failed=Counter())
    assert "mAP figures are on coco-val-80" in text and "mAP %" in text and "Constraints: mAP drop vs FP32 <= 1 pt" in text
    assert "mAP 15.00%" in text and "top-1" not in text
    mixed = deployments([fp32, _task_cell("torchvision:seg", "miou", 0.55, 30.0)])
    with pytest.raises(ConfigError, match="several tasks"):
        accuracy_set(mixed, Constraints(), "accuracy")
    assert accuracy_set(mixed, Constraints(), "latency") is not None  # by latency alone, nothing is compared
