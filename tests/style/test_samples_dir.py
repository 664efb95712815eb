"""Styling a samples directory: masks byte-identical, sizes kept, manifest records the settings."""

import numpy as np
from PIL import Image

from singan_seg.data.samples_dir import read_manifest
from singan_seg.files import sha256_file
from singan_seg.style import style_samples_dir

STYLE_COLUMNS = ["style_method", "style_ratio", "style_steps", "style_backbone", "style_weights",
                 "style_weights_sha256", "style_image", "style_image_sha256", "style_seed", "style_device"]


def test_masks_identical_sizes_kept_manifest_complete(tmp_path, samples_dir, style_path, vgg):
    (samples_dir / "soft_masks").mkdir()
    (samples_dir / "soft_masks" / "s0.png").write_bytes(b"soft")
    out = style_samples_dir(samples_dir, style_path, tmp_path / "styled", steps=2, backbone=vgg, device="cpu",
                            progress=False)
    before, after = read_manifest(samples_dir), read_manifest(out, verify=True)
    assert [r["stem"] for r in after] == [r["stem"] for r in before]
    for old, new in zip(before, after):
        assert (out / new["mask"]).read_bytes() == (samples_dir / old["mask"]).read_bytes()
        assert new["mask_sha256"] == old["mask_sha256"]
        assert Image.open(out / new["image"]).size == Image.open(samples_dir / old["image"]).size
        assert new["image_sha256"] != old["image_sha256"]
        assert new["source_id"] == old["source_id"] == "phantom"
        assert all(new[c] for c in STYLE_COLUMNS if c != "style_weights_sha256")  # random init: no file
        assert (new["style_method"], new["style_ratio"], new["style_steps"]) == ("gatys", "1:1000", "2")
        assert new["style_backbone"] == "vgg19" and new["style_image_sha256"] == sha256_file(style_path)
    assert (out / "soft_masks" / "s0.png").read_bytes() == b"soft"


def test_fast_records_its_settings(tmp_path, samples_dir, style_path):
    out = style_samples_dir(samples_dir, style_path, tmp_path / "fast", method="fast", progress=False)
    row = read_manifest(out)[0]
    assert (row["style_method"], row["style_steps"], row["style_backbone"]) == ("fast", "1", "none")
    assert row["style_ratio"] == "n/a"
    styled = np.asarray(Image.open(out / row["image"]))
    original = np.asarray(Image.open(samples_dir / row["image"]))
    assert styled.shape == original.shape and not np.array_equal(styled, original)
