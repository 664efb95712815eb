"""On real Kvasir-SEG pairs (skipped where ../shared/data/kvasir-seg is absent)."""

import pytest

from singan_seg.evaluate import ImageSet, load_image_set, mask_statistics, sifid_pair

from ..conftest import KVASIR
from .conftest import noisy

pytestmark = [pytest.mark.kvasir,
              pytest.mark.skipif(not KVASIR.is_dir(), reason=f"Kvasir-SEG not found at {KVASIR}")]


def test_kvasir_layout_masks_and_sifid(extractor):
    real = load_image_set(KVASIR, check_modes=False)  # images/*.jpg with masks/*.jpg
    assert len(real) == 1000 and all(m is not None for m in real.mask_paths)
    image = real.image(0)
    assert sifid_pair(image, image, extractor) == pytest.approx(0, abs=1e-6)
    assert sifid_pair(image, noisy(image, 10), extractor) > 0
    first, second = (ImageSet(real.root, real.stems[s], real.image_paths[s], real.mask_paths[s])
                     for s in (slice(0, 5), slice(5, 10)))
    assert mask_statistics(first, first, size=(64, 64)).wasserstein_pct == 0
    stats = mask_statistics(first, second, size=(64, 64)).to_dict()
    assert 0 < stats["real"]["mean_pct"] < 100 and sum(stats["synthetic"]["histogram"]) == 5
