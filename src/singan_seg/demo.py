"""The demo: train on the built-in phantom, sample, and write a contact sheet. No downloads, no patient data."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .config import get_preset
from .data.phantom import make_phantom
from .data.samples_dir import save_png
from .preview import save_contact_sheet
from .sampling import sample, write_samples
from .training import train


@dataclass
class DemoResult:
    model_dir: Path
    samples_dir: Path
    contact_sheet: Path
    seconds: float


def run_demo(out: str | Path = "demo-output", preset: str = "demo", num: int = 8, seed: int = 0,
             device: str = "auto", progress: bool = True) -> DemoResult:
    """Phantom -> train -> sample -> contact sheet, all under `out` (an existing demo there is replaced)."""
    started = time.perf_counter()
    out = Path(out)
    pair = make_phantom(seed=seed)
    inputs = out / "phantom"
    save_png(inputs / "image.png", pair.image)
    save_png(inputs / "mask.png", np.where(pair.mask, 255, 0).astype(np.uint8))
    config = get_preset(preset, seed=seed)
    model = train(inputs / "image.png", inputs / "mask.png", out_dir=out / "model", config=config, device=device,
                  overwrite=True, progress=progress)
    samples = sample(model, num=num, seed=seed)
    samples_dir = write_samples(samples, out / "samples", model_name="model", source_id="phantom", overwrite=True)
    real = np.asarray(Image.fromarray(pair.image).resize(model.shapes[-1][::-1], Image.BICUBIC))
    real_mask = np.asarray(Image.fromarray(pair.mask).resize(model.shapes[-1][::-1], Image.NEAREST))
    sheet = save_contact_sheet(out / "contact_sheet.png", real, real_mask, list(samples.images), list(samples.masks))
    return DemoResult(model_dir=out / "model", samples_dir=samples_dir, contact_sheet=sheet,
                      seconds=time.perf_counter() - started)
