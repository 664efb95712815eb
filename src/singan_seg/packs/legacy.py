"""Importer for the original SinGAN-Seg checkpoints (pickled whole modules), behind an explicit trust flag.

The original code (tamarott/SinGAN, vlbthambawita/singan-seg-polyp) saves a run as `Gs.pth` (a list of
`SinGAN.models.GeneratorConcatSkip2CleanAdd` modules), `NoiseAmp.pth`, `reals.pth` and `Zs.pth` with
`torch.save`. Loading a pickle can run arbitrary code, so the importer refuses unless the caller trusts the
files, and even then unpickles through an allow-list: tensors, OrderedDict/set, and the original module
classes, which become inert records of their state (no torch.nn or SinGAN code runs). The weights are then
mapped onto our generators, written as a normal model directory and packed like any other.

Mapping (original → ours): `head.{conv,norm}` → `body.0.{0,1}`, `body.block{i}.{conv,norm}` → `body.{i}.{0,1}`,
`tail.0` → `tail.0`. Only the image shapes are taken from `reals.pth`, never the real images.
"""

from __future__ import annotations

import pickle
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
from .export import create_pack

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


class LegacyModule:
    """An inert stand-in for a pickled module: keeps its `_modules`, `_parameters`, `_buffers`, runs nothing."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.modules = dict(state.get("_modules") or {})
        self.tensors = {**(state.get("_parameters") or {}), **(state.get("_buffers") or {})}

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        out = {prefix + k: v.detach() for k, v in self.tensors.items() if v is not None}
        for name, child in self.modules.items():
            out.update(child.state_dict(f"{prefix}{name}."))
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
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as exc:
        raise CheckpointError(f"cannot read legacy checkpoint ({exc})", path) from None


def _our_key(key: str) -> str:
    parts = key.split(".")
    layer = {"conv": "0", "norm": "1"}
    if parts[0] == "head":
        return ".".join(["body", "0", layer[parts[1]], *parts[2:]])
    if parts[0] == "body":
        return ".".join(["body", parts[1].removeprefix("block"), layer[parts[2]], *parts[3:]])
    return key  # tail.0.weight / tail.0.bias


def _legacy_model(run_dir: Path, include_reconstruction: bool):
    generators = load_legacy_file(run_dir / "Gs.pth")
    amps = [float(a) for a in load_legacy_file(run_dir / "NoiseAmp.pth")]
    shapes = [tuple(r.shape[-2:]) for r in load_legacy_file(run_dir / "reals.pth")]
    if not (isinstance(generators, list) and all(isinstance(g, LegacyModule) for g in generators)):
        raise CheckpointError("expected a list of generator modules", run_dir / "Gs.pth")
    if not len(generators) == len(amps) == len(shapes):
        raise CheckpointError(f"{len(generators)} generators, {len(amps)} noise amplitudes, {len(shapes)} scales",
                              run_dir)
    tensors, widths = {}, []
    for n, generator in enumerate(generators):
        state = generator.state_dict()
        head = state["head.conv.weight"]  # (width, channels, k, k)
        if head.shape[1] != 4:
            raise CheckpointError(f"generator {n} takes {head.shape[1]} channels; SinGAN-Seg needs 4 (RGB + mask)",
                                  run_dir / "Gs.pth")
        widths.append(head.shape[0])
        tensors.update({f"generators.{n}.{_our_key(k)}": v.float().contiguous() for k, v in state.items()})
    layers = 2 + sum(1 for k in generators[0].state_dict() if k.startswith("body.") and k.endswith("conv.weight"))
    kernel = int(generators[0].state_dict()["head.conv.weight"].shape[-1])
    config = TrainConfig(max_size=max(shapes[-1]), min_size=min(shapes[0]), base_channels=widths[0],
                         max_channels=max(widths), num_layers=layers, kernel_size=kernel, norm="batch")
    if [config.channels_at(n) for n in range(len(widths))] != widths:
        raise CheckpointError(f"generator widths {widths} do not follow SinGAN's doubling every 4 scales", run_dir)
    if include_reconstruction:
        pad = layers * (kernel - 1) // 2
        z = load_legacy_file(run_dir / "Zs.pth")[0][:, :, pad:-pad, pad:-pad]  # Zs are stored padded
        tensors["rec_noise"] = z.expand(1, 4, -1, -1).float().contiguous()
    meta = {"config": config.to_dict(), "pyramid": {"shapes": [list(s) for s in shapes]}, "noise_amps": amps,
            "trained_scales": len(shapes), "has_reconstruction_noise": include_reconstruction}
    return model_from_bytes(meta, save_safetensors(tensors), run_dir / "Gs.pth")[0]


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
    include = bool(pack_options.get("include_reconstruction"))
    with tempfile.TemporaryDirectory() as tmp:
        model_dirs = []
        for n, run_dir in enumerate(run_dirs):
            model_dir = Path(tmp) / str(n) / run_dir.resolve().name  # the name gives the default id
            save_model(model_dir, _legacy_model(run_dir, include), extra={"inputs": {}, "imported_from": "SinGAN"})
            model_dirs.append(model_dir)
        return create_pack(model_dirs, out, ids=ids, **pack_options)
