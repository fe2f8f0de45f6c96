"""``edgebench optimize``'s three image roles: calibration, selection (every decision) and report (held out from
every decision): their default sizes, disjoint and seeded splits of real image folders, and the lists written."""
from __future__ import annotations

import pytest

from edgebench.data.evalset import (SELECTION_LIST, RoleSizes, image_lists, role_sizes, select_images, split_roles,
                                    write_image_lists)
from edgebench.errors import ConfigError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from imagegen import write_imagefolder

    return write_imagefolder(tmp_path_factory.mktemp("roles") / "val", 25, seed=3)  # 100 images, 4 classes


def split(folder, sizes: RoleSizes, seed: int = 0, calib_data=None):
    images = select_images(data=str(folder), calib_data=calib_data, calib_size=sizes.calibration or 300,
                           limit=sizes.selection + sizes.report, seed=seed)
    return images, split_roles(images, sizes)


def test_default_sizes_are_shares_capped_for_large_sets():
    assert role_sizes(500) == RoleSizes(total=500, calibration=150, selection=150, report=200)
    assert role_sizes(50_000) == RoleSizes(total=50_000, calibration=300, selection=1000, report=2000)
    # with calibration images of their own, selection and report share --data 3:4
    assert role_sizes(700, calib_from_data=False) == RoleSizes(total=700, calibration=0, selection=300, report=400)


def test_small_sets_still_get_every_role():
    assert role_sizes(10) == RoleSizes(total=10, calibration=3, selection=3, report=4)
    assert role_sizes(3) == RoleSizes(total=3, calibration=1, selection=1, report=1)
    with pytest.raises(ConfigError, match="needs at least 3"):
        role_sizes(2)
    assert role_sizes(2, calib_from_data=False) == RoleSizes(total=2, calibration=0, selection=1, report=1)


def test_given_sizes_are_kept_and_the_report_takes_the_rest():
    assert role_sizes(80, calibration=30) == RoleSizes(total=80, calibration=30, selection=24, report=26)
    assert role_sizes(500, selection=50, report=60) == RoleSizes(total=500, calibration=150, selection=50, report=60)


def test_sizes_that_do_not_fit_say_which_flags_to_change():
    with pytest.raises(ConfigError, match="150 calibration \\+ 150 selection \\+ 400 report images are more than the "
                                          "500 .*--report-images"):
        role_sizes(500, report=400)
    with pytest.raises(ConfigError, match="--calib-size 300 is more than half"):
        role_sizes(500, calibration=300)
    with pytest.raises(ConfigError, match="leave none of the 10 labelled images in --data to report on"):
        role_sizes(10, calibration=3, selection=7)


def test_the_roles_are_disjoint_seeded_and_of_their_sizes(folder):
    sizes = role_sizes(100)
    images, roles = split(folder, sizes)
    calibration = set(images.calib_paths)
    selection = [p for p, _ in roles.selection.eval_samples]
    report = [p for p, _ in roles.report.eval_samples]
    assert (len(calibration), len(selection), len(report)) == (30, 30, 40)
    assert not calibration & set(selection) and not calibration & set(report) and not set(selection) & set(report)
    assert roles.selection.calib_paths == roles.report.calib_paths == images.calib_paths
    assert (roles.selection.role, roles.report.role) == ("selection", "report")
    # the same seed gives the same split; another seed another one
    _, again = split(folder, sizes)
    assert again.selection.eval_samples == roles.selection.eval_samples
    assert again.report.eval_samples == roles.report.eval_samples
    _, other = split(folder, sizes, seed=1)
    assert other.report.eval_samples != roles.report.eval_samples


def test_what_is_recorded_names_each_role(folder, tmp_path):
    images, roles = split(folder, role_sizes(100))
    described = roles.describe(seed=0)
    assert {k: described[k]["images"] for k in ("calibration", "selection", "report")} == \
        {"calibration": 30, "selection": 30, "report": 40}
    assert described["selection"]["id"] != described["report"]["id"]
    assert described["report"]["file"] == "images/eval.txt" and described["selection"]["file"] == SELECTION_LIST
    # the run folder's lists: the report images as images/eval.txt (what its result lines are evaluated on), the
    # calibration ones, and the selection ones beside them
    written = write_image_lists(roles.report, tmp_path)
    assert roles.write_selection_list(tmp_path) == SELECTION_LIST
    assert set(written) == {"eval", "calib"}
    report_lines = (tmp_path / written["eval"]).read_text().splitlines()
    selection_lines = (tmp_path / SELECTION_LIST).read_text().splitlines()
    assert len(report_lines) == 40 and len(selection_lines) == 30
    assert not {line.split("\t")[0] for line in report_lines} & {line.split("\t")[0] for line in selection_lines}
    assert (tmp_path / SELECTION_LIST).read_text() == image_lists(roles.selection)["eval"]
    # accuracy lines say which role their images had; a run's images say nothing of roles
    assert roles.report.describe()["role"] == "report" and "role" not in images.describe()


