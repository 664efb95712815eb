"""singan-seg: synthetic image/mask pairs from single-image GANs (SinGAN-Seg), with evaluation.

Public API (the README's "Python API" shows each in use):
    train(image, mask, out_dir=..., preset="fast")  -> SinGANSeg
    train_many(pairs, out_dirs, batch_models=8)      -> ManyResult (K generators trained at once)
    train_prior(pairs, out_dir)                      -> Prior: a domain prior; train(..., prior=DIR) warm-starts
    load(model_dir)                                  -> SinGANSeg
    parse_classes("background,disc,cup")             -> mask classes for train(..., classes=...) (any modality)
    nifti_slices(volume, labels, out_dir)            -> 2D image/mask pairs from a NIfTI volume (windowed)
    sample(model_or_dir, num=10, seed=0)             -> Samples (uint8 images, bool masks)
    generate(model_dir, out_dir, num=10)             -> samples directory on disk
    generate_patchnn(image, mask, num=10, seed=0)    -> Samples, training-free (patch nearest neighbours)
    generate_samples(method, source, num=10, seed=0) -> Samples from any method (METHODS: singan, patchnn,
                                                        dcgan, progan, fastgan), one signature for all
    transfer_style(images, real_image, method=...)   -> styled uint8 images (masks untouched)
    style_samples_dir(samples_dir, real_image, out)  -> styled samples directory on disk
    build_dataset(images, masks, out, folds=...)     -> BuildResult (a generator and samples per real pair)
    evaluate_samples(samples_dir, real)              -> Evaluation (SIFID, FID, masks, privacy)
    create_pack(model_dirs, out)                     -> a shareable generator pack
"""

from importlib import import_module

__version__ = "0.13.0"

from .config import PRESETS, TrainConfig, config_from_spec, get_preset  # noqa: E402
from .data import (RGB_BINARY, MaskClass, Modality, Pair, load_pair, make_labelled_phantom, make_phantom,  # noqa: E402
                   nifti_slices, pair_from_arrays, parse_classes)
from .engines import PatchNNConfig, generate_patchnn  # noqa: E402
from .errors import CheckpointError, InputError, OutputExistsError, SinganSegError  # noqa: E402
from .model import SinGANSeg, compute_pyramid  # noqa: E402
from .sampling import Samples, generate, sample, write_samples  # noqa: E402
from .style import style_samples_dir, transfer_style  # noqa: E402
from .training import ManyResult, train, train_many, train_prior  # noqa: E402


def use_free_cores() -> int:
    """Give torch the cores other processes leave free (what every command does at start); returns the count."""
    from .threads import apply_thread_policy

    return apply_thread_policy()


def load(model_dir, device: str = "auto") -> SinGANSeg:
    """Load a trained model directory (checksums verified, nothing unpickled)."""
    from .device import resolve_device
    from .model import load_model

    return load_model(model_dir, resolve_device(device))[0]


# Loaded on first use: evaluation and packs pull in heavier libraries (scipy, scikit-image, archives).
_LAZY = {"METHODS": "methods", "generate_samples": "methods",
         "build_dataset": "pipeline", "BuildResult": "pipeline", "DatasetSettings": "pipeline",
         "evaluate_samples": "evaluate", "Evaluation": "evaluate", "write_report": "evaluate",
         "create_pack": "packs", "generate_from_pack": "packs", "load_pack_model": "packs"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "PRESETS", "TrainConfig", "config_from_spec", "get_preset", "Modality", "MaskClass",
           "RGB_BINARY", "parse_classes", "make_labelled_phantom", "nifti_slices", "Pair", "load_pair",
           "make_phantom", "pair_from_arrays", "CheckpointError", "InputError", "OutputExistsError", "SinganSegError",
           "SinGANSeg", "compute_pyramid", "Samples", "generate", "sample", "write_samples", "style_samples_dir",
           "transfer_style", "train", "train_many", "train_prior", "ManyResult", "load", "use_free_cores",
           "PatchNNConfig", "generate_patchnn",
           *sorted(_LAZY)]
