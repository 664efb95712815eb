"""Progressive GAN (Karras, Aila, Laine, Lehtinen, ICLR 2018) with 4 channels: RGB + mask.

Both networks grow from 4x4 to the full size. Each level of G is upsample (nearest) + two 3x3 convs, each followed by
LeakyReLU 0.2 and pixel norm; a 1x1 "toRGB" conv (here to 4 channels) turns features into an image. D mirrors it
with "fromRGB", two 3x3 convs and 2x average pooling per level, and ends with the minibatch standard deviation map,
a 3x3 conv, a 4x4 dense layer and a linear output. Every layer uses the equalised learning rate: weights drawn from
N(0, 1) and scaled at run time by He's constant.

Growing: training time is cut into 2L - 1 equal phases for L levels: stabilise 4 px, then for each larger level a
fade-in phase (the new level's output is blended with the upsampled output of the level below, alpha rising from 0
to 1; D blends the same way at its input, and the real images are blended between the two sizes too) and a
stabilisation phase. Karras et al. show 800k images per phase; here a phase is a fraction of the training budget
(`progress` in [0, 1]: step / steps, or elapsed / budget), so any budget ends at full size. Loss: WGAN-GP with
lambda 10 plus the drift term 0.001 x D(real)^2; one D step per G step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import BaselineConfig

CHANNELS = 4


# ----------------------------------------------------------------------------------------------------------
# Growing schedule
# ----------------------------------------------------------------------------------------------------------

def num_levels(resolution: int) -> int:
    return int(math.log2(resolution)) - 1  # 4 px is level 0


def schedule(progress: float, resolution: int) -> tuple[int, float]:
    """(level, alpha) at a point of training: alpha < 1 while the level fades in."""
    phases = 2 * num_levels(resolution) - 1
    position = min(max(progress, 0.0), 1.0) * phases
    phase = min(int(position), phases - 1)
    if phase % 2 == 0:
        return phase // 2, 1.0
    return (phase + 1) // 2, position - phase


def channels_at(level: int, cfg: BaselineConfig) -> int:
    """Feature maps at level k (4 * 2^k px): min(32 * width / r, width); Karras: width 512, 128 maps at 128 px."""
    r = 4 * 2 ** level
    return max(1, min(cfg.width, 32 * cfg.width // r))


# ----------------------------------------------------------------------------------------------------------
# Layers: equalised learning rate, pixel norm, minibatch standard deviation
# ----------------------------------------------------------------------------------------------------------

class EqConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqLinear(nn.Module):
    def __init__(self, c_in: int, c_out: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def lrelu_pn(x: torch.Tensor) -> torch.Tensor:
    return pixel_norm(F.leaky_relu(x, 0.2))


def minibatch_stddev(x: torch.Tensor) -> torch.Tensor:
    """Append one map: the standard deviation of every feature over the batch, averaged (the paper's section 3)."""
    std = torch.sqrt(x.var(dim=0, unbiased=False) + 1e-8).mean()
    return torch.cat([x, std.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


# ----------------------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------------------

class Generator(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        levels, c0 = num_levels(cfg.resolution), channels_at(0, cfg)
        self.c0 = c0
        self.dense = EqLinear(cfg.z_dim, c0 * 16, gain=math.sqrt(2) / 4)  # z -> 4x4 features
        self.conv0 = EqConv2d(c0, c0, 3)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqConv2d(channels_at(k - 1, cfg), channels_at(k, cfg), 3),
                           EqConv2d(channels_at(k, cfg), channels_at(k, cfg), 3)]) for k in range(1, levels))
        self.to_rgb = nn.ModuleList(EqConv2d(channels_at(k, cfg), CHANNELS, 1, gain=1.0) for k in range(levels))

    def forward(self, z: torch.Tensor, level: int, alpha: float = 1.0) -> torch.Tensor:
        """(B, z_dim) -> (B, 4, 4 * 2^level, 4 * 2^level)."""
        x = lrelu_pn(self.dense(pixel_norm(z)).view(-1, self.c0, 4, 4))
        x = lrelu_pn(self.conv0(x))
        previous = x
        for k in range(1, level + 1):
            previous = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            for conv in self.blocks[k - 1]:
                x = lrelu_pn(conv(x))
        out = self.to_rgb[level](x)
        if level > 0 and alpha < 1.0:  # fade-in: blend with the upsampled image of the level below
            skip = F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2, mode="nearest")
            out = torch.lerp(skip, out, alpha)
        return out


