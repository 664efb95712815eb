"""Seeded random numbers: every random draw in the package comes from a generator made here, never the global one.

A generator is keyed by integers (run seed, scale, sample index, epoch, ...), so any part of a run can be
redrawn on its own: a resumed run, sample i, or epoch e draws exactly what an uninterrupted run draws.
"""

from __future__ import annotations

import numpy as np
import torch


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU torch.Generator whose seed is derived from integer keys (e.g. run seed, scale, sample index).

    Noise is always drawn on the CPU and moved to the device, so a seed gives the same noise on any device.
    """
    seed = int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(seed)


def randn(shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """Unit Gaussian noise drawn on the CPU from `generator`, then moved to `device`."""
    return torch.randn(shape, generator=generator).to(device)
