"""A fast, gradient-free style transfer for CPUs (target: <= 2 s per 250-px image on 2 cores).

Feature-statistics matching in two parts, after Heeger & Bergen (1995) "pyramid-based texture analysis":
  1. colour whitening-colouring: the content's pixels get the style image's mean and full C x C channel
     covariance (x -> Cs^1/2 Cc^-1/2 (x - mu_c) + mu_s); for one channel (gray) this is plain mean and
     standard-deviation matching;
  2. in the style's decorrelated (PCA) colour space, each channel's Laplacian-pyramid band-pass images get the
     histograms of the style's bands, then the channel gets the style's pixel histogram; `steps` rounds.
Every change is a monotone remapping of values inside a band, so edges and layout (which the mask depends on)
stay where they are, while colour and per-scale contrast ("texture energy") move to the real image's.

Any channel count C works (gray, RGB, multi-channel), and images work in float [0, 1] whatever their bit depth:
the callers divide by 255 or 65535, so 16-bit images keep their precision and are written back at 16 bits.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

PYRAMID_LEVELS = 4  # band-pass levels; the coarsest level of a 250-px image is then ~16 px


def _psd_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    """matrix^power for a symmetric positive semi-definite C x C (eigenvalues floored for stability)."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(1e-6) ** power) @ vectors.T


def _colour_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, C, H, W) -> mean (C, 1) and covariance (C, C), in float64."""
    flat = x.reshape(x.shape[1], -1).double()
    mean = flat.mean(1, keepdim=True)
    centred = flat - mean
    return mean, centred @ centred.T / flat.shape[1]


def match_colour(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Give `content` (1, C, H, W) the channel mean and covariance of `style` (1, C, h, w); result in [0, 1]."""
    mean_c, cov_c = _colour_stats(content)
    mean_s, cov_s = _colour_stats(style)
    flat = content.reshape(content.shape[1], -1).double()
    out = _psd_power(cov_s, 0.5) @ _psd_power(cov_c, -0.5) @ (flat - mean_c) + mean_s
    return out.reshape(content.shape).to(content.dtype).clamp(0, 1)


def match_histograms(values: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per channel, a monotone remapping of `values` (1, C, H, W) onto the histogram of `reference` (1, C, h, w)."""
    flat = values.reshape(values.shape[1], -1)
    ref_sorted = reference.reshape(reference.shape[1], -1).sort(dim=1).values
    index = torch.linspace(0, ref_sorted.shape[1] - 1, flat.shape[1], device=flat.device).round().long()
    out = torch.empty_like(flat)
    out.scatter_(1, flat.argsort(dim=1, stable=True), ref_sorted[:, index])
    return out.reshape(values.shape)


def _laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """(B, C, H, W) -> [band 0 (finest), ..., band levels-1, low-pass residual]; `_collapse` inverts it."""
    bands = []
    for _ in range(levels):
        if min(x.shape[-2:]) < 4:
            break
        low = F.avg_pool2d(x, 2, ceil_mode=True)
        bands.append(x - F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False))
        x = low
    return bands + [x]


def _collapse(pyramid: list[torch.Tensor]) -> torch.Tensor:
    x = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        x = band + F.interpolate(x, size=band.shape[-2:], mode="bilinear", align_corners=False)
    return x


def fast_transfer(content: torch.Tensor, style: torch.Tensor, steps: int = 1,
                  levels: int = PYRAMID_LEVELS) -> torch.Tensor:
    """Colour whitening-colouring, then `steps` rounds of pyramid band histogram matching.

    Args:
        content: (1, C, H, W) in [0, 1], the synthetic image (any channel count C).
        style: (1, C, h, w) in [0, 1], the real image (best resized to the content size).
        steps: rounds of band + pixel histogram matching; 0 gives colour matching alone.
        levels: Laplacian pyramid band-pass levels.

    Returns:
        (1, C, H, W) in [0, 1].
    """
    coloured = match_colour(content, style)
    if steps == 0:
        return coloured
    mean_s, cov_s = _colour_stats(style)
    basis = torch.linalg.eigh(cov_s).eigenvectors.to(content.dtype)  # (C, C) style's PCA axes, columns
    mean_s = mean_s.to(content.dtype).view(1, -1, 1, 1)

    def to_pca(x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bchw,cd->bdhw", x - mean_s, basis)

    y, s = to_pca(coloured), to_pca(style)
    style_pyramid = _laplacian_pyramid(s, levels)
    for _ in range(steps):
        pyramid = _laplacian_pyramid(y, levels)
        bands = [match_histograms(band, style_band) for band, style_band in zip(pyramid[:-1], style_pyramid[:-1])]
        y = match_histograms(_collapse(bands + pyramid[-1:]), s)
    return (torch.einsum("bdhw,cd->bchw", y, basis) + mean_s).clamp(0, 1)
