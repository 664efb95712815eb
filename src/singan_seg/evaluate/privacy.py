"""Privacy audit: is any synthetic image a near-copy of a training (patient) image?

For every synthetic image: its k nearest training-real images by Inception pool-feature distance (L2), and
the SSIM to each of them (SSIM over the whole training set would cost N_syn x N_train comparisons). The
synthetic->train nearest distances are compared with the distances from held-out real images (never seen in
training) to the same training set:
- memorisation score: fraction of synthetic images closer to a training image than ANY held-out real image
  is (0 is ideal; a copy has distance ~0 and counts);
- membership-inference AUC: P(d_syn < d_heldout) by the Mann-Whitney U statistic; 0.5 means a synthetic
  image is no closer to the training set than a fresh real image, 1.0 means every synthetic image is.
Note: single-image GANs are meant to resemble their one source image, so some closeness is by design;
the pictures of the closest pairs are the evidence to look at.

Any modality: features follow inception.CHANNELS_RULE; an image of a channel count other than 1 or 3 is described
by its channels' features side by side (2048 per channel), so its distance to another is the root of the
channels' squared distances. SSIM runs on every channel, with pixels scaled to 0..1 of their bit depth. The three
sets must have one channel count.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import mannwhitneyu
from skimage.metrics import structural_similarity

from ..errors import InputError
from .fid import set_features
from .image_sets import ImageSet, check_same_channels, load_image_set
from .inception import get_extractor

SSIM_SIZE = (128, 128)  # (W, H) images are resized to before SSIM


def nearest(query: np.ndarray, reference: np.ndarray, k: int = 1, exclude_self: bool = False):
    """Indices (Nq, k) and L2 distances (Nq, k) of the k nearest rows of `reference` (Nr, D) for `query` (Nq, D)."""
    d2 = (query ** 2).sum(1)[:, None] + (reference ** 2).sum(1)[None, :] - 2 * query @ reference.T
    dist = np.sqrt(np.maximum(d2, 0))  # (Nq, Nr)
    if exclude_self:
        np.fill_diagonal(dist, np.inf)
    order = np.argsort(dist, axis=1)[:, :k]
    return order, np.take_along_axis(dist, order, axis=1)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two images after resizing both to SSIM_SIZE: RGB uint8 as always; any other (H, W, C) image (gray,
    16-bit, any channel count; both alike) with its pixels as 0..1 of their bit depth, every channel resized alone."""
    if all(x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] == 3 for x in (a, b)):
        a, b = (np.asarray(Image.fromarray(x).resize(SSIM_SIZE, Image.BILINEAR)) for x in (a, b))
        return float(structural_similarity(a, b, channel_axis=2, data_range=255))
    a, b = (_unit_resized(x) for x in (a, b))
    return float(structural_similarity(a, b, channel_axis=2, data_range=1.0))


