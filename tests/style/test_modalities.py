"""Style transfer beyond RGB 8-bit: gray 16-bit and 2-channel samples dirs, gatys on gray, refusals, metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from singan_seg.data.images import read_pixels
from singan_seg.data.modality import MaskClass, Modality
from singan_seg.data.samples_dir import (read_manifest, read_samples_modality, write_manifest, write_modality_file,
                                         write_pair_files)
from singan_seg.errors import InputError
from singan_seg.style import style_samples_dir, transfer_style
from singan_seg.style.fast import match_colour
from singan_seg.style.metrics import colour_distance, gram_distance, histogram_distance

GRAY16_LABELS = Modality(channels=1, bit_depth=16,
                         classes=(MaskClass("background", 0), MaskClass("lesion", 1), MaskClass("rim", 2)))
TWO_CHANNELS = Modality(channels=2, bit_depth=8)


def _gray16(rgb: np.ndarray) -> np.ndarray:
    """A narrow-range 16-bit gray image (20000..30200) from an 8-bit RGB one: far from the style's histogram."""
    gray = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return (20000 + gray * 40).round().astype(np.uint16)[:, :, None]


def _write_samples(directory: Path, items: list[tuple[np.ndarray, np.ndarray]], modality: Modality) -> Path:
    rows = []
    for i, (image, mask) in enumerate(items):
        row = write_pair_files(directory, f"s{i}", image, mask, None, modality)
        row.update({"source_id": "phantom", "seed": "0", "start_scale": "0", "method": "singan-seg"})
        rows.append(row)
    write_manifest(directory / "manifest.csv", rows)
    write_modality_file(directory, modality)
    return directory


@pytest.fixture()
def gray16_dir(tmp_path, contents) -> Path:
    items = []
    for rgb, mask in contents[:2]:
        labels = mask.astype(np.uint8)
        labels[:4] = 2  # a third class, so the mask file holds label values 0/1/2
        items.append((_gray16(rgb), labels))
    return _write_samples(tmp_path / "gray16", items, GRAY16_LABELS)


