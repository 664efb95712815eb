"""2D image/mask pairs from a medical volume (NIfTI) and its label volume, for training on CT or MRI slices.

    OUT/images/<stem>_z<NNN>.png   one slice of the image volume, windowed to 16-bit (or 8-bit) gray
    OUT/masks/<stem>_z<NNN>.png    the same slice of the label volume, holding the volume's label values
                                   (8-bit, or 16-bit where a label exceeds 255)
    OUT/slices.csv                 a row per slice: index, axis, window, foreground fraction, pixels per label
    OUT/volume.json                the sources (names, sha256), shape, voxel sizes, orientation, window and rules

The letter before the slice index names the axis (x, y or z); NNN is zero-padded to three digits (more for
volumes with 1000+ slices). Both volumes are reoriented to canonical RAS first (`nibabel.as_closest_canonical`),
so axis 0 runs to the patient's Right, axis 1 to Anterior, axis 2 to Superior: axis 2 gives axial slices, 1
coronal, 0 sagittal, whatever orientation the files were stored in. Slices are shown in the radiological view:
an axial slice has anterior at the top and the patient's right on the left (see `DISPLAY`).

nibabel is an optional dependency (`pip install "singan-seg[medical]"`), imported only when a volume is read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..files import refuse_overlap, sha256_bytes, sha256_file, staging_dir, write_json_atomic, write_text_atomic
from .modality import Modality, encode_image, png_bytes
from .samples_dir import check_output_folder

FORMAT = "singan-seg-volume-slices"
FORMAT_VERSION = 1
PERCENTILES = (0.5, 99.5)  # of the nonzero voxels: the "percentile" window, robust to outliers and to air/padding
AXIS_LETTERS = "xyz"
PLANES = {0: "sagittal", 1: "coronal", 2: "axial"}
# A slice keeps the other two axes (a, b) in RAS order; it is written with +b at the top and +a on the left.
DISPLAY = {2: "top = anterior, left = patient's right (radiological view)",
           1: "top = superior, left = patient's right (radiological view)",
           0: "top = superior, left = anterior"}
INSTALL_HINT = 'pip install "singan-seg[medical]"'
MAX_LABEL = 65535  # mask PNGs hold 16 bits at most
AFFINE_TOLERANCE = 1e-3  # mm: label files written by other tools often differ from the image's affine by rounding


@dataclass(frozen=True)
class Window:
    """The intensity range mapped to 0..max: values <= low become 0, >= high become the maximum, linear between."""

    low: float
    high: float
    rule: str  # "given", "percentile 0.5..99.5 of nonzero voxels" or "min..max"


def nifti_slices(image_path: str | Path, label_path: str | Path, out_dir: str | Path, axis: int = 2,
                 slices: str | Sequence[int] = "foreground", window: Any = None, bit_depth: int = 16,
                 overwrite: bool = False) -> Path:
    """Write the slices of an image volume and its label volume as image/mask PNG pairs; return `out_dir`.

    Args:
        axis: the axis of the canonical RAS volume to slice along (2: axial, 1: coronal, 0: sagittal).
        slices: "foreground" (every slice whose label slice holds a nonzero voxel) or a list of slice indices.
        window: the intensity window, computed once for the whole volume so every slice shares it:
            (low, high) clips to low..high and maps it linearly to 0..max (CT abdomen: (-160, 240));
            "percentile" uses the 0.5 and 99.5 percentiles of the volume's nonzero voxels (MRI);
            None uses the volume's min..max. A string "LOW,HIGH" is read as (low, high).
            Output = round((clip(v, low, high) - low) / (high - low) * max), max = 65535 (16-bit) or 255 (8-bit).
        bit_depth: 16 (default, keeps the dynamic range) or 8 for the image PNGs. Masks keep the label values.
        overwrite: replace an existing slices folder (a folder with a volume.json); any other non-empty folder is
            refused.

    The folder is built in a staging folder and renamed into place, so an error leaves nothing half-written.
    """
    image_path, label_path, out = Path(image_path), Path(label_path), Path(out_dir)
    axis, bit_depth, window = _check_axis(axis), _check_bit_depth(bit_depth), _check_window_arg(window)
    check_slices_out(out, overwrite)
    refuse_overlap(out, {"image volume": image_path, "label volume": label_path})
    nib = import_nibabel()
    image_img, label_img = load_volume(nib, image_path, "image volume"), load_volume(nib, label_path, "label volume")
    check_same_grid(image_img, label_img, image_path, label_path)
    source_orientation = "".join(nib.aff2axcodes(image_img.affine))
    image_img, label_img = nib.as_closest_canonical(image_img), nib.as_closest_canonical(label_img)
    image = image_array(image_img)
    labels = label_array(label_img, label_path)
    indices = pick_slices(labels, axis, slices, label_path)
    chosen = resolve_window(image, window, image_path)
    stem = volume_stem(image_path)
    source = {"image": {"name": image_path.name, "sha256": sha256_file(image_path)},
              "label": {"name": label_path.name, "sha256": sha256_file(label_path)},
              "source_orientation": source_orientation,
              "orientation": "RAS (reoriented with nibabel.as_closest_canonical)",
              "shape": [int(n) for n in image.shape],
              "voxel_size": [round(float(z), 6) for z in image_img.header.get_zooms()[:3]]}
    with staging_dir(out) as staging:
        rows = [write_slice(staging, stem, image, labels, axis, index, chosen, bit_depth) for index in indices]
        values = sorted({int(v) for row in rows for v in row["_values"]})
        write_slices_csv(staging / "slices.csv", rows, values)
        write_json_atomic(staging / "volume.json", {
            "format": FORMAT, "format_version": FORMAT_VERSION, **source,
            "axis": axis, "plane": PLANES[axis], "display": DISPLAY[axis],
            "window": {"low": chosen.low, "high": chosen.high, "rule": chosen.rule,
                       "mapping": "round((clip(v, low, high) - low) / (high - low) * max)"},
            "bit_depth": bit_depth, "mask_bit_depth": 8 if labels.max(initial=0) <= 255 else 16,
            "slices_rule": "foreground (the label slice holds a nonzero voxel)" if isinstance(slices, str)
            else "given", "slices": indices, "labels": values,
            "label_pixels": {str(v): sum(row.get(f"label_{v}_pixels", 0) for row in rows) for v in values}})
    return out


def classes_spec(values: Sequence[int]) -> str:
    """The `--classes` spec for masks holding these label values: background=0 first, then class<v>=<v>."""
    return ",".join(["background=0"] + [f"class{v}={v}" for v in values if v != 0])


# --- options -----------------------------------------------------------------------------------------------------

def parse_window(text: str) -> str | tuple[float, float]:
    """--window: "percentile" or "LOW,HIGH" (e.g. "-160,240") -> "percentile" or (low, high)."""
    spec = text.strip()
    if spec.lower() == "percentile":
        return "percentile"
    parts = spec.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise InputError(f"--window should be LOW,HIGH (e.g. -160,240) or percentile, got {text!r}") from None
    return _check_range(low, high)


def _check_range(low: float, high: float) -> tuple[float, float]:
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        raise InputError(f"--window HIGH should be above LOW (both finite), got {low:g},{high:g}")
    return float(low), float(high)


def _check_window_arg(window: Any) -> str | tuple[float, float] | None:
    if window is None:
        return None
    if isinstance(window, str):
        return parse_window(window)
    try:
        low, high = (float(v) for v in window)
    except (TypeError, ValueError):
        raise InputError(f"--window should be LOW,HIGH or percentile, got {window!r}") from None
    return _check_range(low, high)


def _check_axis(axis: Any) -> int:
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise InputError(f"--axis should be 0 (sagittal), 1 (coronal) or 2 (axial), got {axis!r}")
    return int(axis)


def _check_bit_depth(bit_depth: Any) -> int:
    if isinstance(bit_depth, bool) or bit_depth not in (8, 16):
        raise InputError(f"--bit-depth should be 16 or 8, got {bit_depth!r}")
    return int(bit_depth)


def check_slices_out(out_dir: str | Path, overwrite: bool) -> None:
    """Refuse an output that cannot become a slices folder, as `samples_dir.check_samples_out` does for samples."""
    check_output_folder(out_dir, overwrite, "slices folder", "volume.json", "slices")


# --- reading volumes ---------------------------------------------------------------------------------------------

def import_nibabel() -> Any:
    """nibabel, or a one-line error saying how to install it (it is an optional dependency)."""
    try:
        import nibabel
    except ImportError:
        raise InputError(f"reading NIfTI volumes needs nibabel, which is not installed: {INSTALL_HINT}") from None
    return nibabel


def load_volume(nib: Any, path: Path, what: str) -> Any:
    """A 3-D volume nibabel can read (NIfTI .nii / .nii.gz; a 4-D one with a single volume is accepted)."""
    if not path.is_file():
        raise InputError(f"{what} not found" if not path.exists() else f"{what} is not a file", path)
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises ImageFileError, ValueError, OSError, EOFError, zlib errors, ...
        raise InputError(f"{what} is not a readable NIfTI file ({exc.__class__.__name__}: "
                         f"{' '.join(str(exc).splitlines())[:200]})", path) from None
    shape = tuple(int(n) for n in img.shape)
    if len(shape) < 3 or any(n != 1 for n in shape[3:]):
        raise InputError(f"{what} has shape {_dims(shape)}; a 3-D volume is needed (a 4-D series: pick one volume)",
                         path)
    return img


def check_same_grid(image_img: Any, label_img: Any, image_path: Path, label_path: Path) -> None:
    """Refuse a label volume that does not lie on the image's voxel grid (shape and affine)."""
    image_shape, label_shape = tuple(image_img.shape[:3]), tuple(label_img.shape[:3])
    if image_shape != label_shape:
        raise InputError(f"label volume is {_dims(label_shape)} but the image volume {image_path.name} is "
                         f"{_dims(image_shape)}; they must share one voxel grid", label_path)
    difference = float(np.abs(np.asarray(image_img.affine) - np.asarray(label_img.affine)).max())
    if not difference <= AFFINE_TOLERANCE:
        raise InputError(f"label volume's affine differs from the image volume {image_path.name}'s (by up to "
                         f"{difference:g}); they must share one voxel grid (resample the labels onto the image)",
                         label_path)


