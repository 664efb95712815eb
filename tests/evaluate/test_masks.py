"""Mask statistics: 5 % bins, mean/sd images, distances."""

import numpy as np
import pytest

from singan_seg.evaluate import mask_statistics
from singan_seg.evaluate.masks import histogram, mean_sd_masks, true_pixel_percentages


def test_percentages_and_bins():
    quarter = np.zeros((20, 20), bool)
    quarter[:10, :10] = True
    full, empty = np.ones((20, 20), bool), np.zeros((20, 20), bool)
    pct = true_pixel_percentages([quarter, full, empty])
    np.testing.assert_allclose(pct, [25, 100, 0])
    counts = histogram(pct)
    assert len(counts) == 20 and counts[5] == 1 and counts[19] == 1 and counts[0] == 1  # 25 % -> [25, 30)


def test_mean_and_sd_masks():
    a, b = np.zeros((4, 4), bool), np.ones((4, 4), bool)
    mean, sd = mean_sd_masks([a, b])
    np.testing.assert_allclose(mean, 0.5)
    np.testing.assert_allclose(sd, 0.5)
    mean, _ = mean_sd_masks([a, np.ones((8, 8), bool)], size=(4, 4))  # resized to a common size
    assert mean.shape == (4, 4)


def test_real_vs_synthetic(phantom_sets):
    same = mask_statistics(phantom_sets["train"], phantom_sets["train"])
    assert same.wasserstein_pct == 0 and same.hist_total_variation == 0
    stats = mask_statistics(phantom_sets["samples"], phantom_sets["train"]).to_dict()
    assert stats["synthetic"]["n"] == 4 and stats["real"]["n"] == 3
    assert sum(stats["synthetic"]["histogram"]) == 4 and len(stats["bin_edges_pct"]) == 21
    assert stats["wasserstein_pct"] >= 0
    assert stats["real"]["mean_pct"] == pytest.approx(
        np.mean([100 * p.mask.mean() for p in phantom_sets["pairs"][:3]]))
