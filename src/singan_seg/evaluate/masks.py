"""Mask statistics (paper Figs 3, 5, 6, 10): true-pixel % histograms in 5 % bins, mean and sd mask images.

Distances between the real and synthetic mask-size distributions: the 1-D Wasserstein distance of the
true-pixel percentages (in percentage points) and the total-variation distance of the binned histograms.

Multi-class masks (a modality with classes): the top-level figures are those of the foreground (every
non-background class together), and `classes` holds the same figures for each non-background class alone (its
area-fraction histogram, distances, mean and sd masks), so a generator that trades one class for another shows.
Binary masks give exactly what they always did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import wasserstein_distance

from ..errors import InputError
from .image_sets import ImageSet, common_masks, load_image_set

BIN_WIDTH = 5.0
BIN_EDGES = np.arange(0.0, 100.0 + BIN_WIDTH, BIN_WIDTH)  # 21 edges, 20 bins; 100 % falls in the last


def true_pixel_percentages(masks: list[np.ndarray]) -> np.ndarray:
    """(N,) percentage of true pixels of each (H, W) bool mask."""
    return np.array([100.0 * float(np.mean(m)) for m in masks])


def histogram(percentages: np.ndarray) -> np.ndarray:
    """Counts per 5 % bin (20 bins)."""
    return np.histogram(percentages, bins=BIN_EDGES)[0]


def mean_sd_masks(masks: list[np.ndarray], size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean and sd (float (H, W) in [0, 1]) of masks resized (nearest) to `size` = (H, W), by default
    the first mask's."""
    size = size or masks[0].shape
    stack = np.stack([m if m.shape == size else
                      np.asarray(Image.fromarray(m).resize(size[::-1], Image.NEAREST)) for m in masks]).astype(float)
    return stack.mean(axis=0), stack.std(axis=0)  # (H, W) each


@dataclass
class MaskStats:
    """Histograms, mean/sd images and distances of real vs synthetic masks (per class in `classes` for
    multi-class masks, keyed by class name; None for binary masks)."""

    synthetic_pct: np.ndarray  # (N_syn,)
    real_pct: np.ndarray  # (N_real,)
    synthetic_mean: np.ndarray  # (H, W)
    synthetic_sd: np.ndarray
    real_mean: np.ndarray
    real_sd: np.ndarray
    wasserstein_pct: float
    hist_total_variation: float
    classes: dict[str, MaskStats] | None = None

    def to_dict(self) -> dict:
        def summary(p):
            return {"n": len(p), "mean_pct": float(p.mean()), "sd_pct": float(p.std()),
                    "histogram": histogram(p).tolist()}
        out = {"bin_edges_pct": BIN_EDGES.tolist(), "synthetic": summary(self.synthetic_pct),
               "real": summary(self.real_pct), "wasserstein_pct": self.wasserstein_pct,
               "hist_total_variation": self.hist_total_variation,
               "mean_mask_abs_diff": float(np.abs(self.synthetic_mean - self.real_mean).mean())}
        if self.classes is not None:
            out["foreground"] = "every non-background class together; per class in 'classes'"
            out["classes"] = {name: {k: v for k, v in stats.to_dict().items() if k != "bin_edges_pct"}
                              for name, stats in self.classes.items()}
        return out


def _all_masks(images: ImageSet, what: str) -> list[np.ndarray]:
    missing = [p for p, m in zip(images.image_paths, images.mask_paths) if m is None]
    if missing:
        raise InputError(f"{what}: no mask for {missing[0].name} (expected masks/<stem>.* beside images/)",
                         images.root)
    return [images.mask(i) for i in range(len(images))]


def compare_masks(syn: list[np.ndarray], real: list[np.ndarray], size: tuple[int, int] = (128, 128)) -> MaskStats:
    """Statistics of two lists of bool (H, W) masks: percentages, histogram distances, mean/sd masks."""
    syn_pct, real_pct = true_pixel_percentages(syn), true_pixel_percentages(real)
    h_syn, h_real = histogram(syn_pct) / len(syn_pct), histogram(real_pct) / len(real_pct)
    return MaskStats(syn_pct, real_pct, *mean_sd_masks(syn, size), *mean_sd_masks(real, size),
                     wasserstein_pct=float(wasserstein_distance(syn_pct, real_pct)),
                     hist_total_variation=float(0.5 * np.abs(h_syn - h_real).sum()))


def mask_statistics(samples: str | Path | ImageSet, real: str | Path | ImageSet,
                    size: tuple[int, int] = (128, 128)) -> MaskStats:
    """Compare synthetic masks with real masks.

    Args:
        samples: samples dir (or any set with masks).
        real: real set with masks (Kvasir layout: images/ + masks/, or a samples dir); a folder's masks are read
            with the samples dir's classes.
        size: (H, W) the masks are resized to for the mean/sd images.
    """
    samples_set, real_set = common_masks(samples if isinstance(samples, ImageSet) else load_image_set(samples),
                                         real if isinstance(real, ImageSet) else load_image_set(real))
    syn, rea = _all_masks(samples_set, "synthetic set"), _all_masks(real_set, "real set")
    modality = samples_set.modality
    if modality.is_binary:
        return compare_masks(syn, rea, size)
    overall = compare_masks([m != 0 for m in syn], [m != 0 for m in rea], size)
    overall.classes = {name: compare_masks([m == k for m in syn], [m == k for m in rea], size)
                       for k, name in enumerate(modality.class_names) if k > 0}
    return overall
