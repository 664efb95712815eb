"""Training configuration and named presets.

A `TrainConfig` holds every hyper-parameter of one SinGAN-Seg training run. It is saved in full inside
each model directory (`config.json`), so a model can always be traced back to how it was made.

Presets:
- ``paper``: the SinGAN / SinGAN-Seg recipe as published (Shaham et al. 2019; Thambawita et al. 2022).
- ``fast``:  the default; the same architecture made cheap enough for a laptop-class CPU (docs/performance.md
             says what changes and what it costs in quality).
- ``quality``: ``fast`` with many more iterations at the fine scales: slower, and better SIFID than ``paper``.
- ``demo``:  ``fast`` at 128 px, for the demo on the built-in phantom.
- ``tiny``:  a few seconds on a CPU; for tests and smoke runs only.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any

from .errors import InputError


def settings_from_dict(cls: type, values: dict[str, Any], what: str) -> Any:
    """A settings dataclass from its saved dict, refusing names it does not know (a typo, or a newer file)."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown {what} settings {unknown}; known: {sorted(known)}")
    return cls(**values)


@dataclass(frozen=True)
class TrainConfig:
    # --- image pyramid (computed the way SinGAN does: see model/pyramid.py) ---
    max_size: int = 250  # longest side of the finest scale, px
    min_size: int = 25  # shortest side of the coarsest scale, px
    scale_factor: float = 0.75  # nominal ratio between neighbouring scales (adjusted to fit min_size)

    # --- networks (one generator and one discriminator per scale) ---
    num_layers: int = 5  # conv blocks per network, head and tail included
    kernel_size: int = 3
    base_channels: int = 32  # filters at the coarsest scale
    max_channels: int = 128  # cap on filters
    channels_double_every: int = 4  # filters double every this many scales
    norm: str = "batch"  # "batch" (SinGAN) or "instance" (same training, per-image statistics when sampling)
    critic_norm: str = "same"  # the critic's norm: "same" as `norm` (SinGAN), or "none" (ConSinGAN, WGAN-GP)
    init_from_previous: bool = True  # a new scale starts from the previous scale's weights when shapes allow

    # --- optimisation (WGAN-GP + reconstruction) ---
    iters_per_scale: int = 2000
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    finest_iters_fraction: float = 1.0  # iterations taper to this fraction at the finest scale (1 = SinGAN)
    # How they taper: "geometric" (the same ratio from scale to scale, reaching finest_iters_fraction at the
    # finest), or "ratio": x iters_ratio from each scale to the next whatever the pyramid's depth, so a smaller
    # image trains its scales as a larger one trains its coarser ones of about the same size; never under
    # finest_iters_fraction x iters_per_scale (a deeper pyramid's extra fine scales get that floor)
    iters_taper: str = "geometric"
    iters_ratio: float = 1.0
    lr_decay_fraction: float = 0.8  # lr x gamma after this fraction of a scale's iterations (1600 of 2000)
    lr_decay_gamma: float = 0.1
    d_steps: int = 3  # discriminator updates per iteration
    g_steps: int = 3  # generator updates per iteration
    rec_weight: float = 10.0  # alpha: weight of the reconstruction loss
    gp_weight: float = 0.1  # lambda: weight of the WGAN gradient penalty
    gp_every: int = 1  # lazy penalty: on every k-th critic update only, weighted k x (1 = SinGAN)
    noise_amp_init: float = 0.1  # noise amplitude at scale n = this x RMSE of the reconstruction at n-1
    noise_amp_finest: float | None = None  # the same factor at the finest scale only (None: noise_amp_init)

    # --- warm start from a domain prior (training/warm.py; used only when train() is given a prior) ---
    warm_iters_fraction: float = 0.2  # a warm-started run trains this fraction of each scale's iterations (iters_at)
    warm_coarsest: bool = False  # the coarsest scale starts from the prior too (False: from SinGAN's initialisation)
    warm_cold_full: bool = False  # a warm-started run's cold scales (the coarsest unless warm_coarsest) train all
    # their iterations, not warm_iters_fraction of them: the coarsest scale is cheap (~12 % of fast at 128 px)

    # --- speed-ups (off in the paper preset) ---
    bf16: bool = False  # bfloat16 autocast for convolutions
    channels_last: bool = False  # NHWC activations: faster with bf16 on CPUs, slower for paper's fp32 penalty

    # --- sampling default, saved with the model (the --variation of generate / build-dataset when not given) ---
    sample_variation: float = 1.0  # 1 = SinGAN's sampler; lower keeps layouts nearer the real one (see sampling.py)

    seed: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # types first: a wrong type is named, not a TypeError further down
            object.__setattr__(self, f.name, check_setting_type(f.name, getattr(self, f.name), f.type))
        positive_ints = ("max_size", "min_size", "num_layers", "kernel_size", "base_channels", "max_channels",
                         "channels_double_every", "iters_per_scale", "d_steps", "g_steps", "gp_every")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name} should be a positive integer, got {value!r}")
        if not 0.0 < self.scale_factor < 1.0:
            raise InputError(f"scale_factor should be in (0, 1), got {self.scale_factor!r}")
        if self.min_size > self.max_size:
            raise InputError(f"min_size ({self.min_size}) should not exceed max_size ({self.max_size})")
        if self.kernel_size % 2 != 1:
            raise InputError(f"kernel_size should be odd, got {self.kernel_size!r}")
        if not 0.0 < self.finest_iters_fraction <= 1.0:
            raise InputError(f"finest_iters_fraction should be in (0, 1], got {self.finest_iters_fraction!r}")
        if not 0.0 < self.warm_iters_fraction <= 1.0:
            raise InputError(f"warm_iters_fraction should be in (0, 1], got {self.warm_iters_fraction!r}")
        if not 0.0 <= self.lr_decay_fraction <= 1.0:
            raise InputError(f"lr_decay_fraction should be in [0, 1], got {self.lr_decay_fraction!r}")
        for name in ("lr_g", "lr_d", "rec_weight", "noise_amp_init"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} should be positive, got {getattr(self, name)!r}")
        if self.noise_amp_finest is not None and not self.noise_amp_finest > 0:
            raise InputError(f"noise_amp_finest should be positive or null, got {self.noise_amp_finest!r}")
        if self.iters_taper not in ("geometric", "ratio"):
            raise InputError(f"iters_taper should be 'geometric' or 'ratio', got {self.iters_taper!r}")
        if not 0.0 < self.iters_ratio <= 1.0:
            raise InputError(f"iters_ratio should be in (0, 1], got {self.iters_ratio!r}")
        if self.norm not in ("batch", "instance"):
            raise InputError(f"norm should be 'batch' or 'instance', got {self.norm!r}")
        if self.critic_norm not in ("same", "none"):
            raise InputError(f"critic_norm should be 'same' or 'none', got {self.critic_norm!r}")
        if not 0.0 <= self.sample_variation <= 1.0:
            raise InputError(f"sample_variation should be in [0, 1], got {self.sample_variation!r}")
        if self.seed < 0:
            raise InputError(f"seed should be >= 0, got {self.seed!r}")

    def iters_at(self, scale: int, num_scales: int) -> int:
        """Iterations for pyramid level `scale`: iters_per_scale at the coarsest, tapering geometrically to
        finest_iters_fraction x iters_per_scale at the finest, or by iters_ratio per scale down to that floor
        ("ratio": the same counts at every depth of pyramid). The coarse and middle scales
        learn the layout and the mask shape and are cheap; the fine scales add texture and cost the most
        (docs/performance.md)."""
        position = scale / max(num_scales - 1, 1)
        if self.iters_taper == "ratio":
            factor = max(self.iters_ratio ** scale, self.finest_iters_fraction)
        else:
            factor = self.finest_iters_fraction ** position
        return max(1, round(self.iters_per_scale * factor))

    def warm_iters_at(self, scale: int, num_scales: int) -> int:
        """Iterations of a scale of a run warm-started from a domain prior: warm_iters_fraction x `iters_at`, or
        all of them for the coarsest scale where it starts cold (not `warm_coarsest`) and `warm_cold_full`."""
        if scale == 0 and self.warm_cold_full and not self.warm_coarsest:
            return self.iters_at(scale, num_scales)
        return max(1, round(self.iters_at(scale, num_scales) * self.warm_iters_fraction))

    def noise_amp_factor(self, scale: int, num_scales: int) -> float:
        """Scale `scale`'s noise amplitude as a multiple of the RMSE of the reconstruction below it (scale >= 1).
        The finest scale may take its own factor: its noise is what the samples keep as fine grain
        (docs/performance.md)."""
        if scale == num_scales - 1 and self.noise_amp_finest is not None:
            return self.noise_amp_finest
        return self.noise_amp_init

    def penalty_weight(self, critic_step: int) -> float:
        """Gradient-penalty weight at critic update `critic_step` (counted over the scale): lazy regularisation
        (StyleGAN2) applies the penalty on every `gp_every`-th update at `gp_every` x the weight, because the
        penalty's double backward costs ~3 critic updates (benchmarks/step_cost.py)."""
        return self.gp_weight * self.gp_every if critic_step % self.gp_every == 0 else 0.0

    def lr_decay_iter(self, iters: int) -> int:
        """Iteration (within a scale of `iters` iterations) at which the learning rates drop by `lr_decay_gamma`."""
        return int(round(self.lr_decay_fraction * iters))

    def channels_at(self, scale: int) -> int:
        """Filters of the networks at pyramid level `scale` (0 = coarsest): 32, doubling every 4 scales, cap 128."""
        return min(self.base_channels * 2 ** (scale // self.channels_double_every), self.max_channels)

    @property
    def critic_norm_layer(self) -> str:
        """The norm the critic is built with ("none": no norm layers)."""
        return self.norm if self.critic_norm == "same" else self.critic_norm

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def training_dict(self) -> dict[str, Any]:
        """The settings that change the trained weights (not SAMPLING_SETTINGS): what a resumed run must share."""
        return {k: v for k, v in self.to_dict().items() if k not in SAMPLING_SETTINGS}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from its saved dict (config.json); settings of older versions are read as explained at
        RETIRED_SETTINGS."""
        return settings_from_dict(cls, _without_retired(values), "training")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some values changed; `None` values are ignored (handy for optional CLI flags: to set an
        optional setting such as noise_amp_finest to None, use `dataclasses.replace` or `--set KEY=null`)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


# What each annotation of TrainConfig accepts (checked in __post_init__, so the Python API is as safe as --set).
_TYPE_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "float | None": "a number or null"}


def check_setting_type(name: str, value: Any, annotation: str) -> Any:
    """`value` as setting `name` of type `annotation` ("int", "float", "bool", "str", "float | None") takes it:
    ints stay ints (a bool is not one), a float setting takes an int (as a float), None only where the type
    allows it, and numbers must be finite. A wrong type raises a one-line InputError naming the setting."""
    optional = annotation.endswith("| None")
    base = annotation.removesuffix("| None").strip()
    if value is None and optional:
        return None
    ok = False
    if value is None or isinstance(value, bool):
        ok = value is not None and base == "bool"
    elif base == "int":
        ok = isinstance(value, numbers.Integral)
        value = int(value) if ok else value
    elif base == "float":
        ok = isinstance(value, numbers.Real) and math.isfinite(value)
        value = float(value) if ok else value
    elif base == "str":
        ok = isinstance(value, str)
    if not ok:
        expected = _TYPE_NAMES.get(annotation, annotation)
        shown = "null" if value is None else json.dumps(value) if isinstance(value, bool) else repr(value)
        raise InputError(f"{name} should be {expected}, got {shown}")
    return value


SAMPLING_SETTINGS = ("sample_variation",)  # saved with the model, used only when sampling from it

# Options that were measured, rejected and removed (CHANGELOG, 0.12; benchmarks/README.md). A saved config that
# holds one at the value that made it do nothing still loads; any other value is refused with this note.
RETIRED_SETTINGS = {
    "concurrent_scales": "ConSinGAN-style concurrent training of the finest scales",
    "concurrent_lr_scale": "the learning-rate factor of concurrent training",
    "concurrent_every": "sparse updates of the concurrent scales",
}


def _without_retired(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the retired settings dropped where they were no-ops, and the removed spellings of still
    supported behaviour rewritten (the linear taper without a taper, a critic norm equal to `norm`)."""
    values = dict(values)
    concurrent = values.get("concurrent_scales", 1)
    if concurrent != 1 or values.get("concurrent_every", 1) != 1:
        raise InputError(f"this config uses concurrent_scales={concurrent}, "
                         f"concurrent_every={values.get('concurrent_every', 1)}: "
                         f"{RETIRED_SETTINGS['concurrent_scales']} was removed in 0.12 (measured, not kept); "
                         "use singan-seg 0.11 for this model")
    for name in RETIRED_SETTINGS:
        values.pop(name, None)
    if values.get("iters_taper") == "linear":
        if values.get("finest_iters_fraction", 1.0) != 1.0:
            raise InputError("this config uses iters_taper='linear' with a taper, removed in 0.12; "
                             "use singan-seg 0.11 for this model")
        values["iters_taper"] = "geometric"  # no taper: the same iterations at every scale either way
    if values.get("critic_norm") not in (None, "same", "none"):
        if values["critic_norm"] != values.get("norm", "batch"):
            raise InputError(f"this config uses critic_norm={values['critic_norm']!r}, removed in 0.12; "
                             "use singan-seg 0.11 for this model")
        values["critic_norm"] = "same"
    return values


# `fast`'s iteration schedule: FAST_COARSEST_ITERS at the coarsest scale, falling by the same ratio per scale to
# FAST_FINEST_ITERS at the finest scale of a 250-px image (FAST_REFERENCE_SCALES scales), and never below it.
FAST_COARSEST_ITERS = 1300
FAST_FINEST_ITERS = 150
FAST_REFERENCE_SCALES = 9
FAST_FINEST_FRACTION = round(FAST_FINEST_ITERS / FAST_COARSEST_ITERS, 4)  # 0.1154: rounds to 150 iterations

PRESETS: dict[str, TrainConfig] = {
    # SinGAN / SinGAN-Seg as published: 2000 iterations at every scale, 3+3 steps, BatchNorm, float32.
    "paper": TrainConfig(),
    # The default: the same generators made ~300x cheaper for CPUs (docs/performance.md has every measurement).
    # - Iterations fall from 1300 at the cheap coarse scales, which learn the layout and the mask shape, to 150
    #   at the costly finest one, by the same ratio per scale at any pyramid depth.
    # - Narrow constant networks (32 filters), 1+1 critic/generator steps, a critic without norm layers (as
    #   ConSinGAN's, whose gradient penalty costs 5x less) and the penalty on every 2nd critic step.
    # - With so few updates, the reconstruction weighs 10x more and the learning rates are 4x higher, or the
    #   fine scales never learn the real detail; the finer scales get 4x SinGAN's noise (12x at the finest), so
    #   their few updates learn to turn it into texture rather than ignore it.
    # - bf16 autocast on channels-last tensors; per-image normalisation in the generator (see README, "Presets").
    # - Samples at variation 0.65: at variation 1 its layouts vary twice as much as paper's and score a worse
    #   SIFID; at 0.65 it beats paper's SIFID at a higher diversity.
    "fast": TrainConfig(
        iters_per_scale=FAST_COARSEST_ITERS,
        iters_taper="ratio",
        iters_ratio=FAST_FINEST_FRACTION ** (1 / (FAST_REFERENCE_SCALES - 1)),
        finest_iters_fraction=FAST_FINEST_FRACTION,
        norm="instance",
        critic_norm="none",
        max_channels=32,
        d_steps=1,
        g_steps=1,
        gp_every=2,
        rec_weight=100.0,
        lr_g=2e-3,
        lr_d=2e-3,
        noise_amp_init=0.4,
        noise_amp_finest=1.2,
        bf16=True,
        channels_last=True,
        sample_variation=0.65,
    ),
    # Seconds on a CPU: for tests and smoke runs only.
    "tiny": TrainConfig(
        max_size=40,
        min_size=12,
        scale_factor=0.6,
        base_channels=8,
        max_channels=8,
        iters_per_scale=30,
        d_steps=1,
        g_steps=1,
    ),
}

# Slower than `fast` and better than `paper`: fast's recipe with 2000 iterations at the coarsest scale falling to
# 1000 at the finest, so the fine scales get the updates that turn their noise into texture; 4-6x fast's time.
# It beats paper at SinGAN's own sampler, so it keeps variation 1.
PRESETS["quality"] = PRESETS["fast"].replace(iters_per_scale=2000, iters_taper="geometric", finest_iters_fraction=0.5,
                                             sample_variation=1.0)

# The demo: the fast recipe on the small phantom at 128 px; 1-4 minutes on 2 CPU cores, by host.
PRESETS["demo"] = PRESETS["fast"].replace(max_size=128)

DEFAULT_PRESET = "fast"


def get_preset(name: str, changes: Sequence[str] = (), **overrides: Any) -> TrainConfig:
    """The named preset with `overrides` (None values ignored), then `changes` applied: "KEY=VALUE" texts as
    given to `--set` (values are JSON, else strings, each checked against its setting's type; `KEY=null` sets an
    optional setting to None; misspelt names are refused)."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"unknown preset {name!r}{hint}; choose one of {sorted(PRESETS)}")
    # not .replace(): `--set noise_amp_finest=null` must really set None
    return dataclasses.replace(PRESETS[name].replace(**overrides), **_parse_changes(changes))


def config_from_spec(spec: str, **overrides: Any) -> TrainConfig:
    """`get_preset` from one text, ``"fast:gp_every=4,d_steps=1"``; the benchmarks name variants this way."""
    preset, _, changes = spec.partition(":")
    return get_preset(preset, changes.split(","), **overrides)


def _parse_changes(changes: Sequence[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` texts as settings, each value checked against its setting's type: JSON values (numbers,
    true/false, null), or the text itself for a string setting; one line naming the setting, value and type."""
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    values: dict[str, Any] = {}
    unknown = []
    for item in filter(None, (part.strip() for part in changes)):
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise InputError(f"bad setting {item!r}; expected KEY=VALUE")
        if key not in types:
            unknown.append(key)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if types[key] == "str" and value is not None and not isinstance(value, str):
            value = text  # norm=1 is the text "1" (refused by the setting's own check), not the number
        if isinstance(value, float) and not math.isfinite(value):
            value = text  # NaN / Infinity: JSON extensions Python accepts; no setting takes them
        try:
            values[key] = check_setting_type(key, value, types[key])
        except InputError as exc:
            raise InputError(f"--set {key}={text}: {exc.problem}") from None
    if unknown:
        raise InputError(f"unknown training settings {sorted(set(unknown))}")
    return values
