"""The parts of a training iteration as plain functions, and a timer: shared by step_cost.py and compile_cost.py.

They mirror `train.train_scale`'s losses on given tensors (no pyramid, no optimiser step), so a benchmark can
price one part, or hand it to torch.compile, without a whole training run.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F


def generator_update(gen, critic, noise, prev, real, rec_weight: float, autocast) -> torch.Tensor:
    """A generator update with a fresh fake (the 2nd and later updates of an iteration): adversarial loss plus
    rec_weight x the reconstruction loss from zero noise."""
    with autocast():
        g_adv = -critic(gen(noise, prev)).float().mean()
        rec = F.mse_loss(gen(torch.zeros_like(noise), prev).float(), real)
    return g_adv + rec_weight * rec


def critic_update(critic, real, fake, autocast) -> torch.Tensor:
    """A critic update's WGAN loss, without the gradient penalty."""
    with autocast():
        return -critic(real).float().mean() + critic(fake).float().mean()


def time_it(fn: Callable[[], object], repeats: int) -> float:
    """Seconds per call of `fn`, after one warm-up call (oneDNN picks its kernels)."""
    fn()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats
