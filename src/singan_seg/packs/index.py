"""`pack.json`: the index of a generator pack, and verification of every file it lists.

A pack folder holds `pack.json`, `MODEL_CARD.md` and `generators/<id>.safetensors` (one per generator, in
the model-dir key layout without the critic). pack.json lists every other file with its sha256 and size,
so a pack is checked file by file before anything in it is used. pack.json itself is untrusted (a pack may
come from a URL): every field the package reads is checked for presence and type when it is parsed (a bad one
is a one-line error naming pack.json and the field), and its paths must be plain relative paths inside the pack.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path, PurePosixPath
from typing import Any

from ..config import TrainConfig
from ..errors import CheckpointError, InputError
from ..files import parse_versioned_json, sha256_file
from ..model.checkpoint import check_model_meta

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


SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MAX_INDEX_BYTES = 64 << 20  # a pack.json larger than this is not one (refused before it is read or downloaded)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _kind(value: Any) -> str:
    """How a JSON value is named in errors: its type and a short excerpt."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    text = json.dumps(value)
    return f"{names.get(type(value), type(value).__name__)} ({text[:40]}{'…' if len(text) > 40 else ''})"


class _Fields:
    """Typed access to the fields of one JSON object; every problem is a one-line CheckpointError naming
    `path` (pack.json or its URL) and the field, e.g. `generators[0].model.pyramid.shapes`."""

    def __init__(self, obj: Any, where: str, path: str | Path):
        self.where, self.path = where, path
        if not isinstance(obj, dict):
            raise self.bad(where, f"should be an object, got {_kind(obj)}")
        self.obj = obj

    def bad(self, field: str, problem: str) -> CheckpointError:
        return CheckpointError(f"field {field} {problem}", self.path)

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, check, what: str, required: bool = True, default: Any = None) -> Any:
        if key not in self.obj:
            if required:
                raise self.bad(self.name(key), f"is missing (it should be {what})")
            return default
        value = self.obj[key]
        if not check(value):
            raise self.bad(self.name(key), f"should be {what}, got {_kind(value)}")
        return value

    def child(self, key: str, required: bool = True) -> _Fields | None:
        if key not in self.obj and not required:
            return None
        return _Fields(self.get(key, lambda v: True, "an object"), self.name(key), self.path)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_optional_number(value: Any) -> bool:
    return value is None or _is_number(value)


def _check_model(fields: _Fields, includes_reconstruction: bool) -> None:
    """The architecture part of a generator entry: what `model_from_bytes` reads (checked by the same
    `check_model_meta` as a model directory's config.json), plus what a pack adds: complete generators, and
    reconstruction noise only where the pack says it includes it."""
    config = fields.get("config", lambda v: isinstance(v, dict), "an object (the training settings)")
    try:
        TrainConfig.from_dict(config)
    except (InputError, TypeError, ValueError) as exc:
        problem = exc.problem if isinstance(exc, InputError) else " ".join(str(exc).split())
        raise fields.bad(fields.name("config"), f"is not a valid training config ({problem})") from None
    check_model_meta(fields.obj, fields.path, prefix=f"{fields.where}.")
    shapes = fields.obj["pyramid"]["shapes"]
    fields.get("trained_scales", lambda v: v == len(shapes),
               f"the number of scales ({len(shapes)}; a pack holds complete generators)")
    has_noise = fields.get("has_reconstruction_noise", lambda v: isinstance(v, bool), "true or false")
    if has_noise and not includes_reconstruction:
        raise fields.bad(fields.name("has_reconstruction_noise"),
                         "is true, but the pack says it includes no reconstruction noise")


def _check_generator(entry: Any, n: int, files: dict[str, Any], includes_reconstruction: bool,
                     path: str | Path) -> str:
    fields = _Fields(entry, f"generators[{n}]", path)
    generator_id = fields.get("id", _is_str, "a generator id (a string)")
    try:
        check_id(generator_id)
    except InputError as exc:
        raise fields.bad(fields.name("id"), f"is invalid: {exc.problem}") from None
    fields.get("file", lambda v: isinstance(v, str) and v in files, "the name of a file listed under 'files'")
    fields.get("preset", _is_str, "a preset name (a string)", required=False)
    _check_model(fields.child("model"), includes_reconstruction)
    inputs = fields.child("inputs", required=False)
    if inputs is not None:
        inputs.get("foreground_fraction", _is_optional_number, "a number or null", required=False)
    training = fields.child("training", required=False)
    if training is not None:
        training.get("seconds", _is_optional_number, "a number or null", required=False)
    fields.get("evaluation", lambda v: v is None or isinstance(v, dict), "an object or null", required=False)
    return generator_id


def parse_index(data: bytes, path: str | Path) -> dict[str, Any]:
    """Parse and validate pack.json bytes: every field the package reads, with its type; `path` (the file or
    its URL) and the field are named in errors, so a malformed or hostile index is one line, never a crash."""
    index = parse_versioned_json(data, path, FORMAT_NAME, FORMAT_VERSION, "index")
    top = _Fields(index, "", path)
    for key in ("name", "license", "package_version"):
        top.get(key, _is_str, "a string")
    includes_reconstruction = top.get("includes_reconstruction", lambda v: isinstance(v, bool), "true or false")
    top.get("keeps_provenance", lambda v: isinstance(v, bool), "true or false")
    files = top.get("files", lambda v: isinstance(v, dict), "an object of file name -> {sha256, bytes}")
    for name, entry in files.items():
        safe_relpath(name, path)
        listed = _Fields(entry, f"files[{name!r}]", path)
        listed.get("sha256", lambda v: isinstance(v, str) and SHA256_PATTERN.match(v) is not None,
                   "a sha256 (64 lower-case hex digits)")
        listed.get("bytes", lambda v: _is_int(v) and v >= 0, "the file size (an integer >= 0)")
    if CARD_FILE not in files:
        raise top.bad("files", f"does not list {CARD_FILE} (every pack has one, with its sha256)")
    generators = top.get("generators", lambda v: isinstance(v, list) and len(v) > 0,
                         "a non-empty list of generator entries")
    seen: dict[str, int] = {}
    for n, entry in enumerate(generators):
        generator_id = _check_generator(entry, n, files, includes_reconstruction, path)
        if generator_id in seen:
            raise top.bad(f"generators[{n}].id", f"{generator_id!r} repeats generators[{seen[generator_id]}]")
        seen[generator_id] = n
    return index


def read_index(pack_dir: str | Path) -> dict[str, Any]:
    """The validated pack.json of a pack folder."""
    pack_dir = Path(pack_dir)
    path = pack_dir / INDEX_FILE
    if not pack_dir.is_dir():
        raise CheckpointError("pack folder not found", pack_dir)
    if not path.is_file():
        raise CheckpointError(f"not a generator pack: no {INDEX_FILE}", pack_dir)
    try:
        if path.stat().st_size > MAX_INDEX_BYTES:
            raise CheckpointError(f"larger than {MAX_INDEX_BYTES >> 20} MiB: not a pack index", path)
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read ({exc.strerror or exc})", path) from None
    return parse_index(data, path)


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
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise CheckpointError(f"cannot read ({exc.strerror or exc})", path) from None
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
