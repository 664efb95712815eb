"""Training one UNet++: config and protocols, then the loop (train -> validate -> checkpoint -> log).

Checkpoints (OUT = one fold's run directory), written every epoch:

    OUT/last-EEEE.safetensors   model + Adam state after epoch EEEE (for resuming)
    OUT/best-EEEE.safetensors   model weights of the best validation IoU so far
    OUT/checkpoint.json         config, per-epoch history, best metrics, file names and their sha256 (written
                                last: the commit point; older files are deleted after it)

Every random draw is derived from (seed, epoch, ...): model init from (seed), batch order from (seed, epoch),
augmentation from (seed, epoch, index). A run resumed after epoch k therefore equals an uninterrupted one
(bit for bit on CPU). Nothing is pickled: tensors go to safetensors, the rest to JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from ..device import machine_info, resolve_device
from ..errors import CheckpointError, InputError
from ..files import atomic_path, sha256_file, write_json_atomic
from ..rng import seeded_generator
from ..version_info import code_version
from .data import Arrays, SegDataset
from .metrics import MetricTotals
from .model import build_segmenter

FORMAT = "singan-seg-segmenter"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SegConfig:
    protocol: str = "quick"
    encoder: str = "efficientnet-lite0"
    encoder_depth: int = 5
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    encoder_weights: str | None = "default"  # "default", None (random init) or a file
    size: int = 128  # images and masks are resized to size x size
    epochs: int = 300
    lr: float = 1e-4
    lr_drop_epoch: int = 50  # from this epoch (0-based) on, lr_after
    lr_after: float = 1e-5
    batch_size: int = 8
    augment: bool = True
    seed: int = 0
    workers: int = 0  # DataLoader worker processes
    # An epoch draws exactly this many pairs, so runs on 10 or 1000 pairs take the same optimiser steps: a smaller
    # set is repeated (each repeat newly augmented), a larger one subsampled anew each epoch. 0: one pass (paper).
    epoch_pairs: int = 0
    # What the data holds (set from it by the benchmark, not a protocol's choice): image channels, and the mask's
    # class names (background first; None: binary, one sigmoid channel).
    channels: int = 3
    classes: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form; `channels`, `classes` and `epoch_pairs` only where they differ from RGB + binary + one
        pass, so the checkpoints and results of such runs (and their resume checks) read as they always did."""
        d = dataclasses.asdict(self)
        d["decoder_channels"] = list(self.decoder_channels)
        if self.channels == 3:
            del d["channels"]
        if self.epoch_pairs == 0:
            del d["epoch_pairs"]
        if self.classes is None:
            del d["classes"]
        else:
            d["classes"] = list(self.classes)
        return d

    @property
    def num_outputs(self) -> int:
        """Logit channels: 1 (binary, sigmoid) or K (softmax over the classes)."""
        return 1 if self.classes is None else len(self.classes)

    def lr_at(self, epoch: int) -> float:
        return self.lr if epoch < self.lr_drop_epoch else self.lr_after


# The paper: UNet++ / se_resnext50_32x4d, 128 px, Adam 1e-4 for 50 epochs then 1e-5, 300 epochs (100 for the
# small-data study). quick: the same loop sized for 2 CPU cores: a 1.4x cheaper decoder, a light pretrained
# encoder, 20 epochs (68 CPU s per REAL epoch measured on one thread; benchmarks/results/segment_speed.json) and a
# higher start lr for the short run, dropped 10x at 3/4 of it (not tuned).
PROTOCOLS: dict[str, SegConfig] = {
    "paper": SegConfig(protocol="paper", encoder="se_resnext50_32x4d", encoder_weights=None, epochs=300,
                       lr_drop_epoch=50),
    "quick": SegConfig(protocol="quick", encoder="efficientnet-lite0", decoder_channels=(128, 64, 32, 16, 8),
                       epochs=20, lr=3e-4, lr_drop_epoch=15, lr_after=3e-5),
}


