"""Hostile input FILES (issue #33): each gets one line naming the file and the problem, exit 2, and nothing is
created or changed where the command writes. Images too large to decode (a 20000 x 20000 PNG of a few hundred
KB), tiny images, non-UTF-8 and truncated manifests, a real folder that does not hold the samples' source, the
same folder as training and held-out set, a report written onto a folder or a file that is not a report.

Also: direct API tests of `data/images.py` (the one place images are opened) and of the warnings for masks that
are not binary. No test here runs a network or trains: every refusal comes before the work.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import singan_seg as ss
from singan_seg.data import images as image_files
from singan_seg.data.pairs import GREY_FRACTION, grey_fraction, warn_if_not_binary
from singan_seg.data.samples_dir import mask_to_png_array, read_manifest, read_manifest_rows, write_manifest, \
    write_pair_files
from singan_seg.errors import InputError
from singan_seg.evaluate.image_sets import ImageSet, load_image_set
from singan_seg.evaluate.privacy import check_heldout
from singan_seg.evaluate.report import REPORT_TITLE, check_report_out
from singan_seg.evaluate.sifid import _source_of

from .conftest import KVASIR, run_cli

BOMB_SIDE = 20000


# ---- files on disk ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A 20000 x 20000 px PNG (400 megapixels) that is small on disk: a 1-bit image, all black."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("1", (BOMB_SIDE, BOMB_SIDE), 0).save(path, optimize=True)
    assert path.stat().st_size < 1_000_000
    return path


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _samples_dir(directory: Path, phantom: ss.Pair, source_id: str = "p0", n: int = 2) -> Path:
    """A samples directory (images/, masks/, manifest.csv) of n copies of the phantom, written directly."""
    rows = []
    for i in range(n):
        row = write_pair_files(directory, f"{source_id}_{i:04d}", phantom.image, phantom.mask)
        rows.append({**row, "source_id": source_id, "model": "m", "seed": "0", "start_scale": "0",
                     "method": "singan-seg"})
    write_manifest(directory / "manifest.csv", rows)
    return directory


def _real_dir(directory: Path, phantom: ss.Pair, stems: list[str]) -> Path:
    """Kvasir layout: images/<stem>.png + masks/<stem>.png."""
    for stem in stems:
        _save(directory / "images" / f"{stem}.png", phantom.image)
        _save(directory / "masks" / f"{stem}.png", mask_to_png_array(phantom.mask))
    return directory


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under root (or root itself) -> sha256 of its bytes ("dir" for folders)."""
    if not root.exists():
        return {}
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


@pytest.fixture()
def world(tmp_path, phantom, bomb) -> dict[str, Path]:
    """Everything the CLI cases use, under tmp_path."""
    w = {"tmp": tmp_path, "bomb": bomb}
    w["image"] = _save(tmp_path / "image.png", phantom.image)
    w["mask"] = _save(tmp_path / "mask.png", mask_to_png_array(phantom.mask))
    w["samples"] = _samples_dir(tmp_path / "samples", phantom)
    w["real"] = _real_dir(tmp_path / "real", phantom, ["p0", "p1"])
    w["held"] = _real_dir(tmp_path / "held", phantom, ["h0", "h1"])
    w["unrelated"] = _real_dir(tmp_path / "unrelated", phantom, ["other"])
    w["tiny"] = _save(tmp_path / "tiny.png", np.full((1, 1, 3), 7, np.uint8))
    w["tiny_mask"] = _save(tmp_path / "tiny_mask.png", np.full((1, 1), 255, np.uint8))
    for name, image, mask in (("bomb_pairs", bomb, bomb), ("tiny_pairs", w["tiny"], w["tiny_mask"])):
        for sub, src in (("images", image), ("masks", mask)):
            (tmp_path / name / sub).mkdir(parents=True)
            (tmp_path / name / sub / "p0.png").symlink_to(src)
    w["out_dir"] = tmp_path / "existing_out"
    w["out_dir"].mkdir()
    (w["out_dir"] / "keep.txt").write_text("mine")
    w["notes"] = tmp_path / "notes.html"
    w["notes"].write_text("<html>my own notes</html>")
    return w


# ---- the CLI corpus --------------------------------------------------------------------------------------

