"""Domain priors (issue #32): one SinGAN-Seg pyramid trained once on several pairs of a dataset, from which every
pair's generator is warm-started and fine-tuned with far fewer iterations (training/warm.py).

How the prior differs from a pair's run (`train_scale`), and why:
- One fixed pyramid: `compute_pyramid` of the pairs' median size; every pair is resized to it (its aspect ratio
  changes a little: Kvasir's are 0.86 +- a few %). Warm starts map it onto any pair's pyramid (warm.scale_map).
- Each iteration's real is one of the pairs, in a seeded order: successive random permutations of the pairs, so
  every pair is seen equally often, drawn from a generator of its own keyed (seed, scale, PRIOR_ORDER_KEY); the
  noise, initialisation and penalty mixing come from (seed, scale) as in a pair's run.
- The fake is made as in a pair's run: a sample of the prior's own trained scales below, plus noise.
- Reconstruction: a fixed noise map reconstructing one image means nothing across images, and a warm-started pair
  draws its own reconstruction noise anyway. What does carry over is what the upper scales learn from it: turning
  the upsampled image of the scale below into the sharper real one. So scale n >= 1 reconstructs each real from the
  upsampled REAL below (zero noise, `rec_weight` as configured): a learned upsampler of the domain, the generator's
  job at those scales in every pair's run. Scale 0 (noise to layout) is trained by the critic alone.
- Noise amplitude at n >= 1: `noise_amp_factor` x the RMSE, over the pairs, of that reconstruction one scale
  down, upsampled, against the real (the pair's own run measures its own reconstruction the same way).
- Iterations: the config's; `train_prior` multiplies `iters_per_scale` by `iters_factor`, since the prior's cost is
  shared by every pair of the dataset.
A prior is saved after every scale (model/prior.py: all generators and critics, and what it saw); `resume`
continues at the next scale and draws what an uninterrupted run draws.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import DEFAULT_PRESET, TrainConfig, get_preset
from ..data.dataset import PairFiles, find_pairs, read_folds
from ..data.pairs import Pair
from ..data.tensors import as_pair, build_reals
from ..device import machine_info, resolve_device
from ..errors import CheckpointError, InputError
from ..files import prepare_checkpoint_dir, sha256_file
from ..model.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from ..model.networks import ScaleDiscriminator, critic_for, generator_for
from ..model.prior import KIND, Prior, is_prior_dir, load_prior, read_prior_meta, save_prior
from ..model.pyramid import compute_pyramid
from ..model.singan import SinGANSeg, upsample
from ..rng import randn, seeded_generator
from .loop import new_networks
from .progress import TrainProgress
from .steps import ScaleStats, autocast, critic_updates, gradient_penalty, optimizers

log = logging.getLogger("singan_seg")

PRIOR_ORDER_KEY = 7_000_001  # (seed, scale, this): the order in which the prior's scale sees its pairs
DEFAULT_ITERS_FACTOR = 4.0
DEFAULT_COUNT = 64


# ----------------------------------------------------------------------------------------------------------
# Which pairs a prior trains on
# ----------------------------------------------------------------------------------------------------------

def select_prior_pairs(images_dir: str | Path, masks_dir: str | Path, folds: str | Path | None = None,
                       fold: int | None = None, exclude_fold: int | None = None, count: int | None = DEFAULT_COUNT,
                       seed: int = 0) -> tuple[list[PairFiles], dict[str, int], dict[str, Any]]:
    """The pairs a prior trains on: those of fold `fold` only, or of every fold but `exclude_fold` (folds.csv
    `folds`), or all; then `count` of them in a seeded random choice (None: all). Returns the pairs, their folds and
    the selection record kept in the prior's config.json."""
    if (fold is not None or exclude_fold is not None) and folds is None:
        raise InputError("--fold and --exclude-fold need --folds (the folds.csv that defines them)")
    if fold is not None and exclude_fold is not None:
        raise InputError("give --fold (train on that fold's images only) or --exclude-fold, not both")
    if count is not None and count < 1:
        raise InputError(f"--count should be at least 1, got {count}")
    pairs = find_pairs(images_dir, masks_dir)
    fold_of = read_folds(folds, [p.id for p in pairs]) if folds is not None else {}
    for option, value in (("--fold", fold), ("--exclude-fold", exclude_fold)):
        if value is not None and value not in set(fold_of.values()):
            raise InputError(f"{option} {value}: no such fold (the folds are {sorted(set(fold_of.values()))})", folds)
    eligible = [p for p in pairs if (fold is None or fold_of[p.id] == fold)
                and (exclude_fold is None or fold_of[p.id] != exclude_fold)]
    chosen = eligible
    if count is not None:  # a seeded random choice, so that a small prior covers the eligible pairs evenly
        chosen = sorted((eligible[i] for i in np.random.default_rng(seed).permutation(len(eligible))[:count]),
                        key=lambda p: p.id)
    selection = {"fold": fold, "exclude_fold": exclude_fold, "count": len(chosen), "eligible": len(eligible),
                 "seed": seed, "folds_file_sha256": sha256_file(folds) if folds is not None else None}
    return chosen, {p.id: fold_of[p.id] for p in chosen if p.id in fold_of}, selection


