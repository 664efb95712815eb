"""Importer for the original SinGAN-Seg checkpoints (pickled whole modules), behind an explicit trust flag.

The original code (tamarott/SinGAN, vlbthambawita/singan-seg-polyp) saves a run as `Gs.pth` (a list of
`SinGAN.models.GeneratorConcatSkip2CleanAdd` modules), `NoiseAmp.pth`, `reals.pth` and `Zs.pth` with
`torch.save`. Loading a pickle can run arbitrary code, so the importer refuses unless the caller trusts the
files, and even then unpickles through an allow-list: tensors, OrderedDict/set, and the original module
classes, which become inert records of their state (no torch.nn or SinGAN code runs). The weights are then
mapped onto our generators, written as a normal model directory and packed like any other.

Mapping (original → ours): `head.{conv,norm}` → `body.0.{0,1}`, `body.block{i}.{conv,norm}` → `body.{i}.{0,1}`,
`tail.0` → `tail.0`. Only the image shapes are taken from `reals.pth`, never the real images.

Allow-listed content can still be malformed (a list of the wrong things, a missing or extra layer, a module
nested in itself, shapes that do not fit): every file is checked for what the mapping needs, and any problem is
one CheckpointError naming the file, never a traceback.
"""

from __future__ import annotations

import math
import pickle
import re
import tempfile
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch._utils
from safetensors.torch import save as save_safetensors

from ..config import TrainConfig
from ..errors import CheckpointError, InputError
from ..model.checkpoint import model_from_bytes, save_model
from .export import check_pack_output, create_pack

_ALLOWED = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,  # protocol 2 pickles use the Python 2 name
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
}
_MODULE_CLASSES = {
    ("SinGAN.models", "GeneratorConcatSkip2CleanAdd"), ("SinGAN.models", "ConvBlock"),
    ("torch.nn.modules.conv", "Conv2d"), ("torch.nn.modules.batchnorm", "BatchNorm2d"),
    ("torch.nn.modules.activation", "LeakyReLU"), ("torch.nn.modules.activation", "Tanh"),
    ("torch.nn.modules.container", "Sequential"),
}
FILES = ("Gs.pth", "NoiseAmp.pth", "reals.pth")


MAX_DEPTH = 8  # SinGAN's generators nest 3 deep; anything deeper (or a cycle) is not one


