"""Pack archives: `.zip` and `.tar.gz` with the standard library, `.tar.zst` when `zstandard` is installed.

An archive holds the pack folder's files at its root. Extraction accepts regular files with plain relative
names only (no links, no absolute paths, no `..`), so a hostile archive cannot write outside its folder.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from ..errors import InputError
from ..files import atomic_path, staging_dir
from .index import safe_relpath

SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar.zst")


def archive_kind(path: str | Path) -> str | None:
    """The archive suffix of `path` (one of SUFFIXES), or None for a folder."""
    name = str(path).lower()
    return next((s for s in SUFFIXES if name.endswith(s)), None)


def _zstd():
    try:
        import zstandard
    except ImportError:
        raise InputError(".tar.zst packs need the zstandard package: pip install zstandard "
                         "(or use .zip / .tar.gz)") from None
    return zstandard


def write_archive(pack_dir: Path, out: Path) -> Path:
    """Write the files of `pack_dir` into archive `out` (kind from its suffix), atomically."""
    kind = archive_kind(out)
    files = sorted(p for p in pack_dir.rglob("*") if p.is_file())
    with atomic_path(out) as tmp:
        if kind == ".zip":
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for p in files:
                    zf.write(p, p.relative_to(pack_dir).as_posix())
        else:
            buffer = io.BytesIO() if kind == ".tar.zst" else None
            mode = "w" if kind == ".tar.zst" else "w:gz"
            with tarfile.open(fileobj=buffer, name=None if buffer else tmp, mode=mode) as tf:
                for p in files:
                    tf.add(p, p.relative_to(pack_dir).as_posix(), recursive=False)
            if buffer is not None:
                tmp.write_bytes(_zstd().ZstdCompressor().compress(buffer.getvalue()))
    return out


def _members(archive: Path) -> list[tuple[str, bytes]]:
    kind = archive_kind(archive)
    try:
        if kind == ".zip":
            with zipfile.ZipFile(archive) as zf:
                return [(i.filename, zf.read(i)) for i in zf.infolist() if not i.is_dir()]
        if kind == ".tar.zst":
            with _zstd().ZstdDecompressor().stream_reader(open(archive, "rb")) as reader:
                data = io.BytesIO(reader.read())
            tf = tarfile.open(fileobj=data, mode="r:")
        else:
            tf = tarfile.open(archive, mode="r:gz")
        with tf:
            out = []
            for m in tf.getmembers():
                if m.isdir():
                    continue
                if not m.isfile():
                    raise InputError(f"archive member {m.name!r} is not a regular file", archive)
                out.append((m.name, tf.extractfile(m).read()))
            return out
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"cannot read archive ({exc})", archive) from None


def extract_archive(archive: Path, dest: Path) -> Path:
    """Extract a pack archive into folder `dest` (replacing it, atomically); return `dest`."""
    members = _members(archive)
    with staging_dir(dest) as staging:
        for name, data in members:
            target = staging / safe_relpath(name, archive)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return dest
