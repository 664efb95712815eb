"""Hostile and malformed inputs to packs, downloads, legacy import, build-dataset and export (issue #33, 11-15).

Every case runs `singan-seg ARGS` in this process and must give exit code 2, exactly one non-empty line on
stderr naming the file, URL or option, and leave every file and folder as it was (nothing created, changed or
deleted; a download cache may gain empty folders but never a file).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import http.server
import json
import shutil
import sys
import threading
import time
import types
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import singan_seg as ss
import singan_seg.download as download_module
from singan_seg.download import cache_key, download
from singan_seg.packs import create_pack, open_pack

from .conftest import run_cli
from .test_legacy import SHAPES, original_classes


# ----------------------------------------------------------------------------------------------------------
# Helpers: folder snapshots, a pack, a legacy run, a real dataset, a built dataset, a hostile HTTP server
# ----------------------------------------------------------------------------------------------------------

def snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, str]:
    """Every file (sha256), link (target) and folder under `root`, by relative path."""
    state = {}
    for path in sorted(root.rglob("*")):
        if any(path == s or s in path.parents for s in skip):
            continue
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            state[key] = "link:" + str(path.readlink())
        elif path.is_dir():
            state[key] = "dir"
        else:
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


@pytest.fixture(scope="module")
def pack_source(tmp_path_factory, tiny_model_dir) -> Path:
    return create_pack([tiny_model_dir], tmp_path_factory.mktemp("bad-packs") / "pack", license="MIT")


def edit_json(path: Path, change: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@contextlib.contextmanager
def original_singan():
    """The original SinGAN module path, present only while legacy files are written."""
    saved = {k: sys.modules.get(k) for k in ("SinGAN", "SinGAN.models")}
    sys.modules["SinGAN"] = types.ModuleType("SinGAN")
    sys.modules["SinGAN.models"] = module = original_classes()
    try:
        yield module
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def legacy_run(folder: Path, widths=(8, 8, 8), edit: Callable | None = None) -> Path:
    """An original SinGAN run folder (Gs.pth, NoiseAmp.pth, reals.pth, Zs.pth); `edit(files)` may change the
    objects before they are saved (files: name -> object)."""
    folder.mkdir(parents=True)
    with original_singan() as module:
        torch.manual_seed(0)
        files = {"Gs.pth": [module.GeneratorConcatSkip2CleanAdd(nfc=w).eval() for w in widths],
                 "NoiseAmp.pth": [1.0, 0.05, 0.02],
                 "reals.pth": [torch.rand(1, 4, h, w) for h, w in SHAPES],
                 "Zs.pth": [torch.randn(1, 4, h + 10, w + 10) for h, w in SHAPES]}
        if edit is not None:
            edit(files, module)
        for name, obj in files.items():
            torch.save(obj, folder / name)
    return folder


def real_pairs(folder: Path, count: int = 2) -> tuple[Path, Path]:
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i in range(count):
        pair = ss.make_phantom(height=48, width=64, seed=i)
        Image.fromarray(pair.image).save(folder / "images" / f"p{i}.png")
        Image.fromarray(np.where(pair.mask, 255, 0).astype(np.uint8)).save(folder / "masks" / f"p{i}.png")
    return folder / "images", folder / "masks"


def png(seed: int) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


MANIFEST_HEADER = ["stem", "image", "mask", "image_sha256", "mask_sha256", "source_id", "index", "fold"]


def built_dataset(folder: Path, edit: Callable[[list[dict]], None] | None = None) -> Path:
    """A dataset folder as build-dataset leaves it (two sources in folds 0 and 1), made without training."""
    rows = []
    for i, source in enumerate(("p0", "p1")):
        samples = folder / "pairs" / source / "samples"
        stem = f"{source}_s0_seed0_00000"
        image, mask = png(i), png(10 + i)
        for sub, data in (("images", image), ("masks", mask)):
            (samples / sub).mkdir(parents=True, exist_ok=True)
            (samples / sub / f"{stem}.png").write_bytes(data)
        rows.append({"stem": stem, "image": f"pairs/{source}/samples/images/{stem}.png",
                     "mask": f"pairs/{source}/samples/masks/{stem}.png",
                     "image_sha256": hashlib.sha256(image).hexdigest(),
                     "mask_sha256": hashlib.sha256(mask).hexdigest(), "source_id": source, "index": "0",
                     "fold": str(i)})
    if edit is not None:
        edit(rows)
    write_rows(folder / "manifest.csv", rows)
    return folder


def write_rows(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row)) or MANIFEST_HEADER
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


class HostileHandler(http.server.SimpleHTTPRequestHandler):
    """/short/*: announces 100 bytes, sends 30 and closes; /stall/*: sends 30 of 100 bytes, then nothing;
    anything else: the files of the served folder."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith(("/short/", "/stall/")):
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"format": "singan-seg-pack", '[:30])
            self.wfile.flush()
            if self.path.startswith("/stall/"):
                self.server.release.wait(10)
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture()
def hostile_server():
    """hostile_server(folder) -> base URL on 127.0.0.1 serving `folder` (and /short/, /stall/)."""
    servers = []

    def start(folder: Path) -> str:
        handler = lambda *a, **k: HostileHandler(*a, directory=str(folder), **k)  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.release = threading.Event()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------------------
# The corpus: each case builds its inputs under `tmp` and returns (CLI arguments, text the line must contain)
# ----------------------------------------------------------------------------------------------------------

class Ctx:
    def __init__(self, tmp: Path, pack_source: Path, tiny_model_dir: Path, serve, monkeypatch):
        self.tmp, self._pack, self._model, self._serve, self.monkeypatch = tmp, pack_source, tiny_model_dir, serve, \
            monkeypatch

    def pack(self, change: Callable[[dict], object] | None = None) -> Path:
        dest = self.tmp / "pack"
        shutil.copytree(self._pack, dest)
        if change is not None:
            edit_json(dest / "pack.json", change)
        return dest

    def model(self) -> Path:
        dest = self.tmp / "model"
        shutil.copytree(self._model, dest)
        return dest

    def use_cache(self) -> None:
        """Downloads and extracted archives go to tmp/cache (outside the snapshot), with a 0.5 s stall limit."""
        self.monkeypatch.setenv("SINGAN_SEG_CACHE", str(self.tmp / "cache"))
        self.monkeypatch.setattr(download_module, "TIMEOUT_S", 0.5)

    def serve(self, folder: Path | None = None) -> str:
        """Base URL of a server for `folder` (default tmp), with the cache as in `use_cache`."""
        self.use_cache()
        return self._serve(folder or self.tmp)


def first_generator(change):
    return lambda index: change(index["generators"][0])


def _set_model(key, value):
    return first_generator(lambda g: g["model"].__setitem__(key, value))


def _pyramid_shapes(value):
    return first_generator(lambda g: g["model"]["pyramid"].__setitem__("shapes", value))


PACK_JSON_CASES = {
    # issue 11: a pack.json without MODEL_CARD.md, strings for generators, a generator without model
    "no-model-card-listed": (lambda i: i["files"].pop("MODEL_CARD.md"), "MODEL_CARD.md"),
    "generators-are-strings": (lambda i: i.__setitem__("generators", ["m1"]),
                               "field generators[0] should be an object"),
    "generator-without-model": (first_generator(lambda g: g.pop("model")), "field generators[0].model is missing"),
    "generator-without-id": (first_generator(lambda g: g.pop("id")), "generators[0].id is missing"),
    "generator-id-unsafe": (first_generator(lambda g: g.__setitem__("id", "../x")),
                            "generators[0].id is invalid: generator id '../x' is not filename-safe"),
    "generator-file-unlisted": (first_generator(lambda g: g.__setitem__("file", "nope.safetensors")),
                                "generators[0].file"),
    "files-not-an-object": (lambda i: i.__setitem__("files", []), "field files should be an object"),
    "sha256-not-a-string": (lambda i: i["files"]["MODEL_CARD.md"].__setitem__("sha256", 5),
                            "files['MODEL_CARD.md'].sha256"),
    "bytes-missing": (lambda i: i["files"]["MODEL_CARD.md"].pop("bytes"), "files['MODEL_CARD.md'].bytes is missing"),
    "unsafe-file-name": (lambda i: i["files"].__setitem__("../../etc/passwd", {"sha256": "0" * 64, "bytes": 1}),
                         "unsafe file name"),
    "includes-reconstruction-string": (lambda i: i.__setitem__("includes_reconstruction", "no"),
                                       "field includes_reconstruction should be true or false"),
    "license-missing": (lambda i: i.pop("license"), "field license is missing"),
    "no-generators": (lambda i: i.__setitem__("generators", []), "field generators should be a non-empty list"),
    "pyramid-shapes-string": (_pyramid_shapes("x"), "generators[0].model.pyramid.shapes"),
    "pyramid-shape-negative": (_pyramid_shapes([[-4, 5]]), "generators[0].model.pyramid.shapes"),
    "noise-amps-too-short": (_set_model("noise_amps", [1.0]), "generators[0].model.noise_amps"),
    "noise-amp-nan": (_set_model("noise_amps", [float("nan")] * 9), "generators[0].model.noise_amps"),
    "trained-scales-string": (_set_model("trained_scales", "3"), "generators[0].model.trained_scales"),
    "config-bad-type": (first_generator(lambda g: g["model"]["config"].__setitem__("scale_factor", "abc")),
                        "generators[0].model.config is not a valid training config"),
    "config-unknown-setting": (first_generator(lambda g: g["model"]["config"].__setitem__("bogus", 1)),
                               "generators[0].model.config"),
    "model-claims-reconstruction": (_set_model("has_reconstruction_noise", True), "has_reconstruction_noise"),
    "foreground-fraction-string": (first_generator(lambda g: g["inputs"].__setitem__("foreground_fraction", "x")),
                                   "generators[0].inputs.foreground_fraction"),
    "duplicate-ids": (lambda i: i["generators"].append(dict(i["generators"][0])), "generators[1].id"),
}


def _pack_json_case(change, expected, command):
    def case(ctx: Ctx):
        pack = ctx.pack(change)
        return [*command, pack], ["pack.json", expected]
    return case


CASES: dict[str, Callable[[Ctx], tuple[list, list[str]]]] = {}
for _name, (_change, _expected) in PACK_JSON_CASES.items():
    CASES[f"pack-json-{_name}"] = _pack_json_case(_change, _expected, ["pack", "verify"])
CASES["pack-json-info-generators-are-strings"] = _pack_json_case(
    lambda i: i.__setitem__("generators", ["m1"]), "generators[0]", ["pack", "info"])


def _case_pack_json_empty(ctx):
    pack = ctx.pack()
    (pack / "pack.json").write_bytes(b"")
    return ["pack", "info", pack], ["pack.json", "corrupt JSON"]


def _case_generate_from_bad_pack(ctx):
    pack = ctx.pack(first_generator(lambda g: g.pop("model")))
    return ["generate", "--pack", pack, "--num", "1", "--out", ctx.tmp / "out"], ["pack.json", "generators[0].model"]


def _case_archive_without_index(ctx):
    ctx.use_cache()
    archive = ctx.tmp / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("nested/pack.json", "{}")
    return ["pack", "info", archive], ["pack.zip", "no pack.json"]


def _case_archive_bad_index(ctx):
    ctx.use_cache()
    archive = ctx.tmp / "pack.zip"
    pack = ctx.pack(lambda i: i.__setitem__("generators", ["m1"]))
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(pack.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(pack).as_posix())
    return ["pack", "info", archive], ["pack.zip", "pack.json", "generators[0]"]


def _case_pack_create_onto_its_model(ctx):
    model = ctx.model()
    return ["pack", "create", model, "--out", model, "--overwrite"], [str(model), "own input"]


def _case_pack_create_onto_model_parent(ctx):
    model = ctx.model()
    return ["pack", "create", model, "--out", ctx.tmp, "--overwrite"], [str(ctx.tmp), "own input"]


# issue 12: downloads
def _case_http_short_body(ctx):
    url = ctx.serve()
    return ["pack", "info", f"{url}/short/"], [f"{url}/short/pack.json", "cut short", "30 of 100 bytes"]


def _case_http_stall(ctx):
    url = ctx.serve()
    return ["pack", "info", f"{url}/stall/"], [f"{url}/stall/pack.json", "sent nothing for 0.5 s"]


def _case_http_corrupt_index(ctx):
    (ctx.tmp / "served" / "bad").mkdir(parents=True)
    (ctx.tmp / "served" / "bad" / "pack.json").write_text("{not json")
    url = ctx.serve(ctx.tmp / "served")
    return ["pack", "info", f"{url}/bad/"], [f"{url}/bad/pack.json", "corrupt JSON"]


def _case_http_bad_schema(ctx):
    served = ctx.tmp / "served"
    served.mkdir()
    pack = ctx.pack(first_generator(lambda g: g.pop("model")))
    shutil.copytree(pack, served / "p")
    url = ctx.serve(served)
    return ["pack", "verify", f"{url}/p/"], [f"{url}/p/pack.json", "generators[0].model is missing"]


def _case_http_not_found(ctx):
    url = ctx.serve(ctx.tmp)
    return ["pack", "info", f"{url}/missing/"], [f"{url}/missing/pack.json", "HTTP 404"]


def _case_http_connection_refused(ctx):
    ctx.serve()
    url = f"http://127.0.0.1:{closed_port()}/p/"
    return ["pack", "info", url], [f"{url}pack.json", "cannot download"]


def _case_http_remote_plain(ctx):
    return ["pack", "info", "http://example.org/p/"], ["http://example.org/p/", "plain http"]


for _f in (_case_pack_json_empty, _case_generate_from_bad_pack, _case_archive_without_index, _case_archive_bad_index,
           _case_pack_create_onto_its_model, _case_pack_create_onto_model_parent, _case_http_short_body,
           _case_http_stall, _case_http_corrupt_index, _case_http_bad_schema, _case_http_not_found,
           _case_http_connection_refused, _case_http_remote_plain):
    CASES[_f.__name__.removeprefix("_case_").replace("_", "-")] = _f


# issue 13: legacy import of allow-listed but malformed content
def _legacy(name: str, edit, expected: list[str], extra: tuple[str, ...] = (), widths=(8, 8, 8)):
    def case(ctx):
        run = legacy_run(ctx.tmp / "run", widths=widths, edit=edit)
        return ["pack", "import-legacy", run, "--out", ctx.tmp / "pack", "--trust-pickle", *extra], expected
    CASES[f"legacy-{name}"] = case


def _set(name, value):
    return lambda files, module: files.__setitem__(name, value)


def _self_loop(files, module):
    files["Gs.pth"][0].body.add_module("loop", files["Gs.pth"][0])


def _extra_layer(files, module):
    files["Gs.pth"][1].head.add_module("extra", nn.Conv2d(8, 8, 1))


def _int_parameter(files, module):
    files["Gs.pth"][2].tail[0]._parameters["bias"] = 3


def _three_channels(files, module):
    files["Gs.pth"][0] = module.GeneratorConcatSkip2CleanAdd(nc_im=3)


_legacy("gs-list-of-tensors", _set("Gs.pth", [torch.zeros(3)]), ["Gs.pth", "expected a list of generator modules"])
_legacy("noise-amp-dict", _set("NoiseAmp.pth", {"a": 1}), ["NoiseAmp.pth", "list of noise amplitudes"])
_legacy("noise-amp-string", _set("NoiseAmp.pth", ["abc", 1.0, 2.0]), ["NoiseAmp.pth", "noise amplitude 0"])
_legacy("noise-amp-too-few", _set("NoiseAmp.pth", [1.0, 0.5]), ["run", "3 generators, 2 noise amplitudes"])
_legacy("reals-not-tensors", _set("reals.pth", [1, 2, 3]), ["reals.pth", "item 0 should be a tensor"])
_legacy("reals-1d", _set("reals.pth", [torch.rand(5)] * 3), ["reals.pth", "item 0"])
_legacy("gs-module-cycle", _self_loop, ["Gs.pth", "nested deeper"])
_legacy("gs-unknown-layer", _extra_layer, ["Gs.pth", "unexpected tensor 'head.extra.weight'"])
_legacy("gs-int-parameter", _int_parameter, ["Gs.pth", "tail.0.bias is of type int, not a tensor"])
_legacy("gs-three-channels", _three_channels, ["Gs.pth", "takes 3 channels"])
_legacy("gs-widths", None, ["run", "do not follow SinGAN's doubling"], widths=(8, 16, 8))
_legacy("zs-wrong-shape", _set("Zs.pth", [torch.randn(1, 4, 5, 5)]), ["Zs.pth", "first noise map has shape"],
        extra=("--include-reconstruction",))
_legacy("zs-not-a-list", _set("Zs.pth", 7), ["Zs.pth", "non-empty list"], extra=("--include-reconstruction",))


def _case_legacy_random_bytes(ctx):
    run = legacy_run(ctx.tmp / "run")
    (run / "Gs.pth").write_bytes(b"\x80\x02garbage" * 10)
    return ["pack", "import-legacy", run, "--out", ctx.tmp / "pack", "--trust-pickle"], \
        ["Gs.pth", "cannot read legacy checkpoint"]


CASES["legacy-gs-random-bytes"] = _case_legacy_random_bytes


def _case_legacy_onto_its_run(ctx):
    run = legacy_run(ctx.tmp / "run")
    return ["pack", "import-legacy", run, "--out", run, "--trust-pickle", "--overwrite"], ["run", "own input"]


CASES["legacy-onto-its-run"] = _case_legacy_onto_its_run


# issue 14 and the weak case: build-dataset
def _build(ctx, *extra, prepare: Callable[[Path], None] | None = None):
    images, masks = real_pairs(ctx.tmp / "real")
    out = ctx.tmp / "syn"
    if prepare is not None:
        out.mkdir()
        prepare(out)
    return ["build-dataset", "--images", images, "--masks", masks, "--out", out, "--preset", "tiny",
            "--per-image", "1", *extra]


def _damaged(content: bytes):
    def prepare(out):
        (out / "dataset.json").write_bytes(content)
        (out / "pairs" / "p0").mkdir(parents=True)
        (out / "pairs" / "p0" / "DONE.json").write_text("{}")
    return prepare


CASES["build-empty-dataset-json"] = lambda ctx: (
    _build(ctx, prepare=_damaged(b"")), ["dataset.json", "damaged", "dataset.json is empty", "--overwrite"])
CASES["build-corrupt-dataset-json"] = lambda ctx: (
    _build(ctx, prepare=_damaged(b'{"format": "singan-seg-da')), ["dataset.json", "damaged", "corrupt JSON"])
CASES["build-foreign-dataset-json"] = lambda ctx: (
    _build(ctx, prepare=_damaged(b"[1, 2]")), ["dataset.json", "damaged", "not a singan-seg-dataset"])
CASES["build-dataset-json-settings-string"] = lambda ctx: (
    _build(ctx, prepare=_damaged(json.dumps({"format": "singan-seg-dataset", "format_version": 1,
                                             "settings": "x"}).encode())), ["dataset.json", "damaged", "'settings'"])
CASES["build-dataset-json-bad-train-config"] = lambda ctx: (
    _build(ctx, prepare=_damaged(json.dumps({"format": "singan-seg-dataset", "format_version": 1, "settings": {},
                                             "train_config": {"scale_factor": "abc"}}).encode())),
    ["dataset.json", "damaged", "training config"])
CASES["build-workers-0"] = lambda ctx: (_build(ctx, "--workers", "0"), ["workers should be at least 1, got 0"])
CASES["build-workers-0-dry-run"] = lambda ctx: (_build(ctx, "--workers", "0", "--dry-run"), ["workers"])
CASES["build-threads-0"] = lambda ctx: (_build(ctx, "--threads", "0"), ["threads should be at least 1"])
CASES["build-batch-models-0"] = lambda ctx: (_build(ctx, "--batch-models", "0"), ["batch_models"])
CASES["build-limit-0"] = lambda ctx: (_build(ctx, "--limit", "0"), ["limit"])
CASES["build-style-steps-0"] = lambda ctx: (_build(ctx, "--style", "fast", "--style-steps", "0"), ["style_steps"])
CASES["build-seed-negative"] = lambda ctx: (_build(ctx, "--seed", "-1"), ["seed should be >= 0"])
CASES["build-backend-unknown"] = lambda ctx: (_build(ctx, "--backend", "slurm"), ["backend 'slurm'"])
CASES["build-exclude-fold-without-folds"] = lambda ctx: (
    _build(ctx, "--exclude-fold", "0"), ["cannot leave out fold 0 without a folds file (--folds)"])


def _case_build_out_is_images(ctx):
    images, masks = real_pairs(ctx.tmp / "real")
    return ["build-dataset", "--images", images, "--masks", masks, "--out", images, "--preset", "tiny",
            "--overwrite"], [str(images), "the images it is built from"]


def _case_build_out_is_a_file(ctx):
    (ctx.tmp / "syn").write_text("keep me")
    return _build(ctx), ["syn", "not a directory"]


CASES["build-out-is-images"] = _case_build_out_is_images
CASES["build-out-is-a-file"] = _case_build_out_is_a_file


# issue 15: export
def _export(edit=None, *extra, expected: list[str]):
    def case(ctx):
        dataset = built_dataset(ctx.tmp / "syn", edit)
        return ["export", dataset, "--out", ctx.tmp / "train", *extra], expected
    return case


def _row(n, **changes):
    return lambda rows: rows[n].update(changes)


CASES["export-limit-zero"] = _export(None, "--limit", "0", expected=["limit should be at least 1, got 0"])
CASES["export-fold-x"] = _export(_row(1, fold="x"), "--exclude-fold", "0",
                                 expected=["manifest.csv", "line 3: fold 'x' is not an integer"])
CASES["export-absolute-path"] = _export(_row(0, image="/etc/hostname"),
                                        expected=["manifest.csv", "'/etc/hostname' points outside the folder"])
CASES["export-dotdot-path"] = _export(_row(0, mask="pairs/../../outside.png"),
                                      expected=["manifest.csv", "line 2: mask", "points outside the folder"])
CASES["export-backslash-path"] = _export(_row(0, image="pairs\\..\\..\\outside.png"),
                                         expected=["manifest.csv", "line 2: image", "points outside the folder"])
CASES["export-sha-mismatch"] = _export(_row(1, image_sha256="0" * 64),
                                       expected=["manifest.csv", "line 3", "does not match its image_sha256"])
CASES["export-sha-column-missing"] = _export(lambda rows: [r.pop("mask_sha256") for r in rows],
                                             expected=["manifest.csv", "mask_sha256"])
CASES["export-missing-file"] = _export(_row(0, image="pairs/p0/samples/images/gone.png"),
                                       expected=["manifest.csv", "gone.png", "missing"])
CASES["export-fold-not-present"] = _export(None, "--exclude-fold", "5",
                                           expected=["manifest.csv", "fold 5", "exclude nothing"])
CASES["export-index-not-int"] = _export(_row(0, index="abc"), "--per-image", "1",
                                        expected=["manifest.csv", "index 'abc' is not an integer"])
CASES["export-duplicate-names"] = _export(
    lambda rows: rows[1].update(image=rows[1]["image"].replace("p1_", "p0_").replace("/p1/", "/p0/"),
                                image_sha256=rows[0]["image_sha256"]),
    expected=["manifest.csv", "repeats line 2"])


def _case_export_symlink_out(ctx):
    dataset = built_dataset(ctx.tmp / "syn")
    outside = ctx.tmp / "secret.png"
    outside.write_bytes(png(99))
    link = dataset / "pairs" / "p0" / "samples" / "images" / "leak.png"
    link.symlink_to(outside)
    rows = list(csv.DictReader(open(dataset / "manifest.csv", newline="")))
    rows[0]["image"] = "pairs/p0/samples/images/leak.png"
    rows[0]["image_sha256"] = hashlib.sha256(png(99)).hexdigest()
    write_rows(dataset / "manifest.csv", rows)
    return ["export", dataset, "--out", ctx.tmp / "train"], ["manifest.csv", "leads outside the dataset"]


def _case_export_not_utf8(ctx):
    dataset = built_dataset(ctx.tmp / "syn")
    (dataset / "manifest.csv").write_bytes((dataset / "manifest.csv").read_bytes() + "\nx,é\n".encode("latin-1"))
    return ["export", dataset, "--out", ctx.tmp / "train"], ["manifest.csv"]


def _case_export_onto_dataset(ctx):
    dataset = built_dataset(ctx.tmp / "syn")
    return ["export", dataset, "--out", dataset, "--overwrite"], [str(dataset), "outside the dataset"]


def _case_export_into_dataset_pairs(ctx):
    dataset = built_dataset(ctx.tmp / "syn")
    return ["export", dataset, "--out", dataset / "pairs", "--overwrite"], ["pairs", "outside the dataset"]


def _case_export_out_is_a_file(ctx):
    dataset = built_dataset(ctx.tmp / "syn")
    (ctx.tmp / "train").write_text("keep me")
    return ["export", dataset, "--out", ctx.tmp / "train", "--overwrite"], ["train", "not a directory"]


for _f in (_case_export_symlink_out, _case_export_not_utf8, _case_export_onto_dataset,
           _case_export_into_dataset_pairs, _case_export_out_is_a_file):
    CASES[_f.__name__.removeprefix("_case_").replace("_", "-")] = _f


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_one_line_and_changes_nothing(name, tmp_path, pack_source, tiny_model_dir, hostile_server,
                                                      monkeypatch, capsys):
    ctx = Ctx(tmp_path, pack_source, tiny_model_dir, hostile_server, monkeypatch)
    args, expected = CASES[name](ctx)
    cache = tmp_path / "cache"
    before = snapshot(tmp_path, skip=(cache,))
    started = time.perf_counter()
    code, err = run_cli(*args, capsys=capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert snapshot(tmp_path, skip=(cache,)) == before  # nothing created, changed or deleted
    assert not [p for p in cache.rglob("*") if p.is_file()]  # no downloaded byte is kept
    assert time.perf_counter() - started < 3


# ----------------------------------------------------------------------------------------------------------
# The same inputs made good work (so the cases above fail for the reason they name)
# ----------------------------------------------------------------------------------------------------------

def test_the_unbroken_inputs_are_accepted(tmp_path, pack_source, tiny_model_dir, hostile_server, monkeypatch,
                                          capsys):
    ctx = Ctx(tmp_path, pack_source, tiny_model_dir, hostile_server, monkeypatch)
    pack = ctx.pack()
    assert run_cli("pack", "verify", pack, capsys=capsys)[0] == 0
    url = ctx.serve(tmp_path)
    assert run_cli("pack", "info", f"{url}/pack/", capsys=capsys)[0] == 0
    dataset = built_dataset(tmp_path / "syn")
    assert run_cli("export", dataset, "--out", tmp_path / "train", "--exclude-fold", "0", capsys=capsys)[0] == 0
    rows = ss.data.read_manifest(tmp_path / "train", verify=True)
    assert [r["source_id"] for r in rows] == ["p1"]
    run = legacy_run(tmp_path / "run")
    code, err = run_cli("pack", "import-legacy", run, "--out", tmp_path / "legacy", "--trust-pickle", capsys=capsys)
    assert code == 0, err


# ----------------------------------------------------------------------------------------------------------
# Downloads: short bodies and stalls are never cached; a cached file is not replaced by a failed refresh
# ----------------------------------------------------------------------------------------------------------

def test_a_short_body_with_a_known_checksum_is_kept_only_as_part(tmp_path, hostile_server):
    url = hostile_server(tmp_path)
    dest = tmp_path / "cache" / "file.bin"
    with pytest.raises(ss.InputError, match=r"/short/file\.bin: download cut short: .*30 of 100 bytes.*resume"):
        download(f"{url}/short/file.bin", dest, sha256="0" * 64)
    assert not dest.exists()
    assert dest.with_name("file.bin.part").stat().st_size == 30  # resumable, never taken for the file


def test_a_stalled_server_is_a_one_line_error_within_the_timeout(tmp_path, hostile_server, monkeypatch):
    monkeypatch.setattr(download_module, "TIMEOUT_S", 0.3)
    url = hostile_server(tmp_path)
    started = time.perf_counter()
    with pytest.raises(ss.InputError, match=r"download interrupted after 30 bytes .the server sent nothing for "
                                            r"0\.3 s.") as info:
        download(f"{url}/stall/pack.json", tmp_path / "cache" / "pack.json", fresh=True)
    assert time.perf_counter() - started < 2.5
    assert "\n" not in str(info.value)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_a_failed_refresh_keeps_the_cached_index(tmp_path, pack_source, hostile_server):
    served = tmp_path / "served"
    shutil.copytree(pack_source, served / "p")
    url = hostile_server(served)
    opened = open_pack(f"{url}/p/", ids=[], cache_dir=tmp_path / "cache")
    cached = (opened.folder / "pack.json").read_bytes()
    (served / "p" / "pack.json").write_text('{"format": "singan-seg-pack", "format_version": 1, "generators": ["m1"]')
    with pytest.raises(ss.CheckpointError, match=r"/p/pack\.json: corrupt JSON"):
        open_pack(f"{url}/p/", ids=[], cache_dir=tmp_path / "cache")
    assert (opened.folder / "pack.json").read_bytes() == cached
    assert sorted(p.name for p in opened.folder.iterdir()) == ["MODEL_CARD.md", "pack.json"]


def test_a_server_announcing_another_size_than_pack_json_is_refused(tmp_path, pack_source, hostile_server):
    served = tmp_path / "served"
    shutil.copytree(pack_source, served / "p")
    index = json.loads((served / "p" / "pack.json").read_text())
    name = index["generators"][0]["file"]
    index["files"][name]["bytes"] += 1  # the index promises one byte more than the server has
    (served / "p" / "pack.json").write_text(json.dumps(index))
    url = hostile_server(served)
    with pytest.raises(ss.InputError, match=r"announces \d+ bytes, but \d+ are expected"):
        open_pack(f"{url}/p/", cache_dir=tmp_path / "cache")
    folder = tmp_path / "cache" / "urls" / cache_key(f"{url}/p/")
    assert not (folder / name).exists() and not (folder / (name + ".part")).exists()


# ----------------------------------------------------------------------------------------------------------
# The recovery the damaged-dataset message offers works
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_damaged_dataset_folder_is_rebuilt_with_overwrite(tmp_path):
    from singan_seg.pipeline import DatasetSettings, build_dataset

    images, masks = real_pairs(tmp_path / "real")
    out = tmp_path / "syn"
    (out / "pairs" / "p0").mkdir(parents=True)
    (out / "pairs" / "p0" / "DONE.json").write_text("{}")  # from the unknown earlier build
    (out / "dataset.json").write_text("")
    settings = DatasetSettings(method="patchnn", per_image=1)  # training-free: the quickest real build
    with pytest.raises(ss.InputError, match="damaged"):
        build_dataset(images, masks, out, settings=settings, progress=False)
    result = build_dataset(images, masks, out, settings=settings, overwrite=True, progress=False)
    assert result.ok and result.done == ["p0", "p1"]
    assert json.loads((out / "dataset.json").read_text())["settings"]["method"] == "patchnn"
    assert len(list(csv.DictReader(open(out / "manifest.csv", newline="")))) == 2
