"""`singan-seg style`: give samples the style of their real image."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import console, setup_logging


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
    from ..data.samples_dir import read_manifest
    from ..style import style_samples_dir

    setup_logging(False)
    path = style_samples_dir(samples, style_image, out, method=method, ratio=ratio, steps=steps, backbone=backbone,
                             weights=weights, device=device, seed=seed, overwrite=overwrite)
    row = read_manifest(path)[0]
    console.print(f"[green]styled samples written to {path}[/green] (method {row['style_method']}, backbone "
                  f"{row['style_backbone']}, ratio {row['style_ratio']}, steps {row['style_steps']})", highlight=False,
                  soft_wrap=True)
