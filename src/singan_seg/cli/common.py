"""What every command shares: the console (stderr), logging set-up and one-line warnings."""

from __future__ import annotations

import logging
import warnings

from rich.console import Console

console = Console(stderr=True)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


warnings.formatwarning = _one_line_warning
