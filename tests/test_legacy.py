"""Importing original SinGAN-Seg checkpoints: only with trust_pickle, through an allow-listing unpickler."""

from __future__ import annotations

import os
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import singan_seg as ss
from singan_seg.packs import load_pack_model
from singan_seg.packs.legacy import import_legacy

SHAPES = [(12, 15), (17, 21), (24, 29)]


def original_classes():
    """The original SinGAN generator classes (same module path, names and submodule names)."""
    module = types.ModuleType("SinGAN.models")

    class ConvBlock(nn.Sequential):
        def __init__(self, in_channel, out_channel, ker_size, padd, stride):
            super().__init__()
            self.add_module("conv", nn.Conv2d(in_channel, out_channel, kernel_size=ker_size, stride=stride,
                                              padding=padd))
            self.add_module("norm", nn.BatchNorm2d(out_channel))
            self.add_module("LeakyRelu", nn.LeakyReLU(0.2, inplace=True))

    class GeneratorConcatSkip2CleanAdd(nn.Module):
        def __init__(self, nfc=8, nc_im=4, num_layer=5):
            super().__init__()
            self.head = ConvBlock(nc_im, nfc, 3, 0, 1)
            self.body = nn.Sequential()
            for i in range(num_layer - 2):
                self.body.add_module("block%d" % (i + 1), ConvBlock(nfc, nfc, 3, 0, 1))
            self.tail = nn.Sequential(nn.Conv2d(nfc, nc_im, kernel_size=3, stride=1, padding=0), nn.Tanh())

        def forward(self, x, y):
            x = self.tail(self.body(self.head(x)))
            ind = int((y.shape[2] - x.shape[2]) / 2)
            return x + y[:, :, ind:(y.shape[2] - ind), ind:(y.shape[3] - ind)]

    for cls in (ConvBlock, GeneratorConcatSkip2CleanAdd):
        cls.__module__, cls.__qualname__ = "SinGAN.models", cls.__name__
        setattr(module, cls.__name__, cls)
    return module


@pytest.fixture()
def legacy_run(tmp_path, monkeypatch):
    module = original_classes()
    monkeypatch.setitem(sys.modules, "SinGAN", types.ModuleType("SinGAN"))
    monkeypatch.setitem(sys.modules, "SinGAN.models", module)
    torch.manual_seed(0)
    generators = [module.GeneratorConcatSkip2CleanAdd().eval() for _ in SHAPES]
    for g in generators:  # non-trivial BN statistics
        for m in g.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    run = tmp_path / "run"
    run.mkdir()
    torch.save(generators, run / "Gs.pth")
    torch.save([1.0, torch.tensor(0.05), torch.tensor(0.02)], run / "NoiseAmp.pth")
    torch.save([torch.rand(1, 4, h, w) for h, w in SHAPES], run / "reals.pth")
    torch.save([torch.randn(1, 4, h + 10, w + 10) for h, w in SHAPES], run / "Zs.pth")
    monkeypatch.delitem(sys.modules, "SinGAN.models")  # the importer must not need the original code
    return run, generators


def test_import_maps_weights_onto_our_generators(tmp_path, legacy_run):
    run, originals = legacy_run
    pack = import_legacy([run], tmp_path / "pack", trust_pickle=True, ids=["polyp"], license="MIT")
    model = load_pack_model(pack, "polyp")
    assert model.shapes == SHAPES and model.noise_amps[1] == pytest.approx(0.05) and model.rec_noise is None
    noise, prev = torch.randn(2, 4, *SHAPES[1]), torch.randn(2, 4, *SHAPES[1])
    expected = originals[1](F.pad(noise + prev, [5] * 4), F.pad(prev, [5] * 4))
    assert torch.allclose(model.generators[1](noise, prev), expected, atol=1e-6)
    assert ss.sample(model, num=2, seed=0).images.shape == (2, 24, 29, 3)


def test_import_needs_trust_and_refuses_other_globals(tmp_path, legacy_run):
    run, _ = legacy_run
    with pytest.raises(ss.InputError, match="--trust-pickle"):
        import_legacy([run], tmp_path / "pack")

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    torch.save([Evil()], run / "Gs.pth")
    with pytest.raises(ss.CheckpointError, match=r"Gs\.pth: refusing to unpickle (posix|nt)\.system"):
        import_legacy([run], tmp_path / "pack", trust_pickle=True)
    assert not marker.exists()


def test_cli_import_legacy(tmp_path, legacy_run):
    from typer.testing import CliRunner

    from singan_seg.cli import app

    run, _ = legacy_run
    result = CliRunner().invoke(app, ["pack", "import-legacy", str(run), "--out", str(tmp_path / "p")])
    assert isinstance(result.exception, ss.InputError) and "--trust-pickle" in str(result.exception)
    with pytest.warns(UserWarning, match="rebuild the real training images"):
        result = CliRunner().invoke(app, ["pack", "import-legacy", str(run), "--out", str(tmp_path / "p"),
                                          "--trust-pickle", "--include-reconstruction"])
    assert result.exit_code == 0, result.output
    assert load_pack_model(tmp_path / "p", "run").rec_noise.shape == (1, 4, *SHAPES[0])