def image_array(img: Any) -> np.ndarray:
    """The image volume's voxels (scaling applied) as a 3-D float32 array."""
    data = img.get_fdata(dtype=np.float32)
    return data.reshape(data.shape[:3])


def label_array(img: Any, path: Path) -> np.ndarray:
    """The label volume as 3-D uint16, refusing non-integer, negative or too large labels (float files whose values
    are all integers are accepted: many tools store labels as floats)."""
    data = np.asanyarray(img.dataobj)
    data = data.reshape(data.shape[:3])
    if data.dtype.kind == "f":
        finite = np.isfinite(data)
        if not finite.all():
            raise InputError("label volume holds NaN or infinite values; labels must be integers", path)
        fractional = data != np.round(data)
        if fractional.any():
            raise InputError(f"label volume holds non-integer values (e.g. {float(data[fractional][0]):g}); labels "
                             "must be integers (a resampled or interpolated label map?)", path)
    elif data.dtype.kind not in "iub":
        raise InputError(f"label volume has {data.dtype} voxels; labels must be integers", path)
    low, high = (data.min(), data.max()) if data.size else (0, 0)
    if low < 0 or high > MAX_LABEL:
        raise InputError(f"label values should be 0..{MAX_LABEL}, found {low:g}..{high:g}", path)
    return data.astype(np.uint16)


