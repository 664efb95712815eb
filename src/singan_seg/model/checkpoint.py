"""Model directories: `weights.safetensors` + `config.json`. Loading never unpickles anything.

config.json holds the format version, package version, the full TrainConfig, pyramid shapes, per-scale
widths, noise amplitudes, training progress, the sha256 of the input files and of the weights file.
The weights are written first and config.json last (both atomically), so config.json is the commit
point: a directory whose config.json verifies is a consistent checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .. import __version__
from ..config import TrainConfig
from ..errors import CheckpointError, InputError
from ..files import read_versioned_json, sha256_bytes, write_bytes_atomic, write_json_atomic
from .networks import ScaleDiscriminator, critic_for, generator_for
from .singan import SinGANSeg

FORMAT_NAME = "singan-seg-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


def is_model_dir(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def _prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().to("cpu").contiguous() for k, v in state.items()}


def _unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = prefix + "."
    return {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)}


def weights_bytes(model: SinGANSeg, discriminator: ScaleDiscriminator | None = None) -> bytes:
    """The safetensors bytes of a model: `generators.{n}.*`, optional `discriminator.*` and `rec_noise`."""
    tensors: dict[str, torch.Tensor] = {}
    for n, generator in enumerate(model.generators):
        tensors.update(_prefixed(f"generators.{n}", generator.state_dict()))
    if discriminator is not None:
        tensors.update(_prefixed("discriminator", discriminator.state_dict()))
    if model.rec_noise is not None:
        tensors["rec_noise"] = model.rec_noise.detach().to("cpu").contiguous()
    return save_safetensors(tensors, metadata={"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION)})


def model_meta(model: SinGANSeg, has_discriminator: bool = False) -> dict[str, Any]:
    """The architecture part of config.json: everything `model_from_tensors` needs besides the tensors."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "config": model.config.to_dict(),
        "pyramid": {"shapes": [list(s) for s in model.shapes],
                    "widths": [model.config.channels_at(n) for n in range(model.num_scales)]},
        "noise_amps": list(model.noise_amps),
        "trained_scales": model.trained_scales,
        "complete": model.is_complete,
        "has_reconstruction_noise": model.rec_noise is not None,
        "has_discriminator": has_discriminator,
    }


def save_model(model_dir: str | Path, model: SinGANSeg, discriminator: ScaleDiscriminator | None = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the model (and, while training, the last discriminator for resuming); return config.json's dict."""
    model_dir = Path(model_dir)
    weights = weights_bytes(model, discriminator)
    meta = model_meta(model, has_discriminator=discriminator is not None)
    meta["weights"] = {"file": WEIGHTS_FILE, "sha256": sha256_bytes(weights), "bytes": len(weights)}
    meta.update(extra or {})
    model_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(model_dir / WEIGHTS_FILE, weights)
    write_json_atomic(model_dir / CONFIG_FILE, meta)
    return meta


def read_model_meta(model_dir: str | Path) -> dict[str, Any]:
    """config.json after checking it is ours and not from a newer format."""
    return read_versioned_json(model_dir, CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, "model directory")


def load_model(model_dir: str | Path, device: torch.device | str = "cpu", require_complete: bool = True,
               with_discriminator: bool = False) -> tuple[SinGANSeg, dict[str, Any], ScaleDiscriminator | None]:
    """Rebuild a model from its directory, verifying the weights' checksum and every tensor's shape."""
    model_dir = Path(model_dir)
    meta = read_model_meta(model_dir)
    weights_path = model_dir / meta["weights"]["file"]
    if not weights_path.is_file():
        raise CheckpointError(f"weights file {meta['weights']['file']} is missing", model_dir)
    data = weights_path.read_bytes()
    if sha256_bytes(data) != meta["weights"]["sha256"]:
        raise CheckpointError("weights do not match the sha256 in config.json (corrupt or tampered file)",
                              weights_path)
    if require_complete and not meta["complete"]:
        raise CheckpointError(f"training is incomplete ({meta['trained_scales']} of "
                              f"{len(meta['pyramid']['shapes'])} scales); finish it with `train --resume`", model_dir)
    model, discriminator = model_from_bytes(meta, data, weights_path, device, with_discriminator)
    return model, meta, discriminator


def model_from_bytes(meta: dict[str, Any], data: bytes, path: Path, device: torch.device | str = "cpu",
                     with_discriminator: bool = False) -> tuple[SinGANSeg, ScaleDiscriminator | None]:
    """Rebuild a model from its metadata (config.json's dict) and safetensors bytes, checking every tensor.

    Args:
        meta: the architecture metadata (see `model_meta`); its checksum must already be verified.
        data: safetensors bytes with `generators.{n}.*` and optionally `discriminator.*`, `rec_noise`.
        path: the file the bytes came from, named in errors.
        device: where to put the model.
        with_discriminator: also rebuild the last critic (for resuming training).
    """
    try:
        tensors = load_safetensors(data)
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise CheckpointError(f"cannot read safetensors ({exc})", path) from None
    if "rec_noise" in tensors and not meta.get("has_reconstruction_noise", True):
        raise CheckpointError("holds reconstruction noise that its metadata says was removed", path)
    try:
        config = TrainConfig.from_dict(meta["config"])
    except InputError as exc:  # a setting unknown to this version, or a retired one: name the model's file
        raise CheckpointError(exc.problem, path) from None
    model = SinGANSeg(config=config, shapes=[tuple(s) for s in meta["pyramid"]["shapes"]],
                      rec_noise=tensors.get("rec_noise"))
    for n in range(meta["trained_scales"]):
        generator = generator_for(config, n)
        load_checked_state(generator, _unprefixed(f"generators.{n}", tensors), path, f"generator {n}")
        model.add_scale(generator.eval(), meta["noise_amps"][n])
    discriminator = None
    if with_discriminator and meta.get("has_discriminator"):
        last = meta["trained_scales"] - 1
        discriminator = critic_for(config, last)
        load_checked_state(discriminator, _unprefixed("discriminator", tensors), path, "discriminator")
        discriminator.to(device)
    for p in model.generators.parameters():
        p.requires_grad_(False)
    return model.to(device), discriminator


def load_checked_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str,
                       error: type[Exception] = CheckpointError, allow_extra: bool = False) -> None:
    """Load `state` into `module`, refusing missing tensors or wrong shapes with a one-line `error` naming `path`
    (torch's own message is a multi-line dump). `allow_extra` ignores tensors the module does not have."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise error(f"{what} lacks {len(missing)} tensors, e.g. {missing[:3]}", path)
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise error(f"{what}: tensor {key!r} has shape {tuple(state[key].shape)}, expected "
                        f"{tuple(value.shape)}", path)
    module.load_state_dict({k: state[k] for k in expected} if allow_extra else state, strict=True)
