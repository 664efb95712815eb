"""SIFID (Shaham et al. 2019): FID between the Inception features of ONE real and ONE synthetic image.

Follows SinGAN's reference code (tamarott/SinGAN SIFID/sifid_score.py): images at native resolution (no
resize), activations of the layer just before the second max-pool (192 channels), each spatial position
one observation, Fréchet distance of the two fitted Gaussians. Differences from the reference: the weights
are the TF FID Inception (see inception.py), not torchvision's ImageNet Inception, and the input is scaled
as TF did ((x - 128) / 128). `channels=64` gives the first-max-pool variant.

Any modality (inception.CHANNELS_RULE): 16-bit images are scaled to 0..255 floats (v / 257), gray is replicated to
RGB, RGB is used as is, and an image of any other channel count is scored channel by channel (each channel as a
gray image) with the SIFIDs averaged. Samples and real images must have the same channel count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import track

from ..errors import InputError
from .fid import frechet_distance, gaussian_stats
from .image_sets import ImageSet, check_same_channels, load_image_set
from .inception import CHANNELS_RULE, SIFID_LAYERS, WEIGHTS_NAME, InceptionFeatures, get_extractor, inception_views


def _check_channels(channels: int) -> str:
    if channels not in SIFID_LAYERS:
        raise InputError(f"SIFID channels should be one of {sorted(SIFID_LAYERS)}, got {channels}")
    return SIFID_LAYERS[channels]


Stats = list[tuple[np.ndarray, np.ndarray]]  # per Inception view of an image: mean and covariance of its features


def image_stats(image: np.ndarray, extractor: InceptionFeatures, layer: str) -> Stats:
    """Gaussian statistics of an (H, W, C) image's features at `layer`, one per view (inception_views)."""
    return [gaussian_stats(extractor.spatial_features(view, layer)) for view in inception_views(image)]  # (h*w, C)


def stats_distance(real: Stats, fake: Stats) -> float:
    """SIFID of two images' statistics: the Fréchet distance, averaged over the views (channels) if several."""
    return float(np.mean([frechet_distance(*r, *f) for r, f in zip(real, fake)]))


def _channel_count(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else int(image.shape[-1])


def sifid_pair(real: np.ndarray, fake: np.ndarray, extractor: InceptionFeatures | None = None,
               channels: int = 192) -> float:
    """SIFID between two (H, W, C) images (sizes may differ; uint8 or uint16; C = 1, 3 or any count, the same
    for both: see CHANNELS_RULE).

    Args:
        real, fake: the images.
        extractor: an InceptionFeatures (None: the default, cached).
        channels: 192 (reference layer conv_4) or 64 (first max-pool, pool0).
    """
    layer = _check_channels(channels)
    real, fake = (x[..., None] if x.ndim == 2 else x for x in (np.asarray(real), np.asarray(fake)))
    if _channel_count(real) != _channel_count(fake):
        raise InputError(f"SIFID compares images of one channel count, got {_channel_count(real)} (real) and "
                         f"{_channel_count(fake)} (synthetic) channels; convert one first")
    extractor = extractor or get_extractor()
    return stats_distance(image_stats(real, extractor, layer), image_stats(fake, extractor, layer))


@dataclass
class SifidResult:
    """Per-sample SIFID and its mean and sd (population sd, as numpy's default) over the set."""

    values: dict[str, float]
    sources: dict[str, str]
    channels: int  # Inception channels of the layer (192 or 64)
    weights: str = WEIGHTS_NAME
    image_channels: int = 3
    bit_depths: tuple[int, int] = (8, 8)  # (samples, real)
    mean: float = field(init=False)
    sd: float = field(init=False)

    def __post_init__(self):
        array = np.array(list(self.values.values()))
        self.mean, self.sd = float(array.mean()), float(array.std())

    def to_dict(self) -> dict:
        out = {"mean": self.mean, "sd": self.sd, "n": len(self.values), "channels": self.channels,
               "layer": SIFID_LAYERS[self.channels], "weights": self.weights, "values": self.values,
               "sources": self.sources}
        if self.image_channels != 3 or self.bit_depths != (8, 8):  # RGB 8-bit results stay as they always were
            out.update(image_channels=self.image_channels, bit_depths=list(self.bit_depths),
                       channels_rule=CHANNELS_RULE)
        return out


def _source_of(samples: ImageSet, i: int, real: ImageSet) -> int:
    """Index in `real` of sample i's source: the real image given as a single file, or the one of a real folder
    whose stem is the sample's source_id (a folder is never assumed to hold the source: it must say so by name)."""
    if real.single_file:
        return 0
    source = samples.rows[i].get("source_id", "") if samples.rows else ""
    if not source:
        where = samples.root / "manifest.csv" if samples.rows else samples.root
        raise InputError(f"sample {samples.stems[i]} has no source_id (a manifest column) naming its real image; "
                         "pass the real image as a single file instead of a folder", where)
    j = real.index(source)
    if j is None:
        shown = ", ".join(real.stems[:3]) + (", ..." if len(real) > 3 else "")
        raise InputError(f"no real image with stem {source!r} (source_id of sample {samples.stems[i]}) in the real "
                         f"folder (it holds {shown}); pass the right folder, or the source image as a single file",
                         real.root)
    return j


def sifid(samples: str | Path | ImageSet, real: str | Path | ImageSet, channels: int = 192,
          weights: str | Path | None = None, device: str = "cpu", progress: bool = True) -> SifidResult:
    """SIFID of every synthetic image against its real source image.

    Args:
        samples: a samples dir (its manifest's source_id names each sample's real image) or an image folder.
        real: one real image file (every sample is scored against it), or a real folder (flat or images/) in
            which every sample's source_id must be the stem of an image.
        channels: 192 (reference) or 64.
        weights: user copy of the Inception TorchScript; device: torch device; progress: progress bar.
    """
    samples = samples if isinstance(samples, ImageSet) else load_image_set(samples)
    real = real if isinstance(real, ImageSet) else load_image_set(real)
    layer = _check_channels(channels)
    check_same_channels([(samples, "samples"), (real, "real")], "SIFID")
    sources = [_source_of(samples, i, real) for i in range(len(samples))]  # fail fast, before any network loads
    extractor = get_extractor(None if weights is None else str(weights), str(device))
    real_stats: dict[int, Stats] = {}
    values, names = {}, {}
    for i in track(range(len(samples)), description="SIFID", disable=not progress, transient=True):
        j = sources[i]
        if j not in real_stats:
            real_stats[j] = image_stats(real.image(j), extractor, layer)
        values[samples.stems[i]] = stats_distance(real_stats[j], image_stats(samples.image(i), extractor, layer))
        names[samples.stems[i]] = real.stems[j]
    return SifidResult(values, names, channels, image_channels=samples.modality.channels,
                       bit_depths=(samples.modality.bit_depth, real.modality.bit_depth))
