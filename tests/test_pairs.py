"""Input validation: every bad input gives an InputError naming the file and the problem."""


import numpy as np
import pytest
from PIL import Image

import singan_seg as ss
from singan_seg import InputError


def save(path, array, **kw):
    Image.fromarray(array).save(path, **kw)
    return path


def test_valid_pair_loads_with_checksums(phantom_files, phantom):
    pair = ss.load_pair(*phantom_files)
    assert pair.image.shape == phantom.image.shape and pair.image.dtype == np.uint8
    assert pair.mask.dtype == bool and (pair.mask == phantom.mask).all()
    assert len(pair.image_sha256) == 64 and pair.notes == []


def test_missing_file(tmp_path, phantom_files):
    with pytest.raises(InputError, match=r"nope\.png: file not found"):
        ss.load_pair(tmp_path / "nope.png", phantom_files[1])


def test_corrupt_and_truncated_images(tmp_path, phantom_files):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(InputError, match=r"junk\.png: cannot read image"):
        ss.load_pair(junk, phantom_files[1])
    data = phantom_files[0].read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.png: cannot read image"):
        ss.load_pair(cut, phantom_files[1])


def test_size_mismatch_names_both_sizes(tmp_path, phantom, phantom_files):
    small = save(tmp_path / "small_mask.png", np.zeros((50, 60), np.uint8) + 255)
    with pytest.raises(InputError, match=r"small_mask\.png: mask is 60x50 px but image\.png is 120x96 px"):
        ss.load_pair(phantom_files[0], small)


def test_empty_mask_refused_unless_allowed(tmp_path, phantom_files):
    empty = save(tmp_path / "empty.png", np.zeros((96, 120), np.uint8))
    with pytest.raises(InputError, match=r"empty\.png: mask is empty"):
        ss.load_pair(phantom_files[0], empty)
    assert not ss.load_pair(phantom_files[0], empty, allow_empty_mask=True).mask.any()


def test_full_mask_warns(tmp_path, phantom_files):
    full = save(tmp_path / "full.png", np.full((96, 120), 255, np.uint8))
    with pytest.warns(UserWarning, match="covers the whole image"):
        assert ss.load_pair(phantom_files[0], full).mask.all()


def test_jpeg_mask_noise_is_binarised_at_128(tmp_path, phantom, phantom_files):
    rgb_mask = np.repeat(np.where(phantom.mask, 255, 0).astype(np.uint8)[..., None], 3, axis=2)
    jpg = save(tmp_path / "mask.jpg", rgb_mask, quality=70)
    raw = np.asarray(Image.open(jpg).convert("L"))
    assert len(np.unique(raw)) > 2  # the compression noise this rule exists for
    pair = ss.load_pair(phantom_files[0], jpg)
    assert (pair.mask == (raw >= 128)).all()
    assert (pair.mask != phantom.mask).mean() < 0.01


def test_zero_one_label_masks_are_understood(tmp_path, phantom, phantom_files):
    labels = save(tmp_path / "labels.png", phantom.mask.astype(np.uint8))
    pair = ss.load_pair(phantom_files[0], labels)
    assert (pair.mask == phantom.mask).all()
    assert any("0/1 labels" in n for n in pair.notes)


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_colour_modes_become_rgb_with_a_note(tmp_path, phantom, phantom_files, mode):
    path = tmp_path / f"image_{mode}.png"
    Image.fromarray(phantom.image).convert(mode).save(path)
    pair = ss.load_pair(path, phantom_files[1])
    assert pair.image.shape == (96, 120, 3) and pair.image.dtype == np.uint8
    assert pair.modality == ss.RGB_BINARY
    assert pair.notes and path.name in pair.notes[0]


def test_gray_and_16_bit_images_keep_their_channels_and_depth(tmp_path, phantom, phantom_files):
    gray = np.asarray(Image.fromarray(phantom.image).convert("L"))
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    pair8 = ss.load_pair(tmp_path / "gray.png", phantom_files[1])
    pair16 = ss.load_pair(tmp_path / "gray16.png", phantom_files[1])
    assert pair8.image.shape == (96, 120, 1) and pair8.image.dtype == np.uint8 and (pair8.image[..., 0] == gray).all()
    assert pair16.image.dtype == np.uint16 and (pair16.image[..., 0] == gray.astype(np.uint16) * 257).all()
    assert (pair8.modality.channels, pair8.modality.bit_depth) == (1, 8)
    assert (pair16.modality.channels, pair16.modality.bit_depth) == (1, 16)


def test_channels_and_bit_depth_convert_as_before(tmp_path, phantom, phantom_files):
    """channels=3, bit_depth=8: what every gray or 16-bit image became before modalities (gray replicated)."""
    gray = np.asarray(Image.fromarray(phantom.image).convert("L"))
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    pair = ss.load_pair(tmp_path / "gray16.png", phantom_files[1], channels=3, bit_depth=8)
    assert pair.image.shape == (96, 120, 3) and pair.image.dtype == np.uint8
    assert (pair.image == gray[..., None]).all()  # 16 bits scaled back to the 8-bit values, not clipped
    assert any("replicated" in n for n in pair.notes) and any("8 bits" in n for n in pair.notes)
    rgb_to_gray = ss.load_pair(phantom_files[0], phantom_files[1], channels=1)
    assert np.abs(rgb_to_gray.image[..., 0].astype(int) - gray.astype(int)).max() <= 1  # Pillow's "L"


def test_sixteen_bit_mask(tmp_path, phantom, phantom_files):
    mask16 = Image.fromarray(np.where(phantom.mask, 65535, 0).astype(np.uint16))
    path = tmp_path / "mask16.png"
    mask16.save(path)
    assert (ss.load_pair(phantom_files[0], path).mask == phantom.mask).all()


def test_arrays_are_validated(phantom):
    pair = ss.pair_from_arrays(phantom.image.astype(np.float32) / 255, phantom.mask.astype(np.uint8) * 255)
    assert (pair.mask == phantom.mask).all() and pair.image.dtype == np.uint8
    with pytest.raises(InputError, match="mask is 10x10 px but image is 120x96 px"):
        ss.pair_from_arrays(phantom.image, np.ones((10, 10), bool))
    with pytest.raises(InputError, match="float images should be in"):
        ss.pair_from_arrays(phantom.image.astype(np.float32), phantom.mask)
