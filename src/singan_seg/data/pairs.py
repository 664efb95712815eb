"""Reading and validating one image/mask pair.

All checks on user-supplied pairs live here, so every entry point (CLI, API, pipeline) reports the same
one-line errors naming the file and the problem.

Conventions (see data/modality.py for modalities other than RGB + binary mask):
- images become (H, W, C) arrays at their own bit depth: uint8 or uint16, C = 1 (grayscale), 3 (RGB) or any
  count (TIFF, .npy). RGBA loses alpha; palette, CMYK and other colour modes become RGB. `channels` and
  `bit_depth` convert (gray <-> RGB, 16 -> 8 bits); each conversion is recorded in `Pair.notes` (and logged);
- a binary mask (the default) becomes a boolean array (H, W): the gray value (of an RGB mask: its luminance) is
  binarised at >= 128, because masks are often saved as JPEGs whose compression noise makes values other than
  0 and 255;
- a mask with declared classes becomes uint8 class indices (H, W), 0 = background: every pixel must hold a
  declared label value or colour.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..files import sha256_file
from .images import decoding, open_image, read_gray, read_pixels
from .modality import RGB_BINARY, MaskClass, Modality, labels_from_colors, labels_from_values

log = logging.getLogger("singan_seg")

MASK_THRESHOLD = 128
MIN_SIDE = 8  # px: no generator can learn from (or sample) an image whose shortest side is smaller
# A mask is expected to hold two values (0 and 255, or 0 and 1) plus compression noise at the edges (Kvasir's JPEG
# masks stay within 8 of 0 or 255; a quality-20 JPEG of a small mask has ~5 % of pixels further out). A mask with
# more than GREY_FRACTION of its pixels more than GREY_MARGIN away from both 0 and 255 is probably not a mask (a
# gradient, a soft probability map, or the image itself): it is still binarised at >= 128, with a warning.
GREY_MARGIN = 32
GREY_FRACTION = 0.10


@dataclass
class Pair:
    """One real image and its segmentation mask, validated and aligned."""

    image: np.ndarray  # (H, W, C) uint8 or uint16 (C = modality.channels)
    mask: np.ndarray  # (H, W) bool (binary), or uint8 class indices (modality.classes)
    source_id: str = "pair"
    image_path: Path | None = None
    mask_path: Path | None = None
    image_sha256: str | None = None
    mask_sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    modality: Modality = RGB_BINARY

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def foreground_fraction(self) -> float:
        return float((self.mask != 0).mean())

    def describe_inputs(self) -> dict:
        """Provenance recorded in every model's config.json."""
        return {
            "source_id": self.source_id,
            "image": {"name": None if self.image_path is None else self.image_path.name, "sha256": self.image_sha256},
            "mask": {"name": None if self.mask_path is None else self.mask_path.name, "sha256": self.mask_sha256},
            "size": [self.height, self.width],
            "foreground_fraction": round(self.foreground_fraction, 6),
            "notes": list(self.notes),
        }

    def class_fractions(self) -> dict[str, float]:
        """The fraction of pixels in each class (binary: background and object)."""
        counts = np.bincount(self.mask.astype(np.int64).ravel(), minlength=self.modality.num_classes)
        return {name: round(float(n) / self.mask.size, 6) for name, n in zip(self.modality.class_names, counts)}


def _to_8bit_gray(img: Image.Image) -> np.ndarray:
    """Gray values 0..255 as uint8 for any single-channel mode (1, L, P, I;16, I, F)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        return np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
    return np.asarray(img.convert("L"))


def to_8_bits(image: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 by rounding v / 65535 * 255 (uint8 unchanged)."""
    if image.dtype == np.uint8:
        return image
    return np.clip(np.round(image.astype(np.float64) / 65535.0 * 255.0), 0, 255).astype(np.uint8)


def to_16_bits(image: np.ndarray) -> np.ndarray:
    """uint8 -> uint16 by v * 257 (0 -> 0, 255 -> 65535; uint16 unchanged)."""
    return image if image.dtype == np.uint16 else image.astype(np.uint16) * 257