def test_calibration_images_of_their_own_leave_data_to_selection_and_report(folder, tmp_path):
    from imagegen import write_imagefolder

    calib = write_imagefolder(tmp_path / "calib", 3, seed=9)
    sizes = role_sizes(100, calib_from_data=False)
    images, roles = split(folder, sizes, calib_data=str(calib))
    assert images.calib_source == "calib-data" and len(images.calib_paths) == 12
    assert (len(roles.selection.eval_samples), len(roles.report.eval_samples)) == (43, 57)


def test_too_few_images_for_the_asked_sizes_is_one_clear_error(folder):
    images = select_images(data=str(folder), calib_size=30, limit=None, seed=0)
    with pytest.raises(ConfigError, match="fewer than the 60 selection and 20 report"):
        split_roles(images, RoleSizes(total=100, calibration=30, selection=60, report=20))


def test_one_sweep_measures_on_either_role_and_its_records_say_which(image_task, cache_dir, tmp_path):
    """The search's one Sweep (its run images the report ones): a group given the selection images' inputs
    (``LocalBuild.eval_inputs``) is evaluated on them and its records say so, naming their list; a group given the
    run's own inputs says the report images. Real ONNX Runtime cells, a few calls each."""
    from edgebench.config import RunConfig
    from edgebench.models import resolve_model
    from edgebench.optimize.search import EVAL_ONLY
    from edgebench.pipeline.plan import Cell
    from edgebench.pipeline.sweep import Sweep, prepare_run_dir

    sizes = RoleSizes(total=80, calibration=20, selection=24, report=30)
    config = RunConfig(models=(f"onnx:{image_task['onnx']}",), runtimes=("onnxruntime",), batch_sizes=(1,),
                       cache_dir=str(cache_dir), data=str(image_task["val"]), calib_size=20, limit=54,
                       prepare_timeout_s=300, cell_timeout_s=300)
    roles = split_roles(select_images(**config.image_options()), sizes)
    run_dir = tmp_path / "search"
    prepare_run_dir(run_dir, config, roles.report)
    roles.write_selection_list(run_dir)
    spec = resolve_model(config.models[0])
    sweep = Sweep(config, [spec], ["onnxruntime"], run_dir, say=lambda _: None, images=roles.report)
    sweep.begin()
    prepared = sweep.build.prepare(spec)
    cell = Cell(spec, "onnxruntime", "fp32", 1)
    report = sweep.build.model_inputs(spec, prepared, [cell], reference_dir=run_dir / "eval")
    selection = {**report, **sweep.build.eval_inputs(spec, prepared, roles.selection, run_dir / "eval" / "selection",
                                                     images_file=SELECTION_LIST)}
    assert selection["reference"]["status"] == "ok" and selection["eval"]["count"] == 24

    on_selection = sweep.measure_group([cell], prepared, selection, profile=EVAL_ONLY)[cell.key]
    on_report = sweep.measure_group([cell], prepared, report, profile=EVAL_ONLY)[cell.key]
    assert on_selection["status"] == on_report["status"] == "ok", (on_selection.get("reason"), on_report.get("reason"))
    chosen_on, reported_on = on_selection["accuracy"]["eval_set"], on_report["accuracy"]["eval_set"]
    assert (on_selection["accuracy"]["images"], on_report["accuracy"]["images"]) == (24, 30)
    assert (chosen_on["role"], chosen_on["images_file"], chosen_on["eval_id"]) == \
        ("selection", SELECTION_LIST, roles.selection.describe()["eval_id"])
    assert (reported_on["role"], reported_on["images_file"], reported_on["eval_id"]) == \
        ("report", "images/eval.txt", roles.report.describe()["eval_id"])
    assert chosen_on["crops_key"] != reported_on["crops_key"]
    # the agreement with FP32 is against each set's own reference outputs: FP32 agrees with itself on both
    assert on_selection["accuracy"]["vs_reference"]["top1_agreement"] == 1.0
    assert on_report["accuracy"]["vs_reference"]["top1_agreement"] == 1.0
