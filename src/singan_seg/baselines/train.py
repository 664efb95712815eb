"""The training loop shared by the three baselines: budget, batches, randomness, EMA, checkpoints, resume.

Read top to bottom: `train_baseline()` checks the output directory, builds (or restores) the networks and Adam
optimisers, then repeats: pick the step's batch, run the arch's `train_step`, update the generator's moving
average, count time, show progress, checkpoint every `checkpoint_every` steps. It stops when the budget is spent:
a number of steps, or minutes of training time (checkpoint writing excluded), and checkpoints once more.

Randomness: networks are initialised from the seed (seed, 0); step s draws its noise and augmentations from the
global RNG reseeded with (seed, 1, s) inside `fork_rng` (so the arch code can call torch.randn plainly and the
caller's RNG is untouched), and its batch from `BatchOrder` (seed, 2, epoch). Everything a step draws is therefore
a function of (seed, step), and a resumed run repeats an uninterrupted one exactly on CPU.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from ..device import machine_info, resolve_device
from ..errors import CheckpointError, InputError
from ..files import prepare_checkpoint_dir, sha256_bytes
from ..rng import seeded_generator
from . import dcgan, fastgan, progan
from .checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    is_baseline_dir,
    load_into,
    optimizer_from_flat,
    read_meta,
    read_weights,
    save_checkpoint,
)
from .config import BaselineConfig
from .data import BatchOrder, PairSet

log = logging.getLogger("singan_seg")

ARCH_MODULES: dict[str, ModuleType] = {"dcgan": dcgan, "progan": progan, "fastgan": fastgan}


def _seed_of(*keys: int) -> int:
    return int(seeded_generator(*keys).initial_seed())


@contextlib.contextmanager
def seeded_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with the global RNG (CPU, and the CUDA device if used) seeded, restoring it afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def build_networks(cfg: BaselineConfig, device: torch.device) -> dict[str, nn.Module]:
    """G, D (and G_ema, a copy of G, where the arch samples from a moving average), initialised from the seed."""
    with seeded_rng(_seed_of(cfg.seed, 0), torch.device("cpu")):
        nets = ARCH_MODULES[cfg.arch].build(cfg)
    if cfg.ema > 0:
        nets["G_ema"] = copy.deepcopy(nets["G"]).eval().requires_grad_(False)
    return {name: net.to(device) for name, net in nets.items()}


def make_optimizers(nets: dict[str, nn.Module], cfg: BaselineConfig) -> dict[str, torch.optim.Optimizer]:
    betas = (cfg.beta1, cfg.beta2)
    return {"G": torch.optim.Adam(nets["G"].parameters(), lr=cfg.lr_g, betas=betas),
            "D": torch.optim.Adam(nets["D"].parameters(), lr=cfg.lr_d, betas=betas)}


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """Parameters: moving average; buffers (batch-norm statistics, spectral-norm vectors): copied."""
    for p_ema, p in zip(ema.parameters(), net.parameters()):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)


def data_digest(data: PairSet) -> str:
    """Identifies the training set (ids and resolution) so `--resume` refuses other data."""
    return sha256_bytes(("\n".join(data.ids) + f"\n{data.resolution}").encode())


# ----------------------------------------------------------------------------------------------------------
# Budget and progress
# ----------------------------------------------------------------------------------------------------------

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class Budget:
    """Steps, or minutes on a clock: "wall" (elapsed time) or "cpu" (this process's CPU time, all threads).

    The CPU clock makes a minutes budget fair on a shared or busy machine: a model gets the same compute whatever
    else runs beside it (with one thread, a CPU minute is what one quiet core does in a minute).
    """
    steps: int | None = None
    minutes: float | None = None
    clock: str = "wall"

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.minutes is None):
            raise InputError("give a training budget: either steps or minutes (not both)")
        if self.clock not in CLOCKS:
            raise InputError(f"clock should be one of {sorted(CLOCKS)}, got {self.clock!r}")
        if self.steps is not None and self.steps < 1:
            raise InputError(f"steps should be at least 1, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise InputError(f"minutes should be positive, got {self.minutes}")

    def fraction(self, step: int, seconds: float) -> float:
        """How much of the budget is spent, in [0, 1] (ProGAN's growing schedule follows it)."""
        spent = step / self.steps if self.steps is not None else seconds / (60 * self.minutes)
        return min(spent, 1.0)

    def to_dict(self) -> dict:
        return {"steps": self.steps, "minutes": self.minutes, "clock": self.clock}


class BudgetProgress:
    """A rich bar over the budget (steps or seconds) showing the step and the latest losses."""

    def __init__(self, budget: Budget, arch: str, enabled: bool):
        self.budget, self.arch = budget, arch
        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[losses]}"),
                             TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()) if enabled else None

    def __enter__(self) -> BudgetProgress:
        if self._bar is not None:
            self._bar.__enter__()
            total = self.budget.steps if self.budget.steps is not None else 60 * self.budget.minutes
            self._task = self._bar.add_task(self.arch, total=total, losses="")
        return self

    def update(self, step: int, seconds: float, losses: dict[str, float]) -> None:
        if self._bar is None:
            return
        done = step if self.budget.steps is not None else seconds
        text = "  ".join(f"{k} {v:.3f}" for k, v in losses.items() if k not in ("level", "alpha"))
        self._bar.update(self._task, completed=done, description=f"{self.arch} step {step}", losses=text)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


