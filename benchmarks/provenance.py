"""What every benchmark result records besides its numbers: the code that produced it, and paths that mean
the same on any machine.

    from provenance import portable, provenance
    write_json_atomic(args.out, {"provenance": provenance(), "settings": portable(vars(args)), ...})

`provenance()` is {"commit": short hash of HEAD or None, "dirty": True when tracked files differ from it (None
without git), "version": singan_seg.__version__}. `portable_path` writes a path relative to the repository when
it is inside it, `<kvasir-seg>/...` for the shared data (../shared/data/kvasir-seg), `<tmp>/...` for the temporary
folder and `<external>/NAME` for anything else, so no result names a folder of the host it ran on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePath

from singan_seg.version_info import code_version

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"  # ../shared/data/<name>, written as <name>


def provenance() -> dict:
    """The commit (None outside a git checkout), whether tracked files differ from it, and the package version."""
    info = code_version()
    return {"commit": info["commit"], "dirty": info["dirty"], "version": info["version"]}


def portable_path(path: str | PurePath) -> str:
    """`path` as a result may record it: repository-relative, or a placeholder for the folder outside it."""
    resolved = Path(path).expanduser().resolve()
    places = [(REPO, ""), (Path(tempfile.gettempdir()).resolve(), "<tmp>/")]
    if DATA.is_dir():
        places += [(folder.resolve(), f"<{folder.name}>/") for folder in DATA.iterdir() if folder.is_dir()]
    for folder, label in sorted(places, key=lambda place: -len(place[0].parts)):  # the most specific first
        if resolved.is_relative_to(folder):
            relative = resolved.relative_to(folder).as_posix()
            return (label.rstrip("/") or ".") if relative == "." else label + relative
    return f"<external>/{resolved.name}"


def portable(value):
    """`value` with every path in it made portable: Path objects, absolute path strings and NAME=PATH strings
    (as --models-root takes), inside dicts and lists too. Other values are returned unchanged."""
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(item) for item in value]
    if isinstance(value, PurePath):
        return portable_path(value)
    if isinstance(value, str):
        name, sep, rest = value.partition("=")
        if value.startswith("/"):
            return portable_path(value)
        if sep and rest.startswith("/") and "/" not in name:
            return f"{name}={portable_path(rest)}"
    return value
