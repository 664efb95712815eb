"""Downloads with a checksum and a cache, shared by generator packs and dataset helpers.

A file is downloaded to `<name>.part` and renamed into place only when it is complete: as many bytes as the
server announced (Content-Length), as many as the caller expects (`size`) and, where a digest is known, the
right sha256. A body cut short, a stalled server (no data for `TIMEOUT_S` seconds) or a dropped connection is
a one-line error naming the URL, never a cached file. A `.part` of a checksummed file is kept and resumed with
an HTTP Range request on the next try; one without a checksum is deleted (its rest could come from a different
file). Plain http is accepted for loopback hosts only.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from .errors import CheckpointError, InputError
from .files import sha256_file

CACHE_ENV = "SINGAN_SEG_CACHE"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
TIMEOUT_S = 60.0  # seconds without any data from the server before a download is given up (read at each call)
_CHUNK = 1 << 20


def cache_root() -> Path:
    """`$SINGAN_SEG_CACHE`, or the platform's user cache folder for singan-seg."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("singan-seg"))


def cache_key(text: str) -> str:
    """A short, file-name-safe key for a URL or path."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _reason(exc: BaseException) -> str:
    """A one-line reason for a network error."""
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"the server sent nothing for {TIMEOUT_S:g} s"
    reason = getattr(exc, "reason", None) or exc
    text = " ".join(str(reason).split()) or exc.__class__.__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _expected_total(response, offset: int, resumed: bool) -> int | None:
    """The size of the whole file as the server announced it (None when it did not)."""
    length = response.headers.get("Content-Length")
    try:
        length = int(length) if length is not None else None
    except ValueError:
        return None
    if length is None or length < 0:
        return None
    return offset + length if resumed else length


def download(url: str, dest: Path, sha256: str | None = None, fresh: bool = False, size: int | None = None,
             max_bytes: int | None = None) -> Path:
    """Fetch `url` into `dest` via `dest.part`, resuming a partial `.part` of a checksummed file.

    Args:
        url: an http(s) or file URL.
        dest: the final file; kept as is when it already has the expected sha256.
        sha256: expected hex digest; the file is renamed into place only if it matches.
        fresh: download again even when `dest` exists (for files without a known checksum).
        size: expected size in bytes, where known (e.g. from pack.json).
        max_bytes: refuse a body larger than this (for small files without a known size, such as pack.json).

    Raises:
        InputError: the server cannot be reached, answers with an error, stalls for `TIMEOUT_S` seconds, or
            sends fewer (or more) bytes than announced; nothing is renamed into place.
        CheckpointError: the downloaded bytes do not match `sha256` (the partial file is deleted).
    """
    if dest.is_file() and not fresh and (sha256 is None or sha256_file(dest) == sha256) \
            and (size is None or dest.stat().st_size == size):
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the download folder ({exc.strerror or exc})", dest.parent) from None
    part = dest.with_name(dest.name + ".part")
    if sha256 is None and part.exists():  # no checksum to tell a stale prefix from a good one: start over
        part.unlink()
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset >= size:  # a .part as long as the file should be, or longer, is no prefix
        part.unlink()
        offset = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part is not a prefix of this file: start over
            part.unlink()
            return download(url, dest, sha256, fresh, size, max_bytes)
        raise InputError(f"download failed: HTTP {exc.code} {' '.join(str(exc.reason).split())}", url) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise InputError(f"cannot download ({_reason(exc)})", url) from None
    received, expected, restart = 0, None, False
    try:
        with response:
            status = getattr(response, "status", None)
            resumed = bool(offset) and status == 206 and \
                response.headers.get("Content-Range", "").startswith(f"bytes {offset}-")
            if offset and not resumed:  # the server ignored the Range request (200) or sent another range
                part.unlink()
                restart = status == 206  # ask again without a Range
            if not restart:
                expected = _expected_total(response, offset, resumed)
                if size is not None and expected is not None and expected != size:
                    raise InputError(f"the server announces {expected} bytes, but {size} are expected", url)
                limit = size if size is not None else max_bytes
                if limit is not None and expected is not None and expected > limit:
                    raise InputError(f"the server announces {expected} bytes, more than the {limit} expected", url)
                received = offset if resumed else 0
                read = getattr(response, "read1", response.read)  # what has arrived, so a stall counts it
                with open(part, "ab" if resumed else "wb") as handle:
                    while chunk := read(_CHUNK):
                        received += len(chunk)
                        if limit is not None and received > limit:
                            raise InputError(f"the server sent more than the {limit} bytes expected", url)
                        handle.write(chunk)
    except InputError:
        part.unlink(missing_ok=True)
        raise
    except (OSError, http.client.HTTPException) as exc:
        _drop_unverifiable(part, sha256)
        again = "; run the command again to resume" if sha256 is not None and part.exists() else ""
        raise InputError(f"download interrupted after {received} bytes ({_reason(exc)}){again}", url) from None
    if restart:
        part.unlink(missing_ok=True)
        return download(url, dest, sha256, fresh, size, max_bytes)
    wanted = expected if expected is not None else size
    if wanted is not None and received < wanted:
        _drop_unverifiable(part, sha256)
        again = "; run the command again to resume" if sha256 is not None and part.exists() else ""
        raise InputError(f"download cut short: the server sent {received} of {wanted} bytes{again}", url)
    if sha256 is not None:
        digest = sha256_file(part)
        if digest != sha256:
            part.unlink()  # the next try starts from scratch
            raise CheckpointError(f"downloaded file has sha256 {digest[:12]}…, expected {sha256[:12]}…: "
                                  "corrupt or tampered file; refusing to use it", url)
    os.replace(part, dest)
    return dest


def _drop_unverifiable(part: Path, sha256: str | None) -> None:
    """Keep a partial download only when a checksum will verify it once resumed."""
    if sha256 is None:
        part.unlink(missing_ok=True)


def check_http(url: str) -> None:
    """Refuse plain http except to loopback hosts (tests, local mirrors)."""
    parsed = urlparse(url)
    if parsed.scheme == "http" and parsed.hostname not in LOOPBACK_HOSTS:
        raise InputError("plain http is only accepted for localhost; use an https URL", url)
