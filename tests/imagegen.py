"""Generated, learnable image datasets for tests: each class is a colour and a stripe pattern, with
random phase, brightness and noise, at varied image sizes. A small CNN learns them in seconds."""
from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("red_rows", "green_cols", "blue_checks", "gray_diagonals")
COLOURS = ((220, 40, 40), (40, 200, 60), (50, 70, 230), (150, 150, 150))


def make_image(label: int, rng: np.random.Generator, size: tuple[int, int] = (40, 40), noise: float = 12.0) -> np.ndarray:
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    phase = rng.integers(0, 8)
    pattern = {0: (yy + phase) // 4 % 2, 1: (xx + phase) // 4 % 2,
               2: ((yy + phase) // 4 + (xx + phase) // 4) % 2, 3: (xx + yy + phase) // 4 % 2}[label]
    # Past a noise of 50 the colour no longer tells the class: only the stripes do (a harder task).
    hue = COLOURS[label] if noise <= 50 else COLOURS[int(rng.integers(0, len(COLOURS)))]
    colour = np.asarray(hue, np.float32) * rng.uniform(0.7, 1.1)
    image = pattern[..., None] * colour + (1 - pattern[..., None]) * 30.0
    image += rng.normal(0, noise, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_imagefolder(root: Path, per_class: int, seed: int, names: tuple[str, ...] = CLASSES,
                      noise: float = 12.0) -> Path:
    """One folder per class name, PNG images of a few sizes (more ``noise``: a harder task)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            size = (int(rng.integers(36, 48)), int(rng.integers(36, 48)))
            Image.fromarray(make_image(label % len(CLASSES), rng, size, noise)).save(folder / f"{name}_{seed}_{i:04d}.png")
    return root


def train_tiny_classifier(root: Path, epochs: int = 6):
    """Train TinyNet-like CNN (3x32x32 → len(CLASSES)) on an ImageFolder written by ``write_imagefolder``."""
    import torch
    from torch import nn

    from edgebench.data.evalset import batches
    from edgebench.data.images import crop_image
    from edgebench.data.layouts import open_dataset
    from edgebench.models.spec import Preprocess

    pre = Preprocess(input_size=(3, 32, 32), interpolation="bilinear", crop_pct=0.875)
    dataset = open_dataset(root)
    crops = np.stack([crop_image(p, pre) for p, _ in dataset.samples])
    x = torch.from_numpy(np.concatenate([b for b, _ in batches(crops, pre, len(crops))]))
    y = torch.tensor([label for _, label in dataset.samples])
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, len(dataset.classes)),
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 32):
            idx = order[start:start + 32]
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            optimiser.step()
    return model.eval(), pre
