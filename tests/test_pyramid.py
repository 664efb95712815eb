import math

import pytest

from singan_seg import InputError, compute_pyramid


@pytest.mark.parametrize("height,width", [(530, 622), (622, 530), (1072, 1920), (332, 487), (400, 400), (250, 1000)])
def test_pyramid_follows_singan_rules(height, width):
    p = compute_pyramid(height, width, max_size=250, min_size=25, scale_factor=0.75)
    fh, fw = p.finest
    assert max(fh, fw) == 250  # longest side at max_size
    assert abs(fh / fw - height / width) < 0.01  # aspect ratio kept
    assert min(p.shapes[0]) == 25  # coarsest shortest side is exactly min_size
    for (h0, w0), (h1, w1) in zip(p.shapes, p.shapes[1:]):  # strictly growing, by about the scale factor
        assert h1 > h0 and w1 > w0
        assert 0.6 < h0 / h1 < 0.9
    # number of scales, recomputed from SinGAN's formulas
    num = math.ceil(math.log(25 / min(height, width)) / math.log(0.75)) + 1
    stop = num - math.ceil(math.log(250 / max(height, width)) / math.log(0.75))
    assert p.num_scales == stop + 1
    assert p.scale_factor == pytest.approx((25 / min(fh, fw)) ** (1 / stop))  # adjusted to hit min_size


def test_kvasir_like_image_gives_about_nine_scales():
    assert compute_pyramid(530, 622, 250, 25, 0.75).num_scales in (9, 10)


def test_small_image_is_not_enlarged():
    p = compute_pyramid(100, 120, max_size=250, min_size=25, scale_factor=0.75)
    assert p.finest == (100, 120)
    assert min(p.shapes[0]) == 25


def test_max_size_option_changes_finest():
    assert max(compute_pyramid(530, 622, 128, 25, 0.75).finest) == 128


@pytest.mark.parametrize("height,width,max_size", [(20, 30, 250), (40, 2000, 250)])
def test_image_smaller_than_coarsest_scale_is_refused(height, width, max_size):
    with pytest.raises(InputError, match="min_size"):
        compute_pyramid(height, width, max_size, 25, 0.75)
