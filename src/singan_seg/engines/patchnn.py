"""Training-free generation by patch nearest neighbours over RGB + mask (GPNN, Granot et al., CVPR 2022).

Read top to bottom: `generate_patchnn()` builds a pyramid of the real pair (its C + K - 1 channels, RGB + mask by
default; ratio 4/3, coarsest shortest side ~21 px), then per sample: the coarsest real level plus Gaussian noise
is refined by a few rounds of patch nearest-neighbour replacement (`_pnn_step`), upsampled, refined again, up to
the finest level.
Patches cover all channels together, so every sample carries a mask aligned with its image.

One replacement round: query patches of the current output are matched to key patches of the real image;
distances get GPNN's completeness normalisation d(q, k) / (alpha + min_q' d(q', k)), which pushes every
real patch to be used somewhere; the matched value patches are folded back, overlaps averaged. At the first
round of a level the keys come from the blurred real image (previous level upsampled), as in GPNN, so blurry
queries meet equally blurry keys; the values are always the sharp real patches.

Search: levels with at most `exact_max_patches` patches compare every query with every key (chunked matmul,
memory bounded). Finer levels, where that costs Q x K x D (~1 TFLOP at 250 px), search a (2r+1)^2 window
around the match propagated from the coarser level (coarse-to-fine nearest-neighbour field, as PatchMatch),
computed as one grouped convolution per chunk of queries; set `exact_max_patches` very large for exact GPNN
everywhere (sensible on a GPU).

Start: GPNN adds noise to the coarsest real level. On endoscopy images with vignetting that alone returns the
real layout almost unchanged (each noisy patch is still nearest to the real patch at its own place), so the
coarsest level is first warped by a random smooth displacement field (`warp`; 0 turns it off).

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
from ..data.tensors import as_pair, pair_to_tensor, tensor_to_pairs
from ..rng import randn, seeded_generator
from ..sampling import Samples, write_samples

METHOD = "patchnn"


@dataclass(frozen=True)
class PatchNNConfig:
    """Settings of the patch nearest-neighbour generator; the defaults follow GPNN where it applies."""

    patch_size: int = 7  # side of the square patches (over all four channels)
    ratio: float = 4 / 3  # size ratio between neighbouring pyramid levels
    coarsest: int = 25  # shortest side of the coarsest level, px (at most this, more than this / ratio)
    noise_sigma: float = 0.75  # Gaussian noise added at the coarsest level, in [-1, 1] units
    warp: float = 0.15  # random smooth displacement of the coarsest level, as a fraction of its size (0 = off)
    warp_cells: int = 3  # the displacement field is drawn on warp_cells x warp_cells points, upsampled
    noise_cell: int = 1  # noise drawn on a grid of cells this many px wide, upsampled (1 = per-pixel, as GPNN)
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
                  ("noise_sigma", self.noise_sigma >= 0, ">= 0"),
                  ("noise_cell", self.noise_cell >= 1, ">= 1"), ("warp", self.warp >= 0, ">= 0"),
                  ("warp_cells", self.warp_cells >= 2, ">= 2"), ("alpha", self.alpha > 0, "> 0"),
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
    p = config.patch_size
    return [(max(p, round(fh / config.ratio ** k)), max(p, round(fw / config.ratio ** k)))
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


def _nn_window(q: torch.Tensor, keys_img: torch.Tensor, guess: torch.Tensor, p: int, radius: int, alpha: float,
               chunk_elements: int) -> torch.Tensor:
    """Like `_nn_exact`, but each query only sees the (2r+1)^2 keys around its guessed key (y, x).

    The window is shifted (not cropped) to stay inside the key grid, so every query has the same number of
    candidates. The candidates of one query are the patches of one (2r+p)^2 crop of the key image, so their
    dot products with the query are one grouped convolution (query patch as kernel): ~2.5x faster on a CPU
    than gathering (2r+1)^2 patch vectors per query. Completeness normalisation uses, per key, the smallest
    distance among the queries that saw it."""
    _, c, h, w = keys_img.shape
    kh, kw = h - p + 1, w - p + 1
    r = min(radius, (kh - 1) // 2, (kw - 1) // 2)
    side, n = 2 * r + 1, (2 * r + 1) ** 2
    dim = q.shape[1]
    sy = guess[:, 0].clamp(r, kh - 1 - r) - r  # (Q,) top-left of the window in the key grid
    sx = guess[:, 1].clamp(r, kw - 1 - r) - r
    crop = torch.arange(side + p - 1, device=q.device)
    win = torch.arange(side, device=q.device)
    kk = (F.avg_pool2d(keys_img.pow(2), p, stride=1) * (p * p / dim))[0].sum(0)  # (kh, kw) |k|^2 / D
    qq = (q * q).sum(1) / dim
    cand = ((sy[:, None, None] + win[None, :, None]) * kw + sx[:, None, None] + win[None, None, :]).reshape(-1, n)
    dist = torch.empty(cand.shape, device=q.device)
    chunk = max(1, chunk_elements // (n * dim))
    for s in range(0, len(q), chunk):
        ys, xs = sy[s:s + chunk, None] + crop, sx[s:s + chunk, None] + crop  # (m, side + p - 1)
        m = len(ys)
        region = keys_img[0][:, ys[:, :, None], xs[:, None, :]].transpose(0, 1)  # (m, C, side+p-1, side+p-1)
        dots = F.conv2d(region.reshape(1, m * c, side + p - 1, side + p - 1), q[s:s + m].reshape(m, c, p, p),
                        groups=m).reshape(m, n)  # (m, n): query . each candidate key
        dist[s:s + m] = qq[s:s + m, None] + kk.flatten()[cand[s:s + m]] - 2 / dim * dots
    dist.clamp_min_(0)
    key_min = torch.full((kh * kw,), float("inf"), device=q.device)
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
    guess = torch.stack([(yd + disp[0]).round().long().clamp(0, dh - 1),
                         (xd + disp[1]).round().long().clamp(0, dw - 1)])
    return guess.reshape(2, -1).T  # (Q, 2)


def _pnn_step(y: torch.Tensor, keys_img: torch.Tensor, real_patches: torch.Tensor, prev: torch.Tensor | None,
              prev_grid: tuple[int, int] | None, config: PatchNNConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One replacement round at one level; returns the new output and the matches (flat key index per query)."""
    p = config.patch_size
    shape = tuple(y.shape[-2:])
    grid = (shape[0] - p + 1, shape[1] - p + 1)
    q = _patches(y, p)
    if len(q) <= config.exact_max_patches or prev is None:
        index = _nn_exact(q, _patches(keys_img, p), config.alpha, config.chunk_elements)
    else:
        guess = _propagate(prev, prev_grid, grid)
        index = _nn_window(q, keys_img, guess, p, config.search_radius, config.alpha, config.chunk_elements)
    return _fold(real_patches[index], shape, p), index


