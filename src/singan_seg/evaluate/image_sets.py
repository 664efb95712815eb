"""Reading the image sets the metrics compare: a samples directory or a folder of real images.

Accepted layouts (all give `ImageSet`, ordered by stem):
    samples dir   DIR/manifest.csv + images/ + masks/ (see data/samples_dir.py)
    Kvasir-like   DIR/images/*.jpg|png with masks in DIR/masks/<same stem>.* (masks optional)
    flat folder   DIR/*.jpg|png (no masks)
    one file      a single image (its mask, if any, is not looked up)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import images as image_files
from ..data.samples_dir import read_manifest
from ..errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_THRESHOLD = 128


@dataclass
class ImageSet:
    """Images of one set, lazily read. `masks[i]` is None where no mask exists; `rows` are manifest rows."""

    root: Path
    stems: list[str]
    image_paths: list[Path]
    mask_paths: list[Path | None]
    rows: list[dict] = field(default_factory=list)
    single_file: bool = False  # given as one image file (not a folder)

    def __len__(self) -> int:
        return len(self.stems)

    def image(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8."""
        return read_rgb(self.image_paths[i])

    def mask(self, i: int) -> np.ndarray | None:
        """(H, W) bool, or None."""
        path = self.mask_paths[i]
        return None if path is None else read_mask(path)

    def index(self, stem: str) -> int | None:
        return self.stems.index(stem) if stem in self.stems else None


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 of an image file; unreadable or over-sized files are one-line InputErrors."""
    return image_files.read_rgb(path, "image")


def read_mask(path: Path) -> np.ndarray:
    """(H, W) bool of a mask file, gray >= 128."""
    return image_files.read_gray(path, "mask") >= MASK_THRESHOLD


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _check_modes(paths: list[Path]) -> None:
    """All images of a set must share one mode (e.g. all RGB): mixing grayscale and colour skews features."""
    first_mode = None
    for path in paths:
        mode = image_files.image_mode(path)  # reads the header only; refuses unreadable and over-sized files
        if first_mode is None:
            first_mode, first_path = mode, path
        elif mode != first_mode:
            raise InputError(f"images of mixed modes: this one is {mode}, {first_path.name} is {first_mode}; "
                             "convert the set to one mode first", path)


def load_image_set(path: str | Path, check_modes: bool = True) -> ImageSet:
    """Index the images (and masks) under `path`; raise a one-line InputError for empty or mixed sets."""
    path = Path(path)
    if path.is_file():
        image_files.image_mode(path)  # refuse an unreadable or over-sized file now, before any network runs
        return ImageSet(path.parent, [path.stem], [path], [None], single_file=True)
    if not path.is_dir():
        raise InputError("image folder or file not found", path)
    if (path / "manifest.csv").is_file():
        rows = read_manifest(path, verify=True)  # a manifest that does not match its files is refused
        if not rows:
            raise InputError("samples directory is empty (manifest has no rows)", path)
        images = [path / r["image"] for r in rows]
        masks = [path / r["mask"] for r in rows]
        stems = [r["stem"] for r in rows]
    else:
        folder = path / "images" if (path / "images").is_dir() else path
        images = _images_in(folder)
        if not images:
            raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found", folder)
        stems = [p.stem for p in images]
        mask_dir = path / "masks"
        by_stem = {p.stem: p for p in _images_in(mask_dir)} if mask_dir.is_dir() else {}
        masks = [by_stem.get(s) for s in stems]
        rows = []
    if check_modes:
        _check_modes(images)
    return ImageSet(path, stems, images, masks, rows)