def shape_image(pixels: np.ndarray, name: str = "image", channels: int | None = None, bit_depth: int | None = None,
                notes: list[str] | None = None) -> np.ndarray:
    """(H, W) or (H, W, C) uint8/uint16 pixels -> (H, W, C) with the requested channels and bit depth (None: keep).

    Gray becomes RGB by replication, RGB becomes gray by ITU-R 601 luminance (as Pillow's "L"); 16 bits become 8
    by rounding v / 65535 * 255, 8 bits become 16 by v * 257. Each conversion is noted."""
    notes = notes if notes is not None else []
    image = pixels[:, :, None] if pixels.ndim == 2 else pixels
    have = image.shape[2]
    if channels is not None and channels != have:
        if have == 1 and channels == 3:
            image = np.repeat(image, 3, axis=2)
            notes.append(f"{name}: single-channel image replicated to RGB")
        elif have == 3 and channels == 1:
            weights = np.asarray([299, 587, 114], np.float64) / 1000.0
            gray = np.round(image.astype(np.float64) @ weights)
            image = gray.astype(image.dtype)[:, :, None]
            notes.append(f"{name}: RGB image converted to grayscale (ITU-R 601 luminance)")
        else:
            raise InputError(f"image has {have} channels but {channels} were asked for (--channels converts only "
                             "gray <-> RGB)")
    if bit_depth == 8 and image.dtype == np.uint16:
        image = to_8_bits(image)
        notes.append(f"{name}: 16-bit image scaled to 8 bits")
    elif bit_depth == 16 and image.dtype == np.uint8:
        image = to_16_bits(image)
        notes.append(f"{name}: 8-bit image scaled to 16 bits (x 257)")
    return np.ascontiguousarray(image)


def read_image(path: Path, channels: int | None = None, bit_depth: int | None = None,
               notes: list[str] | None = None) -> np.ndarray:
    """An image file as (H, W, C) uint8/uint16 at its own channels and bit depth, or converted as asked."""
    notes = notes if notes is not None else []
    pixels, mode = read_pixels(path, "image")
    if mode in ("RGBA", "PA", "LA", "La", "RGBa"):
        with open_image(path, "image", load=False) as img, decoding(path, "image"):
            alpha = np.asarray(img.getchannel("A"))
        kept = "gray" if mode in ("LA", "La") else "RGB"
        state = "with transparency; alpha dropped (not composited)" if alpha.min() < 255 else \
            f"converted to {kept} (alpha was opaque)"
        notes.append(f"{path.name}: {mode} {state}")
    elif mode in ("P", "CMYK", "YCbCr", "LAB", "HSV"):
        notes.append(f"{path.name}: {mode} converted to RGB")
    try:
        return shape_image(pixels, path.name, channels, bit_depth, notes)
    except InputError as exc:  # name the file
        raise InputError(exc.problem, path) from None


def read_image_as(path: Path, modality: Modality, holder: str = "the set holds") -> np.ndarray:
    """An image file as (H, W, C) at `modality`'s channels and bit depth (gray <-> RGB and depths converted, as
    `shape_image` does); an image that cannot be converted is a one-line InputError naming it and saying what
    `holder` (e.g. "the samples directory holds") holds."""
    pixels, _ = read_pixels(path, "image")
    try:
        return shape_image(pixels, path.name, modality.channels, modality.bit_depth)
    except InputError as exc:
        raise InputError(f"{exc.problem}: {holder} {modality.describe()}", path) from None


def read_mask_as(path: Path, modality: Modality) -> np.ndarray:
    """A mask file as (H, W) bool (binary: gray >= MASK_THRESHOLD) or uint8 class indices (declared classes)."""
    if modality.is_binary:
        return read_gray(path, "mask") >= MASK_THRESHOLD
    return read_class_mask(path, modality)


