"""The training-free patch nearest-neighbour engine (--method patchnn): samples, search, CLI and pipeline."""

import csv

import numpy as np
import pytest
import torch
from PIL import Image

import singan_seg as ss
from singan_seg.engines.patchnn import PatchNNConfig, _nn_exact, _nn_window, _patches, generate_patchnn
from singan_seg.errors import InputError, OutputExistsError
from singan_seg.pipeline import DatasetSettings, build_dataset, export_training_set

from .test_cli import assert_one_line_error, cli

SMALL = PatchNNConfig(max_size=48, coarsest=14, iters_coarse=4, exact_max_patches=400)  # windowed at 2 levels


def red_blobs(seed: int = 0, height: int = 40, width: int = 48) -> ss.Pair:
    """A pair whose mask is exactly `red channel > 128` of its image: red disks on a textured dull background."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:height, :width]
    texture = np.sin(xs / 3.0 + rng.uniform(0, 6)) * np.cos(ys / 4.0) * 30
    image = np.stack([60 + texture / 2, 110 + texture, 90 - texture], -1)
    mask = np.zeros((height, width), bool)
    for _ in range(3):
        cy, cx, r = rng.integers(8, height - 8), rng.integers(8, width - 8), rng.integers(4, 8)
        mask |= (ys - cy) ** 2 + (xs - cx) ** 2 <= r * r
    image[mask] = [220, 60, 50]
    return ss.pair_from_arrays(image.clip(0, 255).astype(np.uint8), mask)


@pytest.fixture(scope="module")
def pair():
    return red_blobs()


@pytest.fixture(scope="module")
def samples(pair):
    return generate_patchnn(pair, num=3, seed=7, config=SMALL, device="cpu")


def test_shapes_dtypes_and_binary_masks(samples):
    assert samples.images.shape == (3, 40, 48, 3) and samples.images.dtype == np.uint8
    assert samples.masks.shape == (3, 40, 48) and samples.masks.dtype == bool
    assert samples.soft_masks.min() >= 0 and samples.soft_masks.max() <= 1
    assert all(0.02 < m.mean() < 0.6 for m in samples.masks)  # blobs survive, neither vanished nor everywhere


def test_mask_is_aligned_with_image(samples, pair):
    assert np.array_equal(pair.image[..., 0] > 128, pair.mask)  # the phantom's own rule
    for image, mask in zip(samples.images, samples.masks):
        agree = np.mean((image[..., 0] > 128) == mask)
        assert agree > 0.95, agree


def test_samples_are_new_images(samples, pair):
    for image in samples.images:
        assert np.abs(image.astype(int) - pair.image.astype(int)).mean() > 5  # not the real image again
    assert np.abs(samples.images[0].astype(int) - samples.images[1].astype(int)).mean() > 5


def test_deterministic_per_seed_and_index(pair, samples):
    again = generate_patchnn(pair, num=1, seed=7, config=SMALL, device="cpu", first_index=2)
    assert np.array_equal(again.images[0], samples.images[2]) and np.array_equal(again.masks[0], samples.masks[2])
    other = generate_patchnn(pair, num=1, seed=8, config=SMALL, device="cpu", first_index=2)
    assert not np.array_equal(other.images[0], samples.images[2])


def test_window_covering_the_grid_equals_exact_search():
    gen = torch.Generator().manual_seed(0)
    keys_img = torch.rand(1, 4, 13, 13, generator=gen) * 2 - 1  # a 7x7 grid of 7x7 patches
    queries = torch.rand(1, 4, 13, 13, generator=gen) * 2 - 1
    q, k = _patches(queries, 7), _patches(keys_img, 7)
    guess = torch.randint(0, 7, (len(q), 2), generator=gen)  # any guess: a radius-3 window is the whole grid
    for alpha in (0.005, 1e3):
        exact = _nn_exact(q, k, alpha, chunk_elements=100)
        window = _nn_window(q, keys_img, guess, 7, radius=3, alpha=alpha, chunk_elements=1000)
        assert torch.equal(exact, window)


def test_window_finds_the_true_patch_near_the_guess():
    gen = torch.Generator().manual_seed(1)
    keys_img = torch.rand(1, 4, 30, 34, generator=gen) * 2 - 1
    p, kh, kw = 7, 24, 28
    k = _patches(keys_img, p)
    truth = torch.randperm(kh * kw, generator=gen)[:50]
    q = k[truth] + 0.01 * torch.randn(50, k.shape[1], generator=gen)
    true_yx = torch.stack([truth // kw, truth % kw], 1)
    guess = true_yx + torch.randint(-2, 3, true_yx.shape, generator=gen)
    guess = torch.stack([guess[:, 0].clamp(0, kh - 1), guess[:, 1].clamp(0, kw - 1)], 1)  # a guess is on the grid
    found = _nn_window(q, keys_img, guess, p, radius=2, alpha=1e3, chunk_elements=5000)  # large alpha: plain NN
    assert torch.equal(_nn_exact(q, k, 1e3, 10_000), truth)  # the noise is small: the true patch is the nearest
    assert torch.equal(found, truth)  # every guess is within 2 of the truth, so its window holds the true patch


@pytest.mark.parametrize("kwargs, fragment", [({"patch_size": 4}, "patch_size should be an odd number"),
                                              ({"ratio": 1.0}, "ratio should be > 1"),
                                              ({"alpha": 0}, "alpha should be > 0"),
                                              ({"coarsest": 5}, "coarsest should be >= patch_size")])
def test_config_validation(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        PatchNNConfig(**kwargs)


def test_bad_calls(pair):
    with pytest.raises(InputError, match="num should be at least 1"):
        generate_patchnn(pair, num=0, config=SMALL)
    with pytest.raises(InputError, match="smaller than one 7x7 patch"):
        generate_patchnn(pair, num=1, config=PatchNNConfig(max_size=7, coarsest=7))


@pytest.mark.slow
def test_cli_round_trip_and_errors(tmp_path):
    pair = red_blobs(seed=1)
    image, mask = tmp_path / "blobs.png", tmp_path / "blobs_mask.png"
    Image.fromarray(pair.image).save(image)
    Image.fromarray(np.where(pair.mask, 255, 0).astype(np.uint8)).save(mask)
    out = tmp_path / "s"
    result = cli("generate", "--method", "patchnn", "--image", image, "--mask", mask, "--out", out, "--num", "2",
                 "--seed", "3", "--max-size", "40", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    rows = ss.data.read_manifest(out, verify=True)
    assert [r["method"] for r in rows] == ["patchnn", "patchnn"] and rows[0]["source_id"] == "blobs"
    for row in rows:
        img, msk = np.asarray(Image.open(out / row["image"])), np.asarray(Image.open(out / row["mask"]))
        assert img.shape == (33, 40, 3) and msk.shape == (33, 40) and set(np.unique(msk)) <= {0, 255}
    assert_one_line_error(cli("generate", tmp_path, "--method", "patchnn", "--image", image, "--mask", mask,
                              "--out", tmp_path / "x"), "takes no MODEL_DIR")
    assert_one_line_error(cli("generate", "--method", "patchnn", "--image", image, "--out", tmp_path / "x"),
                          "needs --image IMG and --mask MASK")
    assert_one_line_error(cli("generate", "--image", image, "--mask", mask, "--out", tmp_path / "x"),
                          "go with --method patchnn")
    assert_one_line_error(cli("generate", "--method", "gpnn", "--out", tmp_path / "x"), "unknown method 'gpnn'")
    assert not (tmp_path / "x").exists()


def test_pipeline_round_trip(tmp_path):
    root = tmp_path / "real"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(3):
        pair = red_blobs(seed=10 + i)
        Image.fromarray(pair.image).save(root / "images" / f"b{i}.png")
        Image.fromarray(np.where(pair.mask, 255, 0).astype(np.uint8)).save(root / "masks" / f"b{i}.png")
    ss.data.dataset.write_folds(root / "folds.csv", {"b0": 0, "b1": 1, "b2": 0})
    settings = DatasetSettings(method="patchnn", max_size=40, per_image=2, seed=2)
    run = dict(folds=root / "folds.csv", progress=False, device="cpu")
    plan = build_dataset(root / "images", root / "masks", tmp_path / "syn", settings=settings, dry_run=True, **run)
    assert plan.estimate["seconds_per_pair"] > 0 and not (tmp_path / "syn").exists()
    result = build_dataset(root / "images", root / "masks", tmp_path / "syn", settings=settings, **run)
    assert result.ok and sorted(result.done) == ["b0", "b1", "b2"]
    with open(tmp_path / "syn" / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {r["method"] for r in rows} == {"patchnn"} and {r["generator"] for r in rows} == {""}
    assert not (tmp_path / "syn" / "pairs" / "b0" / "model").exists()  # nothing trained
    for row in rows:
        img = np.asarray(Image.open(tmp_path / "syn" / row["image"]))
        msk = np.asarray(Image.open(tmp_path / "syn" / row["mask"])) > 127
        assert img.shape[:2] == msk.shape and np.mean((img[..., 0] > 128) == msk) > 0.95
    again = build_dataset(root / "images", root / "masks", tmp_path / "syn", settings=settings, **run)
    assert sorted(again.skipped) == ["b0", "b1", "b2"]
    with pytest.raises(OutputExistsError, match="method 'patchnn' \\(saved\\) vs 'singan'"):
        build_dataset(root / "images", root / "masks", tmp_path / "syn",
                      settings=DatasetSettings(preset="tiny", max_size=40, per_image=2, seed=2), **run)
    assert export_training_set(tmp_path / "syn", tmp_path / "train0", exclude_fold=0) == 2
    with pytest.raises(InputError, match="--method patchnn trains nothing"):
        DatasetSettings(method="patchnn", iters_per_scale=10)
