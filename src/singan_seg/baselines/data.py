"""The multi-image training set of the baselines: image/mask pairs from two folders, as 4-channel tensors.

Pairs are matched by file stem (`data.dataset.find_pairs`), read and validated like every other input
(`data.pairs.load_pair`), then resized to a square `resolution` x `resolution` (the multi-image GANs of the paper
work on square images; Kvasir-SEG's aspect ratios are squashed, as its published baselines did). The tensor
conventions are SinGAN-Seg's (`data.tensors.pair_to_tensor`): RGB in [-1, 1], mask channel -1 (background) / +1
(object).

The images are kept in memory as uint8 (1000 Kvasir pairs at 128 px: 65 MB) and turned into float batches on demand.
Selection for the small-data study: explicit `ids`, a `folds` file with the `fold` to keep, and/or the first
`limit` ids (sorted).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import find_pairs, read_folds
from ..data.pairs import load_pair
from ..errors import InputError
from ..data.tensors import pair_to_tensor
from ..rng import seeded_generator


@dataclass
class PairSet:
    """N pairs at one square resolution: rgb (N, 3, R, R) uint8, mask (N, 1, R, R) bool."""

    ids: list[str]
    rgb: torch.Tensor
    mask: torch.Tensor
    root: Path | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def resolution(self) -> int:
        return int(self.rgb.shape[-1])

    def batch(self, indices: list[int] | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        """(B, 4, R, R) float in [-1, 1]; the mask channel is exactly -1 or +1."""
        index = torch.as_tensor(indices, dtype=torch.long)
        rgb = self.rgb[index].float() / 127.5 - 1.0
        mask = self.mask[index].float() * 2.0 - 1.0
        return torch.cat([rgb, mask], dim=1).to(device)


def resize_pair_tensor(x: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, 4, H, W) in [-1, 1] -> uint8 RGB (3, R, R) (antialiased bicubic) and bool mask (1, R, R).

    The mask is area-averaged and thresholded at 0 (object where at least half the covered pixels are object), so it
    stays binary, as the brief of the 4th channel requires.
    """
    size = (resolution, resolution)
    rgb = F.interpolate(x[:, :3], size=size, mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)
    mask = F.interpolate(x[:, 3:], size=size, mode="area") >= 0
    return ((rgb[0] + 1) * 127.5).round().to(torch.uint8), mask[0]


def select_ids(ids: list[str], wanted: list[str] | None = None, folds: str | Path | None = None,
               fold: int | None = None, limit: int | None = None) -> list[str]:
    """The ids to train on: `wanted` (all must exist), then the ids of `fold` in `folds`, then the first `limit`."""
    selected = sorted(ids)
    if wanted is not None:
        unknown = sorted(set(wanted) - set(ids))
        if unknown:
            raise InputError(f"{len(unknown)} requested id(s) are not in the dataset, e.g. {unknown[:3]}")
        selected = sorted(set(wanted))
    if (folds is None) != (fold is None):
        raise InputError("give --folds and --fold together")
    if folds is not None:
        by_id = read_folds(folds, ids)
        if fold not in set(by_id.values()):
            raise InputError(f"fold {fold} does not occur; folds are {sorted(set(by_id.values()))}", folds)
        selected = [i for i in selected if by_id[i] == fold]
    if limit is not None:
        if limit < 1:
            raise InputError(f"limit should be at least 1, got {limit}")
        selected = selected[:limit]
    if not selected:
        raise InputError("no pairs left after the selection (ids / folds / limit)")
    return selected


def load_pair_set(images_dir: str | Path, masks_dir: str | Path, resolution: int, ids: list[str] | None = None,
                  folds: str | Path | None = None, fold: int | None = None, limit: int | None = None) -> PairSet:
    """Read, validate and resize the selected pairs of two folders (paired by stem)."""
    if resolution < 4:
        raise InputError(f"resolution should be at least 4 px, got {resolution}")
    files = {p.id: p for p in find_pairs(images_dir, masks_dir)}
    chosen = select_ids(list(files), ids, folds, fold, limit)
    rgbs, masks = [], []
    for ident in chosen:
        # Empty masks are fine here: a multi-image GAN learns them as part of the distribution. The baselines
        # are the paper's RGB + binary mask networks: gray and 16-bit images are made RGB 8-bit, as they always were.
        pair = load_pair(files[ident].image, files[ident].mask, source_id=ident, allow_empty_mask=True, channels=3,
                         bit_depth=8)
        rgb, mask = resize_pair_tensor(pair_to_tensor(pair), resolution)
        rgbs.append(rgb)
        masks.append(mask)
    return PairSet(chosen, torch.stack(rgbs), torch.stack(masks), Path(images_dir))


def pair_set_from_arrays(images: list[np.ndarray], masks: list[np.ndarray], resolution: int,
                         ids: list[str] | None = None) -> PairSet:
    """A PairSet from in-memory (H, W, 3) uint8 images and (H, W) bool masks (tests, notebooks)."""
    from ..data.tensors import as_pair

    rgbs, bits = [], []
    for image, mask in zip(images, masks):
        pair = as_pair(image, mask, allow_empty_mask=True, channels=3, bit_depth=8)
        rgb, bit = resize_pair_tensor(pair_to_tensor(pair), resolution)
        rgbs.append(rgb)
        bits.append(bit)
    return PairSet(ids or [f"pair{i:04d}" for i in range(len(rgbs))], torch.stack(rgbs), torch.stack(bits))


class BatchOrder:
    """Which pairs make up the batch of training step s, from (seed, s) alone.

    The pairs are visited in epochs, each a permutation seeded by (seed, epoch); batches run across epoch
    boundaries, so a set smaller than the batch (the 5-image study) still gives full batches. Because the order is a
    function of the step, a resumed run sees exactly the batches of an uninterrupted one.
    """

    def __init__(self, num_pairs: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = num_pairs, batch_size, seed

    @lru_cache(maxsize=4)  # noqa: B019 (a set lives as long as its training run; 4 small index tensors)
    def _epoch(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.n, generator=seeded_generator(self.seed, 2, epoch))

    def indices(self, step: int) -> list[int]:
        first = step * self.batch_size
        return [int(self._epoch(k // self.n)[k % self.n]) for k in range(first, first + self.batch_size)]
