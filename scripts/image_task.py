"""Make a small, learnable image-classification task for demonstrations on machines without ImageNet:
generated images (ImageFolder train/, calib/ and val/; noisy enough that the CNN gets about 90%, so
a precision's accuracy change can show), a small CNN trained on train/ in seconds, exported to ONNX
with its preprocessing YAML. Then measure it, e.g.:

    python scripts/image_task.py /tmp/task
    edgebench run --model onnx:/tmp/task/net.onnx --data /tmp/task/val --calib-data /tmp/task/calib \\
        --precision fp32 --precision fp16 --precision bf16 --precision int8 --precision int8-dynamic
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from imagegen import train_tiny_classifier, write_imagefolder  # noqa: E402

from edgebench.export.onnx_export import onnx_from_torch  # noqa: E402

NOISE = 100.0


def main(root: Path) -> None:
    write_imagefolder(root / "train", 40, seed=1, noise=NOISE)
    write_imagefolder(root / "calib", 50, seed=3, noise=NOISE)
    write_imagefolder(root / "val", 250, seed=2, noise=NOISE)
    model, _ = train_tiny_classifier(root / "train")
    onnx_from_torch(model, root / "net.onnx", (3, 32, 32))
    (root / "net.yaml").write_text("interpolation: bilinear\ncrop_pct: 0.875\n")
    print(f"wrote {root}/train, calib, val and net.onnx")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "image-task"))
