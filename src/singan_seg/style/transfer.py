"""Public style-transfer API: arrays in memory (`transfer_style`) and samples directories (`style_samples_dir`).

Only the RGB image changes; outputs have the content's size, and in a samples directory every mask file is
copied byte for byte. The style (real) image is resized to each content image's size before its statistics
are taken, as in the paper, where real and synthetic images share a size.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.nn import functional as F

from ..data.images import read_rgb
from ..data.samples_dir import check_samples_out, load_sample, png_bytes, read_manifest, write_manifest
from ..device import resolve_device
from ..errors import InputError
from ..files import refuse_overlap, sha256_bytes, sha256_file, staging_dir
from .backbones import Backbone, check_backbone_name, load_backbone
from .fast import fast_transfer
from .gatys import gatys_transfer

METHODS = ("gatys", "fast")
DEFAULT_STEPS = {"gatys": 1000, "fast": 1}  # gatys: the paper's 1000 epochs; fast: histogram-matching rounds
DEFAULT_RATIO = "1:1000"


@dataclass(frozen=True)
class StyleSettings:
    """What a transfer ran with; recorded in the manifest of every styled file."""

    method: str
    ratio: str
    steps: int
    backbone: str
    weights: str
    weights_sha256: str
    seed: int
    device: str

    def manifest_columns(self) -> dict[str, str]:
        return {"style_method": self.method, "style_ratio": self.ratio, "style_steps": str(self.steps),
                "style_backbone": self.backbone, "style_weights": self.weights,
                "style_weights_sha256": self.weights_sha256, "style_seed": str(self.seed),
                "style_device": self.device}


def parse_ratio(ratio: str | tuple[float, float]) -> tuple[float, float]:
    """'1:1000' -> (1.0, 1000.0): content weight, style weight (both finite and > 0)."""
    if isinstance(ratio, str):
        parts = ratio.split(":")
        try:
            weights = tuple(float(p) for p in parts) if len(parts) == 2 else ()
        except ValueError:
            weights = ()
    else:
        weights = tuple(float(r) for r in ratio)
    if len(weights) != 2 or not all(math.isfinite(w) and w > 0 for w in weights):
        raise InputError(f"ratio should be CONTENT:STYLE with two positive numbers, e.g. 1:1000; got {ratio!r}")
    return weights  # type: ignore[return-value]


def load_style_image(path: str | Path) -> np.ndarray:
    """The style image as (H, W, 3) uint8 RGB; a missing or unreadable file is a one-line InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError("style image not found", path)
    return read_rgb(path, "style image")


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.array(image)).to(device).permute(2, 0, 1)[None].float().contiguous() / 255


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) uint8."""
    return (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()


class Stylist:
    """A style image, a backbone and settings, ready to style content images one at a time.

    Args:
        style_image: (H, W, 3) uint8 RGB, or a path to one.
        method: "gatys" (the paper's optimisation) or "fast" (colour and pyramid-band statistics matching;
            uses no network, so `ratio`, `backbone` and `weights` do not affect it).
        ratio: content:style weights, "1:1000" or (1, 1000).
        steps: gatys: L-BFGS loss evaluations (default 1000); fast: matching rounds (default 1).
        backbone: a registry name ("auto", "vgg19", "efficientnet-lite0") or a built `Backbone`.
        weights: weights file for the named backbone (checksum recorded).
        device: "auto", "cpu" or "cuda".
        seed: seeds torch's generators during each transfer, so reruns give the same result.
    """

    def __init__(self, style_image: np.ndarray | str | Path, method: str = "gatys",
                 ratio: str | tuple[float, float] = DEFAULT_RATIO, steps: int | None = None,
                 backbone: str | Backbone = "auto", weights: str | Path | None = None, device: str = "auto",
                 seed: int = 0):
        if method not in METHODS:
            raise InputError(f"unknown style method {method!r}; choose one of {list(METHODS)}")
        steps = DEFAULT_STEPS[method] if steps is None else steps
        if steps < (1 if method == "gatys" else 0):
            raise InputError(f"steps should be at least {1 if method == 'gatys' else 0} for {method}, got {steps}")
        self.content_weight, self.style_weight = parse_ratio(ratio)
        self.device = resolve_device(device)
        if isinstance(style_image, (str, Path)):
            style_image = load_style_image(style_image)
        self.style = _to_tensor(style_image, self.device)
        if method == "fast":  # pixel statistics only: no network needed
            check_backbone_name(backbone)
            if weights is not None:
                raise InputError("method fast uses no network, so a weights file has no effect; drop --weights",
                                 weights)
            self.backbone, name, weights_file, weights_sha = None, "none", "", ""
        else:
            if isinstance(backbone, str):
                backbone = load_backbone(backbone, weights, self.device)
            self.backbone = backbone.to(self.device)
            name, weights_file, weights_sha = backbone.name, backbone.weights, backbone.weights_sha256
        ratio_text = f"{self.content_weight:g}:{self.style_weight:g}" if method == "gatys" else "n/a"
        self.settings = StyleSettings(method, ratio_text, steps, name, weights_file, weights_sha, seed,
                                      str(self.device))

    def __call__(self, content: np.ndarray, on_step: Callable[[], None] | None = None) -> np.ndarray:
        """Style one (H, W, 3) uint8 image; returns (H, W, 3) uint8. `on_step` is called after each step."""
        if content.ndim != 3 or content.shape[2] != 3 or content.dtype != np.uint8:
            raise InputError(f"content images should be (H, W, 3) uint8, got {content.shape} {content.dtype}")
        x = _to_tensor(content, self.device)
        style = F.interpolate(self.style, size=x.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
        s = self.settings
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(s.seed)
            if s.method == "gatys":
                out = gatys_transfer(self.backbone, x, style, self.content_weight, self.style_weight, s.steps,
                                     on_step).image
            else:
                out = fast_transfer(x, style, s.steps)
        return _to_uint8(out)


def _progress(enabled: bool) -> Progress | nullcontext:
    if not enabled:
        return nullcontext()
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("left"), TimeRemainingColumn())


def _run_batch(stylist: Stylist, images: Sequence[np.ndarray], progress: bool,
               label: str = "style") -> Iterator[np.ndarray]:
    """Yield the styled images in order, with a rich progress bar counting optimisation steps."""
    per_image = max(stylist.settings.steps, 1)
    with _progress(progress) as bar:
        task = bar.add_task(label, total=per_image * len(images)) if bar else None
        for i, image in enumerate(images):
            if bar:
                bar.update(task, description=f"{label} {i + 1}/{len(images)}")
            styled = stylist(image, on_step=(lambda: bar.advance(task)) if bar else None)
            if bar:
                bar.update(task, completed=(i + 1) * per_image)
            yield styled


def transfer_style(content_images: np.ndarray | Sequence[np.ndarray], style_image: np.ndarray | str | Path,
                   method: str = "gatys", ratio: str | tuple[float, float] = DEFAULT_RATIO, steps: int | None = None,
                   backbone: str | Backbone = "auto", weights: str | Path | None = None, device: str = "auto",
                   seed: int = 0, progress: bool = False) -> np.ndarray | list[np.ndarray]:
    """Give one or many synthetic images the style of one real image (RGB only; sizes kept).

    Args:
        content_images: (H, W, 3) uint8, (N, H, W, 3) uint8, or a list of (H_i, W_i, 3) uint8 arrays.
        style_image: the real image, (H, W, 3) uint8 or a path; resized to each content image's size.
        method, ratio, steps, backbone, weights, device, seed: see `Stylist`.
        progress: show a progress bar.

    Returns:
        The styled images in the same form as `content_images` (array of the same shape, or a list).

    Example:
        >>> styled = transfer_style(samples.images, "real.jpg", method="fast")
        >>> styled.shape == samples.images.shape
        True
    """
    stylist = Stylist(style_image, method, ratio, steps, backbone, weights, device, seed)
    if isinstance(content_images, np.ndarray) and content_images.ndim == 3:
        return next(_run_batch(stylist, [content_images], progress))
    styled = list(_run_batch(stylist, list(content_images), progress))
    return np.stack(styled) if isinstance(content_images, np.ndarray) else styled


def _check_rows(samples_dir: Path, rows: list[dict[str, str]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Load every pair, checking the manifest agrees with the files (sizes, unique stems)."""
    manifest = samples_dir / "manifest.csv"
    if not rows:
        raise InputError("manifest lists no samples", manifest)
    stems = [row["stem"] for row in rows]
    if len(set(stems)) != len(stems):
        raise InputError("manifest lists a stem twice", manifest)
    listed = {row["image"] for row in rows}
    unlisted = sorted(name for name in (f"images/{p.name}" for p in (samples_dir / "images").iterdir())
                      if name not in listed)
    if unlisted:
        raise InputError(f"{unlisted[0]} is not in the manifest (manifest and images/ disagree)", manifest)
    pairs = []
    for row in rows:
        image, mask = load_sample(samples_dir, row)  # an unreadable file is a one-line InputError naming it
        expected = (row.get("height"), row.get("width"))
        if image.shape[:2] != mask.shape or (all(expected) and tuple(map(str, image.shape[:2])) != expected):
            raise InputError(f"{row['image']} is {image.shape[1]}x{image.shape[0]} px but its mask or the manifest "
                             f"says otherwise", manifest)
        pairs.append((image, mask))
    return pairs


