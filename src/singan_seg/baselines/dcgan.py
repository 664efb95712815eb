"""DCGAN (Radford, Metz, Chintala, ICLR 2016) with 4 channels: RGB + mask.

The classic all-convolutional pair. G: z (B, z_dim) -> 4x4 transposed conv -> a stride-2 transposed conv per doubling
of the size, batch norm + ReLU after each, tanh on the output. D mirrors it with stride-2 convs, LeakyReLU 0.2 and
batch norm (none on the first layer), and one 4x4 conv to a logit. The published model is 64 px; every further
doubling (128 px here, 256 px in the paper) adds one layer to each network, with twice the filters at its small end.

Loss: the standard GAN loss as binary cross-entropy on logits (numerically safer than sigmoid + BCE, same values);
the generator uses the non-saturating form (maximise log D(G(z))). One D step, then one G step. Weights N(0, 0.02),
batch-norm scales N(1, 0.02).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import BaselineConfig

CHANNELS = 4


def _layers(resolution: int) -> int:
    """Stride-2 layers between 4x4 and the full size."""
    return int(math.log2(resolution)) - 2


class Generator(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        n = _layers(cfg.resolution)
        widths = [cfg.width * 2 ** (n - 1 - k) for k in range(n)]  # 4 px ... R/2 px, e.g. 1024 ... 64 at 128 px
        blocks = [nn.ConvTranspose2d(cfg.z_dim, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]),
                  nn.ReLU(True)]
        for w_in, w_out in zip(widths, widths[1:]):
            blocks += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(True)]
        blocks += [nn.ConvTranspose2d(widths[-1], CHANNELS, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z[:, :, None, None])  # (B, 4, R, R)


class Discriminator(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        n = _layers(cfg.resolution)
        widths = [cfg.width * 2 ** k for k in range(n)]  # R/2 px ... 4 px
        blocks: list[nn.Module] = [nn.Conv2d(CHANNELS, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for w_in, w_out in zip(widths, widths[1:]):
            blocks += [nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.LeakyReLU(0.2, True)]
        blocks += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()  # (B,) logits


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build(cfg: BaselineConfig) -> dict[str, nn.Module]:
    nets = {"G": Generator(cfg), "D": Discriminator(cfg)}
    for net in nets.values():
        net.apply(_init)
    return nets


def train_step(nets: dict[str, nn.Module], opts: dict[str, torch.optim.Optimizer], real: torch.Tensor,
               cfg: BaselineConfig, progress: float) -> dict[str, torch.Tensor]:
    """One D update on a real and a fake batch, then one G update; returns detached losses."""
    G, D = nets["G"], nets["D"]
    z = torch.randn(real.shape[0], cfg.z_dim, device=real.device)
    fake = G(z)

    opts["D"].zero_grad(set_to_none=True)
    logits_real, logits_fake = D(real), D(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
              + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))
    d_loss.backward()
    opts["D"].step()

    opts["G"].zero_grad(set_to_none=True)
    logits = D(fake)
    g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    g_loss.backward()
    opts["G"].step()
    return {"d": d_loss.detach(), "g": g_loss.detach()}


def generate(G: nn.Module, z: torch.Tensor, cfg: BaselineConfig, progress: float) -> torch.Tensor:
    return G(z)
