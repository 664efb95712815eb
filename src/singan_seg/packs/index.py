"""`pack.json`: the index of a generator pack, and verification of every file it lists.

A pack folder holds `pack.json`, `MODEL_CARD.md` and `generators/<id>.safetensors` (one per generator, in
the model-dir key layout without the critic). pack.json lists every other file with its sha256 and size,
so a pack is checked file by file before anything in it is used. Paths in pack.json are untrusted (a pack
may come from a URL): they must be plain relative paths inside the pack.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import CheckpointError, InputError
from ..files import parse_versioned_json, sha256_file

FORMAT_NAME = "singan-seg-pack"
FORMAT_VERSION = 1
INDEX_FILE = "pack.json"
CARD_FILE = "MODEL_CARD.md"
GENERATORS_DIR = "generators"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_id(generator_id: str) -> str:
    """Return `generator_id` if it is filename-safe (letters, digits, `.`, `_`, `-`; at most 64), else raise."""
    if not ID_PATTERN.match(generator_id) or generator_id.endswith("."):
        raise InputError(f"generator id {generator_id!r} is not filename-safe: use letters, digits, '.', '_', '-' "
                         "(at most 64, starting with a letter or digit)")
    return generator_id


def safe_relpath(name: str, index_path: str | Path) -> str:
    """`name` if it is a relative POSIX path inside the pack (no `..`, no absolute path), else CheckpointError."""
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or "\\" in name or any(p in ("..", ".", "") for p in parts) or ":" in name:
        raise CheckpointError(f"unsafe file name {name!r} in pack index", index_path)
    return name


def parse_index(data: bytes, path: str | Path) -> dict[str, Any]:
    """Parse and validate pack.json bytes (format, version, ids, file names); `path` is named in errors."""
    index = parse_versioned_json(data, path, FORMAT_NAME, FORMAT_VERSION, "index")
    files = index.get("files")
    generators = index.get("generators")
    if not isinstance(files, dict) or not isinstance(generators, list):
        raise CheckpointError("pack index lacks 'files' or 'generators'", path)
    for name, entry in files.items():
        safe_relpath(name, path)
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise CheckpointError(f"pack index has no sha256 for {name}", path)
    seen = set()
    for entry in generators:
        check_id(entry.get("id", ""))
        if entry["id"] in seen:
            raise CheckpointError(f"generator id {entry['id']!r} appears twice", path)
        seen.add(entry["id"])
        if entry.get("file") not in files:
            raise CheckpointError(f"generator {entry['id']!r}: its file is not listed with a sha256", path)
    return index


def read_index(pack_dir: str | Path) -> dict[str, Any]:
    """The validated pack.json of a pack folder."""
    pack_dir = Path(pack_dir)
    path = pack_dir / INDEX_FILE
    if not pack_dir.is_dir():
        raise CheckpointError("pack folder not found", pack_dir)
    if not path.is_file():
        raise CheckpointError(f"not a generator pack: no {INDEX_FILE}", pack_dir)
    return parse_index(path.read_bytes(), path)


def generator_entry(index: dict[str, Any], generator_id: str) -> dict[str, Any]:
    """The pack.json entry of one generator; an unknown id lists the valid ones."""
    for entry in index["generators"]:
        if entry["id"] == generator_id:
            return entry
    raise InputError(f"no generator {generator_id!r} in pack {index.get('name')!r}; "
                     f"it has {[e['id'] for e in index['generators']]}")


def select_ids(index: dict[str, Any], ids: list[str] | None) -> list[str]:
    """The requested ids (validated), or every id in the pack when `ids` is None."""
    if ids is None:
        return [e["id"] for e in index["generators"]]
    return [generator_entry(index, i)["id"] for i in ids]


def files_for(index: dict[str, Any], ids: list[str]) -> list[str]:
    """The files needed to use generators `ids`: their weights and the model card."""
    return [CARD_FILE] + [generator_entry(index, i)["file"] for i in ids]


def verify_file(pack_dir: Path, name: str, index: dict[str, Any]) -> Path:
    """Check one file against pack.json's sha256 and size; return its path."""
    path = pack_dir / name
    expected = index["files"][name]
    if not path.is_file():
        raise CheckpointError("missing from the pack", path)
    digest = sha256_file(path)
    if digest != expected["sha256"]:
        raise CheckpointError(f"sha256 {digest[:12]}… does not match pack.json ({expected['sha256'][:12]}…): "
                              "corrupt or tampered file; refusing to use it", path)
    return path


def verify_pack(pack_dir: str | Path, names: list[str] | None = None) -> list[str]:
    """Verify every file pack.json lists (or only `names`) and return the names checked.

    Args:
        pack_dir: a pack folder.
        names: file names relative to the pack; default every file in pack.json.

    Raises:
        CheckpointError: naming the first file that is missing or whose sha256 differs.
    """
    pack_dir = Path(pack_dir)
    index = read_index(pack_dir)
    names = sorted(index["files"]) if names is None else names
    for name in names:
        verify_file(pack_dir, name, index)
    return names
