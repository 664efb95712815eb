"""Downloads with a checksum and a cache, shared by generator packs and dataset helpers.

A file is downloaded to `<name>.part`, resumed with an HTTP Range request when a `.part` is already there,
and renamed into place only after its sha256 matches. Plain http is accepted for loopback hosts only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from .errors import CheckpointError, InputError
from .files import sha256_file

CACHE_ENV = "SINGAN_SEG_CACHE"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
TIMEOUT_S = 60


def cache_root() -> Path:
    """`$SINGAN_SEG_CACHE`, or the platform's user cache folder for singan-seg."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("singan-seg"))


def cache_key(text: str) -> str:
    """A short, file-name-safe key for a URL or path."""
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
            raise CheckpointError(f"downloaded file has sha256 {digest[:12]}…, expected {sha256[:12]}…: "
                                  "corrupt or tampered file; refusing to use it", url)
    os.replace(part, dest)
    return dest


def check_http(url: str) -> None:
    """Refuse plain http except to loopback hosts (tests, local mirrors)."""
    parsed = urlparse(url)
    if parsed.scheme == "http" and parsed.hostname not in LOOPBACK_HOSTS:
        raise InputError("plain http is only accepted for localhost; use an https URL", url)
