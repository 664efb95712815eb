"""Sampling a trained baseline into a samples directory (images/, masks/, manifest.csv), like SinGAN-Seg's.

The generator used is the moving average (G_ema) where the arch keeps one (ProGAN, FastGAN), else G, in eval mode
(batch norm with running statistics). Sample i depends only on (seed, i): its latent comes from
seeded_generator(seed, i) and any noise drawn inside the generator (FastGAN's noise injection) from the global RNG
reseeded with the same key, so `--num 10` and `--num 1000` share their first 10 pairs. The 4th channel is thresholded
at 0 into the binary mask (as SinGAN-Seg's samples); the manifest records arch, model and checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data.samples_dir import check_samples_out, write_manifest, write_pair_files
from ..data.tensors import tensor_to_pairs
from ..device import resolve_device
from ..errors import InputError
from ..files import refuse_overlap, staging_dir
from ..rng import seeded_generator
from .checkpoint import WEIGHTS_FILE, load_into, read_meta, read_weights
from .config import BaselineConfig
from .train import ARCH_MODULES, _seed_of, build_networks, seeded_rng


@dataclass
class BaselineModel:
    """A trained baseline ready to sample: its config, generator (eval mode) and schedule position."""

    config: BaselineConfig
    generator: nn.Module
    progress: float
    meta: dict

    @property
    def arch(self) -> str:
        return self.config.arch


def load_baseline(model_dir: str | Path, device: str | torch.device = "auto") -> BaselineModel:
    """Rebuild the sampling generator from a model directory (checksum and every tensor shape verified)."""
    dev = resolve_device(device)
    meta = read_meta(model_dir)
    cfg = BaselineConfig.from_dict(meta["config"])
    tensors = read_weights(model_dir, meta)
    name = "G_ema" if "G_ema" in meta["networks"] else "G"
    generator = build_networks(cfg, torch.device("cpu"))[name]
    load_into(generator, tensors, name, Path(model_dir) / WEIGHTS_FILE)
    return BaselineModel(cfg, generator.to(dev).eval().requires_grad_(False), meta["training"]["progress"], meta)


@torch.no_grad()
def sample_baseline(model: BaselineModel, num: int, seed: int = 0, first_index: int = 0) -> torch.Tensor:
    """(num, 4, R, R) in [-1, 1]; sample i from (seed, first_index + i) alone.

    Every sample runs alone: DCGAN's and ProGAN's generators treat the samples of a batch independently, but the
    convolutions' float rounding depends on the batch size on some CPUs (ProGAN: ~1e-5 between batches of 2 and
    5), so batching would make sample i depend on `num`; FastGAN draws noise inside its generator anyway.
    """
    if num < 1:
        raise InputError(f"num should be at least 1, got {num}")
    if seed < 0:
        raise InputError(f"seed should be >= 0, got {seed}")
    arch, cfg = ARCH_MODULES[model.arch], model.config
    dev = next(model.generator.parameters()).device
    out = []
    for i in range(first_index, first_index + num):
        z = torch.randn(1, cfg.z_dim, generator=seeded_generator(seed, i)).to(dev)
        with seeded_rng(_seed_of(seed, i, 3), dev):
            out.append(arch.generate(model.generator, z, cfg, model.progress).float().clamp(-1, 1).cpu())
    return torch.cat(out)


def generate_baseline(model_dir: str | Path, out_dir: str | Path, num: int = 1000, seed: int = 0,
                      device: str | torch.device = "auto", overwrite: bool = False, arch: str | None = None) -> Path:
    """Sample `num` pairs from a baseline model directory into a samples directory (written atomically);
    with `arch`, refuse a model of another architecture."""
    out = Path(out_dir)
    refuse_overlap(out, {"model directory": model_dir})
    check_samples_out(out, overwrite)
    model = load_baseline(model_dir, device)
    if arch is not None and model.arch != arch:
        raise InputError(f"is a {model.arch} model, not {arch}", model_dir)
    batch = sample_baseline(model, num, seed)
    images, masks, _ = tensor_to_pairs(batch)
    name = Path(model_dir).resolve().name
    training = model.meta["training"]
    rows = []
    with staging_dir(out) as staging:
        for i in range(num):
            stem = f"{model.arch}_seed{seed}_{i:05d}"
            row = write_pair_files(staging, stem, images[i], masks[i])
            row.update({"source_id": "", "model": name, "seed": str(seed), "start_scale": "", "method": model.arch,
                        "index": str(i), "arch": model.arch, "checkpoint_step": str(training["step"]),
                        "checkpoint_sha256": model.meta["weights"]["sha256"]})
            rows.append(row)
        write_manifest(staging / "manifest.csv", rows)
    return out


