"""A pair as tensors: the 4-channel (RGB + mask) layout every generator in the package trains on.

Conventions: RGB scaled from 0..255 to [-1, 1]; the mask channel is -1 (background) / +1 (object).
SinGAN-Seg, patchnn and the baselines all read pairs through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .pairs import Pair, load_pair, pair_from_arrays


def as_pair(image: Any, mask: Any = None, allow_empty_mask: bool = False) -> Pair:
    """Accept a Pair, two paths, or two arrays."""
    if isinstance(image, Pair):
        return image
    if mask is None:
        raise InputError("a mask is required with an image (pass image and mask)")
    if isinstance(image, (str, Path)):
        return load_pair(image, mask, allow_empty_mask=allow_empty_mask)
    return pair_from_arrays(np.asarray(image), np.asarray(mask), allow_empty_mask=allow_empty_mask)


def pair_to_tensor(pair: Pair) -> torch.Tensor:
    """(1, 4, H, W) in [-1, 1]: RGB scaled from 0..255, mask channel -1 (background) / +1 (object)."""
    rgb = torch.from_numpy(pair.image).permute(2, 0, 1).float() / 127.5 - 1.0
    mask = torch.from_numpy(pair.mask.astype(np.float32))[None] * 2.0 - 1.0
    return torch.cat([rgb, mask])[None]


def build_reals(pair: Pair, shapes: list[tuple[int, int]], device: torch.device | str) -> list[torch.Tensor]:
    """The real pair resized to every pyramid scale (antialiased bicubic, as SinGAN's imresize)."""
    full = pair_to_tensor(pair)
    finest = F.interpolate(full, size=shapes[-1], mode="bicubic", align_corners=False, antialias=True)
    reals = [F.interpolate(finest, size=s, mode="bicubic", align_corners=False, antialias=True) for s in shapes]
    return [r.clamp(-1, 1).to(device) for r in reals]


def tensor_to_pairs(batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 4, H, W) in [-1, 1] -> uint8 RGB (N, H, W, 3), bool masks (N, H, W) (channel > 0), soft masks in [0, 1]."""
    batch = batch.detach().float().cpu().clamp(-1, 1)
    rgb = ((batch[:, :3] + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    soft = ((batch[:, 3] + 1) / 2).numpy()
    return rgb, soft > 0.5, soft
