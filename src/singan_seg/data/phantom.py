"""A procedural, polyp-like phantom image and mask, made in code.

Used by the demo and the tests so that neither needs a download or patient data. The scene imitates an
endoscopy frame: reddish mucosa with a smooth illumination fall-off and vessel-like texture, a darker,
redder, bumpy polyp (the mask), and a few specular highlights. Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .modality import MaskClass, Modality
from .pairs import Pair


def _smooth_noise(rng: np.random.Generator, height: int, width: int, blur: float) -> np.ndarray:
    """Gaussian-blurred white noise scaled to [-1, 1]."""
    out = gaussian_filter(rng.standard_normal((height, width)).astype(np.float32), blur)
    return out / (np.abs(out).max() + 1e-8)


def make_phantom(height: int = 192, width: int = 240, seed: int = 0) -> Pair:
    """An endoscopy-like RGB image (H, W, 3) uint8 with one polyp and its boolean mask (H, W)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ny, nx = (yy / height - 0.5) * 2, (xx / width - 0.5) * 2

    # Mucosa: pinkish red, darker towards the edges (the endoscope's light fall-off), with vessels.
    light = np.clip(1.05 - 0.55 * (nx**2 + ny**2), 0.25, 1.0)
    vessels = np.abs(_smooth_noise(rng, height, width, 3.0))
    vessels = np.clip(1.0 - vessels * 6.0, 0, 1) ** 2  # thin bright ridges where the noise crosses zero
    grain = _smooth_noise(rng, height, width, 1.2)
    base = np.stack([0.86 + 0.06 * grain, 0.45 + 0.05 * grain, 0.38 + 0.04 * grain], axis=-1)
    base[..., 1:] -= 0.18 * vessels[..., None]
    base[..., 0] -= 0.08 * vessels

    # Polyp: an ellipse with a wobbly boundary, off-centre, darker and redder, bumpy surface.
    cy, cx = rng.uniform(0.35, 0.65) * height, rng.uniform(0.35, 0.65) * width
    ry, rx = rng.uniform(0.16, 0.24) * height, rng.uniform(0.16, 0.24) * width
    angle = np.arctan2(yy - cy, xx - cx)
    wobble = 1.0 + 0.12 * np.sin(3 * angle + rng.uniform(0, 6.28)) + 0.06 * np.sin(5 * angle + rng.uniform(0, 6.28))
    radius = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) / wobble
    mask = radius <= 1.0
    dome = np.clip(1.0 - radius**2, 0, 1)  # bright top, darker rim: reads as a raised lump
    bumps = _smooth_noise(rng, height, width, 2.0)
    polyp = np.stack([0.62 + 0.15 * dome + 0.08 * bumps, 0.22 + 0.08 * dome + 0.05 * bumps,
                      0.20 + 0.06 * dome + 0.04 * bumps], axis=-1)
    edge = np.clip((1.15 - radius) / 0.15, 0, 1)[..., None]  # soft blend over a thin rim outside the mask
    rgb = base * (1 - edge) + polyp * edge
    rgb *= light[..., None]

    # Specular highlights: a few small saturated spots, mostly on the polyp.
    for _ in range(4):
        sy = cy + rng.normal(0, ry * 0.4)
        sx = cx + rng.normal(0, rx * 0.4)
        spot = np.exp(-(((yy - sy) ** 2 + (xx - sx) ** 2) / (2 * rng.uniform(1.0, 2.5) ** 2)))
        rgb += 0.9 * spot[..., None]

    image = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    return Pair(image=image, mask=mask, source_id=f"phantom-{seed}")


LABELLED_CLASSES = (MaskClass("background", 0), MaskClass("lesion", 1), MaskClass("core", 2))


def make_labelled_phantom(height: int = 96, width: int = 120, seed: int = 0, bit_depth: int = 16) -> Pair:
    """A grayscale phantom with a 3-class label mask (background 0, lesion 1, core 2), like a scan with a tumour
    core inside its oedema: the polyp phantom's luminance at `bit_depth` bits, the lesion its polyp, the core the
    lesion's brighter inner half. For tests and examples of non-RGB, multi-class data."""
    rgb = make_phantom(height, width, seed)
    luminance = rgb.image.astype(np.float64) @ np.asarray([0.299, 0.587, 0.114])
    yy, xx = np.nonzero(rgb.mask)
    cy, cx = yy.mean(), xx.mean()
    ry, rx = max(1.0, yy.std() * 2.0), max(1.0, xx.std() * 2.0)
    grid_y, grid_x = np.mgrid[0:height, 0:width]
    inner = (((grid_y - cy) / ry) ** 2 + ((grid_x - cx) / rx) ** 2) <= 0.3
    labels = rgb.mask.astype(np.uint8)
    labels[rgb.mask & inner] = 2
    luminance = np.where(labels == 2, luminance * 0.8 + 45, luminance)  # the core: brighter, flatter
    top = 255 if bit_depth == 8 else 65535
    image = np.clip(np.round(luminance / 255.0 * top), 0, top).astype(np.uint8 if bit_depth == 8 else np.uint16)
    modality = Modality(channels=1, bit_depth=bit_depth, classes=LABELLED_CLASSES)
    return Pair(image=image[:, :, None], mask=labels, source_id=f"labelled-phantom-{seed}", modality=modality)
