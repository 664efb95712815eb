"""Bad inputs for outputs, models and settings (issue 33): every case is one line on stderr naming the file or
option, exit code 2, and nothing on disk is created, deleted or changed."""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import singan_seg as ss
from singan_seg import sampling
from singan_seg.data import read_manifest
from singan_seg.errors import CheckpointError, InputError
from singan_seg.files import replace_dir, staging_dir

from .conftest import run_cli


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under `root` (hidden ones included) with its sha256: what a case may not change."""
    state = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        state[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def assert_one_line(code: int, err: str, *fragments: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def model(tmp_path, tiny_model_dir) -> Path:
    """A copy of the tiny model that a case may try to damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "m1"))


def edit_config(model: Path, change) -> None:
    meta = json.loads((model / "config.json").read_text())
    change(meta)
    (model / "config.json").write_text(json.dumps(meta))


# ------------------------------------------------------------------------------------------------------------
# train --set: every value checked against its setting's type
# ------------------------------------------------------------------------------------------------------------

SET_CASES = [
    ("scale_factor=abc", "--set scale_factor=abc: scale_factor should be a number, got 'abc'"),
    ("lr_g=null", "--set lr_g=null: lr_g should be a number, got null"),
    ("bf16=maybe", "--set bf16=maybe: bf16 should be true or false, got 'maybe'"),
    ("bf16=1", "--set bf16=1: bf16 should be true or false, got 1"),
    ("max_size=1e3", "--set max_size=1e3: max_size should be an integer, got 1000.0"),
    ("d_steps=true", "--set d_steps=true: d_steps should be an integer, got true"),
    ("seed=2.5", "--set seed=2.5: seed should be an integer, got 2.5"),
    ("lr_d=NaN", "--set lr_d=NaN: lr_d should be a number, got 'NaN'"),
    ("gp_weight=Infinity", "--set gp_weight=Infinity: gp_weight should be a number"),
    ("norm=null", "--set norm=null: norm should be a string, got null"),
    ("noise_amp_finest=big", "--set noise_amp_finest=big: noise_amp_finest should be a number or null"),
    ("sample_variation=[1]", "--set sample_variation=[1]: sample_variation should be a number, got [1]"),
]


@pytest.mark.parametrize("setting,message", SET_CASES, ids=[c[0] for c in SET_CASES])
def test_train_refuses_a_setting_of_the_wrong_type(tmp_path, phantom_files, capsys, setting, message):
    image, mask = phantom_files
    before = snapshot(tmp_path)
    code, err = run_cli("train", "--image", image, "--mask", mask, "--out", tmp_path / "model", "--preset", "tiny",
                        "--device", "cpu", "--set", setting, capsys=capsys)
    assert_one_line(code, err, message)
    assert snapshot(tmp_path) == before


def test_null_really_sets_an_optional_setting_and_types_are_checked_in_the_api_too():
    assert ss.get_preset("fast").noise_amp_finest == 1.2
    assert ss.get_preset("fast", ["noise_amp_finest=null"]).noise_amp_finest is None  # not silently dropped
    assert ss.get_preset("paper", ["noise_amp_finest=2"]).noise_amp_finest == 2.0
    cfg = ss.get_preset("paper", ["lr_g=1", "norm=instance", "bf16=true", 'critic_norm="none"'])
    assert (cfg.lr_g, type(cfg.lr_g), cfg.norm, cfg.bf16, cfg.critic_norm) == (1.0, float, "instance", True, "none")
    with pytest.raises(InputError, match="scale_factor should be a number, got 'abc'"):
        ss.TrainConfig(scale_factor="abc")
    with pytest.raises(InputError, match="max_size should be an integer, got true"):
        ss.TrainConfig(max_size=True)
    with pytest.raises(InputError, match="bf16 should be true or false, got 1"):
        ss.TrainConfig(bf16=1)
    with pytest.raises(InputError, match="gp_weight should be a number, got nan"):
        ss.TrainConfig(gp_weight=float("nan"))
    assert ss.TrainConfig(rec_weight=100).rec_weight == 100.0 and isinstance(ss.TrainConfig(max_size=np.int64(64))
                                                                              .max_size, int)


# ------------------------------------------------------------------------------------------------------------
# generate: outputs never replace, hold or lie inside their input; sizes are bounded
# ------------------------------------------------------------------------------------------------------------

