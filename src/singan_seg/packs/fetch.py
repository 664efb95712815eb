"""Opening a pack from a local folder or archive, a `file://` URL or an `http(s)://` URL.

Downloads go to a cache folder (platformdirs' user cache dir, or `$SINGAN_SEG_CACHE`): `urls/<key>/` mirrors
a remote pack folder, `downloads/<key>/` holds remote archives and `archives/<sha>/` extracted ones. A file
is downloaded to `<name>.part`, resumed with an HTTP Range request when a `.part` is already there, and
renamed into place only after its sha256 matches pack.json. Plain http is accepted for loopback hosts only
(tests, local mirrors); anything else must use https.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlparse

from ..errors import CheckpointError, InputError
from ..files import sha256_file
from .archive import archive_kind, extract_archive
from .index import INDEX_FILE, files_for, read_index, select_ids, verify_file

CACHE_ENV = "SINGAN_SEG_CACHE"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
TIMEOUT_S = 60


@dataclass
class OpenPack:
    """A verified local pack folder, its index and the generator ids selected from it."""

    folder: Path
    index: dict[str, Any]
    ids: list[str]


def cache_root() -> Path:
    """`$SINGAN_SEG_CACHE`, or the platform's user cache folder for singan-seg."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("singan-seg"))


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def download(url: str, dest: Path, sha256: str | None = None, fresh: bool = False) -> Path:
    """Fetch `url` into `dest` via `dest.part`, resuming a partial `.part` with a Range request.

    Args:
        url: an http(s) URL.
        dest: the final file; kept as is when it already has the expected sha256.
        sha256: expected hex digest; the file is renamed into place only if it matches.
        fresh: download again even when `dest` exists (for files without a known checksum).

    Raises:
        InputError: the server cannot be reached or answers with an error.
        CheckpointError: the downloaded bytes do not match `sha256` (the partial file is deleted).
    """
    if dest.is_file() and not fresh and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part is not a prefix of this file: start over
            part.unlink()
            return download(url, dest, sha256, fresh)
        raise InputError(f"download failed: HTTP {exc.code} {exc.reason}", url) from None
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(f"cannot download ({getattr(exc, 'reason', exc)})", url) from None
    with response:
        resumed = offset and response.status == 206 and \
            response.headers.get("Content-Range", "").startswith(f"bytes {offset}-")
        with open(part, "ab" if resumed else "wb") as handle:
            shutil.copyfileobj(response, handle, 1 << 20)
    if sha256 is not None:
        digest = sha256_file(part)
        if digest != sha256:
            part.unlink()
            raise CheckpointError(f"downloaded file has sha256 {digest[:12]}…, pack.json says {sha256[:12]}…: "
                                  "corrupt or tampered file; refusing to use it", url)
    os.replace(part, dest)
    return dest


def _check_http(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme == "http" and parsed.hostname not in LOOPBACK_HOSTS:
        raise InputError("plain http is only accepted for localhost; use an https URL", url)


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
        _check_http(text)
        if archive_kind(parsed.path):
            name = PurePosixPath(parsed.path).name
            folder = _extracted(download(text, root / "downloads" / _key(text) / name, fresh=True), root)
        else:
            folder = root / "urls" / _key(text)
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
