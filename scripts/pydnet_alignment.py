"""PyDNet++ on the three shared RGB-D pairs (SUN, TUM, NYU), scored with both of edgebench's alignments beside the
figures measured by hand (../shared/data/README.md): why `edgebench run` matches the hand figures on SUN only.

The image goes through edgebench's own preprocessing (examples/pydnet_plus_plus.yaml: stretched to 640x448,
bilinear, RGB / 255) into the LiteRT interpreter; the map is scored by ``edgebench.tasks.depth.image_errors``
aligned by least squares in depth space (``depth_output: depth``, what the example YAML says: the map grows with
distance) and in inverse-depth space (``disparity``: the map fitted as it is to 1 / depth). Each pair's depth is
decoded as the README says (SUN: bits rotated right by 3, millimetres; TUM: / 5000; NYU: raw Kinect values
byte-swapped, 351.3 / (1092.5 - raw), raw values at or past 1092.5 have no depth).

    python scripts/pydnet_alignment.py [--shared ../shared]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HAND = {"SUN": (0.163, 0.75), "TUM": (0.11, 0.89), "NYU": (0.15, 0.78)}  # AbsRel, δ1 by hand (the README)
COLOUR = {"SUN": "SUN_color.jpg", "TUM": "TUM_color.png", "NYU": "NYU_color.ppm"}


def truth(folder: Path, name: str) -> np.ndarray:
    """Metres, 0 where the sensor has no reading."""
    from PIL import Image

    if name == "SUN":
        raw = np.asarray(Image.open(folder / "SUN_depth.png")).astype(np.uint32)
        return (((raw >> 3) | (raw << 13)) & 0xFFFF) / 1000.0
    if name == "TUM":
        return np.asarray(Image.open(folder / "TUM_depth.png")).astype(np.float64) / 5000.0
    raw = np.asarray(Image.open(folder / "NYU_depth.pgm")).astype(np.uint16).byteswap().astype(np.float64)
    return np.where(raw < 1092.5, 351.3 / np.where(raw < 1092.5, 1092.5 - raw, 1.0), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    repo = Path(__file__).resolve().parents[1]
    parser.add_argument("--shared", type=Path, default=repo / ".." / "shared")
    args = parser.parse_args()
    from ai_edge_litert.interpreter import Interpreter

    from edgebench.data.images import crop_image, normalize
    from edgebench.models.registry import resolve_model
    from edgebench.tasks.depth import image_errors

    model = args.shared / "models" / "pydnet_plus_plus.tflite"
    folder = args.shared / "data" / "rgbd-samples" / "other_formats"
    if not model.is_file() or not folder.is_dir():
        parser.error(f"no {model} or {folder}: give --shared the folder holding models/ and data/")
    spec = resolve_model(f"tflite:{model}", {"model_config": str(repo / "examples" / "pydnet_plus_plus.yaml")})
    interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    given = interpreter.get_input_details()[0]
    output = next(t for t in interpreter.get_tensor_details() if t["name"] == spec.output_name)
    print("| pair | depth space: AbsRel / δ1 | inverse-depth space: AbsRel / δ1 | by hand |")
    print("|---|---|---|---|")
    for name in ("SUN", "TUM", "NYU"):
        crop = crop_image(str(folder / COLOUR[name]), spec.preprocess)  # (H, W, 3) uint8, the model's input size
        batch = normalize(crop[None], spec.preprocess)  # NCHW float32
        interpreter.set_tensor(given["index"], np.ascontiguousarray(batch.transpose(0, 2, 3, 1)))
        interpreter.invoke()
        pred = np.squeeze(interpreter.get_tensor(output["index"])).astype(np.float64)
        depth = truth(folder, name)
        cells = []
        for space in ("depth", "disparity"):
            errors = image_errors(pred, depth, space)
            cells.append(f"{errors['abs_rel']:.3f} / {errors['delta1']:.3f}")
        print(f"| {name} | {cells[0]} | {cells[1]} | {HAND[name][0]} / {HAND[name][1]} |")


if __name__ == "__main__":
    main()
