"""Evaluation of gray / 16-bit / multi-channel images with multi-class masks: sets load at their depth, the
Inception channel rule (16 bits / 257, gray replicated, other counts per channel and averaged), per-class mask
statistics against hand-computed values, and one-line refusals of sets of different channel counts."""

import json
import warnings

import numpy as np
import pytest
import skimage.data
from PIL import Image

import singan_seg as ss
from singan_seg.data.modality import MaskClass, Modality
from singan_seg.errors import InputError
from singan_seg.evaluate import (evaluate_samples, fid, load_image_set, mask_statistics, privacy_audit, sifid,
                                 sifid_pair, write_report)
from singan_seg.evaluate.image_sets import common_masks
from singan_seg.evaluate.inception import CHANNELS_RULE
from singan_seg.evaluate.privacy import ssim
from singan_seg.sampling import Samples

SIZE = 64
CLASSES = (MaskClass("background", 0), MaskClass("disc", 100), MaskClass("cup", 200))


def gray16(seed: int = 0) -> np.ndarray:
    """(64, 64, 1) uint16 camera crop: 8-bit values x 257 plus sub-step detail that rounds away at 8 bits."""
    crop = skimage.data.camera()[100 + 40 * seed:100 + 40 * seed + 2 * SIZE:2, 150:150 + 2 * SIZE:2]
    detail = np.random.default_rng(seed).integers(0, 120, crop.shape)
    return (crop.astype(np.uint16) * 257 + detail).astype(np.uint16)[..., None]


def to8(image: np.ndarray) -> np.ndarray:
    return np.round(image / 257).astype(np.uint8)


def class_masks() -> np.ndarray:
    """Two 64 x 64 masks of class indices: (disc 25 %, cup 12.5 %) and (disc 50 %, no cup)."""
    masks = np.zeros((2, SIZE, SIZE), np.uint8)
    masks[0, :16], masks[0, 16:24] = 1, 2
    masks[1, :32] = 1
    return masks


def write_dir(path, images: np.ndarray, masks: np.ndarray, modality: Modality):
    samples = Samples(images, masks, np.zeros(masks.shape), seed=0, start_scale=0, modality=modality)
    return ss.write_samples(samples, path, source_id="real")


def noisy16(image: np.ndarray, sd: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sd, image.shape)
    return np.clip(image + noise, 0, 65535).astype(np.uint16)


@pytest.fixture(scope="module")
def gray_sets(tmp_path_factory):
    """The same gray 3-class samples (a copy of the real image, then a noisy one) at 16 and at 8 bits, the real
    image as a 16-bit and an 8-bit PNG, and a real folder of one 16-bit image with a label mask (no modality.json)."""
    root = tmp_path_factory.mktemp("gray")
    real = gray16()
    images = np.stack([real, noisy16(real, 3000, 1)])
    dirs = {depth: write_dir(root / f"samples{depth}", x, class_masks(), Modality(1, depth, CLASSES))
            for depth, x in ((16, images), (8, to8(images)))}
    Image.fromarray(real[..., 0]).save(root / "real16.png")
    Image.fromarray(to8(real)[..., 0]).save(root / "real8.png")
    (root / "folder" / "images").mkdir(parents=True)
    (root / "folder" / "masks").mkdir()
    Image.fromarray(real[..., 0]).save(root / "folder" / "images" / "real.png")
    label = np.zeros((SIZE, SIZE), np.uint8)
    label[:16], label[16:32] = 100, 200  # disc 25 %, cup 25 %
    Image.fromarray(label).save(root / "folder" / "masks" / "real.png")
    return {"root": root, "real": real, "images": images, "samples16": dirs[16], "samples8": dirs[8]}


def test_sets_load_at_their_depth_and_classes(gray_sets):
    samples = load_image_set(gray_sets["samples16"])
    assert samples.modality == Modality(1, 16, CLASSES) and samples.declared
    assert samples.image(1).dtype == np.uint16 and samples.image(1).shape == (SIZE, SIZE, 1)
    np.testing.assert_array_equal(samples.image(1), gray_sets["images"][1])
    np.testing.assert_array_equal(samples.mask(0), class_masks()[0])
    folder = load_image_set(gray_sets["root"] / "folder")  # no modality file: read from the PNG's header
    assert (folder.modality.channels, folder.modality.bit_depth, folder.modality.classes) == (1, 16, None)
    np.testing.assert_array_equal(folder.image(0), gray_sets["real"])
    _, folder = common_masks(samples, folder)  # the folder's label mask is read with the samples' classes
    assert folder.modality.classes == CLASSES and set(np.unique(folder.mask(0))) == {0, 1, 2}


