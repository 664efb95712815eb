"""Domain-prior directories: a SinGAN-Seg pyramid trained on several pairs, with EVERY scale's generator and critic
(a warm start initialises both), in the model directory's conventions: `weights.safetensors` + `config.json`,
verified on load, never unpickled.

config.json: format "singan-seg-prior", format version, package version, the TrainConfig, pyramid shapes and
widths, noise amplitudes, modality, trained scales, the weights' file/sha256/bytes, `trained_on` (what the prior saw:
ids, folds, sha256 of every image and mask file, how they were chosen) and `training` (seconds, per-scale history).
The safetensors header holds the sha256 of `trained_on` as well, so config.json's record of what the prior saw cannot
be edited (or copied from another prior) without the weights' checksum failing: build-dataset's fold check reads it.
Weights are written first and config.json last (the commit point), as in model/checkpoint.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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
from .checkpoint import CONFIG_FILE, WEIGHTS_FILE, _field, check_model_meta, load_checked_state, meta_modality
from .networks import critic_for, generator_for

FORMAT_NAME = "singan-seg-prior"
FORMAT_VERSION = 1
KIND = "singan-seg prior"


@dataclass
class Prior:
    """A loaded prior: per-scale generator and critic weights (CPU tensors), verified against its config.json."""
    path: Path
    meta: dict[str, Any]
    config: TrainConfig
    shapes: list[tuple[int, int]]
    modality: Modality
    generators: list[dict[str, torch.Tensor]]
    critics: list[dict[str, torch.Tensor]]

    @property
    def num_scales(self) -> int:
        return len(self.shapes)

    @property
    def weights_sha256(self) -> str:
        return self.meta["weights"]["sha256"]

    @property
    def trained_on(self) -> dict[str, Any]:
        return self.meta["trained_on"]

    def record(self) -> dict[str, Any]:
        """What a warm-started model and a dataset record about this prior (no host paths)."""
        return {"format": FORMAT_NAME, "format_version": self.meta["format_version"], "name": self.path.name,
                "weights_sha256": self.weights_sha256, "package_version": self.meta.get("package_version"),
                "num_scales": self.num_scales, "trained_on": self.trained_on}


def is_prior_dir(path: str | Path) -> bool:
    config = Path(path) / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def canonical_sha256(value: Any) -> str:
    """sha256 of a JSON value written canonically (sorted keys, no spaces)."""
    return sha256_bytes(json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def save_prior(out_dir: str | Path, config: TrainConfig, shapes: list[tuple[int, int]], modality: Modality,
               generators: list[torch.nn.Module], critics: list[torch.nn.Module], noise_amps: list[float],
               trained_on: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the trained scales' generators and critics, then config.json; return config.json's dict."""
    out = Path(out_dir)
    tensors: dict[str, torch.Tensor] = {}
    for kind, nets in (("generators", generators), ("critics", critics)):
        for n, net in enumerate(nets):
            tensors.update({f"{kind}.{n}.{k}": v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()})
    weights = save_safetensors(tensors, metadata={"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION),
                                                  "trained_on_sha256": canonical_sha256(trained_on)})
    trained = len(generators)
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "package_version": __version__,
            "config": config.to_dict(),
            "pyramid": {"shapes": [list(s) for s in shapes], "widths": [config.channels_at(n) for n in
                                                                         range(len(shapes))]},
            "noise_amps": [float(a) for a in noise_amps], "modality": modality.to_dict(), "trained_scales": trained,
            "complete": trained == len(shapes), "has_reconstruction_noise": False, "has_discriminator": True,
            "weights": {"file": WEIGHTS_FILE, "sha256": sha256_bytes(weights), "bytes": len(weights)},
            "trained_on": trained_on, **(extra or {})}
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / WEIGHTS_FILE, weights)
    write_json_atomic(out / CONFIG_FILE, meta)
    return meta


