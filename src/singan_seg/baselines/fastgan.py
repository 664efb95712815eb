"""FastGAN (Liu, Zhu, Song, Elgammal, ICLR 2021) with 4 channels: RGB + mask, following the official code.

Generator: z -> 4x4 (transposed conv + batch norm + GLU), then one upsampling block per doubling (nearest upsample,
3x3 conv, batch norm, GLU; every other block has two convs and noise injection). Skip-layer excitation (SLE): the
features at r px are multiplied channel-wise by a gate computed from the features at r/16 px (64 <- 4, 128 <- 8,
256 <- 16, 512 <- 32). It outputs the full-size image and a small one (min(128, R/2) px) for D's second branch.

Discriminator: a main branch on the full-size image down to 8x8 (residual down blocks, SLE from 8r px to r px) and a
small branch on the small image; both give 5x5 real/fake maps. On real images D must also reconstruct, through
small decoders, the whole image from its 8x8 main features, the whole small image from the small branch's features,
and a random quarter of the image from the same quarter of its 16x16 features: the self-supervised auto-encoding
loss that keeps D's features informative when data are few.

Loss: hinge, with the margin drawn from [0.8, 1] per output as in the official code; D adds the reconstruction loss
on real images. All convs use spectral norm. DiffAugment (Zhao et al. 2020) is applied to real and fake images:
translation (1/8 of the size, zero padding) and cutout (half the size) on all 4 channels, colour (brightness,
saturation, contrast) on RGB only (a mask has no colour).

Deviation: the official reconstruction loss is LPIPS (a pretrained VGG/AlexNet perceptual distance). Those weights
cannot be loaded offline and do not apply to a mask channel, so the reconstruction loss here is L1 on all 4 channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .config import BaselineConfig

CHANNELS = 4


def conv(*args, **kwargs) -> nn.Module:
    return spectral_norm(nn.Conv2d(*args, bias=False, **kwargs))


class GLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * torch.sigmoid(b)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight * torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device)


class SLE(nn.Module):
    """Skip-layer excitation: a channel gate for large features computed from small ones (pooled to 4x4)."""

    def __init__(self, c_small: int, c_big: int):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(4), conv(c_small, c_big, 4), nn.SiLU(), conv(c_big, c_big, 1),
                                  nn.Sigmoid())

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.gate(small)


def up_block(c_in: int, c_out: int, with_noise: bool) -> nn.Sequential:
    """Official UpBlock (one conv) or UpBlockComp (two convs with noise injection)."""
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest"), conv(c_in, c_out * 2, 3, padding=1)]
    if with_noise:
        layers += [NoiseInjection(), nn.BatchNorm2d(c_out * 2), GLU(), conv(c_out, c_out * 2, 3, padding=1),
                   NoiseInjection()]
    return nn.Sequential(*layers, nn.BatchNorm2d(c_out * 2), GLU())


G_MULT = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}


def small_size(resolution: int) -> int:
    return min(128, resolution // 2)


class Generator(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.resolution, self.small = cfg.resolution, small_size(cfg.resolution)
        ch = {r: max(1, int(m * cfg.width)) for r, m in G_MULT.items()}
        self.init = nn.Sequential(spectral_norm(nn.ConvTranspose2d(cfg.z_dim, ch[4] * 2, 4, 1, 0, bias=False)),
                                  nn.BatchNorm2d(ch[4] * 2), GLU())
        self.sizes = [2 ** k for k in range(3, int(math.log2(cfg.resolution)) + 1)]  # 8 ... R
        self.ups = nn.ModuleDict({str(r): up_block(ch[r // 2], ch[r], with_noise=int(math.log2(r)) % 2 == 1)
                                  for r in self.sizes})
        self.sle = nn.ModuleDict({str(r): SLE(ch[r // 16], ch[r]) for r in self.sizes if 64 <= r <= 512})
        self.to_big = conv(ch[cfg.resolution], CHANNELS, 3, padding=1)
        self.to_small = conv(ch[self.small], CHANNELS, 1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, z_dim) -> full-size (B, 4, R, R) and small (B, 4, S, S) images in [-1, 1]."""
        feats = {4: self.init(z[:, :, None, None])}
        for r in self.sizes:
            x = self.ups[str(r)](feats[r // 2])
            feats[r] = self.sle[str(r)](feats[r // 16], x) if str(r) in self.sle else x
        # tanh on both outputs (the official code has it at 1024 px only) keeps samples in the data range
        return torch.tanh(self.to_big(feats[self.resolution])), torch.tanh(self.to_small(feats[self.small]))


def down_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(conv(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))


class DownBlockComp(nn.Module):
    """Official DownBlockComp: a strided conv path and an average-pool shortcut, averaged."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.main = nn.Sequential(down_block(c_in, c_out), conv(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out),
                                  nn.LeakyReLU(0.2))
        self.direct = nn.Sequential(nn.AvgPool2d(2, 2), conv(c_in, c_out, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


class Decoder(nn.Module):
    """Official SimpleDecoder: 8x8 features -> an image of `size` px (128 in the paper)."""

    def __init__(self, c_in: int, size: int, width: int):
        super().__init__()
        mult = {16: 4, 32: 2, 64: 2, 128: 1}
        sizes = [2 ** k for k in range(4, int(math.log2(size)) + 1)]
        widths = [c_in] + [max(1, mult[s] * width) for s in sizes]
        blocks = [up_block(a, b, with_noise=False) for a, b in zip(widths, widths[1:])]
        self.main = nn.Sequential(nn.AdaptiveAvgPool2d(8), *blocks, conv(widths[-1], CHANNELS, 3, padding=1),
                                  nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class Discriminator(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        R, S, w = cfg.resolution, small_size(cfg.resolution), cfg.width
        big = lambda r: max(1, w * 64 // r)  # noqa: E731  main-branch channels at r px (official: 16 at 256 px)
        small = lambda r: max(1, w * 32 // r)  # noqa: E731  small-branch channels at r px
        self.sizes = [2 ** k for k in range(int(math.log2(R)) - 1, 2, -1)]  # R/2 ... 8
        self.stem = nn.Sequential(conv(CHANNELS, big(R), 3, padding=1), nn.LeakyReLU(0.2))
        self.downs = nn.ModuleDict({str(r): DownBlockComp(big(2 * r), big(r)) for r in self.sizes})
        self.sle = nn.ModuleDict({str(r): SLE(big(8 * r), big(r)) for r in self.sizes if 8 * r <= R})
        self.rf_big = nn.Sequential(conv(big(8), big(4), 1), nn.BatchNorm2d(big(4)), nn.LeakyReLU(0.2),
                                    conv(big(4), 1, 4))
        small_sizes = [2 ** k for k in range(int(math.log2(S)) - 2, 2, -1)]  # S/4 ... 8
        self.small = nn.Sequential(conv(CHANNELS, small(S // 2), 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                                   *[down_block(small(2 * r), small(r)) for r in small_sizes])
        self.rf_small = conv(small(8), 1, 4)
        out = min(R, 128)
        self.decoder_big = Decoder(big(8), out, max(1, w // 2))
        self.decoder_part = Decoder(big(16), out, max(1, w // 2))
        self.decoder_small = Decoder(small(8), out, max(1, w // 2))

    def forward(self, big_img: torch.Tensor, small_img: torch.Tensor, part: int | None = None):
        """Real/fake logits (B * 50,); with `part` (0..3, real images) also the three reconstructions."""
        feats = {big_img.shape[-1]: self.stem(big_img)}
        for r in self.sizes:
            x = self.downs[str(r)](feats[2 * r])
            feats[r] = self.sle[str(r)](feats[8 * r], x) if str(r) in self.sle else x
        feat_small = self.small(small_img)
        logits = torch.cat([self.rf_big(feats[8]).flatten(), self.rf_small(feat_small).flatten()])
        if part is None:
            return logits
        quarter = crop_part(feats[16], part)  # (B, C, 8, 8) of the 16x16 features
        return logits, (self.decoder_big(feats[8]), self.decoder_small(feat_small), self.decoder_part(quarter))


def crop_part(x: torch.Tensor, part: int) -> torch.Tensor:
    """Quarter `part` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of a (B, C, H, W) batch."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    top, left = (part // 2) * h, (part % 2) * w
    return x[..., top:top + h, left:left + w]


def build(cfg: BaselineConfig) -> dict[str, nn.Module]:
    return {"G": Generator(cfg), "D": Discriminator(cfg)}


# ----------------------------------------------------------------------------------------------------------
# DiffAugment (Zhao, Liu, Lin, Zhu, Han, NeurIPS 2020), colour on RGB only
# ----------------------------------------------------------------------------------------------------------

def diff_augment(x: torch.Tensor, policy: list[str]) -> torch.Tensor:
    """Differentiable augmentation of a (B, 4, H, W) batch, drawn per sample."""
    B, dev = x.shape[0], x.device
    if "color" in policy:
        rgb, mask = x[:, :3], x[:, 3:]
        rgb = rgb + (torch.rand(B, 1, 1, 1, device=dev) - 0.5)  # brightness
        mean = rgb.mean(dim=1, keepdim=True)
        rgb = (rgb - mean) * (torch.rand(B, 1, 1, 1, device=dev) * 2) + mean  # saturation
        mean = rgb.mean(dim=[1, 2, 3], keepdim=True)
        rgb = (rgb - mean) * (torch.rand(B, 1, 1, 1, device=dev) + 0.5) + mean  # contrast
        x = torch.cat([rgb, mask], dim=1)
    if "translation" in policy:
        x = translate(x, ratio=0.125)
    if "cutout" in policy:
        x = cutout(x, ratio=0.5)
    return x


def translate(x: torch.Tensor, ratio: float) -> torch.Tensor:
    """Shift each sample by up to ratio x size in y and x, filling with zeros."""
    B, _, H, W = x.shape
    sy, sx = int(H * ratio + 0.5), int(W * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (B,)).tolist()
    dx = torch.randint(-sx, sx + 1, (B,)).tolist()
    padded = F.pad(x, [sx, sx, sy, sy])
    return torch.stack([padded[i, :, sy - dy[i]:sy - dy[i] + H, sx - dx[i]:sx - dx[i] + W] for i in range(B)])


def cutout(x: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero a (ratio x size) square at a random centre of each sample (clipped at the borders)."""
    B, _, H, W = x.shape
    ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    cy = torch.randint(0, H + (1 - ch % 2), (B,)).tolist()
    cx = torch.randint(0, W + (1 - cw % 2), (B,)).tolist()
    keep = torch.ones(B, 1, H, W, device=x.device)
    for i in range(B):
        keep[i, :, max(cy[i] - ch // 2, 0):cy[i] - ch // 2 + ch, max(cx[i] - cw // 2, 0):cx[i] - cw // 2 + cw] = 0
    return x * keep


# ----------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------

def hinge_margin(logits: torch.Tensor) -> torch.Tensor:
    """The official code's hinge margin: uniform in [0.8, 1] per output."""
    return torch.rand_like(logits) * 0.2 + 0.8


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="area")


def train_step(nets: dict[str, nn.Module], opts: dict[str, torch.optim.Optimizer], real: torch.Tensor,
               cfg: BaselineConfig, progress: float) -> dict[str, torch.Tensor]:
    """One D update (hinge + reconstruction on real, hinge on fake), then one G update."""
    G, D = nets["G"], nets["D"]
    policy, S = cfg.augment_policy, small_size(cfg.resolution)
    fake_big, fake_small = G(torch.randn(real.shape[0], cfg.z_dim, device=real.device))
    real = diff_augment(real, policy)
    fake_big, fake_small = diff_augment(fake_big, policy), diff_augment(fake_small, policy)

    opts["D"].zero_grad(set_to_none=True)
    part = int(torch.randint(0, 4, ()))
    logits, (rec_big, rec_small, rec_part) = D(real, resize(real, S), part=part)
    out = rec_big.shape[-1]
    rec = (F.l1_loss(rec_big, resize(real, out)) + F.l1_loss(rec_small, resize(resize(real, S), out))
           + F.l1_loss(rec_part, resize(crop_part(real, part), out)))
    d_real = F.relu(hinge_margin(logits) - logits).mean()
    fake_logits = D(fake_big.detach(), fake_small.detach())
    d_fake = F.relu(hinge_margin(fake_logits) + fake_logits).mean()
    (d_real + rec + d_fake).backward()
    opts["D"].step()

    opts["G"].zero_grad(set_to_none=True)
    g_loss = -D(fake_big, fake_small).mean()
    g_loss.backward()
    opts["G"].step()
    return {"d": (d_real + d_fake).detach(), "rec": rec.detach(), "g": g_loss.detach()}


def generate(G: nn.Module, z: torch.Tensor, cfg: BaselineConfig, progress: float) -> torch.Tensor:
    return G(z)[0]