def test_sifid_gray_16_bit_is_zero_for_a_copy_and_matches_8_bits(gray_sets):
    at16 = sifid(gray_sets["samples16"], gray_sets["root"] / "real16.png", progress=False)
    at8 = sifid(gray_sets["samples8"], gray_sets["root"] / "real8.png", progress=False)
    copy16, noisy16_value = at16.values.values()
    assert abs(copy16) < 1e-4 and noisy16_value > 0.5  # ~0: 64 px give a singular 192 x 192 covariance
    for a, b in zip(at16.values.values(), at8.values.values()):
        assert a == pytest.approx(b, rel=0.02, abs=2e-3)  # 16 bits / 257 vs rounded 8 bits: the same features
    numbers = at16.to_dict()
    assert numbers["channels_rule"] == CHANNELS_RULE and numbers["image_channels"] == 1
    assert numbers["bit_depths"] == [16, 16]
    exact = gray_sets["real"][..., 0] // 257 * 257  # 8-bit values stored at 16 bits: exactly the 8-bit features
    assert sifid_pair(exact, gray_sets["images"][1]) == pytest.approx(sifid_pair(to8(exact), gray_sets["images"][1]),
                                                                     rel=1e-5)


def test_per_class_mask_statistics_match_hand_computed(gray_sets):
    stats = mask_statistics(gray_sets["samples16"], gray_sets["root"] / "folder", size=(SIZE, SIZE))
    disc, cup = stats.classes["disc"], stats.classes["cup"]
    np.testing.assert_allclose(disc.synthetic_pct, [25, 50])
    np.testing.assert_allclose(cup.synthetic_pct, [12.5, 0])
    np.testing.assert_allclose(stats.synthetic_pct, [37.5, 50])  # foreground: every class together
    np.testing.assert_allclose([disc.real_pct[0], cup.real_pct[0], stats.real_pct[0]], [25, 25, 50])
    # 1-D Wasserstein against one real value: the mean absolute difference
    assert disc.wasserstein_pct == pytest.approx(12.5) and cup.wasserstein_pct == pytest.approx(18.75)
    assert stats.wasserstein_pct == pytest.approx(6.25)
    assert disc.hist_total_variation == pytest.approx(0.5) and cup.hist_total_variation == pytest.approx(1.0)
    expected_disc = np.zeros((SIZE, SIZE))
    expected_disc[:16], expected_disc[16:32] = 1.0, 0.5
    np.testing.assert_allclose(disc.synthetic_mean, expected_disc)
    np.testing.assert_allclose(cup.synthetic_sd[16:24], 0.5)
    numbers = stats.to_dict()
    assert list(numbers["classes"]) == ["disc", "cup"] and numbers["classes"]["cup"]["synthetic"]["histogram"][2] == 1
    same = mask_statistics(gray_sets["samples16"], gray_sets["samples16"]).to_dict()
    assert same["classes"]["disc"]["wasserstein_pct"] == 0 and same["classes"]["cup"]["hist_total_variation"] == 0


def test_two_channel_sifid_is_the_mean_of_its_channels(tmp_path, gray_sets):
    a = np.concatenate([gray_sets["real"], gray16(1)], axis=2)  # (64, 64, 2) uint16
    b = np.concatenate([noisy16(gray_sets["real"], 2000, 2), gray16(2)], axis=2)
    per_channel = [sifid_pair(a[..., c], b[..., c]) for c in range(2)]
    assert sifid_pair(a, b) == pytest.approx(np.mean(per_channel), rel=1e-9)
    samples = write_dir(tmp_path / "two", np.stack([b, a]), np.zeros((2, SIZE, SIZE), bool), Modality(2, 16))
    assert load_image_set(samples).image(0).shape == (SIZE, SIZE, 2)  # a 2-channel TIFF
    result = sifid(samples, load_image_set(samples).image_paths[1], progress=False)
    assert list(result.values.values()) == pytest.approx([np.mean(per_channel), 0], abs=1e-4)
    assert result.to_dict()["image_channels"] == 2