# ----------------------------------------------------------------------------------------------------------
# Output directory and resume
# ----------------------------------------------------------------------------------------------------------

def _check_out_dir(out: Path, resume: bool, overwrite: bool) -> bool:
    """True when there is a checkpoint to resume; refuse to clobber anything else."""
    return prepare_checkpoint_dir(out, is_baseline_dir(out), resume, overwrite, "baseline model",
                                  (CONFIG_FILE, WEIGHTS_FILE))


def restore(out: Path, cfg: BaselineConfig, data: PairSet, nets: dict[str, nn.Module],
            opts: dict[str, torch.optim.Optimizer]) -> dict:
    """Load a checkpoint into freshly built networks and optimisers; return its training state."""
    meta = read_meta(out)
    saved = meta["config"]
    different = {k: (saved.get(k), v) for k, v in cfg.to_dict().items()
                 if k != "checkpoint_every" and saved.get(k) != v}  # checkpoint spacing may change on resume
    if different:
        listed = ", ".join(f"{k} {a!r} (saved) vs {b!r}" for k, (a, b) in sorted(different.items()))
        raise CheckpointError(f"cannot resume: the model was trained with other settings: {listed}", out)
    if meta["training"]["data_sha256"] != data_digest(data):
        raise CheckpointError("cannot resume: the training pairs (ids or resolution) differ from the checkpoint's", out)
    tensors = read_weights(out, meta)
    path = out / WEIGHTS_FILE
    for name, net in nets.items():
        load_into(net, tensors, name, path)
    for name, opt in opts.items():
        try:
            opt.load_state_dict(optimizer_from_flat(f"opt.{name}", tensors, meta["optimizer_groups"][name]))
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"optimiser state of {name} does not fit ({exc})", path) from None
    return meta["training"]


# ----------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    config: BaselineConfig
    nets: dict[str, nn.Module]
    step: int
    seconds: float
    progress: float  # fraction of the budget spent (ProGAN's schedule position)
    losses: list[dict[str, float]] = field(default_factory=list)  # per step of this call

    @property
    def generator(self) -> nn.Module:
        return self.nets.get("G_ema", self.nets["G"])


