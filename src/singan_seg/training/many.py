"""Training many SinGAN-Seg models at once in one process: K pairs' networks fused along the channels.

One SinGAN scale (a few 32-filter 3x3 convs on a <= 250 px image) is far too small to fill a GPU, so the
per-launch overhead dominates. `train_many()` trains K pairs together: their networks at a scale become one
network whose convs have groups=K over K x the channels (see `model/networks.py`, `models=K`), fed a
(1, CK, H, W) tensor that stacks the K pairs' C channels (RGB + mask: C = 4).

Why grouped convolutions (and not torch.func.vmap over stacked modules): they are exact by construction and
need nothing new. Group k's weights only ever see channels [Ck, Ck+C); instance/batch norm with a batch of
one is per channel, so it stays per model; every loss is computed per model (reshape to (K, ...)) and the
total is their sum, so each model's parameters get exactly its own gradient; Adam and the LR schedule act
element by element, so the fused update is the K separate updates. The WGAN-GP penalty needs a double
backward (autograd.grad with create_graph), which torch.func.vmap does not support through autograd.grad.

Same results as `train()` one by one: all K models share the config and so the seed, and `train()` gives
every pair the same random stream per (seed, scale): weight init, noise maps and gradient-penalty mixing.
The stream is therefore drawn once, in the order `train_scale()` draws it, and tiled K times (per-model
noise amplitudes scale it per channel). Results equal sequential training up to float rounding (grouped
and plain convs sum in different orders); tests/test_train_many.py measures the gap.

Buckets: only pairs with the same pyramid (the same shapes at every scale) can be fused. Pairs are grouped
by their exact pyramid shapes (no resizing) and by how many scales their checkpoints already hold, then cut
into groups of at most `batch_models`. Each group is trained scale by scale; after every scale each model
is split out and checkpointed into its own model dir with `save_model` (the same format `train()` writes,
loadable by `singan_seg.load`), so an interrupted run resumes; models at different scales simply land in
different groups.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import DEFAULT_PRESET, TrainConfig, get_preset
from ..data.pairs import Pair
from ..data.modality import RGB_BINARY, Modality, parse_classes
from ..data.tensors import as_pair, build_reals
from ..device import machine_info, resolve_device
from ..errors import InputError
from ..model.checkpoint import load_model, read_model_meta, save_model
from ..model.networks import ScaleDiscriminator, critic_for, generator_for, init_weights
from ..model.pyramid import pyramid_for
from ..model.singan import SinGANSeg, upsample
from ..rng import randn, seeded_generator
from .progress import TrainProgress
from .resume import check_out_dir, check_resumable
from .steps import ScaleStats, autocast, critic_updates, optimizers

log = logging.getLogger("singan_seg")

Shapes = tuple[tuple[int, int], ...]


# ----------------------------------------------------------------------------------------------------------
# Fusing K networks into one and splitting them again
# ----------------------------------------------------------------------------------------------------------

def fuse(nets: Sequence[nn.Module], fused: nn.Module) -> nn.Module:
    """Load K networks into `fused` (built with models=K): every tensor stacked on dim 0, scalars shared."""
    states = [net.state_dict() for net in nets]
    fused.load_state_dict({key: torch.cat([s[key] for s in states]) if value.ndim else value
                           for key, value in states[0].items()})
    return fused


def split(fused: nn.Module, singles: Sequence[nn.Module]) -> list[nn.Module]:
    """The inverse of `fuse`: load model k's slice of every tensor into singles[k]."""
    k_models = len(singles)
    for k, single in enumerate(singles):
        single.load_state_dict({key: value.chunk(k_models)[k].clone() if value.ndim else value.clone()
                                for key, value in fused.state_dict().items()})
    return list(singles)


def per_model_mean(x: torch.Tensor, k_models: int) -> torch.Tensor:
    """(1, K*C, H, W) -> (K,): the mean over each model's channels and pixels, in float32."""
    return x.float().reshape(k_models, -1).mean(1)


def channel_amps(amps: Sequence[float], device: torch.device, channels: int) -> torch.Tensor:
    """Per-model noise amplitudes as a (1, CK, 1, 1) multiplier (float32, as `float * tensor` rounds them)."""
    return torch.tensor(list(amps), dtype=torch.float32, device=device).repeat_interleave(channels).view(1, -1, 1, 1)


# ----------------------------------------------------------------------------------------------------------
# K models trained together: the fused state and one scale of training
# ----------------------------------------------------------------------------------------------------------

