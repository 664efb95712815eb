"""SIFID: zero for the same image, rising with noise, pairing by source_id, both layer variants."""

import numpy as np
import pytest
import skimage.data

from singan_seg.errors import InputError
from singan_seg.evaluate import sifid, sifid_pair

from .conftest import noisy


def test_same_image_is_zero_and_noise_raises_it(extractor):
    image = skimage.data.chelsea()[:160, :200]
    assert abs(sifid_pair(image, image, extractor)) < 1e-6
    values = [sifid_pair(image, noisy(image, sd), extractor) for sd in (5, 20, 60)]
    assert 0 < values[0] < values[1] < values[2]
    assert 0 < sifid_pair(image, noisy(image, 20), extractor, channels=64) != pytest.approx(values[1])


def test_native_resolution_different_sizes(extractor):
    """Images of different sizes are compared at their own resolution: two crops of one photo score far closer
    than the same crop against another photo of the other crop's size."""
    image, other = skimage.data.chelsea(), skimage.data.astronaut()
    same_source = sifid_pair(image[:150, :150], image[:200, :260], extractor)
    other_source = sifid_pair(image[:150, :150], other[:200, :260], extractor)
    assert 0 < same_source < 0.5 * other_source, (same_source, other_source)


def test_samples_dir_against_real_folder(phantom_sets):
    result = sifid(phantom_sets["samples"], phantom_sets["train"], progress=False)
    values = list(result.values.values())
    assert len(values) == 4 and set(result.sources.values()) == {"p0"}
    assert abs(values[0]) < 1e-6  # sample 0 is a copy of p0
    assert values[2] > 0 and result.mean == pytest.approx(np.mean(values))
    assert result.sd == pytest.approx(np.std(values))
    single = sifid(phantom_sets["samples"], phantom_sets["train"] / "images" / "p0.png", channels=64, progress=False)
    assert single.channels == 64 and abs(list(single.values.values())[0]) < 1e-6


def test_missing_source_and_bad_channels(phantom_sets):
    with pytest.raises(InputError, match="no real image with stem 'p0'"):
        sifid(phantom_sets["samples"], phantom_sets["held"], progress=False)
    with pytest.raises(InputError, match="channels"):
        sifid(phantom_sets["samples"], phantom_sets["train"], channels=128, progress=False)
