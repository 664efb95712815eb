"""Opening image files: the one place every reader of the package goes through.

Every image or mask the package reads from a user's disk (training pairs, samples dirs, evaluation sets, style
images, segmentation sets) is opened here, so each hostile file gets the same one-line `InputError` naming it:
a missing file, a folder, a file Pillow cannot identify or decode, a truncated file, and an image with more
pixels than `max_pixels()` (a "decompression bomb": a 20000 x 20000 PNG is a few hundred KB on disk and
1.2 GB decoded). The size is checked from the header, before anything is decoded.

The limit is DEFAULT_MAX_PIXELS (40 megapixels, e.g. 7700 x 5200) unless the environment variable
SINGAN_SEG_MAX_PIXELS sets another (a whole number of pixels; 0 turns the limit off). Pillow's own
bomb check is replaced by this one while a file is opened, so raising the limit here raises it for Pillow too.
"""

from __future__ import annotations

import os
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError

MAX_PIXELS_ENV = "SINGAN_SEG_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 40_000_000

# What Pillow raises for files it cannot identify or decode (UnidentifiedImageError is an OSError; struct.error,
# EOFError, SyntaxError and ValueError come from some plugins on malformed headers; MemoryError from absurd ones).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, MemoryError, Image.DecompressionBombError)

_PIL_LIMIT_LOCK = threading.Lock()


def max_pixels() -> int:
    """The largest image (width x height) the package opens: SINGAN_SEG_MAX_PIXELS, else 40 megapixels; 0 = none."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = float(raw.replace("_", ""))
    except ValueError:
        value = -1.0
    if not (value >= 0 and value == value and value != float("inf")):
        raise InputError(f"environment variable {MAX_PIXELS_ENV} should be a whole number of pixels "
                         f"(0 = no limit), got {raw!r}")
    return int(value)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g} megapixels"


def check_size(size: tuple[int, int], path: str | Path, what: str = "image") -> None:
    """InputError if a (width, height) has more pixels than `max_pixels()` allows."""
    limit = max_pixels()
    width, height = size
    if limit and width * height > limit:
        raise InputError(f"{what} is {width}x{height} px ({_megapixels(width * height)}), more than the limit of "
                         f"{_megapixels(limit)}; refusing to decode it (a possible decompression bomb). "
                         f"Set {MAX_PIXELS_ENV}={width * height} to allow it", path)


def _reason(exc: BaseException, path: str | Path | None = None) -> str:
    text = str(exc)
    if path is not None:  # the message already starts with the file name; Pillow often repeats it
        text = text.replace(repr(str(path)), "").replace(str(path), "")
    text = " ".join(text.split())  # one line, whatever the plugin put in its message
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


@contextmanager
def decoding(path: str | Path, what: str = "image") -> Iterator[None]:
    """Turn Pillow's errors while reading `path` into one-line InputErrors naming it."""
    try:
        yield
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{what} is too large to decode ({_reason(exc)}); set {MAX_PIXELS_ENV} to allow it",
                         path) from None
    except DECODE_ERRORS as exc:
        raise InputError(f"cannot read {what} ({_reason(exc, path)})", path) from None


def open_image(path: str | Path, what: str = "image", load: bool = True) -> Image.Image:
    """Open an image file, refusing (InputError naming it) missing, unreadable and over-sized files.

    Args:
        path: the file.
        what: what the file is, for messages ("image", "mask", "style image", ...).
        load: decode the pixels now, so truncated or corrupt files fail here. With load=False only the header
            is read (size, mode): decode later inside `decoding(path, what)` (e.g. after `draft`).

    The caller owns the returned image (close it, or use it in a `with` block).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path)
    if path.is_dir():
        raise InputError(f"is a directory, expected an {what} file" if what[:1] in ("a", "e", "i", "o", "u")
                         else f"is a directory, expected a {what} file", path)
    with decoding(path, what):
        with _PIL_LIMIT_LOCK, warnings.catch_warnings():
            # the size is checked below from the header, with our limit; Pillow's own check would refuse
            # (or warn about) images before we can name the file, the size and how to allow it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
        try:
            check_size(image.size, path, what)
            if load:
                image.load()
        except BaseException:
            image.close()
            raise
    return image


def read_rgb(path: str | Path, what: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file (any mode converted by Pillow)."""
    with open_image(path, what, load=False) as image, decoding(path, what):
        return np.asarray(image.convert("RGB"))


