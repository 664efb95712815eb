"""Warm starts: a pair's scales initialised from a domain prior (model/prior.py) and fine-tuned briefly.

Scale map: every pyramid runs from `min_size` (coarsest shortest side) to `max_size` (finest longest side), so a
pair's scale n of P takes the prior's scale at the same relative position, round(n (Q - 1) / (P - 1)) of Q: the
coarsest maps to the coarsest (the only scale fed noise alone), the finest to the finest, and the scales between to
the prior scale of the nearest size (equal depths map one to one). Kvasir at 250 px has 9 or 10 scales, so every
scale has a prior scale. Widths and the network's architecture must match (one-line error otherwise).

A warm-started scale loads the prior's generator AND critic (after drawing the cold initialisation, so the scale's
random stream is the one a cold run draws) and keeps the pair's own noise amplitude and reconstruction. Every scale
of a warm-started run trains `warm_iters_fraction` of the preset's iterations. The coarsest scale starts from
SinGAN's initialisation unless `warm_coarsest`: it maps the pair's own fixed noise to its layout, which a prior
trained on many layouts does not know; on a 48-px Kvasir screen the prior's coarsest generator reconstructed worse
after 260 iterations than a fresh one (MSE 0.0049 against 0.0012). The model's config.json records the prior under
`warm_start` (its scale map has null for a scale that started cold).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from ..data.modality import Modality
from ..errors import CheckpointError, InputError
from ..model.prior import Prior, load_prior

ARCHITECTURE = ("num_layers", "kernel_size", "norm", "critic_norm_layer")


def scale_map(num_scales: int, prior_scales: int) -> list[int]:
    """The prior scale each of a pyramid's `num_scales` scales starts from (coarsest and finest aligned)."""
    if num_scales == 1:
        return [0]
    return [round(n * (prior_scales - 1) / (num_scales - 1)) for n in range(num_scales)]


@dataclass
class WarmStart:
    prior: Prior
    scales: list[int | None]  # prior scale per model scale (None: this scale starts cold)

    def covers(self, n: int) -> bool:
        return self.scales[n] is not None

    def load(self, n: int, generator: torch.nn.Module, critic: torch.nn.Module) -> None:
        """Put the prior's weights for model scale n into the new generator and critic."""
        generator.load_state_dict(self.prior.generators[self.scales[n]])
        critic.load_state_dict(self.prior.critics[self.scales[n]])

    def iterations(self, cfg: TrainConfig, num_scales: int) -> list[int]:
        return [cfg.warm_iters_at(n, num_scales) for n in range(num_scales)]

    def record(self, cfg: TrainConfig) -> dict[str, Any]:
        """config.json's `warm_start`: the prior (weights sha256, what it saw), the scale map, the iterations."""
        return {"prior": self.prior.record(), "scale_map": list(self.scales),
                "warm_iters_fraction": cfg.warm_iters_fraction, "warm_coarsest": cfg.warm_coarsest,
                "iterations": self.iterations(cfg, len(self.scales))}


def as_prior(prior: str | Path | Prior) -> Prior:
    return prior if isinstance(prior, Prior) else load_prior(prior)


def warm_start_for(prior: str | Path | Prior, cfg: TrainConfig, num_scales: int, modality: Modality) -> WarmStart:
    """The warm start of a model with `num_scales` scales from `prior`, refusing one whose networks differ."""
    prior = as_prior(prior)
    if prior.modality != modality:
        raise InputError(f"the prior was trained on {prior.modality.describe()}, this pair is {modality.describe()}",
                         prior.path)
    for name in ARCHITECTURE:
        mine, theirs = getattr(cfg, name), getattr(prior.config, name)
        if mine != theirs:
            raise InputError(f"the prior's networks have {name}={theirs!r}, this run's {mine!r}; train the prior "
                             "with the same preset", prior.path)
    scales: list[int | None] = list(scale_map(num_scales, prior.num_scales))
    if not cfg.warm_coarsest:
        scales[0] = None
    for n, m in enumerate(scales):
        if m is not None and cfg.channels_at(n) != prior.config.channels_at(m):
            raise InputError(f"the prior's scale {m} is {prior.config.channels_at(m)} filters wide but this model's "
                             f"scale {n}, which starts from it, needs {cfg.channels_at(n)}; train the prior with the "
                             "same preset (a constant width, as fast's, maps any depth)", prior.path)
    return WarmStart(prior=prior, scales=scales)


def check_same_prior(meta: dict[str, Any], warm: WarmStart | None, out_dir: Path) -> None:
    """Refuse to resume a model with another prior than it started from (or with one where it had none)."""
    saved = (meta.get("warm_start") or {}).get("prior", {}).get("weights_sha256")
    given = None if warm is None else warm.prior.weights_sha256
    if saved == given:
        return
    if saved is None:
        raise CheckpointError("cannot resume: the model was trained without a prior; resume it without --prior",
                              out_dir)
    if given is None:
        raise CheckpointError(f"cannot resume: the model was warm-started from the prior "
                              f"{meta['warm_start']['prior'].get('name')!r} (weights sha256 {saved[:12]}...); "
                              "pass that --prior", out_dir)
    raise CheckpointError(f"cannot resume: the model was warm-started from another prior (weights sha256 "
                          f"{saved[:12]}..., given {given[:12]}...)", out_dir)