def describe_trained_on(pairs: list[Pair], folds: dict[str, int] | None,
                        selection: dict[str, Any] | None) -> dict[str, Any]:
    """The record of what a prior saw: every pair's id, fold and the sha256 of its files (arrays are refused: the
    fold check of build-dataset matches files)."""
    images = []
    for pair in pairs:
        if not pair.image_sha256 or not pair.mask_sha256:
            raise InputError(f"pair {pair.source_id!r} was not read from files; a prior records the sha256 of the "
                             "files it saw (for fold checks), so give image and mask files")
        images.append({"id": pair.source_id, "fold": (folds or {}).get(pair.source_id),
                       "image_sha256": pair.image_sha256, "mask_sha256": pair.mask_sha256})
    ids = [item["id"] for item in images]
    if len(set(ids)) != len(ids):
        raise InputError(f"a prior's pairs need distinct ids; repeated: {sorted({i for i in ids if ids.count(i) > 1})}")
    return {"ids": ids, "images": images, "folds_seen": sorted({i["fold"] for i in images if i["fold"] is not None}),
            "selection": selection or {}}


# ----------------------------------------------------------------------------------------------------------
# One scale of the prior
# ----------------------------------------------------------------------------------------------------------

def pair_order(seed: int, scale: int, num_pairs: int, iters: int) -> list[int]:
    """Which pair each iteration of `scale` trains on: successive seeded permutations of the pairs."""
    rng = seeded_generator(seed, scale, PRIOR_ORDER_KEY)
    rounds = math.ceil(iters / num_pairs)
    return torch.cat([torch.randperm(num_pairs, generator=rng) for _ in range(rounds)])[:iters].tolist()


@torch.no_grad()
def teacher_forced(model: SinGANSeg, reals: list[list[torch.Tensor]], n: int) -> list[torch.Tensor]:
    """Each pair's reconstruction at scale n from its real one scale down (the real itself at scale 0)."""
    if n == 0:
        return [r[0] for r in reals]
    zeros = torch.zeros_like(reals[0][n])
    return [model.generators[n](zeros, upsample(r[n - 1], model.shapes[n])) for r in reals]


