"""What every command shares: the console (stderr), logging set-up and one-line warnings."""

from __future__ import annotations

import logging
import warnings

import typer
from rich.console import Console

console = Console(stderr=True)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


warnings.formatwarning = _one_line_warning


# Options that say how image/mask files are read, shared by every command that reads real pairs.
CLASSES_HELP = ("the mask's classes, first = background: 'background,disc,cup' (label values 0,1,2), "
                "'bg=0,tumour=128' (values), 'bg=#000000,disc=#ff0000' (colours) or a .json file; "
                "default: a binary mask (gray >= 128)")
CHANNELS_HELP = "convert the image to 1 (gray) or 3 (RGB) channels; default: keep the file's"
BIT_DEPTH_HELP = "convert the image to 8 or 16 bits; default: keep the file's"


def classes_option():
    return typer.Option(None, "--classes", help=CLASSES_HELP)


def channels_option():
    return typer.Option(None, "--channels", help=CHANNELS_HELP)


def bit_depth_option():
    return typer.Option(None, "--bit-depth", help=BIT_DEPTH_HELP)
