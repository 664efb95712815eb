"""The samples directory: the on-disk format every command shares.

    DIR/images/<stem>.png   RGB image (other modalities: gray or 16-bit PNG, or .tif; see data/modality.py)
    DIR/masks/<stem>.png    single-channel mask, 0/255, same stem and size as the image (other modalities: the
                            classes' label values or colours)
    DIR/soft_masks/<stem>.png  optional raw mask channel, 0..255 (only with --soft-masks)
    DIR/manifest.csv        one row per pair (columns below, plus any extra columns a step adds)
    DIR/modality.json       the image channels, bit depth and mask classes; absent: RGB 8-bit, binary mask

A directory is written into a staging folder and renamed into place when complete, so a crash never leaves
a directory that looks finished but is not.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from PIL import Image

from ..errors import InputError, OutputExistsError
from ..files import atomic_path, sha256_bytes, sha256_file, write_json_atomic, write_text_atomic
from .modality import RGB_BINARY, Modality, encode_image, encode_mask, image_suffix, mask_file_array, png_bytes
from .pairs import read_image_as, read_mask_as

# Columns every manifest starts with; steps such as style transfer append their own after these.
MANIFEST_COLUMNS = ["stem", "image", "mask", "image_sha256", "mask_sha256", "height", "width",
                    "source_id", "model", "seed", "start_scale", "method"]


def mask_to_png_array(mask: np.ndarray) -> np.ndarray:
    """Boolean (H, W) mask -> uint8 0/255 (a binary mask file's values)."""
    return mask_file_array(mask, RGB_BINARY)


def write_pair_files(directory: Path, stem: str, image: np.ndarray, mask: np.ndarray,
                     soft_mask: np.ndarray | None = None, modality: Modality = RGB_BINARY) -> dict[str, str]:
    """Write images/<stem>.png (or .tif) and masks/<stem>.png (and soft_masks/) into `directory`; return file
    columns. `image` is (H, W, C) (or (H, W, 3) / (H, W) for the default), `mask` bool or class indices."""
    if image.shape[:2] != mask.shape:
        raise ValueError(f"image {image.shape} and mask {mask.shape} of {stem} differ in size")
    image_bytes, mask_png = encode_image(image, modality), encode_mask(mask, modality)
    image_name = f"images/{stem}{image_suffix(modality)}"
    for name, data in ((image_name, image_bytes), (f"masks/{stem}.png", mask_png)):
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    if soft_mask is not None:
        (directory / "soft_masks").mkdir(parents=True, exist_ok=True)
        (directory / "soft_masks" / f"{stem}.png").write_bytes(png_bytes(soft_mask))
    return {"stem": stem, "image": image_name, "mask": f"masks/{stem}.png",
            "image_sha256": sha256_bytes(image_bytes), "mask_sha256": sha256_bytes(mask_png),
            "height": str(image.shape[0]), "width": str(image.shape[1])}


MODALITY_FILE = "modality.json"


def write_modality_file(directory: Path, modality: Modality) -> None:
    """DIR/modality.json for any modality but the default (whose directories stay as they always were)."""
    if not modality.is_default:
        write_json_atomic(Path(directory) / MODALITY_FILE, modality.to_dict())


def read_samples_modality(directory: str | Path) -> Modality:
    """What a samples directory holds: DIR/modality.json, or RGB 8-bit with binary masks where there is none."""
    path = Path(directory) / MODALITY_FILE
    if not path.is_file():
        return RGB_BINARY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the modality file ({exc.__class__.__name__}: {exc})", path) from None
    return Modality.from_dict(data, path)


def write_manifest(path: Path, rows: Iterable[dict]) -> None:
    """Write rows as CSV: the standard columns first, then any others in first-seen order."""
    rows = list(rows)
    columns = list(MANIFEST_COLUMNS)
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row.get(key, "") for key in columns})
    write_text_atomic(path, buffer.getvalue())


