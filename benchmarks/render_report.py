"""Build an evaluation report (phantom data, or the one given) and screenshot it in headless Chromium.

    PYTHONPATH=src python benchmarks/render_report.py [--report report.html] [--out report.png]

Without --report, a report is built from procedural phantoms (no training, no patient data): three "training"
phantoms, three held-out ones, and synthetic images that are copies, noisy copies and shifted copies of them.
Exits 1 with a message if no chromium/google-chrome is on PATH.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

import singan_seg as ss
from singan_seg.data.samples_dir import mask_to_png_array, save_png
from singan_seg.evaluate import evaluate_samples, write_report


def phantom_report(directory: Path) -> Path:
    pairs = [ss.make_phantom(seed=s) for s in range(6)]  # (192, 240, 3)
    for name, group, offset in (("train", pairs[:3], 0), ("held", pairs[3:], 3)):
        for k, pair in enumerate(group):
            save_png(directory / name / "images" / f"p{k + offset}.png", pair.image)
            save_png(directory / name / "masks" / f"p{k + offset}.png", mask_to_png_array(pair.mask))
    rng = np.random.default_rng(0)
    images = np.stack([np.clip(pairs[0].image + rng.normal(0, sd, pairs[0].image.shape), 0, 255).astype(np.uint8)
                       for sd in (0, 10, 25, 50)])
    masks = np.stack([np.roll(pairs[0].mask, 10 * i, 1) for i in range(4)])
    ss.write_samples(ss.Samples(images, masks, masks.astype(float), seed=0, start_scale=0), directory / "samples",
                     source_id="p0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the FID sample-size warning is shown inside the report
        evaluation = evaluate_samples(directory / "samples", directory / "train", heldout_real=directory / "held")
    return write_report(evaluation, directory / "report.html")[0]


def screenshot(html: Path, png: Path) -> None:
    browsers = ("chromium", "chromium-browser", "google-chrome")
    browser = next((shutil.which(b) for b in browsers if shutil.which(b)), None)
    if browser is None:
        sys.exit("no chromium/google-chrome on PATH (e.g. apt-get install chromium); the report is at " + str(html))
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png.resolve()}",
                    "--window-size=1200,4000", html.resolve().as_uri()], check=True, timeout=120, capture_output=True)
    pixels = np.asarray(Image.open(png).convert("L"))
    print(f"screenshot {png}: {pixels.shape[1]}x{pixels.shape[0]} px, gray sd {pixels.std():.1f} (blank page: ~0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="an existing report.html (default: build a phantom one)")
    parser.add_argument("--out", type=Path, default=Path("report.png"))
    args = parser.parse_args()
    html = args.report or phantom_report(Path(tempfile.mkdtemp(prefix="singan-seg-report-")))
    print(f"report: {html}")
    screenshot(html, args.out)


if __name__ == "__main__":
    main()
