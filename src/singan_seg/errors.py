"""Exceptions with one-line, user-facing messages.

Every problem a user can cause (a bad file, a bad option, a checkpoint that does not match) raises a
`SinganSegError`; the CLI prints its message on one line and exits non-zero. Anything else is a bug.
"""

from __future__ import annotations

from pathlib import Path


class SinganSegError(Exception):
    """Base class for errors caused by input, options or files (not by bugs)."""


class InputError(SinganSegError, ValueError):
    """A user-supplied file or value is unusable. The message names the file and the problem."""

    def __init__(self, problem: str, path: str | Path | None = None):
        # URLs stay strings: Path() would fold "https://" into "https:/"
        self.path = None if path is None else path if "://" in str(path) else Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class CheckpointError(InputError):
    """A model directory is missing, corrupt, tampered with, or from a newer format."""


class OutputExistsError(SinganSegError):
    """The output directory already holds results that would be overwritten."""

    def __init__(self, path: str | Path, what: str, hint: str):
        self.path = Path(path)
        super().__init__(f"{self.path}: already holds {what}; {hint}")