def style_samples_dir(samples_dir: str | Path, style_image: str | Path, out_dir: str | Path,
                      method: str = "gatys", ratio: str | tuple[float, float] = DEFAULT_RATIO,
                      steps: int | None = None, backbone: str | Backbone = "auto", weights: str | Path | None = None,
                      device: str = "auto", seed: int = 0, overwrite: bool = False, progress: bool = True) -> Path:
    """Style every image of a samples directory with one real image; write a new samples directory.

    The output has the same layout (images/, masks/, manifest.csv, soft_masks/ if present); masks are copied
    byte for byte, and the manifest gains style_* columns (method, ratio, steps, backbone, weights and their
    sha256, style image and its sha256, seed, device). Everything is checked before anything is written, and
    the directory is written atomically: on any error nothing is left at `out_dir`.

    Args:
        samples_dir: a `generate` output.
        style_image: the real image (PNG/JPEG).
        out_dir: the samples directory to write (must be new or empty unless `overwrite`).
        method, ratio, steps, backbone, weights, device, seed: see `Stylist`.
        overwrite: replace an existing `out_dir`.
        progress: show a progress bar.
    """
    samples_dir, out = Path(samples_dir), Path(out_dir)
    rows = read_manifest(samples_dir, verify=True)
    pairs = _check_rows(samples_dir, rows)
    refuse_overlap(out, {"samples directory": samples_dir})
    check_samples_out(out, overwrite)
    stylist = Stylist(style_image, method, ratio, steps, backbone, weights, device, seed)
    extra = {**stylist.settings.manifest_columns(), "style_image": str(style_image),
             "style_image_sha256": sha256_file(style_image)}
    with staging_dir(out) as staging:
        (staging / "images").mkdir()
        styled = _run_batch(stylist, [image for image, _ in pairs], progress)
        new_rows = []
        for row, image in zip(rows, styled):
            data = png_bytes(image)
            (staging / row["image"]).parent.mkdir(parents=True, exist_ok=True)
            (staging / row["image"]).write_bytes(data)
            (staging / row["mask"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(samples_dir / row["mask"], staging / row["mask"])
            new_rows.append({**row, "image_sha256": sha256_bytes(data), **extra})
        if (samples_dir / "soft_masks").is_dir():
            shutil.copytree(samples_dir / "soft_masks", staging / "soft_masks")
        write_manifest(staging / "manifest.csv", new_rows)
    return out
