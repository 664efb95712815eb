"""Training one SinGAN-Seg model on one image/mask pair, coarse scale to fine scale.

Read top to bottom: `train()` prepares the pair, the pyramid and the output directory, then calls
`train_scale()` once per scale and checkpoints after each. `train_scale()` is the SinGAN recipe:
per iteration, `d_steps` WGAN-GP critic updates (the penalty on every `gp_every`-th one), then `g_steps`
generator updates with the adversarial loss plus `rec_weight` x the reconstruction loss (fixed noise at scale 0).

Randomness: every scale draws from its own generator seeded by (seed, scale), so a run resumed at scale k
draws exactly what an uninterrupted run would have.

Warm start (`prior=`, training/warm.py): every scale but the coarsest starts from a domain prior's generator and
critic instead of the scale below's, and every scale trains `warm_iters_fraction` of its iterations; nothing else
changes.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import DEFAULT_PRESET, TrainConfig, get_preset
from ..data.tensors import as_pair, build_reals
from ..device import machine_info, resolve_device
from ..model.checkpoint import load_model, read_model_meta, save_model
from ..model.networks import ScaleDiscriminator, ScaleGenerator, critic_for, generator_for, init_weights
from ..model.pyramid import pyramid_for
from ..model.singan import SinGANSeg, upsample
from ..rng import randn, seeded_generator
from .progress import TrainProgress
from .resume import MidScaleCheckpoints, ScaleState, check_out_dir, check_resumable
from .steps import ScaleStats, autocast, critic_updates, gradient_penalty, optimizers
from .warm import WarmStart, check_same_prior, warm_start_for

log = logging.getLogger("singan_seg")


# ----------------------------------------------------------------------------------------------------------
# One scale
# ----------------------------------------------------------------------------------------------------------

def new_networks(n: int, cfg: TrainConfig, model: SinGANSeg, prev_critic: ScaleDiscriminator | None,
                 rng: torch.Generator, warm: WarmStart | None = None) -> tuple[ScaleGenerator, ScaleDiscriminator]:
    """Scale n's generator and critic: SinGAN's initialisation (always drawn, so the scale's random stream is the
    same either way), then a warm start's prior weights where it covers scale n, else the previous scale's where
    `init_from_previous`."""
    width = cfg.channels_at(n)
    gen, critic = generator_for(cfg, n, channels=model.channels), critic_for(cfg, n, channels=model.channels)
    init_weights(gen, rng)
    init_weights(critic, rng)
    if warm is not None and warm.covers(n):
        warm.load(n, gen, critic)
    elif cfg.init_from_previous and n > 0 and cfg.channels_at(n - 1) == width:
        gen.load_state_dict(model.generators[n - 1].state_dict())
        if prev_critic is not None:
            critic.load_state_dict(prev_critic.state_dict())
    return gen, critic


def train_scale(n: int, model: SinGANSeg, reals: list[torch.Tensor], cfg: TrainConfig, device: torch.device,
                prev_critic: ScaleDiscriminator | None, progress: TrainProgress,
                checkpoints: MidScaleCheckpoints | None = None, warm: WarmStart | None = None
                ) -> tuple[ScaleDiscriminator, ScaleStats]:
    """Train scale n on top of the fixed scales below it and add it to `model`.
    With `checkpoints`, continue a saved state of this scale and save one every few minutes; with `warm`, start
    from a domain prior's weights and train `warm_iters_fraction` of the iterations."""
    started = time.perf_counter()
    rng = seeded_generator(cfg.seed, n)
    shapes, real = model.shapes, reals[n]
    gen, critic = new_networks(n, cfg, model, prev_critic, rng, warm)
    gen.to(device).train()
    critic.to(device).train()

    # Noise amplitude: 1 at the coarsest scale, else noise_amp_init x RMSE of the reconstruction so far.
    with torch.no_grad():
        if n == 0:
            noise_amp = 1.0
        else:
            rmse = torch.sqrt(F.mse_loss(upsample(model.reconstruct(upto=n), shapes[n]), real))
            noise_amp = cfg.noise_amp_factor(n, model.num_scales) * float(rmse)
        rec_base = model.reconstruct(upto=n)  # the fixed scales' reconstruction (zeros at scale 0)
    # The reconstruction's input at this scale: the fixed noise at the coarsest scale, none above.
    channels = model.channels
    rec_noise = noise_amp * model.reconstruction_input(0) if n == 0 else torch.zeros(1, channels, *shapes[n],
                                                                                      device=device)

    iters = cfg.warm_iters_at(n, model.num_scales) if warm is not None else cfg.iters_at(n, model.num_scales)
    opt_g, opt_d, sched_g, sched_d = optimizers(cfg, gen, critic, iters)
    amp = partial(autocast, device, cfg.bf16)
    with amp():  # resized under the same autocast as the rest of the generator's input
        rec_below = upsample(rec_base, shapes[n])
    state = ScaleState(networks={f"generator{n}": gen, "critic": critic},
                       optimizers={"generator": opt_g, "critic": opt_d}, schedulers=[sched_g, sched_d], rng=rng)
    done, seconds_before = checkpoints.resume(n, state) if checkpoints is not None else (0, 0.0)

    d_loss = g_adv = rec_loss = torch.zeros(())
    for it in range(done, iters):
        # Fresh random input for this iteration: a sample of the fixed scales below n, and noise at n.
        # The fixed scales run under the same autocast as training (bf16 in `fast`: 1.7x cheaper at the finest
        # scale, where they cost ~30 ms per iteration in float32, as much as a generator forward pass there).
        with torch.no_grad(), amp():
            # unit noise: run_scales multiplies by each scale's amplitude
            below_noises = [randn((1, channels, *shapes[m]), rng, device) for m in range(n)]
            rand_below = model.run_scales(below_noises, n, shapes).float() if n > 0 else \
                torch.zeros(1, channels, *shapes[0], device=device)
        noise = noise_amp * randn((1, channels, *shapes[n]), rng, device)

        # The fake is made once, with its graph: the critic sees it detached, the first generator update
        # reuses the graph (as SinGAN does), which saves a generator forward pass per iteration.
        with amp():
            rand_below = upsample(rand_below, shapes[n])
            fake_graph = gen(noise, rand_below)
        fake = fake_graph.detach().float()

        # (1) critic: maximise D(real) - D(fake), with gradient penalty
        d_loss = critic_updates(critic, opt_d, real, fake, cfg, it, amp,
                                reduce=lambda scores: scores.float().mean(),
                                penalty=partial(gradient_penalty, critic, real, fake, generator=rng))

        # (2) generator: fool the critic and reconstruct the real pair from the fixed noise
        for g_step in range(cfg.g_steps):
            opt_g.zero_grad(set_to_none=True)
            with amp():
                generated = fake_graph if g_step == 0 else gen(noise, rand_below)
                g_adv = -critic(generated).float().mean()
                rec_loss = F.mse_loss(gen(rec_noise, rec_below).float(), real)
            (g_adv + cfg.rec_weight * rec_loss).backward()
            opt_g.step()

        sched_g.step()
        sched_d.step()
        progress.advance(n, it + 1, iters, d_loss=d_loss.detach(), g_adv=g_adv.detach(), rec=rec_loss.detach())
        if checkpoints is not None:
            checkpoints.maybe_save(n, it + 1, iters, seconds_before + time.perf_counter() - started, state)

    model.add_scale(gen.eval().requires_grad_(False), noise_amp)
    critic.eval().requires_grad_(False)
    stats = ScaleStats(scale=n, shape=tuple(shapes[n]), width=cfg.channels_at(n), noise_amp=noise_amp,
                       seconds=seconds_before + time.perf_counter() - started, d_loss=d_loss.item(),
                       g_adv=g_adv.item(), rec=rec_loss.item())
    return critic, stats


