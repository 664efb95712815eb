"""`singan-seg generate --method patchnn`: argument checks and the call, kept out of cli.py."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .patchnn import PatchNNConfig, generate_patchnn_dir


def generate_patchnn_cli(model: Path | str | None, image: Path | None, mask: Path | None, out: Path, num: int,
                         seed: int, max_size: int | None, sized: bool, soft_masks: bool, device: str,
                         overwrite: bool) -> Path:
    """Check that the options fit a training-free run (one-line errors), then write the samples directory.

    `model`: the MODEL_DIR or --pack given, if any (an error here); `sized`: SinGAN size/scale options given."""
    if model is not None:
        raise InputError("--method patchnn trains nothing and takes no MODEL_DIR or --pack; give --image and --mask")
    if image is None or mask is None:
        raise InputError("--method patchnn needs --image IMG and --mask MASK (the real pair to draw patches from)")
    if sized:
        raise InputError("--start-scale, --variation, --height/--width and --scale-h/--scale-w are SinGAN options; "
                         "with --method patchnn use --max-size")
    config = PatchNNConfig() if max_size is None else PatchNNConfig(max_size=max_size)
    return generate_patchnn_dir(image, mask, out, num=num, seed=seed, config=config, soft_masks=soft_masks,
                                device=device, overwrite=overwrite)