def read_class_mask(path: Path, modality: Modality) -> np.ndarray:
    """A mask file with declared classes -> uint8 class indices (H, W), refusing undeclared values/colours."""
    if modality.mask_kind == "colors":
        pixels, _ = read_pixels(path, "mask")
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
        if pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise InputError(f"mask should be an 8-bit RGB image for colour-coded classes, got {pixels.shape[2]} "
                             f"channels at {pixels.dtype.itemsize * 8} bits", path)
        return labels_from_colors(pixels, modality, path)
    pixels, _ = read_pixels(path, "mask", palette_indices=True)
    if pixels.ndim == 3:
        if not all(np.array_equal(pixels[..., 0], pixels[..., c]) for c in range(1, pixels.shape[2])):
            raise InputError("mask is in colour but the classes declare label values; declare colours instead "
                             "(e.g. --classes background=#000000,disc=#ff0000)", path)
        pixels = pixels[..., 0]
    return labels_from_values(pixels, modality, path)


def mask_to_bool(img: Image.Image, path: Path | None = None, notes: list[str] | None = None) -> np.ndarray:
    """A boolean mask from any Pillow image, binarised at gray >= 128."""
    notes = notes if notes is not None else []
    if img.mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGB" if img.mode != "LA" else "L")
    if img.mode in ("RGB", "CMYK", "YCbCr", "P"):
        img = img.convert("L")
    if img.mode.startswith("I") or img.mode == "F":
        notes.append(f"{path.name if path else 'mask'}: {img.mode} mask scaled to 8 bits before binarising")
    gray = np.asarray(img.convert("L")) if img.mode in ("L", "1") else _to_8bit_gray(img)
    warn_if_not_binary(gray, path)
    return binarise_gray(gray, path, notes)


def grey_fraction(gray: np.ndarray) -> float:
    """Fraction of an 8-bit gray mask's pixels more than GREY_MARGIN away from both 0 and 255."""
    gray = np.asarray(gray, dtype=np.int16)
    return float(((gray > GREY_MARGIN) & (gray < 255 - GREY_MARGIN)).mean()) if gray.size else 0.0


def warn_if_not_binary(gray: np.ndarray, path: Path | None = None) -> None:
    """One-line warning when an 8-bit gray mask has many intermediate grey levels (see GREY_FRACTION)."""
    if gray.size and gray.max() <= 1:  # a 0/1 label map
        return
    fraction = grey_fraction(gray)
    if fraction > GREY_FRACTION:
        warnings.warn(f"{path or 'mask'}: does not look like a binary mask: {100 * fraction:.0f} % of its pixels "
                      f"are grey ({GREY_MARGIN + 1}..{254 - GREY_MARGIN}), not black or white; binarising at gray >= "
                      f"{MASK_THRESHOLD} anyway (is this the image rather than its mask?)", stacklevel=3)


def check_min_size(image: np.ndarray, path: Path | None = None) -> None:
    """InputError if the image is too small for any generator (shortest side below MIN_SIDE)."""
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"image is only {width}x{height} px; every generator needs at least {MIN_SIDE} px per side "
                         "(SinGAN-Seg's coarsest scale alone is min_size = 25 px by default)", path)


def binarise_gray(gray: np.ndarray, path: Path | None = None, notes: list[str] | None = None) -> np.ndarray:
    """gray >= 128; a label map holding only 0 and 1 (a common way to save masks) takes 1 as foreground."""
    if gray.max() == 1:
        if notes is not None:
            notes.append(f"{path.name if path else 'mask'}: values are 0/1 labels; 1 taken as foreground")
        return gray == 1
    return gray >= MASK_THRESHOLD


