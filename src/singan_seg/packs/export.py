"""Model directories → a generator pack folder or archive, with privacy-sensitive parts removed by default."""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import PRESETS, TrainConfig
from ..errors import InputError, OutputExistsError
from ..files import sha256_file, staging_dir, write_bytes_atomic, write_json_atomic, write_text_atomic
from ..model.checkpoint import load_model, model_meta, weights_bytes
from .archive import archive_kind, write_archive
from .card import model_card
from .index import CARD_FILE, FORMAT_NAME, FORMAT_VERSION, GENERATORS_DIR, INDEX_FILE, check_id

PROVENANCE_KEYS = ("source_id", "image", "mask", "notes")  # identify the patient files: dropped by default
TRAINING_SCALE_KEYS = ("scale", "shape", "width", "noise_amp", "seconds", "d_loss", "g_adv", "rec")


def preset_name(config: dict[str, Any]) -> str:
    """The preset a config was made from (ignoring seed and max_size), or "custom"."""
    for name, preset in sorted(PRESETS.items()):
        if preset.replace(seed=config["seed"], max_size=config["max_size"]) == TrainConfig.from_dict(config):
            return name
    return "custom"


def default_id(model_dir: Path) -> str:
    """A filename-safe id from a model directory's name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model_dir.resolve().name).strip("-.") or "generator"


def _entry(generator_id: str, model_dir: Path, include_reconstruction: bool,
           keep_provenance: bool) -> tuple[dict[str, Any], bytes]:
    model, meta, _ = load_model(model_dir, "cpu")
    if not include_reconstruction:
        model.rec_noise = None
    inputs = dict(meta.get("inputs", {}))
    if not keep_provenance:
        inputs = {k: v for k, v in inputs.items() if k not in PROVENANCE_KEYS}
    training = meta.get("training", {})
    entry = {
        "id": generator_id,
        "file": f"{GENERATORS_DIR}/{generator_id}.safetensors",
        "preset": preset_name(meta["config"]),
        "model": model_meta(model),
        "inputs": inputs,
        "training": {"seconds": training.get("seconds"),
                     "device": training.get("machine", {}).get("device"),
                     "scales": [{k: s.get(k) for k in TRAINING_SCALE_KEYS} for s in training.get("scales", [])]},
        "evaluation": meta.get("evaluation"),
    }
    return entry, weights_bytes(model)


def check_pack_output(out: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse an `out` that holds files (unless `overwrite`), or whose replacement would delete an input."""
    target = out.resolve()
    for folder in inputs:
        source = folder.resolve()
        if target == source or target in source.parents:
            raise InputError(f"the pack would replace its own input {folder}; choose an --out outside it", out)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise OutputExistsError(out, "files", "choose a new path, or pass --overwrite")
    if out.is_dir() and archive_kind(out) is not None:
        raise InputError("an archive name, but a folder is there; choose another --out", out)
    if out.is_file() and archive_kind(out) is None:
        raise InputError("a file is there, and a pack without an archive suffix is a folder; choose another --out",
                         out)


def create_pack(model_dirs: list[str | Path], out: str | Path, name: str | None = None,
                license: str = "unspecified", ids: list[str] | None = None, include_reconstruction: bool = False,
                keep_provenance: bool = False, overwrite: bool = False) -> Path:
    """Write a generator pack (folder, or `.zip`/`.tar.gz`/`.tar.zst` archive when `out` ends so).

    Args:
        model_dirs: complete model directories written by `train`.
        out: the pack folder or archive to write (atomically).
        name: the pack's name (default: the name of `out`).
        license: terms of use of the generators, copied into pack.json and the model card.
        ids: one filename-safe id per model dir (default: the model dirs' names).
        include_reconstruction: keep the reconstruction noise (the real images can then be rebuilt; the card warns).
        keep_provenance: keep input file names, sha256 and source ids (they may identify patient files).
        overwrite: replace an existing pack at `out`.

    Example:
        >>> create_pack(["models/a", "models/b"], "packs/polyps", license="CC-BY-4.0")
    """
    out = Path(out)
    model_dirs = [Path(d) for d in model_dirs]
    if not model_dirs:
        raise InputError("give at least one model directory")
    ids = [check_id(i) for i in ids] if ids else [check_id(default_id(d)) for d in model_dirs]
    if len(ids) != len(model_dirs):
        raise InputError(f"{len(ids)} ids given for {len(model_dirs)} model directories")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputError(f"generator ids must be unique, {duplicates} repeat; pass --ids")
    check_pack_output(out, model_dirs, overwrite)
    if include_reconstruction:
        warnings.warn("--include-reconstruction: the pack lets anyone rebuild the real training images", stacklevel=2)

    index: dict[str, Any] = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "package_version": __version__,
        "name": name or re.sub(r"(\.zip|\.tar\.gz|\.tgz|\.tar\.zst)$", "", out.name),
        "license": license, "includes_reconstruction": include_reconstruction,
        "keeps_provenance": keep_provenance, "generators": [], "files": {},
    }
    kind = archive_kind(out)
    if kind is None:
        _write_folder(out, index, ids, model_dirs)
        return out
    with tempfile.TemporaryDirectory() as tmp:
        _write_folder(Path(tmp) / "pack", index, ids, model_dirs)
        write_archive(Path(tmp) / "pack", out)
    return out


def _write_folder(folder: Path, index: dict[str, Any], ids: list[str], model_dirs: list[Path]) -> None:
    """Fill `index` and write the pack folder atomically (pack.json last)."""
    with staging_dir(folder) as staging:
        for generator_id, model_dir in zip(ids, model_dirs):
            entry, data = _entry(generator_id, model_dir, index["includes_reconstruction"], index["keeps_provenance"])
            write_bytes_atomic(staging / entry["file"], data)
            index["generators"].append(entry)
        write_text_atomic(staging / CARD_FILE, model_card(index))
        for p in sorted(q for q in staging.rglob("*") if q.is_file()):
            index["files"][p.relative_to(staging).as_posix()] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        write_json_atomic(staging / INDEX_FILE, index)
