"""Opening a pack from a local folder or archive, a `file://` URL or an `http(s)://` URL.

Downloads go to a cache folder (platformdirs' user cache dir, or `$SINGAN_SEG_CACHE`): `urls/<key>/` mirrors
a remote pack folder, `downloads/<key>/` holds remote archives and `archives/<sha>/` extracted ones. A file
is downloaded to `<name>.part`, resumed with an HTTP Range request when a `.part` is already there, and
renamed into place only after its sha256 matches pack.json. Plain http is accepted for loopback hosts only
(tests, local mirrors); anything else must use https.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlparse

from ..download import cache_key, cache_root, check_http, download
from ..errors import InputError
from ..files import sha256_file
from .archive import archive_kind, extract_archive
from .index import INDEX_FILE, files_for, read_index, select_ids, verify_file


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
    return dest if (dest / INDEX_FILE).is_file() else extract_archive(archive, dest)


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
            download(base + INDEX_FILE, folder / INDEX_FILE, fresh=True)
            index = read_index(folder)
            for name in files_for(index, select_ids(index, ids)):
                download(base + quote(name), folder / name, sha256=index["files"][name]["sha256"])
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
