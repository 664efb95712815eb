"""The `singan-seg` Typer app: every command registered in one place, and the entry point `main`.

Each command lives in the module of its group (train.py, generate.py, ...); commands parse options, call the
Python API and print. They import the API inside the function, so `singan-seg --help` stays fast.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from ..errors import SinganSegError
from . import dataset, evaluate, generate, packs, style, train
from .baselines import app as baseline_app
from .benchmark import app as benchmark_app
from .prior import prior_app
from .common import console

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Synthetic image/mask pairs from single-image GANs (SinGAN-Seg).")

app.command()(train.train)
app.command("train-many")(train.train_many)
app.command()(generate.generate)
app.command()(style.style)
app.command()(train.demo)
app.command("build-dataset")(dataset.build_dataset)
app.command()(dataset.export)
app.add_typer(dataset.data_app, name="data")
app.add_typer(packs.pack_app, name="pack")
app.add_typer(prior_app, name="prior")
app.add_typer(evaluate.evaluate_app, name="evaluate")
app.add_typer(baseline_app, name="baseline")
app.add_typer(benchmark_app, name="benchmark")


def os_error_line(exc: OSError) -> str:
    """An OSError as `<path>: <strerror>` on one line (both paths for a rename), or its text where it has none."""
    where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    problem = exc.strerror or str(exc) or type(exc).__name__
    return escape(f"{where}: {problem}" if where else " ".join(problem.splitlines()))


def main() -> None:
    """Entry point: user errors become one red line and exit code 2; Ctrl-C (and SIGTERM where a command turns
    it into one) exits 130."""
    try:
        # Outside standalone mode Typer returns, not raises, the code of a typer.Exit, and turns Ctrl-C into code
        # 130: both must still reach the shell.
        code = app(standalone_mode=False)
    except SinganSegError as exc:  # one line, whatever the message holds (newlines, brackets rich would eat)
        console.print(f"[red]error:[/red] {escape(' '.join(str(exc).splitlines()))}", highlight=False,
                      soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        code = 130
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:  # the last resort for what no command turned into a message: a read-only folder, ...
        console.print(f"[red]error:[/red] {os_error_line(exc)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise
    if code == 130:
        console.print("[yellow]interrupted[/yellow]: work up to the last checkpoint is saved; rerun the command "
                      "(with --resume where it has one) to continue")
    if isinstance(code, int) and code != 0:
        sys.exit(code)
