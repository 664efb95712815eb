"""Modalities: grayscale / 16-bit / multi-channel images and multi-class masks through reading, tensors, training,
sampling, samples directories, packs and datasets (data/modality.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import singan_seg as ss
from singan_seg.data.modality import (Modality, encode_image, image_suffix, labels_from_values, mask_file_array,
                                      parse_classes)
from singan_seg.data.phantom import LABELLED_CLASSES, make_labelled_phantom
from singan_seg.data.samples_dir import load_sample, read_manifest, read_samples_modality
from singan_seg.data.tensors import pair_to_tensor, tensor_to_pairs

from .conftest import run_cli

TINY = ss.get_preset("tiny")
THREE = "background,lesion,core"


@pytest.fixture(scope="module")
def labelled():
    return make_labelled_phantom(48, 60, seed=2)


@pytest.fixture()
def labelled_files(tmp_path, labelled):
    """The 16-bit gray phantom and its 0/1/2 label mask as PNG files."""
    image, mask = tmp_path / "scan.png", tmp_path / "scan_mask.png"
    Image.fromarray(labelled.image[..., 0]).save(image)
    Image.fromarray(labelled.mask).save(mask)
    return image, mask


# --- declaring classes ------------------------------------------------------------------------------------------

def test_class_specs_parse_to_values_or_colours(tmp_path):
    assert [(c.name, c.value) for c in parse_classes("background,disc,cup")] == \
        [("background", 0), ("disc", 1), ("cup", 2)]
    assert [c.value for c in parse_classes("bg=0,tumour=128,oedema=255")] == [0, 128, 255]
    colours = parse_classes("bg=#000000,disc=#ff0000,cup=255:255:0")
    assert [c.color for c in colours] == [(0, 0, 0), (255, 0, 0), (255, 255, 0)]
    spec = tmp_path / "classes.json"
    spec.write_text(json.dumps([{"name": "bg", "value": 0}, {"name": "vessel", "value": 7}]))
    assert [c.value for c in parse_classes(spec)] == [0, 7]


@pytest.mark.parametrize("spec, problem", [
    ("background", "2.."),
    ("bg=#000000,disc=#ff0000,cup=#ff0000", "share the colour #ff0000"),
    ("bg=0,disc=1,cup=1", "share the label value 1"),
    ("bg=#000000,disc=1", "not some"),
    ("bg,bg", "repeat"),
    ("bg=#zz0000,disc=#ff0000", "#rrggbb"),
])
def test_bad_class_specs_are_one_line_errors(spec, problem):
    with pytest.raises(ss.InputError, match=problem) as info:
        parse_classes(spec)
    assert "\n" not in str(info.value)


# --- reading --------------------------------------------------------------------------------------------------

def test_label_mask_and_16_bit_gray_image_are_kept(labelled_files, labelled):
    pair = ss.load_pair(*labelled_files, classes=parse_classes(THREE))
    assert pair.image.shape == (48, 60, 1) and pair.image.dtype == np.uint16
    assert (pair.image == labelled.image).all() and (pair.mask == labelled.mask).all()
    assert pair.modality == Modality(1, 16, LABELLED_CLASSES)


def test_undeclared_mask_values_are_refused_in_one_line(tmp_path, labelled_files):
    with pytest.raises(ss.InputError, match=r"values no class declares: 2 \(\d+ px\)") as info:
        ss.load_pair(*labelled_files, classes=parse_classes("background,lesion"))
    assert str(labelled_files[1]) in str(info.value) and "\n" not in str(info.value)


def test_colour_coded_and_palette_masks(tmp_path, labelled):
    classes = parse_classes("bg=#000000,lesion=#ff0000,core=#ffff00")
    rgb = mask_file_array(labelled.mask, Modality(1, 16, classes))
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    Image.fromarray(labelled.image[..., 0]).save(tmp_path / "scan.png")
    pair = ss.load_pair(tmp_path / "scan.png", tmp_path / "colour.png", classes=classes)
    assert (pair.mask == labelled.mask).all()
    # a palette PNG whose indices are the labels
    palette = Image.fromarray(labelled.mask, mode="L").convert("P")
    palette.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0] + [0] * (256 * 3 - 9))
    Image.fromarray(labelled.mask).save(tmp_path / "labels.png")
    palette.save(tmp_path / "palette.png")
    assert (ss.load_pair(tmp_path / "scan.png", tmp_path / "palette.png", classes=parse_classes(THREE)).mask
            == labelled.mask).all()
    # a JPEG-like colour that no class declares
    rgb[0, 0] = (250, 3, 2)
    Image.fromarray(rgb).save(tmp_path / "noisy.png")
    with pytest.raises(ss.InputError, match=r"colours no class declares: #fa0302"):
        ss.load_pair(tmp_path / "scan.png", tmp_path / "noisy.png", classes=classes)


def test_multi_channel_tiff_and_npy_images(tmp_path, labelled):
    import tifffile

    two = np.concatenate([labelled.image, 65535 - labelled.image], axis=2)
    tifffile.imwrite(tmp_path / "two.tif", two, photometric="minisblack", planarconfig="contig")
    np.save(tmp_path / "two.npy", two)
    Image.fromarray(labelled.mask).save(tmp_path / "labels.png")
    for name in ("two.tif", "two.npy"):
        pair = ss.load_pair(tmp_path / name, tmp_path / "labels.png", classes=parse_classes(THREE))
        assert pair.image.shape == (48, 60, 2) and pair.image.dtype == np.uint16 and (pair.image == two).all()
    np.save(tmp_path / "float.npy", two.astype(np.float32))
    with pytest.raises(ss.InputError, match="float32 pixels"):
        ss.load_pair(tmp_path / "float.npy", tmp_path / "labels.png", classes=parse_classes(THREE))


def test_files_the_writer_makes_read_back_exactly(labelled):
    """16-bit RGB and 2-channel images cannot be PNGs: they are written as TIFF; every kind reads back unchanged."""
    import io

    import tifffile

    rng = np.random.default_rng(0)
    for channels, depth, suffix in ((1, 8, ".png"), (1, 16, ".png"), (3, 8, ".png"), (3, 16, ".tif"),
                                    (2, 16, ".tif"), (5, 8, ".tif")):
        modality = Modality(channels, depth)
        image = rng.integers(0, modality.image_max + 1, (9, 7, channels)).astype(modality.dtype)
        data = encode_image(image, modality)
        assert image_suffix(modality) == suffix
        back = tifffile.imread(io.BytesIO(data)) if suffix == ".tif" else np.asarray(Image.open(io.BytesIO(data)))
        assert (back.reshape(image.shape) == image).all()


# --- tensors --------------------------------------------------------------------------------------------------

def test_tensor_layout_round_trips(labelled):
    """C image channels then K - 1 one-hot +-1 channels; decoding gives the image and labels back exactly."""
    tensor = pair_to_tensor(labelled)
    assert tensor.shape == (1, 1 + 2, 48, 60) and tensor.min() >= -1 and tensor.max() <= 1
    assert set(torch.unique(tensor[0, 1:]).tolist()) == {-1.0, 1.0}
    images, masks, soft = tensor_to_pairs(tensor, labelled.modality)
    assert images.dtype == np.uint16 and (images[0] == labelled.image).all()
    assert masks.dtype == np.uint8 and (masks[0] == labelled.mask).all()
    assert soft.shape == (1, 48, 60) and ((soft[0] > 0.5) == (labelled.mask > 0)).all()


def test_default_modality_is_the_old_four_channels(phantom):
    tensor = pair_to_tensor(phantom)
    assert tensor.shape[1] == 4 and phantom.modality == ss.RGB_BINARY
    images, masks, _ = tensor_to_pairs(tensor)
    assert masks.dtype == bool and (masks[0] == phantom.mask).all() and (images[0] == phantom.image).all()


# --- train -> generate -> samples dir -> pack -> load ------------------------------------------------------------

@pytest.mark.slow
def test_gray_16_bit_three_classes_end_to_end(tmp_path, labelled_files, labelled):
    """train -> generate -> evaluate (mask statistics, quality) -> pack -> load -> generate, all at 16 bits and
    3 classes; resuming with other classes is refused."""
    model_dir, samples_dir = tmp_path / "model", tmp_path / "samples"
    model = ss.train(*labelled_files, out_dir=model_dir, config=TINY, device="cpu", progress=False, classes=THREE)
    assert model.channels == 3 and model.modality == labelled.modality
    meta = json.loads((model_dir / "config.json").read_text())
    assert meta["modality"]["bit_depth"] == 16 and [c["name"] for c in meta["modality"]["classes"]] == \
        ["background", "lesion", "core"]

    ss.generate(model_dir, samples_dir, num=4, seed=1, device="cpu")
    assert read_samples_modality(samples_dir) == labelled.modality
    rows = read_manifest(samples_dir, verify=True)
    drawn = ss.sample(model_dir, num=4, seed=1, device="cpu")
    for i, row in enumerate(rows):
        image, mask = load_sample(samples_dir, row)
        assert image.dtype == np.uint16 and image.shape == (*model.shapes[-1], 1)
        assert (image == drawn.images[i]).all() and (mask == drawn.masks[i]).all()
        assert set(np.unique(mask)) <= {0, 1, 2}
        with Image.open(samples_dir / row["mask"]) as mask_file:  # written with the declared label values
            assert set(np.unique(np.asarray(mask_file))) <= {0, 1, 2}

    # evaluate: SIFID on the gray images (replicated to RGB for Inception), per-class mask statistics and fit
    real = tmp_path / "real"
    (real / "images").mkdir(parents=True)
    (real / "masks").mkdir()
    Image.fromarray(labelled.image[..., 0]).save(real / "images" / "scan.png")  # the source id: the image stem
    Image.fromarray(labelled.mask).save(real / "masks" / "scan.png")
    evaluation = ss.evaluate_samples(samples_dir, real, with_fid=False, progress=False)
    values = list(evaluation.sifid.values.values())
    assert len(values) == 4 and all(np.isfinite(v) and v >= 0 for v in values)
    assert evaluation.sifid.image_channels == 1 and evaluation.sifid.bit_depths == (16, 16)
    assert set(evaluation.masks.classes) == {"lesion", "core"}
    from singan_seg.evaluate import mask_fit

    height, width = model.shapes[-1]
    real_mask = np.asarray(Image.fromarray(labelled.mask).resize((width, height), Image.NEAREST))
    fit = mask_fit(drawn.masks, real_mask, modality=labelled.modality)
    assert set(fit["classes"]) == {"lesion", "core"} and fit["classes"]["core"]["real_components"] == 1

    pack = ss.create_pack([model_dir], tmp_path / "pack")
    card = (pack / "MODEL_CARD.md").read_text()
    assert "1 image channel(s) at 16 bits" in card and "lesion = 1" in card
    restored = ss.load_pack_model(pack, model_dir.name)
    assert restored.modality == labelled.modality
    again = ss.sample(restored, num=4, seed=1)
    assert (again.images == drawn.images).all() and (again.masks == drawn.masks).all()

    with pytest.raises(ss.CheckpointError, match="trained on grayscale 16-bit, 3-class mask"):
        ss.train(*labelled_files, out_dir=model_dir, config=TINY, device="cpu", progress=False, resume=True,
                 classes="background,lesion,core,other=3")


@pytest.mark.slow
def test_train_many_equals_train_for_multi_class_pairs():
    """The fused trainer's per-model channels are C + K - 1 = 3 here, not 4: each model still gets exactly its own
    training (the settings and tolerance of tests/test_train_many.py)."""
    from .test_train_many import CFG, assert_same_model

    pairs = [make_labelled_phantom(64, 80, seed=s) for s in (1, 5)]
    result = ss.train_many(pairs, config=CFG, device="cpu", progress=False)
    assert len(result.groups) == 1
    for pair, fused in zip(pairs, result.models):
        assert fused.modality == pair.modality and fused.channels == 3
        assert_same_model(ss.train(pair, config=CFG, device="cpu", progress=False), fused)


def test_patchnn_keeps_the_modality(labelled):
    samples = ss.generate_patchnn(labelled, num=2, seed=0, device="cpu")
    assert samples.images.dtype == np.uint16 and samples.images.shape[-1] == 1
    assert samples.masks.dtype == np.uint8 and set(np.unique(samples.masks)) <= {0, 1, 2}
    assert samples.modality == labelled.modality


def test_labels_from_values_maps_any_declared_values():
    modality = Modality(1, 8, parse_classes("bg=0,a=128,b=255"))
    labels = labels_from_values(np.array([[0, 128], [255, 0]]), modality)
    assert labels.tolist() == [[0, 1], [2, 0]]


# --- command line and datasets ------------------------------------------------------------------------------------

def test_cli_refuses_a_mask_that_does_not_fit_the_classes(tmp_path, labelled_files, capsys):
    code, err = run_cli("train", "--image", labelled_files[0], "--mask", labelled_files[1], "--out", tmp_path / "m",
                        "--preset", "tiny", "--classes", "background,lesion", capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(labelled_files[1]) in err and "values no class declares" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_cli_train_and_generate_with_classes(tmp_path, labelled_files, capsys):
    code, err = run_cli("train", "--image", labelled_files[0], "--mask", labelled_files[1], "--out", tmp_path / "m",
                        "--preset", "tiny", "--device", "cpu", "--classes", THREE, capsys=capsys)
    assert code == 0 and "grayscale 16-bit, 3-class mask" in err
    code, _ = run_cli("generate", tmp_path / "m", "--out", tmp_path / "s", "--num", "2", "--device", "cpu",
                      capsys=capsys)
    assert code == 0 and read_samples_modality(tmp_path / "s").num_classes == 3


def _dataset_folders(tmp_path, pairs):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i, pair in enumerate(pairs):
        Image.fromarray(pair.image[..., 0] if pair.image.shape[2] == 1 else pair.image).save(images / f"p{i}.png")
        Image.fromarray(pair.mask.astype(np.uint8)).save(masks / f"p{i}.png")
    return images, masks


@pytest.mark.slow
def test_build_dataset_and_export_carry_the_modality(tmp_path):
    pairs = [make_labelled_phantom(40, 52, seed=s) for s in range(3)]
    images, masks = _dataset_folders(tmp_path, pairs)
    folds = tmp_path / "folds.csv"
    folds.write_text("id,fold\np0,0\np1,1\np2,2\n")
    settings = ss.DatasetSettings(method="patchnn", per_image=2, classes=THREE, max_size=52)
    result = ss.build_dataset(images, masks, tmp_path / "ds", folds=folds, settings=settings, progress=False)
    assert result.ok and read_samples_modality(tmp_path / "ds").num_classes == 3
    from singan_seg.pipeline import export_training_set

    assert export_training_set(tmp_path / "ds", tmp_path / "train", exclude_fold=0) == 4
    assert read_samples_modality(tmp_path / "train") == Modality(1, 16, LABELLED_CLASSES)
    for row in read_manifest(tmp_path / "train", verify=True):
        image, mask = load_sample(tmp_path / "train", row)
        assert image.dtype == np.uint16 and mask.max() <= 2


def test_a_dataset_mixing_gray_and_rgb_images_is_refused(tmp_path, phantom):
    gray = make_labelled_phantom(40, 52, seed=1, bit_depth=8)
    rgb = ss.Pair(image=phantom.image[:40, :52], mask=(gray.mask > 0), modality=ss.RGB_BINARY)
    gray_binary = ss.Pair(image=gray.image, mask=gray.mask > 0, modality=Modality(1, 8))
    images, masks = _dataset_folders(tmp_path, [gray_binary, rgb])
    with pytest.raises(ss.InputError, match="every pair of a dataset needs the same channels") as info:
        ss.build_dataset(images, masks, tmp_path / "ds", settings=ss.DatasetSettings(method="patchnn"),
                         progress=False)
    assert "p1.png" in str(info.value) and not (tmp_path / "ds").exists()
    settings = ss.DatasetSettings(method="patchnn", channels=3, per_image=1, max_size=40)
    assert ss.build_dataset(images, masks, tmp_path / "ds", settings=settings, progress=False).ok


def test_a_dataset_refuses_gatys_style_on_multi_channel_images_up_front(tmp_path, labelled):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    np.save(images / "p0.npy", np.concatenate([labelled.image, labelled.image], axis=2))
    Image.fromarray(labelled.mask).save(masks / "p0.png")
    settings = ss.DatasetSettings(method="patchnn", style="1:1", classes=THREE)
    with pytest.raises(ss.InputError, match="needs 1- or 3-channel images but these have 2; use --style fast"):
        ss.build_dataset(images, masks, tmp_path / "ds", settings=settings, progress=False)
    assert not (tmp_path / "ds").exists()


@pytest.mark.slow
def test_a_public_grayscale_image_with_three_classes(tmp_path):
    """scikit-image's `coins` (a real 8-bit grayscale photograph shipped with the package) with a 3-class mask from
    multi-Otsu thresholds: background, coin, highlight. Trained, sampled and its masks scored per class."""
    data = pytest.importorskip("skimage.data")
    from skimage.filters import threshold_multiotsu
    from skimage.transform import resize

    coins = (resize(data.coins(), (76, 96), anti_aliasing=True) * 255).round().astype(np.uint8)
    labels = np.digitize(coins, threshold_multiotsu(coins, classes=3)).astype(np.uint8)
    real = tmp_path / "real"
    for sub, array in (("images", coins), ("masks", labels * 127)):  # mask values 0, 127, 254
        (real / sub).mkdir(parents=True)
        Image.fromarray(array).save(real / sub / "coins.png")
    classes = "background=0,coin=127,highlight=254"
    model = ss.train(real / "images" / "coins.png", real / "masks" / "coins.png", config=TINY, device="cpu",
                     progress=False, classes=classes)
    assert model.modality.describe() == "grayscale 8-bit, 3-class mask (background, coin, highlight)"
    samples = ss.sample(model, num=3, seed=0)
    assert samples.images.shape[-1] == 1 and samples.images.dtype == np.uint8
    ss.write_samples(samples, tmp_path / "samples", source_id="coins")
    with Image.open(next((tmp_path / "samples" / "masks").iterdir())) as mask_file:
        assert set(np.unique(np.asarray(mask_file))) <= {0, 127, 254}  # written back with the declared values
    stats = ss.evaluate_samples(tmp_path / "samples", real, with_fid=False, progress=False).masks
    assert set(stats.classes) == {"coin", "highlight"}


@pytest.mark.parametrize("extra, problem", [
    (["--classes", "bg=#000000,lesion=#ff0000,core=#ff0000"], "share the colour #ff0000"),
    (["--classes", "background,lesion,core", "--channels", "2"], "image has 1 channels but 2 were asked for"),
])
def test_cli_class_and_channel_mistakes_are_one_line(tmp_path, labelled_files, capsys, extra, problem):
    code, err = run_cli("train", "--image", labelled_files[0], "--mask", labelled_files[1], "--out", tmp_path / "m",
                        "--preset", "tiny", *extra, capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and problem in err
    assert not (tmp_path / "m").exists()
