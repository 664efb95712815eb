"""Which code produced a result: the package version and, when it runs from a git checkout of singan-seg (an
editable install), the commit and whether tracked files differ from it. Result files record this so that a
number can be traced back to its code; a regular install has a version only."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from . import __version__

PACKAGE_DIR = Path(__file__).resolve().parent


def _git(repo: Path, *args: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def checkout_root(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The git checkout this package runs from, or None. A package installed into a virtual environment that
    itself sits inside some git repository is not that repository's code, hence the src/singan_seg check."""
    top = _git(package_dir, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() / "src" / "singan_seg" != package_dir:
        return None
    return Path(top).resolve()


@functools.cache
def code_version() -> dict[str, str | bool | None]:
    """{"version": package version, "commit": short hash or None, "dirty": True/False (None without a checkout)}."""
    root = checkout_root()
    commit = _git(root, "rev-parse", "--short", "HEAD") if root else None
    status = _git(root, "status", "--porcelain", "--untracked-files=no") if commit else None
    return {"version": __version__, "commit": commit or None, "dirty": None if status is None else bool(status)}