def _latin1_manifest(w):
    manifest = w["samples"] / "manifest.csv"
    manifest.write_bytes(manifest.read_bytes().replace(b"singan-seg", "singan-s\u00e9g".encode("latin-1")))
    return manifest


def _edit_manifest(w, edit):
    manifest = w["samples"] / "manifest.csv"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(edit(lines)) + "\n")
    return manifest


def _truncated_row(w):
    return _edit_manifest(w, lambda lines: [*lines[:2], lines[2][:15]])  # row 2 cut short: a truncated file


def _empty_image_cell(w):
    def edit(lines):
        cells = lines[1].split(",")
        cells[1] = ""  # the image column of the first row
        return [lines[0], ",".join(cells), *lines[2:]]
    return _edit_manifest(w, edit)


def _escaping_path(w):
    outside = _save(w["tmp"] / "outside.png", np.zeros((4, 4, 3), np.uint8))
    return _edit_manifest(w, lambda lines: [lines[0], lines[1].replace("images/p0_0000.png", str(outside)),
                                            *lines[2:]])


def _dotdot_path(w):
    return _edit_manifest(w, lambda lines: [lines[0], lines[1].replace("images/p0_0000.png", "../image.png"),
                                            *lines[2:]])


def _truncated_real_mask(w):
    mask = w["real"] / "masks" / "p1.png"
    data = mask.read_bytes()
    mask.write_bytes(data[: len(data) // 2])
    return mask


def _truncated_sample_mask(w):
    mask = w["samples"] / "masks" / "p0_0001.png"
    data = mask.read_bytes()
    mask.write_bytes(data[: len(data) // 2])
    return mask


def _corrupt_real_image(w):
    (w["real"] / "images" / "p1.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return w["real"] / "images" / "p1.png"


def _bomb_in_real(w):
    (w["real"] / "images" / "p1.png").unlink()
    (w["real"] / "images" / "p1.png").symlink_to(w["bomb"])
    return w["real"]


# Each case: (id, args (strings "{name}" are replaced by world paths), [fragments of the one error line],
#             the path that must not change (a world name), a setup function or None).
CASES = [
    # 1. images too large to decode: every command that reads an image refuses from the header
    ("train bomb image", ["train", "--image", "{bomb}", "--mask", "{mask}", "--out", "{tmp}/model", "--device", "cpu"],
     ["bomb.png: image is 20000x20000 px (400 megapixels)", "limit of 40 megapixels", "SINGAN_SEG_MAX_PIXELS"],
     "tmp", None),
    ("train bomb mask", ["train", "--image", "{image}", "--mask", "{bomb}", "--out", "{tmp}/model", "--device", "cpu"],
     ["bomb.png: mask is 20000x20000 px", "SINGAN_SEG_MAX_PIXELS"], "tmp", None),
    ("patchnn bomb", ["generate", "--method", "patchnn", "--image", "{bomb}", "--mask", "{mask}", "--out",
                      "{tmp}/gen", "--device", "cpu"], ["bomb.png: image is 20000x20000 px"], "tmp", None),
    ("build-dataset bomb", ["build-dataset", "--images", "{tmp}/bomb_pairs/images", "--masks",
                            "{tmp}/bomb_pairs/masks", "--out", "{tmp}/ds", "--method", "patchnn", "--device", "cpu"],
     ["p0.png: image is 20000x20000 px", "SINGAN_SEG_MAX_PIXELS"], "tmp", None),
    ("fid bomb file", ["evaluate", "fid", "--a", "{bomb}", "--b", "{real}"], ["bomb.png: image is 20000x20000"],
     "tmp", None),
    ("fid bomb in folder", ["evaluate", "fid", "--a", "{real}", "--b", "{held}"], ["p1.png: image is 20000x20000"],
     "tmp", _bomb_in_real),
    ("sifid bomb real", ["evaluate", "sifid", "--samples", "{samples}", "--real", "{bomb}"],
     ["bomb.png: image is 20000x20000"], "tmp", None),
    ("style bomb", ["style", "--samples", "{samples}", "--style-image", "{bomb}", "--out", "{tmp}/styled",
                    "--method", "fast", "--device", "cpu"], ["bomb.png: style image is 20000x20000"], "tmp", None),
    # weak: images too small name the file, in train and in build-dataset (where the pair was unknown)
    ("train 1x1", ["train", "--image", "{tiny}", "--mask", "{tiny_mask}", "--out", "{tmp}/model", "--device", "cpu"],
     ["tiny.png: image is only 1x1 px", "at least 8 px"], "tmp", None),
    ("build-dataset 1x1", ["build-dataset", "--images", "{tmp}/tiny_pairs/images", "--masks", "{tmp}/tiny_pairs/masks",
                           "--out", "{tmp}/ds", "--preset", "tiny", "--device", "cpu"],
     ["p0.png: image is only 1x1 px"], "tmp", None),
    ("train on a folder", ["train", "--image", "{real}", "--mask", "{mask}", "--out", "{tmp}/model"],
     ["real: is a directory, expected an image file"], "tmp", None),
    # 8. manifests that are not UTF-8, truncated, empty cells, paths leaving the folder
    ("masks latin-1 manifest", ["evaluate", "masks", "--samples", "{samples}", "--real-masks", "{real}"],
     ["manifest.csv: manifest is not UTF-8 text", "save it as UTF-8"], "tmp", _latin1_manifest),
    ("report latin-1 manifest", ["evaluate", "report", "--samples", "{samples}", "--real", "{real}", "--out",
                                 "{tmp}/r.html", "--no-fid"], ["manifest.csv: manifest is not UTF-8"], "tmp",
     _latin1_manifest),
    ("truncated manifest row", ["evaluate", "masks", "--samples", "{samples}", "--real-masks", "{real}"],
     ["manifest.csv: line 3: row has no 'mask' value", "truncated"], "tmp", _truncated_row),
    ("empty image cell", ["evaluate", "masks", "--samples", "{samples}", "--real-masks", "{real}"],
     ["manifest.csv: line 2: the 'image' column is empty"], "tmp", _empty_image_cell),
    ("absolute manifest path", ["evaluate", "masks", "--samples", "{samples}", "--real-masks", "{real}"],
     ["manifest.csv: line 2: image path", "points outside the folder"], "tmp", _escaping_path),
    (".. manifest path", ["evaluate", "fid", "--a", "{samples}", "--b", "{real}"],
     ["manifest.csv: line 2: image path '../image.png' points outside"], "tmp", _dotdot_path),
    ("truncated real mask", ["evaluate", "masks", "--samples", "{samples}", "--real-masks", "{real}"],
     ["masks/p1.png: cannot read mask (OSError"], "tmp", _truncated_real_mask),
    ("truncated sample mask", ["evaluate", "masks", "--samples", "{samples}", "--real-masks", "{real}"],
     ["manifest.csv: line 3: masks/p0_0001.png does not match its sha256"], "tmp", _truncated_sample_mask),
    ("corrupt real image", ["evaluate", "fid", "--a", "{real}", "--b", "{held}"], ["p1.png: cannot read image"],
     "tmp", _corrupt_real_image),
    # 9. report onto a folder, onto a file that is not a report, with a name that is not .html
    ("report onto a folder", ["evaluate", "report", "--samples", "{samples}", "--real", "{real}", "--out",
                              "{out_dir}", "--no-fid"], ["existing_out: is a directory", "report.html"], "tmp", None),
    ("report onto my file", ["evaluate", "report", "--samples", "{samples}", "--real", "{real}", "--out", "{notes}",
                             "--no-fid"], ["notes.html: exists and is not a singan-seg report"], "tmp", None),
    ("report not html", ["evaluate", "report", "--samples", "{samples}", "--real", "{real}", "--out",
                         "{image}", "--no-fid"], ["image.png: the report is an HTML file", ".html"], "tmp", None),
    # 10. SIFID against a folder that does not hold the samples' source
    ("sifid unrelated folder", ["evaluate", "sifid", "--samples", "{samples}", "--real", "{unrelated}"],
     ["unrelated: no real image with stem 'p0'", "holds other"], "tmp", None),
    ("report unrelated folder", ["evaluate", "report", "--samples", "{samples}", "--real", "{unrelated}", "--out",
                                 "{tmp}/r.html", "--no-fid"], ["no real image with stem 'p0'"], "tmp", None),
    # weak: privacy with the training set as held-out set; report on one real image without --no-fid
    ("privacy same folder", ["evaluate", "privacy", "--samples", "{samples}", "--train-real", "{real}",
                             "--heldout-real", "{real}"], ["real: the held-out set is the training set"], "tmp", None),
    ("report held-out is real", ["evaluate", "report", "--samples", "{samples}", "--real", "{real}",
                                 "--heldout-real", "{real}", "--out", "{tmp}/r.html", "--no-fid"],
     ["the held-out set is the training set"], "tmp", None),
    ("report one real image", ["evaluate", "report", "--samples", "{samples}", "--real", "{image}", "--out",
                               "{tmp}/r.html"], ["image.png: FID needs at least 2 images", "--no-fid"], "tmp", None),
]


def _fill(arg: str, w: dict[str, Path]) -> str:
    for name, path in w.items():
        arg = arg.replace("{" + name + "}", str(path))
    assert "{" not in arg, arg
    return arg


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cli_refuses_bad_file(world, capsys, case):
    _, args, fragments, guarded, setup = case
    if setup is not None:
        setup(world)
    before = _snapshot(world[guarded])
    code, err = run_cli(*[_fill(a, world) for a in args], capsys=capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert _snapshot(world[guarded]) == before  # nothing created, changed or removed


def test_cli_bad_max_pixels_setting(world, capsys, monkeypatch):
    monkeypatch.setenv("SINGAN_SEG_MAX_PIXELS", "lots")
    out = world["tmp"] / "model"
    code, err = run_cli("train", "--image", world["image"], "--mask", world["mask"], "--out", out, capsys=capsys)
    assert code == 2 and err.count("\n") == 1
    assert "SINGAN_SEG_MAX_PIXELS should be a whole number of pixels" in err and "'lots'" in err
    assert not out.exists()


def test_cli_limit_is_overridable(world, capsys, monkeypatch):
    """A limit below the phantom's size refuses it; the default accepts it (checked up to the first file read)."""
    monkeypatch.setenv("SINGAN_SEG_MAX_PIXELS", "1000")
    code, err = run_cli("evaluate", "fid", "--a", world["real"], "--b", world["held"], capsys=capsys)
    assert code == 2 and "p0.png: image is 120x96 px" in err and "limit of 0.001 megapixels" in err
    assert "SINGAN_SEG_MAX_PIXELS=11520" in err


# ---- data/images.py: the one place images are opened ------------------------------------------------------

def test_bomb_refused_from_the_header_and_overridable(bomb, monkeypatch):
    monkeypatch.delenv("SINGAN_SEG_MAX_PIXELS", raising=False)
    assert image_files.max_pixels() == 40_000_000
    with pytest.raises(InputError, match=r"bomb\.png: image is 20000x20000 px .*limit of 40 megapixels"):
        image_files.open_image(bomb, load=False)
    monkeypatch.setenv("SINGAN_SEG_MAX_PIXELS", "500_000_000")
    with image_files.open_image(bomb, load=False) as image:  # allowed now (not decoded here: 400 MB)
        assert image.size == (BOMB_SIDE, BOMB_SIDE)
    monkeypatch.setenv("SINGAN_SEG_MAX_PIXELS", "0")  # no limit at all, not even Pillow's own
    with image_files.open_image(bomb, load=False) as image:
        assert image.size == (BOMB_SIDE, BOMB_SIDE)
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's limit is restored for everyone else


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "12 px", "1e400"])
def test_bad_limit_settings(monkeypatch, value):
    monkeypatch.setenv("SINGAN_SEG_MAX_PIXELS", value)
    with pytest.raises(InputError, match="SINGAN_SEG_MAX_PIXELS should be a whole number"):
        image_files.max_pixels()


def test_limit_edges(tmp_path, monkeypatch):
    path = _save(tmp_path / "a.png", np.zeros((30, 40, 3), np.uint8))
    monkeypatch.setenv("SINGAN_SEG_MAX_PIXELS", "1200")
    assert image_files.read_rgb(path).shape == (30, 40, 3)  # exactly at the limit: allowed
    monkeypatch.setenv("SINGAN_SEG_MAX_PIXELS", "1199")
    with pytest.raises(InputError, match=r"a\.png: image is 40x30 px"):
        image_files.read_rgb(path)


@pytest.mark.parametrize("content, what, expected", [
    (b"", "image", "cannot read image (UnidentifiedImageError"),
    (b"GIF89a\x00", "mask", "cannot read mask ("),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "style image", "cannot read style image ("),
    (b"BM" + b"\xff" * 60, "image", "cannot read image ("),
])
def test_unreadable_files_are_one_line(tmp_path, content, what, expected):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        image_files.read_rgb(path, what)
    assert str(info.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(info.value)


def test_truncated_file_fails_on_decode_and_names_it(tmp_path, phantom):
    good = _save(tmp_path / "good.png", phantom.image)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:300])
    assert image_files.image_mode(cut) == "RGB"  # the header is intact...
    with pytest.raises(InputError, match=r"cut\.png: cannot read mask"):
        image_files.read_gray(cut)  # ...the pixels are not
    with pytest.raises(InputError, match=r"cut\.png: cannot read image"):
        image_files.open_image(cut)  # load=True decodes at once


def test_missing_and_folder(tmp_path):
    with pytest.raises(InputError, match=r"nope\.png: file not found"):
        image_files.open_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="is a directory, expected a mask file"):
        image_files.open_image(tmp_path, "mask")


def test_segment_reader_names_the_mask_not_the_image(tmp_path, phantom, bomb):
    from singan_seg.segment.data import load_resized

    image = _save(tmp_path / "i.png", phantom.image)
    broken = tmp_path / "m.png"
    broken.write_bytes(b"broken")
    with pytest.raises(InputError, match=r"m\.png: cannot read mask"):
        load_resized(image, broken, 32)
    with pytest.raises(InputError, match=r"bomb\.png: image is 20000x20000"):
        load_resized(bomb, broken, 32)


def test_style_image_bomb(bomb):
    from singan_seg.style.transfer import load_style_image

    with pytest.raises(InputError, match=r"bomb\.png: style image is 20000x20000"):
        load_style_image(bomb)


# ---- masks that are not binary -----------------------------------------------------------------------------

def _jpeg(gray: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("L"))


def _warnings_of(gray: np.ndarray, path: Path | None = None) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_not_binary(gray, path)
    return [str(w.message) for w in caught]


def test_non_binary_masks_warn(phantom):
    gradient = np.tile(np.linspace(0, 255, 120).astype(np.uint8), (96, 1))
    image_as_mask = np.asarray(Image.fromarray(phantom.image).convert("L"))
    for gray in (gradient, image_as_mask):
        assert grey_fraction(gray) > GREY_FRACTION
        (message,) = _warnings_of(gray, Path("m.png"))
        assert message.startswith("m.png: does not look like a binary mask") and "\n" not in message


def test_binary_and_noisy_jpeg_masks_do_not_warn(phantom):
    mask = mask_to_png_array(phantom.mask)
    for gray in (mask, _jpeg(mask, 75), _jpeg(mask, 20), phantom.mask.astype(np.uint8)):  # 0/1 label map too
        assert _warnings_of(gray) == []


def test_kvasir_masks_do_not_warn():
    if not (KVASIR / "masks").is_dir():
        pytest.skip(f"Kvasir-SEG not found at {KVASIR}")
    for path in sorted((KVASIR / "masks").iterdir())[:25]:  # RGB JPEGs with compression noise
        assert _warnings_of(image_files.read_gray(path), path) == []


def test_load_pair_warns_for_the_image_given_as_mask(phantom_files):
    image, _ = phantom_files
    with pytest.warns(UserWarning, match=r"image\.png: does not look like a binary mask"):
        pair = ss.load_pair(image, image)
    assert pair.mask.any()  # still binarised, as before


def test_load_pair_binary_mask_is_silent(phantom_files):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ss.load_pair(*phantom_files)


def test_tiny_image_names_the_file(tmp_path):
    image = _save(tmp_path / "small.png", np.zeros((7, 40, 3), np.uint8))
    mask = _save(tmp_path / "small_mask.png", np.full((7, 40), 255, np.uint8))
    with pytest.raises(InputError, match=r"small\.png: image is only 40x7 px"):
        ss.load_pair(image, mask)
    ok = _save(tmp_path / "ok.png", np.zeros((8, 8, 3), np.uint8))
    ok_mask = _save(tmp_path / "ok_mask.png", np.eye(8, dtype=np.uint8) * 255)
    assert ss.load_pair(ok, ok_mask).height == 8


# ---- manifests -------------------------------------------------------------------------------------------

def test_manifest_with_bom_is_read(tmp_path, phantom):
    samples = _samples_dir(tmp_path / "s", phantom)
    manifest = samples / "manifest.csv"
    manifest.write_bytes(b"\xef\xbb\xbf" + manifest.read_bytes())  # as Excel saves "CSV UTF-8"
    assert [r["stem"] for r in read_manifest(samples, verify=True)] == ["p0_0000", "p0_0001"]


def test_manifest_errors_name_the_file(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(b"stem,image,mask\nx,\xff\xfe,y\n")
    with pytest.raises(InputError, match=r"manifest\.csv: manifest is not UTF-8 text \(byte 0xff at offset 18\)"):
        read_manifest_rows(manifest, ("stem",))
    manifest.write_text("stem,image,mask\nx,a.png\n")
    with pytest.raises(InputError, match=r"line 2: row has no 'mask' value \(only 2 of 3 columns"):
        read_manifest_rows(manifest, ("stem", "image", "mask"))
    assert read_manifest_rows(manifest, ("stem", "image")) == [{"stem": "x", "image": "a.png", "mask": None}]
    with pytest.raises(InputError, match="manifest is a directory"):
        read_manifest_rows(tmp_path, ("stem",))


# ---- evaluation inputs -----------------------------------------------------------------------------------

def test_sifid_source_matching(tmp_path, phantom):
    samples = load_image_set(_samples_dir(tmp_path / "s", phantom, source_id="p1"))
    single = load_image_set(_save(tmp_path / "anything.png", phantom.image))
    assert single.single_file and _source_of(samples, 0, single) == 0  # a single FILE: scored against it
    one_other = load_image_set(_real_dir(tmp_path / "r1", phantom, ["p0"]))
    with pytest.raises(InputError, match="no real image with stem 'p1'"):
        _source_of(samples, 0, one_other)  # a folder of one unrelated image: refused, not silently used
    both = load_image_set(_real_dir(tmp_path / "r2", phantom, ["p0", "p1"]))
    assert _source_of(samples, 1, both) == 1
    flat = load_image_set(_real_dir(tmp_path / "flat", phantom, ["q"]) / "images")
    with pytest.raises(InputError, match="has no source_id"):
        _source_of(flat, 0, one_other)  # samples without a manifest cannot name their source


def test_heldout_checks(tmp_path, phantom):
    real = load_image_set(_real_dir(tmp_path / "real", phantom, ["a", "b"]))
    with pytest.raises(InputError, match="the held-out set is the training set"):
        check_heldout(real, load_image_set(tmp_path / "real"))
    with pytest.raises(InputError, match=r"shares 1 of its 2 images with the training set \(e\.g\. b\.png\)"):
        check_heldout(real, ImageSet(tmp_path, ["b", "c"], [tmp_path / "real" / "images" / "b.png",
                                                           tmp_path / "c.png"], [None, None]))
    check_heldout(real, load_image_set(_real_dir(tmp_path / "held", phantom, ["c"])))  # other files: fine


def test_report_out_rules(tmp_path):
    out = tmp_path / "report.html"
    assert check_report_out(out) == (out, tmp_path / "report.json")
    out.write_text(f"<!DOCTYPE html><html><head>{REPORT_TITLE}</head></html>")
    (tmp_path / "report.json").write_text('{"samples": "s", "real": "r", "n_samples": 2}')
    check_report_out(out)  # a rerun replaces its own report
    (tmp_path / "report.json").write_text('{"something": "else"}')
    with pytest.raises(InputError, match=r"report\.json: exists and is not a singan-seg report's numbers"):
        check_report_out(out)
    (tmp_path / "x.json").mkdir()
    with pytest.raises(InputError, match=r"x\.json: is a directory"):
        check_report_out(tmp_path / "x.html")
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match=r"file: is a file"):
        check_report_out(tmp_path / "file" / "r.html")


def test_heldout_copies_of_training_images_warn(tmp_path, phantom):
    from singan_seg.evaluate.privacy import warn_if_heldout_copies

    held = load_image_set(_real_dir(tmp_path / "held", phantom, ["c", "d"]))
    with pytest.warns(UserWarning, match=r"held: 1 of 2 held-out images are identical to training images"):
        warn_if_heldout_copies(np.array([0.0, 3.5]), held)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_heldout_copies(np.array([2.0, 3.5]), held)
