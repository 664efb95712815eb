"""The command line: thin over the API; user errors are one line on stderr, exit code 2, nothing left behind."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import singan_seg as ss
from singan_seg.data import read_manifest


def cli(*args, cwd=None):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "singan_seg.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.slow
def test_train_then_generate(tmp_path, phantom_files):
    image, mask = phantom_files
    result = cli("train", "--image", image, "--mask", mask, "--out", tmp_path / "m", "--preset", "tiny",
                 "--device", "cpu", "--seed", "4", "--set", "gp_every=2", "--set", "d_steps=2", "--no-verbose")
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["config"]
    assert saved == ss.get_preset("tiny", seed=4, gp_every=2, d_steps=2).to_dict()
    result = cli("generate", tmp_path / "m", "--out", tmp_path / "s", "--num", "3", "--start-scale", "1",
                 "--seed", "2", "--soft-masks")
    assert result.returncode == 0, result.stderr
    rows = read_manifest(tmp_path / "s", verify=True)
    assert len(rows) == 3 and rows[0]["start_scale"] == "1" and rows[0]["source_id"] == "image"
    assert rows[0]["variation"] == "1"
    for row in rows:
        img = Image.open(tmp_path / "s" / row["image"])
        msk = Image.open(tmp_path / "s" / row["mask"])
        assert img.mode == "RGB" and msk.mode == "L" and img.size == msk.size
        assert set(np.unique(np.asarray(msk))) <= {0, 255}
        assert (tmp_path / "s" / "soft_masks" / f"{row['stem']}.png").is_file()


@pytest.mark.parametrize("case", ["missing", "corrupt", "mismatch", "empty", "small"])
@pytest.mark.slow
def test_bad_training_input(tmp_path, phantom_files, case):
    image, mask = phantom_files
    if case == "missing":
        image, fragment = tmp_path / "none.png", "none.png: file not found"
    elif case == "corrupt":
        image = tmp_path / "bad.png"
        image.write_bytes(b"\x89PNG garbage")
        fragment = "bad.png: cannot read image"
    elif case == "mismatch":
        mask = tmp_path / "m2.png"
        Image.fromarray(np.full((30, 30), 255, np.uint8)).save(mask)
        fragment = "m2.png: mask is 30x30 px but image.png is 120x96 px"
    elif case == "empty":
        mask = tmp_path / "m3.png"
        Image.fromarray(np.zeros((96, 120), np.uint8)).save(mask)
        fragment = "m3.png: mask is empty"
    else:
        image, mask = tmp_path / "i4.png", tmp_path / "m4.png"
        Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(image)
        Image.fromarray(np.eye(10, 12, dtype=np.uint8) * 255).save(mask)
        fragment = "below the coarsest scale's min_size"
    out = tmp_path / "model"
    result = cli("train", "--image", image, "--mask", mask, "--out", out, "--preset", "paper", "--device", "cpu")
    assert_one_line_error(result, fragment)
    assert not out.exists()


@pytest.mark.slow
def test_generate_refuses_bad_values(tmp_path, tiny_model_dir):
    assert_one_line_error(cli("generate", tiny_model_dir, "--out", tmp_path / "s", "--num", "0"),
                          "num should be at least 1")
    assert_one_line_error(cli("generate", tiny_model_dir, "--out", tmp_path / "s", "--start-scale", "-1"),
                          "start scale should be in")
    assert_one_line_error(cli("generate", tmp_path, "--out", tmp_path / "s"), "no config.json")
    assert_one_line_error(cli("generate", tiny_model_dir, "--out", tmp_path / "s", "--height", "-5"),
                          "height should be positive")
    assert_one_line_error(cli("generate", tiny_model_dir, "--out", tmp_path / "s", "--variation", "0.5",
                              "--start-scale", "1"), "variation applies to start scale 0")
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_bad_setting_is_refused(tmp_path, phantom_files):
    result = cli("train", "--image", phantom_files[0], "--mask", phantom_files[1], "--out", tmp_path / "m",
                 "--set", "gp_evry=2")
    assert_one_line_error(result, "unknown training settings ['gp_evry']")
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_unknown_preset_suggests(tmp_path, phantom_files):
    result = cli("train", "--image", phantom_files[0], "--mask", phantom_files[1], "--out", tmp_path / "m",
                 "--preset", "fats")
    assert_one_line_error(result, "unknown preset 'fats' (did you mean 'fast'?)")


@pytest.mark.slow
def test_demo_writes_contact_sheet(tmp_path):
    result = cli("demo", "--out", tmp_path / "demo", "--preset", "tiny", "--num", "3", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    sheet = Image.open(tmp_path / "demo" / "contact_sheet.png")
    assert sheet.size[0] > 3 * 40 and sheet.mode == "RGB"
    assert len(read_manifest(tmp_path / "demo" / "samples")) == 3
    assert Path(tmp_path / "demo" / "model" / "weights.safetensors").is_file()


def test_exit_codes_reach_the_shell(tmp_path, phantom_files, monkeypatch, capsys):
    # Typer, outside standalone mode, returns (not raises) a typer.Exit's code and turns Ctrl-C into code 130: a
    # build with failed pairs and an interrupted run both exited 0.
    from singan_seg import pipeline
    from singan_seg.pipeline.build import BuildResult

    from .conftest import run_cli

    image, mask = phantom_files
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    (images / "p0.png").write_bytes(Path(image).read_bytes())
    (masks / "p0.png").write_bytes(Path(mask).read_bytes())
    args = ("build-dataset", "--images", images, "--masks", masks, "--out", tmp_path / "out")

    def failing(*a, **k):
        return BuildResult(out_dir=tmp_path / "out", failed={"p0": "RuntimeError: boom"})

    monkeypatch.setattr(pipeline, "build_dataset", failing)
    code, err = run_cli(*args, capsys=capsys)
    assert code == 3 and "failed p0: RuntimeError: boom" in " ".join(err.split())

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "build_dataset", interrupted)
    code, err = run_cli(*args, capsys=capsys)
    assert code == 130 and "interrupted" in err
