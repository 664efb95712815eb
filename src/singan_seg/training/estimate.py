"""Measuring what training costs on this machine: seconds per iteration at every scale, and the projection.

Used by `build-dataset --dry-run` and by benchmarks/train_speed.py. Timing needs no trained model: the cost
of an iteration does not depend on the weights, so each scale is timed after one warm-up iteration (which
pays for oneDNN's kernel selection) in two short runs of different lengths: their difference is the cost of an
iteration, and what is left is the scale's set-up (new networks, optimisers, the noise amplitude), which
would otherwise be divided among the few timed iterations and inflate the projection for cheap iterations.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from ..config import TrainConfig
from ..data.pairs import Pair
from ..data.tensors import build_reals
from ..model.pyramid import pyramid_for
from ..model.singan import SinGANSeg
from .loop import train_scale
from .progress import TrainProgress


@dataclass
class CostEstimate:
    shapes: list[tuple[int, int]]
    seconds_per_iter: list[float]  # per scale
    iters: list[int]  # the config's iterations per scale
    setup_seconds: list[float] | None = None  # per scale: what a scale costs besides its iterations

    @property
    def seconds(self) -> float:
        """Projected training time for one pair: measured s/iteration x iterations + set-up, summed over scales."""
        return sum(s * i for s, i in zip(self.seconds_per_iter, self.iters)) + sum(self.setup_seconds or [])


def measure_training_cost(pair: Pair, cfg: TrainConfig, timed: int = 2, device: torch.device | str = "cpu",
                          on_scale=None) -> CostEstimate:
    """Time every scale of `pair` with the networks of `cfg`: after one warm-up iteration, a run of one
    penalty cycle and a run `timed` iterations longer; s/iteration is their difference / `timed`.
    `timed` is rounded up to whole cycles of the lazy gradient penalty, so its cost is counted at its share."""
    device = torch.device(device)
    cycle = math.lcm(cfg.gp_every, cfg.d_steps) // cfg.d_steps  # iterations until the penalty schedule repeats
    timed = -(-timed // cycle) * cycle
    pyramid = pyramid_for(pair, cfg)
    shapes = list(pyramid.shapes)
    model = SinGANSeg(config=cfg, shapes=shapes, modality=pair.modality,
                      rec_noise=torch.randn(1, pair.modality.tensor_channels, *shapes[0], device=device))
    reals = build_reals(pair, shapes, device)
    runs = [cfg.replace(iters_per_scale=k, iters_taper="geometric", finest_iters_fraction=1.0)
            for k in (1, cycle, cycle + timed)]
    critic, per_iter, setup = None, [], []
    for n in range(len(shapes)):
        seconds = []
        for i, run_cfg in enumerate(runs):  # each run's scale is dropped again, except the last one's
            if i > 0:
                del model.generators[-1]
                model.noise_amps.pop()
            started = time.perf_counter()
            critic, _ = train_scale(n, model, reals, run_cfg, device, critic,
                                    TrainProgress(shapes, run_cfg, enabled=False))
            seconds.append(time.perf_counter() - started)
        if seconds[2] > seconds[1]:
            per_iter.append((seconds[2] - seconds[1]) / timed)
            setup.append(max(seconds[1] - cycle * per_iter[-1], 0.0))
        else:  # noise beat the difference (tiny networks, a busy machine): the longer run, set-up included
            per_iter.append(seconds[2] / (cycle + timed))
            setup.append(0.0)
        if on_scale is not None:
            on_scale(n, shapes[n], per_iter[-1])
    return CostEstimate(shapes=shapes, seconds_per_iter=per_iter, setup_seconds=setup,
                        iters=[cfg.iters_at(n, len(shapes)) for n in range(len(shapes))])
