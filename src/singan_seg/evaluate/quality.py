"""Per-source sample quality: diversity, mask fit and memorisation of samples drawn from ONE real pair.

These complement SIFID (realism of each sample against its real image):
- diversity: SinGAN's measure (Shaham et al. 2019, sec. 4): the per-pixel standard deviation over samples,
  averaged over pixels and channels, divided by the standard deviation of the real image's pixels; 0 means
  every sample is the same image. Also the mean pairwise L1 between samples (0..1), which needs no real image.
- mask fit: connected components and holes (background regions enclosed by foreground) of each sample mask
  against the real mask, found with scipy.ndimage.label; speckles are components smaller than `speckle_px`.
  Masks made by patch copying or GAN sampling go wrong in these ways: torn-off bits, pepper noise, holes.
- memorisation: how much of a sample is the real image copied verbatim. Two figures:
  `copied_patch_fraction`: the fraction of the sample's 7x7 patches (sampled on a stride) whose nearest real
  patch, anywhere in the real image, has an RMS difference <= tol (8/255 by default: JPEG-level noise);
  `largest_copy_fraction`: the largest connected area, as a fraction of the sample, where the sample equals
  the real image shifted by ONE offset (every pixel of a 7x7 patch within tol), over the offsets the patch
  search found most often. A patch method that pastes a whole quarter of the real image scores >= 0.25 on
  both; a generator that only reuses textures scores low on the second even when the first is high.
  Flat patches (std < `flat` = 4/255, e.g. the black borders of endoscopy frames) match any flat patch, so
  they count for neither figure: a copy has to carry texture to be one.
Inputs are (H, W, C) images of any channel count, uint8 or uint16 (tolerances are fractions of the full range:
255 or 65535), and bool (H, W) masks; the real pair must be at the samples' resolution. Multi-class masks (uint8
class indices, with their `Modality`) get the mask fit of the foreground (every non-background class together)
plus one per class.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..data.modality import Modality
from ..errors import InputError

COPY_TOL = 8 / 255  # pixel difference that still counts as "the same" (JPEG-level noise)
FLAT_STD = 4 / 255  # patches with less spread than this are flat: they say nothing about copying


def _check_images(samples: np.ndarray, real: np.ndarray) -> None:
    if samples.ndim != 4 or real.ndim != 3 or samples.shape[1:] != real.shape:
        raise InputError(f"samples (N, H, W, C) and real (H, W, C) should match in size, got {samples.shape} "
                         f"and {real.shape}")


def full_scale(*images: np.ndarray) -> int:
    """The largest pixel value of the images' bit depth: 65535 for uint16, else 255; images of different bit
    depths are refused (a difference of 8-bit and 16-bit values means nothing)."""
    depths = {np.asarray(x).dtype == np.uint16 for x in images}
    if len(depths) > 1:
        raise InputError("images of different bit depths (8 and 16); convert them to one first")
    return 65535 if depths.pop() else 255


# ----------------------------------------------------------------------------------------------------------
# Diversity
# ----------------------------------------------------------------------------------------------------------

def diversity(samples: np.ndarray, real: np.ndarray) -> float:
    """SinGAN's diversity: mean over pixels of the std over samples, divided by the real image's pixel std."""
    _check_images(samples, real)
    if len(samples) < 2:
        raise InputError(f"diversity needs at least 2 samples, got {len(samples)}")
    spread = samples.astype(np.float64).std(axis=0).mean()  # (H, W, C) -> scalar
    return float(spread / max(real.astype(np.float64).std(), 1e-8))


def mean_pairwise_l1(samples: np.ndarray) -> float:
    """Mean absolute pixel difference (0..1 of the full range, 8 or 16 bits) over all pairs of samples."""
    x = samples.astype(np.float64) / full_scale(samples)
    pairs = [np.abs(x[i] - x[j]).mean() for i in range(len(x)) for j in range(i + 1, len(x))]
    if not pairs:
        raise InputError(f"pairwise distance needs at least 2 samples, got {len(samples)}")
    return float(np.mean(pairs))


# ----------------------------------------------------------------------------------------------------------
# Mask fit
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MaskShape:
    """Topology of one binary mask."""

    foreground_pct: float
    components: int  # connected foreground regions (8-connected)
    speckles: int  # of those, smaller than speckle_px
    holes: int  # background regions enclosed by foreground (4-connected, the dual of 8)


def mask_shape(mask: np.ndarray, speckle_px: int = 16) -> MaskShape:
    """Components, speckles and holes of a bool (H, W) mask."""
    mask = np.asarray(mask, bool)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())[1:]  # (count,) pixels per component
    enclosed = ndimage.binary_fill_holes(mask) & ~mask
    holes = ndimage.label(enclosed)[1]
    return MaskShape(foreground_pct=100.0 * float(mask.mean()), components=int(count),
                     speckles=int((sizes < speckle_px).sum()), holes=int(holes))


def mask_fit(sample_masks: np.ndarray, real_mask: np.ndarray, speckle_px: int = 16,
             modality: Modality | None = None) -> dict:
    """Sample masks against their real mask: mean components / holes / speckle share, and the real's figures.

    `component_excess`: mean (sample components - real components), ignoring speckles; `speckle_fraction`:
    speckles / components over all samples (0 when no sample has a component); `empty_fraction`: the share of
    samples with no foreground at all (an image whose polyp lost its mask, or vanished).

    With a multi-class `modality` (masks of uint8 class indices): these figures for the foreground (every
    non-background class together), and under "classes" the same figures for each non-background class alone,
    keyed by class name (`empty_fraction`: the share of samples that lost that class)."""
    if modality is not None and not modality.is_binary:
        sample_masks, real_mask = np.asarray(sample_masks), np.asarray(real_mask)
        overall = _binary_mask_fit(sample_masks != 0, real_mask != 0, speckle_px)
        overall["classes"] = {name: _binary_mask_fit(sample_masks == k, real_mask == k, speckle_px)
                              for k, name in enumerate(modality.class_names) if k > 0}
        return overall
    return _binary_mask_fit(sample_masks, real_mask, speckle_px)


def _binary_mask_fit(sample_masks: np.ndarray, real_mask: np.ndarray, speckle_px: int) -> dict:
    real = mask_shape(real_mask, speckle_px)
    shapes = [mask_shape(m, speckle_px) for m in sample_masks]
    components = sum(s.components for s in shapes)
    return {"real_components": real.components, "real_holes": real.holes, "real_foreground_pct": real.foreground_pct,
            "components": float(np.mean([s.components for s in shapes])),
            "holes": float(np.mean([s.holes for s in shapes])),
            "component_excess": float(np.mean([s.components - s.speckles - (real.components - real.speckles)
                                               for s in shapes])),
            "speckle_fraction": float(sum(s.speckles for s in shapes) / components) if components else 0.0,
            "foreground_pct": float(np.mean([s.foreground_pct for s in shapes])),
            "empty_fraction": float(np.mean([s.components == 0 for s in shapes]))}


# ----------------------------------------------------------------------------------------------------------
# Memorisation
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Memorisation:
    copied_patch_fraction: float  # of the sample's textured patches (on the stride), nearly equal to a real one
    largest_copy_fraction: float  # largest connected area copied at one offset, as a fraction of the sample
    largest_copy_offset: tuple[int, int]  # (dy, dx): real position - sample position of that area

    def to_dict(self) -> dict:
        return asdict(self)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """(1, C, H, W) float in 0..1 of the image's full range."""
    return torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None] / full_scale(image)


