"""Every way the package makes image/mask pairs, behind one signature.

    METHODS[name].generate(source, num=10, seed=0, device="auto", **options) -> Samples

| name                   | source                                                  | made by                         |
|------------------------|---------------------------------------------------------|---------------------------------|
| singan                 | a SinGAN-Seg model: a model directory or a `SinGANSeg`  | `train` (one real pair)         |
| patchnn                | a real pair: (image, mask) paths or arrays, or a `Pair` | nothing: training-free          |
| dcgan, progan, fastgan | a baseline model directory                              | `baseline train` (many pairs)   |

For every method sample i depends only on (seed, i), so two calls with the same seed share their first samples.
`options` are the method's own (singan: start_scale, variation, height, width, ...; patchnn: config).
`generate_samples(method, source, ...)` looks a method up by name, with a one-line error listing the choices.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .sampling import Samples


@dataclass(frozen=True)
class Method:
    name: str
    source: str  # what `generate` samples from, in words (for errors and docs)
    per_pair: bool  # True: one source per real pair (build-dataset can use it); False: one model for a dataset
    generate: Callable[..., Samples]


def _singan(source: Any, num: int = 10, seed: int = 0, device: str = "auto", **options: Any) -> Samples:
    from .sampling import sample

    return sample(source, num=num, seed=seed, device=device, **options)


def _patchnn(source: Any, num: int = 10, seed: int = 0, device: str = "auto", **options: Any) -> Samples:
    from .data.pairs import Pair
    from .engines.patchnn import generate_patchnn

    image, mask = (source, None) if isinstance(source, Pair) else source
    return generate_patchnn(image, mask, num=num, seed=seed, device=device, **options)


def _baseline(arch: str) -> Callable[..., Samples]:
    def generate(source: Any, num: int = 10, seed: int = 0, device: str = "auto", first_index: int = 0) -> Samples:
        from .baselines import load_baseline, sample_baseline
        from .data.tensors import tensor_to_pairs

        model = load_baseline(source, device)
        if model.arch != arch:
            raise InputError(f"is a {model.arch} model, not {arch}", source)  # as generate_baseline(arch=...)
        images, masks, soft = tensor_to_pairs(sample_baseline(model, num, seed, first_index=first_index))
        return Samples(images=images, masks=masks, soft_masks=soft, seed=seed, start_scale=0, first_index=first_index)

    return generate


METHODS: dict[str, Method] = {
    "singan": Method("singan", "a SinGAN-Seg model directory", per_pair=True, generate=_singan),
    "patchnn": Method("patchnn", "a real (image, mask) pair", per_pair=True, generate=_patchnn),
    **{arch: Method(arch, f"a {arch} baseline model directory", per_pair=False, generate=_baseline(arch))
       for arch in ("dcgan", "progan", "fastgan")},
}


def get_method(name: str) -> Method:
    """The method called `name`, or a one-line error suggesting the nearest name and listing the choices."""
    if name not in METHODS:
        close = difflib.get_close_matches(name, METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"unknown method {name!r}{hint}; choose one of {list(METHODS)}")
    return METHODS[name]


def generate_samples(method: str, source: Any, num: int = 10, seed: int = 0, device: str = "auto",
                     **options: Any) -> Samples:
    """`num` pairs from `source` by the named method (see the table above).

    Example:
        >>> generate_samples("patchnn", ("polyp.jpg", "polyp_mask.jpg"), num=4, seed=1).images.shape
        (4, 210, 250, 3)
    """
    return get_method(method).generate(source, num=num, seed=seed, device=device, **options)