class Discriminator(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        levels, c0 = num_levels(cfg.resolution), channels_at(0, cfg)
        self.from_rgb = nn.ModuleList(EqConv2d(CHANNELS, channels_at(k, cfg), 1) for k in range(levels))
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqConv2d(channels_at(k, cfg), channels_at(k, cfg), 3),
                           EqConv2d(channels_at(k, cfg), channels_at(k - 1, cfg), 3)]) for k in range(1, levels))
        self.conv_last = EqConv2d(c0 + 1, c0, 3)
        self.dense = EqLinear(c0 * 16, c0)
        self.out = EqLinear(c0, 1, gain=1.0)

    def forward(self, x: torch.Tensor, level: int, alpha: float = 1.0) -> torch.Tensor:
        """(B, 4, r, r) at the level's size -> (B,) scores."""
        h = F.leaky_relu(self.from_rgb[level](x), 0.2)
        for k in range(level, 0, -1):
            for conv in self.blocks[k - 1]:
                h = F.leaky_relu(conv(h), 0.2)
            h = F.avg_pool2d(h, 2)
            if k == level and alpha < 1.0:  # fade-in: blend with the downsampled input through the old fromRGB
                skip = F.leaky_relu(self.from_rgb[level - 1](F.avg_pool2d(x, 2)), 0.2)
                h = torch.lerp(skip, h, alpha)
        h = F.leaky_relu(self.conv_last(minibatch_stddev(h)), 0.2)
        h = F.leaky_relu(self.dense(h.flatten(1)), 0.2)
        return self.out(h).flatten()


def build(cfg: BaselineConfig) -> dict[str, nn.Module]:
    return {"G": Generator(cfg), "D": Discriminator(cfg)}


# ----------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------

def real_at(real: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
    """The real batch at the level's size; during a fade-in blended with its 2x coarser version, as G's output is."""
    size = 4 * 2 ** level
    x = F.adaptive_avg_pool2d(real, size) if real.shape[-1] != size else real
    if level > 0 and alpha < 1.0:
        x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, alpha)
    return x


def train_step(nets: dict[str, nn.Module], opts: dict[str, torch.optim.Optimizer], real: torch.Tensor,
               cfg: BaselineConfig, progress: float) -> dict[str, torch.Tensor]:
    """One WGAN-GP critic update (with drift) and one generator update at the scheduled level and alpha."""
    G, D = nets["G"], nets["D"]
    level, alpha = schedule(progress, cfg.resolution)
    real = real_at(real, level, alpha)
    batch = real.shape[0]

    opts["D"].zero_grad(set_to_none=True)
    fake = G(torch.randn(batch, cfg.z_dim, device=real.device), level, alpha).detach()
    score_real, score_fake = D(real, level, alpha), D(fake, level, alpha)
    eps = torch.rand(batch, 1, 1, 1, device=real.device)
    mixed = torch.lerp(fake, real, eps).requires_grad_(True)
    (grads,) = torch.autograd.grad(D(mixed, level, alpha).sum(), mixed, create_graph=True)
    penalty = ((grads.flatten(1).norm(dim=1) - 1) ** 2).mean()
    wasserstein = score_fake.mean() - score_real.mean()
    d_loss = wasserstein + cfg.gp_weight * penalty + cfg.drift * score_real.pow(2).mean()
    d_loss.backward()
    opts["D"].step()

    opts["G"].zero_grad(set_to_none=True)
    g_loss = -D(G(torch.randn(batch, cfg.z_dim, device=real.device), level, alpha), level, alpha).mean()
    g_loss.backward()
    opts["G"].step()
    return {"d": d_loss.detach(), "g": g_loss.detach(), "w": wasserstein.detach(), "level": torch.tensor(level),
            "alpha": torch.tensor(alpha)}


def generate(G: nn.Module, z: torch.Tensor, cfg: BaselineConfig, progress: float) -> torch.Tensor:
    """Samples at the level reached by `progress`, upsampled (nearest) to the full size if training stopped early."""
    level, alpha = schedule(progress, cfg.resolution)
    out = G(z, level, alpha).clamp(-1, 1)
    if out.shape[-1] != cfg.resolution:
        out = F.interpolate(out, size=(cfg.resolution, cfg.resolution), mode="nearest")
    return out
