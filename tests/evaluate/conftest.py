"""Shared fixtures: the (cached) Inception extractor and small phantom image sets on disk. No training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import singan_seg as ss
from singan_seg.data.samples_dir import mask_to_png_array, save_png
from singan_seg.evaluate import get_extractor
from singan_seg.sampling import Samples


@pytest.fixture(scope="session")
def extractor():
    return get_extractor()


def write_real_dir(directory: Path, pairs: list[ss.Pair], stems: list[str]) -> Path:
    """Kvasir layout: images/<stem>.png + masks/<stem>.png."""
    for pair, stem in zip(pairs, stems):
        save_png(directory / "images" / f"{stem}.png", pair.image)
        save_png(directory / "masks" / f"{stem}.png", mask_to_png_array(pair.mask))
    return directory


def noisy(image: np.ndarray, sd: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sd, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def phantom_sets(tmp_path_factory):
    """train/ (3 phantoms), held/ (3 other phantoms), samples/ (copies of train p0 and p1, noisy p0, p2 shifted)."""
    root = tmp_path_factory.mktemp("sets")
    pairs = [ss.make_phantom(seed=s) for s in range(6)]  # (192, 240, 3) images
    write_real_dir(root / "train", pairs[:3], ["p0", "p1", "p2"])
    write_real_dir(root / "held", pairs[3:], ["h3", "h4", "h5"])
    images = np.stack([pairs[0].image, pairs[1].image, noisy(pairs[0].image, 25), np.roll(pairs[2].image, 40, 1)])
    masks = np.stack([pairs[0].mask, pairs[1].mask, pairs[0].mask, np.roll(pairs[2].mask, 40, 1)])
    samples = Samples(images, masks, masks.astype(float), seed=0, start_scale=0)
    ss.write_samples(samples, root / "samples", source_id="p0")
    return {"root": root, "pairs": pairs, "train": root / "train", "held": root / "held",
            "samples": root / "samples"}
