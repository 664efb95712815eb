"""Result files name the code that produced them: version always, commit only for singan-seg's own checkout."""

import shutil
import subprocess
from pathlib import Path

import pytest

import singan_seg as ss
from singan_seg.version_info import checkout_root, code_version

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")


def _git_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


@needs_git
def test_a_package_installed_inside_some_other_repository_has_no_commit(tmp_path):
    repo = _git_repo(tmp_path / "project")
    installed = repo / ".venv" / "lib" / "site-packages" / "singan_seg"  # a venv inside a user's repository
    installed.mkdir(parents=True)
    assert checkout_root(installed.resolve()) is None
    own = repo / "src" / "singan_seg"  # an editable install of a singan-seg checkout
    own.mkdir(parents=True)
    assert checkout_root(own.resolve()) == repo.resolve()
    assert checkout_root(tmp_path.resolve()) is None  # not a repository at all


def test_code_version_names_this_package():
    info = code_version()
    assert info["version"] == ss.__version__ and set(info) == {"version", "commit", "dirty"}
    if checkout_root() is not None and shutil.which("git"):
        assert isinstance(info["commit"], str) and len(info["commit"]) >= 7 and isinstance(info["dirty"], bool)