def train_baseline(data: PairSet, config: BaselineConfig, out_dir: str | Path | None = None,
                   steps: int | None = None, minutes: float | None = None, device: str | torch.device = "auto",
                   resume: bool = False, overwrite: bool = False, progress: bool = True,
                   stop_after: int | None = None, clock: str = "wall") -> TrainResult:
    """Train one 4-channel baseline GAN on a set of image/mask pairs.

    Args:
        data: the training pairs (`load_pair_set`), already at `config.resolution`.
        config: `baseline_config(arch, ...)`; the arch's published settings unless overridden.
        out_dir: model directory, checkpointed every `config.checkpoint_every` steps and at the end (None: memory).
        steps / minutes: the budget, exactly one of them; minutes count training time only.
        clock: what a minute is: "wall" (elapsed) or "cpu" (process CPU time; CPU devices only).
        device: "auto" (CUDA when present), "cpu" or "cuda".
        resume: continue the checkpoint in `out_dir` up to the (possibly larger) budget; same settings and data.
        overwrite: replace a baseline model in `out_dir`.
        progress: show a progress bar.
        stop_after: stop (checkpointed) after this step, as an interruption would; used by tests.

    Example:
        >>> data = load_pair_set("kvasir/images", "kvasir/masks", resolution=128)
        >>> result = train_baseline(data, baseline_config("fastgan"), "models/fastgan", minutes=30)
    """
    if data.resolution != config.resolution:
        raise InputError(f"the pairs are {data.resolution} px but the config asks for {config.resolution} px")
    budget = Budget(steps=steps, minutes=minutes, clock=clock)
    dev = resolve_device(device)
    if budget.clock == "cpu" and dev.type != "cpu":
        raise InputError(f"a CPU-time budget only measures CPU training; use clock 'wall' on {dev.type}")
    now = CLOCKS[budget.clock]
    arch = ARCH_MODULES[config.arch]
    out = Path(out_dir) if out_dir is not None else None
    nets = build_networks(config, dev)
    opts = make_optimizers(nets, config)
    state = {"step": 0, "seconds": 0.0, "history": []}
    if out is not None and _check_out_dir(out, resume, overwrite):
        state = restore(out, config, data, nets, opts)
        saved_clock = state["budget"].get("clock", "wall")
        if budget.minutes is not None and saved_clock != budget.clock:
            raise CheckpointError(f"cannot resume: the model's minutes were counted on the {saved_clock} clock, "
                                  f"not {budget.clock}", out)
        log.info("resuming %s at step %d (%.1f min trained)", out, state["step"], state["seconds"] / 60)
    step, seconds, history = state["step"], state["seconds"], list(state["history"])
    for net in nets.values():
        net.train()
    if "G_ema" in nets:
        nets["G_ema"].eval()

    def checkpoint() -> None:
        if out is None:
            return
        training = {"step": step, "seconds": round(seconds, 3), "budget": budget.to_dict(),
                    "progress": budget.fraction(step, seconds), "complete": budget.fraction(step, seconds) >= 1.0,
                    "rng": {"scheme": "step s reseeds torch with seeded_generator(seed, 1, s); batches from "
                                      "seeded_generator(seed, 2, epoch)", "next_step": step},
                    "data_sha256": data_digest(data), "data": {"pairs": len(data), "root": str(data.root or ""),
                                                               "resolution": data.resolution},
                    "history": history, "machine": machine_info(dev)}
        save_checkpoint(out, config, nets, opts, training)

    order = BatchOrder(len(data), config.batch_size, config.seed)
    losses: list[dict[str, float]] = []
    interval: list[dict[str, float]] = []
    with BudgetProgress(budget, config.arch, progress) as bar:
        while budget.fraction(step, seconds) < 1.0 and (stop_after is None or step < stop_after):
            started = now()
            real = data.batch(order.indices(step), dev)  # (B, 4, R, R)
            with seeded_rng(_seed_of(config.seed, 1, step), dev):
                step_losses = arch.train_step(nets, opts, real, config, budget.fraction(step, seconds))
            if "G_ema" in nets:
                update_ema(nets["G_ema"], nets["G"], config.ema)
            values = {k: float(v) for k, v in step_losses.items()}
            step += 1
            seconds += now() - started
            losses.append(values)
            interval.append(values)
            bar.update(step, seconds, values)
            if step % config.checkpoint_every == 0:
                history.append({"step": step, "seconds": round(seconds, 3),
                                **{k: sum(v[k] for v in interval) / len(interval) for k in interval[0]}})
                interval = []
                checkpoint()
    if interval:
        history.append({"step": step, "seconds": round(seconds, 3),
                        **{k: sum(v[k] for v in interval) / len(interval) for k in interval[0]}})
    checkpoint()
    for net in nets.values():
        net.eval()
    return TrainResult(config, nets, step, seconds, budget.fraction(step, seconds), losses)
