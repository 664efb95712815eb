"""Resuming training: what an output directory may hold, and the state of the scale being trained.

`check_out_dir` and `check_resumable` decide whether a model directory is fresh, resumable or must be refused
(other settings, other inputs). `MidScaleCheckpoints` saves the scale being trained every few minutes.

The model directory's own checkpoint (config.json + weights.safetensors) is written after every scale. With
the paper recipe one scale can take hours on a CPU (2000 iterations of ~30 s at 250 px), so `train()` also
saves, every few minutes, what changes while a scale trains: the networks being trained, both Adam
optimisers' moments, the learning rates and the scale's random generator. Resuming restores all of it and
continues at the next iteration, drawing exactly the noise an uninterrupted run would have drawn.

Two files beside the model's, in the same safe format (no pickle):
- `scale_in_progress.safetensors`: tensors `net.<name>.*`, `opt.<name>.<param index>.<key>`, `rng`.
- `scale_in_progress.json`: the scale, iterations done, seconds spent, the learning rates, the sha256 of the
  tensors and of the model weights it continues (written last: it is the commit point).
A state that continues other weights than the directory's (a leftover) is ignored; a damaged one is refused.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from ..config import TrainConfig
from ..data.modality import Modality
from ..data.pairs import Pair
from ..errors import CheckpointError
from ..files import parse_versioned_json, prepare_checkpoint_dir, sha256_bytes, write_bytes_atomic, write_json_atomic
from ..model.checkpoint import CONFIG_FILE, WEIGHTS_FILE, is_model_dir, load_checked_state

log = logging.getLogger("singan_seg")

FORMAT_NAME = "singan-seg-scale-in-progress"
FORMAT_VERSION = 1
STATE_FILE = "scale_in_progress.json"
TENSORS_FILE = "scale_in_progress.safetensors"


def check_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> bool:
    """Return True when there is a checkpoint to resume from; refuse to clobber anything else."""
    return prepare_checkpoint_dir(out_dir, is_model_dir(out_dir), resume, overwrite, "singan-seg model",
                                  (CONFIG_FILE, STATE_FILE, WEIGHTS_FILE, TENSORS_FILE))


def check_resumable(meta: dict, cfg: TrainConfig, pair: Pair, out_dir: Path) -> None:
    """Refuse to continue a checkpoint trained with other settings or on other inputs."""
    saved = TrainConfig.from_dict(meta["config"]).training_dict()  # settings added since then take their defaults
    different = {k: (saved.get(k), v) for k, v in cfg.training_dict().items() if saved.get(k) != v}
    if different:
        listed = ", ".join(f"{k} {a!r} (saved) vs {b!r}" for k, (a, b) in sorted(different.items()))
        raise CheckpointError(f"cannot resume: the model was trained with other settings: {listed}", out_dir)
    saved_inputs = meta.get("inputs", {})
    for key, digest in (("image", pair.image_sha256), ("mask", pair.mask_sha256)):
        saved_digest = saved_inputs.get(key, {}).get("sha256")
        if digest and saved_digest and digest != saved_digest:
            raise CheckpointError(f"cannot resume: the {key} differs from the one this model was trained on", out_dir)
    saved_modality = Modality.from_dict(meta.get("modality"))
    if saved_modality != pair.modality:
        raise CheckpointError(f"cannot resume: the model was trained on {saved_modality.describe()}, this pair is "
                              f"{pair.modality.describe()} (give the same --classes / --channels)", out_dir)


@dataclass
class ScaleState:
    """What changes while one scale trains (references to the live objects, saved and restored in place)."""
    networks: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: list[torch.optim.lr_scheduler.LRScheduler]
    rng: torch.Generator


def _state_tensors(state: ScaleState) -> dict[str, torch.Tensor]:
    tensors = {"rng": state.rng.get_state()}
    for name, net in state.networks.items():
        tensors.update({f"net.{name}.{k}": v for k, v in net.state_dict().items()})
    for name, opt in state.optimizers.items():
        for index, slots in opt.state_dict()["state"].items():
            tensors.update({f"opt.{name}.{index}.{k}": v for k, v in slots.items()})
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def _restore(state: ScaleState, tensors: dict[str, torch.Tensor], lrs: dict[str, list[float]], done: int,
             path: Path) -> None:
    for name, net in state.networks.items():
        prefix = f"net.{name}."
        load_checked_state(net, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, path,
                           f"in-progress {name}")
    for name, opt in state.optimizers.items():
        saved = opt.state_dict()
        slots: dict[int, dict[str, torch.Tensor]] = {}
        prefix = f"opt.{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, slot = key[len(prefix):].split(".", 1)
                slots.setdefault(int(index), {})[slot] = value
        if len(lrs.get(name, [])) != len(saved["param_groups"]):
            raise CheckpointError(f"optimiser {name!r} does not match the model being trained", path)
        for group, lr in zip(saved["param_groups"], lrs[name]):
            group["lr"] = lr
        saved["state"] = slots
        opt.load_state_dict(saved)
    for scheduler in state.schedulers:
        scheduler.last_epoch = done  # the decay milestones count from here, as if stepped `done` times
    state.rng.set_state(tensors["rng"])


@dataclass
class MidScaleCheckpoints:
    """Periodic in-scale checkpoints in `model_dir`, continuing the model weights with sha256 `base_sha256`.

    `every_seconds`: time between saves (0: after every iteration, for tests)."""
    model_dir: Path
    base_sha256: str
    every_seconds: float
    _last_save: float = field(default_factory=time.perf_counter)

    def pending_iterations(self, scale: int) -> int:
        """Iterations of `scale` already done in a saved state that this run will continue (0 if none)."""
        meta = self._read_meta()
        return meta["iterations_done"] if meta is not None and meta["scale"] == scale else 0

    def resume(self, scale: int, state: ScaleState) -> tuple[int, float]:
        """Restore a saved state of `scale` into `state`; return (iterations done, seconds spent) or (0, 0.0)."""
        self._last_save = time.perf_counter()
        meta = self._read_meta()
        if meta is None or meta["scale"] != scale:
            return 0, 0.0
        path = self.model_dir / TENSORS_FILE
        data = path.read_bytes() if path.is_file() else b""
        if sha256_bytes(data) != meta["tensors_sha256"]:
            raise CheckpointError(f"does not match the sha256 in {STATE_FILE} (missing, corrupt or tampered); "
                                  f"delete both {STATE_FILE} and {TENSORS_FILE} to restart scale {scale} "
                                  "from its beginning", path)
        try:
            tensors = load_safetensors(data)
        except Exception as exc:  # safetensors raises its own error types for bad headers
            raise CheckpointError(f"cannot read safetensors ({exc})", path) from None
        _restore(state, tensors, meta["learning_rates"], meta["iterations_done"], path)
        log.info("resuming scale %d at iteration %d of %d", scale, meta["iterations_done"], meta["iterations"])
        return meta["iterations_done"], float(meta["seconds"])

    def maybe_save(self, scale: int, done: int, iterations: int, seconds: float, state: ScaleState) -> bool:
        """Save when `every_seconds` have passed since the last save (never after the last iteration: the
        scale's own checkpoint follows)."""
        now = time.perf_counter()
        if done >= iterations or now - self._last_save < self.every_seconds:
            return False
        data = save_safetensors(_state_tensors(state), metadata={"format": FORMAT_NAME})
        write_bytes_atomic(self.model_dir / TENSORS_FILE, data)
        write_json_atomic(self.model_dir / STATE_FILE, {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "scale": scale, "iterations_done": done,
            "iterations": iterations, "seconds": round(seconds, 3), "base_weights_sha256": self.base_sha256,
            "tensors_sha256": sha256_bytes(data),
            "learning_rates": {name: [g["lr"] for g in opt.param_groups] for name, opt in state.optimizers.items()},
        })
        self._last_save = time.perf_counter()
        return True

    def clear(self) -> None:
        """Remove the state (json first, so a half-done removal never leaves a state that looks valid)."""
        for name in (STATE_FILE, TENSORS_FILE):
            (self.model_dir / name).unlink(missing_ok=True)

    def _read_meta(self) -> dict[str, Any] | None:
        path = self.model_dir / STATE_FILE
        if not path.is_file():
            return None
        meta = parse_versioned_json(path.read_bytes(), path, FORMAT_NAME, FORMAT_VERSION, "state")
        if meta.get("base_weights_sha256") != self.base_sha256:
            log.warning("ignoring %s: it continues other weights than %s's (a leftover)", path, self.model_dir)
            return None
        return meta
