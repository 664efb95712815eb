"""Sampling new image/mask pairs from a trained model, in memory or into a samples directory."""

from __future__ import annotations

import contextlib
import csv
import itertools
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.modality import RGB_BINARY, Modality
from .data.samples_dir import MANIFEST_COLUMNS, check_samples_out, write_modality_file, write_pair_files
from .data.tensors import tensor_to_pairs
from .device import resolve_device
from .errors import InputError
from .files import refuse_overlap, staging_dir
from .model.checkpoint import load_model
from .model.singan import SinGANSeg

log = logging.getLogger("singan_seg")

# Output size limits: beyond them one sample's activations alone need gigabytes. Raise them here if you must.
MAX_OUTPUT_SIDE = 4096  # px, either side
MAX_OUTPUT_PIXELS = 2048 * 2048  # px in all (height x width)
# Samples drawn in one pass of the generators: 8, fewer for large outputs (about this many output pixels a pass).
BATCH_PIXELS = 8 * 512 * 512
# `generate` writes in chunks of about this many output pixels, so memory does not grow with --num.
CHUNK_PIXELS = 16 * 2**20


@dataclass
class Samples:
    """Generated pairs: images (N, H, W, C) uint8 (uint16 at 16 bits), masks (N, H, W) bool (uint8 class indices
    for multi-class masks), soft masks (N, H, W) float in [0, 1]. The default modality: RGB and binary masks."""

    images: np.ndarray
    masks: np.ndarray
    soft_masks: np.ndarray
    seed: int
    start_scale: int
    first_index: int = 0
    variation: float = 1.0
    modality: Modality = RGB_BINARY

    def __len__(self) -> int:
        return len(self.images)


def _output_size(model: SinGANSeg, height: int | None, width: int | None, scale_h: float | None,
                 scale_w: float | None) -> tuple[float, float]:
    fh, fw = model.shapes[-1]
    if (height or width) and (scale_h or scale_w):
        raise InputError("give either --height/--width or --scale-h/--scale-w, not both")
    for name, value in (("height", height), ("width", width), ("scale_h", scale_h), ("scale_w", scale_w)):
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise InputError(f"{name} should be positive, got {value}")
    sh = height / fh if height else (scale_h or 1.0)
    sw = width / fw if width else (scale_w or 1.0)
    out_h, out_w = max(1, round(fh * sh)), max(1, round(fw * sw))
    if max(out_h, out_w) > MAX_OUTPUT_SIDE or out_h * out_w > MAX_OUTPUT_PIXELS:
        raise InputError(f"output size {out_w}x{out_h} px is too large: the limit is {MAX_OUTPUT_SIDE} px per side "
                         f"and {MAX_OUTPUT_PIXELS} px in all (e.g. {math.isqrt(MAX_OUTPUT_PIXELS)}x"
                         f"{math.isqrt(MAX_OUTPUT_PIXELS)}); lower --height/--width or --scale-h/--scale-w")
    coarsest = min(model.shapes[0][0] * sh, model.shapes[0][1] * sw)
    if coarsest < 2 * model.config.num_layers:  # the critic-free generator still needs a few pixels
        raise InputError(f"output size too small: the coarsest scale would be {coarsest:.0f} px")
    return sh, sw


def _output_pixels(model: SinGANSeg, scale: tuple[float, float]) -> int:
    fh, fw = model.shapes[-1]
    return max(1, round(fh * scale[0])) * max(1, round(fw * scale[1]))