def _generate_case(name: str, tmp_path: Path, model: Path, monkeypatch) -> tuple[list, tuple[str, ...]]:
    """The arguments of one bad `generate` and the fragments its error line must hold."""
    if name == "out-is-model":
        return ["generate", model, "--out", model, "--overwrite"], (f"{model}: --out is the model directory itself",)
    if name == "out-inside-model":
        return ["generate", model, "--out", model / "s"], ("--out lies inside the model directory",)
    if name == "out-holds-model":
        return ["generate", model, "--out", tmp_path, "--overwrite"], ("--out holds the model directory",)
    if name == "out-is-cwd":
        (tmp_path / "w").mkdir()
        monkeypatch.chdir(tmp_path / "w")
        return ["generate", "../m1", "--out", "."], (".: the output folder would replace the current folder",)
    if name == "out-is-parent-of-cwd":
        (tmp_path / "w").mkdir()
        monkeypatch.chdir(tmp_path / "w")
        return ["generate", "../m1", "--out", "..", "--overwrite"], ("--out holds the model directory",)
    if name == "out-is-a-file":
        (tmp_path / "notes.txt").write_text("mine")
        return (["generate", model, "--out", tmp_path / "notes.txt", "--overwrite"],
                ("notes.txt: output path exists and is not a directory",))
    if name == "overwrite-a-folder-that-is-not-samples":
        (tmp_path / "photos").mkdir()
        (tmp_path / "photos" / "holiday.jpg").write_bytes(b"jpeg")
        return (["generate", model, "--out", tmp_path / "photos", "--overwrite"],
                ("photos: already holds files that are not a samples directory",))
    if name == "huge-scale":
        return (["generate", model, "--out", tmp_path / "s", "--scale-h", "1000", "--scale-w", "1000"],
                ("output size 40000x32000 px is too large: the limit is 4096 px per side",))
    if name == "huge-height":
        return (["generate", model, "--out", tmp_path / "s", "--height", "3000", "--width", "3000"],
                ("output size 3000x3000 px is too large", "4194304 px in all"))
    if name == "nan-scale":
        return ["generate", model, "--out", tmp_path / "s", "--scale-w", "nan"], ("scale_w should be positive",)
    if name == "patchnn-out-holds-image":
        image = tmp_path / "pair" / "image.png"
        image.parent.mkdir()
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
        Image.fromarray(np.eye(40, dtype=np.uint8) * 255).save(tmp_path / "pair" / "mask.png")
        return (["generate", "--method", "patchnn", "--image", image, "--mask", tmp_path / "pair" / "mask.png",
                 "--out", tmp_path / "pair", "--overwrite"], ("--out holds the image",))
    if name == "pack-out-is-pack":
        return ["generate", "--pack", model, "--out", model, "--overwrite"], ("--out is the pack itself",)
    raise AssertionError(name)


GENERATE_CASES = ["out-is-model", "out-inside-model", "out-holds-model", "out-is-cwd", "out-is-parent-of-cwd",
                  "out-is-a-file", "overwrite-a-folder-that-is-not-samples", "huge-scale", "huge-height", "nan-scale",
                  "patchnn-out-holds-image", "pack-out-is-pack"]


@pytest.mark.parametrize("name", GENERATE_CASES)
def test_generate_refuses_an_output_that_would_lose_data(tmp_path, model, capsys, monkeypatch, name):
    args, fragments = _generate_case(name, tmp_path, model, monkeypatch)
    before = snapshot(tmp_path)
    code, err = run_cli(*args, "--device", "cpu", capsys=capsys)
    assert_one_line(code, err, *fragments)
    assert snapshot(tmp_path) == before


def test_generate_into_an_empty_folder_beside_the_model_works(tmp_path, model, capsys, monkeypatch):
    (tmp_path / "w").mkdir()
    monkeypatch.chdir(tmp_path / "w")
    code, err = run_cli("generate", "../m1", "--out", "samples", "--num", "2", "--device", "cpu", capsys=capsys)
    assert code == 0, err
    assert len(read_manifest(tmp_path / "w" / "samples", verify=True)) == 2


# ------------------------------------------------------------------------------------------------------------
# a model's config.json: every field loading reads is checked, weights confined to the model folder
# ------------------------------------------------------------------------------------------------------------

def _drop_weights(m):
    del m["weights"]


