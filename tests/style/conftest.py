"""Shared fixtures: small content/style images, a samples directory and a random-init VGG19 (tests only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import singan_seg as ss
from singan_seg.data.samples_dir import write_manifest, write_pair_files
from singan_seg.style.backbones import build_vgg19


def _content(seed: int, size: tuple[int, int] = (48, 64)) -> tuple[np.ndarray, np.ndarray]:
    pair = ss.make_phantom(seed=seed)
    image = np.asarray(Image.fromarray(pair.image).resize(size[::-1], Image.BILINEAR))
    mask = np.asarray(Image.fromarray(pair.mask).resize(size[::-1], Image.NEAREST)).astype(bool)
    return image, mask


@pytest.fixture(scope="session")
def contents() -> list[tuple[np.ndarray, np.ndarray]]:
    return [_content(seed) for seed in range(3)]


@pytest.fixture(scope="session")
def style_image() -> np.ndarray:
    """A reddish, high-contrast striped texture: far from the phantom's statistics in colour and texture."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:60, 0:80]
    stripes = (np.sin(x / 2.0 + y / 3.0) > 0).astype(np.float64)
    image = np.stack([200 * stripes + 40, 60 * stripes, 30 + 20 * rng.random((60, 80))], axis=-1)
    return image.clip(0, 255).astype(np.uint8)


ACTIVATION_GAIN = 30.0  # random VGG features are ~1000x weaker than ImageNet VGG's; ReLU nets scale linearly


@pytest.fixture(scope="session")
def vgg() -> torch.nn.Module:
    """Random-init VGG19 whose activations have roughly the scale of ImageNet VGG's (so losses are comparable)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        backbone = build_vgg19(pretrained=False)
    with torch.no_grad():
        backbone.layers["conv1_1"].weight.mul_(ACTIVATION_GAIN)
    return backbone


@pytest.fixture()
def samples_dir(tmp_path: Path, contents) -> Path:
    directory = tmp_path / "samples"
    rows = []
    for i, (image, mask) in enumerate(contents):
        row = write_pair_files(directory, f"s{i}", image, mask)
        row.update({"source_id": "phantom", "seed": "0", "start_scale": "0", "method": "singan-seg"})
        rows.append(row)
    write_manifest(directory / "manifest.csv", rows)
    return directory


@pytest.fixture()
def style_path(tmp_path: Path, style_image) -> Path:
    path = tmp_path / "real.png"
    Image.fromarray(style_image).save(path)
    return path