def read_prior_meta(prior_dir: str | Path) -> dict[str, Any]:
    """config.json after checking it is a prior of a format this version reads, with every field loading needs."""
    meta = read_versioned_json(prior_dir, CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, "prior directory",
                               " (a prior is written by `singan-seg prior train`)")
    path = Path(prior_dir) / CONFIG_FILE
    check_model_meta(meta, path)
    weights = _field(meta, "weights", dict, path)
    if _field(weights, "file", str, path, "weights.file") != WEIGHTS_FILE:
        raise CheckpointError(f"field 'weights.file' should be {WEIGHTS_FILE!r}", path)
    if not re.fullmatch(r"[0-9a-f]{64}", _field(weights, "sha256", str, path, "weights.sha256")):
        raise CheckpointError("field 'weights.sha256' is not a sha256 hex digest", path)
    _field(weights, "bytes", int, path, "weights.bytes")
    check_trained_on(_field(meta, "trained_on", dict, path), path)
    try:
        TrainConfig.from_dict(meta["config"])
    except InputError as exc:
        raise CheckpointError(f"field 'config': {exc.problem}", path) from None
    return meta


def check_trained_on(trained_on: dict[str, Any], path: Path) -> None:
    """`trained_on` must list every image the prior saw with its id and the sha256 of its image and mask files."""
    images = _field(trained_on, "images", list, path, "trained_on.images")
    if not images:
        raise CheckpointError("field 'trained_on.images' is empty", path)
    for i, item in enumerate(images):
        where = f"trained_on.images[{i}]"
        if not isinstance(item, dict):
            raise CheckpointError(f"field {where!r} should be an object", path)
        _field(item, "id", str, path, f"{where}.id")
        for key in ("image_sha256", "mask_sha256"):
            digest = item.get(key)
            if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise CheckpointError(f"field '{where}.{key}' should be a sha256 hex digest (a prior records the "
                                      "files it saw)", path)
        fold = item.get("fold")
        if fold is not None and (not isinstance(fold, int) or isinstance(fold, bool)):
            raise CheckpointError(f"field '{where}.fold' should be an integer or null", path)


def load_prior(prior_dir: str | Path, require_complete: bool = True) -> Prior:
    """A prior's weights after verifying size, sha256, the record of what it saw and every tensor's shape."""
    prior_dir = Path(prior_dir)
    meta = read_prior_meta(prior_dir)
    weights_path = prior_dir / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"weights file {WEIGHTS_FILE} is missing", prior_dir)
    data = weights_path.read_bytes()
    if len(data) != meta["weights"]["bytes"] or sha256_bytes(data) != meta["weights"]["sha256"]:
        raise CheckpointError("weights do not match the size and sha256 in config.json (corrupt or tampered file)",
                              weights_path)
    if require_complete and not meta["complete"]:
        raise CheckpointError(f"the prior is incomplete ({meta['trained_scales']} of {len(meta['pyramid']['shapes'])} "
                              "scales); finish it with `prior train --resume`", prior_dir)
    try:
        tensors = load_safetensors(data)
        header = _safetensors_metadata(data)  # holds the sha256 of what the prior saw
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise CheckpointError(f"cannot read safetensors ({exc})", weights_path) from None
    if header.get("trained_on_sha256") != canonical_sha256(meta["trained_on"]):
        raise CheckpointError("field 'trained_on' does not match the record in the weights file (config.json was "
                              "edited or comes from another prior)", prior_dir / CONFIG_FILE)
    config = TrainConfig.from_dict(meta["config"])
    modality = meta_modality(meta, prior_dir / CONFIG_FILE)
    generators, critics = [], []
    for n in range(meta["trained_scales"]):
        for kind, build, into in (("generators", generator_for, generators), ("critics", critic_for, critics)):
            net = build(config, n, channels=modality.tensor_channels)
            prefix = f"{kind}.{n}."
            load_checked_state(net, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                               weights_path, f"{kind[:-1]} {n}")
            into.append(net.state_dict())
    return Prior(path=prior_dir, meta=meta, config=config, shapes=[tuple(s) for s in meta["pyramid"]["shapes"]],
                 modality=modality, generators=generators, critics=critics)


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of safetensors bytes (the header is 8 bytes of length, then JSON)."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size].decode("utf-8"))
    return header.get("__metadata__") or {}
