"""Sampling new image/mask pairs from a trained model, in memory or into a samples directory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.samples_dir import write_manifest, write_pair_files
from .data.tensors import tensor_to_pairs
from .device import resolve_device
from .errors import InputError, OutputExistsError
from .files import staging_dir
from .model.checkpoint import load_model
from .model.singan import SinGANSeg

log = logging.getLogger("singan_seg")


@dataclass
class Samples:
    """Generated pairs: images (N, H, W, 3) uint8, masks (N, H, W) bool, soft masks (N, H, W) float in [0, 1]."""

    images: np.ndarray
    masks: np.ndarray
    soft_masks: np.ndarray
    seed: int
    start_scale: int
    first_index: int = 0
    variation: float = 1.0

    def __len__(self) -> int:
        return len(self.images)


def _output_size(model: SinGANSeg, height: int | None, width: int | None, scale_h: float | None,
                 scale_w: float | None) -> tuple[float, float]:
    fh, fw = model.shapes[-1]
    if (height or width) and (scale_h or scale_w):
        raise InputError("give either --height/--width or --scale-h/--scale-w, not both")
    for name, value in (("height", height), ("width", width), ("scale_h", scale_h), ("scale_w", scale_w)):
        if value is not None and value <= 0:
            raise InputError(f"{name} should be positive, got {value}")
    sh = height / fh if height else (scale_h or 1.0)
    sw = width / fw if width else (scale_w or 1.0)
    coarsest = min(model.shapes[0][0] * sh, model.shapes[0][1] * sw)
    if coarsest < 2 * model.config.num_layers:  # the critic-free generator still needs a few pixels
        raise InputError(f"output size too small: the coarsest scale would be {coarsest:.0f} px")
    return sh, sw


def sample(model: SinGANSeg | str | Path, num: int = 10, start_scale: int = 0, seed: int = 0,
           height: int | None = None, width: int | None = None, scale_h: float | None = None,
           scale_w: float | None = None, device: str = "auto", first_index: int = 0,
           variation: float | None = None) -> Samples:
    """Draw `num` new pairs from a model (or a model directory).

    Args:
        start_scale: 0 (coarsest; most varied) to num_scales - 1 (closest to the real layout).
        variation: 1 (SinGAN's sampler) down to 0: how far the layout may stray from the real one at start
            scale 0 (README, "generate"): lower gives samples nearer the real image, with masks that fit better.
            None: the model's own default (`config.sample_variation`, saved by its preset), or 1 where that
            cannot apply (a start scale above 0, another output size, a pack without the reconstruction noise).
        seed: sample i is reproducible from (seed, first_index + i) alone.
        height, width / scale_h, scale_w: output size (default: the training size).

    Example:
        >>> s = sample("models/polyp", num=4, seed=1)
        >>> s.images.shape, s.masks.dtype
        ((4, 210, 250, 3), dtype('bool'))
    """
    if isinstance(model, (str, Path)):
        model = load_model(model, resolve_device(device))[0]
    if num < 1:
        raise InputError(f"num should be at least 1, got {num}")
    if seed < 0:
        raise InputError(f"seed should be >= 0, got {seed}")
    if not 0 <= start_scale < model.num_scales:
        raise InputError(f"start scale should be in [0, {model.num_scales - 1}] for this model, got {start_scale}")
    if start_scale > 0 and model.rec_noise is None:
        raise InputError("this model was shared without its reconstruction noise, so only start scale 0 is "
                         "possible (higher start scales replay the real image)")
    sh, sw = _output_size(model, height, width, scale_h, scale_w)
    if variation is None:
        variation = default_variation(model, start_scale, (sh, sw))
    _check_variation(model, variation, start_scale, (sh, sw))
    batch = model.generate(num, start_scale=start_scale, seed=seed, scale_h=sh, scale_w=sw, first_index=first_index,
                           variation=variation)
    images, masks, soft = tensor_to_pairs(batch)
    return Samples(images=images, masks=masks, soft_masks=soft, seed=seed, start_scale=start_scale,
                   first_index=first_index, variation=variation)


def default_variation(model: SinGANSeg, start_scale: int = 0, scale: tuple[float, float] = (1.0, 1.0)) -> float:
    """The variation a model samples with when none is given: its preset's `sample_variation` where it can apply
    (start scale 0, the training size, the reconstruction noise at hand), else 1 (SinGAN's sampler)."""
    wanted = model.config.sample_variation
    if wanted < 1.0 and _variation_problem(model, start_scale, scale) is None:
        return wanted
    return 1.0


def _variation_problem(model: SinGANSeg, start_scale: int, scale: tuple[float, float]) -> str | None:
    """Why a variation below 1 cannot apply, or None."""
    if start_scale > 0:
        return "variation applies to start scale 0; a higher start scale already keeps the real layout"
    if scale != (1.0, 1.0):
        return "variation < 1 needs the training size (it leans on the reconstruction noise, which has that size)"
    if model.rec_noise is None:
        return "this model was shared without its reconstruction noise, so only variation 1 is possible"
    return None


def _check_variation(model: SinGANSeg, variation: float, start_scale: int, scale: tuple[float, float]) -> None:
    if not 0.0 <= variation <= 1.0:
        raise InputError(f"variation should be in [0, 1], got {variation}")
    problem = _variation_problem(model, start_scale, scale) if variation < 1.0 else None
    if problem:
        raise InputError(problem)


def write_samples(samples: Samples, out_dir: str | Path, model_name: str = "", source_id: str = "",
                  soft_masks: bool = False, overwrite: bool = False, stem_prefix: str = "",
                  method: str = "singan-seg") -> Path:
    """Write a samples directory (images/, masks/, manifest.csv) atomically; return its path.

    `method` goes into the manifest's method column (e.g. "patchnn" for the training-free engine)."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise OutputExistsError(out, "files", "choose a new or empty directory, or pass --overwrite")
    prefix = stem_prefix or (f"{source_id}_" if source_id else "")
    rows = []
    with staging_dir(out) as staging:
        for i in range(len(samples)):
            index = samples.first_index + i
            stem = f"{prefix}s{samples.start_scale}_seed{samples.seed}_{index:05d}"
            soft = (samples.soft_masks[i] * 255).round().astype(np.uint8) if soft_masks else None
            row = write_pair_files(staging, stem, samples.images[i], samples.masks[i], soft)
            row.update({"source_id": source_id, "model": model_name, "seed": str(samples.seed),
                        "start_scale": str(samples.start_scale), "method": method, "index": str(index),
                        "variation": f"{samples.variation:g}"})
            rows.append(row)
        write_manifest(staging / "manifest.csv", rows)
    return out


def generate(model_dir: str | Path, out_dir: str | Path, num: int = 10, start_scale: int = 0, seed: int = 0,
             height: int | None = None, width: int | None = None, scale_h: float | None = None,
             scale_w: float | None = None, soft_masks: bool = False, device: str = "auto",
             overwrite: bool = False, variation: float | None = None) -> Path:
    """Load a model directory, sample `num` pairs and write them as a samples directory."""
    model, meta, _ = load_model(model_dir, resolve_device(device))
    samples = sample(model, num=num, start_scale=start_scale, seed=seed, height=height, width=width,
                     scale_h=scale_h, scale_w=scale_w, variation=variation)
    source_id = meta.get("inputs", {}).get("source_id", "")
    return write_samples(samples, out_dir, model_name=Path(model_dir).resolve().name, source_id=source_id,
                         soft_masks=soft_masks, overwrite=overwrite)
