"""Image datasets on disk → a list of (image path, class index), in the models' class order.

Layouts understood (detected from the folder, never guessed silently):
- ImageNet validation, one folder per synset (``n01440764/ILSVRC2012_val_00000293.JPEG``);
- ImageNet validation, flat, with a ground-truth file: ILSVRC's ``LOC_val_solution.csv`` or a plain
  ``filename label`` list (label: class index or synset);
- any ImageFolder dataset (one folder per class) for a user's own model, the class order from a file or
  from the sorted folder names (torchvision's ``ImageFolder`` rule);
- COCO detection: ``annotations/instances_<split>.json`` beside the images' folder; a sample's label is its
  COCO image id, the classes are the categories in id order (an 80-class detector's class i is the i-th);
- RGB-D pairs: ``color/`` and ``depth/`` folders whose files share their stems (``color/0001.jpg`` with
  ``depth/0001.png``), 16-bit depth PNGs at ``depth_scale`` units per metre (1000, millimetres, unless
  ``rgbd.yaml`` in the folder says ``depth_scale: 5000``); a sample's label is its index into ``depth_files``;
- unlabelled images (a flat folder without a ground-truth file), only when asked (``unlabelled``: a run of
  detectors, segmenters or depth models, scored against their own FP32 outputs); labels are -1.
ImageNet labels are indices into the 1000 ILSVRC-2012 synsets in sorted order, as timm and torchvision
models predict them.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgebench.errors import ConfigError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")
SYNSET = re.compile(r"^n\d{8}$")
GROUND_TRUTH_NAMES = ("LOC_val_solution.csv", "val.txt", "labels.txt", "ground_truth.txt")
LAYOUTS = ("imagenet-synset-folders", "imagenet-loc-csv", "label-list", "imagefolder", "coco", "rgbd", "unlabelled")
DEPTH_SCALE = 1000.0  # rgbd: depth PNG units per metre unless rgbd.yaml says otherwise


@dataclass(frozen=True)
class Dataset:
    """Images with labels. ``classes[i]`` names class ``i``; ``samples`` are sorted by path."""

    root: str
    layout: str
    classes: tuple[str, ...]
    samples: tuple[tuple[str, int], ...]
    annotations: str = ""  # coco: the instances file (labels are image ids into it)
    category_ids: tuple[int, ...] = ()  # coco: the category id of each class, in class order
    depth_files: tuple[str, ...] = ()  # rgbd: each sample's depth PNG (its label is the index)
    depth_scale: float = 0.0  # rgbd: PNG units per metre

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict:
        described = {"root": self.root, "layout": self.layout, "images": len(self.samples), "classes": self.num_classes}
        if self.annotations:
            described.update(annotations=self.annotations, category_ids=list(self.category_ids))
        if self.depth_files:
            described.update(depth_files=list(self.depth_files), depth_scale=self.depth_scale)
        return described


@lru_cache(maxsize=1)
def imagenet_synsets() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 synsets in the order of the models' outputs (sorted WordNet ids)."""
    path = Path(__file__).with_name("imagenet_synsets.txt")
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if _is_image(p))


