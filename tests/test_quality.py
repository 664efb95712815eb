"""Per-source sample quality figures on inputs whose answers are known."""

import numpy as np
import pytest

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
