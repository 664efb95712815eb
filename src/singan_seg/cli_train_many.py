"""`singan-seg train-many`: one model per pair of a folder, K pairs trained at once (see train_many.py).

Kept out of cli.py (which only registers it) so the command's options live beside nothing else.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .config import DEFAULT_PRESET, PRESETS

console = Console(stderr=True)


def train_many_command(
    images: Path = typer.Option(..., help="folder of real images"),
    masks: Path = typer.Option(..., help="folder of masks, paired with images by file stem"),
    out: Path = typer.Option(..., help="folder to write one model directory per pair into (OUT/<id>/)"),
    batch_models: int = typer.Option(8, help="K: models trained together in one network (same pyramid only)"),
    preset: str = typer.Option(DEFAULT_PRESET, help=f"one of {sorted(PRESETS)}"),
    max_size: Optional[int] = typer.Option(None, help="longest side of the finest scale (paper: 250)"),
    iters: Optional[int] = typer.Option(None, help="iterations per scale (overrides the preset)"),
    settings: list[str] = typer.Option([], "--set", help="change one training setting, KEY=VALUE (repeatable), "
                                       "as in `train --set`"),
    seed: int = typer.Option(0, help="random seed (every pair gets the stream train would give it)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    limit: Optional[int] = typer.Option(None, help="only the first M pairs (by id)"),
    resume: bool = typer.Option(False, help="continue interrupted models in OUT (finished ones are skipped)"),
    overwrite: bool = typer.Option(False, help="replace models already in OUT"),
    verbose: bool = typer.Option(True, help="log each group"),
) -> None:
    """Train one SinGAN-Seg model per image/mask pair, K pairs at once (fills a GPU; same models as `train`)."""
    from .config import get_preset
    from .data.dataset import find_pairs
    from .errors import InputError
    from .train_many import train_many

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    if limit is not None and limit < 1:
        raise InputError(f"limit should be at least 1, got {limit}")
    pairs = find_pairs(images, masks)[:limit]
    config = get_preset(preset, settings, max_size=max_size, iters_per_scale=iters, seed=seed)
    result = train_many([(p.image, p.mask) for p in pairs], [out / p.id for p in pairs], config=config,
                        batch_models=batch_models, device=device, resume=resume, overwrite=overwrite)
    buckets = ", ".join(f"{size}: {count}" for size, count in result.bucket_sizes().items())
    console.print(f"[green]{len(pairs)} models in {out}[/green] ({len(result.groups)} groups of <= {batch_models}, "
                  f"{result.seconds / 60:.1f} min); pairs per pyramid: {buckets}", highlight=False, soft_wrap=True)