def pick_slices(labels: np.ndarray, axis: int, slices: str | Sequence[int], label_path: Path) -> list[int]:
    """The slice indices to write: the foreground slices, or the given ones (sorted, each once) after a range check."""
    count = labels.shape[axis]
    if isinstance(slices, str):
        if slices != "foreground":
            raise InputError(f"slices should be \"foreground\" or a list of slice indices, got {slices!r}")
        other = tuple(a for a in range(3) if a != axis)
        found = [int(i) for i in np.flatnonzero(labels.any(axis=other))]
        if not found:
            raise InputError("label volume has no foreground (every voxel is 0), so no slice was selected; pass "
                             "--slice N to write chosen slices anyway", label_path)
        return found
    chosen = list(slices)
    if not chosen:
        raise InputError("no slice index given")
    bad = [s for s in chosen if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= s < count]
    if bad:
        raise InputError(f"--slice {bad[0]!r} is out of range: axis {axis} has slices 0..{count - 1}")
    return sorted({int(s) for s in chosen})


def resolve_window(image: np.ndarray, window: str | tuple[float, float] | None, path: Path) -> Window:
    """The window for the whole volume (see `nifti_slices`), refusing one that maps nothing (a constant volume)."""
    if isinstance(window, tuple):
        return Window(window[0], window[1], "given")
    finite = image[np.isfinite(image)]
    if window == "percentile":
        finite = finite[finite != 0]
        if not finite.size:
            raise InputError("image volume has no nonzero voxel; the percentile window needs some (pass --window "
                             "LOW,HIGH)", path)
        low, high = (float(v) for v in np.percentile(finite, PERCENTILES))
        rule = f"percentile {PERCENTILES[0]:g}..{PERCENTILES[1]:g} of nonzero voxels"
    else:
        if not finite.size:
            raise InputError("image volume has no finite voxel", path)
        low, high, rule = float(finite.min()), float(finite.max()), "min..max"
    if not high > low:
        raise InputError(f"the {rule} window is empty ({low:g}..{high:g}): the image volume holds a single value "
                         "there; pass --window LOW,HIGH", path)
    return Window(low, high, rule)