@dataclass
class FusedModels:
    """K partly trained models of the same pyramid, held fused: what `SinGANSeg` is for one."""

    config: TrainConfig
    shapes: list[tuple[int, int]]
    k: int
    generators: nn.ModuleList = field(default_factory=nn.ModuleList)  # fused, one per trained scale
    noise_amps: list[list[float]] = field(default_factory=list)  # per scale: K amplitudes
    rec_noise: torch.Tensor | None = None  # (1, CK, H0, W0)
    modality: Modality = RGB_BINARY  # shared by the K pairs

    @property
    def channels(self) -> int:
        return self.modality.tensor_channels

    @property
    def trained_scales(self) -> int:
        return len(self.generators)

    @classmethod
    def from_models(cls, models: Sequence[SinGANSeg]) -> FusedModels:
        first = models[0]
        fused = cls(config=first.config, shapes=list(first.shapes), k=len(models),
                    rec_noise=torch.cat([m.rec_noise for m in models], dim=1), modality=first.modality)
        for n in range(first.trained_scales):
            gen = fuse([m.generators[n] for m in models], generator_for(first.config, n, len(models), fused.channels))
            fused.generators.append(gen.to(fused.rec_noise.device).eval().requires_grad_(False))
            fused.noise_amps.append([m.noise_amps[n] for m in models])
        return fused

    def models(self) -> list[SinGANSeg]:
        """The K models apart, each as `train()` would have returned it."""
        models = [SinGANSeg(config=self.config, shapes=list(self.shapes), rec_noise=noise.clone(),
                            modality=self.modality)
                  for noise in self.rec_noise.split(self.channels, dim=1)]
        for n, fused in enumerate(self.generators):
            singles = split(fused, [generator_for(self.config, n, channels=self.channels) for _ in range(self.k)])
            for model, single, amp in zip(models, singles, self.noise_amps[n]):
                model.add_scale(single.to(self.rec_noise.device).eval().requires_grad_(False), amp)
        return models

    def amps(self, n: int) -> torch.Tensor:
        return channel_amps(self.noise_amps[n], self.rec_noise.device, self.channels)

    def zeros(self, n: int) -> torch.Tensor:
        return torch.zeros(1, self.channels * self.k, *self.shapes[n], device=self.rec_noise.device)

    @torch.no_grad()
    def reconstruct(self, upto: int) -> torch.Tensor:
        """`SinGANSeg.reconstruct` for all K at once: (1, CK, H, W) at scale upto-1 (zeros at scale 0 if upto=0)."""
        x = self.zeros(0)
        for n in range(upto):
            x = upsample(x, self.shapes[n])
            noise = self.amps(n) * self.rec_noise if n == 0 else self.zeros(n)
            x = self.generators[n](noise, x)
        return x


def _tile(z: torch.Tensor, k: int) -> torch.Tensor:
    """One model's (1, C, H, W) draw repeated for K models: (1, CK, H, W)."""
    return z.repeat(1, k, 1, 1)


