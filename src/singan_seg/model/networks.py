"""The per-scale generator and discriminator of SinGAN, with 4 channels (RGB + mask) by default.

`channels_last=True` keeps weights and activations channels-last (NHWC): oneDNN's bfloat16 convolutions run
on that layout natively and reorder NCHW tensors on every call (the finest scale of `fast` trains ~1.5x faster
per iteration); in float32 with batch norm (`paper`) it is slower, because the penalty's double backward
through batch norm reduces over the strided dimensions (docs/performance.md).

Both are `num_layers` conv blocks (3x3 conv without padding, BatchNorm, LeakyReLU 0.2); the generator ends in
a conv + tanh and adds its output to the upsampled image from the coarser scale (a residual), the
discriminator ends in a conv to one channel: a patch-wise score map (PatchGAN style).

`models=K` builds K independent networks fused into one: every conv has groups=K over K x the channels, so
input channels [4k, 4k+4) only ever meet the weights of network k (training/many.py trains K pairs at once this
way). Norm layers are per channel, so they stay per network; parameters are the K networks' stacked on dim 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from ..config import TrainConfig

CHANNELS = 4  # R, G, B, mask: the default modality (`channels` gives C + K - 1 for any other)


NORMS = ("batch", "instance", "none")


class InstanceNorm(nn.Module):
    """Per-image, per-channel normalisation with a learned scale and shift: `nn.InstanceNorm2d(affine=True)`,
    with the same parameters, so checkpoints load either way.

    Why not nn.InstanceNorm2d: it reshapes to (1, N*C, H, W), which only exists for NCHW memory, so it turns the
    channels-last tensors the convolutions want back into NCHW, and every following convolution (and its
    backward) then copies its input back: at the finest scale that copying was half the time of an iteration.
    For one image, batch norm in training mode computes exactly instance norm and keeps channels-last.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if n == 1:
            return F.batch_norm(x, None, None, self.weight, self.bias, training=True, momentum=0.0, eps=self.eps)
        # Several images (sampling, batched training inputs): the statistics per image and channel, in float32,
        # with element-wise ops that keep the input's memory layout. (Reshaping to (1, N*C, H, W) for batch norm
        # copied channels-last tensors to NCHW and made every following convolution copy them back: a batch of
        # 8 cost 1.5x as much per image as one image at a time. Not F.instance_norm either: its backward is
        # wrong for a channels-last incoming gradient, torch 2.14, CPU; see tests/test_networks.py. Nor
        # torch.var_mean, which reduces channels-last tensors ~20x slower than mean does.)
        x32 = x.float()
        centred = x32 - x32.mean(dim=(2, 3), keepdim=True)
        var = centred.square().mean(dim=(2, 3), keepdim=True)
        scale = self.weight.float().view(1, c, 1, 1) * torch.rsqrt(var + self.eps)
        return (centred * scale + self.bias.float().view(1, c, 1, 1)).to(x.dtype)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """SinGAN trains with batch size 1, where BatchNorm in training mode *is* instance normalisation.
    "batch" (SinGAN, paper) switches to running statistics after training; "instance" keeps the per-image
    statistics the networks were trained with, also when sampling (better samples after short training)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return InstanceNorm(channels)
    if kind == "none":  # the critic of ConSinGAN and of WGAN-GP: its gradient penalty is then 5x cheaper
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


class ConvBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, norm: str = "batch", models: int = 1):
        super().__init__(
            nn.Conv2d(in_channels * models, out_channels * models, kernel_size, padding=0, groups=models),
            norm_layer(norm, out_channels * models),
            nn.LeakyReLU(0.2, inplace=True),
        )


def _body(width: int, num_layers: int, kernel_size: int, norm: str, models: int, channels: int) -> nn.Sequential:
    blocks = [ConvBlock(channels, width, kernel_size, norm, models)]
    blocks += [ConvBlock(width, width, kernel_size, norm, models) for _ in range(num_layers - 2)]
    return nn.Sequential(*blocks)


def _layout(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


class ScaleGenerator(nn.Module):
    """G_n(z, x_prev) = x_prev + tail(body(pad(z + x_prev))); output has the size of x_prev."""

    def __init__(self, width: int, num_layers: int = 5, kernel_size: int = 3, norm: str = "batch", models: int = 1,
                 channels_last: bool = False, channels: int = CHANNELS):
        super().__init__()
        self.body = _body(width, num_layers, kernel_size, norm, models, channels)
        self.tail = nn.Sequential(nn.Conv2d(width * models, channels * models, kernel_size, padding=0, groups=models),
                                  nn.Tanh())
        self.pad = num_layers * (kernel_size - 1) // 2  # what the unpadded convs take off each border
        self.layout = _layout(channels_last)
        self.to(memory_format=self.layout)

    def forward(self, noise: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        # noise, prev: (B, CK, H, W) -> (B, CK, H, W)  (C = channels, K = models, 1 normally)
        prev = prev.contiguous(memory_format=self.layout)
        x = F.pad(noise + prev, [self.pad] * 4)  # zero padding, as SinGAN pads noise and image
        return self.tail(self.body(x)) + prev


class ScaleDiscriminator(nn.Module):
    """D_n(x): (B, CK, H, W) -> (B, K, H - 2p, W - 2p) patch scores (WGAN critic, no sigmoid); K = models."""

    def __init__(self, width: int, num_layers: int = 5, kernel_size: int = 3, norm: str = "batch", models: int = 1,
                 channels_last: bool = False, channels: int = CHANNELS):
        super().__init__()
        self.body = _body(width, num_layers, kernel_size, norm, models, channels)
        self.tail = nn.Conv2d(width * models, models, kernel_size, padding=0, groups=models)
        self.layout = _layout(channels_last)
        self.to(memory_format=self.layout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x.contiguous(memory_format=self.layout)))


def generator_for(cfg: TrainConfig, scale: int, models: int = 1, channels: int = CHANNELS) -> ScaleGenerator:
    """The generator of pyramid level `scale` as `cfg` specifies it (K = `models` fused networks) for pairs of
    `channels` tensor channels (Modality.tensor_channels)."""
    return ScaleGenerator(cfg.channels_at(scale), cfg.num_layers, cfg.kernel_size, cfg.norm, models,
                          cfg.channels_last, channels)


def critic_for(cfg: TrainConfig, scale: int, models: int = 1, channels: int = CHANNELS) -> ScaleDiscriminator:
    """The critic (discriminator) of pyramid level `scale` as `cfg` specifies it."""
    return ScaleDiscriminator(cfg.channels_at(scale), cfg.num_layers, cfg.kernel_size, cfg.critic_norm_layer,
                              models, cfg.channels_last, channels)


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """SinGAN's init: conv weights N(0, 0.02), BN weights N(1, 0.02), biases 0; drawn from `generator`."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 0.02)
                if layer.bias is not None:
                    layer.bias.zero_()
            elif isinstance(layer, (nn.BatchNorm2d, InstanceNorm)):
                layer.weight.copy_(1.0 + torch.randn(layer.weight.shape, generator=generator) * 0.02)
                layer.bias.zero_()