def train_prior_scale(n: int, model: SinGANSeg, reals: list[list[torch.Tensor]], cfg: TrainConfig,
                      device: torch.device, prev_critic: ScaleDiscriminator | None,
                      progress: TrainProgress) -> tuple[ScaleDiscriminator, ScaleStats]:
    """Train the prior's scale n on every pair, on top of its trained scales below, and add it to `model`."""
    started = time.perf_counter()
    rng = seeded_generator(cfg.seed, n)
    shapes, channels = model.shapes, model.channels
    gen, critic = new_networks(n, cfg, model, prev_critic, rng)
    gen.to(device).train()
    critic.to(device).train()
    with torch.no_grad():
        if n == 0:
            noise_amp = 1.0
        else:
            below = teacher_forced(model, reals, n - 1)
            mse = [F.mse_loss(upsample(b, shapes[n]), r[n]) for b, r in zip(below, reals)]
            noise_amp = cfg.noise_amp_factor(n, model.num_scales) * math.sqrt(float(torch.stack(mse).mean()))
    iters = cfg.iters_at(n, model.num_scales)
    opt_g, opt_d, sched_g, sched_d = optimizers(cfg, gen, critic, iters)
    amp = partial(autocast, device, cfg.bf16)
    with amp():
        rec_below = [upsample(r[n - 1], shapes[n]) for r in reals] if n > 0 else None
    zeros = torch.zeros(1, channels, *shapes[n], device=device)
    order = pair_order(cfg.seed, n, len(reals), iters)

    d_loss = g_adv = rec_loss = torch.zeros(())
    for it in range(iters):
        i = order[it]
        real = reals[i][n]
        with torch.no_grad(), amp():
            below_noises = [randn((1, channels, *shapes[m]), rng, device) for m in range(n)]
            rand_below = model.run_scales(below_noises, n, shapes).float() if n > 0 else zeros
        noise = noise_amp * randn((1, channels, *shapes[n]), rng, device)
        with amp():
            rand_below = upsample(rand_below, shapes[n])
            fake_graph = gen(noise, rand_below)
        fake = fake_graph.detach().float()
        d_loss = critic_updates(critic, opt_d, real, fake, cfg, it, amp, reduce=lambda scores: scores.float().mean(),
                                penalty=partial(gradient_penalty, critic, real, fake, generator=rng))
        for g_step in range(cfg.g_steps):
            opt_g.zero_grad(set_to_none=True)
            with amp():
                generated = fake_graph if g_step == 0 else gen(noise, rand_below)
                g_adv = -critic(generated).float().mean()
                loss = g_adv
                if rec_below is not None:
                    rec_loss = F.mse_loss(gen(zeros, rec_below[i]).float(), real)
                    loss = g_adv + cfg.rec_weight * rec_loss
            loss.backward()
            opt_g.step()
        sched_g.step()
        sched_d.step()
        progress.advance(n, it + 1, iters, d_loss=d_loss.detach(), g_adv=g_adv.detach(), rec=rec_loss.detach())

    model.add_scale(gen.eval().requires_grad_(False), noise_amp)
    critic.eval().requires_grad_(False)
    stats = ScaleStats(scale=n, shape=tuple(shapes[n]), width=cfg.channels_at(n), noise_amp=noise_amp,
                       seconds=time.perf_counter() - started, d_loss=d_loss.item(), g_adv=g_adv.item(),
                       rec=rec_loss.item())
    return critic, stats


# ----------------------------------------------------------------------------------------------------------
# The whole prior
# ----------------------------------------------------------------------------------------------------------

def _read(pair: Any, options: dict[str, Any]) -> Pair:
    if isinstance(pair, Pair):
        return pair
    image, mask = (pair.image, pair.mask) if isinstance(pair, PairFiles) else pair
    return as_pair(image, mask, **options)


def prior_config(config: TrainConfig | None, preset: str, iters_factor: float) -> TrainConfig:
    """The prior's config: the preset's (or `config`) with `iters_per_scale` x `iters_factor`."""
    if not iters_factor > 0:
        raise InputError(f"--iters-factor should be positive, got {iters_factor!r}")
    cfg = config if config is not None else get_preset(preset)
    return cfg.replace(iters_per_scale=max(1, round(cfg.iters_per_scale * iters_factor)))


def check_prior_dir(out: Path, resume: bool, overwrite: bool) -> bool:
    """True when `out` holds a prior to resume; refuse to clobber anything else (files.prepare_checkpoint_dir)."""
    return prepare_checkpoint_dir(out, is_prior_dir(out), resume, overwrite, KIND, (CONFIG_FILE, WEIGHTS_FILE))


