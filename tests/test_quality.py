"""Per-source sample quality figures on inputs whose answers are known."""

import numpy as np
import pytest

from singan_seg.data.modality import MaskClass, Modality
from singan_seg.errors import InputError
from singan_seg.evaluate.quality import diversity, mask_fit, mask_shape, mean_pairwise_l1, memorisation


def test_diversity_and_pairwise_l1_known_values():
    real = np.zeros((8, 8, 3), np.uint8)
    real[::2] = 255  # pixel std 127.5
    opposite = np.stack([np.zeros_like(real), np.full_like(real, 255)])  # per-pixel std over samples 127.5
    assert diversity(opposite, real) == pytest.approx(1.0)
    assert mean_pairwise_l1(opposite) == pytest.approx(1.0)
    same = np.stack([real, real, real])
    assert diversity(same, real) == 0 and mean_pairwise_l1(same) == 0
    with pytest.raises(InputError, match="should match in size"):
        diversity(opposite, real[:4])


def test_mask_shape_counts_components_speckles_and_holes():
    mask = np.zeros((40, 40), bool)
    mask[2:12, 2:12] = True  # a square
    mask[20:35, 20:35] = True
    mask[25:28, 25:28] = False  # a ring: one hole
    mask[2:4, 30:32] = True  # a 4-px speckle
    shape = mask_shape(mask, speckle_px=16)
    assert (shape.components, shape.speckles, shape.holes) == (3, 1, 1)
    assert shape.foreground_pct == pytest.approx(100 * mask.mean())
    fit = mask_fit(np.stack([mask, mask[:, ::-1]]), mask, speckle_px=16)
    assert fit["components"] == 3 and fit["holes"] == 1 and fit["component_excess"] == 0
    assert fit["speckle_fraction"] == pytest.approx(2 / 6)
    assert fit["empty_fraction"] == 0
    assert mask_fit(np.stack([mask, np.zeros_like(mask)]), mask)["empty_fraction"] == 0.5


def test_memorisation_finds_a_copied_half_at_its_offset():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (60, 70, 3), dtype=np.uint8)
    sample = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    sample[:, :24] = real[5:45, 8:32]  # left half pasted from the real image at offset (+5, +8)
    result = memorisation(sample, real)
    assert result.largest_copy_offset == (5, 8)
    assert result.largest_copy_fraction == pytest.approx(0.5)
    assert 0.3 < result.copied_patch_fraction < 0.5  # patches straddling the seam are not copies
    whole = memorisation(real, real)
    assert whole.largest_copy_fraction == pytest.approx(1.0) and whole.copied_patch_fraction == 1.0
    fresh = memorisation(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), real)
    assert fresh.largest_copy_fraction == 0 and fresh.copied_patch_fraction == 0


def test_flat_areas_are_not_copies():
    rng = np.random.default_rng(1)
    real = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    real[:, :20] = 0  # a black border, as endoscopy frames have
    sample = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    sample[:, 28:] = 0  # black too, elsewhere: equal pixels, but nothing was copied
    result = memorisation(sample, real)
    assert result.largest_copy_fraction == 0 and result.copied_patch_fraction == 0


THREE_CLASSES = Modality(1, 16, (MaskClass("background", 0), MaskClass("disc", 1), MaskClass("cup", 2)))


def test_diversity_and_pairwise_l1_at_16_bits_and_any_channel_count():
    rng = np.random.default_rng(2)
    samples8 = rng.integers(0, 256, (3, 8, 8, 2), dtype=np.uint8)  # two channels
    samples16 = samples8.astype(np.uint16) * 257
    assert diversity(samples16, samples16[0]) == pytest.approx(diversity(samples8, samples8[0]))
    assert mean_pairwise_l1(samples16) == pytest.approx(mean_pairwise_l1(samples8))  # 0..1 of the full range
    opposite = np.stack([np.zeros((4, 4, 1), np.uint16), np.full((4, 4, 1), 65535, np.uint16)])
    assert mean_pairwise_l1(opposite) == pytest.approx(1.0)


def test_mask_fit_per_class_and_overall():
    mask = np.zeros((40, 40), np.uint8)
    mask[2:12, 2:12] = 1  # disc
    mask[2:12, 12:20] = 2  # cup touching the disc: one foreground component, one per class
    mask[20:35, 20:35] = 2  # cup ring: one hole
    mask[25:28, 25:28] = 0
    mask[2:4, 30:32] = 2  # a 4-px cup speckle
    lost_disc = mask.copy()
    lost_disc[mask == 1] = 0
    fit = mask_fit(np.stack([mask, lost_disc]), mask, speckle_px=16, modality=THREE_CLASSES)
    assert (fit["real_components"], fit["real_holes"]) == (3, 1)  # foreground: disc+cup, ring, speckle
    assert fit["components"] == 3 and fit["empty_fraction"] == 0
    disc, cup = fit["classes"]["disc"], fit["classes"]["cup"]
    assert (disc["real_components"], disc["empty_fraction"], disc["components"]) == (1, 0.5, 0.5)
    assert (cup["real_components"], cup["real_holes"], cup["components"]) == (3, 1, 3)
    assert cup["speckle_fraction"] == pytest.approx(2 / 6) and cup["component_excess"] == 0
    assert disc["foreground_pct"] == pytest.approx(100 * 100 / 1600 / 2)
    foreground = mask_fit(np.stack([mask, lost_disc]) != 0, mask != 0, speckle_px=16)  # the binary figures
    assert {k: v for k, v in fit.items() if k != "classes"} == foreground


def test_memorisation_at_16_bits_with_two_channels():
    """The copy tolerance is 8/255 of the full range: noise of +-1000 at 16 bits (under 4/255) is still a copy."""
    rng = np.random.default_rng(3)
    real = rng.integers(0, 65536, (60, 70, 2)).astype(np.uint16)
    sample = rng.integers(0, 65536, (40, 48, 2)).astype(np.uint16)
    sample[:, :24] = np.clip(real[5:45, 8:32] + rng.integers(-1000, 1001, (40, 24, 2)), 0, 65535)
    result = memorisation(sample, real)
    assert result.largest_copy_offset == (5, 8) and result.largest_copy_fraction == pytest.approx(0.5)
    assert 0.3 < result.copied_patch_fraction < 0.5
    with pytest.raises(InputError, match="different bit depths"):
        memorisation(sample, (real // 257).astype(np.uint8))
    with pytest.raises(InputError, match="one channel count"):
        memorisation(sample, real[..., :1])
