"""`singan-seg baseline train|generate`: the 4-channel DCGAN / ProGAN / FastGAN baselines from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..baselines.config import ARCHS
from .common import console

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Multi-image GAN baselines with RGB + mask output (the paper's Table 4): "
                       + ", ".join(ARCHS) + ".")


@app.command("train")
def train(
    arch: str = typer.Option(..., help=f"one of {list(ARCHS)}"),
    images: Path = typer.Option(..., help="folder of real images"),
    masks: Path = typer.Option(..., help="folder of masks, paired with images by file stem"),
    out: Path = typer.Option(..., help="model directory to write (checkpointed; --resume continues it)"),
    resolution: int = typer.Option(128, help="square size, a power of two (the paper: 256)"),
    minutes: Optional[float] = typer.Option(None, help="budget: minutes of training time"),
    steps: Optional[int] = typer.Option(None, help="budget: training steps (one D and one G update each)"),
    clock: str = typer.Option("wall", help="what --minutes counts: wall (elapsed) or cpu (this process's CPU "
                                           "time; fair on a busy machine)"),
    batch_size: int = typer.Option(16, help="pairs per step"),
    width: Optional[int] = typer.Option(None, help="channel scale (default: the paper's; dcgan/fastgan 64, "
                                                   "progan 512)"),
    checkpoint_every: int = typer.Option(500, help="steps between checkpoints"),
    limit: Optional[int] = typer.Option(None, help="only the first N pairs (by id), e.g. the 5...50 study"),
    folds: Optional[Path] = typer.Option(None, help="CSV id,fold; with --fold, train on that fold only"),
    fold: Optional[int] = typer.Option(None, help="the fold to train on"),
    seed: int = typer.Option(0, help="random seed (same seed and steps, same model on CPU)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    resume: bool = typer.Option(False, help="continue the model in OUT up to the given budget"),
    overwrite: bool = typer.Option(False, help="replace a baseline model already in OUT"),
) -> None:
    """Train a 4-channel GAN on all selected image/mask pairs."""
    from ..baselines import baseline_config, load_pair_set, train_baseline

    config = baseline_config(arch, resolution=resolution, batch_size=batch_size, width=width,
                             checkpoint_every=checkpoint_every, seed=seed)
    data = load_pair_set(images, masks, resolution, folds=folds, fold=fold, limit=limit)
    result = train_baseline(data, config, out, steps=steps, minutes=minutes, device=device, resume=resume,
                            overwrite=overwrite, clock=clock)
    console.print(f"[green]{arch} written to {out}[/green]: {result.step} steps on {len(data)} pairs, "
                  f"{result.seconds / 60:.1f} min ({clock} clock) of training")


@app.command("generate")
def generate(
    model: Path = typer.Option(..., help="a model directory written by `baseline train`"),
    out: Path = typer.Option(..., help="samples directory to write (images/, masks/, manifest.csv)"),
    num: int = typer.Option(1000, help="number of pairs"),
    seed: int = typer.Option(0, help="random seed; pair i depends only on (seed, i)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    overwrite: bool = typer.Option(False, help="replace an existing samples directory"),
) -> None:
    """Generate image/mask pairs from a trained baseline."""
    from ..baselines import generate_baseline

    path = generate_baseline(model, out, num=num, seed=seed, device=device, overwrite=overwrite)
    console.print(f"[green]{num} pairs written to {path}[/green]")