def check_pair_arrays(image: np.ndarray, mask: np.ndarray, image_name: str = "image", mask_path: Path | None = None,
                      allow_empty_mask: bool = False) -> None:
    """Shape, alignment and content checks shared by file and array inputs."""
    if image.ndim != 3 or image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"image should be an (H, W, C) uint8 or uint16 array, got shape {tuple(image.shape)} "
                         f"{image.dtype}")
    if mask.ndim != 2:
        raise InputError(f"mask should be an (H, W) array, got shape {tuple(mask.shape)}", mask_path)
    if image.shape[:2] != mask.shape:
        (ih, iw), (mh, mw) = image.shape[:2], mask.shape
        raise InputError(f"mask is {mw}x{mh} px but {image_name} is {iw}x{ih} px; they must be the same size",
                         mask_path)
    if not mask.any():
        if not allow_empty_mask:
            raise InputError("mask is empty (no object pixel); refusing: the generator would learn no object "
                             "(pass allow_empty_mask / --allow-empty-mask to train on a negative image)", mask_path)
    elif (mask != 0).all():
        message = f"{mask_path or 'mask'}: mask covers the whole image; samples will have full masks too"
        warnings.warn(message, stacklevel=3)


def load_pair(image_path: str | Path, mask_path: str | Path, source_id: str | None = None,
              allow_empty_mask: bool = False, channels: int | None = None, bit_depth: int | None = None,
              classes: tuple[MaskClass, ...] | None = None) -> Pair:
    """Read, convert and validate an image/mask pair from files.

    Args:
        channels, bit_depth: convert the image to these (None: keep the file's; see `shape_image`).
        classes: the mask's classes (`data.modality.parse_classes`); None: a binary mask.
    """
    image_path, mask_path = Path(image_path), Path(mask_path)
    notes: list[str] = []
    image = read_image(image_path, channels, bit_depth, notes)
    check_min_size(image, image_path)
    modality = Modality(image.shape[2], 8 * image.dtype.itemsize, classes)
    if classes is None:
        with open_image(mask_path, "mask") as mask_file:
            mask = mask_to_bool(mask_file, mask_path, notes)
    else:
        mask = read_class_mask(mask_path, modality)
    check_pair_arrays(image, mask, image_path.name, mask_path, allow_empty_mask)
    for note in notes:
        log.info(note)
    return Pair(image=image, mask=mask, source_id=source_id or image_path.stem, image_path=image_path,
                mask_path=mask_path, image_sha256=sha256_file(image_path), mask_sha256=sha256_file(mask_path),
                notes=notes, modality=modality)


def pair_from_arrays(image: np.ndarray, mask: np.ndarray, source_id: str = "array",
                     allow_empty_mask: bool = False, classes: tuple[MaskClass, ...] | None = None) -> Pair:
    """A Pair from in-memory arrays.

    image: (H, W) or (H, W, C), uint8 or uint16 (kept at that bit depth), or float in [0, 1] (made 8-bit).
    mask: without `classes`, (H, W) bool or 0..255 (binarised as a mask file is); with `classes`, the classes'
    label values (H, W) or colours (H, W, 3).
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim == 2:
        image = image[:, :, None]
    if np.issubdtype(image.dtype, np.floating):
        if image.min() < 0 or image.max() > 1:
            raise InputError(f"float images should be in [0, 1], got [{image.min():.3g}, {image.max():.3g}]")
        image = np.round(image * 255).astype(np.uint8)
    elif image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"image arrays should be uint8, uint16 or float in [0, 1], got {image.dtype}")
    modality = Modality(image.shape[2] if image.ndim == 3 else 3, 8 * image.dtype.itemsize, classes)
    if classes is not None:
        if modality.mask_kind == "colors":
            mask = labels_from_colors(mask, modality) if mask.ndim == 3 else mask
        else:
            mask = labels_from_values(mask, modality)
        if mask.ndim != 2:
            raise InputError(f"mask should be an (H, W) array of class colours' indices, got shape {mask.shape}")
        mask = mask.astype(np.uint8)
    else:
        if mask.ndim == 3:
            mask = mask[..., 0] if mask.shape[2] in (1, 3, 4) else mask
        if np.issubdtype(mask.dtype, np.floating):
            mask = mask >= 0.5
        elif mask.dtype != bool:
            mask = binarise_gray(mask.astype(np.int64))
    check_pair_arrays(image, mask, allow_empty_mask=allow_empty_mask)
    return Pair(image=np.ascontiguousarray(image), mask=np.ascontiguousarray(mask), source_id=source_id,
                modality=modality)