# ----------------------------------------------------------------------------------------------------------
# The whole run
# ----------------------------------------------------------------------------------------------------------

def train(image: Any, mask: Any = None, out_dir: str | Path | None = None, config: TrainConfig | None = None,
          preset: str = DEFAULT_PRESET, device: str | torch.device = "auto", resume: bool = False,
          overwrite: bool = False, progress: bool = True, allow_empty_mask: bool = False,
          stop_after_scale: int | None = None, checkpoint_minutes: float | None = 10.0, classes: Any = None,
          channels: int | None = None, bit_depth: int | None = None, prior: Any = None) -> SinGANSeg:
    """Train a SinGAN-Seg model on one image/mask pair.

    Args:
        image, mask: file paths, arrays ((H, W, C) uint8/uint16 and (H, W) bool/0..255 or label values), or a
            `Pair` as `image`.
        out_dir: model directory; checkpointed after every scale (and within a scale, see `checkpoint_minutes`).
            None keeps the model in memory only.
        config: a `TrainConfig`; default: the named `preset` ("fast").
        device: "auto" (CUDA when present), "cpu" or "cuda".
        resume: continue the checkpoint in `out_dir` (same settings and inputs required).
        overwrite: replace a model already in `out_dir`.
        progress: show a progress bar with scale, iteration, losses and time left.
        stop_after_scale: stop (checkpointed) after this scale; used to test and demonstrate resuming.
        checkpoint_minutes: also save the state of the scale being trained this often, so that an interrupted
            long scale resumes where it stopped (0: after every iteration; None: only between scales).
        classes: the mask's classes, e.g. "background,disc,cup" (label values 0, 1, 2) or
            "background=#000000,tumour=#ff0000" (colours); None: a binary mask (data/modality.py).
        channels, bit_depth: convert the image (1 <-> 3 channels, 16 -> 8 bits); None keeps the file's.
        prior: a domain prior's directory (`train_prior`, or a loaded `Prior`): every scale but the coarsest (that
            too with `warm_coarsest`) starts from the prior's generator and critic, and every scale trains
            `config.warm_iters_fraction` of its iterations (training/warm.py). The model's config.json records the
            prior; a resume needs the same one.

    Returns:
        The trained `SinGANSeg` model (generators in eval mode, on `device`).

    Example:
        >>> model = train("polyp.jpg", "polyp_mask.jpg", out_dir="models/polyp", preset="fast")
        >>> images, masks = sample(model, num=10, seed=0)
    """
    cfg = config if config is not None else get_preset(preset)
    dev = resolve_device(device)
    pair = as_pair(image, mask, allow_empty_mask, channels=channels, bit_depth=bit_depth, classes=classes)
    pyramid = pyramid_for(pair, cfg)
    out = Path(out_dir) if out_dir is not None else None

    model = SinGANSeg(config=cfg, shapes=list(pyramid.shapes), modality=pair.modality)
    warm = None if prior is None else warm_start_for(prior, cfg, model.num_scales, pair.modality)
    critic, history, meta = None, [], None
    if out is not None and check_out_dir(out, resume, overwrite):
        meta = read_model_meta(out)
        check_resumable(meta, cfg, pair, out)
        check_same_prior(meta, warm, out)
        model, meta, critic = load_model(out, dev, require_complete=False, with_discriminator=True)
        history = meta.get("training", {}).get("scales", [])
        log.info("resuming %s at scale %d of %d", out, model.trained_scales, model.num_scales)
        if model.is_complete:
            return model
    if model.rec_noise is None:  # fixed reconstruction noise of the coarsest scale
        model.rec_noise = randn((1, model.channels, *pyramid.shapes[0]), seeded_generator(cfg.seed, 10**6), dev)

    reals = build_reals(pair, model.shapes, dev)
    extra = {"inputs": pair.describe_inputs(), "pyramid_scale_factor": pyramid.scale_factor}
    if warm is not None:
        extra["warm_start"] = warm.record(cfg)

    def save(critic: ScaleDiscriminator | None) -> dict[str, Any]:
        training = {"scales": history, "seconds": round(sum(h["seconds"] for h in history), 3),
                    "machine": machine_info(dev)}
        return save_model(out, model, discriminator=critic, extra=extra | {"training": training})

    checkpoints = None
    if out is not None:
        if meta is None:  # a fresh directory: an empty checkpoint first, so even scale 0 can resume mid-way
            meta = save(None)
        if checkpoint_minutes is not None:
            checkpoints = MidScaleCheckpoints(out, meta["weights"]["sha256"], checkpoint_minutes * 60)
    last = model.num_scales - 1 if stop_after_scale is None else min(stop_after_scale, model.num_scales - 1)
    done = checkpoints.pending_iterations(model.trained_scales) if checkpoints is not None else 0
    iterations = None if warm is None else warm.iterations(cfg, model.num_scales)
    with TrainProgress(model.shapes, cfg, start_scale=model.trained_scales, start_iteration=done,
                       enabled=progress, iterations=iterations) as bar:
        for n in range(model.trained_scales, last + 1):
            critic, stats = train_scale(n, model, reals, cfg, dev, critic, bar, checkpoints, warm)
            history.append(stats.__dict__ | {"shape": list(stats.shape)})
            log.info("scale %d/%d %dx%d done in %.1fs (rec %.4f, noise amp %.4f)", n + 1, model.num_scales,
                     *stats.shape, stats.seconds, stats.rec, stats.noise_amp)
            if out is not None:
                meta = save(critic)
            if checkpoints is not None:  # the scale's state is in the model now; the next continues these weights
                checkpoints.clear()
                checkpoints.base_sha256 = meta["weights"]["sha256"]
    return model
