"""Dataset loaders on tiny generated folders in each supported layout, including broken ones."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgebench.data.evalset import select_images
from edgebench.data.layouts import imagenet_synsets, open_dataset
from edgebench.errors import ConfigError

SYNSETS = imagenet_synsets()


def _png(path, value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 24, 3), value, np.uint8)).save(path)


def test_synsets_are_the_1000_sorted_imagenet_classes():
    assert len(SYNSETS) == 1000 and list(SYNSETS) == sorted(SYNSETS) and SYNSETS[0] == "n01440764"


def test_synset_folders_map_to_the_models_class_index(tmp_path):
    # Only three of the 1000 folders: labels must still be the global indices, not 0..2.
    for synset in (SYNSETS[0], SYNSETS[500], SYNSETS[999]):
        _png(tmp_path / synset / f"ILSVRC2012_val_{synset}.JPEG.png")
    data = open_dataset(tmp_path)
    assert data.layout == "imagenet-synset-folders"
    assert sorted(label for _, label in data.samples) == [0, 500, 999]


def test_flat_folder_with_loc_val_solution_csv(tmp_path):
    _png(tmp_path / "ILSVRC2012_val_00000001.JPEG")
    _png(tmp_path / "ILSVRC2012_val_00000002.JPEG")
    (tmp_path / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        f"ILSVRC2012_val_00000001,{SYNSETS[65]} 1 2 3 4 {SYNSETS[65]} 5 6 7 8\n"
        f"ILSVRC2012_val_00000002,{SYNSETS[970]} 1 2 3 4\n")
    data = open_dataset(tmp_path)
    assert data.layout == "imagenet-loc-csv"
    assert [label for _, label in data.samples] == [65, 970]


def test_flat_folder_with_plain_label_list(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    (tmp_path / "val.txt").write_text(f"a.png 3\nb.png {SYNSETS[7]}\n")
    data = open_dataset(tmp_path)
    assert data.layout == "label-list" and [label for _, label in data.samples] == [3, 7]


def test_imagefolder_classes_sorted_or_from_a_map(tmp_path):
    for name in ("zebra", "apple"):
        _png(tmp_path / "data" / name / "x.png")
    assert open_dataset(tmp_path / "data").classes == ("apple", "zebra")
    (tmp_path / "classes.txt").write_text("zebra\napple\n")
    data = open_dataset(tmp_path / "data", class_map=tmp_path / "classes.txt")
    assert data.classes == ("zebra", "apple")
    assert {path.split("/")[-2]: label for path, label in data.samples} == {"zebra": 0, "apple": 1}


@pytest.mark.parametrize("case, message", [
    ("empty", "no images found"),
    ("unlabelled", "have no label"),
    ("bad_label", "neither a class index"),
    ("unknown_synset", "not ImageNet-1k synsets"),
    ("no_ground_truth", "no ground truth"),
    ("missing", "does not exist"),
])
def test_broken_datasets_give_clear_errors(tmp_path, case, message):
    root = tmp_path / "d"
    root.mkdir()
    if case == "empty":
        (root / "readme.txt").write_text("nothing here")
    elif case == "unlabelled":  # a mislabelled set: one image missing from the ground truth
        _png(root / "a.png")
        _png(root / "b.png")
        (root / "val.txt").write_text("a.png 1\n")
    elif case == "bad_label":
        _png(root / "a.png")
        (root / "val.txt").write_text("a.png 1000\n")
    elif case == "unknown_synset":
        _png(root / SYNSETS[0] / "a.png")
        _png(root / "n99999999" / "b.png")
    elif case == "no_ground_truth":
        _png(root / "a.png")
    elif case == "missing":
        root = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=message):
        open_dataset(root)


def _folder(root, classes=2, per_class=10, offset=0):
    for c in range(classes):
        for i in range(per_class):
            _png(root / f"c{c}" / f"{i}.png", value=offset + c * 40 + i)
    return root


def test_split_is_seeded_disjoint_and_limited(tmp_path):
    root = _folder(tmp_path / "data", per_class=20)
    a = select_images(data=str(root), calib_size=10, limit=15, seed=3)
    b = select_images(data=str(root), calib_size=10, limit=15, seed=3)
    assert a.eval_samples == b.eval_samples and len(a.eval_samples) == 15 and len(a.calib_paths) == 10
    assert not {p for p, _ in a.eval_samples} & set(a.calib_paths)
    assert a.describe()["calib_source"] == "data-slice"
    assert select_images(data=str(root), calib_size=10, limit=15, seed=4).eval_samples != a.eval_samples


def test_calibration_overlap_is_refused_unless_forced(tmp_path):
    root = _folder(tmp_path / "data")
    copy = tmp_path / "calib"
    copy.mkdir()
    for i, (path, _) in enumerate(open_dataset(root).samples[:3]):  # copies of evaluation images
        (copy / f"copy{i}.png").write_bytes(open(path, "rb").read())
    with pytest.raises(ConfigError, match="also evaluation images"):
        select_images(data=str(root), calib_data=str(copy))
    forced = select_images(data=str(root), calib_data=str(copy), allow_overlap=True)
    assert forced.overlap_forced and forced.calib_source == "calib-data"
    disjoint = _folder(tmp_path / "other", offset=120)
    assert not select_images(data=str(root), calib_data=str(disjoint)).overlap_forced


def test_no_images_means_synthetic_calibration():
    sets = select_images(data=None)
    assert not sets.has_eval and sets.calib_source == "synthetic"
