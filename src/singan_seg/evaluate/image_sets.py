"""Reading the image sets the metrics compare: a samples directory or a folder of real images, of any modality.

Accepted layouts (all give `ImageSet`, ordered by stem):
    samples dir   DIR/manifest.csv + images/ + masks/ (see data/samples_dir.py); its modality.json says what the
                  images and masks hold (absent: RGB 8-bit, binary masks)
    Kvasir-like   DIR/images/*.jpg|png|tif with masks in DIR/masks/<same stem>.* (masks optional)
    flat folder   DIR/*.jpg|png|tif (no masks)
    one file      a single image (its mask, if any, is not looked up)

A folder (or file) has no modality file: its images are read at their own channel count and bit depth (a folder
of 16-bit gray PNGs gives (H, W, 1) uint16 images), which must be the same for every image of the set, and its
masks are binary (gray >= 128) unless classes are given, or taken from the set it is compared with
(`common_masks`). Images always come back as (H, W, C) uint8/uint16; masks as bool (binary) or uint8 class
indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..data import images as image_files
from ..data.modality import RGB_BINARY, MaskClass, Modality
from ..data.pairs import read_image_as, read_mask_as
from ..data.samples_dir import read_manifest, read_samples_modality
from ..errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_THRESHOLD = 128



@dataclass
class ImageSet:
    """Images of one set, lazily read. `masks[i]` is None where no mask exists; `rows` are manifest rows.

    `modality`: what `image` and `mask` return (channels, bit depth, mask classes); `declared`: it came from a
    samples directory (its modality.json or the format's default), not from looking at a folder's files."""

    root: Path
    stems: list[str]
    image_paths: list[Path]
    mask_paths: list[Path | None]
    rows: list[dict] = field(default_factory=list)
    single_file: bool = False  # given as one image file (not a folder)
    modality: Modality = RGB_BINARY
    declared: bool = False

    def __len__(self) -> int:
        return len(self.stems)

    def image(self, i: int) -> np.ndarray:
        """(H, W, C) uint8 or uint16, as `modality` says (RGB 8-bit: (H, W, 3) uint8)."""
        return read_image_as(self.image_paths[i], self.modality)

    def mask(self, i: int) -> np.ndarray | None:
        """(H, W) bool (binary masks) or uint8 class indices, or None."""
        path = self.mask_paths[i]
        return None if path is None else read_mask_as(path, self.modality)

    def index(self, stem: str) -> int | None:
        return self.stems.index(stem) if stem in self.stems else None


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def folder_modality(paths: list[Path], check_modes: bool = True,
                    classes: tuple[MaskClass, ...] | None = None) -> Modality:
    """The modality of a folder's images, read from their headers: all must share one kind (e.g. all RGB, or all
    16-bit gray): mixing them skews features. Without `check_modes`, mixed gray and RGB files are read as RGB at
    the highest bit depth found (other mixes are still refused)."""
    kinds = [(path, image_files.image_kind(path)) for path in paths]
    first_path, (channels, _, first_mode) = kinds[0]
    for path, (_, _, mode) in kinds[1:]:
        if mode != first_mode and check_modes:
            raise InputError(f"images of mixed modes: this one is {mode}, {first_path.name} is {first_mode}; "
                             "convert the set to one mode first", path)
    for path, (count, _, _) in kinds[1:]:
        if count != channels and not {count, channels} <= {1, 3}:
            raise InputError(f"images of mixed channel counts: this one has {count}, {first_path.name} has "
                             f"{channels}; convert the set to one kind first", path)
    if len({kind[0] for _, kind in kinds}) > 1:  # gray and RGB: read as RGB
        channels = 3
    try:
        return Modality(channels, max(kind[1] for _, kind in kinds), classes)
    except InputError as exc:  # e.g. more channels than any generator or metric takes
        raise InputError(exc.problem, first_path) from None


def load_image_set(path: str | Path, check_modes: bool = True,
                   classes: tuple[MaskClass, ...] | None = None) -> ImageSet:
    """Index the images (and masks) under `path`; raise a one-line InputError for empty or mixed sets.

    Args:
        check_modes: refuse a folder whose images differ in mode (e.g. gray and RGB).
        classes: the mask classes of a folder's masks (None: binary masks, gray >= 128); a samples directory's
            own modality.json is used instead.
    """
    path = Path(path)
    if path.is_file():  # the header is read now, so an unreadable file is refused before any network loads
        return ImageSet(path.parent, [path.stem], [path], [None], single_file=True,
                        modality=folder_modality([path], classes=classes))
    if not path.is_dir():
        raise InputError("image folder or file not found", path)
    if (path / "manifest.csv").is_file():
        rows = read_manifest(path, verify=True)  # a manifest that does not match its files is refused
        if not rows:
            raise InputError("samples directory is empty (manifest has no rows)", path)
        return ImageSet(path, [r["stem"] for r in rows], [path / r["image"] for r in rows],
                        [path / r["mask"] for r in rows], rows, modality=read_samples_modality(path), declared=True)
    folder = path / "images" if (path / "images").is_dir() else path
    images = _images_in(folder)
    if not images:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found", folder)
    stems = [p.stem for p in images]
    mask_dir = path / "masks"
    by_stem = {p.stem: p for p in _images_in(mask_dir)} if mask_dir.is_dir() else {}
    return ImageSet(path, stems, images, [by_stem.get(s) for s in stems],
                    modality=folder_modality(images, check_modes, classes))


# --- comparing two sets ----------------------------------------------------------------------------------------

def _where(images: ImageSet) -> Path:
    return images.image_paths[0] if images.single_file else images.root


def check_same_channels(sets: list[tuple[ImageSet, str]], metric: str) -> None:
    """Refuse (one line) comparing sets whose images have different channel counts: Inception features of a gray
    and an RGB image, or of a 2- and a 4-channel image, measure the conversion, not the images."""
    (first, first_name), *others = sets
    for images, name in others:
        if images.modality.channels != first.modality.channels:
            raise InputError(f"{metric} compares sets of one channel count: the {first_name} set has "
                             f"{first.modality.channels} and the {name} set {images.modality.channels} image "
                             "channels; convert one set first", _where(images))


def common_masks(a: ImageSet, b: ImageSet) -> tuple[ImageSet, ImageSet]:
    """The two sets with masks read the same way: a folder (no modality file) takes the classes of a samples
    directory it is compared with; two sets that declare different classes are refused in one line."""
    if a.modality.classes == b.modality.classes:
        return a, b
    if a.declared and not b.declared:
        return a, replace(b, modality=Modality(b.modality.channels, b.modality.bit_depth, a.modality.classes))
    if b.declared and not a.declared:
        return replace(a, modality=Modality(a.modality.channels, a.modality.bit_depth, b.modality.classes)), b
    raise InputError(f"the sets' masks differ: {a.root} holds {a.modality.describe()}, {b.root} holds "
                     f"{b.modality.describe()}; compare masks of the same classes", _where(b))
