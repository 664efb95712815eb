"""Checkpoint safety: checksums, versions, and refusing to clobber other results."""

import json
import os
import shutil
import stat

import pytest

import singan_seg as ss
from singan_seg.errors import CheckpointError, OutputExistsError


def copy(src, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    return dst


def test_written_files_get_the_usual_permissions(tmp_path, tiny_model_dir):
    # Atomic writes go through mkstemp (mode 0600): without a chmod, generators and samples meant to be
    # shared with a team would be readable by their owner only.
    umask = os.umask(0o022)
    os.umask(umask)
    expected = 0o666 & ~umask
    model = ss.load(tiny_model_dir, device="cpu")
    out = ss.write_samples(ss.sample(model, num=1, seed=0), tmp_path / "samples")
    for path in [tiny_model_dir / "config.json", tiny_model_dir / "weights.safetensors", out / "manifest.csv",
                 *sorted((out / "images").iterdir())]:
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # the samples dir was a staging dir


def test_tampered_weights_are_refused(tmp_path, tiny_model_dir):
    model = copy(tiny_model_dir, tmp_path)
    data = bytearray((model / "weights.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (model / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"weights\.safetensors: weights do not match the sha256"):
        ss.load(model, device="cpu")


def test_newer_format_is_refused(tmp_path, tiny_model_dir):
    model = copy(tiny_model_dir, tmp_path)
    meta = json.loads((model / "config.json").read_text())
    meta["format_version"] = 99
    (model / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="format version 99 is newer"):
        ss.load(model, device="cpu")


def test_not_a_model_dir(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        ss.load(tmp_path, device="cpu")
    with pytest.raises(CheckpointError, match="model directory not found"):
        ss.load(tmp_path / "missing", device="cpu")


def test_weights_hold_only_tensors_not_code(tiny_model_dir):
    from safetensors import safe_open

    with safe_open(tiny_model_dir / "weights.safetensors", "pt") as f:
        keys = list(f.keys())
    assert "rec_noise" in keys and any(k.startswith("generators.0.") for k in keys)


@pytest.mark.slow
def test_existing_model_is_not_overwritten_silently(tmp_path, phantom, tiny_model_dir):
    model = copy(tiny_model_dir, tmp_path)
    before = (model / "weights.safetensors").read_bytes()
    with pytest.raises(OutputExistsError, match="--resume .* --overwrite"):
        ss.train(phantom, out_dir=model, config=ss.get_preset("tiny", seed=1), progress=False, device="cpu")
    assert (model / "weights.safetensors").read_bytes() == before
    ss.train(phantom, out_dir=model, config=ss.get_preset("tiny", seed=1), progress=False, device="cpu",
             overwrite=True)
    assert (model / "weights.safetensors").read_bytes() != before


def test_foreign_directory_is_refused(tmp_path, phantom):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not a singan-seg model"):
        ss.train(phantom, out_dir=tmp_path, config=ss.get_preset("tiny"), progress=False, device="cpu")


def test_samples_dir_written_atomically_and_verified(tmp_path, tiny_model_dir):
    from singan_seg.data import read_manifest

    out = ss.generate(tiny_model_dir, tmp_path / "samples", num=3, seed=2, device="cpu")
    rows = read_manifest(out, verify=True)
    assert [r["index"] for r in rows] == ["0", "1", "2"]
    assert {r["seed"] for r in rows} == {"2"} and {r["start_scale"] for r in rows} == {"0"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    with pytest.raises(OutputExistsError):
        ss.generate(tiny_model_dir, out, num=1, device="cpu")
