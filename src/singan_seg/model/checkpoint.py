"""Model directories: `weights.safetensors` + `config.json`. Loading never unpickles anything.

config.json holds the format version, package version, the full TrainConfig, pyramid shapes, per-scale
widths, noise amplitudes, the modality (image channels, bit depth, mask classes; absent in files written before
0.13: RGB with a binary mask), training progress, the sha256 of the input files and of the weights file.
The weights are written first and config.json last (both atomically), so config.json is the commit
point: a directory whose config.json verifies is a consistent checkpoint.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .. import __version__
from ..config import TrainConfig
from ..data.modality import Modality
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
        "modality": model.modality.to_dict(),
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
    """config.json after checking it is ours, not from a newer format, and that every field loading reads is
    there with the right type (a damaged or hand-edited file gives one line naming the field)."""
    meta = read_versioned_json(model_dir, CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, "model directory")
    path = Path(model_dir) / CONFIG_FILE
    check_model_meta(meta, path)
    complete = _field(meta, "complete", bool, path)
    if complete != (meta["trained_scales"] == len(meta["pyramid"]["shapes"])):
        raise CheckpointError(f"field 'complete' is {str(complete).lower()} but {meta['trained_scales']} of "
                              f"{len(meta['pyramid']['shapes'])} scales are trained (a damaged or edited file)", path)
    weights = _field(meta, "weights", dict, path)
    name = _field(weights, "file", str, path, "weights.file")
    if name in ("", ".", "..") or "/" in name or "\\" in name or name.startswith("~"):
        raise CheckpointError(f"field 'weights.file' should be a plain file name inside the model folder, got "
                              f"{name!r}", path)
    digest = _field(weights, "sha256", str, path, "weights.sha256")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise CheckpointError(f"field 'weights.sha256' is not a sha256 hex digest: {digest[:80]!r}", path)
    if _field(weights, "bytes", int, path, "weights.bytes") < 0:
        raise CheckpointError("field 'weights.bytes' is negative", path)
    if "inputs" in meta:
        _field(meta, "inputs", dict, path)
    try:
        TrainConfig.from_dict(meta["config"])
    except InputError as exc:  # a setting of the wrong type, unknown to this version, or retired
        raise CheckpointError(f"field 'config': {exc.problem}", path) from None
    return meta


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "an object",
               list: "a list"}


def _field(meta: dict[str, Any], key: str, kind: type, path: str | Path, name: str | None = None) -> Any:
    """meta[key], refusing a missing field or one of the wrong type (bools are not integers, ints are numbers)."""
    name = name or key
    if key not in meta:
        raise CheckpointError(f"lacks the field {name!r} (a damaged or hand-edited file)", path)
    value = meta[key]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise CheckpointError(f"field {name!r} should be {_TYPE_WORDS[kind]}, got {_short(value)}", path)
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_model_meta(meta: Any, path: str | Path, prefix: str = "") -> None:
    """Check the architecture part of a model's metadata (`model_meta`: what `model_from_bytes` reads), from a
    config.json or a pack entry named `path` in errors: one line naming the first bad field (its name after
    `prefix`, e.g. "generators[0].model." in a pack index)."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"model metadata should be an object, got {_short(meta)}", path)
    _field(meta, "config", dict, path, f"{prefix}config")
    pyramid = _field(meta, "pyramid", dict, path, f"{prefix}pyramid")
    shapes = _field(pyramid, "shapes", list, path, f"{prefix}pyramid.shapes")
    if not shapes or not all(isinstance(s, list) and len(s) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in s) for s in shapes):
        raise CheckpointError(f"field '{prefix}pyramid.shapes' should be a non-empty list of [height, width] pairs "
                              f"of positive integers, got {_short(shapes)}", path)
    if "widths" in pyramid:
        widths = _field(pyramid, "widths", list, path, f"{prefix}pyramid.widths")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in widths):
            raise CheckpointError(f"field '{prefix}pyramid.widths' should list positive integers, got "
                                  f"{_short(widths)}", path)
    trained = _field(meta, "trained_scales", int, path, f"{prefix}trained_scales")
    if not 0 <= trained <= len(shapes):
        raise CheckpointError(f"field '{prefix}trained_scales' is {trained}, outside 0..{len(shapes)} (the "
                              "pyramid's scales)", path)
    amps = _field(meta, "noise_amps", list, path, f"{prefix}noise_amps")
    if len(amps) != trained or not all(isinstance(a, (int, float)) and not isinstance(a, bool)
                                       and math.isfinite(a) for a in amps):
        raise CheckpointError(f"field '{prefix}noise_amps' should list {trained} numbers (one per trained scale), "
                              f"got {_short(amps)}", path)
    for key in ("has_reconstruction_noise", "has_discriminator"):
        if key in meta:
            _field(meta, key, bool, path, f"{prefix}{key}")
    meta_modality(meta, path, prefix)


def meta_modality(meta: dict[str, Any], path: str | Path, prefix: str = "") -> Modality:
    """The modality a model's metadata records (RGB with a binary mask where it records none), refusing a
    malformed one in one line naming the field."""
    try:
        return Modality.from_dict(meta.get("modality"))
    except InputError as exc:
        raise CheckpointError(f"field '{prefix}modality': {exc.problem.removeprefix('modality: ')}", path) from None


def load_model(model_dir: str | Path, device: torch.device | str = "cpu", require_complete: bool = True,
               with_discriminator: bool = False) -> tuple[SinGANSeg, dict[str, Any], ScaleDiscriminator | None]:
    """Rebuild a model from its directory, verifying the weights' size, checksum and every tensor's shape."""
    model_dir = Path(model_dir)
    meta = read_model_meta(model_dir)
    weights_path = model_dir / meta["weights"]["file"]
    if not weights_path.is_file():
        raise CheckpointError(f"weights file {meta['weights']['file']} is missing", model_dir)
    size = weights_path.stat().st_size
    if size != meta["weights"]["bytes"]:
        raise CheckpointError(f"weights file is {size} bytes but config.json says {meta['weights']['bytes']} "
                              "(corrupt, truncated or replaced file)", weights_path)
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
    check_model_meta(meta, path)
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
    modality = meta_modality(meta, path)
    channels = modality.tensor_channels
    model = SinGANSeg(config=config, shapes=[tuple(s) for s in meta["pyramid"]["shapes"]],
                      rec_noise=tensors.get("rec_noise"), modality=modality)
    if model.rec_noise is not None and model.rec_noise.shape[1] != channels:
        raise CheckpointError(f"reconstruction noise has {model.rec_noise.shape[1]} channels but the modality "
                              f"({modality.describe()}) needs {channels}", path)
    for n in range(meta["trained_scales"]):
        generator = generator_for(config, n, channels=channels)
        load_checked_state(generator, _unprefixed(f"generators.{n}", tensors), path, f"generator {n}")
        model.add_scale(generator.eval(), meta["noise_amps"][n])
    discriminator = None
    if with_discriminator and meta.get("has_discriminator"):
        last = meta["trained_scales"] - 1
        discriminator = critic_for(config, last, channels=channels)
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