def _unit_resized(image: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8/uint16 -> SSIM_SIZE float32 in 0..1, each channel resized bilinearly on its own."""
    image = image[..., None] if image.ndim == 2 else image
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    planes = [np.asarray(Image.fromarray(image[..., c].astype(np.float32) / np.float32(scale)).resize(
        SSIM_SIZE, Image.BILINEAR)) for c in range(image.shape[2])]
    return np.stack(planes, axis=2)


def membership_auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """AUC of 'lower distance = member': P(member < nonmember) + 0.5 P(tie), via Mann-Whitney U."""
    u = mannwhitneyu(nonmember_scores, member_scores, alternative="two-sided").statistic
    return float(u / (len(member_scores) * len(nonmember_scores)))


@dataclass
class PrivacyAudit:
    synthetic_stems: list[str]
    train_stems: list[str]
    neighbours: np.ndarray  # (N_syn, k) indices into the training set
    distances: np.ndarray  # (N_syn, k) feature distances
    ssim: np.ndarray  # (N_syn, k) SSIM to each of those training images
    heldout_distances: np.ndarray  # (N_held,) held-out -> nearest training distance
    memorisation: float
    auc: float

    def closest(self, n: int = 8) -> list[int]:
        """Synthetic indices with the smallest nearest-training distance first."""
        return [int(i) for i in np.argsort(self.distances[:, 0])[:n]]

    def to_dict(self) -> dict:
        d = self.distances[:, 0]
        return {"memorisation_score": self.memorisation, "membership_auc": self.auc,
                "synthetic_to_train": {"mean": float(d.mean()), "min": float(d.min()), "median": float(np.median(d))},
                "heldout_to_train": {"mean": float(self.heldout_distances.mean()),
                                     "min": float(self.heldout_distances.min()),
                                     "median": float(np.median(self.heldout_distances))},
                "ssim_best_of_k": {"mean": float(self.ssim.max(1).mean()), "max": float(self.ssim.max())},
                "closest_pairs": [{"synthetic": self.synthetic_stems[i],
                                   "train": self.train_stems[self.neighbours[i, 0]],
                                   "distance": float(self.distances[i, 0]), "ssim": float(self.ssim[i, 0])}
                                  for i in self.closest()]}


def check_heldout(train: ImageSet, held: ImageSet) -> None:
    """InputError if held-out images are files of the training set (e.g. the same folder given twice): each would
    be at distance 0 from itself, and the AUC and memorisation score would be meaningless (AUC 0)."""
    train_files = {p.resolve() for p in train.image_paths}
    shared = [p for p in held.image_paths if p.resolve() in train_files]
    if shared:
        what = ("is the training set" if len(shared) == len(held) else
                f"shares {len(shared)} of its {len(held)} images with the training set (e.g. {shared[0].name})")
        raise InputError(f"the held-out set {what}; held-out images must be real images NOT used for training "
                         "(e.g. another fold)", held.root)


def warn_if_heldout_copies(held_distances: np.ndarray, held: ImageSet) -> None:
    """One-line warning when held-out images are (near-)identical copies of training images."""
    copies = int(np.sum(held_distances < 1e-3))
    if copies:
        warnings.warn(f"{held.root}: {copies} of {len(held)} held-out images are identical to training images "
                      "(feature distance 0); the membership AUC and memorisation score are not meaningful",
                      stacklevel=3)


def privacy_audit(samples: str | Path | ImageSet, train_real: str | Path | ImageSet,
                  heldout_real: str | Path | ImageSet, k: int = 3, weights: str | Path | None = None,
                  device: str = "cpu", progress: bool = True) -> PrivacyAudit:
    """Nearest-neighbour audit of synthetic images against the real images they were trained on.

    Args:
        samples: the synthetic set.
        train_real: the real images the generators were trained on.
        heldout_real: real images of the same kind that were NOT used for training (the baseline).
        k: nearest training images kept per synthetic image.
        weights, device, progress: as for `fid`.
    """
    sets = [x if isinstance(x, ImageSet) else load_image_set(x) for x in (samples, train_real, heldout_real)]
    check_same_channels(list(zip(sets, ("synthetic", "training", "held-out"))), "the privacy audit")
    check_heldout(sets[1], sets[2])
    extractor = get_extractor(None if weights is None else str(weights), str(device))
    syn, train, held = (set_features(s, extractor, progress=progress, label=f"privacy {name}")
                        for s, name in zip(sets, ("synthetic", "train", "held-out")))  # (N, 2048) each
    k = min(k, len(train))
    neighbours, distances = nearest(syn, train, k)
    held_d = nearest(held, train, 1)[1][:, 0]
    warn_if_heldout_copies(held_d, sets[2])
    train_images = {int(j): sets[1].image(int(j)) for j in np.unique(neighbours)}
    ssims = np.array([[ssim(sets[0].image(i), train_images[int(j)]) for j in neighbours[i]] for i in range(len(syn))])
    return PrivacyAudit(sets[0].stems, sets[1].stems, neighbours, distances, ssims, held_d,
                        memorisation=float(np.mean(distances[:, 0] < held_d.min())),
                        auc=membership_auc(distances[:, 0], held_d))
