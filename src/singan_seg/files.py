"""Small file helpers shared by every writer: checksums and atomic writes.

Writers never leave a half-written file under its final name: they write to a temporary name in the
same directory and rename it into place (atomic on POSIX), so an interrupted run leaves either the
old file, the new file, or a stray temporary, never a truncated result that looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import CheckpointError, InputError, OutputExistsError

_CHUNK = 1 << 20
# The process's umask, read once at import (reading it means setting it, which is not thread-safe later).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def atomic_path(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` if the block succeeds.

    `suffix` keeps the extension for writers that pick the format from it (e.g. Pillow's `.png`).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; give what open() would have
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def replace_dir(staging: Path, final: Path) -> None:
    """Move a fully written staging directory onto `final`, replacing what was there (a folder or a file).

    The old `final` is moved aside first and removed only once the new one is in place; if that fails, the old
    one is put back, so an error never loses it."""
    final = Path(os.path.abspath(final))
    if final.exists() or final.is_symlink():
        trash = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, trash)
        try:
            os.replace(staging, final)
        except BaseException:
            os.replace(trash, final)
            raise
        _remove(trash)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, final)


def _remove(path: Path) -> None:
    """Remove a file, link or folder tree, best effort (a leftover is harmless, but should not be left)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def staging_dir(final: str | Path) -> Iterator[Path]:
    """Yield an empty directory beside `final`; on success it replaces `final`, on failure it is removed (with
    any parent folders it had to create), so a failed write leaves nothing behind."""
    final = Path(os.path.abspath(final))  # "." or "x/..": a real name, so the staging folder lies beside it
    if not final.name:
        raise InputError("not a folder that can be written (it has no name)", final)
    created = _first_missing(final.parent)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
        yield staging
        os.chmod(staging, 0o777 & ~_UMASK)  # mkdtemp makes an owner-only directory; give what mkdir would have
        replace_dir(staging, final)
    except BaseException:
        _remove_created(final.parent, created, keep=staging)
        raise
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _first_missing(folder: Path) -> Path | None:
    """The outermost of `folder` and its parents that does not exist yet (what mkdir(parents=True) creates)."""
    missing = None
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing = path
    return missing


def _remove_created(folder: Path, created: Path | None, keep: Path | None) -> None:
    """After a failure, remove the empty folders from `folder` up to `created` (those a writer made itself)."""
    if created is None:
        return
    if keep is not None and keep.exists():
        shutil.rmtree(keep, ignore_errors=True)
    for path in (folder, *folder.parents):
        with contextlib.suppress(OSError):
            path.rmdir()  # only empty folders go
        if path == created:
            break


def refuse_overlap(out: str | Path, inputs: dict[str, str | Path | None], option: str = "--out") -> None:
    """Refuse an output folder that is, holds or lies inside one of its `inputs` ({what: path}): writing it
    would replace (or write into) what it is made from. One line naming the output, the option and the input."""
    out_real = Path(out).resolve()
    for what, path in inputs.items():
        if path is None:
            continue
        real = Path(path).resolve()
        if out_real == real:
            problem = f"{option} is the {what} itself; writing it would replace its own input"
        elif out_real in real.parents:
            problem = f"{option} holds the {what} {path}; writing it would replace its own input"
        elif real in out_real.parents:
            problem = f"{option} lies inside the {what} {path}; write the output outside its input"
        else:
            continue
        raise InputError(f"{problem} (choose another folder)", out)


# ----------------------------------------------------------------------------------------------------------
# Checkpoint folders (SinGAN-Seg models, baselines): the metadata check and the output-folder policy
# ----------------------------------------------------------------------------------------------------------

def read_versioned_json(folder: str | Path, file_name: str, format_name: str, max_version: int, kind: str,
                        wrong_format_hint: str = "") -> dict[str, Any]:
    """`folder/file_name` parsed, after checking it exists, is a `format_name` file and not from a newer format
    (`kind` names the folder in errors, e.g. "model directory")."""
    folder = Path(folder)
    path = folder / file_name
    if not folder.is_dir():
        raise CheckpointError(f"{kind} not found", folder)
    if not path.is_file():
        raise CheckpointError(f"not a {kind}: no {file_name}", folder)
    return parse_versioned_json(path.read_bytes(), path, format_name, max_version, "config", wrong_format_hint)


def parse_versioned_json(data: bytes, path: str | Path, format_name: str, max_version: int, what: str,
                         wrong_format_hint: str = "") -> dict[str, Any]:
    """JSON `data` (read from `path`, named in errors) as a dict, after checking its "format" is `format_name`
    and its "format_version" is one this version reads."""
    try:
        meta = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"corrupt JSON ({exc})", path) from None
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        raise CheckpointError(f"not a {format_name} {what}{wrong_format_hint}", path)
    version = meta.get("format_version")
    if not isinstance(version, int) or version > max_version:
        writer = f" (it was written by version {meta['package_version']})" if meta.get("package_version") else ""
        raise CheckpointError(f"format version {version} is newer than this singan-seg reads ({max_version}); "
                              f"upgrade singan-seg{writer}", path)
    return meta


def prepare_checkpoint_dir(out: Path, holds_checkpoint: bool, resume: bool, overwrite: bool, kind: str,
                           checkpoint_files: tuple[str, ...]) -> bool:
    """True when `out` holds a checkpoint to resume; refuse to clobber anything else.

    With `overwrite`, the checkpoint files are removed in the given order (metadata first, so an interrupted
    removal never leaves weights that look like a complete model)."""
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a directory", out)
    if holds_checkpoint:
        if resume:
            return True
        if overwrite:
            for name in checkpoint_files:
                (out / name).unlink(missing_ok=True)
            return False
        raise OutputExistsError(out, f"a {kind}", "pass --resume to continue it or --overwrite to replace it")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(out, f"files that are not a {kind}",
                                "choose a new or empty directory (or --overwrite to write beside them)")
    return False


@contextlib.contextmanager
def exclusive_dir_lock(folder: Path, what: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on `folder` (POSIX flock on the folder itself, so no lock file to clean
    up); the kernel drops it when the process exits, even when killed. Another holder gives a one-line error.
    Where flock is missing (Windows) this does nothing."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another {what} is writing to this folder; let it finish or stop it first",
                             folder) from None
        yield
    finally:
        os.close(fd)
