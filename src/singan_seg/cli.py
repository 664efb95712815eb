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


@app.command()
def style(
    samples: Path = typer.Option(..., help="a samples directory written by `generate` (images/, masks/, manifest.csv)"),
    style_image: Path = typer.Option(..., help="the real image whose style the samples get"),
    out: Path = typer.Option(..., help="samples directory to write (same layout; masks copied unchanged)"),
    method: str = typer.Option("gatys", help="gatys (the paper: feature optimisation) or fast (statistics matching, "
                                             "~1 s per 250-px image on 2 CPU cores)"),
    ratio: str = typer.Option("1:1000", help="content:style loss weights (paper: 1:1 and 1:1000)"),
    steps: Optional[int] = typer.Option(None, help="gatys: L-BFGS evaluations (default 1000); fast: rounds (1)"),
    backbone: str = typer.Option("auto", help="auto (vgg19 if its weights are cached, else efficientnet-lite0), "
                                              "vgg19 or efficientnet-lite0"),
    weights: Optional[Path] = typer.Option(None, help="backbone weights file (.safetensors or .pth state_dict)"),
    seed: int = typer.Option(0, help="random seed"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    overwrite: bool = typer.Option(False, help="replace an existing output directory"),
) -> None:
    """Give every sample the style of a real image (Gatys et al. or a fast statistics match)."""
    from .data.samples_dir import read_manifest
    from .style import style_samples_dir

    _setup_logging(False)
    path = style_samples_dir(samples, style_image, out, method=method, ratio=ratio, steps=steps, backbone=backbone,
                             weights=weights, device=device, seed=seed, overwrite=overwrite)
    row = read_manifest(path)[0]
    console.print(f"[green]styled samples written to {path}[/green] (method {row['style_method']}, backbone "
                  f"{row['style_backbone']}, ratio {row['style_ratio']}, steps {row['style_steps']})", highlight=False,
                  soft_wrap=True)


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
