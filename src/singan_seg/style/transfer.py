"""Public style-transfer API: arrays in memory (`transfer_style`) and samples directories (`style_samples_dir`).

Only the image changes; outputs have the content's size, channels and bit depth, and in a samples directory
every mask file is copied byte for byte. The style (real) image is converted to the content's channels and bit
depth (gray <-> RGB, 8 <-> 16 bits, as `data.pairs.shape_image` does) and resized to each content image's size
before its statistics are taken, as in the paper, where real and synthetic images share a size.

Per channel count: `fast` works on any number of channels (C x C covariance; gray = mean/sd matching); `gatys`
needs what its RGB network can see, so gray images go through it replicated to RGB and come back as the mean of
the three channels, and any other channel count is refused (use `fast`). Pixels are floats in [0, 1] whatever
the bit depth (v / 255 or v / 65535): 16-bit images reach the network on the same scale as 8-bit ones and are
written back at 16 bits.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.nn import functional as F

from ..data.images import read_pixels
from ..data.modality import Modality, encode_image, image_suffix
from ..data.pairs import shape_image
from ..data.samples_dir import (check_samples_out, load_sample, read_manifest, read_samples_modality, write_manifest,
                                write_modality_file)
from ..device import resolve_device
from ..errors import InputError
from ..files import refuse_overlap, sha256_bytes, sha256_file, staging_dir
from .backbones import Backbone, check_backbone_name, load_backbone
from .fast import fast_transfer
from .gatys import gatys_transfer

METHODS = ("gatys", "fast")
DEFAULT_STEPS = {"gatys": 1000, "fast": 1}  # gatys: the paper's 1000 epochs; fast: histogram-matching rounds
DEFAULT_RATIO = "1:1000"
GATYS_CHANNELS = (1, 3)  # what an RGB feature network can see: RGB, or gray replicated to RGB


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


def _describe_format(channels: int, bit_depth: int) -> str:
    """'grayscale 16-bit', 'RGB 8-bit', '2-channel 16-bit' (as `Modality.describe` names images)."""
    kind = {1: "grayscale", 3: "RGB"}.get(channels, f"{channels}-channel")
    return f"{kind} {bit_depth}-bit"


def check_gatys_channels(channels: int, path: str | Path | None = None) -> None:
    """Refuse gatys for images its RGB network cannot see (neither gray nor RGB), pointing to the fast method."""
    if channels not in GATYS_CHANNELS:
        raise InputError(f"method gatys needs 1- or 3-channel images (its network sees RGB) but these have {channels} "
                         "channels; use --method fast", path)


def shape_style_image(pixels: np.ndarray, channels: int | None, bit_depth: int | None,
                      path: str | Path | None = None) -> np.ndarray:
    """Style pixels -> (H, W, C) at the content's channels and bit depth (None: keep), or a one-line InputError
    naming the style image when they cannot be converted (only gray <-> RGB and 8 <-> 16 bits are)."""
    try:
        return shape_image(pixels, "style image", channels, bit_depth)
    except InputError as exc:
        target = _describe_format(channels or pixels.shape[-1], bit_depth or pixels.dtype.itemsize * 8)
        raise InputError(f"style image cannot be converted to the content's {target} images: {exc.problem}",
                         path) from None


def load_style_image(path: str | Path, channels: int = 3, bit_depth: int = 8) -> np.ndarray:
    """The style image as (H, W, channels) at `bit_depth` (default RGB 8-bit); a missing, unreadable or
    unconvertible file is a one-line InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError("style image not found", path)
    pixels, _ = read_pixels(path, "style image")
    return shape_style_image(pixels, channels, bit_depth, path)