def open_dataset(path: str | Path, *, labels: str | Path | None = None, class_map: str | Path | None = None,
                 unlabelled: bool = False) -> Dataset:
    """Read a dataset folder. ``labels``: a ground-truth file for a flat folder; ``class_map``: the class
    order of an ImageFolder dataset (one class name per line, or ``name index`` per line); ``unlabelled``: a flat
    folder without a ground-truth file is read as unlabelled images instead of refused."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"dataset folder {root} does not exist; pass --data with a folder of images")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(p for p in root.iterdir() if _is_image(p))
    coco = sorted((root / "annotations").glob("instances_*.json")) if (root / "annotations").is_dir() else []
    names = {d.name for d in subdirs}
    if coco and labels is None:
        dataset = _coco(root, coco)
    elif {"color", "depth"} <= names and labels is None:
        dataset = _rgbd(root)
    elif labels is None and not loose and subdirs:
        if all(SYNSET.match(d.name) for d in subdirs):
            dataset = _synset_folders(root, subdirs)
        else:
            dataset = _image_folder(root, subdirs, class_map)
    else:
        dataset = _flat(root, loose, labels, unlabelled)
    if not dataset.samples:
        raise ConfigError(f"no images found in {root} (looked for {', '.join(IMAGE_SUFFIXES)}); "
                          "point --data at an ImageNet validation folder or an ImageFolder dataset")
    return dataset


def _coco(root: Path, files: list[Path]) -> Dataset:
    import json

    if len(files) > 1:
        raise ConfigError(f"{root}/annotations holds {len(files)} instances files ({', '.join(f.name for f in files)}); "
                          "keep one split per dataset folder")
    try:
        data = json.loads(files[0].read_text())
        categories = sorted(data["categories"], key=lambda c: c["id"])
        images = data["images"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{files[0]} is not a COCO instances file ({exc}); it needs images, annotations and "
                          "categories") from None
    by_name = {p.name: p for p in images_under(root) if "annotations" not in p.parts}
    samples = [(str(by_name[im["file_name"]]), int(im["id"])) for im in images if im["file_name"] in by_name]
    if not samples:
        raise ConfigError(f"none of the {len(images)} images of {files[0].name} is under {root}; put the images "
                          "beside the annotations folder (COCO's val2017/ layout)")
    return Dataset(str(root), "coco", tuple(c["name"] for c in categories), tuple(sorted(samples)),
                   annotations=str(files[0]), category_ids=tuple(int(c["id"]) for c in categories))


def _rgbd(root: Path) -> Dataset:
    depth_by_stem = {p.stem: p for p in images_under(root / "depth")}
    colors = [p for p in images_under(root / "color") if p.stem in depth_by_stem]
    if not colors:
        raise ConfigError(f"{root}: no image of color/ has a depth PNG of the same name in depth/ (color/0001.jpg "
                          "with depth/0001.png)")
    scale = DEPTH_SCALE
    settings = root / "rgbd.yaml"
    if settings.is_file():
        import yaml

        try:
            scale = (yaml.safe_load(settings.read_text()) or {}).get("depth_scale", DEPTH_SCALE)
        except (yaml.YAMLError, AttributeError, UnicodeDecodeError):
            scale = None
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
            raise ConfigError(f"{settings} must say depth_scale: <units per metre> (1000 for millimetres)")
    return Dataset(str(root), "rgbd", (), tuple((str(p), i) for i, p in enumerate(colors)),
                   depth_files=tuple(str(depth_by_stem[p.stem]) for p in colors), depth_scale=float(scale))


def _synset_folders(root: Path, subdirs: list[Path]) -> Dataset:
    index = {s: i for i, s in enumerate(imagenet_synsets())}
    unknown = [d.name for d in subdirs if d.name not in index]
    if unknown:
        raise ConfigError(f"{root}: folders {unknown[:5]} are not ImageNet-1k synsets; an ImageNet validation "
                          "folder holds only the 1000 ILSVRC-2012 synset folders")
    samples = [(str(p), index[d.name]) for d in subdirs for p in images_under(d)]
    return Dataset(str(root), "imagenet-synset-folders", imagenet_synsets(), tuple(sorted(samples)))


def _image_folder(root: Path, subdirs: list[Path], class_map: str | Path | None) -> Dataset:
    names = [d.name for d in subdirs]
    classes = _read_class_map(Path(class_map)) if class_map else tuple(names)
    index = {c: i for i, c in enumerate(classes)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ConfigError(f"{root}: class folders {missing[:5]} are not in the class map {class_map}; "
                          "add them to the map or remove the folders")
    samples = [(str(p), index[d.name]) for d in subdirs for p in images_under(d)]
    return Dataset(str(root), "imagefolder", classes, tuple(sorted(samples)))


def _read_class_map(path: Path) -> tuple[str, ...]:
    """One class name per line (line order = index), or ``name index`` pairs."""
    if not path.is_file():
        raise ConfigError(f"class map {path} does not exist; give a text file with one class name per line")
    rows = [line.split() for line in _text(path, "class map").splitlines() if line.strip() and not line.startswith("#")]
    if rows and all(len(r) == 2 and r[1].isdigit() for r in rows):
        pairs = {int(i): name for name, i in rows}
        if sorted(pairs) != list(range(len(pairs))) or len(pairs) != len(rows):
            raise ConfigError(f"class map {path}: indices must be 0..N-1, each once")
        return tuple(pairs[i] for i in range(len(pairs)))
    if any(len(r) != 1 for r in rows):
        raise ConfigError(f"class map {path}: each line must be a class name, or a name and its index")
    names = tuple(r[0] for r in rows)
    if len(set(names)) != len(names):
        raise ConfigError(f"class map {path} names a class twice")
    return names


def _flat(root: Path, images: list[Path], labels: str | Path | None, unlabelled: bool = False) -> Dataset:
    truth = Path(labels) if labels else next((c for base in (root, root.parent) for c in
                                              (base / n for n in GROUND_TRUTH_NAMES) if c.is_file()), None)
    if truth is None:
        if not images:
            return Dataset(str(root), "label-list", imagenet_synsets(), ())
        if unlabelled:
            return Dataset(str(root), "unlabelled", (), tuple((str(p), -1) for p in images))
        raise ConfigError(f"{root} holds images but no ground truth: put {' or '.join(GROUND_TRUTH_NAMES)} beside "
                          "them, pass --labels FILE, or use one folder per class")
    if not truth.is_file():
        raise ConfigError(f"ground-truth file {truth} does not exist")
    if truth.suffix.lower() == ".csv":
        layout, pairs = "imagenet-loc-csv", _read_loc_csv(truth)
    else:
        layout, pairs = "label-list", _read_label_list(truth)
    synsets = imagenet_synsets()
    index = {s: i for i, s in enumerate(synsets)}
    by_stem = {p.stem: p for p in images}
    by_name = {p.name: p for p in images}
    samples, unlabelled, bad = [], [], []
    for name, label in pairs:
        image = by_name.get(name) or by_stem.get(Path(name).stem)
        if image is None:
            unlabelled.append(name)
            continue
        if label.isdigit() and int(label) < len(synsets):
            samples.append((str(image), int(label)))
        elif label in index:
            samples.append((str(image), index[label]))
        else:
            bad.append(f"{name}: {label}")
    if bad:
        raise ConfigError(f"{truth}: labels that are neither a class index 0-999 nor an ImageNet-1k synset: "
                          f"{bad[:5]}; fix the file")
    if unlabelled and len(unlabelled) == len(pairs):
        raise ConfigError(f"{truth} names no image that is in {root} (e.g. {unlabelled[0]}); "
                          "is it the ground truth of this folder?")
    labelled = {s for s, _ in samples}
    missing = [p.name for p in images if str(p) not in labelled]
    if missing:
        raise ConfigError(f"{len(missing)} images in {root} have no label in {truth} (e.g. {missing[:3]}); "
                          "a mislabelled set would make accuracy meaningless")
    return Dataset(str(root), layout, synsets, tuple(sorted(samples)))


def _read_loc_csv(path: Path) -> list[tuple[str, str]]:
    """ILSVRC ``LOC_val_solution.csv``: ImageId,PredictionString ("n01751748 x y x y ..."): the first synset."""
    rows = list(csv.reader(io.StringIO(_text(path, "ground-truth file"), newline="")))
    if not rows or [c.strip() for c in rows[0][:2]] != ["ImageId", "PredictionString"]:
        raise ConfigError(f"{path} is not in LOC_val_solution.csv format (header ImageId,PredictionString)")
    pairs = []
    for line, row in enumerate(rows[1:], 2):
        if len(row) < 2 or not row[1].split():
            raise ConfigError(f"{path}:{line}: expected 'ImageId,<synset> <box>...', got {','.join(row)!r}")
        pairs.append((row[0].strip(), row[1].split()[0]))
    return pairs


def _read_label_list(path: Path) -> list[tuple[str, str]]:
    """``filename label`` per line (ILSVRC ``val.txt``; label an index or a synset)."""
    pairs = []
    for line_no, line in enumerate(_text(path, "ground-truth file").splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 2:
            raise ConfigError(f"{path}:{line_no}: expected 'filename label', got {line.strip()!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


def _text(path: Path, what: str) -> str:
    """A small text file the user named; a binary or unreadable one is bad input, said with its name."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not a text file (binary or not UTF-8); give a plain text file") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder; give a plain text file") from None
