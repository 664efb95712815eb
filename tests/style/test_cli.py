"""`singan-seg style`: works end to end, and every bad input gives one line, exit code 2 and no output."""

import sys

import pytest
import torch
from PIL import Image

from singan_seg.cli import main
from singan_seg.data.samples_dir import read_manifest


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["singan-seg", "style", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code or 0, capsys.readouterr().err.strip()


def test_fast_end_to_end(tmp_path, monkeypatch, capsys, samples_dir, style_path):
    out = tmp_path / "styled"
    monkeypatch.setattr(sys, "argv", ["singan-seg", "style", "--samples", str(samples_dir), "--style-image",
                                      str(style_path), "--out", str(out), "--method", "fast"])
    main()
    assert "method fast" in capsys.readouterr().err
    assert len(read_manifest(out, verify=True)) == 3


def _no_output(tmp_path, out):
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}.")]  # no staging left


def _bad_weights(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3), "features.0.bias": torch.zeros(8)}, path)
    return path


@pytest.mark.parametrize("case, expected", [
    ("missing style image", "style image not found"),
    ("corrupt style image", "cannot read style image"),
    ("no images folder", "no images/ folder"),
    ("image not in manifest", "is not in the manifest"),
    ("image changed since manifest", "does not match its sha256"),
    ("unknown backbone", "unknown backbone 'vgg-19'; did you mean 'vgg19'"),
    ("weights with wrong shapes", "shape (8, 3, 3, 3)"),
    ("bad ratio", "ratio should be CONTENT:STYLE"),
    ("unknown method", "unknown style method"),
])
def test_bad_input(tmp_path, monkeypatch, capsys, samples_dir, style_path, case, expected):
    args = {"--samples": samples_dir, "--style-image": style_path, "--out": tmp_path / "styled"}
    if case == "missing style image":
        args["--style-image"] = tmp_path / "nope.png"
    elif case == "corrupt style image":
        args["--style-image"] = tmp_path / "broken.png"
        args["--style-image"].write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    elif case == "no images folder":
        (samples_dir / "images").rename(samples_dir / "pictures")
    elif case == "image not in manifest":
        Image.new("RGB", (8, 8)).save(samples_dir / "images" / "extra.png")
    elif case == "image changed since manifest":
        Image.new("RGB", (64, 48)).save(samples_dir / "images" / "s1.png")
    elif case == "unknown backbone":
        args["--backbone"] = "vgg-19"
    elif case == "weights with wrong shapes":
        args.update({"--backbone": "vgg19", "--weights": _bad_weights(tmp_path)})
    elif case == "bad ratio":
        args["--ratio"] = "1:-5"
    elif case == "unknown method":
        args["--method"] = "cyclegan"
    code, err = run_cli(monkeypatch, capsys, *[str(x) for kv in args.items() for x in kv])
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error:") and expected in err, err
    _no_output(tmp_path, args["--out"])
