"""`singan-seg prior train|info`: domain priors that warm-start every generator of a dataset (issue #32)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..config import DEFAULT_PRESET, PRESETS
from .common import bit_depth_option, channels_option, classes_option, console, setup_logging

prior_app = typer.Typer(no_args_is_help=True, help="Domain priors: one pyramid trained on many pairs, from which "
                        "`train --prior` and `build-dataset --prior` warm-start each generator.")


@prior_app.command("train")
def prior_train(
    images: Path = typer.Option(..., help="folder of real images"),
    masks: Path = typer.Option(..., help="folder of masks, paired with images by file stem"),
    out: Path = typer.Option(..., help="prior directory to write"),
    folds: Optional[Path] = typer.Option(None, help="CSV id,fold (recorded; needed by --fold / --exclude-fold)"),
    fold: Optional[int] = typer.Option(None, help="train on this fold's images only: the prior for build-dataset "
                                       "--prior FOLD=OUT (fold-safe for every test fold)"),
    exclude_fold: Optional[int] = typer.Option(None, help="train on every fold but this one (for `train --prior` "
                                               "runs tested on that fold; a build-dataset needs per-fold priors)"),
    count: int = typer.Option(64, help="pairs to train on, a seeded random choice of the eligible ones"),
    classes: Optional[str] = classes_option(),
    channels: Optional[int] = channels_option(),
    bit_depth: Optional[int] = bit_depth_option(),
    preset: str = typer.Option(DEFAULT_PRESET, help=f"one of {sorted(PRESETS)}; warm starts need the same networks"),
    max_size: Optional[int] = typer.Option(None, help="longest side of the finest scale (as the runs it serves)"),
    iters_factor: float = typer.Option(4.0, help="the preset's iterations x this (its cost is shared by every pair)"),
    settings: list[str] = typer.Option([], "--set", help="change one training setting, KEY=VALUE (repeatable)"),
    seed: int = typer.Option(0, help="random seed (choice of pairs and training)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    resume: bool = typer.Option(False, help="continue an interrupted prior in OUT (at its next scale)"),
    overwrite: bool = typer.Option(False, help="replace a prior already in OUT"),
    verbose: bool = typer.Option(True, help="log per-scale summaries"),
) -> None:
    """Train a domain prior on several pairs (ids, folds and file checksums recorded in its config.json)."""
    from ..config import get_preset
    from ..data.modality import parse_classes
    from ..files import refuse_overlap
    from ..training.prior import select_prior_pairs, train_prior

    setup_logging(verbose)
    refuse_overlap(out, {"images folder": images, "masks folder": masks})
    config = get_preset(preset, settings, max_size=max_size, seed=seed)
    chosen, fold_of, selection = select_prior_pairs(images, masks, folds=folds, fold=fold, exclude_fold=exclude_fold,
                                                    count=count, seed=seed)
    prior = train_prior(chosen, out, config=config, iters_factor=iters_factor, device=device, resume=resume,
                        overwrite=overwrite, folds=fold_of, selection=selection,
                        classes=parse_classes(classes) if classes else None, channels=channels, bit_depth=bit_depth)
    seen = prior.trained_on["folds_seen"]
    console.print(f"[green]prior written to {out}[/green] ({len(chosen)} pairs"
                  f"{', folds ' + ','.join(map(str, seen)) if seen else ''}; {prior.num_scales} scales, finest "
                  f"{prior.shapes[-1][1]}x{prior.shapes[-1][0]} px)", highlight=False, soft_wrap=True)


@prior_app.command("info")
def prior_info(prior_dir: Path = typer.Argument(..., help="a prior directory")) -> None:
    """Verify a prior and print what trained it."""
    from ..model.prior import load_prior

    prior = load_prior(prior_dir, require_complete=False)
    meta, seen = prior.meta, prior.trained_on
    selection = seen.get("selection") or {}
    ids = ", ".join(seen["ids"][:8]) + (" ..." if len(seen["ids"]) > 8 else "")
    console.print(f"prior {prior_dir}: {meta['trained_scales']} of {prior.num_scales} scales trained, finest "
                  f"{prior.shapes[-1][1]}x{prior.shapes[-1][0]} px, {meta['config']['iters_per_scale']} iterations "
                  f"at the coarsest, weights sha256 {prior.weights_sha256[:16]}...\n"
                  f"trained on {len(seen['ids'])} pairs, folds seen {seen['folds_seen'] or 'none recorded'} "
                  f"(fold {selection.get('fold')}, excluded fold {selection.get('exclude_fold')}, seed "
                  f"{selection.get('seed')}); ids: {ids}",
                  highlight=False, soft_wrap=True)
