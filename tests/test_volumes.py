"""2D slices from NIfTI volumes (data/volumes.py, `singan-seg data nifti`): selection, windowing, orientation,
label values, one-line errors, and that the written pairs load as 1-channel 16-bit pairs with classes."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
from PIL import Image

from singan_seg.data import load_pair, parse_classes
from singan_seg.errors import InputError, OutputExistsError

from .conftest import run_cli

nib = pytest.importorskip("nibabel")
from singan_seg.data.volumes import nifti_slices  # noqa: E402  (after the skip: nothing to test without nibabel)

SHAPE = (32, 32, 12)
CENTRE = (16, 16, 6)
FOREGROUND = list(range(2, 11))  # a sphere of radius 4 around z = 6 touches slices 2..10
MARK = (5, 7, 6)  # a voxel with known intensities, away from the sphere
# voxel value -> 16-bit output under the window (-160, 240): round((clip(v) + 160) / 400 * 65535)
WINDOWED = {-1000.0: 0, -160.0: 0, 0.0: 26214, 90.0: 40959, 240.0: 65535, 1000.0: 65535}


def make_volumes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy CT-like intensity volume (int16) and a sphere label (1 outside, 2 in the core) on a 32x32x12 grid."""
    rng = np.random.default_rng(seed)
    image = np.round(rng.normal(40, 30, SHAPE)).astype(np.int16)
    grid = np.indices(SHAPE)
    distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, CENTRE)))
    labels = np.zeros(SHAPE, np.uint8)
    labels[distance <= 4] = 1
    labels[distance <= 2] = 2
    return image, labels


def save(path, data, affine=None):
    nib.Nifti1Image(data, np.diag([0.8, 0.8, 2.5, 1.0]) if affine is None else affine).to_filename(path)
    return path


@pytest.fixture()
def volumes(tmp_path):
    image, labels = make_volumes()
    return save(tmp_path / "case_01.nii.gz", image), save(tmp_path / "case_01_seg.nii.gz", labels)


def read_png(path):
    return np.asarray(Image.open(path))


def one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_foreground_slices_and_files(tmp_path, volumes):
    out = nifti_slices(*volumes, tmp_path / "out", window=(-160, 240))
    names = sorted(p.name for p in (out / "images").iterdir())
    assert names == [f"case_01_z{z:03d}.png" for z in FOREGROUND]
    assert sorted(p.name for p in (out / "masks").iterdir()) == names
    rows = list(csv.DictReader(open(out / "slices.csv")))
    assert [int(r["slice"]) for r in rows] == FOREGROUND
    centre = rows[FOREGROUND.index(6)]
    mask = read_png(out / centre["mask"])
    assert int(centre["label_1_pixels"]) == np.count_nonzero(mask == 1) > 0
    assert int(centre["label_2_pixels"]) == np.count_nonzero(mask == 2) > 0
    assert float(centre["foreground_fraction"]) == pytest.approx(np.count_nonzero(mask) / mask.size, abs=1e-6)
    info = json.loads((out / "volume.json").read_text())
    assert info["slices"] == FOREGROUND and info["labels"] == [0, 1, 2]
    assert info["shape"] == list(SHAPE) and info["voxel_size"] == pytest.approx([0.8, 0.8, 2.5])
    assert info["source_orientation"] == "RAS" and info["plane"] == "axial"
    assert info["window"]["rule"] == "given" and (info["window"]["low"], info["window"]["high"]) == (-160.0, 240.0)
    assert len(info["image"]["sha256"]) == 64 and info["label"]["name"] == "case_01_seg.nii.gz"


def test_window_maps_known_values_to_known_outputs(tmp_path):
    image, labels = make_volumes()
    marks = list(WINDOWED)
    for i, value in enumerate(marks):  # a row of known voxels on slice 6, y = 7
        image[MARK[0] + i, MARK[1], MARK[2]] = value
    out = nifti_slices(save(tmp_path / "ct.nii.gz", image), save(tmp_path / "seg.nii.gz", labels), tmp_path / "o",
                       window=(-160, 240))
    pixels = read_png(out / "images" / "ct_z006.png")
    assert pixels.dtype == np.uint16 and pixels.shape == (32, 32)
    # radiological view of a RAS slice: voxel (x, y) -> row Y-1-y, column X-1-x
    got = [int(pixels[31 - MARK[1], 31 - (MARK[0] + i)]) for i in range(len(marks))]
    assert got == list(WINDOWED.values())
    mask = read_png(out / "masks" / "ct_z006.png")
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1, 2}
    assert mask[31 - CENTRE[1], 31 - CENTRE[0]] == 2 and mask[31 - CENTRE[1], 31 - CENTRE[0] - 3] == 1
    np.testing.assert_array_equal(mask, labels[:, :, 6].T[::-1, ::-1])


