"""What a dataset build does for every pair, saved as OUT/dataset.json so a re-run can check it matches."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..config import DEFAULT_PRESET, TrainConfig, get_preset
from ..errors import InputError

STYLE_CHOICES = ("none", "1:1", "1:1000", "fast")


@dataclass(frozen=True)
class DatasetSettings:
    preset: str = DEFAULT_PRESET
    max_size: int | None = None  # overrides the preset's
    iters_per_scale: int | None = None  # overrides the preset's (for quick runs)
    per_image: int = 10  # samples per real pair (the paper: 10)
    start_scale: int = 0
    seed: int = 0
    style: str = "none"  # none, 1:1 or 1:1000 (Gatys, the paper's ratios) or fast
    style_steps: int = 1000

    def __post_init__(self) -> None:
        if self.per_image < 1:
            raise InputError(f"per_image should be at least 1, got {self.per_image}")
        if self.style not in STYLE_CHOICES:
            raise InputError(f"unknown style {self.style!r}; choose one of {list(STYLE_CHOICES)}")
        if self.start_scale < 0:
            raise InputError(f"start_scale should be >= 0, got {self.start_scale}")
        self.train_config()  # validates the preset and overrides now, not in a worker an hour later

    def train_config(self) -> TrainConfig:
        return get_preset(self.preset, max_size=self.max_size, iters_per_scale=self.iters_per_scale, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, saved: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        return {k: (saved.get(k), v) for k, v in self.to_dict().items() if saved.get(k) != v}