CONFIG_CASES = {
    "no-weights": (_drop_weights, "config.json: lacks the field 'weights'"),
    "weights-outside": (lambda m: m["weights"].update(file="../other/weights.safetensors"),
                        "config.json: field 'weights.file' should be a plain file name inside the model folder"),
    "weights-absolute": (lambda m: m["weights"].update(file="/etc/passwd"), "field 'weights.file' should be a plain"),
    "weights-sha-number": (lambda m: m["weights"].update(sha256=123), "field 'weights.sha256' should be a string"),
    "weights-not-object": (lambda m: m.update(weights="weights.safetensors"), "field 'weights' should be an object"),
    "trained-scales-text": (lambda m: m.update(trained_scales="4"), "field 'trained_scales' should be an integer"),
    "trained-scales-too-many": (lambda m: m.update(trained_scales=99), "field 'trained_scales' is 99, outside 0..4"),
    "shapes-bad": (lambda m: m["pyramid"].update(shapes=[[32, "x"]]), "field 'pyramid.shapes' should be"),
    "no-pyramid": (lambda m: m.pop("pyramid"), "lacks the field 'pyramid'"),
    "noise-amps-short": (lambda m: m.update(noise_amps=m["noise_amps"][:2]), "field 'noise_amps' should list 4"),
    "complete-text": (lambda m: m.update(complete="yes"), "field 'complete' should be true or false"),
    "complete-lies": (lambda m: m.update(trained_scales=3, noise_amps=m["noise_amps"][:3]),
                      "field 'complete' is true but 3 of 4 scales are trained"),
    "config-bad-type": (lambda m: m["config"].update(max_size="big"),
                        "config.json: field 'config': max_size should be an integer, got 'big'"),
    "config-not-object": (lambda m: m.update(config=[]), "field 'config' should be an object"),
}


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_a_damaged_config_json_is_one_line_naming_the_field(tmp_path, model, capsys, name):
    change, fragment = CONFIG_CASES[name]
    edit_config(model, change)
    before = snapshot(tmp_path)
    code, err = run_cli("generate", model, "--out", tmp_path / "s", "--device", "cpu", capsys=capsys)
    assert_one_line(code, err, fragment)
    assert snapshot(tmp_path) == before
    with pytest.raises(CheckpointError, match="config.json"):
        ss.load(model, device="cpu")


def test_a_truncated_weights_file_is_refused_before_it_is_read(tmp_path, model, capsys):
    weights = model / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    code, err = run_cli("generate", model, "--out", tmp_path / "s", "--device", "cpu", capsys=capsys)
    assert_one_line(code, err, "weights.safetensors: weights file is 100 bytes but config.json says")
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------------------------------------------------
# read-only folders and full disks (simulated: tests run as root, where chmod does not stop writes)
# ------------------------------------------------------------------------------------------------------------

def _inside(path, folder: Path) -> bool:
    try:
        return Path(os.path.abspath(os.fsdecode(path))).is_relative_to(folder)
    except TypeError:  # a file descriptor
        return False


@pytest.fixture()
def read_only(monkeypatch):
    """Make a folder behave as on a read-only file system: creating anything inside it raises EROFS."""
    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        folder = folder.resolve()

        def refuse(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

        real_mkdir, real_open, real_os_open = os.mkdir, builtins.open, os.open

        def mkdir(path, *args, **kwargs):
            return refuse(path) if _inside(path, folder) else real_mkdir(path, *args, **kwargs)

        def os_open(path, flags, *args, **kwargs):
            writes = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            return refuse(path) if writes and _inside(path, folder) else real_os_open(path, flags, *args, **kwargs)

        def open_(file, mode="r", *args, **kwargs):
            writes = any(c in mode for c in "wax+")
            return refuse(file) if writes and _inside(file, folder) else real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(io, "open", open_)
        return folder
    return make


def test_generate_into_a_read_only_folder(tmp_path, model, capsys, read_only):
    folder = read_only(tmp_path / "ro")
    before = snapshot(tmp_path)
    code, err = run_cli("generate", model, "--out", folder / "samples", "--device", "cpu", capsys=capsys)
    assert_one_line(code, err, "ro/samples: cannot write the samples directory: Read-only file system")
    assert snapshot(tmp_path) == before


def test_train_into_a_read_only_folder_is_one_line_from_main(tmp_path, phantom_files, capsys, read_only):
    """No command turns this OSError into a message: main()'s last resort prints `error: <path>: <strerror>`."""
    folder = read_only(tmp_path / "ro")
    before = snapshot(tmp_path)
    code, err = run_cli("train", "--image", phantom_files[0], "--mask", phantom_files[1], "--out", folder / "model",
                        "--preset", "tiny", "--device", "cpu", "--no-verbose", capsys=capsys)
    assert_one_line(code, err, "ro/model: Read-only file system")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("existing", [False, True], ids=["new", "overwrite"])
def test_a_full_disk_during_generate_leaves_nothing_half_written(tmp_path, model, capsys, monkeypatch, existing):
    out = tmp_path / "a" / "b" / "samples"  # a and b do not exist yet: they go again on failure
    if existing:
        assert run_cli("generate", model, "--out", out, "--num", "2", "--device", "cpu", capsys=capsys)[0] == 0
    before = snapshot(tmp_path)
    real_write_bytes, written = Path.write_bytes, []

    def write_bytes(self, data):
        written.append(self)
        if len(written) > 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    code, err = run_cli("generate", model, "--out", out, "--num", "6", "--overwrite", "--device", "cpu",
                        capsys=capsys)
    assert_one_line(code, err, "samples: cannot write the samples directory: No space left on device",
                    "(nothing was written)")
    assert len(written) == 6  # it did fail mid-way
    assert snapshot(tmp_path) == before  # the old samples intact (or still nothing), no staging or parents left


# ------------------------------------------------------------------------------------------------------------
# replacing folders: the old one is kept until the new one is in place, and nothing hidden is left behind
# ------------------------------------------------------------------------------------------------------------

def test_a_failed_replace_puts_the_old_folder_back(tmp_path, monkeypatch):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new folder onto the final name
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src), None, str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError), staging_dir(final) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging, no .out.old-PID
    assert (final / "old.txt").read_text() == "old" and not (final / "new.txt").exists()


