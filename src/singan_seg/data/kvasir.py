"""Downloading and unpacking Kvasir-SEG (research and education use only; cite Jha et al., MMM 2020).

The official archive is fetched into the download cache (resumable, sha256-checked) and unpacked into DEST as
`images/`, `masks/`, `kavsir_bboxes.json` and `SOURCE.json` (URL, sha256, number of pairs, terms). No checksum
for the official archive is published, so the user passes one (`--sha256`, from a copy they trust) or accepts
the downloaded file's digest explicitly (`--trust-unverified`); either way the digest is recorded.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from ..download import cache_key, cache_root, check_http, download
from ..errors import InputError, OutputExistsError
from ..files import sha256_file, staging_dir, write_json_atomic
from .dataset import find_pairs

KVASIR_SEG_URL = "https://datasets.simula.no/downloads/kvasir-seg.zip"
KVASIR_SEG_SHA256: str | None = None  # not published by the source; pin it here once a trusted digest is known
TERMS = ("Kvasir-SEG is for research and educational purposes only; any use must cite D. Jha et al., "
         "'Kvasir-SEG: A Segmented Polyp Dataset', MMM 2020.")


def _unpack(archive: Path, staging: Path) -> None:
    """Extract the zip and lift its `images/` and `masks/` folders (wherever they sit) to the top of `staging`."""
    raw = staging / ".raw"
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(raw)  # zipfile drops absolute paths and '..' components
    except zipfile.BadZipFile as exc:
        raise InputError(f"not a zip archive ({exc})", archive) from None
    roots = [p.parent for p in raw.rglob("images") if p.is_dir() and (p.parent / "masks").is_dir()]
    if len(roots) != 1:
        raise InputError("archive does not hold exactly one folder with images/ and masks/", archive)
    for item in roots[0].iterdir():
        shutil.move(str(item), staging / item.name)
    shutil.rmtree(raw)


def fetch_kvasir_seg(dest: str | Path, url: str = KVASIR_SEG_URL, sha256: str | None = None,
                     trust_unverified: bool = False, overwrite: bool = False,
                     cache_dir: str | Path | None = None) -> Path:
    """Download (or reuse from the cache) the Kvasir-SEG archive, verify it, and unpack it into `dest`.

    Args:
        url: the archive (https, file://, or http on localhost for tests and local mirrors).
        sha256: the expected digest; default: KVASIR_SEG_SHA256 when pinned.
        trust_unverified: accept whatever is downloaded when no digest is known (it is recorded and printed).
    """
    dest = Path(dest)
    expected = (sha256 or KVASIR_SEG_SHA256 or "").lower() or None
    if expected is None and not trust_unverified:
        raise InputError("no sha256 is known for this archive: pass --sha256 HEX (from a copy you trust) or "
                         "--trust-unverified to accept and record the digest of what is downloaded", url)
    if dest.exists() and any(dest.iterdir()) and not overwrite:
        raise OutputExistsError(dest, "files", "choose a new or empty directory, or pass --overwrite")
    check_http(url)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    archive = download(url, root / "downloads" / cache_key(url) / "kvasir-seg.zip", sha256=expected)
    digest = sha256_file(archive)
    with staging_dir(dest) as staging:
        _unpack(archive, staging)
        pairs = find_pairs(staging / "images", staging / "masks")
        write_json_atomic(staging / "SOURCE.json", {"url": url, "sha256": digest, "verified": expected is not None,
                                                    "pairs": len(pairs), "terms": TERMS})
    return dest
