"""The METHODS registry: every way of making pairs behind one signature, sample i from (seed, i) alone."""

import numpy as np
import pytest

import singan_seg as ss
from singan_seg.baselines import baseline_config, pair_set_from_arrays, train_baseline
from singan_seg.methods import METHODS, generate_samples

from .conftest import run_cli


@pytest.fixture(scope="module")
def dcgan_dir(tmp_path_factory):
    phantoms = [ss.make_phantom(height=48, width=56, seed=s) for s in range(3)]
    data = pair_set_from_arrays([p.image for p in phantoms], [p.mask for p in phantoms], 16)
    out = tmp_path_factory.mktemp("dcgan") / "m"
    train_baseline(data, baseline_config("dcgan", resolution=16, width=4, z_dim=8, batch_size=2), out, steps=2,
                   device="cpu", progress=False)
    return out


@pytest.fixture()
def sources(tiny_model_dir, phantom, dcgan_dir):
    return {"singan": tiny_model_dir, "patchnn": (phantom.image, phantom.mask), "dcgan": dcgan_dir}


@pytest.mark.parametrize("method", ["singan", "patchnn", "dcgan"])
def test_one_signature_for_every_method(method, sources):
    three = generate_samples(method, sources[method], num=3, seed=5, device="cpu")
    assert isinstance(three, ss.Samples) and len(three) == 3
    n, h, w, c = three.images.shape
    assert (n, c) == (3, 3) and three.images.dtype == np.uint8
    assert three.masks.shape == (3, h, w) and three.masks.dtype == bool
    one = METHODS[method].generate(sources[method], num=1, seed=5, device="cpu")
    assert np.array_equal(one.images[0], three.images[0]) and np.array_equal(one.masks[0], three.masks[0])
    other = generate_samples(method, sources[method], num=1, seed=6, device="cpu")
    assert not np.array_equal(other.images[0], three.images[0])


def test_registry_lists_per_pair_methods_and_refuses_unknown_names(dcgan_dir):
    assert [m for m in METHODS if METHODS[m].per_pair] == ["singan", "patchnn"]
    assert set(METHODS) >= {"dcgan", "progan", "fastgan"} and ss.METHODS is METHODS
    with pytest.raises(ss.InputError, match="did you mean 'patchnn'"):
        generate_samples("patchn", None)
    with pytest.raises(ss.InputError, match="is a dcgan model, not fastgan"):
        generate_samples("fastgan", dcgan_dir, num=1, device="cpu")


def test_generate_command_samples_a_baseline_too(dcgan_dir, tmp_path, capsys):
    code, err = run_cli("generate", dcgan_dir, "--method", "dcgan", "--out", tmp_path / "s", "--num", "2",
                        "--device", "cpu", capsys=capsys)
    assert code == 0, err
    assert len(ss.data.read_manifest(tmp_path / "s", verify=True)) == 2
    code, err = run_cli("generate", dcgan_dir, "--method", "fastgan", "--out", tmp_path / "t", capsys=capsys)
    assert code == 2 and "is a dcgan model, not fastgan" in err and not (tmp_path / "t").exists()
    code, err = run_cli("generate", dcgan_dir, "--method", "dcgan", "--variation", "0.5", "--out", tmp_path / "u",
                        capsys=capsys)
    assert code == 2 and "takes only --out" in err and not (tmp_path / "u").exists()