def apply_window(values: np.ndarray, window: Window, bit_depth: int) -> np.ndarray:
    """round((clip(v, low, high) - low) / (high - low) * max) as uint8/uint16; NaN counts as low, +-inf as the ends."""
    top = 255 if bit_depth == 8 else 65535
    values = np.nan_to_num(values.astype(np.float64), nan=window.low, posinf=window.high, neginf=window.low)
    scaled = (np.clip(values, window.low, window.high) - window.low) / (window.high - window.low) * top
    return np.round(scaled).astype(np.uint8 if bit_depth == 8 else np.uint16)


def volume_stem(path: Path) -> str:
    """"case_01.nii.gz" -> "case_01"."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".gz"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return path.stem


# --- writing slices ----------------------------------------------------------------------------------------------

def display_slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """Slice `index` along `axis` of a RAS volume as a 2-D picture: the slice's second axis runs up (its + end at
    the top), its first axis runs right-to-left (its + end on the left); see `DISPLAY`."""
    return np.ascontiguousarray(np.take(volume, index, axis=axis).T[::-1, ::-1])


def write_slice(folder: Path, stem: str, image: np.ndarray, labels: np.ndarray, axis: int, index: int,
                window: Window, bit_depth: int) -> dict[str, Any]:
    """Write images/ and masks/ PNGs of one slice; return its slices.csv row (plus "_values": its label values)."""
    digits = max(3, len(str(labels.shape[axis] - 1)))
    name = f"{stem}_{AXIS_LETTERS[axis]}{index:0{digits}d}"
    pixels = apply_window(display_slice(image, axis, index), window, bit_depth)
    mask = display_slice(labels, axis, index)
    mask = mask.astype(np.uint8) if labels.max(initial=0) <= 255 else mask
    image_bytes = encode_image(pixels[..., None], Modality(1, bit_depth))
    mask_bytes = png_bytes(mask)
    for sub, data in (("images", image_bytes), ("masks", mask_bytes)):
        (folder / sub).mkdir(exist_ok=True)
        (folder / sub / f"{name}.png").write_bytes(data)
    values, counts = np.unique(mask, return_counts=True)
    row: dict[str, Any] = {"stem": name, "image": f"images/{name}.png", "mask": f"masks/{name}.png",
                           "slice": index, "axis": axis, "window_low": window.low, "window_high": window.high,
                           "foreground_fraction": round(float(np.count_nonzero(mask)) / mask.size, 6),
                           "image_sha256": sha256_bytes(image_bytes), "mask_sha256": sha256_bytes(mask_bytes),
                           "_values": [int(v) for v in values]}
    row.update({f"label_{int(v)}_pixels": int(n) for v, n in zip(values, counts)})
    return row


def write_slices_csv(path: Path, rows: list[dict[str, Any]], values: list[int]) -> None:
    """slices.csv: a row per slice, a pixel-count column per label value found in any written slice (0 if absent)."""
    columns = ["stem", "image", "mask", "slice", "axis", "window_low", "window_high", "foreground_fraction",
               *[f"label_{v}_pixels" for v in values], "image_sha256", "mask_sha256"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row.get(column, 0) for column in columns})
    write_text_atomic(path, buffer.getvalue())


def _dims(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)