def _batch_size(pixels: int) -> int:
    """Samples per pass of the generators: 8 up to 512 x 512 px, fewer above (their activations dominate)."""
    return max(1, min(8, BATCH_PIXELS // pixels))


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
                           variation=variation, batch_size=_batch_size(_output_pixels(model, (sh, sw))))
    images, masks, soft = tensor_to_pairs(batch, model.modality)
    return Samples(images=images, masks=masks, soft_masks=soft, seed=seed, start_scale=start_scale,
                   first_index=first_index, variation=variation, modality=model.modality)


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

    `method` goes into the manifest's method column (e.g. "patchnn" for the training-free engine).
    `overwrite` replaces an existing samples directory (never a file, nor a folder that is not one)."""
    return _write_chunks([samples], len(samples), out_dir, model_name=model_name, source_id=source_id,
                         soft_masks=soft_masks, overwrite=overwrite, stem_prefix=stem_prefix, method=method)


def _write_chunks(chunks: Iterable[Samples], total: int, out_dir: str | Path, model_name: str = "",
                  source_id: str = "", soft_masks: bool = False, overwrite: bool = False, stem_prefix: str = "",
                  method: str = "singan-seg", progress: bool = False) -> Path:
    """Write `total` samples arriving in chunks into a samples directory, streaming (one chunk in memory at a
    time, the manifest written row by row); atomic: on any error nothing is left at `out_dir`."""
    out = Path(out_dir)
    check_samples_out(out, overwrite)
    prefix = stem_prefix or (f"{source_id}_" if source_id else "")
    try:
        with staging_dir(out) as staging, _progress_bar(total, progress) as advance, \
                open(staging / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
            writer = None
            for samples in chunks:
                write_modality_file(staging, samples.modality)
                for i in range(len(samples)):
                    index = samples.first_index + i
                    stem = f"{prefix}s{samples.start_scale}_seed{samples.seed}_{index:05d}"
                    soft = (samples.soft_masks[i] * 255).round().astype(np.uint8) if soft_masks else None
                    row = write_pair_files(staging, stem, samples.images[i], samples.masks[i], soft, samples.modality)
                    row.update({"source_id": source_id, "model": model_name, "seed": str(samples.seed),
                                "start_scale": str(samples.start_scale), "method": method, "index": str(index),
                                "variation": f"{samples.variation:g}"})
                    writer = writer or _manifest_writer(handle, row)
                    writer.writerow({key: row.get(key, "") for key in writer.fieldnames})
                advance(len(samples))
            if writer is None:
                _manifest_writer(handle, {})
    except OSError as exc:  # a read-only folder, a full disk: the staging folder is gone, `out` untouched
        raise InputError(f"cannot write the samples directory: {exc.strerror or exc} (nothing was written)",
                         out) from None
    return out


def _manifest_writer(handle, first_row: dict[str, str]) -> csv.DictWriter:
    """A manifest writer with its header written: the standard columns, then the rows' own (as write_manifest;
    every row of a samples directory written here has the same columns)."""
    columns = MANIFEST_COLUMNS + [key for key in first_row if key not in MANIFEST_COLUMNS]
    writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    return writer


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`: a rich progress bar of samples written, or nothing when not `enabled`."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress("writing samples", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), "left",
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("samples", total=total)
        yield lambda n: bar.advance(task, n)


def generate(model_dir: str | Path, out_dir: str | Path, num: int = 10, start_scale: int = 0, seed: int = 0,
             height: int | None = None, width: int | None = None, scale_h: float | None = None,
             scale_w: float | None = None, soft_masks: bool = False, device: str = "auto",
             overwrite: bool = False, variation: float | None = None, chunk_size: int | None = None,
             progress: bool = False) -> Path:
    """Load a model directory, sample `num` pairs and write them as a samples directory.

    Samples are drawn and written `chunk_size` at a time (default: about CHUNK_PIXELS output pixels; rounded up to
    whole batches of the generators), so any `num` fits in memory; sample i depends only on (seed, i), so the
    files do not depend on the chunk size.
    The output may not be, hold or lie inside the model directory. `progress` shows a progress bar."""
    model, meta, _ = load_model(model_dir, resolve_device(device))
    refuse_overlap(out_dir, {"model directory": model_dir})
    inputs = meta.get("inputs", {})
    source_id = inputs.get("source_id", "") if isinstance(inputs, dict) else ""
    return write_model_samples(model, out_dir, num=num, start_scale=start_scale, seed=seed, height=height,
                               width=width, scale_h=scale_h, scale_w=scale_w, variation=variation,
                               model_name=Path(model_dir).resolve().name, source_id=str(source_id or ""),
                               soft_masks=soft_masks, overwrite=overwrite, chunk_size=chunk_size, progress=progress)


def write_model_samples(model: SinGANSeg, out_dir: str | Path, num: int = 10, start_scale: int = 0, seed: int = 0,
                        height: int | None = None, width: int | None = None, scale_h: float | None = None,
                        scale_w: float | None = None, variation: float | None = None, model_name: str = "",
                        source_id: str = "", soft_masks: bool = False, overwrite: bool = False,
                        chunk_size: int | None = None, progress: bool = False) -> Path:
    """`sample` + `write_samples` for any `num`: the samples are drawn and written `chunk_size` at a time
    (default: about CHUNK_PIXELS output pixels), so memory does not grow with `num`; the files are those of
    `write_samples(sample(model, num, ...))`. Every option is checked before anything is written."""
    check_samples_out(out_dir, overwrite)  # before the work: the same check runs again when writing
    if num < 1:
        raise InputError(f"num should be at least 1, got {num}")
    if chunk_size is not None and chunk_size < 1:
        raise InputError(f"chunk_size should be at least 1, got {chunk_size}")
    options = dict(start_scale=start_scale, seed=seed, height=height, width=width, scale_h=scale_h,
                   scale_w=scale_w, variation=variation)
    pixels = _output_pixels(model, _output_size(model, height, width, scale_h, scale_w))
    batch = _batch_size(pixels)
    # Whole batches only: the generators then run on exactly the batches one unchunked pass would give them
    # (convolutions' float rounding may depend on the batch size on some CPUs).
    chunks = max(1, CHUNK_PIXELS // pixels // batch) if chunk_size is None else -(-chunk_size // batch)
    chunk_size = chunks * batch
    first = sample(model, num=min(chunk_size, num), **options)  # checks every option before anything is written
    rest = (sample(model, num=min(chunk_size, num - start), first_index=start, **options)
            for start in range(chunk_size, num, chunk_size))
    return _write_chunks(itertools.chain([first], rest), num, out_dir, model_name=model_name, source_id=source_id,
                         soft_masks=soft_masks, overwrite=overwrite, progress=progress)