def _image_format(image: np.ndarray, what: str = "content images") -> tuple[int, int]:
    """(channels, bit depth) of an (H, W, C) uint8 or uint16 array; anything else is an InputError."""
    if image.ndim != 3 or image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{what} should be (H, W, C) uint8 or uint16, got {image.shape} {image.dtype}")
    return image.shape[2], 8 if image.dtype == np.uint8 else 16


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, C) uint8 or uint16 -> (1, C, H, W) float in [0, 1] (v / 255 or v / 65535)."""
    if image.dtype == np.uint16:
        return torch.from_numpy(image.astype(np.float32)).to(device).permute(2, 0, 1)[None].contiguous() / 65535
    return torch.from_numpy(np.array(image)).to(device).permute(2, 0, 1)[None].float().contiguous() / 255


def _to_array(image: torch.Tensor, bit_depth: int = 8) -> np.ndarray:
    """(1, C, H, W) in [0, 1] -> (H, W, C) uint8 or uint16 (values outside [0, 1] clamped, then rounded)."""
    pixels = image[0].permute(1, 2, 0).clamp(0, 1)
    if bit_depth == 16:
        return (pixels * 65535).round().to(torch.int32).cpu().numpy().astype(np.uint16)
    return (pixels * 255).round().byte().cpu().numpy()


def _style_pixels(style_image: np.ndarray | str | Path, channels: int | None, bit_depth: int | None) -> np.ndarray:
    """The style image as an (H, W, C) array at the asked channels and bit depth (None: a file is read as RGB
    8-bit, as the package always did; an array keeps its own)."""
    if isinstance(style_image, (str, Path)):
        return load_style_image(style_image, 3 if channels is None else channels, 8 if bit_depth is None else bit_depth)
    pixels = np.asarray(style_image)
    if pixels.ndim not in (2, 3) or pixels.dtype not in (np.uint8, np.uint16):
        raise InputError(f"style image should be an (H, W) or (H, W, C) uint8 or uint16 array, got {pixels.shape} "
                         f"{pixels.dtype}")
    return shape_style_image(pixels, channels, bit_depth)


class Stylist:
    """A style image, a backbone and settings, ready to style content images one at a time.

    Args:
        style_image: an (H, W, C) uint8/uint16 array, or a path to an image file; converted to `channels` and
            `bit_depth` when they are given.
        method: "gatys" (the paper's optimisation) or "fast" (colour and pyramid-band statistics matching;
            uses no network, so `ratio`, `backbone` and `weights` do not affect it). gatys takes 1- or 3-channel
            images only: gray ones are replicated to RGB for the network and the result is the mean of its three
            channels.
        ratio: content:style weights, "1:1000" or (1, 1000).
        steps: gatys: L-BFGS loss evaluations (default 1000); fast: matching rounds (default 1).
        backbone: a registry name ("auto", "vgg19", "efficientnet-lite0") or a built `Backbone`.
        weights: weights file for the named backbone (checksum recorded).
        device: "auto", "cpu" or "cuda".
        seed: seeds torch's generators during each transfer, so reruns give the same result.
        channels, bit_depth: the content images' channels and bit depth (8 or 16). None: a style file is read
            as RGB 8-bit, a style array keeps its own. Content images must then have this format.
    """

    def __init__(self, style_image: np.ndarray | str | Path, method: str = "gatys",
                 ratio: str | tuple[float, float] = DEFAULT_RATIO, steps: int | None = None,
                 backbone: str | Backbone = "auto", weights: str | Path | None = None, device: str = "auto",
                 seed: int = 0, channels: int | None = None, bit_depth: int | None = None):
        if method not in METHODS:
            raise InputError(f"unknown style method {method!r}; choose one of {list(METHODS)}")
        steps = DEFAULT_STEPS[method] if steps is None else steps
        if steps < (1 if method == "gatys" else 0):
            raise InputError(f"steps should be at least {1 if method == 'gatys' else 0} for {method}, got {steps}")
        self.content_weight, self.style_weight = parse_ratio(ratio)
        self.device = resolve_device(device)
        style_pixels = _style_pixels(style_image, channels, bit_depth)
        self.channels, self.bit_depth = _image_format(style_pixels, "style image")
        if method == "gatys":
            check_gatys_channels(self.channels)
        self.style = _to_tensor(style_pixels, self.device)
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
        """Style one (H, W, C) image of the stylist's channels and bit depth; returns the same shape and dtype.
        `on_step` is called after each step."""
        if content.ndim != 3 or (content.shape[2], content.dtype) != (self.channels, np.dtype(self._dtype)):
            raise InputError(f"content images should be (H, W, {self.channels}) {np.dtype(self._dtype).name} like "
                             f"the style image, got {content.shape} {content.dtype}")
        x = _to_tensor(content, self.device)
        style = F.interpolate(self.style, size=x.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
        s = self.settings
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(s.seed)
            if s.method == "gatys":
                out = self._gatys(x, style, on_step)
            else:
                out = fast_transfer(x, style, s.steps)
        return _to_array(out, self.bit_depth)

    @property
    def _dtype(self) -> type:
        return np.uint8 if self.bit_depth == 8 else np.uint16

    def _gatys(self, x: torch.Tensor, style: torch.Tensor, on_step: Callable[[], None] | None) -> torch.Tensor:
        """Gatys on (1, 1 | 3, H, W): a gray image is replicated to RGB for the network, and the styled RGB is
        turned back into gray by the mean of its three channels (the network may tint them apart; the mean keeps
        their brightness, and returns the input unchanged where nothing moved)."""
        gray = x.shape[1] == 1
        if gray:
            x, style = x.repeat(1, 3, 1, 1), style.repeat(1, 3, 1, 1)
        out = gatys_transfer(self.backbone, x, style, self.content_weight, self.style_weight, self.settings.steps,
                             on_step).image
        return out.mean(1, keepdim=True) if gray else out


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
    """Give one or many synthetic images the style of one real image (sizes, channels and bit depth kept).

    Args:
        content_images: (H, W, C), (N, H, W, C), or a list of (H_i, W_i, C) arrays, all uint8 or all uint16
            (C: any count for method fast; 1 or 3 for gatys).
        style_image: the real image, an array or a path; converted to the content's channels and bit depth
            (gray <-> RGB, 8 <-> 16 bits) and resized to each content image's size.
        method, ratio, steps, backbone, weights, device, seed: see `Stylist`.
        progress: show a progress bar.

    Returns:
        The styled images in the same form as `content_images` (array of the same shape, or a list).

    Example:
        >>> styled = transfer_style(samples.images, "real.jpg", method="fast")
        >>> styled.shape == samples.images.shape
        True
    """
    single = isinstance(content_images, np.ndarray) and content_images.ndim == 3
    images = [content_images] if single else list(content_images)
    channels, bit_depth = _image_format(np.asarray(images[0])) if images else (None, None)
    stylist = Stylist(style_image, method, ratio, steps, backbone, weights, device, seed, channels, bit_depth)
    if single:
        return next(_run_batch(stylist, images, progress))
    styled = list(_run_batch(stylist, images, progress))
    return np.stack(styled) if isinstance(content_images, np.ndarray) else styled


def _check_rows(samples_dir: Path, rows: list[dict[str, str]], modality: Modality
                ) -> list[tuple[np.ndarray, np.ndarray]]:
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
        image, mask = load_sample(samples_dir, row, modality)  # an unreadable file is a one-line InputError naming it
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

    The output has the same layout (images/, masks/, manifest.csv, soft_masks/ if present, modality.json for
    any modality but RGB 8-bit with a binary mask); images keep the directory's channels, bit depth and file
    format, masks are copied byte for byte, and the manifest gains style_* columns (method, ratio, steps,
    backbone, weights and their sha256, style image and its sha256, seed, device). Everything is checked before
    anything is written, and the directory is written atomically: on any error nothing is left at `out_dir`.

    Args:
        samples_dir: a `generate` output.
        style_image: the real image (PNG/JPEG/TIFF/.npy), read at the samples' channels and bit depth (gray <->
            RGB and 8 <-> 16 bits are converted; anything else is refused naming the file).
        out_dir: the samples directory to write (must be new or empty unless `overwrite`).
        method, ratio, steps, backbone, weights, device, seed: see `Stylist`.
        overwrite: replace an existing `out_dir`.
        progress: show a progress bar.
    """
    samples_dir, out = Path(samples_dir), Path(out_dir)
    rows = read_manifest(samples_dir, verify=True)
    modality = read_samples_modality(samples_dir)
    if method == "gatys":
        check_gatys_channels(modality.channels, samples_dir)
    pairs = _check_rows(samples_dir, rows, modality)
    refuse_overlap(out, {"samples directory": samples_dir})
    check_samples_out(out, overwrite)
    stylist = Stylist(style_image, method, ratio, steps, backbone, weights, device, seed, modality.channels,
                      modality.bit_depth)
    # the file's name and hash identify the style image; its folder would tell whoever gets the synthetic set
    # where (and under which names) the real data lives on the host that made it
    extra = {**stylist.settings.manifest_columns(), "style_image": Path(style_image).name,
             "style_image_sha256": sha256_file(style_image)}
    with staging_dir(out) as staging:
        (staging / "images").mkdir()
        styled = _run_batch(stylist, [image for image, _ in pairs], progress)
        new_rows = []
        for row, image in zip(rows, styled):
            data, name = encode_image(image, modality), _styled_image_name(row["image"], modality)
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
            (staging / row["mask"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(samples_dir / row["mask"], staging / row["mask"])
            new_rows.append({**row, "image": name, "image_sha256": sha256_bytes(data), **extra})
        if (samples_dir / "soft_masks").is_dir():
            shutil.copytree(samples_dir / "soft_masks", staging / "soft_masks")
        write_modality_file(staging, modality)
        write_manifest(staging / "manifest.csv", new_rows)
    return out


def _styled_image_name(name: str, modality: Modality) -> str:
    """The manifest's image name with the suffix its encoding needs (`image_suffix`): unchanged for a folder
    `generate` wrote; a hand-made one (a .jpg, a 16-bit RGB .png) gets .png or .tif, so name and bytes agree."""
    suffix, current = image_suffix(modality), PurePosixPath(name).suffix.lower()
    if current == suffix or (suffix == ".tif" and current == ".tiff"):
        return name
    return str(PurePosixPath(name).with_suffix(suffix))
