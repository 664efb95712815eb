"""Gatys optimisation on a random-init VGG19 and small images: loss goes down, ratio matters, sizes kept."""

import numpy as np
import torch

from singan_seg.style import transfer_style
from singan_seg.style.gatys import gatys_transfer
from singan_seg.style.metrics import gram_distance
from singan_seg.style.transfer import _to_tensor

STEPS = 15


def test_style_loss_decreases(vgg, contents, style_image):
    content = _to_tensor(contents[0][0], torch.device("cpu"))
    style = torch.nn.functional.interpolate(_to_tensor(style_image, torch.device("cpu")), size=content.shape[-2:])
    result = gatys_transfer(vgg, content, style, 1.0, 1000.0, steps=STEPS)
    assert len(result.style_losses) == STEPS
    assert result.style_losses[-1] < 0.5 * result.style_losses[0]
    assert result.image.shape == content.shape and 0 <= result.image.min() and result.image.max() <= 1


def test_ratio_1_1000_moves_gram_closer_than_1_1(vgg, contents, style_image):
    image = contents[0][0]
    before = gram_distance(vgg, image, style_image)
    after = {ratio: gram_distance(vgg, transfer_style(image, style_image, ratio=ratio, steps=STEPS, backbone=vgg,
                                                      device="cpu"), style_image)
             for ratio in ("1:1", "1:1000")}
    assert after["1:1000"] < after["1:1"] <= before
    assert after["1:1000"] < 0.5 * before


def test_output_size_and_determinism(vgg, contents, style_image):
    images = np.stack([image for image, _ in contents[:2]])
    first = transfer_style(images, style_image, steps=3, backbone=vgg, device="cpu", seed=1)
    again = transfer_style(images, style_image, steps=3, backbone=vgg, device="cpu", seed=1)
    assert first.shape == images.shape and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, images)


def test_list_of_different_sizes(vgg, contents, style_image):
    small = contents[0][0][:32, :40]
    out = transfer_style([contents[1][0], small], style_image, steps=2, backbone=vgg, device="cpu")
    assert isinstance(out, list) and [o.shape for o in out] == [contents[1][0].shape, small.shape]
