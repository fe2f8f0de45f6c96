"""``transformers:<hub id>`` models: Hugging Face architectures edgebench knows how to feed and read.

Each entry says the task, the fixed input a deployment takes, and the configuration to build the architecture
from when the hub cannot be reached (random weights then, said as for timm). Depth Anything V2 Small: a DINOv2
ViT-S/14 backbone with a DPT head, relative inverse depth (disparity) out; its processor resizes to 518 px
keeping the aspect ratio, a deployment takes one fixed shape, so the image is stretched to 518 x 518 here.
"""
from __future__ import annotations

from typing import Any

from edgebench.errors import ConfigError
from edgebench.models.spec import IMAGENET_MEAN, IMAGENET_STD, ModelSpec, Preprocess

KNOWN: dict[str, dict[str, Any]] = {
    "depth-anything/Depth-Anything-V2-Small-hf": {
        "task": "depth", "size": 518, "postprocess": {"depth_output": "disparity"},
        # Zero-shot relative depth, the paper's table (ViT-S): NYU-D AbsRel 0.053, δ1 0.973; KITTI 0.078, 0.936.
        "reference": {"params_m": 24.8, "delta1": 97.3, "abs_rel": 5.3, "dataset": "NYU-D, zero-shot",
                      "kitti": {"delta1": 93.6, "abs_rel": 7.8},
                      "source": "Depth Anything V2 (NeurIPS 2024), zero-shot relative depth table: ViT-S, 24.8M "
                                "parameters"},
        # The hub's config.json of this checkpoint, as transformers' DepthAnythingConfig takes it.
        "config": {"backbone_config": {"model_type": "dinov2", "hidden_size": 384, "num_hidden_layers": 12,
                                       "num_attention_heads": 6, "image_size": 518, "patch_size": 14,
                                       "out_indices": [3, 6, 9, 12], "reshape_hidden_states": False},
                   "reassemble_hidden_size": 384, "neck_hidden_sizes": [48, 96, 192, 384], "fusion_hidden_size": 64,
                   "patch_size": 14, "depth_estimation_type": "relative"},
    },
}


def transformers_spec(name: str) -> ModelSpec:
    if name not in KNOWN:
        raise ConfigError(f"unknown transformers model {name!r}; edgebench knows {', '.join(sorted(KNOWN))}")
    entry = KNOWN[name]
    size = entry["size"]
    preprocess = Preprocess(input_size=(3, size, size), interpolation="bicubic", resize="stretch", mean=IMAGENET_MEAN,
                            std=IMAGENET_STD)
    return ModelSpec(id=f"transformers:{name}", source="transformers", name=name, preprocess=preprocess,
                     task=entry["task"], num_classes=1, postprocess=dict(entry["postprocess"]),
                     reference=dict(entry["reference"]))


def predicted_depth(model):
    """``model`` as a module that maps a tensor to its (N, 1, H, W) depth map (for export and every runtime)."""
    import torch

    class PredictedDepth(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, pixel_values):
            return self.inner(pixel_values=pixel_values).predicted_depth.unsqueeze(1)

    return PredictedDepth().eval()


def build(spec: ModelSpec, pretrained: bool):
    """The architecture of ``spec``, published weights when ``pretrained`` (from the hub or its cache)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

    if pretrained:
        model = DepthAnythingForDepthEstimation.from_pretrained(spec.name)
    else:
        model = DepthAnythingForDepthEstimation(DepthAnythingConfig(**KNOWN[spec.name]["config"]))
    return predicted_depth(model.eval())
