"""A pair as tensors: the C + K - 1 channel layout every generator in the package trains on.

Conventions: the image's C channels scaled from 0..max (255 or 65535) to [-1, 1]; then one channel per
non-background class, +1 where the pixel is that class, -1 elsewhere. The default modality (RGB, binary mask)
gives the 4 channels RGB + mask of SinGAN-Seg. SinGAN-Seg, patchnn and the baselines all read pairs through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .modality import RGB_BINARY, Modality, parse_classes
from .pairs import Pair, load_pair, pair_from_arrays, shape_image


def as_pair(image: Any, mask: Any = None, allow_empty_mask: bool = False, channels: int | None = None,
            bit_depth: int | None = None, classes: Any = None) -> Pair:
    """Accept a Pair, two paths, or two arrays. `classes`: the mask's classes (a spec string such as
    "background,disc,cup", or `parse_classes`' result); None: a binary mask. `channels`, `bit_depth`: convert the
    image of a file (None: keep it)."""
    if isinstance(image, Pair):
        return image
    if mask is None:
        raise InputError("a mask is required with an image (pass image and mask)")
    if isinstance(classes, (str, Path)):
        classes = parse_classes(classes)
    if isinstance(image, (str, Path)):
        return load_pair(image, mask, allow_empty_mask=allow_empty_mask, channels=channels, bit_depth=bit_depth,
                         classes=classes)
    pair = pair_from_arrays(np.asarray(image), np.asarray(mask), allow_empty_mask=allow_empty_mask, classes=classes)
    if channels is not None or bit_depth is not None:
        pair.image = shape_image(pair.image, "image", channels, bit_depth, pair.notes)
        pair.modality = pair.modality.with_image(pair.image.shape[2], 8 * pair.image.dtype.itemsize)
    return pair


def pair_to_tensor(pair: Pair) -> torch.Tensor:
    """(1, C + K - 1, H, W) in [-1, 1]: the image scaled from 0..max, then a +-1 channel per non-background class
    (the default modality: RGB scaled from 0..255 and the mask channel -1 (background) / +1 (object))."""
    modality = pair.modality
    if modality.bit_depth == 8:  # the original arithmetic, kept bit for bit
        image = torch.from_numpy(pair.image).permute(2, 0, 1).float() / 127.5 - 1.0
    else:
        image = torch.from_numpy(pair.image.astype(np.float32)).permute(2, 0, 1) / (modality.image_max / 2) - 1.0
    if modality.mask_channels == 1:
        mask = torch.from_numpy((pair.mask != 0).astype(np.float32))[None] * 2.0 - 1.0
    else:
        labels = torch.from_numpy(pair.mask.astype(np.int64))
        mask = torch.stack([(labels == k).float() for k in range(1, modality.num_classes)]) * 2.0 - 1.0
    return torch.cat([image, mask])[None]


def build_reals(pair: Pair, shapes: list[tuple[int, int]], device: torch.device | str) -> list[torch.Tensor]:
    """The real pair resized to every pyramid scale (antialiased bicubic, as SinGAN's imresize)."""
    full = pair_to_tensor(pair)
    finest = F.interpolate(full, size=shapes[-1], mode="bicubic", align_corners=False, antialias=True)
    reals = [F.interpolate(finest, size=s, mode="bicubic", align_corners=False, antialias=True) for s in shapes]
    return [r.clamp(-1, 1).to(device) for r in reals]


def tensor_to_pairs(batch: torch.Tensor, modality: Modality = RGB_BINARY
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, C + K - 1, H, W) in [-1, 1] -> images (N, H, W, C) uint8/uint16, masks (N, H, W), soft masks in [0, 1].

    Masks: bool (binary: channel > 0), or uint8 class indices (0 where every class channel is <= 0, else the class
    with the largest channel). Soft masks: the largest class channel mapped to [0, 1] (the object's "probability")."""
    batch = batch.detach().float().cpu().clamp(-1, 1)
    c = modality.channels
    if modality.bit_depth == 8:
        images = ((batch[:, :c] + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    else:
        scaled = ((batch[:, :c] + 1) * (modality.image_max / 2)).round().permute(0, 2, 3, 1).numpy()
        images = scaled.astype(np.uint16)
    channels = batch[:, c:]
    top, index = channels.max(dim=1)
    soft = ((top + 1) / 2).numpy()
    if modality.is_binary:
        return images, soft > 0.5, soft
    masks = torch.where(top > 0, index + 1, torch.zeros_like(index)).to(torch.uint8).numpy()
    return images, masks, soft
