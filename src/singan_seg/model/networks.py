"""The per-scale generator and discriminator of SinGAN, with 4 channels (RGB + mask).

Both are `num_layers` conv blocks (3x3 conv without padding, BatchNorm, LeakyReLU 0.2); the generator ends in
a conv + tanh and adds its output to the upsampled image from the coarser scale (a residual), the
discriminator ends in a conv to one channel: a patch-wise score map (PatchGAN style).

`models=K` builds K independent networks fused into one: every conv has groups=K over K x the channels, so
input channels [4k, 4k+4) only ever meet the weights of network k (train_many.py trains K pairs at once this
way). Norm layers are per channel, so they stay per network; parameters are the K networks' stacked on dim 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CHANNELS = 4  # R, G, B, mask


NORMS = ("batch", "instance")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """SinGAN trains with batch size 1, where BatchNorm in training mode *is* instance normalisation.
    "batch" (SinGAN, paper) switches to running statistics after training; "instance" keeps the per-image
    statistics the networks were trained with, also when sampling (better samples after short training)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


class ConvBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, norm: str = "batch", models: int = 1):
        super().__init__(
            nn.Conv2d(in_channels * models, out_channels * models, kernel_size, padding=0, groups=models),
            norm_layer(norm, out_channels * models),
            nn.LeakyReLU(0.2, inplace=True),
        )


def _body(width: int, num_layers: int, kernel_size: int, norm: str, models: int) -> nn.Sequential:
    blocks = [ConvBlock(CHANNELS, width, kernel_size, norm, models)]
    blocks += [ConvBlock(width, width, kernel_size, norm, models) for _ in range(num_layers - 2)]
    return nn.Sequential(*blocks)


class ScaleGenerator(nn.Module):
    """G_n(z, x_prev) = x_prev + tail(body(pad(z + x_prev))); output has the size of x_prev."""

    def __init__(self, width: int, num_layers: int = 5, kernel_size: int = 3, norm: str = "batch", models: int = 1):
        super().__init__()
        self.body = _body(width, num_layers, kernel_size, norm, models)
        self.tail = nn.Sequential(nn.Conv2d(width * models, CHANNELS * models, kernel_size, padding=0, groups=models),
                                  nn.Tanh())
        self.pad = num_layers * (kernel_size - 1) // 2  # what the unpadded convs take off each border

    def forward(self, noise: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        # noise, prev: (B, 4K, H, W) -> (B, 4K, H, W)  (K = models, 1 normally)
        x = F.pad(noise + prev, [self.pad] * 4)  # zero padding, as SinGAN pads noise and image
        return self.tail(self.body(x)) + prev


class ScaleDiscriminator(nn.Module):
    """D_n(x): (B, 4K, H, W) -> (B, K, H - 2p, W - 2p) patch scores (WGAN critic, no sigmoid); K = models."""

    def __init__(self, width: int, num_layers: int = 5, kernel_size: int = 3, norm: str = "batch", models: int = 1):
        super().__init__()
        self.body = _body(width, num_layers, kernel_size, norm, models)
        self.tail = nn.Conv2d(width * models, models, kernel_size, padding=0, groups=models)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x))


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """SinGAN's init: conv weights N(0, 0.02), BN weights N(1, 0.02), biases 0; drawn from `generator`."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 0.02)
                if layer.bias is not None:
                    layer.bias.zero_()
            elif isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)):
                layer.weight.copy_(1.0 + torch.randn(layer.weight.shape, generator=generator) * 0.02)
                layer.bias.zero_()
