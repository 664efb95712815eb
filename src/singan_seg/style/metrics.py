"""How far an image's statistics are from the style image's: used by tests and the benchmark.

Images are (H, W, C) (or (H, W) gray) uint8 or uint16 arrays with any channel count C; image and style must have
the same C. Pixel distances are in 0..255 units whatever the bit depth (16-bit values are divided by 257), so
numbers from 8- and 16-bit images compare.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import wasserstein_distance
from torch.nn import functional as F

from .backbones import Backbone
from .gatys import gram


def _hwc(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image[:, :, None] if image.ndim == 2 else image


def _same_channels(image: np.ndarray, style: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image, style = _hwc(image), _hwc(style)
    if image.shape[2] != style.shape[2]:
        raise ValueError(f"image has {image.shape[2]} channels but the style image {style.shape[2]}")
    return image, style


def _tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) -> (1, C, H, W) float in [0, 1] (v / 255, or v / 65535 for uint16)."""
    scale = 65535 if image.dtype == np.uint16 else 255
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().contiguous() / scale


def _pixels_255(image: np.ndarray) -> np.ndarray:
    """(H*W, C) float64 values in 0..255 units."""
    flat = image.reshape(-1, image.shape[2]).astype(np.float64)
    return flat / 257 if image.dtype == np.uint16 else flat


def _rgb_views(x: torch.Tensor) -> list[torch.Tensor]:
    """What an RGB network can see of (1, C, H, W): the image itself for RGB, else each channel as gray
    replicated to RGB (as gatys sees gray images)."""
    if x.shape[1] == 3:
        return [x]
    return [x[:, c:c + 1].repeat(1, 3, 1, 1) for c in range(x.shape[1])]


def gram_distance(backbone: Backbone, image: np.ndarray, style: np.ndarray) -> float:
    """Gatys style loss between two images (style resized to the image): sum of Gram MSEs over the style layers.
    Images that are not RGB are compared channel by channel, each as gray replicated to RGB, and averaged."""
    image, style = _same_channels(image, style)
    x = _tensor(image).to(backbone.mean.device)
    s = F.interpolate(_tensor(style).to(x.device), size=x.shape[-2:], mode="bilinear", antialias=True,
                      align_corners=False)
    distances = []
    with torch.no_grad():
        for view_x, view_s in zip(_rgb_views(x), _rgb_views(s)):
            fx, fs = backbone(view_x), backbone(view_s)
            distances.append(float(sum(F.mse_loss(gram(fx[n]), gram(fs[n])) for n in backbone.style_layers)))
    return float(np.mean(distances))


def colour_distance(image: np.ndarray, style: np.ndarray) -> float:
    """Mean absolute difference of per-channel mean and standard deviation (0..255 units), over all channels."""
    image, style = _same_channels(image, style)
    a, b = _pixels_255(image), _pixels_255(style)
    return float((np.abs(a.mean(0) - b.mean(0)).mean() + np.abs(a.std(0) - b.std(0)).mean()) / 2)


def histogram_distance(image: np.ndarray, style: np.ndarray) -> float:
    """Per-channel earth mover's (1-D Wasserstein) distance between the pixel-value histograms, averaged over
    channels (0..255 units): how far the whole value distribution is, not only its mean and spread."""
    image, style = _same_channels(image, style)
    a, b = _pixels_255(image), _pixels_255(style)
    return float(np.mean([wasserstein_distance(a[:, c], b[:, c]) for c in range(a.shape[1])]))