def test_min_max_percentile_and_8_bit_windows(tmp_path, volumes):
    image = nib.load(volumes[0]).get_fdata()
    out = nifti_slices(*volumes, tmp_path / "minmax", slices=[6])
    info = json.loads((out / "volume.json").read_text())
    assert (info["window"]["low"], info["window"]["high"]) == (image.min(), image.max())
    pixels = read_png(out / "images" / "case_01_z006.png")
    expected = np.round((image[:, :, 6].T[::-1, ::-1] - image.min()) / np.ptp(image) * 65535)
    np.testing.assert_array_equal(pixels, expected)
    out = nifti_slices(*volumes, tmp_path / "pct", slices=[6], window="percentile", bit_depth=8)
    info = json.loads((out / "volume.json").read_text())
    low, high = np.percentile(image[image != 0], [0.5, 99.5])
    assert info["window"]["low"] == pytest.approx(low) and info["window"]["high"] == pytest.approx(high)
    pixels = read_png(out / "images" / "case_01_z006.png")
    assert pixels.dtype == np.uint8
    expected = np.round((np.clip(image[:, :, 6], low, high) - low) / (high - low) * 255).T[::-1, ::-1]
    np.testing.assert_array_equal(pixels, expected)


def test_reorients_to_ras(tmp_path, volumes):
    """The same anatomy stored LPS (x and y flipped) gives the same slices as stored RAS."""
    image, labels = make_volumes()
    lps = np.diag([-0.8, -0.8, 2.5, 1.0])
    flipped = save(tmp_path / "lps_01.nii.gz", image[::-1, ::-1].copy(), lps)
    flipped_labels = save(tmp_path / "lps_seg.nii.gz", labels[::-1, ::-1].copy(), lps)
    a = nifti_slices(*volumes, tmp_path / "ras", window=(-160, 240))
    b = nifti_slices(flipped, flipped_labels, tmp_path / "lps", window=(-160, 240))
    assert json.loads((b / "volume.json").read_text())["source_orientation"] == "LPS"
    for z in FOREGROUND:
        for sub in ("images", "masks"):
            np.testing.assert_array_equal(read_png(a / sub / f"case_01_z{z:03d}.png"),
                                          read_png(b / sub / f"lps_01_z{z:03d}.png"))


def test_other_axis_and_float_and_16_bit_labels(tmp_path):
    image, labels = make_volumes()
    labels = labels.astype(np.float32)
    labels[labels == 2] = 300.0  # integral floats are accepted; a label > 255 makes 16-bit masks
    out = nifti_slices(save(tmp_path / "i.nii", image), save(tmp_path / "l.nii", labels), tmp_path / "o", axis=0)
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"i_x{x:03d}.png" for x in range(12, 21)]
    mask = read_png(out / "masks" / "i_x016.png")
    assert mask.dtype == np.uint16 and set(np.unique(mask)) == {0, 1, 300}
    assert mask.shape == (12, 32)  # sagittal: rows = z (superior at top), columns = y (anterior on the left)
    assert json.loads((out / "volume.json").read_text())["labels"] == [0, 1, 300]


def test_written_pair_loads_as_gray_16_bit_with_classes(tmp_path, volumes, capsys):
    out = tmp_path / "out"
    code, err = run_cli("data", "nifti", *volumes, "--out", out, "--window", "-160,240", capsys=capsys)
    assert code == 0, err
    assert "wrote 9 slices" in err and "-160..240" in err
    assert "--classes background=0,class1=1,class2=2" in err
    pair = load_pair(out / "images" / "case_01_z006.png", out / "masks" / "case_01_z006.png",
                     classes=parse_classes("background=0,class1=1,class2=2"))
    assert pair.image.shape == (32, 32, 1) and pair.image.dtype == np.uint16
    assert pair.modality.channels == 1 and pair.modality.bit_depth == 16 and pair.modality.num_classes == 3
    assert set(np.unique(pair.mask)) == {0, 1, 2}