def read_manifest_rows(manifest: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a manifest.csv, refusing one that lacks any of the `required` columns, that is not UTF-8 text
    or not CSV, or that has a row too short to hold every required column (a truncated file)."""
    manifest = Path(manifest)
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:  # -sig: accept a BOM (Excel writes one)
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"manifest lacks columns {missing}", manifest)
            rows = []
            for row in reader:
                short = [c for c in required if row.get(c) is None]
                if short:
                    given = sum(row.get(c) is not None for c in reader.fieldnames)
                    raise InputError(f"line {reader.line_num}: row has no {short[0]!r} value (only {given} of "
                                     f"{len(reader.fieldnames)} columns; truncated or malformed row?)", manifest)
                rows.append(row)
            return rows
    except UnicodeDecodeError as exc:
        raise InputError(f"manifest is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                         "save it as UTF-8 CSV", manifest) from None
    except csv.Error as exc:
        raise InputError(f"manifest is not a readable CSV file ({exc})", manifest) from None
    except IsADirectoryError:
        raise InputError("manifest is a directory, expected a CSV file", manifest) from None
    except FileNotFoundError:
        raise InputError("manifest not found", manifest) from None
    except OSError as exc:
        raise InputError(f"cannot read manifest ({exc.__class__.__name__}: {exc.strerror or exc})", manifest) from None


def manifest_file(directory: Path, row: dict[str, str], column: str, manifest: Path, line: int) -> Path:
    """DIR / row[column], refusing an empty value and a path that leaves DIR (absolute on any system, with `..`,
    or with backslashes, which mean a folder on Windows and a file name here)."""
    name = row.get(column) or ""
    if not name.strip():
        raise InputError(f"line {line}: the {column!r} column is empty (truncated or malformed row?)", manifest)
    relative = PurePosixPath(name)
    if relative.is_absolute() or PureWindowsPath(name).is_absolute() or "\\" in name or ".." in relative.parts:
        raise InputError(f"line {line}: {column} path {name!r} points outside the folder; manifest paths must be "
                         "relative to it", manifest)
    return directory / relative


def read_manifest(directory: str | Path, verify: bool = False) -> list[dict[str, str]]:
    """Rows of DIR/manifest.csv after checking the layout; with `verify`, every file's sha256 too."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("samples directory not found", directory)
    for sub in ("images", "masks"):
        if not (directory / sub).is_dir():
            raise InputError(f"not a samples directory: no {sub}/ folder inside", directory)
    manifest = directory / "manifest.csv"
    if not manifest.is_file():
        raise InputError("not a samples directory: no manifest.csv", directory)
    rows = read_manifest_rows(manifest, ("stem", "image", "mask"))
    for line, row in enumerate(rows, start=2):
        for column in ("image", "mask"):
            file = manifest_file(directory, row, column, manifest, line)
            if not file.is_file():
                raise InputError(f"line {line}: manifest lists {row[column]} but the file is missing", manifest)
            expected = row.get(f"{column}_sha256")
            if verify and expected and sha256_file(file) != expected:
                raise InputError(f"line {line}: {row[column]} does not match its sha256 in the manifest", manifest)
    return rows


def load_sample(directory: str | Path, row: dict[str, str], modality: Modality | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The image and mask of one manifest row: (H, W, 3) uint8 and (H, W) bool for the default modality, else
    (H, W, C) at its bit depth and uint8 class indices. `modality`: the directory's (read when not given)."""
    directory = Path(directory)
    modality = read_samples_modality(directory) if modality is None else modality
    image = read_image_as(directory / row["image"], modality, "the samples directory holds")
    mask = read_mask_as(directory / row["mask"], modality)
    return image, mask


def save_png(path: Path, array: np.ndarray) -> None:
    """Write one PNG atomically."""
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def check_samples_out(out_dir: str | Path, overwrite: bool) -> None:
    """Refuse an output that cannot become a samples directory: the current folder or one holding it, a file,
    a folder with files (unless `overwrite`), or a folder that is not a samples directory even with `overwrite`
    (it would be deleted)."""
    check_output_folder(out_dir, overwrite, "samples directory", "manifest.csv", "samples")


def check_output_folder(out_dir: str | Path, overwrite: bool, kind: str, marker: str, example: str) -> None:
    """`check_samples_out` for any folder the package writes whole: `kind` names it ("samples directory"),
    `marker` is the file that every such folder holds (only such a folder is replaced with `overwrite`), `example`
    the folder name suggested."""
    out = Path(out_dir)
    absolute, cwd = Path(os.path.abspath(out)), Path.cwd()
    if not absolute.name or absolute == cwd or absolute in cwd.parents:
        raise InputError("the output folder would replace the current folder (or one holding it); give a new "
                         f"folder, e.g. --out {example}", out)
    if not (out.exists() or out.is_symlink()):
        return
    if not out.is_dir():
        raise InputError(f"output path exists and is not a directory (--overwrite replaces only a {kind})", out)
    if not any(out.iterdir()):
        return
    if not overwrite:
        raise OutputExistsError(out, "files", "choose a new or empty directory, or pass --overwrite")
    if not (out / marker).is_file():
        raise OutputExistsError(out, f"files that are not a {kind} (no {marker})",
                                f"--overwrite replaces only a {kind}; choose a new or empty directory")
