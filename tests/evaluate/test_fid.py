"""Fréchet distance: analytic cases, an independent re-derivation of pytorch-fid's formula, FID behaviour."""

import warnings

import numpy as np
import pytest
import skimage.data
from scipy.ndimage import gaussian_filter

from singan_seg.errors import InputError
from singan_seg.evaluate import FewImagesWarning, fid, frechet_distance, gaussian_stats
from singan_seg.evaluate.fid import frechet_distance_features

from .conftest import noisy


def reference_frechet(mu1, s1, mu2, s2):
    """pytorch-fid's quantity (mseitzer/pytorch-fid src/pytorch_fid/fid_score.py, calculate_frechet_distance:
    ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr sqrt(S1 S2)), re-derived here with symmetric eigendecompositions:
    Tr sqrt(S1 S2) = Tr sqrt(S1^1/2 S2 S1^1/2), which is symmetric PSD."""
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())


def test_identical_statistics_give_zero():
    x = np.random.default_rng(0).normal(size=(200, 16))
    assert abs(frechet_distance(*gaussian_stats(x), *gaussian_stats(x))) < 1e-8


def test_analytic_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # = 5 + 1 + 1 + 4 = 11
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    assert expected == pytest.approx(11.0)


def test_analytic_scalar_times_full_covariance():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(5, 5))
    s2 = m @ m.T + np.eye(5)  # Tr sqrt(c I S2) = sqrt(c) Tr sqrt(S2)
    w = np.linalg.eigvalsh(s2)
    expected = 4 * 5 + np.trace(s2) - 2 * 2 * np.sqrt(w).sum()  # c = 4, mu equal
    assert frechet_distance(np.zeros(5), 4 * np.eye(5), np.zeros(5), s2) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("n1,n2,dims", [(300, 250, 32), (20, 30, 64)])
def test_matches_reference_formula_and_low_rank_form(n1, n2, dims):
    rng = np.random.default_rng(dims)
    x, y = rng.normal(size=(n1, dims)), rng.normal(0.3, 1.5, size=(n2, dims)) @ rng.normal(size=(dims, dims)) / 4
    reference = reference_frechet(*gaussian_stats(x), *gaussian_stats(y))
    assert frechet_distance(*gaussian_stats(x), *gaussian_stats(y)) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance_features(x, y) == pytest.approx(reference, rel=1e-6)


def _crops(n=4, size=150):
    image = skimage.data.chelsea()  # (300, 451, 3)
    return [image[(17 * i) % 150:(17 * i) % 150 + size, 55 * i:55 * i + size] for i in range(n)]


@pytest.mark.slow
def test_fid_on_inception_features_behaves(extractor):
    """Identical sets ~0; FID rises with blur and with noise strength; low-rank form = reference formula."""
    crops = _crops()
    base = extractor.pool_features(crops)  # (5, 2048)
    assert abs(frechet_distance_features(base, base)) < 1e-6
    def fid_to(images):
        return frechet_distance_features(base, extractor.pool_features(images))
    blur = [fid_to([np.stack([gaussian_filter(c[..., k], s) for k in range(3)], -1) for c in crops]) for s in (1, 3)]
    weak = extractor.pool_features([noisy(c, 8, i) for i, c in enumerate(crops)])
    strong = extractor.pool_features([noisy(c, 40, i) for i, c in enumerate(crops)])
    assert 0 < blur[0] < blur[1]
    assert 0 < frechet_distance_features(base, weak) < frechet_distance_features(base, strong)
    dims = np.argsort(base.var(0))[-64:]  # the reference formula on the same (real) features, 64 dims
    assert frechet_distance_features(base[:, dims], strong[:, dims]) == pytest.approx(
        reference_frechet(*gaussian_stats(base[:, dims]), *gaussian_stats(strong[:, dims])), rel=1e-5)


def test_fid_of_folders_warns_when_too_few(phantom_sets):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fid(phantom_sets["train"], phantom_sets["train"], progress=False)
    assert abs(result.value) < 1e-6 and result.n_a == 3
    assert any(issubclass(w.category, FewImagesWarning) and "2049" in str(w.message) for w in caught)


def test_fid_refuses_empty_and_single(tmp_path, phantom_sets):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        fid(tmp_path / "empty", phantom_sets["train"], progress=False)
    with pytest.raises(InputError, match="at least 2"):
        fid(phantom_sets["train"] / "images" / "p0.png", phantom_sets["train"], progress=False)