def _initial_guess(real: torch.Tensor, generator: torch.Generator, config: PatchNNConfig) -> torch.Tensor:
    """The coarsest real level, smoothly warped by a random displacement field (`warp`), plus Gaussian noise.

    Without the warp (GPNN's plain noise) an image with a global gradient (vignetting, as in endoscopy)
    comes back almost unchanged: every noisy patch is still nearest to the real patch at its own place."""
    _, c, h, w = real.shape
    if config.warp > 0:
        cells = randn((1, 2, config.warp_cells, config.warp_cells), generator, real.device) * (2 * config.warp)
        flow = F.interpolate(cells, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=real.device),
                                torch.linspace(-1, 1, w, device=real.device), indexing="ij")
        grid = torch.stack([xs, ys], -1)[None] + flow  # (1, H, W, 2), x then y, in [-1, 1] units
        real = F.grid_sample(real, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    if config.noise_cell > 1:
        cells = randn((1, c, max(1, round(h / config.noise_cell)), max(1, round(w / config.noise_cell))),
                      generator, real.device)
        noise = F.interpolate(cells, size=(h, w), mode="bicubic", align_corners=False)
    else:
        noise = randn((1, c, h, w), generator, real.device)
    return real + config.noise_sigma * noise


def _generate_one(reals: list[torch.Tensor], generator: torch.Generator, config: PatchNNConfig) -> torch.Tensor:
    """One (1, C, H, W) sample from the real pyramid `reals` (coarsest first)."""
    p = config.patch_size
    y = _initial_guess(reals[0], generator, config)
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
                     config: PatchNNConfig | None = None, device: str = "auto", first_index: int = 0,
                     classes: Any = None) -> Samples:
    """Draw `num` new image/mask pairs from one real pair without training (GPNN over image + mask channels).

    Args:
        image, mask: a Pair, two paths, or two arrays (image (H, W, C) uint8/uint16, mask (H, W) bool).
        classes: the mask's classes for files or arrays (see `train`); None: a binary mask.
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
    pair = as_pair(image, mask, classes=classes)
    dev = resolve_device(device)
    shapes = level_shapes(pair.height, pair.width, config)
    full = pair_to_tensor(pair).to(dev)
    finest = _resize(full, shapes[-1], antialias=True)
    reals = [_resize(finest, s, antialias=True) for s in shapes]
    with torch.no_grad():
        batch = torch.cat([_generate_one(reals, seeded_generator(seed, first_index + i), config)
                           for i in range(num)])
    images, masks, soft = tensor_to_pairs(batch, pair.modality)
    return Samples(images=images, masks=masks, soft_masks=soft, seed=seed, start_scale=0, first_index=first_index,
                   modality=pair.modality)


def generate_patchnn_dir(image: str | Path, mask: str | Path, out_dir: str | Path, num: int = 10, seed: int = 0,
                         config: PatchNNConfig | None = None, soft_masks: bool = False, device: str = "auto",
                         overwrite: bool = False, classes: Any = None) -> Path:
    """Generate `num` pairs from one real pair and write them as a samples directory (manifest method=patchnn)."""
    pair = as_pair(image, mask, classes=classes)
    samples = generate_patchnn(pair, num=num, seed=seed, config=config, device=device)
    return write_samples(samples, out_dir, model_name=METHOD, source_id=pair.source_id, soft_masks=soft_masks,
                         overwrite=overwrite, method=METHOD)
