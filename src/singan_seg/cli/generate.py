"""`singan-seg generate`: samples from a trained model, from a pack, or training-free (--method patchnn)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError
from .common import classes_option, console


def generate(
    model_dir: Optional[Path] = typer.Argument(None, help="a model directory written by `train` (or use --pack)"),
    pack: Optional[str] = typer.Option(None, help="a generator pack: folder, archive, file:// or https:// URL"),
    ids: Optional[str] = typer.Option(None, help="with --pack: comma-separated generator ids (default: all)"),
    method: str = typer.Option("singan", help="singan (a trained model), patchnn (training-free, from --image), "
                               "or a baseline: dcgan, progan, fastgan (MODEL_DIR written by `baseline train`)"),
    image: Optional[Path] = typer.Option(None, help="with --method patchnn: the real image"),
    mask: Optional[Path] = typer.Option(None, help="with --method patchnn: its mask"),
    classes: Optional[str] = classes_option(),
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
    """Generate new image/mask pairs from a trained model, from generators in a pack (into OUT/<id>/),
    training-free from one real pair (--method patchnn --image IMG --mask MASK), or from a multi-image baseline
    (--method fastgan MODEL_DIR)."""
    from ..methods import get_method
    from ..sampling import generate as generate_samples

    chosen = get_method(method)  # unknown names: one line listing the methods
    sized = any(v is not None for v in (height, width, scale_h, scale_w)) or start_scale != 0 or variation is not None
    if not chosen.per_pair:  # a multi-image baseline
        from ..baselines import generate_baseline

        if model_dir is None or pack is not None or ids is not None or image is not None or mask is not None \
                or classes is not None \
                or max_size is not None or sized or soft_masks:
            raise InputError(f"--method {method} samples a baseline MODEL_DIR (from `baseline train`) and takes "
                             "only --out, --num, --seed, --device and --overwrite")
        path = generate_baseline(model_dir, out, num=num, seed=seed, device=device, overwrite=overwrite,
                                 arch=method)
        console.print(f"[green]{num} pairs written to {path}[/green]")
        return
    if method == "patchnn":
        path = _generate_patchnn(model_dir or pack, image, mask, out, num=num, seed=seed, max_size=max_size,
                                 sized=sized, soft_masks=soft_masks, device=device, overwrite=overwrite,
                                 classes=classes)
        console.print(f"[green]{num} pairs written to {path}[/green]")
        return
    if image is not None or mask is not None or max_size is not None or classes is not None:
        raise InputError("--image, --mask, --classes and --max-size go with --method patchnn; singan needs MODEL_DIR "
                         "or --pack (a model knows its classes)")
    if (model_dir is None) == (pack is None):
        raise InputError("give either a MODEL_DIR or --pack, not both or neither")
    options = dict(num=num, start_scale=start_scale, seed=seed, height=height, width=width, scale_h=scale_h,
                   scale_w=scale_w, soft_masks=soft_masks, device=device, overwrite=overwrite, variation=variation)
    if pack is not None:
        from ..files import refuse_overlap
        from ..packs import generate_from_pack

        if "://" not in pack:  # a local pack folder or archive: the output must not replace it
            refuse_overlap(out, {"pack": pack})

        id_list = [i.strip() for i in ids.split(",") if i.strip()] if ids else None
        paths = generate_from_pack(pack, out, ids=id_list, **options)
        console.print(f"[green]{num} pairs from each of {len(paths)} generators written to {out}[/green]")
        return
    if ids is not None:
        raise InputError("--ids needs --pack")
    path = generate_samples(model_dir, out, progress=True, **options)
    console.print(f"[green]{num} pairs written to {path}[/green]")


def _generate_patchnn(model: Path | str | None, image: Path | None, mask: Path | None, out: Path, num: int,
                      seed: int, max_size: int | None, sized: bool, soft_masks: bool, device: str,
                      overwrite: bool, classes: str | None = None) -> Path:
    """Check that the options fit a training-free run (one-line errors), then write the samples directory.

    `model`: the MODEL_DIR or --pack given, if any (an error here); `sized`: SinGAN size/scale options given."""
    if model is not None:
        raise InputError("--method patchnn trains nothing and takes no MODEL_DIR or --pack; give --image and --mask")
    if image is None or mask is None:
        raise InputError("--method patchnn needs --image IMG and --mask MASK (the real pair to draw patches from)")
    if sized:
        raise InputError("--start-scale, --variation, --height/--width and --scale-h/--scale-w are SinGAN options; "
                         "with --method patchnn use --max-size")
    from ..engines.patchnn import PatchNNConfig, generate_patchnn_dir
    from ..files import refuse_overlap

    refuse_overlap(out, {"image": image, "mask": mask})

    config = PatchNNConfig() if max_size is None else PatchNNConfig(max_size=max_size)
    return generate_patchnn_dir(image, mask, out, num=num, seed=seed, config=config, soft_masks=soft_masks,
                                device=device, overwrite=overwrite, classes=classes)
