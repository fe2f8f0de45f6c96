"""The images of a run: a seeded evaluation subset and a disjoint calibration slice, decoded once per
preprocessing and cached as uint8 crops, so every runtime and every quantiser reads the same pixels.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebench.cache import content_key, file_sha256
from edgebench.data.checks import check_images
from edgebench.data.layouts import images_under, open_dataset
from edgebench.errors import ConfigError
from edgebench.models.spec import Preprocess

DEFAULT_CALIB_SIZE = 300
SYNTHETIC_WARNING = ("calibrated on SYNTHETIC images (no --data or --calib-data was given): the INT8 ranges are "
                     "not those of real images, so this result's accuracy says nothing about a real deployment")


@dataclass(frozen=True, kw_only=True)
class ImageSets:
    """Which images evaluate and which calibrate. Paths only; pixels come per preprocessing."""

    eval_samples: tuple[tuple[str, int], ...] = ()
    calib_paths: tuple[str, ...] = ()
    calib_source: str = "synthetic"  # "data-slice", "calib-data" or "synthetic"
    calib_labels: tuple[int, ...] = ()  # a data slice's labels (accuracy-controlled quantisation validates on them)
    dataset: dict[str, Any] = field(default_factory=dict)
    num_classes: int | None = None
    overlap_forced: bool = False
    # ``edgebench optimize`` only: what the evaluation images are for, "selection" (they decide) or "report"
    # (held out from every decision); "" for a run, which decides nothing.
    role: str = ""

    @property
    def has_eval(self) -> bool:
        return bool(self.eval_samples)

    def describe(self) -> dict[str, Any]:
        described = {"dataset": self.dataset, "eval_images": len(self.eval_samples),
                     "calib_images": len(self.calib_paths), "calib_source": self.calib_source,
                     "overlap_forced": self.overlap_forced, "eval_id": content_key([p for p, _ in self.eval_samples]),
                     "calib_id": content_key(list(self.calib_paths)) if self.calib_paths else None}
        if self.role:
            described["role"] = self.role
        return described


IMAGE_LISTS = {"eval": "images/eval.txt", "calib": "images/calib.txt"}  # relative to the run folder


def image_lists(images: ImageSets) -> dict[str, str]:
    """The text of the run's image lists, by kind: ``path<TAB>label`` per evaluation image, ``path`` per
    calibration image (absolute paths, in the order used), so an accuracy figure can be re-checked by hand."""
    texts = {}
    if images.eval_samples:
        texts["eval"] = "".join(f"{os.path.abspath(p)}\t{label}\n" for p, label in images.eval_samples)
    if images.calib_paths:
        texts["calib"] = "".join(f"{os.path.abspath(p)}\n" for p in images.calib_paths)
    return texts


def write_image_lists(images: ImageSets, run_dir: Path) -> dict[str, str]:
    """Write the image lists into ``run_dir``; returns their file names relative to it, by kind."""
    written = {}
    for kind, text in image_lists(images).items():
        path = Path(run_dir) / IMAGE_LISTS[kind]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written[kind] = IMAGE_LISTS[kind]
    return written


def select_images(*, data: str | None, labels: str | None = None, class_map: str | None = None,
                  calib_data: str | None = None, limit: int | None = None, calib_size: int = DEFAULT_CALIB_SIZE,
                  seed: int = 0, allow_overlap: bool = False, unlabelled: bool = False) -> ImageSets:
    """Split the images of a run.

    Without ``calib_data``, the last ``calib_size`` images of a seeded permutation of ``data`` are held out
    for calibration, always (so a run's evaluation set does not depend on which precisions it measures);
    the evaluation set is the first ``limit`` of the rest. A ``calib_data`` folder that shares an image
    (by path or by content) with the evaluation set is refused unless ``allow_overlap``. ``unlabelled``: a folder
    of images without ground truth is accepted (a run with task models scores them against their FP32 outputs).
    """
    dataset = open_dataset(data, labels=labels, class_map=class_map, unlabelled=unlabelled) if data else None
    calib_set = open_calibration(calib_data) if calib_data else None
    order = list(np.random.default_rng(seed).permutation(len(dataset.samples))) if dataset else []
    samples = [dataset.samples[i] for i in order] if dataset else []
    calib_labels: list[int] = []
    if calib_set is None and dataset is not None:
        held = min(calib_size, len(samples) // 2)
        calib_labels = [label for _, label in samples[len(samples) - held:]]
        calib_paths, samples = [p for p, _ in samples[len(samples) - held:]], samples[:len(samples) - held]
        source = "data-slice"
    elif calib_set is not None:
        rng = np.random.default_rng(seed + 1)
        picked = sorted(rng.permutation(len(calib_set))[:calib_size])
        calib_paths, source = [calib_set[i] for i in picked], "calib-data"
    else:
        calib_paths, source = [], "synthetic"
    if limit is not None:
        samples = samples[:limit]
    overlap = _overlap([p for p, _ in samples], calib_paths) if calib_set is not None else []
    if overlap and not allow_overlap:
        raise ConfigError(f"{len(overlap)} calibration images are also evaluation images (e.g. {overlap[0]}); "
                          "calibrating on test images inflates INT8 accuracy. Use disjoint folders, or pass "
                          "--allow-calib-overlap to accept it (recorded in every result)")
    check_images([p for p, _ in samples], "evaluation")  # a damaged file stops the run before it starts
    check_images(calib_paths, "calibration")
    return ImageSets(eval_samples=tuple(samples), calib_paths=tuple(calib_paths), calib_source=source,
                     calib_labels=tuple(calib_labels),
                     dataset=dataset.describe() if dataset else {}, overlap_forced=bool(overlap),
                     num_classes=dataset.num_classes if dataset else None)


# -- the three roles of an ``edgebench optimize`` search ------------------------------------------------------
# A search decides on images (screen, full evaluation, tie-breaks, NNCF's accuracy control) and then reports a
# drop; read on the images that decided, that drop is optimistic (the winner is partly the one the noise of those
# images favoured). So its labelled images have three disjoint roles: calibration, selection (every decision) and
# report (held out from every decision; the reported top-1 and drop). Defaults, as shares of --data (500 images:
# 150 / 150 / 200): calibration 30% up to 300 (INT8 ranges settle within a few hundred images; NNCF's default
# subset is 300; every image more is lost to accuracy); selection 30% up to 1000 (each surviving candidate is
# evaluated on all of it); report the rest up to 2000 (only the final round's deployments are evaluated on it,
# and its interval is the one the user reads, so it gets the largest share).
CALIB_SHARE = 0.3
SELECTION_SHARE = 0.3
MAX_DEFAULT_SELECTION = 1000
MAX_DEFAULT_REPORT = 2000
SELECTION_LIST = "images/selection.txt"  # relative to the search folder; the report images are IMAGE_LISTS["eval"]


@dataclass(frozen=True)
class RoleSizes:
    """How many labelled images of --data each role takes (``calibration`` 0: --calib-data calibrates)."""

    total: int
    calibration: int
    selection: int
    report: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def role_sizes(total: int, *, calibration: int | None = None, selection: int | None = None,
               report: int | None = None, calib_from_data: bool = True) -> RoleSizes:
    """The sizes of the three roles among ``total`` labelled images; None means the default share (see above).
    Without ``calib_from_data`` (a --calib-data folder calibrates) selection and report share --data 3:4."""
    roles = 3 if calib_from_data else 2
    if total < roles:
        raise ConfigError(f"--data holds {total} labelled image(s); edgebench optimize needs at least {roles} "
                          "(calibration, selection and report images are disjoint); give more images")
    if calib_from_data:
        calibration = calibration if calibration is not None else min(DEFAULT_CALIB_SIZE, _share(CALIB_SHARE, total))
        if calibration > total // 2:
            raise ConfigError(f"--calib-size {calibration} is more than half of the {total} images in --data; "
                              f"give at most {total // 2}, or calibration images of their own with --calib-data")
    else:
        calibration = 0
    share = SELECTION_SHARE if calib_from_data else SELECTION_SHARE / (1.0 - CALIB_SHARE)
    selection = selection if selection is not None else min(MAX_DEFAULT_SELECTION, _share(share, total))
    left = total - calibration - selection
    if report is None and left < 1:
        raise ConfigError(f"{calibration} calibration + {selection} selection images leave none of the {total} "
                          "labelled images in --data to report on; give smaller --calib-size or --selection-images")
    report = report if report is not None else min(MAX_DEFAULT_REPORT, left)
    if calibration + selection + report > total:
        used = " + ".join(f"{n} {what}" for n, what in ((calibration, "calibration"), (selection, "selection"),
                                                          (report, "report")) if n or what != "calibration")
        raise ConfigError(f"{used} images are more than the {total} labelled images in --data; give smaller "
                          "--calib-size, --selection-images or --report-images (the roles are disjoint)")
    return RoleSizes(total=total, calibration=calibration, selection=selection, report=report)


def _share(share: float, total: int) -> int:
    return max(1, int(round(share * total)))


@dataclass(frozen=True)
class SearchImages:
    """The selection and report images of a search, each an ImageSets with the same calibration images."""

    selection: ImageSets
    report: ImageSets

    def describe(self, seed: int) -> dict[str, Any]:
        """What optimize.json records: each role's count, image-list id and file."""
        selection, report = self.selection.describe(), self.report.describe()
        return {"seed": seed, "dataset": selection["dataset"],
                "calibration": {"images": selection["calib_images"], "source": selection["calib_source"],
                                "id": selection["calib_id"],
                                "file": IMAGE_LISTS["calib"] if selection["calib_id"] else None},
                "selection": {"images": selection["eval_images"], "id": selection["eval_id"], "file": SELECTION_LIST},
                "report": {"images": report["eval_images"], "id": report["eval_id"], "file": IMAGE_LISTS["eval"]}}

    def write_selection_list(self, run_dir: Path) -> str:
        """Write ``images/selection.txt`` (path<TAB>label); the report and calibration lists are the run folder's
        ``images/eval.txt`` and ``images/calib.txt`` (``write_image_lists`` of the report images)."""
        path = Path(run_dir) / SELECTION_LIST
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(image_lists(self.selection).get("eval", ""))
        return SELECTION_LIST


def split_roles(images: ImageSets, sizes: RoleSizes) -> SearchImages:
    """Selection and report images from ``images`` (``select_images`` with ``calib_size`` of the calibration role
    and ``limit`` of selection + report): the first ``sizes.selection`` of its seeded order select, the next
    ``sizes.report`` report. Disjoint from each other and from the calibration images by construction."""
    samples = images.eval_samples
    if len(samples) < sizes.selection + sizes.report:
        raise ConfigError(f"{len(samples)} evaluation images after calibration, fewer than the {sizes.selection} "
                          f"selection and {sizes.report} report images asked for; give smaller sizes or more images")
    return SearchImages(selection=replace(images, eval_samples=samples[:sizes.selection], role="selection"),
                        report=replace(images, eval_samples=samples[sizes.selection:sizes.selection + sizes.report],
                                       role="report"))


def open_calibration(path: str) -> list[str]:
    """Calibration images need no labels: every image under the folder, sorted."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"calibration folder {root} does not exist; pass --calib-data with a folder of images")
    images = [str(p) for p in images_under(root)]
    if not images:
        raise ConfigError(f"no images found under {root}; --calib-data needs a folder of images")
    return images


def _overlap(eval_paths: list[str], calib_paths: list[str]) -> list[str]:
    """Calibration images that are evaluation images: same file, or same bytes (copies)."""
    resolved = {os.path.realpath(p) for p in eval_paths}
    shared = [p for p in calib_paths if os.path.realpath(p) in resolved]
    sizes: dict[int, list[str]] = {}
    for p in eval_paths:
        sizes.setdefault(os.path.getsize(p), []).append(p)
    for p in calib_paths:
        if p in shared:
            continue
        candidates = sizes.get(os.path.getsize(p), [])
        if candidates and file_sha256(p) in {file_sha256(c) for c in candidates}:
            shared.append(p)
    return shared


# -- pixels ---------------------------------------------------------------------------------------------
def materialize(paths: list[str], pre: Preprocess, cache_dir: Path, *, labels: list[int] | None = None,
                say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Decode and crop ``paths`` for ``pre`` into a cached uint8 .npy; returns a reference to it."""
    from edgebench.data.images import crop_image

    geometry = {k: v for k, v in asdict(pre).items() if k in ("input_size", "interpolation", "crop_pct")}
    if pre.resize != "crop":  # (crop keeps the key it always had: cached crops stay valid)
        geometry.update(resize=pre.resize, pad_value=pre.pad_value, position=pre.position)
    stamp = [(p, os.path.getsize(p), int(os.path.getmtime(p))) for p in paths]
    key = content_key([geometry, stamp], length=20)
    crops_path = cache_dir / "images" / f"{key}.npy"
    if not crops_path.exists():
        if say:
            fit = f"crop {pre.crop_pct:.3f}" if pre.resize == "crop" else pre.resize
            say(f"  decoding {len(paths)} images at {pre.input_size[1]}x{pre.input_size[2]} ({pre.interpolation}, "
                f"{fit})...")

        def decode(crops: np.ndarray) -> None:
            for i, path in enumerate(paths):
                crops[i] = crop_image(path, pre)

        _write_npy(crops_path, (len(paths), *pre.input_size[1:], 3), decode)
    ref = {"crops": str(crops_path), "count": len(paths), "key": key, "synthetic": False}
    if pre.resize != "crop":  # where each image went in the input, so that boxes and masks map back
        from edgebench.data.images import image_geometry

        ref["geometry"] = [image_geometry(p, pre) for p in paths]
    if labels is not None:
        ref["labels"] = [int(v) for v in labels]
    return ref


def synthetic_crops(count: int, pre: Preprocess, seed: int, cache_dir: Path) -> dict[str, Any]:
    """Seeded uniform-noise images: calibration of last resort (see SYNTHETIC_WARNING)."""
    _, height, width = pre.input_size
    path = cache_dir / "images" / f"synthetic-{count}-{height}x{width}-{seed}.npy"
    if not path.exists():
        def noise(crops: np.ndarray) -> None:
            crops[:] = np.random.default_rng(seed).integers(0, 256, crops.shape, dtype=np.uint8)

        _write_npy(path, (count, height, width, 3), noise)
    return {"crops": str(path), "count": count, "key": path.stem, "synthetic": True}


def _write_npy(path: Path, shape: tuple[int, ...], fill: Callable[[np.ndarray], None]) -> None:
    """Create a uint8 .npy by ``fill``-ing it on disk (50,000 ImageNet crops are 7.5 GB, more than a small
    board's memory), under a temporary name until complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npy")
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
    fill(array)
    array.flush()
    del array
    os.replace(tmp, path)


def load_crops(ref: dict[str, Any]) -> np.ndarray:
    """The uint8 crops of a reference, memory-mapped (a worker reads only what it uses)."""
    return np.load(ref["crops"], mmap_mode="r")


def batches(crops: np.ndarray, pre: Preprocess, batch_size: int):
    """Normalised float32 batches of exactly ``batch_size`` (the last one padded by repeating its final
    image, since compiled runtimes have a static batch); yields (batch, number of real images)."""
    from edgebench.data.images import normalize

    for start in range(0, len(crops), batch_size):
        chunk = np.asarray(crops[start:start + batch_size])
        real = len(chunk)
        if real < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - real, axis=0)])
        yield normalize(chunk, pre), real