def test_cli_options_and_errors(tmp_path, volumes, capsys):
    out = tmp_path / "out"
    code, err = run_cli("data", "nifti", *volumes, "--out", out, "--slice", 0, "--slice", 6, "--bit-depth", 8,
                        "--window", "percentile", capsys=capsys)
    assert code == 0, err
    assert sorted(p.name for p in (out / "images").iterdir()) == ["case_01_z000.png", "case_01_z006.png"]
    assert read_png(out / "images" / "case_01_z000.png").dtype == np.uint8
    code, err = run_cli("data", "nifti", *volumes, "--out", out, capsys=capsys)
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    code, err = run_cli("data", "nifti", *volumes, "--out", out, "--overwrite", capsys=capsys)
    assert code == 0 and len(list((out / "images").iterdir())) == len(FOREGROUND)
    code, err = run_cli("data", "nifti", *volumes, "--out", tmp_path / "x", "--window", "240,-160", capsys=capsys)
    assert code == 2 and "--window" in err and len(err.strip().splitlines()) == 1
    code, err = run_cli("data", "nifti", *volumes, "--out", tmp_path / "x", "--slice", 12, capsys=capsys)
    assert code == 2 and "out of range" in err and "0..11" in err and not (tmp_path / "x").exists()


def test_label_volume_without_foreground(tmp_path, volumes):
    empty = save(tmp_path / "empty.nii.gz", np.zeros(SHAPE, np.uint8))
    with pytest.raises(InputError) as exc:
        nifti_slices(volumes[0], empty, tmp_path / "out")
    assert "empty.nii.gz" in one_line(exc) and "no foreground" in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_mismatched_volumes(tmp_path, volumes):
    image, labels = make_volumes()
    short = save(tmp_path / "short.nii.gz", labels[:, :, :10].copy())
    with pytest.raises(InputError) as exc:
        nifti_slices(volumes[0], short, tmp_path / "out")
    assert "short.nii.gz" in one_line(exc) and "32x32x10" in str(exc.value) and "32x32x12" in str(exc.value)
    moved = save(tmp_path / "moved.nii.gz", labels, np.diag([0.8, 0.8, 3.0, 1.0]))
    with pytest.raises(InputError) as exc:
        nifti_slices(volumes[0], moved, tmp_path / "out")
    assert "moved.nii.gz" in one_line(exc) and "affine" in str(exc.value)


def test_bad_labels_slices_and_output(tmp_path, volumes):
    image, labels = make_volumes()
    halves = save(tmp_path / "halves.nii.gz", labels.astype(np.float32) / 2)
    with pytest.raises(InputError) as exc:
        nifti_slices(volumes[0], halves, tmp_path / "out")
    assert "halves.nii.gz" in one_line(exc) and "non-integer" in str(exc.value)
    with pytest.raises(InputError) as exc:
        nifti_slices(*volumes, tmp_path / "out", slices=[3, 12])
    assert "12" in one_line(exc) and "0..11" in str(exc.value)
    with pytest.raises(InputError) as exc:
        nifti_slices(*volumes, tmp_path / "out", slices=[-1])
    assert "out of range" in one_line(exc)
    with pytest.raises(InputError) as exc:
        nifti_slices(tmp_path / "missing.nii.gz", volumes[1], tmp_path / "out")
    assert "missing.nii.gz" in one_line(exc) and "not found" in str(exc.value)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(OutputExistsError):
        nifti_slices(*volumes, other, overwrite=True)  # not a slices folder: --overwrite would delete it
    assert (other / "notes.txt").read_text() == "keep me"


def test_missing_nibabel_is_one_line(tmp_path, volumes, monkeypatch):
    monkeypatch.setitem(sys.modules, "nibabel", None)  # `import nibabel` now raises ImportError
    with pytest.raises(InputError) as exc:
        nifti_slices(*volumes, tmp_path / "out")
    assert 'pip install "singan-seg[medical]"' in one_line(exc)
