"""How far an image's statistics are from the style image's: used by tests and the benchmark."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from .backbones import Backbone
from .gatys import gram


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().contiguous() / 255


def gram_distance(backbone: Backbone, image: np.ndarray, style: np.ndarray) -> float:
    """Gatys style loss between two (H, W, 3) uint8 images (style resized to the image): sum of Gram MSEs."""
    x = _tensor(image).to(backbone.mean.device)
    s = F.interpolate(_tensor(style).to(x.device), size=x.shape[-2:], mode="bilinear", antialias=True,
                      align_corners=False)
    with torch.no_grad():
        fx, fs = backbone(x), backbone(s)
    return float(sum(F.mse_loss(gram(fx[n]), gram(fs[n])) for n in backbone.style_layers))


def colour_distance(image: np.ndarray, style: np.ndarray) -> float:
    """Mean absolute difference of per-channel RGB mean and standard deviation (0..255 units)."""
    a, b = image.reshape(-1, 3).astype(np.float64), style.reshape(-1, 3).astype(np.float64)
    return float((np.abs(a.mean(0) - b.mean(0)).mean() + np.abs(a.std(0) - b.std(0)).mean()) / 2)