def _resume(out: Path, cfg: TrainConfig, trained_on: dict[str, Any], model: SinGANSeg,
            device: torch.device) -> tuple[list[ScaleDiscriminator], list[dict[str, Any]]]:
    """Load a partial prior into `model`, refusing one trained with other settings or on other pairs."""
    meta = read_prior_meta(out)
    saved = TrainConfig.from_dict(meta["config"]).training_dict()
    different = sorted(k for k, v in cfg.training_dict().items() if saved.get(k) != v)
    if different:
        raise CheckpointError(f"cannot resume: the prior was trained with other settings ({', '.join(different)})",
                              out)
    if meta["trained_on"]["images"] != trained_on["images"]:
        raise CheckpointError("cannot resume: the prior was trained on other pairs (ids, folds or files differ)", out)
    prior = load_prior(out, require_complete=False)
    critics = []
    for n in range(meta["trained_scales"]):
        gen, critic = generator_for(cfg, n, channels=model.channels), critic_for(cfg, n, channels=model.channels)
        gen.load_state_dict(prior.generators[n])
        critic.load_state_dict(prior.critics[n])
        model.add_scale(gen.to(device).eval().requires_grad_(False), meta["noise_amps"][n])
        critics.append(critic.to(device).eval().requires_grad_(False))
    return critics, list(meta.get("training", {}).get("scales", []))


def train_prior(pairs: list[Any], out_dir: str | Path, config: TrainConfig | None = None,
                preset: str = DEFAULT_PRESET, iters_factor: float = DEFAULT_ITERS_FACTOR, device: str = "auto",
                resume: bool = False, overwrite: bool = False, progress: bool = True,
                folds: dict[str, int] | None = None, selection: dict[str, Any] | None = None,
                **pair_options: Any) -> Prior:
    """Train a domain prior on several pairs and write it to `out_dir` (checkpointed after every scale).

    Args:
        pairs: `PairFiles`, (image, mask) file tuples or `Pair`s read from files (their sha256 are recorded).
        config / preset: the networks and recipe; the warm-started runs need the same architecture and widths.
        iters_factor: the prior trains the config's iterations x this (its cost is shared by every pair).
        folds: id -> fold of the pairs (recorded: build-dataset refuses a prior that saw another fold's images).
        selection: how the pairs were chosen (`select_prior_pairs`), recorded.
        pair_options: how files are read (classes, channels, bit_depth), as in `train`.
    """
    cfg = prior_config(config, preset, iters_factor)
    dev = resolve_device(device)
    if not pairs:
        raise InputError("a prior needs at least one pair")
    loaded = [_read(p, pair_options) for p in pairs]
    trained_on = describe_trained_on(loaded, folds, selection)
    modalities = {p.modality for p in loaded}
    if len(modalities) > 1:
        raise InputError(f"a prior's pairs need one modality; got {sorted(m.describe() for m in modalities)}")
    height = int(statistics.median(p.height for p in loaded))
    width = int(statistics.median(p.width for p in loaded))
    pyramid = compute_pyramid(height, width, cfg.max_size, cfg.min_size, cfg.scale_factor)
    model = SinGANSeg(config=cfg, shapes=list(pyramid.shapes), modality=loaded[0].modality)
    out = Path(out_dir)
    critics, history = [], []
    if check_prior_dir(out, resume, overwrite):
        critics, history = _resume(out, cfg, trained_on, model, dev)
        log.info("resuming the prior %s at scale %d of %d", out, model.trained_scales, model.num_scales)
    reals = [build_reals(p, model.shapes, dev) for p in loaded]
    del loaded  # the decoded images; the reals are all training needs

    def save() -> None:
        training = {"scales": history, "seconds": round(sum(h["seconds"] for h in history), 3),
                    "machine": machine_info(dev), "median_size": [height, width]}
        save_prior(out, cfg, model.shapes, model.modality, list(model.generators), critics, model.noise_amps,
                   trained_on, extra={"training": training, "pyramid_scale_factor": pyramid.scale_factor})

    if not model.trained_scales:
        save()  # an empty prior first: the folder is ours from the start
    with TrainProgress(model.shapes, cfg, start_scale=model.trained_scales, enabled=progress) as bar:
        for n in range(model.trained_scales, model.num_scales):
            critic, stats = train_prior_scale(n, model, reals, cfg, dev, critics[-1] if critics else None, bar)
            critics.append(critic)
            history.append(stats.__dict__ | {"shape": list(stats.shape)})
            log.info("prior scale %d/%d %dx%d done in %.1fs (rec %.4f, noise amp %.4f)", n + 1, model.num_scales,
                     *stats.shape, stats.seconds, stats.rec, stats.noise_amp)
            save()
    return load_prior(out)
