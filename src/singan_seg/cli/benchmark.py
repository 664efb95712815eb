"""`singan-seg benchmark real|fake|real+fake|small-data`: the segmentation benchmark's command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import CLASSES_HELP

app = typer.Typer(no_args_is_help=True, help="Segmentation benchmark (paper Tables 2 and 3): UNet++ trained on "
                                             "real, synthetic or both, tested on the real held-out fold.")


def _run(experiment: str, data: Path, folds: Path, out: Path, synthetic: Optional[Path], protocol: str,
         folds_to_run: Optional[str], epochs: Optional[int], encoder_weights: Optional[Path], seed: int,
         device: str, classes: Optional[str] = None, sources: Optional[int] = None,
         epoch_pairs: Optional[int] = None) -> None:
    from rich.console import Console

    from ..data.modality import parse_classes
    from ..errors import InputError
    from ..segment.experiments import run_benchmark

    try:
        chosen = [int(k) for k in folds_to_run.split(",")] if folds_to_run else None
    except ValueError:
        raise InputError(f"--folds-to-run should be comma-separated fold numbers, got {folds_to_run!r}") from None
    try:
        parsed = parse_classes(classes) if classes is not None else None
    except InputError as exc:
        raise InputError(f"--classes: {exc.problem}", exc.path) from None
    console = Console(stderr=True)
    entry = run_benchmark(experiment, data, folds, out, synthetic=synthetic, protocol=protocol, folds_to_run=chosen,
                          epochs=epochs, encoder_weights=encoder_weights, seed=seed, device=device, classes=parsed,
                          sources=sources, epoch_pairs=epoch_pairs)  # Ctrl-C: finished epochs are kept (main())
    for name, run in entry["runs"].items():
        m = run["metrics"]
        console.print(f"{experiment} {name}: IoU {m['iou']:.4f}  F-score {m['f_score']:.4f}  Dice loss "
                      f"{m['dice_loss']:.4f}  (best epoch {run['best_epoch'] + 1}, "
                      f"{run['train_pairs']} training pairs)",
                      highlight=False)
        if "per_class" in m:
            per_class = "  ".join(f"{name} IoU {values['iou']:.4f}" for name, values in m["per_class"].items())
            console.print(f"  {per_class}", highlight=False)
    console.print(f"[green]results in {out}/results.json, results.md, iou.png[/green]")


def _command(experiment: str, needs_synthetic: bool):
    def command(
        data: Path = typer.Option(..., help="real pairs: DATA/images and DATA/masks, paired by stem"),
        folds: Path = typer.Option(..., help="folds.csv (id,fold) for every real pair"),
        out: Path = typer.Option(..., help="results folder (runs resume from it)"),
        synthetic: Optional[Path] = typer.Option(None, help="build-dataset folder or exported set"
                                                 + (" (required)" if needs_synthetic else
                                                    " (with --sources: draw only sources it holds samples of)")),
        protocol: str = typer.Option("quick", help="quick (2 CPU cores) or paper (se_resnext50_32x4d, 300 epochs)"),
        folds_to_run: Optional[str] = typer.Option(None, help="test folds to run, e.g. 0,1,2 (default: all)"),
        epochs: Optional[int] = typer.Option(None, help="override the protocol's epochs (lr drop scales along)"),
        encoder_weights: Optional[Path] = typer.Option(None, help="encoder weights file (.safetensors or .pth "
                                                       "state_dict), e.g. ImageNet se_resnext50_32x4d for paper"),
        seed: int = typer.Option(0, help="random seed (model init, batch order, augmentation, small-data subsets)"),
        device: str = typer.Option("auto", help="auto, cpu or cuda"),
        classes: Optional[str] = typer.Option(None, "--classes", help=CLASSES_HELP + "; synthetic sets must "
                                              "declare the same classes (their modality.json)"),
        sources: Optional[int] = typer.Option(None, help="train on N source pairs only (a seeded draw from the "
                                              "training folds; the sources curve)", hidden=experiment == "small-data"),
        epoch_pairs: Optional[int] = typer.Option(None, help="an epoch draws exactly this many pairs (small sets "
                                                  "repeat, large ones are subsampled): equal steps for every run"),
    ) -> None:
        _run(experiment, data, folds, out, synthetic, protocol, folds_to_run, epochs, encoder_weights, seed, device,
             classes, sources, epoch_pairs)

    command.__doc__ = {"real": "Train on the real pairs of the other folds, test on each fold.",
                       "fake": "Train on synthetic pairs made from the other folds only, test on each real fold.",
                       "real+fake": "Train on real and synthetic pairs of the other folds, test on each fold.",
                       "small-data": "R = 5..50 real pairs of the first fold vs 10 synthetic per real one "
                                     "(paper Table 3); --folds-to-run K tests on fold K and draws from the "
                                     "others."}[experiment]
    return command


for _name in ("real", "fake", "real+fake", "small-data"):
    app.command(_name)(_command(_name, _name != "real"))
