"""Baseline model directories: `weights.safetensors` + `config.json`, as SinGAN-Seg's; nothing is ever unpickled.

weights.safetensors holds `G.*`, `D.*`, `G_ema.*` (where the arch averages its generator) and the Adam states
flattened to tensors, `opt.G.<param index>.<key>` / `opt.D...`. config.json holds the format name and version, the
package version, the arch and its full config, the training state (step, seconds, budget, position in the growing
schedule, how randomness continues), the optimisers' param groups, the training data's ids digest, the loss history,
machine info and the sha256 of the weights file. The weights are written first and config.json last (both
atomically), so config.json is the commit point, as for SinGAN-Seg model dirs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from .. import __version__
from ..errors import CheckpointError
from ..files import read_versioned_json, sha256_bytes, write_bytes_atomic, write_json_atomic
from ..model.checkpoint import load_checked_state
from .config import BaselineConfig

FORMAT_NAME = "singan-seg-baseline"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


def optimizer_to_flat(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """An optimiser's state as named tensors plus its param groups as JSON-able dicts."""
    state = opt.state_dict()
    tensors = {f"{prefix}.{index}.{key}": value.detach().to("cpu").contiguous()
               for index, entry in state["state"].items() for key, value in entry.items()}
    return tensors, json.loads(json.dumps(state["param_groups"]))  # tuples (betas) become lists


def optimizer_from_flat(prefix: str, tensors: dict[str, torch.Tensor], groups: list[dict]) -> dict[str, Any]:
    """The inverse of `optimizer_to_flat`: a state dict for `Optimizer.load_state_dict`."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    start = prefix + "."
    for name, value in tensors.items():
        if name.startswith(start):
            index, key = name[len(start):].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": groups}


def save_checkpoint(model_dir: str | Path, cfg: BaselineConfig, nets: dict[str, nn.Module],
                    opts: dict[str, torch.optim.Optimizer], training: dict[str, Any]) -> dict[str, Any]:
    """Write the networks, the optimiser states and config.json; return config.json's dict."""
    tensors: dict[str, torch.Tensor] = {}
    for name, net in nets.items():
        tensors.update({f"{name}.{k}": v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()})
    groups = {}
    for name, opt in opts.items():
        flat, groups[name] = optimizer_to_flat(f"opt.{name}", opt)
        tensors.update(flat)
    weights = save_safetensors(tensors, metadata={"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION)})
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "package_version": __version__,
            "arch": cfg.arch, "config": cfg.to_dict(), "networks": sorted(nets), "optimizer_groups": groups,
            "training": training,
            "weights": {"file": WEIGHTS_FILE, "sha256": sha256_bytes(weights), "bytes": len(weights)}}
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(model_dir / WEIGHTS_FILE, weights)
    write_json_atomic(model_dir / CONFIG_FILE, meta)
    return meta


def is_baseline_dir(path: str | Path) -> bool:
    try:
        return json.loads((Path(path) / CONFIG_FILE).read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    """config.json after checking it is a baseline checkpoint of a format this version reads."""
    return read_versioned_json(model_dir, CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, "baseline model directory",
                               " (a SinGAN-Seg model? use `singan-seg generate`)")


def read_weights(model_dir: str | Path, meta: dict[str, Any]) -> dict[str, torch.Tensor]:
    """All tensors of the weights file, after verifying its sha256 against config.json."""
    path = Path(model_dir) / meta["weights"]["file"]
    if not path.is_file():
        raise CheckpointError(f"weights file {meta['weights']['file']} is missing", model_dir)
    data = path.read_bytes()
    if sha256_bytes(data) != meta["weights"]["sha256"]:
        raise CheckpointError("weights do not match the sha256 in config.json (corrupt or tampered file)", path)
    try:
        return load_safetensors(data)
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise CheckpointError(f"cannot read safetensors ({exc})", path) from None


def load_into(net: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path) -> None:
    """Load `prefix.*` tensors into `net`, refusing missing tensors or wrong shapes with a one-line error."""
    start = prefix + "."
    state = {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)}
    load_checked_state(net, state, path, prefix)
