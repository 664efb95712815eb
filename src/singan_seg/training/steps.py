"""The parts of one training iteration that `train()` (one pair) and `train_many()` (K pairs fused) share.

Each scale trains a new generator G_n and critic D_n with WGAN-GP (the critic's updates, `critic_updates`,
with the penalty of `gradient_penalty`) and Adam with one step decay (`optimizers`), under an optional bf16
autocast (`autocast`). What is specific to one pair or to K fused pairs (noise, losses per model) stays in
`loop.py` and `many.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..config import TrainConfig

# (Adam for the generator, Adam for the critic, their step decays)
Optimizers = tuple[torch.optim.Adam, torch.optim.Adam, torch.optim.lr_scheduler.MultiStepLR,
                   torch.optim.lr_scheduler.MultiStepLR]


@dataclass
class ScaleStats:
    """What one scale's training did (saved in config.json under training.scales)."""
    scale: int
    shape: tuple[int, int]
    width: int
    noise_amp: float
    seconds: float
    d_loss: float
    g_adv: float
    rec: float


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for the convolutions when `enabled` (losses are computed in float32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float,
                     generator: torch.Generator) -> torch.Tensor:
    """WGAN-GP as in SinGAN: the per-pixel gradient norm over channels, pushed towards 1."""
    alpha = torch.rand(1, 1, 1, 1, generator=generator).to(real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(mixed)
    (grads,) = torch.autograd.grad(scores, mixed, torch.ones_like(scores), create_graph=True)
    return weight * ((grads.float().norm(2, dim=1) - 1) ** 2).mean()


def optimizers(cfg: TrainConfig, generator: nn.Module, critic: nn.Module, iters: int) -> Optimizers:
    """Adam for the new generator and its critic, each with the learning-rate drop at `lr_decay_iter`."""
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    milestones = [cfg.lr_decay_iter(iters)]
    sched_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones, gamma=cfg.lr_decay_gamma)
    sched_d = torch.optim.lr_scheduler.MultiStepLR(opt_d, milestones, gamma=cfg.lr_decay_gamma)
    return opt_g, opt_d, sched_g, sched_d


def critic_updates(critic: nn.Module, opt_d: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                   cfg: TrainConfig, it: int, amp: Callable[[], contextlib.AbstractContextManager],
                   reduce: Callable[[torch.Tensor], torch.Tensor],
                   penalty: Callable[[float], torch.Tensor]) -> torch.Tensor:
    """Iteration `it`'s cfg.d_steps critic updates: minimise reduce(D(fake)) - reduce(D(real)), plus
    penalty(weight) on the updates the lazy schedule picks. `reduce` averages the critic's scores (per model in
    train_many, which sums the per-model losses); `amp` opens the autocast. Returns the last loss."""
    d_loss = torch.zeros(())
    for step in range(it * cfg.d_steps, (it + 1) * cfg.d_steps):
        opt_d.zero_grad(set_to_none=True)
        gp_weight = cfg.penalty_weight(step)
        with amp():
            d_loss = -reduce(critic(real)) + reduce(critic(fake))
            if gp_weight:
                d_loss = d_loss + penalty(gp_weight)
        d_loss.sum().backward()
        opt_d.step()
    return d_loss
