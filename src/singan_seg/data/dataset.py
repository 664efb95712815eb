"""A dataset on disk: images and masks paired by file stem, and the fold split.

    images/<id>.<ext>   masks/<id>.<ext>   folds.csv (id,fold)

All checks happen before any work starts, so a long run never dies on pair 731 of 1000 because of a typo.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..files import write_text_atomic

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".npy"}  # .npy: multi-channel arrays


@dataclass(frozen=True)
class PairFiles:
    id: str
    image: Path
    mask: Path


def images_by_stem(directory: Path, what: str) -> dict[str, Path]:
    if not directory.is_dir():
        raise InputError(f"{what} directory not found", directory)
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        if path.stem in found:
            raise InputError(f"duplicate stem {path.stem!r}: {found[path.stem].name} and {path.name}", directory)
        found[path.stem] = path
    if not found:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the {what} directory", directory)
    return found


def find_pairs(images_dir: str | Path, masks_dir: str | Path) -> list[PairFiles]:
    """Pair images with masks by stem; any image without a mask (or mask without an image) is an error."""
    images, masks = images_by_stem(Path(images_dir), "images"), images_by_stem(Path(masks_dir), "masks")
    no_mask = sorted(set(images) - set(masks))
    no_image = sorted(set(masks) - set(images))
    if no_mask:
        shown = ", ".join(no_mask[:5]) + (f" and {len(no_mask) - 5} more" if len(no_mask) > 5 else "")
        raise InputError(f"{len(no_mask)} image(s) have no mask in {masks_dir}: {shown}", images_dir)
    if no_image:
        shown = ", ".join(no_image[:5]) + (f" and {len(no_image) - 5} more" if len(no_image) > 5 else "")
        raise InputError(f"{len(no_image)} mask(s) have no image in {images_dir}: {shown}", masks_dir)
    return [PairFiles(id=stem, image=images[stem], mask=masks[stem]) for stem in sorted(images)]


def read_folds(path: str | Path, ids: list[str] | None = None) -> dict[str, int]:
    """id -> fold from a CSV with columns id,fold; with `ids`, every id must appear and no other."""
    path = Path(path)
    if not path.is_file():
        raise InputError("folds file not found", path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"id", "fold"} <= set(reader.fieldnames or []):
            raise InputError("folds file needs the columns id,fold", path)
        folds: dict[str, int] = {}
        for line, row in enumerate(reader, start=2):
            try:
                fold = int(row["fold"])
            except (TypeError, ValueError):
                raise InputError(f"line {line}: fold {row['fold']!r} is not an integer", path) from None
            if row["id"] in folds:
                raise InputError(f"line {line}: id {row['id']!r} appears twice", path)
            folds[row["id"]] = fold
    if ids is not None:
        unknown = sorted(set(folds) - set(ids))
        missing = sorted(set(ids) - set(folds))
        if unknown:
            raise InputError(f"{len(unknown)} id(s) not in the dataset, e.g. {unknown[:3]}", path)
        if missing:
            raise InputError(f"{len(missing)} dataset id(s) have no fold, e.g. {missing[:3]}", path)
    return folds


def make_folds(ids: list[str], k: int = 3, seed: int = 0) -> dict[str, int]:
    """A random split of `ids` into k folds of (nearly) equal size, reproducible from the seed."""
    if k < 2:
        raise InputError(f"k should be at least 2, got {k}")
    if len(ids) < k:
        raise InputError(f"cannot split {len(ids)} ids into {k} folds")
    order = np.random.default_rng(seed).permutation(len(ids))
    return {ids[i]: int(rank % k) for rank, i in enumerate(order)}


def write_folds(path: str | Path, folds: dict[str, int]) -> None:
    buffer = io.StringIO()
    buffer.write("id,fold\n")
    for ident in sorted(folds):
        buffer.write(f"{ident},{folds[ident]}\n")
    write_text_atomic(path, buffer.getvalue())
