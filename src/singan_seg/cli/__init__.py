"""The `singan-seg` command line: a thin layer over the Python API (one module per command group)."""

from .app import app
from .app import main as run_app


def main() -> None:
    """The `singan-seg` entry point: torch gets the cores other processes leave free (threads.py), then the
    command runs."""
    from ..threads import apply_thread_policy

    apply_thread_policy()
    run_app()


__all__ = ["app", "main"]
