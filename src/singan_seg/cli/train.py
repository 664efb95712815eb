"""`singan-seg train`, `train-many` and `demo`: training generators from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..config import DEFAULT_PRESET, PRESETS
from .common import bit_depth_option, channels_option, classes_option, console, setup_logging


def train(
    image: Path = typer.Option(..., help="real image: RGB, gray or multi-channel (TIFF, .npy), 8 or 16 bits, kept "
                               "as it is (RGBA loses alpha, palette/CMYK become RGB, with a note)"),
    mask: Path = typer.Option(..., help="its mask (same size; binarised at gray >= 128 unless --classes)"),
    out: Path = typer.Option(..., help="model directory to write"),
    classes: Optional[str] = classes_option(),
    channels: Optional[int] = channels_option(),
    bit_depth: Optional[int] = bit_depth_option(),
    preset: str = typer.Option(DEFAULT_PRESET, help=f"one of {sorted(PRESETS)}"),
    max_size: Optional[int] = typer.Option(None, help="longest side of the finest scale (paper: 250)"),
    iters: Optional[int] = typer.Option(None, help="iterations per scale (overrides the preset)"),
    settings: list[str] = typer.Option([], "--set", help="change one training setting, KEY=VALUE (repeatable; "
                                       "names as in config.json), e.g. --set gp_every=1"),
    seed: int = typer.Option(0, help="random seed (same seed, same model on CPU)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    resume: bool = typer.Option(False, help="continue an interrupted run in OUT"),
    overwrite: bool = typer.Option(False, help="replace a model already in OUT"),
    checkpoint_minutes: float = typer.Option(10.0, help="also save the scale being trained this often, so a long "
                                             "scale resumes where it stopped (0: every iteration)"),
    allow_empty_mask: bool = typer.Option(False, help="train on a pair whose mask has no foreground"),
    prior: Optional[Path] = typer.Option(None, help="warm-start the scales above the coarsest from this domain prior "
                                         "(`prior train`); every scale trains --set warm_iters_fraction (0.2) of its "
                                         "iterations"),
    verbose: bool = typer.Option(True, help="log per-scale summaries"),
) -> None:
    """Train one SinGAN-Seg model on an image/mask pair."""
    from ..config import get_preset
    from ..training import train as train_model

    setup_logging(verbose)
    config = get_preset(preset, settings, max_size=max_size, iters_per_scale=iters, seed=seed)
    model = train_model(image, mask, out_dir=out, config=config, device=device, resume=resume,
                        overwrite=overwrite, allow_empty_mask=allow_empty_mask, checkpoint_minutes=checkpoint_minutes,
                        classes=classes, channels=channels, bit_depth=bit_depth, prior=prior)
    console.print(f"[green]model written to {out}[/green] ({model.num_scales} scales, finest "
                  f"{model.shapes[-1][1]}x{model.shapes[-1][0]} px; {model.modality.describe()})")


def train_many(
    images: Path = typer.Option(..., help="folder of real images"),
    masks: Path = typer.Option(..., help="folder of masks, paired with images by file stem"),
    out: Path = typer.Option(..., help="folder to write one model directory per pair into (OUT/<id>/)"),
    classes: Optional[str] = classes_option(),
    channels: Optional[int] = channels_option(),
    bit_depth: Optional[int] = bit_depth_option(),
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
    from ..config import get_preset
    from ..data.dataset import find_pairs
    from ..errors import InputError
    from ..training import train_many as train_models

    setup_logging(verbose)
    if limit is not None and limit < 1:
        raise InputError(f"limit should be at least 1, got {limit}")
    pairs = find_pairs(images, masks)[:limit]
    config = get_preset(preset, settings, max_size=max_size, iters_per_scale=iters, seed=seed)
    result = train_models([(p.image, p.mask) for p in pairs], [out / p.id for p in pairs], config=config,
                        batch_models=batch_models, device=device, resume=resume, overwrite=overwrite,
                        classes=classes, channels=channels, bit_depth=bit_depth)
    buckets = ", ".join(f"{size}: {count}" for size, count in result.bucket_sizes().items())
    console.print(f"[green]{len(pairs)} models in {out}[/green] ({len(result.groups)} groups of <= {batch_models}, "
                  f"{result.seconds / 60:.1f} min); pairs per pyramid: {buckets}", highlight=False, soft_wrap=True)


def demo(
    out: Path = typer.Option(Path("demo-output"), help="where to put the model, samples and contact sheet"),
    preset: str = typer.Option("demo", help="training preset (demo finishes in a few minutes on 2 CPU cores)"),
    num: int = typer.Option(8, help="samples to draw"),
    seed: int = typer.Option(0, help="random seed"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
) -> None:
    """Train on a built-in procedural phantom, sample from it and write a contact sheet (no downloads)."""
    from ..demo import run_demo

    setup_logging(True)
    result = run_demo(out, preset=preset, num=num, seed=seed, device=device)
    console.print(f"[green]demo done in {result.seconds:.0f} s[/green]: contact sheet {result.contact_sheet}")
