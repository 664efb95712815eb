"""Training-free generation by patch nearest neighbours over RGB + mask (GPNN, Granot et al., CVPR 2022).

Read top to bottom: `generate_patchnn()` builds a pyramid of the real 4-channel pair (ratio 4/3, coarsest
shortest side ~21 px), then per sample: the coarsest real level plus Gaussian noise is refined by a few rounds
of patch nearest-neighbour replacement (`_pnn_step`), upsampled, refined again, up to the finest level.
Patches cover all four channels together, so every sample carries a mask aligned with its image.

One replacement round: query patches of the current output are matched to key patches of the real image;
distances get GPNN's completeness normalisation d(q, k) / (alpha + min_q' d(q', k)), which pushes every
real patch to be used somewhere; the matched value patches are folded back, overlaps averaged. At the first
round of a level the keys come from the blurred real image (previous level upsampled), as in GPNN, so blurry
queries meet equally blurry keys; the values are always the sharp real patches.

Search: levels with at most `exact_max_patches` patches compare every query with every key (chunked matmul,
memory bounded). Finer levels, where that costs Q x K x D (~1 TFLOP at 250 px), search a (2r+1)^2 window
around the match propagated from the coarser level (coarse-to-fine nearest-neighbour field, as PatchMatch);
set `exact_max_patches` very large for exact GPNN everywhere (sensible on a GPU).

Randomness: sample i uses its own generator seeded by (seed, first_index + i), so it depends on nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..device import resolve_device
from ..errors import InputError
from ..model.pyramid import finest_shape
from ..model.singan import randn, seeded_generator
from ..sample import Samples, tensor_to_pairs, write_samples
from ..train import as_pair, pair_to_tensor

METHOD = "patchnn"


@dataclass(frozen=True)
class PatchNNConfig:
    """Settings of the patch nearest-neighbour generator; the defaults follow GPNN where it applies."""

    patch_size: int = 7  # side of the square patches (over all four channels)
    ratio: float = 4 / 3  # size ratio between neighbouring pyramid levels
    coarsest: int = 25  # shortest side of the coarsest level, px (at most this, more than this / ratio)
    noise_sigma: float = 0.75  # Gaussian noise added at the coarsest level, in [-1, 1] units
    alpha: float = 0.005  # completeness normalisation; smaller = stronger push to use every real patch
    iters_coarse: int = 10  # replacement rounds at the coarsest level
    iters_fine: int = 2  # replacement rounds at every finer level
    max_size: int = 250  # longest side of the output (the real pair is shrunk to it, never enlarged)
    exact_max_patches: int = 4096  # levels with more patches than this use the windowed search
    search_radius: int = 3  # windowed search: +- this many px around the propagated match
    chunk_elements: int = 1 << 23  # distance-matrix elements per chunk (bounds memory: 32 MiB in float32)

    def __post_init__(self) -> None:
        checks = [("patch_size", self.patch_size >= 1 and self.patch_size % 2 == 1, "an odd number >= 1"),
                  ("ratio", self.ratio > 1, "> 1"), ("coarsest", self.coarsest >= self.patch_size, ">= patch_size"),
                  ("noise_sigma", self.noise_sigma >= 0, ">= 0"), ("alpha", self.alpha > 0, "> 0"),
                  ("iters_coarse", self.iters_coarse >= 1, ">= 1"), ("iters_fine", self.iters_fine >= 1, ">= 1"),
                  ("max_size", self.max_size >= self.patch_size, ">= patch_size"),
                  ("exact_max_patches", self.exact_max_patches >= 1, ">= 1"),
                  ("search_radius", self.search_radius >= 0, ">= 0"),
                  ("chunk_elements", self.chunk_elements >= 1, ">= 1")]
        for name, ok, rule in checks:
            if not ok:
                raise InputError(f"PatchNNConfig.{name} should be {rule}, got {getattr(self, name)}")


# ----------------------------------------------------------------------------------------------------------
# Pyramid
# ----------------------------------------------------------------------------------------------------------

def level_shapes(height: int, width: int, config: PatchNNConfig) -> list[tuple[int, int]]:
    """(H, W) per level, coarsest first; the finest has its longest side <= max_size."""
    fh, fw = finest_shape(height, width, config.max_size)
    if min(fh, fw) < config.patch_size:
        raise InputError(f"image of {width}x{height} px is {fw}x{fh} px at max_size {config.max_size}, smaller "
                         f"than one {config.patch_size}x{config.patch_size} patch")
    steps = max(0, math.ceil(math.log(min(fh, fw) / config.coarsest) / math.log(config.ratio)))
    return [(max(config.patch_size, round(fh / config.ratio ** k)), max(config.patch_size, round(fw / config.ratio ** k)))
            for k in range(steps, -1, -1)]


def _resize(x: torch.Tensor, shape: tuple[int, int], antialias: bool = False) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=shape, mode="bicubic", align_corners=False, antialias=antialias).clamp(-1, 1)


# ----------------------------------------------------------------------------------------------------------
# Nearest-neighbour search: each returns, per query patch, the flat index of its key patch
# ----------------------------------------------------------------------------------------------------------

def _patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """(1, C, H, W) -> (L, C*p*p) patches, row-major over top-left positions."""
    return F.unfold(x, p)[0].T.contiguous()


def _nn_exact(q: torch.Tensor, k: torch.Tensor, alpha: float, chunk_elements: int) -> torch.Tensor:
    """Completeness-normalised nearest key of every query, all pairs compared in query chunks."""
    dim = q.shape[1]
    qq, kk = (q * q).sum(1) / dim, (k * k).sum(1) / dim
    chunk = max(1, chunk_elements // len(k))

    def distances(s: int) -> torch.Tensor:  # (c, K) mean squared difference per element
        return (qq[s:s + chunk, None] - 2 / dim * (q[s:s + chunk] @ k.T) + kk[None]).clamp_min_(0)

    key_min = torch.full((len(k),), float("inf"), device=q.device)
    for s in range(0, len(q), chunk):
        key_min = torch.minimum(key_min, distances(s).amin(0))
    scale = 1.0 / (alpha + key_min)
    index = torch.empty(len(q), dtype=torch.long, device=q.device)
    for s in range(0, len(q), chunk):
        index[s:s + chunk] = (distances(s) * scale[None]).argmin(1)
    return index


def _nn_window(q: torch.Tensor, k: torch.Tensor, guess: torch.Tensor, key_grid: tuple[int, int], radius: int,
               alpha: float, chunk_elements: int) -> torch.Tensor:
    """Like `_nn_exact`, but each query only sees keys within `radius` px of its guessed key (y, x)."""
    kh, kw = key_grid
    offsets = torch.arange(-radius, radius + 1, device=q.device)
    cy = (guess[:, 0, None, None] + offsets[None, :, None]).clamp(0, kh - 1)  # (Q, 2r+1, 1)
    cx = (guess[:, 1, None, None] + offsets[None, None, :]).clamp(0, kw - 1)  # (Q, 1, 2r+1)
    cand = (cy * kw + cx).reshape(len(q), -1)  # (Q, C)
    dist = torch.empty(cand.shape, device=q.device)
    chunk = max(1, chunk_elements // (cand.shape[1] * q.shape[1]))
    for s in range(0, len(q), chunk):
        diff = k[cand[s:s + chunk]] - q[s:s + chunk, None]  # (c, C, D)
        dist[s:s + chunk] = diff.pow_(2).mean(-1)
    key_min = torch.full((len(k),), float("inf"), device=q.device)
    key_min = key_min.scatter_reduce(0, cand.flatten(), dist.flatten(), "amin")
    best = (dist / (alpha + key_min[cand])).argmin(1)
    return cand.gather(1, best[:, None])[:, 0]


# ----------------------------------------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------------------------------------

def _fold(values: torch.Tensor, shape: tuple[int, int], p: int) -> torch.Tensor:
    """(L, C*p*p) patches -> (1, C, H, W), overlapping pixels averaged."""
    cols = values.T[None]
    summed = F.fold(cols, shape, p)
    counts = F.fold(torch.ones_like(cols[:, :1].expand(1, p * p, -1)), shape, p)
    return summed / counts  # counts (1, 1, H, W) broadcasts over channels


def _propagate(index: torch.Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int]) -> torch.Tensor:
    """Matches (flat key index per query on src_grid) -> guessed key (y, x) per query on dst_grid.

    The displacement key - query is upsampled (nearest) and scaled with the grid, then added back."""
    sh, sw = src_grid
    dh, dw = dst_grid
    ys, xs = torch.meshgrid(torch.arange(sh, device=index.device), torch.arange(sw, device=index.device),
                            indexing="ij")
    disp = torch.stack([index // sw - ys.flatten(), index % sw - xs.flatten()]).float().reshape(1, 2, sh, sw)
    disp = F.interpolate(disp, size=(dh, dw), mode="nearest")[0]
    disp[0] *= dh / sh
    disp[1] *= dw / sw
    yd, xd = torch.meshgrid(torch.arange(dh, device=index.device), torch.arange(dw, device=index.device),
                            indexing="ij")
    guess = torch.stack([(yd + disp[0]).round().long().clamp(0, dh - 1), (xd + disp[1]).round().long().clamp(0, dw - 1)])
    return guess.reshape(2, -1).T  # (Q, 2)


def _pnn_step(y: torch.Tensor, keys_img: torch.Tensor, real_patches: torch.Tensor, prev: torch.Tensor | None,
              prev_grid: tuple[int, int] | None, config: PatchNNConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One replacement round at one level; returns the new output and the matches (flat key index per query)."""
    p = config.patch_size
    shape = tuple(y.shape[-2:])
    grid = (shape[0] - p + 1, shape[1] - p + 1)
    q, k = _patches(y, p), _patches(keys_img, p)
    if len(q) <= config.exact_max_patches or prev is None:
        index = _nn_exact(q, k, config.alpha, config.chunk_elements)
    else:
        guess = _propagate(prev, prev_grid, grid)
        index = _nn_window(q, k, guess, grid, config.search_radius, config.alpha, config.chunk_elements)
    return _fold(real_patches[index], shape, p), index