def test_replacing_a_file_leaves_no_hidden_leftover(tmp_path):
    (tmp_path / "out").write_text("a file")
    staging = tmp_path / "staging"
    staging.mkdir()
    replace_dir(staging, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (tmp_path / "out").is_dir()


def test_the_current_folder_or_a_folder_without_a_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for out in (".", "..", "/"):
        with pytest.raises(InputError, match="would replace the current folder"):
            ss.write_samples(_one_sample(), out)
    with pytest.raises(InputError, match="has no name"), staging_dir("/"):
        pass
    assert not any(tmp_path.iterdir())


def _one_sample() -> sampling.Samples:
    return sampling.Samples(images=np.zeros((1, 8, 8, 3), np.uint8), masks=np.zeros((1, 8, 8), bool),
                            soft_masks=np.zeros((1, 8, 8), np.float32), seed=0, start_scale=0)


# ------------------------------------------------------------------------------------------------------------
# streaming: generate holds one chunk in memory, and the files do not depend on the chunk size
# ------------------------------------------------------------------------------------------------------------

def test_a_chunked_write_equals_an_unchunked_one(tmp_path, model, monkeypatch):
    sizes = []
    real_sample = sampling.sample

    def spy(*args, **kwargs):
        sizes.append(kwargs["num"])
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(sampling, "sample", spy)
    whole = ss.generate(model, tmp_path / "whole", num=11, seed=5, device="cpu", soft_masks=True)
    assert sizes == [11]  # one chunk by default at this size
    sizes.clear()
    chunked = ss.generate(model, tmp_path / "chunked", num=11, seed=5, device="cpu", soft_masks=True, chunk_size=3,
                          progress=True)
    assert sizes == [8, 3]  # never more than a chunk in memory; chunks are whole batches of 8 (3 rounds up)
    assert snapshot(whole) == snapshot(chunked)
    rows = read_manifest(chunked, verify=True)
    assert [r["index"] for r in rows] == [str(i) for i in range(11)]
    # the same files as writing everything at once through write_samples (the manifest written row by row)
    at_once = ss.write_samples(real_sample(model, num=11, seed=5, device="cpu"), tmp_path / "at_once",
                               model_name="m1", source_id=rows[0]["source_id"], soft_masks=True)
    assert snapshot(at_once) == snapshot(whole)
    with pytest.raises(InputError, match="chunk_size should be at least 1"):
        ss.generate(model, tmp_path / "none", num=2, device="cpu", chunk_size=0)


def test_the_default_chunk_follows_the_output_size(tmp_path, model, monkeypatch):
    monkeypatch.setattr(sampling, "CHUNK_PIXELS", 40 * 32 * 16)  # 16 samples of the tiny model's 40x32
    sizes = []
    real_sample = sampling.sample
    monkeypatch.setattr(sampling, "sample", lambda *a, **k: sizes.append(k["num"]) or real_sample(*a, **k))
    ss.generate(model, tmp_path / "s", num=40, device="cpu")
    assert sizes == [16, 16, 8]
    assert len(read_manifest(tmp_path / "s")) == 40


def test_temporary_files_are_not_left_in_the_output_parent(tmp_path, model):
    ss.generate(model, tmp_path / "s", num=2, device="cpu")
    ss.generate(model, tmp_path / "s", num=3, device="cpu", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m1", "s"]  # no .s.old-PID, no staging
    assert len(read_manifest(tmp_path / "s", verify=True)) == 3
