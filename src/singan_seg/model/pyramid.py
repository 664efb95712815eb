"""Image-pyramid sizes, computed the way SinGAN does (Shaham et al. 2019, SinGAN/functions.py).

1. The image is resized so its longest side is at most `max_size` (never enlarged).
2. The number of scales follows from how many `scale_factor` steps take the *original* shortest side down
   to `min_size`, minus the steps skipped by the first resize.
3. The actual ratio between neighbouring scales is then adjusted so that the coarsest shortest side is
   exactly `min_size`; sizes are rounded up (SinGAN's imresize uses ceil).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data.pairs import Pair

_EPS = 1e-9  # keeps ceil() from rounding 12.000000001 up to 13


def _ceil(x: float) -> int:
    return int(math.ceil(x - _EPS))


@dataclass(frozen=True)
class Pyramid:
    shapes: tuple[tuple[int, int], ...]  # (H, W) per scale, coarsest first
    scale_factor: float  # actual ratio between neighbouring scales

    @property
    def num_scales(self) -> int:
        return len(self.shapes)

    @property
    def finest(self) -> tuple[int, int]:
        return self.shapes[-1]


def finest_shape(height: int, width: int, max_size: int) -> tuple[int, int]:
    """The training size: longest side <= max_size, aspect ratio kept, never enlarged."""
    scale = min(max_size / max(height, width), 1.0)
    return max(1, round(height * scale)), max(1, round(width * scale))


def compute_pyramid(height: int, width: int, max_size: int, min_size: int, scale_factor: float) -> Pyramid:
    """Pyramid shapes for an image of (height, width), coarsest first."""
    fh, fw = finest_shape(height, width, max_size)
    if min(fh, fw) < min_size:
        raise InputError(
            f"image of {width}x{height} px is {fw}x{fh} px at max_size {max_size}; its shortest side is below "
            f"the coarsest scale's min_size of {min_size} px (use a larger image, a larger --max-size or a "
            f"smaller min_size)")
    num_scales = _ceil(math.log(min_size / min(height, width)) / math.log(scale_factor)) + 1
    scale_to_stop = _ceil(math.log(min(max_size, max(height, width)) / max(height, width)) / math.log(scale_factor))
    stop_scale = max(num_scales - scale_to_stop, 0)
    if stop_scale == 0:
        return Pyramid(shapes=((fh, fw),), scale_factor=1.0)
    actual = math.pow(min_size / min(fh, fw), 1.0 / stop_scale)
    shapes = []
    for level in range(stop_scale + 1):
        factor = math.pow(actual, stop_scale - level)
        shapes.append((_ceil(fh * factor), _ceil(fw * factor)))
    shapes[-1] = (fh, fw)
    return Pyramid(shapes=tuple(shapes), scale_factor=actual)


def pyramid_for(pair: Pair, cfg: TrainConfig) -> Pyramid:
    """`compute_pyramid` for a pair and a config; an image too small for it is named in the error."""
    try:
        return compute_pyramid(pair.height, pair.width, cfg.max_size, cfg.min_size, cfg.scale_factor)
    except InputError as exc:
        if exc.path is not None or pair.image_path is None:
            raise
        raise InputError(exc.problem, pair.image_path) from None
