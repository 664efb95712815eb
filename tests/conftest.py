"""Shared fixtures: a phantom pair on disk and small trained models (trained once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import singan_seg as ss
from singan_seg.threads import free_cores

REPO = Path(__file__).resolve().parents[1]
KVASIR = REPO.parent / "shared" / "data" / "kvasir-seg"

# Small enough to train in seconds, big enough that samples have structure (used for alignment checks).
SMALL = ss.TrainConfig(max_size=48, min_size=14, scale_factor=0.7, base_channels=16, max_channels=16,
                       iters_per_scale=120, d_steps=1, g_steps=1, norm="instance")


def run_cli(*args, capsys) -> tuple[int, str]:
    """Run `singan-seg ARGS` in this process (no interpreter start-up): (exit code, what it printed to stderr).
    For bad-input tests: an error must be one line, naming the file or option, with a non-zero exit."""
    import sys

    from singan_seg.cli import main

    argv = sys.argv
    sys.argv = ["singan-seg", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, capsys.readouterr().err



def write_real_folder(root: Path, images, masks, folds: int = 3) -> Path:
    """ROOT/images/r<i>.png, ROOT/masks/r<i>.png (the arrays as given) and ROOT/folds.csv (pair i in fold i % folds):
    the layout of a real dataset (Kvasir-SEG's) for the segmentation tests."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (image, mask) in enumerate(zip(images, masks)):
        Image.fromarray(image).save(root / "images" / f"r{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"r{i}.png")
    (root / "folds.csv").write_text("id,fold\n" + "".join(f"r{i},{i % folds}\n" for i in range(len(images))))
    return root

# One thread count for the whole session keeps float reductions (and so bit-identity checks) stable; never more
# threads than cores free when the session starts, since a team of threads on a busy core waits for its time
# slices (`taskset -c 0 pytest`, or another job on the machine, runs the suite with one).
SESSION_THREADS = min(2, free_cores())
os.environ["SINGAN_SEG_THREADS"] = str(SESSION_THREADS)  # the same count in the commands tests start


@pytest.fixture(autouse=True)
def _fixed_threads():
    torch.set_num_threads(SESSION_THREADS)


@pytest.fixture(scope="session")
def phantom() -> ss.Pair:
    return ss.make_phantom(height=96, width=120, seed=3)


@pytest.fixture()
def phantom_files(tmp_path, phantom) -> tuple[Path, Path]:
    image, mask = tmp_path / "image.png", tmp_path / "mask.png"
    Image.fromarray(phantom.image).save(image)
    Image.fromarray(np.where(phantom.mask, 255, 0).astype(np.uint8)).save(mask)
    return image, mask


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, phantom) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny"
    ss.train(phantom, out_dir=out, config=ss.get_preset("tiny"), device="cpu", progress=False)
    return out


@pytest.fixture(scope="session")
def small_model(phantom) -> ss.SinGANSeg:
    return ss.train(phantom, config=SMALL, device="cpu", progress=False)


def kvasir_or_skip() -> Path:
    if not (KVASIR / "images").is_dir():
        pytest.skip(f"Kvasir-SEG not found at {KVASIR} (only CI and dev machines have ../shared/data)")
    return KVASIR