class LegacyModule:
    """An inert stand-in for a pickled module: keeps its `_modules`, `_parameters`, `_buffers`, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise CheckpointError(f"a pickled module's state is {type(state).__name__}, not a dict")
        modules, params, buffers = (state.get(k) or {} for k in ("_modules", "_parameters", "_buffers"))
        if not all(isinstance(d, dict) for d in (modules, params, buffers)):
            raise CheckpointError("a pickled module's _modules, _parameters or _buffers is not a dict")
        self.modules = dict(modules)
        self.tensors = {**params, **buffers}

    def state_dict(self, prefix: str = "", depth: int = 0) -> dict[str, torch.Tensor]:
        """Every tensor of this module and its children by dotted name; CheckpointError for anything else."""
        if depth > MAX_DEPTH:
            raise CheckpointError(f"modules nested deeper than {MAX_DEPTH} (or in a cycle) at {prefix!r}")
        out = {}
        for k, v in self.tensors.items():
            if v is None:
                continue
            if not isinstance(v, torch.Tensor):
                raise CheckpointError(f"{prefix}{k} is of type {type(v).__name__}, not a tensor")
            out[f"{prefix}{k}"] = v.detach()
        for name, child in self.modules.items():
            if child is None:
                continue
            if not isinstance(child, LegacyModule):
                raise CheckpointError(f"submodule {prefix}{name} is of type {type(child).__name__}, not a module")
            out.update(child.state_dict(f"{prefix}{name}.", depth + 1))
        return out


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if (module, name) in _MODULE_CLASSES:
            return LegacyModule
        raise CheckpointError(f"refusing to unpickle {module}.{name}: not a SinGAN module or tensor type")


_RESTRICTED_PICKLE = types.SimpleNamespace(__name__="singan_seg_restricted_pickle", Unpickler=_RestrictedUnpickler,
                                           load=lambda f, **kw: _RestrictedUnpickler(f, **kw).load())


def load_legacy_file(path: Path) -> Any:
    """torch.load through the allow-listing unpickler, tensors mapped to the CPU."""
    if not path.is_file():
        raise InputError("file not found (a SinGAN run folder has Gs.pth, NoiseAmp.pth, reals.pth, Zs.pth)", path)
    try:
        return torch.load(path, map_location="cpu", pickle_module=_RESTRICTED_PICKLE, weights_only=False)
    except CheckpointError as exc:
        raise CheckpointError(str(exc), path) from None
    except MemoryError:
        raise CheckpointError("cannot read legacy checkpoint (it asks for more memory than there is)", path) from None
    except Exception as exc:  # any failure to unpickle untrusted bytes means a malformed file
        raise CheckpointError(f"cannot read legacy checkpoint ({_one_line(exc)})", path) from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _tensor_list(value: Any, path: Path, what: str, min_dims: int) -> list[torch.Tensor]:
    """`value` as a non-empty list of tensors with at least `min_dims` dimensions and no empty one."""
    if not isinstance(value, (list, tuple)) or not value:
        raise CheckpointError(f"expected a non-empty list of {what}, found {type(value).__name__}", path)
    for n, item in enumerate(value):
        if not isinstance(item, torch.Tensor) or item.dim() < min_dims or 0 in item.shape:
            shape = tuple(item.shape) if isinstance(item, torch.Tensor) else type(item).__name__
            raise CheckpointError(f"item {n} should be a tensor with at least {min_dims} non-empty dimensions "
                                  f"({what}), found {shape}", path)
    return list(value)


def _noise_amps(value: Any, path: Path) -> list[float]:
    """NoiseAmp.pth: one finite number (or one-element tensor) per scale."""
    if not isinstance(value, (list, tuple)) or not value:
        raise CheckpointError(f"expected a non-empty list of noise amplitudes, found {type(value).__name__}", path)
    amps = []
    for n, item in enumerate(value):
        number = item.item() if isinstance(item, torch.Tensor) and item.numel() == 1 else item
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                or number < 0:
            raise CheckpointError(f"noise amplitude {n} should be a finite number >= 0, found "
                                  f"{_one_line(number) if isinstance(number, (int, float)) else type(item).__name__}",
                                  path)
        amps.append(float(number))
    return amps


_LEGACY_KEY = re.compile(r"^(head\.(conv|norm)|body\.block[1-9][0-9]*\.(conv|norm)|tail\.0)\.[A-Za-z_]+$")


def _our_key(key: str, path: Path) -> str:
    if not _LEGACY_KEY.match(key):
        raise CheckpointError(f"unexpected tensor {key!r}: not a SinGAN generator (head, body.blockN, tail.0)", path)
    parts = key.split(".")
    layer = {"conv": "0", "norm": "1"}
    if parts[0] == "head":
        return ".".join(["body", "0", layer[parts[1]], *parts[2:]])
    if parts[0] == "body":
        return ".".join(["body", parts[1].removeprefix("block"), layer[parts[2]], *parts[3:]])
    return key  # tail.0.weight / tail.0.bias


def _legacy_model(run_dir: Path, include_reconstruction: bool):
    gs_path = run_dir / "Gs.pth"
    generators = load_legacy_file(gs_path)
    amps = _noise_amps(load_legacy_file(run_dir / "NoiseAmp.pth"), run_dir / "NoiseAmp.pth")
    reals = _tensor_list(load_legacy_file(run_dir / "reals.pth"), run_dir / "reals.pth", "real images", 2)
    shapes = [tuple(int(x) for x in r.shape[-2:]) for r in reals]
    if not (isinstance(generators, list) and generators and all(isinstance(g, LegacyModule) for g in generators)):
        raise CheckpointError("expected a list of generator modules", gs_path)
    if not len(generators) == len(amps) == len(shapes):
        raise CheckpointError(f"{len(generators)} generators, {len(amps)} noise amplitudes, {len(shapes)} scales",
                              run_dir)
    tensors, widths, states = {}, [], []
    for n, generator in enumerate(generators):
        try:
            state = generator.state_dict()
        except CheckpointError as exc:
            raise CheckpointError(f"generator {n}: {exc}", gs_path) from None
        head = state.get("head.conv.weight")  # (width, channels, k, k)
        if head is None or head.dim() != 4 or head.shape[-1] != head.shape[-2] or head.shape[-1] % 2 != 1:
            raise CheckpointError(f"generator {n} has no 4-D head.conv.weight with an odd square kernel", gs_path)
        if head.shape[1] != 4:
            raise CheckpointError(f"generator {n} takes {head.shape[1]} channels; SinGAN-Seg needs 4 (RGB + mask)",
                                  gs_path)
        widths.append(int(head.shape[0]))
        states.append(state)
        tensors.update({f"generators.{n}.{_our_key(k, gs_path)}": v.float().contiguous() for k, v in state.items()})
    layers = 2 + sum(1 for k in states[0] if k.startswith("body.") and k.endswith("conv.weight"))
    kernel = int(states[0]["head.conv.weight"].shape[-1])
    try:
        config = TrainConfig(max_size=max(shapes[-1]), min_size=min(shapes[0]), base_channels=widths[0],
                             max_channels=max(widths), num_layers=layers, kernel_size=kernel, norm="batch")
    except InputError as exc:
        raise CheckpointError(f"not a usable SinGAN ({exc.problem})", run_dir) from None
    if [config.channels_at(n) for n in range(len(widths))] != widths:
        raise CheckpointError(f"generator widths {widths} do not follow SinGAN's doubling every 4 scales", run_dir)
    if include_reconstruction:
        zs_path = run_dir / "Zs.pth"
        pad = layers * (kernel - 1) // 2
        z = _tensor_list(load_legacy_file(zs_path), zs_path, "reconstruction noise maps", 4)[0]
        if z.dim() != 4 or z.shape[0] != 1 or z.shape[1] not in (1, 4) \
                or tuple(z.shape[-2:]) != (shapes[0][0] + 2 * pad, shapes[0][1] + 2 * pad):
            raise CheckpointError(f"the first noise map has shape {tuple(z.shape)}, expected (1, 4, "
                                  f"{shapes[0][0] + 2 * pad}, {shapes[0][1] + 2 * pad}) (the coarsest scale, "
                                  "padded)", zs_path)
        z = z[:, :, pad:z.shape[2] - pad, pad:z.shape[3] - pad]  # Zs are stored padded
        tensors["rec_noise"] = z.expand(1, 4, -1, -1).float().contiguous()
    meta = {"config": config.to_dict(), "pyramid": {"shapes": [list(s) for s in shapes]}, "noise_amps": amps,
            "trained_scales": len(shapes), "has_reconstruction_noise": include_reconstruction}
    try:
        data = save_safetensors(tensors)
        return model_from_bytes(meta, data, gs_path)[0]
    except (RuntimeError, ValueError, TypeError) as exc:  # e.g. a tensor torch cannot load into a layer
        raise CheckpointError(f"cannot map the weights onto SinGAN-Seg ({_one_line(exc)})", gs_path) from None


def import_legacy(run_dirs: list[str | Path], out: str | Path, trust_pickle: bool = False,
                  ids: list[str] | None = None, **pack_options: Any) -> Path:
    """Convert original SinGAN-Seg run folders (Gs.pth, NoiseAmp.pth, reals.pth[, Zs.pth]) into a pack.

    Args:
        run_dirs: folders written by the original `main_train.py`.
        out: the pack folder or archive to write.
        trust_pickle: must be True: the files are pickles, which can run code (they are still allow-listed).
        ids: generator ids (default: the folder names).
        pack_options: `create_pack` options (name, license, include_reconstruction, overwrite, ...).
    """
    if not trust_pickle:
        raise InputError("legacy checkpoints are pickles, and loading a pickle can run code; pass --trust-pickle "
                         "only for files from a source you trust (they are still read through an allow-list)")
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise InputError("give at least one SinGAN run folder")
    check_pack_output(out, run_dirs, bool(pack_options.get("overwrite")))  # before any (slow) conversion
    include = bool(pack_options.get("include_reconstruction"))
    with tempfile.TemporaryDirectory() as tmp:
        model_dirs = []
        for n, run_dir in enumerate(run_dirs):
            model_dir = Path(tmp) / str(n) / run_dir.resolve().name  # the name gives the default id
            save_model(model_dir, _legacy_model(run_dir, include), extra={"inputs": {}, "imported_from": "SinGAN"})
            model_dirs.append(model_dir)
        return create_pack(model_dirs, out, ids=ids, **pack_options)
