"""MODEL_CARD.md for a generator pack, and the short summary `pack info` prints.

The card is generated from pack.json alone, so it always says what the pack really holds: what each
generator was trained on (size and mask coverage, never the image), its terms, training settings,
evaluation figures when the model dirs recorded any, intended use, and what was removed for privacy.
"""

from __future__ import annotations

from typing import Any

from ..data.modality import Modality

PRIVACY_DEFAULT = (
    "The fixed reconstruction noise was **removed** from every generator, as were the training critics. "
    "Without the reconstruction noise the generators cannot replay their "
    "training image, so sampling is limited to start scale 0 (higher start scales start from a reconstruction "
    "of the real image). Each generator still learned the patch statistics of one real image: do not share a "
    "pack outside the terms under which its training data may be used."
)
PRIVACY_RECONSTRUCTION = (
    "**Warning: this pack keeps the reconstruction noise.** A SinGAN rebuilds its training image exactly from "
    "this noise, so anyone with this pack can recover every real training image and mask. Share it only where "
    "the real images themselves may be shared."
)
INTENDED_USE = (
    "Generating synthetic image/mask pairs to augment or replace real training data for segmentation research, "
    "and sharing that capability between institutions without sharing patient images. Not for diagnosis, and "
    "not a substitute for validation on real data."
)


def _modality(entry: dict[str, Any]) -> Modality:
    return Modality.from_dict(entry["model"].get("modality"))


def _modalities(generators: list[dict[str, Any]]) -> list[str]:
    """One line per modality in the pack: channels, bit depth, mask classes with their label values or colours."""
    lines = []
    for modality in dict.fromkeys(_modality(e) for e in generators):
        if modality.classes is None:
            classes = "binary mask (0 background, 255 object)"
        else:
            marks = [f"{c.name} = " + (f"#{c.color[0]:02x}{c.color[1]:02x}{c.color[2]:02x}" if c.color else
                                       f"{c.value}") for c in modality.classes]
            classes = f"{modality.num_classes}-class mask ({modality.mask_kind}: {', '.join(marks)})"
        lines.append(f"- {modality.channels} image channel(s) at {modality.bit_depth} bits, {classes}; generators "
                     f"work on {modality.tensor_channels} channels")
    return lines


def _generator_row(entry: dict[str, Any]) -> str:
    model = entry["model"]
    inputs = entry.get("inputs", {})
    h, w = model["pyramid"]["shapes"][-1]
    fg = inputs.get("foreground_fraction")
    seconds = entry.get("training", {}).get("seconds")
    return (f"| {entry['id']} | {entry.get('preset', 'custom')} | {_modality(entry).describe()} | {w}x{h} | "
            f"{len(model['pyramid']['shapes'])} | "
            f"{'' if fg is None else f'{fg:.3f}'} | {'' if seconds is None else f'{seconds:.0f}'} | "
            f"{'yes' if model['has_reconstruction_noise'] else 'no'} |")


def _evaluation(generators: list[dict[str, Any]]) -> list[str]:
    rows = [(e["id"], k, v) for e in generators for k, v in sorted((e.get("evaluation") or {}).items())
            if isinstance(v, (int, float))]
    if not rows:
        return ["No evaluation figures were recorded in the model directories."]
    return ["| generator | metric | value |", "|---|---|---|"] + [f"| {i} | {k} | {v:.4g} |" for i, k, v in rows]


def model_card(index: dict[str, Any]) -> str:
    """The MODEL_CARD.md text for a pack index (without the `files` table, which the card itself is part of)."""
    generators = index["generators"]
    configs = {e.get("preset", "custom"): e["model"]["config"] for e in generators}
    lines = [
        f"# {index['name']}: SinGAN-Seg generator pack",
        "",
        f"{len(generators)} generator(s), written by singan-seg {index['package_version']} "
        f"(pack format {index['format_version']}).",
        "",
        "## Terms",
        f"License / terms of use: {index['license']}",
        "",
        "## Training data",
        "Each generator was trained on one real image/mask pair. Images and masks:",
        *_modalities(generators),
        "",
        "Recorded per generator: modality, training size, fraction of mask pixels that are not background, "
        "training time.",
        "",
        "| id | preset | modality | size (WxH) | scales | foreground fraction | training s | reconstruction noise |",
        "|---|---|---|---|---|---|---|---|",
        *[_generator_row(e) for e in generators],
        "",
        "## Training configuration",
        *[f"- `{name}`: " + ", ".join(f"{k}={v}" for k, v in sorted(cfg.items())) for name, cfg in configs.items()],
        "",
        "## Evaluation",
        *_evaluation(generators),
        "",
        "## Intended use",
        INTENDED_USE,
        "",
        "## Privacy",
        PRIVACY_RECONSTRUCTION if index["includes_reconstruction"] else PRIVACY_DEFAULT,
        "",
        "Input provenance (file names, sha256, source ids): "
        + ("kept (`--keep-provenance`)." if index["keeps_provenance"] else "removed."),
        "",
        "## Use",
        "```bash",
        "singan-seg pack verify PACK",
        f"singan-seg generate --pack PACK --ids {generators[0]['id'] if generators else 'ID'} --num 10 --out samples",
        "```",
        "",
    ]
    return "\n".join(lines)


def card_summary(index: dict[str, Any]) -> str:
    """A few lines for `pack info`: name, terms, generators, privacy status."""
    ids = [e["id"] for e in index["generators"]]
    privacy = ("KEEPS reconstruction noise: real training images can be rebuilt" if index["includes_reconstruction"]
               else "reconstruction noise removed: start scale 0 only")
    return "\n".join([
        f"{index['name']} (pack format {index['format_version']}, singan-seg {index['package_version']})",
        f"license: {index['license']}",
        f"generators ({len(ids)}): {', '.join(ids)}",
        f"presets: {', '.join(sorted({e.get('preset', 'custom') for e in index['generators']}))}",
        f"modality: {'; '.join(dict.fromkeys(_modality(e).describe() for e in index['generators']))}",
        f"privacy: {privacy}",
        f"files: {len(index['files'])} with sha256",
    ])
