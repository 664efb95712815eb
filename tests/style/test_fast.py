"""The fast method: exact colour moments, monotone band remapping, statistics move towards the style image."""

import numpy as np
import torch

from singan_seg.style import transfer_style
from singan_seg.style.fast import _laplacian_pyramid, match_colour, match_histograms
from singan_seg.style.metrics import colour_distance, gram_distance


def test_match_colour_gives_style_mean_and_covariance():
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 40, 50, generator=gen) * 0.5 + 0.25
    style = torch.rand(1, 3, 30, 20, generator=gen) * 0.3 + 0.1
    out = match_colour(content, style)
    flat_o, flat_s = out.reshape(3, -1).double(), style.reshape(3, -1).double()
    torch.testing.assert_close(flat_o.mean(1), flat_s.mean(1), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cov(flat_o), torch.cov(flat_s), atol=1e-4, rtol=0)


def test_match_histograms_is_monotone_and_exact():
    gen = torch.Generator().manual_seed(1)
    values, reference = torch.rand(1, 2, 8, 8, generator=gen), torch.randn(1, 2, 8, 8, generator=gen)
    out = match_histograms(values, reference)
    for c in range(2):
        torch.testing.assert_close(out[0, c].flatten().sort().values, reference[0, c].flatten().sort().values)
        assert torch.equal(out[0, c].flatten().argsort(), values[0, c].flatten().argsort())


def test_pyramid_bands_sum_back():
    from singan_seg.style.fast import _collapse

    x = torch.rand(1, 3, 37, 50)
    torch.testing.assert_close(_collapse(_laplacian_pyramid(x, 4)), x)


def test_fast_moves_statistics_towards_style(vgg, contents, style_image):
    image = contents[0][0]
    out = transfer_style(image, style_image, method="fast")
    assert out.shape == image.shape and out.dtype == np.uint8
    assert colour_distance(out, style_image) < 0.3 * colour_distance(image, style_image)
    assert gram_distance(vgg, out, style_image) < gram_distance(vgg, image, style_image)