def textured(image: np.ndarray, patch: int = 7, flat: float = FLAT_STD) -> np.ndarray:
    """Bool (H, W): the patch x patch window centred on each pixel has a gray-level std above `flat` (0..1)."""
    gray = image.astype(np.float64).mean(-1) / full_scale(image)
    mean = ndimage.uniform_filter(gray, patch, mode="nearest")
    var = ndimage.uniform_filter(gray * gray, patch, mode="nearest") - mean * mean
    return np.sqrt(np.maximum(var, 0)) > flat


def nearest_real_patches(sample: np.ndarray, real: np.ndarray, patch: int = 7, stride: int = 3,
                         chunk: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the sample's patches on a stride: (top-left positions (Q, 2), RMS distance to the nearest real
    patch (Q,), offset real - sample of that patch (Q, 2)). Exact search, chunked matmul."""
    s, r = _to_tensor(sample), _to_tensor(real)
    rw = r.shape[3] - patch + 1
    keys = F.unfold(r, patch)[0].T  # (K, D)
    queries = F.unfold(s, patch, stride=stride)[0].T  # (Q, D)
    qh = (s.shape[2] - patch) // stride + 1
    qw = (s.shape[3] - patch) // stride + 1
    kk = (keys * keys).sum(1)
    best_d, best_i = [], []
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]
        d = ((q * q).sum(1, keepdim=True) - 2 * q @ keys.T + kk[None]).clamp_min_(0)  # (c, K)
        value, index = d.min(1)
        best_d.append(value)
        best_i.append(index)
    dist = (torch.cat(best_d) / keys.shape[1]).sqrt().numpy()
    index = torch.cat(best_i).numpy()
    ys, xs = np.divmod(np.arange(qh * qw), qw)
    pos = np.stack([ys * stride, xs * stride], 1)
    offsets = np.stack([index // rw, index % rw], 1) - pos
    return pos, dist, offsets


def copied_area(sample: np.ndarray, real: np.ndarray, offset: tuple[int, int], patch: int = 7,
                tol: float = COPY_TOL) -> np.ndarray:
    """Bool (H, W): pixels covered by a patch x patch window in which the sample equals real shifted by offset."""
    h, w = sample.shape[:2]
    dy, dx = offset
    same = np.zeros((h, w), bool)
    ys, xs = slice(max(0, -dy), min(h, real.shape[0] - dy)), slice(max(0, -dx), min(w, real.shape[1] - dx))
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return same
    scale = full_scale(sample, real)
    shifted = real[ys.start + dy:ys.stop + dy, xs.start + dx:xs.stop + dx].astype(np.int32)
    diff = np.abs(sample[ys, xs].astype(np.int32) - shifted).max(-1)
    same[ys, xs] = diff <= round(tol * scale)
    # opening: keep only pixels inside some fully-matching window, so lone equal pixels (flat areas) don't count
    return ndimage.binary_opening(same, structure=np.ones((patch, patch)))


def memorisation(sample: np.ndarray, real: np.ndarray, patch: int = 7, tol: float = COPY_TOL, stride: int = 3,
                 top_offsets: int = 16, flat: float = FLAT_STD) -> Memorisation:
    """How much of one sample ((H, W, C), uint8 or uint16) is copied from the real image (the same channels and
    bit depth, any size >= patch)."""
    if sample.ndim != 3 or real.ndim != 3 or min(sample.shape[:2]) < patch or min(real.shape[:2]) < patch:
        raise InputError(f"memorisation needs two (H, W, C) images of at least {patch} px, got {sample.shape} "
                         f"and {real.shape}")
    if sample.shape[2] != real.shape[2]:
        raise InputError(f"memorisation needs images of one channel count, got {sample.shape[2]} (sample) and "
                         f"{real.shape[2]} (real)")
    full_scale(sample, real)  # refuses mixed bit depths
    pos, dist, offsets = nearest_real_patches(sample, real, patch, stride)
    texture = textured(sample, patch, flat)  # (H, W)
    informative = texture[pos[:, 0] + patch // 2, pos[:, 1] + patch // 2]  # (Q,) at each patch's centre
    copied = (dist <= tol) & informative
    best, best_offset = 0.0, (0, 0)
    candidates = Counter(map(tuple, offsets[copied].tolist())).most_common(top_offsets)
    for offset, _ in candidates:
        labels, count = ndimage.label(copied_area(sample, real, offset, patch, tol) & texture)
        if count:
            largest = np.bincount(labels.ravel())[1:].max() / labels.size
            if largest > best:
                best, best_offset = float(largest), (int(offset[0]), int(offset[1]))
    share = float(copied.sum() / informative.sum()) if informative.any() else 0.0
    return Memorisation(copied_patch_fraction=share, largest_copy_fraction=best,
                        largest_copy_offset=best_offset)
