"""The report's run information says what the run did: the precisions it measured and the calibration images it
used, not the configuration's wishes (300 calibration images asked, 250 used when capped at half the images)."""
from __future__ import annotations

import json

from records import record, write_run

from edgebench.report.document import Bullets
from edgebench.report.run_info import environment_blocks
from edgebench.report.runs import load_run

CONFIG = {"models": ["timm:m"], "precisions": ["fp32", "int8", "fp16"], "batch_sizes": [1], "weights": "pretrained",
          "data": "/data/imagenet-sample-500", "calib_data": None, "calib_size": 300, "limit": None}


def _configuration(run_dir) -> str:
    blocks = environment_blocks(load_run(run_dir), "box")
    items = next(b for b in blocks if isinstance(b, Bullets)).items
    return next(item for item in items if item.startswith("Configuration:"))


def _meta(run_dir, **extra) -> None:
    meta = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**meta, "config": CONFIG, **extra}))


def _calibrated(precision: str, images: int, given: int = 250) -> dict:
    return record(precision=precision, calibration={"images": images, "images_given": given,
                                                    "source": "data-slice", "synthetic": False})


def test_lists_the_precisions_measured_and_the_calibration_images_used(tmp_path):
    run = write_run(tmp_path / "run", [
        record(precision="fp32"), _calibrated("int8", 250),
        record(precision="fp16", status="skipped", reason="no fp16 kernels here"),
    ])
    _meta(run, images={"eval_images": 250, "calib_images": 250, "calib_source": "data-slice"})
    text = _configuration(run)
    assert "precisions fp32, int8 (fp16: no cell measured);" in text
    assert "calibration a held-out slice of the images (250 images)" in text
    assert "300" not in text  # the configured size, capped at half the images, was never used


def test_calibration_count_from_the_records_without_run_json_images_and_a_recipe_that_used_fewer(tmp_path):
    run = write_run(tmp_path / "run", [record(precision="fp32"), _calibrated("int8", 64, given=120),
                                       _calibrated("int8", 120, given=120) | {"runtime": "openvino",
                                                                              "key": "timm:m|openvino|int8|b1"}])
    _meta(run)  # an older run.json: no "images"
    text = _configuration(run)
    assert "precisions fp32, int8 (fp16: no cell measured);" in text
    assert "(120 images; a recipe used 64 of them)" in text and "300" not in text


def test_no_calibration_named_when_no_cell_was_calibrated(tmp_path):
    run = write_run(tmp_path / "run", [record(precision="fp32"),
                                       record(precision="int8", status="failed", reason="quantiser crashed")])
    _meta(run)
    text = _configuration(run)
    assert "precisions fp32 (int8, fp16: no cell measured);" in text and "calibration" not in text
