"""Settings of the multi-image GAN baselines, with each paper's published values as the defaults.

`baseline_config("fastgan", resolution=128)` fills every value the caller does not give from `PAPER`, so the saved
config.json always holds complete, concrete settings. Sources:

- DCGAN: Radford, Metz, Chintala, ICLR 2016, section 4: Adam lr 2e-4, beta1 0.5; weights N(0, 0.02); batch norm;
  ReLU in G (tanh output), LeakyReLU 0.2 in D; z of 100; 128 filters per 64 px in their LSUN model's last layer
  (64 in the widely used reference implementation, taken here). Loss: the standard (non-saturating) GAN, as BCE.
- ProGAN: Karras, Aila, Laine, Lehtinen, ICLR 2018, appendix A: WGAN-GP (lambda 10) + drift 0.001 x D(real)^2,
  Adam lr 1e-3, betas (0, 0.99), eps 1e-8, one D step per G step, z of 512, feature maps min(8192 / 2^stage, 512)
  (here min(32 x width / r, width) at r px, width 512), 800k images per fade-in and per stabilisation phase,
  generator EMA 0.999.
- FastGAN: Liu, Zhu, Song, Elgammal, ICLR 2021, and its official code: hinge loss (with labels drawn from
  [0.8, 1]), Adam lr 2e-4, betas (0.5, 0.999), z of 256, ngf = ndf = 64, batch 8, DiffAugment, generator EMA 0.999.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from ..config import settings_from_dict
from ..errors import InputError

ARCHS = ("dcgan", "progan", "fastgan")

PAPER: dict[str, dict[str, Any]] = {
    "dcgan": dict(z_dim=100, width=64, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, ema=0.0),
    "progan": dict(z_dim=512, width=512, lr_g=1e-3, lr_d=1e-3, beta1=0.0, beta2=0.99, ema=0.999,
                   gp_weight=10.0, drift=1e-3),
    "fastgan": dict(z_dim=256, width=64, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, ema=0.999,
                    augment="color,translation,cutout"),
}

# Smallest square size each network is defined for (FastGAN's skip-layer excitation joins 4 px to 64 px).
MIN_RESOLUTION = {"dcgan": 8, "progan": 8, "fastgan": 64}
AUGMENTS = ("color", "translation", "cutout")


@dataclass(frozen=True)
class BaselineConfig:
    arch: str
    resolution: int = 128  # square output size, a power of two (the paper: 256)
    batch_size: int = 16
    z_dim: int = 100
    width: int = 64  # channel scale: DCGAN ngf = ndf, ProGAN fmap_max, FastGAN ngf = ndf
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: float = 0.0  # decay of the generator's exponential moving average used for sampling (0 = none)
    gp_weight: float = 0.0  # ProGAN: WGAN-GP lambda
    drift: float = 0.0  # ProGAN: epsilon of the drift term
    augment: str = ""  # FastGAN: DiffAugment policy, comma-separated from AUGMENTS
    checkpoint_every: int = 500  # steps between checkpoints (and one at the end)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            close = difflib.get_close_matches(self.arch, ARCHS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"unknown architecture {self.arch!r}{hint}; choose one of {list(ARCHS)}")
        r = self.resolution
        if r < MIN_RESOLUTION[self.arch] or r & (r - 1):
            raise InputError(f"{self.arch} needs a power-of-two resolution >= {MIN_RESOLUTION[self.arch]}, got {r}")
        for name in ("batch_size", "z_dim", "width", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name} should be a positive integer, got {value!r}")
        if self.arch == "progan" and self.batch_size < 2:
            raise InputError("progan needs a batch of at least 2 (minibatch standard deviation)")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise InputError(f"learning rates should be positive, got {self.lr_g!r} / {self.lr_d!r}")
        if not 0.0 <= self.ema < 1.0:
            raise InputError(f"ema should be in [0, 1), got {self.ema!r}")
        unknown = [a for a in self.augment_policy if a not in AUGMENTS]
        if unknown:
            raise InputError(f"unknown augmentation(s) {unknown}; choose from {list(AUGMENTS)}")
        if self.seed < 0:
            raise InputError(f"seed should be >= 0, got {self.seed!r}")

    @property
    def augment_policy(self) -> list[str]:
        return [a.strip() for a in self.augment.split(",") if a.strip()]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BaselineConfig:
        return settings_from_dict(cls, values, "baseline")


def baseline_config(arch: str, **overrides: Any) -> BaselineConfig:
    """The paper's settings for `arch`, with `overrides` applied (None values ignored, as for CLI flags)."""
    if arch not in PAPER:
        BaselineConfig(arch=arch)  # raises the "did you mean" error
    values = {**PAPER[arch], **{k: v for k, v in overrides.items() if v is not None}}
    return BaselineConfig(arch=arch, **values)
