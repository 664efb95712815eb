"""The 4-channel baselines (DCGAN, ProGAN, FastGAN): shapes, binary masks, learning, resume, checkpoints, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import singan_seg as ss
from singan_seg.baselines import (
    baseline_config,
    generate_baseline,
    load_baseline,
    load_pair_set,
    pair_set_from_arrays,
    sample_baseline,
    train_baseline,
)
from singan_seg.baselines.fastgan import diff_augment
from singan_seg.baselines.progan import schedule
from singan_seg.baselines.train import ARCH_MODULES, build_networks, make_optimizers, seeded_rng
from singan_seg.data import read_manifest
from singan_seg.errors import CheckpointError, InputError, OutputExistsError

from .test_cli import cli

# The smallest size each arch supports, with tiny widths: a training step takes milliseconds.
TINY = {"dcgan": dict(resolution=16, width=4, z_dim=8), "progan": dict(resolution=16, width=16, z_dim=8),
        "fastgan": dict(resolution=64, width=4, z_dim=8)}
ARCHS = list(TINY)


def tiny_config(arch, **changes):
    return baseline_config(arch, **{**TINY[arch], "batch_size": 4, "checkpoint_every": 2, **changes})


@pytest.fixture(scope="module")
def phantoms():
    return [ss.make_phantom(height=72, width=88, seed=s) for s in range(5)]


@pytest.fixture(scope="module")
def pair_dirs(tmp_path_factory, phantoms):
    root = tmp_path_factory.mktemp("pairs")
    for sub in ("images", "masks"):
        (root / sub).mkdir()
    for i, p in enumerate(phantoms):
        Image.fromarray(p.image).save(root / "images" / f"p{i}.png")
        Image.fromarray(np.where(p.mask, 255, 0).astype(np.uint8)).save(root / "masks" / f"p{i}.png")
    (root / "folds.csv").write_text("id,fold\n" + "".join(f"p{i},{i % 2}\n" for i in range(5)))
    return root


def data_for(arch, phantoms):
    return pair_set_from_arrays([p.image for p in phantoms], [p.mask for p in phantoms], TINY[arch]["resolution"])


def test_pair_set_is_four_channels_with_binary_mask_aligned_to_the_image(pair_dirs, phantoms):
    data = load_pair_set(pair_dirs / "images", pair_dirs / "masks", 32)
    batch = data.batch([0, 1])
    assert batch.shape == (2, 4, 32, 32) and batch.min() >= -1 and batch.max() <= 1
    assert set(batch[:, 3].unique().tolist()) == {-1.0, 1.0}
    # the resized mask covers the same fraction of the image as the original mask (squashed, not cropped)
    assert abs((batch[0, 3] > 0).float().mean().item() - phantoms[0].mask.mean()) < 0.03
    assert data.ids == ["p0", "p1", "p2", "p3", "p4"]
    assert load_pair_set(pair_dirs / "images", pair_dirs / "masks", 32, limit=2).ids == ["p0", "p1"]
    assert load_pair_set(pair_dirs / "images", pair_dirs / "masks", 32, folds=pair_dirs / "folds.csv",
                         fold=1).ids == ["p1", "p3"]
    with pytest.raises(InputError, match="not in the dataset"):
        load_pair_set(pair_dirs / "images", pair_dirs / "masks", 32, ids=["p0", "nope"])


@pytest.mark.parametrize("arch", ARCHS)
def test_generator_outputs_four_channels_and_samples_have_binary_masks(arch, phantoms, tmp_path):
    train_baseline(data_for(arch, phantoms), tiny_config(arch), tmp_path / "m", steps=2, device="cpu",
                   progress=False)
    model = load_baseline(tmp_path / "m", device="cpu")
    R = TINY[arch]["resolution"]
    batch = sample_baseline(model, num=3, seed=1)
    assert batch.shape == (3, 4, R, R) and batch.min() >= -1 and batch.max() <= 1
    generate_baseline(tmp_path / "m", tmp_path / "s", num=3, seed=1, device="cpu")
    rows = read_manifest(tmp_path / "s", verify=True)
    assert [r["method"] for r in rows] == [arch] * 3 and rows[0]["checkpoint_step"] == "2"
    for row in rows:
        mask = np.asarray(Image.open(tmp_path / "s" / row["mask"]))
        image = np.asarray(Image.open(tmp_path / "s" / row["image"]))
        assert image.shape == (R, R, 3) and mask.shape == (R, R)
        assert set(np.unique(mask)) <= {0, 255}
    # the written mask is the 4th channel thresholded at 0
    first = np.asarray(Image.open(tmp_path / "s" / rows[0]["mask"])) == 255
    assert np.array_equal(first, (batch[0, 3] > 0).numpy())


@pytest.mark.parametrize("arch", ARCHS)
def test_sample_i_depends_only_on_seed_and_i(arch, phantoms):
    result = train_baseline(data_for(arch, phantoms), tiny_config(arch), steps=1, device="cpu", progress=False)
    from singan_seg.baselines import BaselineModel

    model = BaselineModel(result.config, result.generator, result.progress, {})
    many, few = sample_baseline(model, num=5, seed=3), sample_baseline(model, num=2, seed=3)
    assert torch.equal(many[:2], few)
    assert not torch.equal(many[0], many[1])
    assert not torch.equal(sample_baseline(model, num=1, seed=4)[0], many[0])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.slow
def test_a_few_steps_lower_the_discriminator_losses(arch, phantoms):
    """On a fixed batch of 4 phantoms D learns to tell real from fake: its loss falls (seeded, so repeatable; the
    mean of the last 8 of 24 steps against the first 8).

    ProGAN runs at its full size (progress 1), where growing does not change the level between steps."""
    cfg = tiny_config(arch)
    nets, real = build_networks(cfg, torch.device("cpu")), data_for(arch, phantoms).batch([0, 1, 2, 3])
    opts = make_optimizers(nets, cfg)
    losses = []
    for step in range(24):
        with seeded_rng(step, torch.device("cpu")):
            losses.append({k: float(v) for k, v in ARCH_MODULES[arch].train_step(nets, opts, real, cfg, 1.0).items()})
    before, after = np.mean([x["d"] for x in losses[:8]]), np.mean([x["d"] for x in losses[-8:]])
    # FastGAN's D sees randomly augmented images and random hinge margins, so its loss falls more slowly
    assert after < (0.95 if arch == "fastgan" else 0.9) * before, (before, after)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.slow
def test_resume_after_interruption_equals_uninterrupted_run(arch, phantoms, tmp_path):
    data = data_for(arch, phantoms)
    train_baseline(data, tiny_config(arch), tmp_path / "full", steps=5, device="cpu", progress=False)
    train_baseline(data, tiny_config(arch), tmp_path / "cut", steps=5, device="cpu", progress=False, stop_after=3)
    cut = json.loads((tmp_path / "cut" / "config.json").read_text())["training"]
    assert cut["step"] == 3 and not cut["complete"]
    result = train_baseline(data, tiny_config(arch), tmp_path / "cut", steps=5, device="cpu", progress=False,
                            resume=True)
    assert result.step == 5
    full, resumed = load_file(tmp_path / "full" / "weights.safetensors"), load_file(tmp_path / "cut" /
                                                                                   "weights.safetensors")
    assert full.keys() == resumed.keys()
    assert any(k.startswith("opt.D.") for k in full) and (arch == "dcgan") != any(k.startswith("G_ema.") for k in full)
    different = [k for k in full if not torch.equal(full[k], resumed[k])]
    assert not different, different[:5]


def test_resume_refuses_other_settings_and_existing_dirs(phantoms, tmp_path):
    data = data_for("dcgan", phantoms)
    train_baseline(data, tiny_config("dcgan"), tmp_path / "m", steps=2, device="cpu", progress=False)
    with pytest.raises(OutputExistsError):
        train_baseline(data, tiny_config("dcgan"), tmp_path / "m", steps=2, device="cpu", progress=False)
    with pytest.raises(CheckpointError, match="lr_g"):
        train_baseline(data, tiny_config("dcgan", lr_g=1e-3), tmp_path / "m", steps=4, device="cpu",
                       progress=False, resume=True)
    fewer = pair_set_from_arrays([p.image for p in phantoms[:3]], [p.mask for p in phantoms[:3]], 16)
    with pytest.raises(CheckpointError, match="training pairs"):
        train_baseline(fewer, tiny_config("dcgan"), tmp_path / "m", steps=4, device="cpu", progress=False,
                       resume=True)


def test_tampered_or_foreign_checkpoints_are_refused(phantoms, tmp_path, tiny_model_dir):
    train_baseline(data_for("dcgan", phantoms), tiny_config("dcgan"), tmp_path / "m", steps=1, device="cpu",
                   progress=False)
    weights = tmp_path / "m" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_baseline(tmp_path / "m", device="cpu")
    with pytest.raises(CheckpointError, match="not a singan-seg-baseline config"):
        load_baseline(tiny_model_dir, device="cpu")  # a SinGAN-Seg model dir
    with pytest.raises(CheckpointError, match="no config.json"):
        load_baseline(tmp_path, device="cpu")


def test_progan_grows_with_fade_ins_over_the_budget():
    # 16 px: levels 4, 8, 16 -> 5 phases: stabilise 4, fade 8, stabilise 8, fade 16, stabilise 16
    assert schedule(0.0, 16) == (0, 1.0)
    level, alpha = schedule(0.3, 16)
    assert level == 1 and alpha == pytest.approx(0.5)
    assert schedule(0.5, 16) == (1, 1.0)
    assert schedule(1.0, 16) == (2, 1.0)


def test_fastgan_colour_augmentation_leaves_the_mask_channel_alone():
    x = torch.rand(3, 4, 16, 16) * 2 - 1
    torch.manual_seed(0)
    out = diff_augment(x, ["color"])
    assert torch.equal(out[:, 3], x[:, 3]) and not torch.equal(out[:, :3], x[:, :3])
    shifted = diff_augment(x, ["translation", "cutout"])
    assert shifted.shape == x.shape
    assert ((shifted == 0).all(dim=1)).float().mean() > 0.2  # cut-out and padded areas are zero in every channel


@pytest.mark.slow
def test_cli_train_then_generate(pair_dirs, tmp_path):
    result = cli("baseline", "train", "--arch", "dcgan", "--images", pair_dirs / "images", "--masks",
                 pair_dirs / "masks", "--out", tmp_path / "m", "--resolution", "16", "--width", "4", "--steps", "3",
                 "--batch-size", "2", "--seed", "1", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "m" / "config.json").read_text())["training"]["step"] == 3
    result = cli("baseline", "generate", "--model", tmp_path / "m", "--out", tmp_path / "s", "--num", "4")
    assert result.returncode == 0, result.stderr
    rows = read_manifest(tmp_path / "s", verify=True)
    assert len(rows) == 4 and {r["arch"] for r in rows} == {"dcgan"}


def main_error(monkeypatch, capsys, *args) -> str:
    """Run the CLI in-process (a subprocess costs seconds of imports); return its one-line error (exit code 2)."""
    from singan_seg.cli import main

    monkeypatch.setattr("sys.argv", ["singan-seg", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_cli_errors_are_one_line(pair_dirs, tmp_path, monkeypatch, capsys):
    assert "did you mean 'dcgan'" in main_error(monkeypatch, capsys, "baseline", "train", "--arch", "dcgn", "--images",
                                                pair_dirs / "images", "--masks", pair_dirs / "masks", "--out",
                                                tmp_path / "x", "--steps", "1")
    assert "model directory not found" in main_error(monkeypatch, capsys, "baseline", "generate", "--model",
                                                     tmp_path / "nothing", "--out", tmp_path / "y")
    assert "either steps or minutes" in main_error(monkeypatch, capsys, "baseline", "train", "--arch", "dcgan",
                                                   "--images", pair_dirs / "images", "--masks", pair_dirs / "masks",
                                                   "--out", tmp_path / "z", "--resolution", "16")
    assert not (tmp_path / "z").exists()


def test_a_minutes_budget_stops_once_the_training_time_is_spent(phantoms, tmp_path):
    result = train_baseline(data_for("dcgan", phantoms), tiny_config("dcgan"), tmp_path / "m", minutes=0.01,
                            device="cpu", progress=False)
    assert result.seconds >= 0.6 and result.progress == 1.0 and result.step >= 1
    per_step = result.seconds / result.step
    assert result.seconds < 0.6 + 2 * per_step + 0.5  # it stops at the first step past the budget
    training = json.loads((tmp_path / "m" / "config.json").read_text())["training"]
    assert training["complete"] and training["budget"] == {"steps": None, "minutes": 0.01, "clock": "wall"}


@pytest.mark.slow
def test_a_cpu_clock_budget_ignores_time_spent_waiting(phantoms, tmp_path, monkeypatch):
    # A step that also waits 100 ms (as if other processes held the CPU): the wall clock counts the wait, the CPU
    # clock does not, so the same budget buys more steps on the CPU clock. One thread, so that CPU time is not
    # inflated by other threads' spinning.
    import time as time_module

    original = ARCH_MODULES["dcgan"].train_step

    def slow_step(*args, **kwargs):
        time_module.sleep(0.1)
        return original(*args, **kwargs)

    monkeypatch.setattr(ARCH_MODULES["dcgan"], "train_step", slow_step)
    data, config = data_for("dcgan", phantoms), tiny_config("dcgan", checkpoint_every=1000)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        wall = train_baseline(data, config, None, minutes=0.005, device="cpu", progress=False)
        started = time_module.perf_counter()
        cpu = train_baseline(data, config, tmp_path / "m", minutes=0.005, device="cpu", progress=False, clock="cpu")
        elapsed = time_module.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    assert wall.seconds >= 0.1 * wall.step and wall.step <= 0.3 / 0.1 + 1  # the waits count on the wall clock
    assert cpu.seconds >= 0.3 and elapsed - cpu.seconds >= 0.09 * cpu.step  # ...and not on the CPU clock
    assert cpu.step > wall.step
    assert json.loads((tmp_path / "m" / "config.json").read_text())["training"]["budget"]["clock"] == "cpu"
    with pytest.raises(CheckpointError, match="cpu clock"):
        train_baseline(data, config, tmp_path / "m", minutes=0.004, device="cpu", progress=False, resume=True)
    with pytest.raises(InputError, match="clock should be one of"):
        train_baseline(data, config, None, minutes=0.002, device="cpu", progress=False, clock="gpu")
