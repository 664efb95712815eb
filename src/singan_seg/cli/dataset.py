"""`singan-seg build-dataset`, `export` and `data folds|kvasir-seg|nifti`: whole datasets from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..config import DEFAULT_PRESET, PRESETS
from .common import bit_depth_option, channels_option, classes_option, console


def build_dataset(
    images: Path = typer.Option(..., help="folder of real images"),
    masks: Path = typer.Option(..., help="folder of masks, paired with images by file stem"),
    out: Path = typer.Option(..., help="dataset folder to write (re-run the same command to resume)"),
    folds: Optional[Path] = typer.Option(None, help="CSV id,fold; samples keep their source's fold"),
    classes: Optional[str] = classes_option(),
    channels: Optional[int] = channels_option(),
    bit_depth: Optional[int] = bit_depth_option(),
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
    threads: Optional[int] = typer.Option(None, help="torch threads per job (default: free cores // workers; ray: 2)"),
    backend: str = typer.Option("local", help="local or ray"),
    ray_address: Optional[str] = typer.Option(None, help="address of a running Ray cluster"),
    limit: Optional[int] = typer.Option(None, help="only the first M pairs (by id)"),
    exclude_fold: Optional[int] = typer.Option(None, help="build nothing for this fold's pairs (when only the runs "
                                               "tested on it are wanted: saves 1/k of the work)"),
    dry_run: bool = typer.Option(False, help="validate, print the plan and a cost estimate measured here"),
    overwrite: bool = typer.Option(False, help="rebuild a dataset made with other settings"),
    device: str = typer.Option("cpu", help="auto, cpu or cuda"),
    batch_models: int = typer.Option(1, help="train K generators at once (train-many; for GPUs), then sample"),
    prior: list[str] = typer.Option([], "--prior", help="warm-start the generators from a domain prior: FOLD=DIR "
                                    "for that fold's sources (repeat per fold; each trained with `prior train --fold "
                                    "FOLD`), or DIR for all; one that saw another fold's image is refused"),
) -> None:
    """Train a generator per real pair, generate and style samples, keep folds; resumable."""
    from ..device import resolve_device
    from ..pipeline import DatasetSettings
    from ..pipeline import build_dataset as build

    settings = DatasetSettings(preset=preset, max_size=max_size, iters_per_scale=iters, per_image=per_image,
                               start_scale=start_scale, variation=variation, seed=seed, style=style,
                               style_steps=style_steps, method=method, train_settings=",".join(train_settings),
                               classes=classes or "", channels=channels, bit_depth=bit_depth)
    result = build(images, masks, out, folds=folds, settings=settings, workers=workers, backend=backend,
                   ray_address=ray_address, limit=limit, dry_run=dry_run, overwrite=overwrite,
                   device=str(resolve_device(device)), threads=threads, batch_models=batch_models, priors=prior,
                   exclude_fold=exclude_fold)
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


def export(
    dataset: Path = typer.Argument(..., help="a folder written by build-dataset"),
    out: Path = typer.Option(..., help="samples folder to write (images/, masks/, manifest.csv)"),
    exclude_fold: Optional[int] = typer.Option(None, help="leave out samples whose source is in this fold"),
    per_image: Optional[int] = typer.Option(None, help="only the first N samples of each real pair (FAKE-N)"),
    limit: Optional[int] = typer.Option(None, help="only the first M real pairs (by id) that have samples, e.g. a "
                                        "fixed set from a build still running"),
    overwrite: bool = typer.Option(False, help="replace an existing folder"),
) -> None:
    """Export a training set of synthetic pairs, without the samples made from one fold's images."""
    from ..pipeline import build_progress, export_training_set

    count = export_training_set(dataset, out, exclude_fold=exclude_fold, overwrite=overwrite, per_image=per_image,
                                limit=limit)
    console.print(f"[green]{count} pairs written to {out}[/green]")
    progress = build_progress(dataset)
    if progress and progress[0] < progress[1] and limit is None:
        console.print(f"[yellow]the build is unfinished: {progress[0]} of its {progress[1]} real pairs have "
                      "samples, and the export holds theirs only (re-run build-dataset to go on)[/yellow]")


data_app = typer.Typer(no_args_is_help=True, help="Dataset helpers.")


@data_app.command("folds")
def data_folds(
    images: Path = typer.Option(..., help="folder of images (ids are file stems)"),
    out: Path = typer.Option(..., help="CSV to write (id,fold)"),
    k: int = typer.Option(3, help="number of folds"),
    seed: int = typer.Option(0, help="random seed"),
) -> None:
    """Make a k-fold split of a folder's images, like the shared Kvasir-SEG folds.csv."""
    from ..data.dataset import images_by_stem, make_folds, write_folds

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
    from ..data.kvasir import KVASIR_SEG_URL, TERMS, fetch_kvasir_seg

    path = fetch_kvasir_seg(dest, url=url or KVASIR_SEG_URL, sha256=sha256, trust_unverified=trust_unverified,
                            overwrite=overwrite)
    source = json.loads((path / "SOURCE.json").read_text())
    console.print(f"[green]{source['pairs']} pairs in {path}[/green]; archive sha256 {source['sha256']}\n{TERMS}")


@data_app.command("nifti")
def data_nifti(
    image: Path = typer.Argument(..., help="image volume (NIfTI .nii / .nii.gz)"),
    labels: Path = typer.Argument(..., help="label volume on the same voxel grid (integer labels, 0 = background)"),
    out: Path = typer.Option(..., help="folder to write (images/, masks/, slices.csv, volume.json)"),
    axis: int = typer.Option(2, help="axis of the RAS-reoriented volume: 2 axial, 1 coronal, 0 sagittal"),
    slice_: list[int] = typer.Option([], "--slice", help="slice index to write (repeatable; default: every slice "
                                     "with foreground)"),
    window: Optional[str] = typer.Option(None, help="LOW,HIGH (e.g. -160,240 for abdominal CT) or percentile "
                                         "(0.5..99.5 of nonzero voxels); default: the volume's min..max"),
    bit_depth: int = typer.Option(16, "--bit-depth", help="image PNGs: 16 or 8 bits (masks keep the label values)"),
    overwrite: bool = typer.Option(False, help="replace an existing slices folder"),
) -> None:
    """2D image/mask PNG pairs from a CT/MRI volume and its labels (needs the optional nibabel package)."""
    from ..data.volumes import classes_spec, nifti_slices, parse_window

    path = nifti_slices(image, labels, out, axis=axis, slices=slice_ or "foreground",
                        window=None if window is None else parse_window(window), bit_depth=bit_depth,
                        overwrite=overwrite)
    info = json.loads((path / "volume.json").read_text())
    win = info["window"]
    console.print(f"[green]wrote {len(info['slices'])} slices[/green] (axis {axis} {info['plane']}, "
                  f"{info['bit_depth']}-bit, window {win['low']:g}..{win['high']:g}: {win['rule']}) to {path}",
                  highlight=False)
    found = [v for v in info["labels"] if v != 0]
    pixels = ", ".join(f"{v} ({info['label_pixels'][str(v)]} px)" for v in found) or "none (background only)"
    console.print(f"labels found: {pixels}", highlight=False)
    if found:
        console.print(f"train with: --classes {classes_spec(info['labels'])} (rename the classes as you like)",
                      highlight=False, soft_wrap=True)