def protocol_config(name: str, small_data: bool = False, epochs: int | None = None, **overrides) -> SegConfig:
    """The named protocol's config; `epochs` keeps the lr drop at the same fraction of the run."""
    if name not in PROTOCOLS:
        raise InputError(f"unknown protocol {name!r}; choose one of {sorted(PROTOCOLS)}")
    cfg = PROTOCOLS[name]
    if small_data and name == "paper":
        cfg = dataclasses.replace(cfg, epochs=100)
    if epochs is not None:
        if epochs < 1:
            raise InputError(f"epochs should be at least 1, got {epochs}")
        drop = max(1, round(cfg.lr_drop_epoch * epochs / cfg.epochs)) if epochs > 1 else 1
        cfg = dataclasses.replace(cfg, epochs=epochs, lr_drop_epoch=drop)
    return dataclasses.replace(cfg, **overrides)


@dataclass
class TrainResult:
    best: dict[str, float]  # validation metrics of the best epoch (by IoU)
    best_epoch: int
    history: list[dict[str, float]]
    weights_note: str  # where the encoder weights came from
    seconds: float
    out_dir: Path | None
    code: list[dict] = field(default_factory=list)  # version/commit of the code that trained it (version_info)


# ---- checkpoints -----------------------------------------------------------------------------------------

def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Adam's state as flat tensors ("optim.<param>.<name>") and its param groups as JSON-able dicts."""
    state = optimizer.state_dict()
    tensors = {f"optim.{i}.{name}": value.detach().cpu().contiguous()
               for i, entry in state["state"].items() for name, value in entry.items()}
    return tensors, state["param_groups"]


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> str:
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
    return sha256_file(path)


def _read_tensors(out: Path, entry: dict[str, str]) -> dict[str, torch.Tensor]:
    path = out / entry["file"]
    if not path.is_file():
        raise CheckpointError(f"{entry['file']} is missing; delete the run directory to start over", out)
    if sha256_file(path) != entry["sha256"]:
        raise CheckpointError("does not match its sha256 in checkpoint.json (corrupt or tampered)", path)
    return load_file(str(path))


def read_checkpoint(out_dir: str | Path) -> dict[str, Any] | None:
    """checkpoint.json of a run directory, or None when there is none."""
    path = Path(out_dir) / "checkpoint.json"
    if not path.is_file():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT or meta.get("format_version", 99) > FORMAT_VERSION:
        raise CheckpointError(f"not a {FORMAT} checkpoint of version <= {FORMAT_VERSION}", path)
    return meta


def load_best(out_dir: str | Path, device: str = "cpu"):
    """The best model of a finished or interrupted run, rebuilt from checkpoint.json alone."""
    out = Path(out_dir)
    meta = read_checkpoint(out)
    if meta is None or meta.get("best_file") is None:
        raise CheckpointError("no checkpoint with a best model", out)
    cfg = meta["config"]
    classes = cfg.get("classes")
    model, _ = build_segmenter(cfg["encoder"], cfg["encoder_depth"], tuple(cfg["decoder_channels"]), weights=None,
                               in_channels=cfg.get("channels", 3), classes=1 if classes is None else len(classes))
    model.load_state_dict(_read_tensors(out, meta["best_file"]))
    return model.to(resolve_device(device)).eval()


# ---- the loop --------------------------------------------------------------------------------------------

@torch.no_grad()
def validate(model: torch.nn.Module, data: SegDataset, device: torch.device, batch_size: int = 16,
             class_names: list[str] | None = None) -> dict:
    """Metrics of `model` on `data`; `class_names` (background first) for a multi-class mask."""
    model.eval()
    totals = MetricTotals(class_names=class_names)
    for start in range(0, len(data), batch_size):
        items = [data[i] for i in range(start, min(start + batch_size, len(data)))]
        x = torch.stack([x for x, _ in items]).to(device)  # (B, C, S, S)
        y = torch.stack([y for _, y in items]).to(device)  # (B, 1, S, S)
        totals.add(model(x), y)
    return totals.result()