@pytest.fixture()
def gray16_style(tmp_path) -> tuple[Path, np.ndarray]:
    """A high-contrast bimodal 16-bit stripe texture, saved as a 16-bit gray PNG (mode I;16)."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:60, 0:80]
    stripes = np.sin(x / 2.0 + y / 3.0) > 0
    image = (np.where(stripes, 58000, 4000) + rng.normal(0, 1500, (60, 80))).clip(0, 65535).astype(np.uint16)
    path = tmp_path / "real16.png"
    Image.fromarray(image).save(path)
    return path, image[:, :, None]


@pytest.fixture()
def two_channel_dir(tmp_path, contents) -> Path:
    return _write_samples(tmp_path / "two", [(rgb[..., :2], mask) for rgb, mask in contents[:2]], TWO_CHANNELS)


def _one_line_error(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_fast_gray16_keeps_modality_and_moves_histogram(tmp_path, gray16_dir, gray16_style):
    style_path, style = gray16_style
    out = style_samples_dir(gray16_dir, style_path, tmp_path / "styled", method="fast", progress=False)
    assert read_samples_modality(out) == GRAY16_LABELS and (out / "modality.json").is_file()
    for old, new in zip(read_manifest(gray16_dir), read_manifest(out, verify=True)):
        assert new["image"] == old["image"] and new["image"].endswith(".png")
        assert new["style_image"] == style_path.name  # no host folder in a shareable manifest
        assert (out / new["mask"]).read_bytes() == (gray16_dir / old["mask"]).read_bytes()
        with Image.open(out / new["image"]) as img:
            assert img.mode == "I;16"
        styled, _ = read_pixels(out / new["image"])
        original, _ = read_pixels(gray16_dir / old["image"])
        assert styled.dtype == np.uint16 and styled.shape == original.shape
        assert len(np.unique(styled)) > 256  # kept 16-bit precision, not squeezed through 8 bits
        before, after = histogram_distance(original, style), histogram_distance(styled, style)
        assert after < 0.2 * before, (before, after)
        assert colour_distance(styled, style) < 0.2 * colour_distance(original, style)


def test_rgb8_style_image_is_read_at_the_samples_modality(tmp_path, gray16_dir, style_image):
    path = tmp_path / "real_rgb.png"
    Image.fromarray(style_image).save(path)
    out = style_samples_dir(gray16_dir, path, tmp_path / "styled", method="fast", progress=False)
    styled, _ = read_pixels(out / read_manifest(out)[0]["image"])
    assert styled.dtype == np.uint16 and styled.ndim == 2
    luminance = style_image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) * 257  # 8-bit gray x 257
    assert abs(styled.mean() - luminance.mean()) < 0.02 * 65535


def test_fast_two_channels_writes_tiff_and_matches_channel_means(tmp_path, two_channel_dir, contents):
    style = np.stack([np.full((30, 40), 200, np.uint8), np.tile(np.arange(40, dtype=np.uint8) * 5, (30, 1))], -1)
    tifffile.imwrite(tmp_path / "real2.tif", style, photometric="minisblack", planarconfig="contig")
    out = style_samples_dir(two_channel_dir, tmp_path / "real2.tif", tmp_path / "styled", method="fast", steps=0,
                            progress=False)
    row = read_manifest(out, verify=True)[0]
    styled, _ = read_pixels(out / row["image"])
    assert row["image"].endswith(".tif") and styled.shape == (*contents[0][0].shape[:2], 2)
    assert styled.dtype == np.uint8 and read_samples_modality(out) == TWO_CHANNELS
    np.testing.assert_allclose(styled.reshape(-1, 2).mean(0), style.reshape(-1, 2).mean(0), atol=3)


def test_match_colour_any_channel_count():
    gen = torch.Generator().manual_seed(3)
    for channels in (1, 5):
        content = torch.rand(1, channels, 20, 30, generator=gen) * 0.4 + 0.3
        mixing = torch.rand(channels, channels, generator=gen) * 0.2  # correlated style channels
        style = (torch.einsum("cd,bdhw->bchw", mixing, torch.rand(1, channels, 25, 15, generator=gen))
                 + 0.2).clamp(0, 1)
        out = match_colour(content, style)
        flat_o, flat_s = out.reshape(channels, -1).double(), style.reshape(channels, -1).double()
        torch.testing.assert_close(flat_o.mean(1), flat_s.mean(1), atol=1e-4, rtol=0)
        cov_o, cov_s = (torch.cov(f).reshape(channels, channels) for f in (flat_o, flat_s))
        torch.testing.assert_close(cov_o, cov_s, atol=1e-4, rtol=0)


def test_gatys_on_gray16_with_efficientnet_lite0(tmp_path, gray16_dir, gray16_style):
    out = style_samples_dir(gray16_dir, gray16_style[0], tmp_path / "gatys", steps=3, backbone="efficientnet-lite0",
                            device="cpu", progress=False)
    for old, new in zip(read_manifest(gray16_dir), read_manifest(out, verify=True)):
        assert new["style_backbone"] == "efficientnet-lite0"
        styled, _ = read_pixels(out / new["image"])
        original, _ = read_pixels(gray16_dir / old["image"])
        assert styled.dtype == np.uint16 and styled.shape == original.shape
        assert not np.array_equal(styled, original)
        assert (out / new["mask"]).read_bytes() == (gray16_dir / old["mask"]).read_bytes()


def test_gatys_refuses_two_channels_in_one_line(tmp_path, two_channel_dir):
    style = tmp_path / "real2.tif"
    tifffile.imwrite(style, np.zeros((20, 20, 2), np.uint8), photometric="minisblack", planarconfig="contig")
    with pytest.raises(InputError) as exc_info:
        style_samples_dir(two_channel_dir, style, tmp_path / "styled", method="gatys", progress=False)
    text = _one_line_error(exc_info)
    assert "2 channels" in text and "--method fast" in text and str(two_channel_dir) in text
    assert not (tmp_path / "styled").exists()
    with pytest.raises(InputError, match="--method fast"):
        transfer_style(np.zeros((8, 8, 2), np.uint8), np.zeros((8, 8, 2), np.uint8), method="gatys")


def test_unconvertible_style_image_is_one_line_naming_it(tmp_path, two_channel_dir, style_image):
    path = tmp_path / "real_rgb.png"
    Image.fromarray(style_image).save(path)
    with pytest.raises(InputError) as exc_info:
        style_samples_dir(two_channel_dir, path, tmp_path / "styled", method="fast", progress=False)
    text = _one_line_error(exc_info)
    assert text.startswith(str(path)) and "2-channel 8-bit" in text and "3 channels" in text
    assert not (tmp_path / "styled").exists()


def test_metrics_accept_any_channels_and_bit_depth(vgg, contents, style_image):
    image = contents[0][0]
    for metric in (colour_distance, histogram_distance):  # 16-bit values are measured in 0..255 units
        assert metric(image.astype(np.uint16) * 257, style_image.astype(np.uint16) * 257) == pytest.approx(
            metric(image, style_image))
    two, two_style = image[..., :2], style_image[..., :2]
    assert gram_distance(vgg, two, two) == pytest.approx(0, abs=1e-9)
    assert gram_distance(vgg, two, two_style) > 0 and colour_distance(two, two_style) > 0
    gray, gray_style = image[..., :1], style_image[..., :1]
    # a gray image is seen by the network as gray replicated to RGB
    expected = gram_distance(vgg, np.repeat(gray, 3, axis=2), np.repeat(gray_style, 3, axis=2))
    assert gram_distance(vgg, gray, gray_style) == pytest.approx(expected)
    with pytest.raises(ValueError, match="channels"):
        colour_distance(image, gray_style)


def test_gatys_sees_gray_as_rgb_and_returns_the_channel_mean(monkeypatch, vgg):
    from singan_seg.style import transfer
    from singan_seg.style.gatys import GatysResult

    seen = {}

    def fake_gatys(backbone, content, style, *args, **kwargs):
        seen["content"], seen["style"] = content, style
        rgb = torch.tensor([0.1, 0.4, 0.7]).view(1, 3, 1, 1).expand_as(content).clone()
        return GatysResult(image=rgb)

    monkeypatch.setattr(transfer, "gatys_transfer", fake_gatys)
    gray = np.full((6, 7, 1), 13107, np.uint16)  # 0.2 of 16 bits
    out = transfer_style(gray, np.full((5, 5, 1), 65535, np.uint16), steps=1, backbone=vgg, device="cpu")
    assert seen["content"].shape == (1, 3, 6, 7) and seen["style"].shape == (1, 3, 6, 7)
    torch.testing.assert_close(seen["content"], torch.full((1, 3, 6, 7), 0.2))
    assert out.shape == gray.shape and out.dtype == np.uint16
    assert np.all(out == 26214)  # mean(0.1, 0.4, 0.7) = 0.4 of 65535


@pytest.mark.parametrize("name, modality, expected", [
    ("images/a.png", Modality(), "images/a.png"),  # what generate writes: unchanged
    ("images/a.jpg", Modality(), "images/a.png"),  # hand-made: PNG bytes get a .png name
    ("images/a.png", Modality(channels=3, bit_depth=16), "images/a.tif"),  # PNG cannot hold it as written
    ("images/a.tiff", TWO_CHANNELS, "images/a.tiff"),
])
def test_styled_image_names_agree_with_their_bytes(name, modality, expected):
    from singan_seg.style.transfer import _styled_image_name

    assert _styled_image_name(name, modality) == expected
