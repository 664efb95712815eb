"""The multi-scale SinGAN-Seg model: one generator per pyramid scale, noise amplitudes, reconstruction noise.

Sampling runs the generators coarse to fine. At scale n the input is the upsampled output of scale n-1
plus noise of amplitude `noise_amps[n]`; at scale 0 the input is noise alone. Scales below `start_scale`
replay the reconstruction of the real image (fixed noise at scale 0, none above), so a higher start
scale keeps the real layout and a start scale of 0 gives the most varied samples. `variation` < 1 narrows
start scale 0 more gently: the coarsest noise leans towards the reconstruction noise (see `generate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..data.modality import RGB_BINARY, Modality
from ..rng import randn, seeded_generator
from .networks import ScaleGenerator


def upsample(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of a (B, C, H, W) batch to `shape` (SinGAN resizes between scales bicubically)."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=tuple(shape), mode="bicubic", align_corners=False)


@dataclass
class SinGANSeg:
    """A trained (or partly trained) SinGAN-Seg model for one image/mask pair."""

    config: TrainConfig
    shapes: list[tuple[int, int]]  # (H, W) of every scale, coarsest first
    generators: nn.ModuleList = field(default_factory=nn.ModuleList)  # one per trained scale
    noise_amps: list[float] = field(default_factory=list)
    rec_noise: torch.Tensor | None = None  # (1, C, H0, W0) fixed reconstruction noise; None in shared packs
    modality: Modality = RGB_BINARY  # what the pair held: C = modality.tensor_channels (4: RGB + mask)

    @property
    def channels(self) -> int:
        return self.modality.tensor_channels

    @property
    def num_scales(self) -> int:
        return len(self.shapes)

    @property
    def trained_scales(self) -> int:
        return len(self.generators)

    @property
    def is_complete(self) -> bool:
        return self.trained_scales == self.num_scales

    @property
    def device(self) -> torch.device:
        for p in self.generators.parameters():
            return p.device
        return self.rec_noise.device if self.rec_noise is not None else torch.device("cpu")

    def to(self, device: torch.device | str) -> SinGANSeg:
        self.generators.to(device)
        if self.rec_noise is not None:
            self.rec_noise = self.rec_noise.to(device)
        return self

    def add_scale(self, generator: ScaleGenerator, noise_amp: float) -> None:
        self.generators.append(generator)
        self.noise_amps.append(float(noise_amp))

    def reconstruction_input(self, scale: int, batch: int = 1) -> torch.Tensor:
        """The fixed noise fed to scale `scale` when reconstructing: rec_noise at 0, zeros above."""
        h, w = self.shapes[scale]
        if scale == 0:
            if self.rec_noise is None:
                raise ValueError("this model has no reconstruction noise (it was dropped for sharing)")
            return self.rec_noise.expand(batch, -1, -1, -1)
        return torch.zeros(batch, self.channels, h, w, device=self.device)

    @torch.no_grad()
    def reconstruct(self, upto: int | None = None) -> torch.Tensor:
        """The model's reconstruction of the real image at scale `upto - 1` (default: finest trained), (1, C, H, W)."""
        upto = self.trained_scales if upto is None else upto
        x = torch.zeros(1, self.channels, *self.shapes[0], device=self.device)
        for n in range(upto):
            x = upsample(x, self.shapes[n])
            x = self.generators[n](self.noise_amps[n] * self.reconstruction_input(n), x)
        return x

    def run_scales(self, noises: list[torch.Tensor], upto: int, shapes: list[tuple[int, int]],
                   start: torch.Tensor | None = None, first: int = 0) -> torch.Tensor:
        """Run generators `first`..`upto-1` on per-scale noise (B, C, h_n, w_n); `start` is scale first-1's output."""
        batch = noises[0].shape[0] if noises else 1
        x = start if start is not None else torch.zeros(batch, self.channels, *shapes[first], device=self.device)
        for n in range(first, upto):
            x = upsample(x, shapes[n])
            x = self.generators[n](self.noise_amps[n] * noises[n - first], x)
        return x

    @torch.no_grad()
    def generate(self, num: int = 1, start_scale: int = 0, seed: int = 0, scale_h: float = 1.0,
                 scale_w: float = 1.0, batch_size: int = 8, first_index: int = 0,
                 variation: float = 1.0) -> torch.Tensor:
        """`num` samples as a (num, C, H, W) tensor in [-1, 1] (image and mask channels; see data/tensors.py).

        Sample i is drawn from its own generator seeded by (seed, first_index + i), so a sample does not
        depend on how many others are drawn with it.

        `variation` v in [0, 1] (start scale 0, training size): the coarsest scale's noise is
        sqrt(1 - v^2) z_rec + v z, with z_rec the reconstruction noise and z fresh noise. That is still unit
        Gaussian noise, the input G_0 was trained on, but its layout stays nearer the real one as v falls:
        v = 1 is SinGAN's sampler, v = 0 keeps the real layout and varies only the finer scales' detail.
        """
        if not self.is_complete:
            raise ValueError(f"model is trained on {self.trained_scales} of {self.num_scales} scales")
        if not 0 <= start_scale < self.num_scales:
            raise ValueError(f"start_scale should be in [0, {self.num_scales - 1}], got {start_scale}")
        shapes = [(max(1, round(h * scale_h)), max(1, round(w * scale_w))) for h, w in self.shapes]
        if not 0.0 <= variation <= 1.0:
            raise ValueError(f"variation should be in [0, 1], got {variation}")
        if variation < 1.0 and (start_scale > 0 or shapes[0] != tuple(self.shapes[0]) or self.rec_noise is None):
            raise ValueError("variation < 1 needs start scale 0, the training size and the reconstruction noise")
        start = None
        if start_scale > 0:
            start = self.reconstruct(upto=start_scale)  # (1, C, h, w) at native size of scale start_scale-1
        out = []
        for first in range(0, num, batch_size):
            indices = range(first_index + first, first_index + min(first + batch_size, num))
            per_sample = [seeded_generator(seed, i) for i in indices]
            noises = [torch.cat([randn((1, self.channels, *shapes[n]), g, self.device) for g in per_sample])
                      for n in range(start_scale, self.num_scales)]
            if variation < 1.0:
                noises[0] = (1.0 - variation ** 2) ** 0.5 * self.rec_noise + variation * noises[0]
            begin = None if start is None else start.expand(len(per_sample), -1, -1, -1)
            out.append(self.run_scales(noises, self.num_scales, shapes, start=begin, first=start_scale))
        return torch.cat(out).clamp(-1, 1)
