"""Privacy audit: copies are found, memorisation and AUC are computed as defined."""

import numpy as np
import pytest

from singan_seg.evaluate import membership_auc, privacy_audit
from singan_seg.evaluate.privacy import nearest


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    member, nonmember = rng.normal(0, 1, 30), rng.normal(0.7, 1, 40)
    member[:3] = nonmember[:3]  # ties count one half
    brute = np.mean([(m < n) + 0.5 * (m == n) for m in member for n in nonmember])
    assert membership_auc(member, nonmember) == pytest.approx(brute)
    assert membership_auc(np.zeros(5), np.ones(5)) == 1.0


def test_nearest():
    reference = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 3.0]])
    order, dist = nearest(np.array([[9.0, 0.0], [0.0, 2.0]]), reference, k=2)
    np.testing.assert_array_equal(order, [[1, 0], [2, 0]])
    np.testing.assert_allclose(dist, [[1, 9], [1, 2]])


def test_copies_are_flagged(phantom_sets):
    audit = privacy_audit(phantom_sets["samples"], phantom_sets["train"], phantom_sets["held"], progress=False)
    assert audit.neighbours[0, 0] == 0 and audit.neighbours[1, 0] == 1  # exact copies of p0 and p1
    assert audit.distances[0, 0] < 1e-3 and audit.ssim[0, 0] == pytest.approx(1.0)
    assert audit.memorisation >= 0.5  # at least the two copies are closer than any held-out image
    assert 0.5 < audit.auc <= 1.0
    numbers = audit.to_dict()
    assert numbers["closest_pairs"][0]["train"] in {"p0", "p1"}
    assert len(audit.heldout_distances) == 3