def gradient_penalty_many(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float,
                          generator: torch.Generator, k: int) -> torch.Tensor:
    """`steps.gradient_penalty` per model: (K,). The per-pixel norm is over each model's own C channels."""
    alpha = torch.rand(1, 1, 1, 1, generator=generator).to(real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(mixed)
    (grads,) = torch.autograd.grad(scores, mixed, torch.ones_like(scores), create_graph=True)
    norms = grads.float().reshape(k, -1, *grads.shape[-2:]).norm(2, dim=1)  # (K, H, W)
    return weight * ((norms - 1) ** 2).reshape(k, -1).mean(1)


def train_scale_many(n: int, fused: FusedModels, real: torch.Tensor, device: torch.device,
                     prev_critic: ScaleDiscriminator | None, progress: TrainProgress
                     ) -> tuple[ScaleDiscriminator, list[ScaleStats]]:
    """`loop.train_scale` for K models at once; `real` is (1, CK, H_n, W_n). Draws what train_scale draws."""
    started = time.perf_counter()
    cfg, k, shapes, channels = fused.config, fused.k, fused.shapes, fused.channels
    rng = seeded_generator(cfg.seed, n)
    # New networks: one init drawn as train_scale draws it (generator, then critic), tiled for K models.
    gen1, critic1 = generator_for(cfg, n, channels=channels), critic_for(cfg, n, channels=channels)
    init_weights(gen1, rng)
    init_weights(critic1, rng)
    gen = fuse([gen1] * k, generator_for(cfg, n, k, channels))
    critic = fuse([critic1] * k, critic_for(cfg, n, k, channels))
    if cfg.init_from_previous and n > 0 and cfg.channels_at(n - 1) == cfg.channels_at(n):
        gen.load_state_dict(fused.generators[n - 1].state_dict())
        if prev_critic is not None:
            critic.load_state_dict(prev_critic.state_dict())
    gen.to(device).train()
    critic.to(device).train()

    with torch.no_grad():
        if n == 0:
            noise_amp = [1.0] * k
        else:
            err = upsample(fused.reconstruct(upto=n), shapes[n]) - real
            factor = cfg.noise_amp_factor(n, len(shapes))
            noise_amp = [factor * float(r) for r in torch.sqrt(per_model_mean(err ** 2, k))]
        rec_base = fused.reconstruct(upto=n)
    amps = channel_amps(noise_amp, device, channels)  # (1, CK, 1, 1)
    rec_noise = amps * fused.rec_noise if n == 0 else fused.zeros(n)

    iters = cfg.iters_at(n, len(shapes))
    opt_g, opt_d, sched_g, sched_d = optimizers(cfg, gen, critic, iters)
    amp = partial(autocast, device, cfg.bf16)
    with amp():
        rec_below = upsample(rec_base, shapes[n])

    below_amps = [fused.amps(m) for m in range(n)]  # the fixed scales below n
    d_loss = g_adv = rec_loss = torch.zeros(k)
    for it in range(iters):
        with torch.no_grad(), amp():
            rand_below = fused.zeros(0)
            for m in range(n):  # as SinGANSeg.run_scales: unit noise x the scale's amplitude
                z = _tile(randn((1, channels, *shapes[m]), rng, device), k)
                rand_below = fused.generators[m](below_amps[m] * z, upsample(rand_below, shapes[m]))
            rand_below = rand_below.float()
        noise = amps * _tile(randn((1, channels, *shapes[n]), rng, device), k)

        # (1) critics: per model, maximise D(real) - D(fake) with gradient penalty; the sum keeps them apart.
        # The fake's graph is kept for the first generator update, as in train_scale.
        with amp():
            rand_below = upsample(rand_below, shapes[n])
            fake_graph = gen(noise, rand_below)
        fake = fake_graph.detach().float()
        d_loss = critic_updates(critic, opt_d, real, fake, cfg, it, amp,
                                reduce=lambda scores: per_model_mean(scores, k),
                                penalty=partial(gradient_penalty_many, critic, real, fake, generator=rng, k=k))

        # (2) generators: fool their critic and reconstruct their real pair from the fixed noise
        for g_step in range(cfg.g_steps):
            opt_g.zero_grad(set_to_none=True)
            with amp():
                generated = fake_graph if g_step == 0 else gen(noise, rand_below)
                g_adv = -per_model_mean(critic(generated), k)
                rec_loss = per_model_mean((gen(rec_noise, rec_below).float() - real) ** 2, k)
            (g_adv + cfg.rec_weight * rec_loss).sum().backward()
            opt_g.step()

        sched_g.step()
        sched_d.step()
        progress.advance(n, it + 1, iters, d_loss=d_loss.detach().mean(), g_adv=g_adv.detach().mean(),
                         rec=rec_loss.detach().mean())

    fused.generators.append(gen.eval().requires_grad_(False))
    fused.noise_amps.append(noise_amp)
    critic.eval().requires_grad_(False)
    seconds = time.perf_counter() - started
    stats = [ScaleStats(scale=n, shape=tuple(shapes[n]), width=cfg.channels_at(n), noise_amp=noise_amp[i],
                        seconds=seconds, d_loss=float(d_loss[i].detach()), g_adv=float(g_adv[i].detach()),
                        rec=float(rec_loss[i].detach()))
             for i in range(k)]
    return critic, stats


# ----------------------------------------------------------------------------------------------------------
# Planning: inputs, output dirs, buckets and groups
# ----------------------------------------------------------------------------------------------------------

@dataclass
class _Item:
    """One input pair: its pyramid and, when resuming, how far its checkpoint got. Files are read again when
    its group trains, so a run over 1000 pairs holds only the current group's pairs and models in memory."""

    index: int
    source: Any  # a Pair, or (image, mask)
    shapes: Shapes
    scale_factor: float
    out: Path | None
    modality: Modality = RGB_BINARY
    start_scale: int = 0  # scales already in the checkpoint
    history: list[dict[str, Any]] = field(default_factory=list)
    pair_options: dict[str, Any] = field(default_factory=dict)  # classes, channels, bit_depth for files

    def pair(self) -> Pair:
        return _as_pair(self.source, self.pair_options)


@dataclass(frozen=True)
class Group:
    """Models trained together: the same pyramid and modality, starting at the same scale."""

    indices: tuple[int, ...]
    shapes: Shapes
    start_scale: int
    modality: Modality = RGB_BINARY


@dataclass
class ManyResult:
    """What `train_many` did. `models` holds the trained models when kept (see `keep_models`)."""

    buckets: dict[Shapes, list[int]]  # pyramid shapes -> indices of the inputs with that pyramid
    groups: list[Group]  # what was trained together, in order (complete models are in no group)
    seconds: float
    models: list[SinGANSeg | None] = field(default_factory=list)

    def bucket_sizes(self) -> dict[str, int]:
        """{"WxH (N scales)": count} of the finest sizes, for reports."""
        return {f"{s[-1][1]}x{s[-1][0]} ({len(s)} scales)": len(ix) for s, ix in self.buckets.items()}


def _as_pair(item: Any, options: dict[str, Any] | None = None) -> Pair:
    if isinstance(item, Pair):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return as_pair(*item, **(options or {}))
    raise InputError(f"expected a Pair or an (image, mask) tuple, got {type(item).__name__}")


def _prepare(index: int, source: Any, out: Path | None, cfg: TrainConfig, resume: bool, overwrite: bool,
             pair_options: dict[str, Any]) -> _Item:
    pair = _as_pair(source, pair_options)
    pyramid = pyramid_for(pair, cfg)
    item = _Item(index=index, source=pair if isinstance(source, Pair) else source, shapes=pyramid.shapes,
                 scale_factor=pyramid.scale_factor, out=out, modality=pair.modality, pair_options=pair_options)
    if out is not None and check_out_dir(out, resume, overwrite):
        meta = read_model_meta(out)
        check_resumable(meta, cfg, pair, out)
        item.start_scale = int(meta["trained_scales"])
        item.history = meta.get("training", {}).get("scales", [])
    return item


def plan_groups(items: Sequence[_Item], batch_models: int) -> list[Group]:
    """Unfinished items bucketed by (pyramid shapes, start scale, modality) in input order, cut into groups of
    <= K."""
    buckets: dict[tuple[Shapes, int, Modality], list[int]] = {}
    for item in items:
        if item.start_scale < len(item.shapes):
            buckets.setdefault((item.shapes, item.start_scale, item.modality), []).append(item.index)
    return [Group(tuple(ix[i:i + batch_models]), shapes, start, modality)
            for (shapes, start, modality), ix in buckets.items() for i in range(0, len(ix), batch_models)]


# ----------------------------------------------------------------------------------------------------------
# The whole run
# ----------------------------------------------------------------------------------------------------------

def _train_group(group: Group, items: list[_Item], cfg: TrainConfig, device: torch.device, progress: bool,
                 stop_after_scale: int | None) -> list[SinGANSeg]:
    """Train one group scale by scale, checkpointing every member after every scale; return its models."""
    members = [items[i] for i in group.indices]
    k, shapes = len(members), list(group.shapes)
    if group.start_scale == 0:
        fused = FusedModels(config=cfg, shapes=shapes, k=k, modality=group.modality)
        # Every model's fixed reconstruction noise is the same draw from (seed, 10**6), as in train().
        fused.rec_noise = _tile(randn((1, fused.channels, *shapes[0]), seeded_generator(cfg.seed, 10**6), device),
                                k)
        critic = None
    else:
        resumed = [load_model(m.out, device, require_complete=False, with_discriminator=True) for m in members]
        fused = FusedModels.from_models([model for model, _, _ in resumed])
        critic = fuse([c for _, _, c in resumed], critic_for(cfg, group.start_scale - 1, k, fused.channels))
        critic = critic.to(device)
    pairs = [m.pair() for m in members]
    reals = [torch.cat(per_scale, dim=1) for per_scale in zip(*(build_reals(p, shapes, device) for p in pairs))]
    last = len(shapes) - 1 if stop_after_scale is None else min(stop_after_scale, len(shapes) - 1)
    machine = machine_info(device)
    log.info("training %d models together: %dx%d px, %d scales, from scale %d", k, shapes[-1][1], shapes[-1][0],
             len(shapes), group.start_scale)
    with TrainProgress(shapes, cfg, start_scale=group.start_scale, enabled=progress) as bar:
        for n in range(group.start_scale, last + 1):
            critic, stats = train_scale_many(n, fused, reals[n], device, critic, bar)
            if all(m.out is None for m in members):
                continue
            models = fused.models()
            critics = split(critic, [critic_for(cfg, n, channels=fused.channels) for _ in range(k)])
            for member, pair, model, member_critic, stat in zip(members, pairs, models, critics, stats):
                member.history.append(stat.__dict__ | {"shape": list(stat.shape), "batch_models": k})
                if member.out is not None:
                    training = {"scales": member.history, "machine": machine,
                                "seconds": round(sum(h["seconds"] for h in member.history), 3)}
                    extra = {"inputs": pair.describe_inputs(), "pyramid_scale_factor": member.scale_factor,
                             "training": training}
                    save_model(member.out, model, discriminator=member_critic, extra=extra)
    return fused.models()


def train_many(pairs: Sequence[Any], out_dirs: Sequence[str | Path] | None = None, config: TrainConfig | None = None,
               preset: str = DEFAULT_PRESET, batch_models: int = 8, device: str | torch.device = "auto",
               resume: bool = False, overwrite: bool = False, progress: bool = True,
               keep_models: bool | None = None, stop_after_scale: int | None = None, classes: Any = None,
               channels: int | None = None, bit_depth: int | None = None) -> ManyResult:
    """Train one SinGAN-Seg model per pair, `batch_models` pairs at a time in one fused network.

    Args:
        pairs: `Pair`s or (image, mask) tuples of paths or arrays.
        out_dirs: one model directory per pair (checkpointed after every scale); None keeps models in memory.
        config: the `TrainConfig` for every pair; default: the named `preset`.
        batch_models: K, the most models trained together (pairs with the same pyramid only).
        device: "auto" (CUDA when present), "cpu" or "cuda".
        resume: continue checkpoints in `out_dirs` (complete ones are skipped); overwrite: replace them.
        keep_models: return the trained models in `result.models` (default: only when out_dirs is None).
        stop_after_scale: stop (checkpointed) after this scale; used to test resuming.
        classes, channels, bit_depth: how (image, mask) files are read, as in `train` (Pairs keep their own).

    Returns:
        A `ManyResult`: the buckets by pyramid, the groups trained together, seconds, and the models if kept.

    Example:
        >>> result = train_many([("a.jpg", "a_mask.jpg"), ("b.jpg", "b_mask.jpg")], ["models/a", "models/b"],
        ...                     preset="fast", batch_models=8, device="cuda")
    """
    cfg = config if config is not None else get_preset(preset)
    if not isinstance(batch_models, int) or batch_models < 1:
        raise InputError(f"batch_models should be a positive integer, got {batch_models!r}")
    outs = [Path(p) for p in out_dirs] if out_dirs is not None else [None] * len(pairs)
    if len(outs) != len(pairs):
        raise InputError(f"got {len(pairs)} pairs but {len(outs)} output directories")
    if len({str(p.resolve()) for p in outs if p is not None}) < sum(p is not None for p in outs):
        raise InputError("two pairs were given the same output directory")
    dev = resolve_device(device)
    started = time.perf_counter()
    options = {"classes": parse_classes(classes) if isinstance(classes, (str, Path)) else classes,
               "channels": channels, "bit_depth": bit_depth}
    items = [_prepare(i, source, out, cfg, resume, overwrite, options)
             for i, (source, out) in enumerate(zip(pairs, outs))]
    buckets: dict[Shapes, list[int]] = {}
    for item in items:
        buckets.setdefault(item.shapes, []).append(item.index)
    keep = keep_models if keep_models is not None else out_dirs is None
    models: list[SinGANSeg | None] = [None] * len(items)
    groups = plan_groups(items, batch_models)
    for g, group in enumerate(groups, start=1):
        log.info("group %d of %d", g, len(groups))
        trained = _train_group(group, items, cfg, dev, progress, stop_after_scale)
        if keep:
            for index, model in zip(group.indices, trained):
                models[index] = model
    if keep:  # models that were complete before this run
        models = [m if m is not None else load_model(it.out, dev)[0] for m, it in zip(models, items)]
    return ManyResult(buckets=buckets, groups=groups, seconds=time.perf_counter() - started,
                      models=models if keep else [])