def _generate_one(reals: list[torch.Tensor], generator: torch.Generator, config: PatchNNConfig) -> torch.Tensor:
    """One (1, 4, H, W) sample from the real pyramid `reals` (coarsest first)."""
    p = config.patch_size
    y = reals[0] + config.noise_sigma * randn(tuple(reals[0].shape), generator, reals[0].device)
    index, grid = None, None
    for level, real in enumerate(reals):
        shape = tuple(real.shape[-2:])
        real_patches = _patches(real, p)
        if level > 0:
            y = _resize(y, shape)
            keys_img = _resize(reals[level - 1], shape)  # blurred real: matches the blurry upsampled queries
        else:
            keys_img = real
        for it in range(config.iters_coarse if level == 0 else config.iters_fine):
            y, new_index = _pnn_step(y, keys_img if it == 0 else real, real_patches, index, grid, config)
            index, grid = new_index, (shape[0] - p + 1, shape[1] - p + 1)
    return y


def generate_patchnn(image: Any, mask: Any = None, num: int = 10, seed: int = 0,
                     config: PatchNNConfig | None = None, device: str = "auto", first_index: int = 0) -> Samples:
    """Draw `num` new image/mask pairs from one real pair without training (GPNN over RGB + mask).

    Args:
        image, mask: a Pair, two paths, or two arrays (image (H, W, 3) uint8, mask (H, W) bool).
        seed: sample i is reproducible from (seed, first_index + i) alone, on CPU; CUDA may differ in ties.
        config: PatchNNConfig (default: GPNN settings, output longest side 250 px).

    Example:
        >>> s = generate_patchnn("polyp.jpg", "polyp_mask.png", num=4, seed=1)
        >>> s.images.shape, s.masks.dtype
        ((4, 210, 250, 3), dtype('bool'))
    """
    config = config or PatchNNConfig()
    if num < 1:
        raise InputError(f"num should be at least 1, got {num}")
    if seed < 0 or first_index < 0:
        raise InputError(f"seed and first_index should be >= 0, got {seed} and {first_index}")
    pair = as_pair(image, mask)
    dev = resolve_device(device)
    shapes = level_shapes(pair.height, pair.width, config)
    full = pair_to_tensor(pair).to(dev)
    finest = _resize(full, shapes[-1], antialias=True)
    reals = [_resize(finest, s, antialias=True) for s in shapes]
    with torch.no_grad():
        batch = torch.cat([_generate_one(reals, seeded_generator(seed, first_index + i), config)
                           for i in range(num)])
    images, masks, soft = tensor_to_pairs(batch)
    return Samples(images=images, masks=masks, soft_masks=soft, seed=seed, start_scale=0, first_index=first_index)


def generate_patchnn_dir(image: str | Path, mask: str | Path, out_dir: str | Path, num: int = 10, seed: int = 0,
                         config: PatchNNConfig | None = None, soft_masks: bool = False, device: str = "auto",
                         overwrite: bool = False) -> Path:
    """Generate `num` pairs from one real pair and write them as a samples directory (manifest method=patchnn)."""
    pair = as_pair(image, mask)
    samples = generate_patchnn(pair, num=num, seed=seed, config=config, device=device)
    return write_samples(samples, out_dir, model_name=METHOD, source_id=pair.source_id, soft_masks=soft_masks,
                         overwrite=overwrite, method=METHOD)
