"""Training one SinGAN-Seg model on one image/mask pair, coarse scale to fine scale.

Read top to bottom: `train()` prepares the pair, the pyramid and the output directory, then calls
`train_scale()` once per scale and checkpoints after each. `train_scale()` is the SinGAN recipe:
per iteration, `d_steps` WGAN-GP critic updates (the penalty on every `gp_every`-th one), then `g_steps`
generator updates with the adversarial loss plus `rec_weight` x the reconstruction loss (fixed noise at scale 0).
With `concurrent_scales` > 1 the last few scales train together (ConSinGAN), the earlier ones at a reduced
learning rate.

Randomness: every scale draws from its own generator seeded by (seed, scale), so a run resumed at scale k
draws exactly what an uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import DEFAULT_PRESET, TrainConfig, get_preset
from .data.pairs import Pair, load_pair, pair_from_arrays
from .device import machine_info, resolve_device
from .errors import CheckpointError, InputError
from .files import prepare_checkpoint_dir
from .model.checkpoint import CONFIG_FILE, WEIGHTS_FILE, is_model_dir, load_model, read_model_meta, save_model
from .model.networks import CHANNELS, ScaleDiscriminator, ScaleGenerator, critic_for, generator_for, init_weights
from .model.pyramid import compute_pyramid
from .model.singan import SinGANSeg, randn, seeded_generator, upsample
from .progress import TrainProgress
from .scale_checkpoint import STATE_FILE, TENSORS_FILE, MidScaleCheckpoints, ScaleState

log = logging.getLogger("singan_seg")

KEEP_LOWER_RECONSTRUCTION = True  # see train_scale; False only to test that keeping it changes nothing


# ----------------------------------------------------------------------------------------------------------
# Inputs: the pair as a 4-channel tensor pyramid
# ----------------------------------------------------------------------------------------------------------

def pair_to_tensor(pair: Pair) -> torch.Tensor:
    """(1, 4, H, W) in [-1, 1]: RGB scaled from 0..255, mask channel -1 (background) / +1 (object)."""
    rgb = torch.from_numpy(pair.image).permute(2, 0, 1).float() / 127.5 - 1.0
    mask = torch.from_numpy(pair.mask.astype(np.float32))[None] * 2.0 - 1.0
    return torch.cat([rgb, mask])[None]


def build_reals(pair: Pair, shapes: list[tuple[int, int]], device: torch.device) -> list[torch.Tensor]:
    """The real pair resized to every pyramid scale (antialiased bicubic, as SinGAN's imresize)."""
    full = pair_to_tensor(pair)
    finest = F.interpolate(full, size=shapes[-1], mode="bicubic", align_corners=False, antialias=True)
    reals = [F.interpolate(finest, size=s, mode="bicubic", align_corners=False, antialias=True) for s in shapes]
    return [r.clamp(-1, 1).to(device) for r in reals]


def as_pair(image: Any, mask: Any = None, allow_empty_mask: bool = False) -> Pair:
    """Accept a Pair, two paths, or two arrays."""
    if isinstance(image, Pair):
        return image
    if mask is None:
        raise InputError("a mask is required with an image (pass image and mask)")
    if isinstance(image, (str, Path)):
        return load_pair(image, mask, allow_empty_mask=allow_empty_mask)
    return pair_from_arrays(np.asarray(image), np.asarray(mask), allow_empty_mask=allow_empty_mask)


# ----------------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------------

def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float,
                     generator: torch.Generator) -> torch.Tensor:
    """WGAN-GP as in SinGAN: the per-pixel gradient norm over channels, pushed towards 1."""
    alpha = torch.rand(1, 1, 1, 1, generator=generator).to(real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(mixed)
    (grads,) = torch.autograd.grad(scores, mixed, torch.ones_like(scores), create_graph=True)
    return weight * ((grads.float().norm(2, dim=1) - 1) ** 2).mean()


# ----------------------------------------------------------------------------------------------------------
# One scale
# ----------------------------------------------------------------------------------------------------------

@dataclass
class ScaleStats:
    scale: int
    shape: tuple[int, int]
    width: int
    noise_amp: float
    seconds: float
    d_loss: float
    g_adv: float
    rec: float


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for the convolutions when `enabled` (losses are computed in float32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def _new_networks(n: int, cfg: TrainConfig, model: SinGANSeg, prev_critic: ScaleDiscriminator | None,
                  rng: torch.Generator) -> tuple[ScaleGenerator, ScaleDiscriminator]:
    width = cfg.channels_at(n)
    gen, critic = generator_for(cfg, n), critic_for(cfg, n)
    init_weights(gen, rng)
    init_weights(critic, rng)
    if cfg.init_from_previous and n > 0 and cfg.channels_at(n - 1) == width:
        gen.load_state_dict(model.generators[n - 1].state_dict())
        if prev_critic is not None:
            critic.load_state_dict(prev_critic.state_dict())
    return gen, critic


def _trained_chain(n: int, cfg: TrainConfig, generators: Sequence[nn.Module], gen: nn.Module, critic: nn.Module,
                   device: torch.device) -> tuple[int, list[nn.Module]]:
    """Scales [first, n] are updated at scale n (concurrent_scales of them), those below `first` are fixed:
    (first, their generators), all in training mode on `device`."""
    gen.to(device).train()
    critic.to(device).train()
    first = max(0, n - cfg.concurrent_scales + 1)
    chain = [generators[m] for m in range(first, n)] + [gen]
    for earlier in chain[:-1]:
        earlier.train().requires_grad_(True)
    return first, chain


def _run_chain(chain: list[ScaleGenerator], shapes: list[tuple[int, int]], first: int, start: torch.Tensor,
               noises: list[torch.Tensor], frozen: int = 0) -> torch.Tensor:
    """The trained scales [first, n] on the fixed scales' output `start`, one noise per scale; the first
    `frozen` of them without gradients (TrainConfig.lower_scales_frozen)."""
    x = start
    for i, (g, z) in enumerate(zip(chain, noises)):
        with torch.set_grad_enabled(torch.is_grad_enabled() and i >= frozen):
            x = g(z, upsample(x, shapes[first + i]))
    return x


def _optimizers(cfg: TrainConfig, chain: list[ScaleGenerator], critic: ScaleDiscriminator, iters: int):
    """Adam for the trained scales (each scale below the newest at concurrent_lr_scale x the rate of the one
    above it) and for the critic, with their step decays: (opt_g, opt_d, sched_g, sched_d)."""
    n = len(chain) - 1
    lr_factors = [cfg.concurrent_lr_scale ** (n - m) for m in range(n + 1)]
    opt_g = torch.optim.Adam([{"params": g.parameters(), "lr": cfg.lr_g * f} for g, f in zip(chain, lr_factors)],
                             betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    milestones = [cfg.lr_decay_iter(iters)]
    sched_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones, gamma=cfg.lr_decay_gamma)
    sched_d = torch.optim.lr_scheduler.MultiStepLR(opt_d, milestones, gamma=cfg.lr_decay_gamma)
    return opt_g, opt_d, sched_g, sched_d


def _critic_updates(critic: nn.Module, opt_d: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                    cfg: TrainConfig, it: int, autocast: Any, reduce: Any, penalty: Any) -> torch.Tensor:
    """Iteration `it`'s cfg.d_steps critic updates: minimise reduce(D(fake)) - reduce(D(real)), plus
    penalty(weight) on the updates the lazy schedule picks. `reduce` averages the critic's scores (per model in
    train_many, which sums the per-model losses). Returns the last loss."""
    d_loss = torch.zeros(())
    for step in range(it * cfg.d_steps, (it + 1) * cfg.d_steps):
        opt_d.zero_grad(set_to_none=True)
        gp_weight = cfg.penalty_weight(step)
        with autocast():
            d_loss = -reduce(critic(real)) + reduce(critic(fake))
            if gp_weight:
                d_loss = d_loss + penalty(gp_weight)
        d_loss.sum().backward()
        opt_d.step()
    return d_loss


def train_scale(n: int, model: SinGANSeg, reals: list[torch.Tensor], cfg: TrainConfig, device: torch.device,
                prev_critic: ScaleDiscriminator | None, progress: TrainProgress,
                checkpoints: MidScaleCheckpoints | None = None) -> tuple[ScaleDiscriminator, ScaleStats]:
    """Train scale n (and, with concurrent_scales > 1, fine-tune the scales just below it); adds it to `model`.
    With `checkpoints`, continue a saved state of this scale and save one every few minutes."""
    started = time.perf_counter()
    rng = seeded_generator(cfg.seed, n)
    shapes, real = model.shapes, reals[n]
    gen, critic = _new_networks(n, cfg, model, prev_critic, rng)
    first, chain = _trained_chain(n, cfg, model.generators, gen, critic, device)

    # Noise amplitude: 1 at the coarsest scale, else noise_amp_init x RMSE of the reconstruction so far.
    with torch.no_grad():
        if n == 0:
            noise_amp = 1.0
        else:
            rmse = torch.sqrt(F.mse_loss(upsample(model.reconstruct(upto=n), shapes[n]), real))
            noise_amp = cfg.noise_amp_factor(n, model.num_scales) * float(rmse)
        rec_base = model.reconstruct(upto=first)  # output of the fixed scales (zeros if none)
    amps = model.noise_amps[first:n] + [noise_amp]
    rec_noise = [amps[0] * model.reconstruction_input(first) if first == 0 else
                 torch.zeros(1, CHANNELS, *shapes[first], device=device)]
    rec_noise += [torch.zeros(1, CHANNELS, *shapes[m], device=device) for m in range(first + 1, n + 1)]

    run_chain = partial(_run_chain, chain, shapes, first)
    iters = cfg.iters_at(n, model.num_scales)
    opt_g, opt_d, sched_g, sched_d = _optimizers(cfg, chain, critic, iters)
    autocast = partial(_autocast, device, cfg.bf16)
    state = ScaleState(networks={f"generator{m}": g for m, g in enumerate(chain, start=first)} | {"critic": critic},
                       optimizers={"generator": opt_g, "critic": opt_d}, schedulers=[sched_g, sched_d], rng=rng)
    done, seconds_before = checkpoints.resume(n, state) if checkpoints is not None else (0, 0.0)

    # On iterations where the lower scales run without gradients their reconstruction is the same until their
    # next update, so it is kept (the same values, one generator pass less per iteration) unless a norm layer
    # there keeps running statistics, which every pass in training mode would update.
    keep_lower_rec = KEEP_LOWER_RECONSTRUCTION and not any(getattr(m, "track_running_stats", False) for g in chain[:-1] for m in g.modules())
    lower_rec: list[torch.Tensor] = []

    def reconstruction(frozen: int) -> torch.Tensor:
        if not frozen or not keep_lower_rec:
            lower_rec.clear()  # the lower scales are updated now (or cannot be kept)
            return run_chain(rec_base, rec_noise, frozen)
        if not lower_rec:
            with torch.no_grad():
                lower_rec.append(_run_chain(chain[:-1], shapes, first, rec_base, rec_noise[:-1]))
        return gen(rec_noise[-1], upsample(lower_rec[0], shapes[n]))

    d_loss = g_adv = rec_loss = torch.zeros(())
    for it in range(done, iters):
        # Fresh random input for this iteration: noise at every fixed scale below `first`, and at [first, n].
        # The fixed scales run under the same autocast as training (bf16 in `fast`: 1.7x cheaper at the finest
        # scale, where they cost ~30 ms per iteration in float32, as much as a generator forward pass there).
        # Reusing their output for 2 iterations saves ~8 % but scores worse on all 5 pairs (README, 0.7).
        with torch.no_grad(), autocast():
            # unit noise: run_scales multiplies by each scale's amplitude
            base_noises = [randn((1, CHANNELS, *shapes[m]), rng, device) for m in range(first)]
            rand_base = model.run_scales(base_noises, first, shapes).float() if first > 0 else \
                torch.zeros(1, CHANNELS, *shapes[0], device=device)
        noises = [a * randn((1, CHANNELS, *shapes[m]), rng, device) for a, m in zip(amps, range(first, n + 1))]
        frozen = cfg.lower_scales_frozen(it, len(chain))

        # The fake is made once, with its graph: the critic sees it detached, the first generator update
        # reuses the graph (as SinGAN does), which saves a generator forward pass per iteration.
        with autocast():
            fake_graph = run_chain(rand_base, noises, frozen)
        fake = fake_graph.detach().float()

        # (1) critic: maximise D(real) - D(fake), with gradient penalty
        d_loss = _critic_updates(critic, opt_d, real, fake, cfg, it, autocast,
                                 reduce=lambda scores: scores.float().mean(),
                                 penalty=lambda weight: gradient_penalty(critic, real, fake, weight, rng))

        # (2) generator(s): fool the critic and reconstruct the real pair from the fixed noise
        for g_step in range(cfg.g_steps):
            opt_g.zero_grad(set_to_none=True)
            with autocast():
                generated = fake_graph if g_step == 0 else run_chain(rand_base, noises, frozen)
                g_adv = -critic(generated).float().mean()
                rec_loss = F.mse_loss(reconstruction(frozen).float(), real)
            (g_adv + cfg.rec_weight * rec_loss).backward()
            opt_g.step()

        sched_g.step()
        sched_d.step()
        progress.advance(n, it + 1, iters, d_loss=d_loss.detach(), g_adv=g_adv.detach(), rec=rec_loss.detach())
        if checkpoints is not None:
            checkpoints.maybe_save(n, it + 1, iters, seconds_before + time.perf_counter() - started, state)

    for earlier in chain[:-1]:
        earlier.eval().requires_grad_(False)
    model.add_scale(gen.eval().requires_grad_(False), noise_amp)
    critic.eval().requires_grad_(False)
    stats = ScaleStats(scale=n, shape=tuple(shapes[n]), width=cfg.channels_at(n), noise_amp=noise_amp,
                       seconds=seconds_before + time.perf_counter() - started, d_loss=d_loss.item(),
                       g_adv=g_adv.item(), rec=rec_loss.item())
    return critic, stats


# ----------------------------------------------------------------------------------------------------------
# Output directory: fresh, resume or overwrite
# ----------------------------------------------------------------------------------------------------------

def _check_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> bool:
    """Return True when there is a checkpoint to resume from; refuse to clobber anything else."""
    return prepare_checkpoint_dir(out_dir, is_model_dir(out_dir), resume, overwrite, "singan-seg model",
                                  (CONFIG_FILE, STATE_FILE, WEIGHTS_FILE, TENSORS_FILE))


def _check_resumable(meta: dict, cfg: TrainConfig, pair: Pair, out_dir: Path) -> None:
    saved = TrainConfig.from_dict(meta["config"]).training_dict()  # settings added since then take their defaults
    different = {k: (saved.get(k), v) for k, v in cfg.training_dict().items() if saved.get(k) != v}
    if different:
        listed = ", ".join(f"{k} {a!r} (saved) vs {b!r}" for k, (a, b) in sorted(different.items()))
        raise CheckpointError(f"cannot resume: the model was trained with other settings: {listed}", out_dir)
    saved_inputs = meta.get("inputs", {})
    for key, digest in (("image", pair.image_sha256), ("mask", pair.mask_sha256)):
        saved_digest = saved_inputs.get(key, {}).get("sha256")
        if digest and saved_digest and digest != saved_digest:
            raise CheckpointError(f"cannot resume: the {key} differs from the one this model was trained on", out_dir)


# ----------------------------------------------------------------------------------------------------------
# The whole run
# ----------------------------------------------------------------------------------------------------------

def train(image: Any, mask: Any = None, out_dir: str | Path | None = None, config: TrainConfig | None = None,
          preset: str = DEFAULT_PRESET, device: str | torch.device = "auto", resume: bool = False,
          overwrite: bool = False, progress: bool = True, allow_empty_mask: bool = False,
          stop_after_scale: int | None = None, checkpoint_minutes: float | None = 10.0) -> SinGANSeg:
    """Train a SinGAN-Seg model on one image/mask pair.

    Args:
        image, mask: file paths, arrays ((H, W, 3) uint8 and (H, W) bool/0..255), or a `Pair` as `image`.
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

    Returns:
        The trained `SinGANSeg` model (generators in eval mode, on `device`).

    Example:
        >>> model = train("polyp.jpg", "polyp_mask.jpg", out_dir="models/polyp", preset="fast")
        >>> images, masks = sample(model, num=10, seed=0)
    """
    cfg = config if config is not None else get_preset(preset)
    dev = resolve_device(device)
    pair = as_pair(image, mask, allow_empty_mask)
    pyramid = compute_pyramid(pair.height, pair.width, cfg.max_size, cfg.min_size, cfg.scale_factor)
    out = Path(out_dir) if out_dir is not None else None

    model = SinGANSeg(config=cfg, shapes=list(pyramid.shapes))
    critic, history, meta = None, [], None
    if out is not None and _check_out_dir(out, resume, overwrite):
        meta = read_model_meta(out)
        _check_resumable(meta, cfg, pair, out)
        model, meta, critic = load_model(out, dev, require_complete=False, with_discriminator=True)
        history = meta.get("training", {}).get("scales", [])
        log.info("resuming %s at scale %d of %d", out, model.trained_scales, model.num_scales)
        if model.is_complete:
            return model
    if model.rec_noise is None:  # fixed reconstruction noise of the coarsest scale
        model.rec_noise = randn((1, CHANNELS, *pyramid.shapes[0]), seeded_generator(cfg.seed, 10**6), dev)

    reals = build_reals(pair, model.shapes, dev)
    extra = {"inputs": pair.describe_inputs(), "pyramid_scale_factor": pyramid.scale_factor}

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
    with TrainProgress(model.shapes, cfg, start_scale=model.trained_scales, start_iteration=done,
                       enabled=progress) as bar:
        for n in range(model.trained_scales, last + 1):
            critic, stats = train_scale(n, model, reals, cfg, dev, critic, bar, checkpoints)
            history.append(stats.__dict__ | {"shape": list(stats.shape)})
            log.info("scale %d/%d %dx%d done in %.1fs (rec %.4f, noise amp %.4f)", n + 1, model.num_scales,
                     *stats.shape, stats.seconds, stats.rec, stats.noise_amp)
            if out is not None:
                meta = save(critic)
            if checkpoints is not None:  # the scale's state is in the model now; the next continues these weights
                checkpoints.clear()
                checkpoints.base_sha256 = meta["weights"]["sha256"]
    return model