def read_gray(path: str | Path, what: str = "mask") -> np.ndarray:
    """(H, W) uint8 gray values of an image file (Pillow's luminance for colour files)."""
    with open_image(path, what, load=False) as image, decoding(path, what):
        return np.asarray(image.convert("L"))


def image_mode(path: str | Path, what: str = "image") -> str:
    """The Pillow mode of an image file, from its header (nothing decoded)."""
    with open_image(path, what, load=False) as image:
        return image.mode


# --- pixels at their own channels and bit depth (any modality; see data/modality.py) ---------------------------

ARRAY_SUFFIXES = (".npy",)
TIFF_SUFFIXES = (".tif", ".tiff")


def read_pixels(path: str | Path, what: str = "image", palette_indices: bool = False) -> tuple[np.ndarray, str]:
    """The pixels of an image file as stored: (H, W) or (H, W, C), uint8 or uint16 (and the file's mode, for notes).

    PNG, JPEG, BMP, ... through Pillow: 1 (as 0/255), L, RGB, 16-bit gray (I;16) and 32-bit integer files whose
    values fit 16 bits; RGBA/LA lose alpha, palette, CMYK and other colour modes become RGB (a palette mask keeps
    its indices with `palette_indices`). TIFF through tifffile (any channel count, 8 or 16 bits); .npy arrays
    (read without pickle). Floating-point and other integer pixels are refused: window them to 8 or 16 bits first.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in ARRAY_SUFFIXES:
        return _read_npy(path, what), "npy"
    if suffix in TIFF_SUFFIXES:
        return _read_tiff(path, what), "tiff"
    with open_image(path, what, load=False) as image, decoding(path, what):
        mode = image.mode
        if mode == "1":
            return np.array(image.convert("L")), mode
        if mode in ("L", "RGB"):
            return np.array(image), mode
        if mode == "P" and palette_indices:
            return np.array(image), mode
        if mode in ("LA", "La"):
            return np.array(image.convert("L")), mode
        if mode.startswith("I;16"):
            return np.asarray(image).astype(np.uint16), mode
        if mode == "I":
            return _fit_integers(np.asarray(image), path, what), mode
        if mode == "F":
            raise InputError(f"{what} has floating-point pixels; window them to 8 or 16 bits first (e.g. "
                             "`singan-seg data nifti` for volumes)", path)
        return np.array(image.convert("RGB")), mode  # RGBA, P, CMYK, YCbCr, LAB, HSV


def _fit_integers(array: np.ndarray, path: Path, what: str) -> np.ndarray:
    """Integer pixels as uint8 / uint16, refusing values outside 0..65535 and non-integer arrays."""
    if array.dtype == bool:
        return np.where(array, 255, 0).astype(np.uint8)
    if array.dtype in (np.uint8, np.uint16):
        return array
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"{what} has {array.dtype} pixels; only 8- or 16-bit integer images are supported "
                         "(window floating-point data to 8 or 16 bits first)", path)
    if array.size and (array.min() < 0 or array.max() > 65535):
        raise InputError(f"{what} has values {array.min()}..{array.max()}, outside 16 bits (0..65535); rescale "
                         "it to 8 or 16 bits first", path)
    return array.astype(np.uint16)


def _check_array_shape(shape: tuple[int, ...], path: Path, what: str) -> None:
    if len(shape) not in (2, 3):
        raise InputError(f"{what} array has shape {shape}; expected (H, W) or (H, W, C)", path)
    check_size((shape[1], shape[0]), path, what)


def _read_npy(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else f"is not a file, expected an {what} array", path)
    try:
        header = np.load(path, mmap_mode="r", allow_pickle=False)
        _check_array_shape(tuple(header.shape), path, what)
        array = np.array(header)
    except InputError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"cannot read {what} array ({exc.__class__.__name__}: {' '.join(str(exc).split())})",
                         path) from None
    return _fit_integers(array, path, what)


def _read_tiff(path: Path, what: str) -> np.ndarray:
    import tifffile

    if not path.is_file():
        raise InputError("file not found" if not path.exists() else f"is a directory, expected an {what} file", path)
    try:
        with tifffile.TiffFile(path) as tiff:
            series = tiff.series[0]
            axes, shape = series.axes, tuple(series.shape)
            height, width = shape[axes.index("Y")], shape[axes.index("X")]
            check_size((width, height), path, what)
            array = series.asarray()
    except InputError:
        raise
    except Exception as exc:  # tifffile raises its own TiffFileError, ValueError, KeyError, ... on bad files
        raise InputError(f"cannot read {what} ({exc.__class__.__name__}: {' '.join(str(exc).split())})",
                         path) from None
    if axes in ("YX", "YXS"):
        pass
    elif axes in ("CYX", "SYX", "QYX", "IYX"):
        array = np.moveaxis(array, 0, -1)
    else:
        raise InputError(f"{what} TIFF has axes {axes} with shape {shape}; expected one 2D image (YX), with "
                         "samples or channels (YXS, CYX)", path)
    return _fit_integers(array, path, what)


# Pillow modes -> (channels, bit depth) as `read_pixels` returns them (palette, CMYK, RGBA, ... become RGB)
MODE_KINDS = {"1": (1, 8), "L": (1, 8), "LA": (1, 8), "La": (1, 8), "I": (1, 16), "I;16": (1, 16),
              "I;16B": (1, 16), "I;16L": (1, 16), "I;16N": (1, 16)}
KIND_NAMES = {(1, 8): "L", (3, 8): "RGB", (1, 16): "I;16"}  # TIFFs named as Pillow names these kinds


def image_kind(path: str | Path) -> tuple[int, int, str]:
    """(channels, bit depth, name) of an image file as `read_pixels` returns it, from its header (.npy arrays
    are decoded): the name is the Pillow mode (TIFF and .npy files are named as Pillow names the same kind, else
    e.g. "2-channel 16-bit")."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES or suffix in ARRAY_SUFFIXES:
        if suffix in TIFF_SUFFIXES:
            channels, bit_depth = _tiff_kind(path)
        else:
            pixels = _read_npy(path, "image")
            channels, bit_depth = (1 if pixels.ndim == 2 else pixels.shape[2]), 8 * pixels.dtype.itemsize
        return channels, bit_depth, KIND_NAMES.get((channels, bit_depth), f"{channels}-channel {bit_depth}-bit")
    mode = image_mode(path)  # refuses unreadable and over-sized files
    if mode == "F":
        raise InputError("image has floating-point pixels; window them to 8 or 16 bits first", path)
    channels, bit_depth = MODE_KINDS.get(mode, (3, 8))
    return channels, bit_depth, mode


def _tiff_kind(path: Path) -> tuple[int, int]:
    import tifffile

    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "is a directory, expected an image file", path)
    try:
        with tifffile.TiffFile(path) as tiff:
            series = tiff.series[0]
            axes, shape, dtype = series.axes, tuple(series.shape), np.dtype(series.dtype)
            width, height = shape[axes.index("X")], shape[axes.index("Y")]
    except Exception as exc:  # tifffile raises its own TiffFileError, ValueError, KeyError, ... on bad files
        raise InputError(f"cannot read image ({exc.__class__.__name__}: {' '.join(str(exc).split())})",
                         path) from None
    check_size((width, height), path, "image")
    channels = next((shape[axes.index(a)] for a in "SCQI" if a in axes), 1)
    return int(channels), 8 if dtype in (np.uint8, bool) else 16