def segmentation_loss(cfg: SegConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The paper's single-channel Dice loss for a binary mask; smp's multi-class Dice loss over the softmax for
    K classes (targets (B, 1, H, W) class indices).

    Adding cross-entropy did not help: on 3-class gray discs (resnet18 UNet++, 32 px, 3 seeds) Dice alone reached
    mean IoU 0.69 after 15 epochs against 0.56 with Dice + CE (the small class fell from 0.52 to 0.27), and both
    0.92 after 40."""
    import segmentation_models_pytorch as smp

    if cfg.classes is None:
        return smp.losses.DiceLoss(mode="binary", from_logits=True)
    dice = smp.losses.DiceLoss(mode="multiclass", from_logits=True)
    return lambda logits, target: dice(logits, target[:, 0])


def _check_arrays_fit(cfg: SegConfig, *sets: Arrays) -> None:
    """The config's image channels and mask kind are those of the data (the model is built from the config)."""
    for arrays in sets:
        channels, binary = arrays.images.shape[3], arrays.masks.dtype == bool
        if channels != cfg.channels or binary != (cfg.classes is None):
            raise InputError(f"the data has {channels} image channels and {'binary' if binary else 'class-index'} "
                             f"masks but the config says {cfg.channels} channels and "
                             f"{'binary masks' if cfg.classes is None else f'classes {list(cfg.classes)}'}")


def train_segmenter(train: Arrays, val: Arrays, cfg: SegConfig, out_dir: str | Path | None = None,
                    device: str = "auto", progress: bool = True, label: str = "",
                    on_epoch_end: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train a UNet++ on `train`, pick the epoch with the best IoU on `val`; resume from OUT if it has a run.

    Args:
        train, val: decoded pairs (see data.load_arrays); val is never augmented.
        cfg: the run's config; a run in OUT with another config is refused.
        out_dir: where checkpoints go (None: keep nothing, no resume).
        on_epoch_end: called with (epoch, history entry) after each epoch's checkpoint (tests interrupt here).
    """
    if len(train) == 0 or len(val) == 0:
        raise InputError(f"empty {'training' if len(train) == 0 else 'validation'} set for {label or 'this run'}")
    _check_arrays_fit(cfg, train, val)
    dev = resolve_device(device)
    out = Path(out_dir) if out_dir is not None else None
    with torch.random.fork_rng(devices=[]):  # smp initialises with the global generator
        torch.manual_seed(int(seeded_generator(cfg.seed, 0).initial_seed()))
        model, weights_note = build_segmenter(cfg.encoder, cfg.encoder_depth, cfg.decoder_channels,
                                              cfg.encoder_weights, in_channels=cfg.channels,
                                              classes=cfg.num_outputs)
    model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loss_fn = segmentation_loss(cfg)
    class_names = None if cfg.classes is None else list(cfg.classes)
    train_set = SegDataset(train, augment=cfg.augment, seed=cfg.seed, length=max(len(train), cfg.epoch_pairs))
    draws = cfg.epoch_pairs or len(train_set)
    val_set = SegDataset(val)

    history: list[dict] = []
    best: dict = {}
    best_epoch, start, seconds = -1, 0, 0.0
    files: dict[str, dict | None] = {"last_file": None, "best_file": None}
    code: list[dict] = []  # the code versions that trained this run's epochs (more than one after a resume)
    meta = read_checkpoint(out) if out is not None else None
    if meta is not None:  # resume: same config, then weights + Adam state of the last finished epoch
        if meta["config"] != cfg.to_dict():
            changed = sorted(k for k, v in cfg.to_dict().items() if meta["config"].get(k) != v)
            raise InputError(f"holds a run with another config ({', '.join(changed)} differ); use another "
                             f"--out or delete it", out)
        tensors = _read_tensors(out, meta["last_file"])
        model.load_state_dict({k[len("model."):]: v.to(dev) for k, v in tensors.items() if k.startswith("model.")})
        _load_optimizer(optimizer, tensors, meta["param_groups"])
        history, best, best_epoch = meta["history"], meta["best"], meta["best_epoch"]
        start, seconds, files = meta["epochs_done"], meta["seconds"], {k: meta[k] for k in files}
        weights_note = meta["weights_note"]
        code = meta.get("code", [])  # absent before 0.13

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(f"[bold]{label or 'segmenter'}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeRemainingColumn(), disable=not progress) as bar:
        task = bar.add_task("epochs", total=cfg.epochs, completed=start, status="")
        for epoch in range(start, cfg.epochs):
            started = time.perf_counter()
            # set the learning rate
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr_at(epoch)
            # train one epoch: a seeded order, seeded augmentation
            model.train()
            train_set.set_epoch(epoch)
            order = torch.randperm(len(train_set), generator=seeded_generator(cfg.seed, epoch, 1))[:draws].tolist()
            loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, sampler=order,
                                                 num_workers=cfg.workers, drop_last=len(order) > cfg.batch_size
                                                 and len(order) % cfg.batch_size == 1)  # no BatchNorm on 1 image
            losses = []
            for x, y in loader:  # (B, C, S, S), (B, 1, S, S)
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                loss = loss_fn(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
            train_loss = float(torch.stack(losses).mean())
            # validate on the held-out real fold, keep the best by IoU
            metrics = validate(model, val_set, dev, class_names=class_names)
            seconds += time.perf_counter() - started
            entry = {"epoch": epoch, "lr": cfg.lr_at(epoch), "train_loss": train_loss,
                     "seconds": round(time.perf_counter() - started, 2), **metrics}
            history.append(entry)
            if code_version() not in code:
                code = [*code, code_version()]
            if out is not None:
                old = [files["last_file"]] + ([files["best_file"]] if metrics["iou"] > best.get("iou", -1) else [])
            if metrics["iou"] > best.get("iou", -1):
                best, best_epoch = metrics, epoch
                if out is not None:
                    name = f"best-{epoch:04d}.safetensors"
                    files["best_file"] = {"file": name, "sha256": _save_tensors(out / name, model.state_dict())}
            # checkpoint: tensors first, checkpoint.json last (the commit point), then drop superseded files
            if out is not None:
                tensors, groups = _optimizer_tensors(optimizer)
                tensors.update({f"model.{k}": v for k, v in model.state_dict().items()})
                name = f"last-{epoch:04d}.safetensors"
                files["last_file"] = {"file": name, "sha256": _save_tensors(out / name, tensors)}
                write_json_atomic(out / "checkpoint.json", {
                    "format": FORMAT, "format_version": FORMAT_VERSION, "package_version": __version__,
                    "config": cfg.to_dict(), "weights_note": weights_note, "epochs_done": epoch + 1,
                    "complete": epoch + 1 == cfg.epochs, "history": history, "best": best, "best_epoch": best_epoch,
                    "seconds": seconds, "param_groups": groups, "machine": machine_info(dev), "code": code, **files})
                for entry_old in old:
                    if entry_old is not None and entry_old["file"] not in {f["file"] for f in files.values() if f}:
                        (out / entry_old["file"]).unlink(missing_ok=True)
            # log
            bar.update(task, advance=1, status=f"epoch {epoch + 1}/{cfg.epochs}  loss {train_loss:.4f}  "
                                               f"val IoU {metrics['iou']:.4f}  best {best['iou']:.4f} "
                                               f"(epoch {best_epoch + 1})")
            if on_epoch_end is not None:
                on_epoch_end(epoch, entry)
    if not math.isfinite(history[-1]["train_loss"]):
        raise InputError(f"training diverged (loss {history[-1]['train_loss']}) in {label or 'this run'}")
    return TrainResult(best=best, best_epoch=best_epoch, history=history, weights_note=weights_note,
                       seconds=seconds, out_dir=out, code=code)
