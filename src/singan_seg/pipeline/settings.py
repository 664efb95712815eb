"""What a dataset build does for every pair, saved as OUT/dataset.json so a re-run can check it matches."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import DEFAULT_PRESET, TrainConfig, get_preset
from ..data.modality import parse_classes
from ..errors import InputError

if TYPE_CHECKING:
    from ..engines.patchnn import PatchNNConfig

STYLE_CHOICES = ("none", "1:1", "1:1000", "fast")
METHOD_CHOICES = ("singan", "patchnn")  # singan: train a SinGAN-Seg per pair; patchnn: training-free patches


@dataclass(frozen=True)
class DatasetSettings:
    preset: str = DEFAULT_PRESET
    max_size: int | None = None  # overrides the preset's
    iters_per_scale: int | None = None  # overrides the preset's (for quick runs)
    per_image: int = 10  # samples per real pair (the paper: 10)
    start_scale: int = 0
    variation: float | None = None  # sampling at start scale 0: 1 = SinGAN, lower = layouts nearer the real one;
    # None: the preset's sample_variation (1 with a start scale above 0), resolved when the settings are made
    seed: int = 0
    style: str = "none"  # none, 1:1 or 1:1000 (Gatys, the paper's ratios) or fast
    style_steps: int = 1000
    method: str = "singan"  # part of the fingerprint: a dataset built one way is refused when re-run the other
    train_settings: str = ""  # "KEY=VALUE,..." changes to the preset, as `train --set` (e.g. "gp_every=1")
    classes: str = ""  # the masks' classes as `--classes` gives them (data/modality.parse_classes); "": binary
    channels: int | None = None  # convert every image to 1 or 3 channels; None keeps each file's
    bit_depth: int | None = None  # convert every image to 8 or 16 bits; None keeps each file's

    def __post_init__(self) -> None:
        for name in ("per_image", "start_scale", "seed", "style_steps", "max_size", "iters_per_scale", "channels",
                     "bit_depth"):
            value = getattr(self, name)
            optional = name in ("max_size", "iters_per_scale", "channels", "bit_depth")
            if not (optional and value is None) and (not isinstance(value, int) or isinstance(value, bool)):
                raise InputError(f"{name} should be an integer, got {value!r}")
        for name in ("preset", "style", "method", "train_settings", "classes"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"{name} should be a string, got {getattr(self, name)!r}")
        if self.variation is not None and (isinstance(self.variation, bool)
                                           or not isinstance(self.variation, (int, float))):
            raise InputError(f"variation should be a number, got {self.variation!r}")
        if self.method not in METHOD_CHOICES:
            raise InputError(f"unknown method {self.method!r}; choose one of {list(METHOD_CHOICES)}")
        if self.method == "patchnn" and (self.iters_per_scale is not None or self.start_scale != 0
                                         or self.variation is not None or self.train_settings):
            raise InputError("--iters, --set, --start-scale and --variation are SinGAN settings; --method patchnn "
                             "trains nothing")
        if self.per_image < 1:
            raise InputError(f"per_image should be at least 1, got {self.per_image}")
        if self.style not in STYLE_CHOICES:
            raise InputError(f"unknown style {self.style!r}; choose one of {list(STYLE_CHOICES)}")
        if self.start_scale < 0:
            raise InputError(f"start_scale should be >= 0, got {self.start_scale}")
        if self.seed < 0:
            raise InputError(f"seed should be >= 0, got {self.seed}")
        if self.style_steps < 1:
            raise InputError(f"style_steps should be at least 1, got {self.style_steps}")
        for name in ("max_size", "iters_per_scale"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"{name} should be at least 1, got {getattr(self, name)}")
        if self.variation is not None and (not 0.0 <= self.variation <= 1.0
                                           or (self.variation < 1.0 and self.start_scale > 0)):
            raise InputError(f"variation should be in [0, 1], and 1 with a start scale above 0; got {self.variation}")
        if self.channels not in (None, 1, 3):
            raise InputError(f"channels should be 1 or 3 (or none: keep each image's), got {self.channels}")
        if self.bit_depth not in (None, 8, 16):
            raise InputError(f"bit_depth should be 8 or 16 (or none: keep each image's), got {self.bit_depth}")
        self.pair_options()  # a bad --classes spec fails here, with its one-line reason
        # validate the preset / engine settings now, not in a worker an hour later
        config = self.patchnn_config() if self.method == "patchnn" else self.train_config()
        if self.variation is None:  # the value the models will use, so dataset.json and re-runs compare it
            own = 1.0 if self.method == "patchnn" or self.start_scale > 0 else config.sample_variation
            object.__setattr__(self, "variation", own)

    def train_config(self) -> TrainConfig:
        return get_preset(self.preset, self.train_settings.split(","), max_size=self.max_size,
                          iters_per_scale=self.iters_per_scale, seed=self.seed)

    def patchnn_config(self) -> PatchNNConfig:
        from ..engines.patchnn import PatchNNConfig  # imported here: only patchnn builds need the engine

        return PatchNNConfig() if self.max_size is None else PatchNNConfig(max_size=self.max_size)

    def pair_options(self) -> dict[str, Any]:
        """How every pair's files are read: keyword arguments of `train`, `train_many` and `as_pair`."""
        classes = parse_classes(self.classes) if self.classes.strip() else None
        return {"classes": classes, "channels": self.channels, "bit_depth": self.bit_depth}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, saved: dict[str, Any], saved_train_config: dict[str, Any] | None = None
                    ) -> dict[str, tuple[Any, Any]]:
        """Settings that differ from a saved dataset's, and (where it saved one) every training setting that
        differs, so that a preset whose values changed between versions is caught too."""
        saved = {"method": "singan", "train_settings": "", "variation": 1.0, "classes": "", "channels": None,
                 "bit_depth": None, **saved}  # the defaults of settings added since
        different = {k: (saved.get(k), v) for k, v in self.to_dict().items() if saved.get(k) != v}
        if saved_train_config is not None and self.method == "singan":
            before = TrainConfig.from_dict(saved_train_config).to_dict()
            different |= {f"training {k}": (before[k], v) for k, v in self.train_config().to_dict().items()
                          if before[k] != v}
        return different
