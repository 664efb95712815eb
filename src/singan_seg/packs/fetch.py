"""Opening a pack from a local folder or archive, a `file://` URL or an `http(s)://` URL.

Downloads go to a cache folder (platformdirs' user cache dir, or `$SINGAN_SEG_CACHE`): `urls/<key>/` mirrors
a remote pack folder, `downloads/<key>/` holds remote archives and `archives/<sha>/` extracted ones. A file
is downloaded to `<name>.part`, resumed with an HTTP Range request when a `.part` is already there, and
renamed into place only after its size and sha256 match pack.json (see download.py: a body cut short or a
stalled server is a one-line error naming the URL, never a cached file). A pack.json that fails validation is
named by its URL and not kept. Plain http is accepted for loopback hosts only
(tests, local mirrors); anything else must use https.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlparse

from ..download import cache_key, cache_root, check_http, download
from ..errors import CheckpointError, InputError
from ..files import sha256_file
from .archive import archive_kind, extract_archive
from .index import INDEX_FILE, MAX_INDEX_BYTES, files_for, parse_index, read_index, select_ids, verify_file


@dataclass
class OpenPack:
    """A verified local pack folder, its index and the generator ids selected from it."""

    folder: Path
    index: dict[str, Any]
    ids: list[str]


def _extracted(archive: Path, root: Path) -> Path:
    if not archive.is_file():
        raise InputError("pack archive not found", archive)
    dest = root / "archives" / sha256_file(archive)[:16]
    if (dest / INDEX_FILE).is_file():
        return dest
    extract_archive(archive, dest)
    try:  # a bad archive is named as the user gave it, and its extraction is not kept in the cache
        if not (dest / INDEX_FILE).is_file():
            raise InputError(f"not a generator pack archive: no {INDEX_FILE} at its top level", archive)
        try:
            read_index(dest)
        except CheckpointError as exc:
            raise CheckpointError(f"{INDEX_FILE}: {exc.problem}", archive) from None
    except InputError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def _fetch_index(url: str, dest: Path) -> dict[str, Any]:
    """Download a pack.json afresh and validate it before it replaces the cached one; a bad one is named by its
    URL and not kept."""
    new = download(url, dest.with_name(f".{dest.name}.new"), fresh=True, max_bytes=MAX_INDEX_BYTES)
    try:
        index = parse_index(new.read_bytes(), url)
    except CheckpointError:
        new.unlink(missing_ok=True)
        raise
    os.replace(new, dest)
    return index


def open_pack(source: str | Path, ids: list[str] | None = None, cache_dir: str | Path | None = None) -> OpenPack:
    """Make the generators `ids` of a pack available locally and verify their files against pack.json.

    Args:
        source: a pack folder or archive path, a `file://` URL, or an `http(s)://` URL of a pack folder
            (files are fetched one by one, only those needed) or of an archive.
        ids: generator ids to use (default: all).
        cache_dir: download/extraction cache (default: `cache_root()`).

    Raises:
        CheckpointError: a file is missing or does not match pack.json's sha256.
    """
    text = str(source)
    parsed = urlparse(text)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    if parsed.scheme in ("http", "https"):
        check_http(text)
        if archive_kind(parsed.path):
            name = PurePosixPath(parsed.path).name
            folder = _extracted(download(text, root / "downloads" / cache_key(text) / name, fresh=True), root)
        else:
            folder = root / "urls" / cache_key(text)
            base = text.rstrip("/") + "/"
            index = _fetch_index(base + INDEX_FILE, folder / INDEX_FILE)
            for name in files_for(index, select_ids(index, ids)):
                listed = index["files"][name]
                download(base + quote(name), folder / name, sha256=listed["sha256"], size=listed["bytes"])
    elif parsed.scheme in ("file", ""):
        path = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else Path(text)
        folder = _extracted(path, root) if archive_kind(path) else path
    else:
        raise InputError(f"unsupported pack location {parsed.scheme}://; use a path, file://, or https://")
    index = read_index(folder)
    chosen = select_ids(index, ids)
    for name in files_for(index, chosen):
        verify_file(folder, name, index)
    return OpenPack(folder=folder, index=index, ids=chosen)