def test_mixed_channel_counts_are_one_line_errors(tmp_path, gray_sets):
    Image.fromarray(np.repeat(to8(gray_sets["real"]), 3, axis=2)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="SIFID compares sets of one channel count") as caught:
        sifid(gray_sets["samples16"], tmp_path / "rgb.png", progress=False)
    assert "\n" not in str(caught.value) and "rgb.png" in str(caught.value)
    (tmp_path / "rgb").mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.repeat(to8(gray_sets["real"]), 3, axis=2)).save(tmp_path / "rgb" / f"{name}.png")
    with pytest.raises(InputError, match=r"FID compares sets of one channel count: the first set has 1 and the "
                                         r"second set 3 image channels") as caught:
        fid(gray_sets["samples16"], tmp_path / "rgb", progress=False)
    assert "\n" not in str(caught.value)
    with pytest.raises(InputError, match="one channel count"):
        sifid_pair(gray_sets["real"], np.repeat(to8(gray_sets["real"]), 3, axis=2))


def test_ssim_any_depth_and_channels(gray_sets):
    real = gray_sets["real"]
    assert ssim(real, real) == pytest.approx(1.0)
    assert ssim(real, to8(real)) > 0.99  # the same picture at 8 bits
    assert ssim(real, gray_sets["images"][1]) < 0.9
    two = np.concatenate([real, real], axis=2)
    assert ssim(two, two) == pytest.approx(1.0)


def test_privacy_audit_of_gray_16_bit_sets(gray_sets, tmp_path):
    (tmp_path / "held").mkdir()
    Image.fromarray(gray16(2)[..., 0]).save(tmp_path / "held" / "other.png")
    audit = privacy_audit(gray_sets["samples16"], gray_sets["root"] / "folder", tmp_path / "held", progress=False)
    assert audit.distances[0, 0] < 1e-3 and audit.ssim[0, 0] == pytest.approx(1.0)  # sample 0 copies the real image
    assert audit.distances[1, 0] > audit.distances[0, 0] and audit.ssim[1, 0] < 0.9
    assert audit.memorisation == 1.0  # both are closer to the real image than the held-out one is


def test_report_of_a_gray_16_bit_multi_class_set(gray_sets, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = evaluate_samples(gray_sets["samples16"], gray_sets["root"] / "folder", with_fid=False,
                                      progress=False)
    html_path, json_path = write_report(evaluation, tmp_path / "report.html")
    page = html_path.read_text()
    assert "Per class" in page and "background:#e6194b" in page and "cup" in page  # legend in class colours
    assert CHANNELS_RULE in page
    numbers = json.loads(json_path.read_text())
    assert numbers["modality"]["bit_depth"] == 16 and numbers["modality"]["mask"] == "labels"
    assert numbers["masks"]["classes"]["disc"]["wasserstein_pct"] == pytest.approx(12.5)
    assert abs(numbers["sifid"]["values"][evaluation.samples.stems[0]]) < 1e-4


@pytest.mark.slow
def test_two_channel_fid_is_the_mean_of_per_channel_fids(tmp_path, gray_sets):
    """FID of 2-channel sets = the mean of the FIDs of each channel's gray sets (computed from gray folders)."""
    rng = np.random.default_rng(5)
    sets = [np.stack([np.concatenate([gray16(i), noisy16(gray16(i + 1), sd, i)], axis=2) for i in range(2)])
            for sd in (500, 8000)]
    dirs = [write_dir(tmp_path / f"set{k}", x, rng.integers(0, 2, (2, SIZE, SIZE)).astype(bool), Modality(2, 16))
            for k, x in enumerate(sets)]
    result = fid(*dirs, progress=False)
    singles = []
    for c in range(2):
        folders = []
        for k, x in enumerate(sets):
            folder = tmp_path / f"gray{k}_{c}"
            folder.mkdir()
            for i, image in enumerate(x):
                Image.fromarray(image[..., c]).save(folder / f"{i}.png")
            folders.append(folder)
        singles.append(fid(*folders, progress=False).value)
    assert result.channel_values == pytest.approx(singles, rel=1e-6)
    assert result.value == pytest.approx(np.mean(singles), rel=1e-9) and singles[1] > singles[0] > 0
    assert result.to_dict()["channels_rule"] == CHANNELS_RULE
