"""Generator packs: round trip over loopback HTTP, integrity, resume, cache, archives, privacy, CLI."""

from __future__ import annotations

import http.server
import json
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import singan_seg as ss
from singan_seg.cli import app
from singan_seg.download import cache_key as _key
from singan_seg.packs import create_pack, generate_from_pack, load_pack_model, open_pack, pack_info, verify_pack
from singan_seg.data.tensors import build_reals

# ----------------------------------------------------------------------------------------------------------
# Fixtures: three tiny models, a pack of them, a loopback server that honours Range requests
# ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("packs-models")
    dirs = []
    for seed in range(3):
        out = root / f"polyp-{seed}"
        ss.train(ss.make_phantom(seed=seed), out_dir=out, config=ss.get_preset("tiny", seed=seed), progress=False,
                 device="cpu")
        dirs.append(out)
    return dirs


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory, model_dirs) -> Path:
    return create_pack(model_dirs, tmp_path_factory.mktemp("packs") / "polyps", license="CC-BY-4.0")


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single-range `bytes=N-` support; records (path, Range header) of every GET."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(self.headers["Range"][len("bytes="):].rstrip("-")) if self.headers.get("Range") else 0
        if start >= len(data) and start:
            self.send_error(416)
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture()
def serve():
    """serve(folder) -> (base URL on 127.0.0.1, list of requests); the server stops after the test."""
    servers = []

    def start(folder: Path):
        handler = lambda *a, **k: RangeHandler(*a, directory=str(folder), **k)  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.requests = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server.requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def pair_bytes(samples_dir: Path) -> list[bytes]:
    return [p.read_bytes() for sub in ("images", "masks") for p in sorted((samples_dir / sub).iterdir())]


def copy_pack(pack_dir: Path, dest: Path) -> Path:
    for p in pack_dir.rglob("*"):
        if p.is_file():
            (dest / p.relative_to(pack_dir)).parent.mkdir(parents=True, exist_ok=True)
            (dest / p.relative_to(pack_dir)).write_bytes(p.read_bytes())
    return dest


# ----------------------------------------------------------------------------------------------------------
# Round trip and integrity
# ----------------------------------------------------------------------------------------------------------

def test_round_trip_over_http_gives_the_model_dirs_samples(tmp_path, model_dirs, pack_dir, serve):
    url, requests = serve(pack_dir.parent)
    written = generate_from_pack(f"{url}/polyps/", tmp_path / "out", num=3, seed=7, device="cpu",
                                 cache_dir=tmp_path / "cache")
    assert [p.name for p in written] == [d.name for d in model_dirs]
    for model_dir, pack_out in zip(model_dirs, written):
        direct = ss.generate(model_dir, tmp_path / "direct" / model_dir.name, num=3, seed=7, device="cpu")
        assert pair_bytes(pack_out) == pair_bytes(direct)
    assert all(r[0].startswith("/polyps/") for r in requests)


def test_pack_contents_and_card(pack_dir, model_dirs):
    index = json.loads((pack_dir / "pack.json").read_text())
    assert sorted(index["files"]) == ["MODEL_CARD.md"] + [f"generators/{d.name}.safetensors" for d in model_dirs]
    entry = index["generators"][0]
    assert entry["preset"] == "tiny" and entry["model"]["has_reconstruction_noise"] is False
    assert set(entry["inputs"]) == {"size", "foreground_fraction"}  # no file names, hashes or source ids
    card = (pack_dir / "MODEL_CARD.md").read_text()
    assert "CC-BY-4.0" in card and "removed" in card and "polyp-2" in card
    assert verify_pack(pack_dir) == sorted(index["files"])
    assert "generators (3): polyp-0, polyp-1, polyp-2" in pack_info(pack_dir)


def test_tampered_file_is_refused_locally_and_over_http(tmp_path, pack_dir, serve):
    bad = copy_pack(pack_dir, tmp_path / "bad")
    target = bad / "generators" / "polyp-1.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(ss.CheckpointError, match=r"polyp-1\.safetensors.*tampered"):
        verify_pack(bad)
    with pytest.raises(ss.CheckpointError, match="tampered"):
        load_pack_model(bad, "polyp-1")
    url, _ = serve(tmp_path)
    with pytest.raises(ss.CheckpointError, match=r"polyp-1\.safetensors.*tampered"):
        open_pack(f"{url}/bad", ids=["polyp-1"], cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("polyp-1.safetensors*"))  # nothing unverified kept
    assert open_pack(f"{url}/bad", ids=["polyp-0"], cache_dir=tmp_path / "cache").ids == ["polyp-0"]


def test_partial_download_is_resumed_with_range(tmp_path, pack_dir, serve):
    url, requests = serve(pack_dir.parent)
    source = f"{url}/polyps"
    name = "generators/polyp-0.safetensors"
    full = (pack_dir / name).read_bytes()
    part = tmp_path / "cache" / "urls" / _key(source) / (name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(full[:1000])
    opened = open_pack(source, ids=["polyp-0"], cache_dir=tmp_path / "cache")
    assert (opened.folder / name).read_bytes() == full and not part.exists()
    assert (f"/polyps/{name}", "bytes=1000-") in requests
    # a .part that is not a prefix of the file fails the checksum, is deleted, and the next try succeeds
    (opened.folder / name).unlink()
    part.write_bytes(b"x" * 1000)
    with pytest.raises(ss.CheckpointError, match="sha256"):
        open_pack(source, ids=["polyp-0"], cache_dir=tmp_path / "cache")
    assert not part.exists()
    assert (open_pack(source, ids=["polyp-0"], cache_dir=tmp_path / "cache").folder / name).read_bytes() == full


def test_file_url_archives_and_cache_env(tmp_path, pack_dir, model_dirs, monkeypatch):
    monkeypatch.setenv("SINGAN_SEG_CACHE", str(tmp_path / "envcache"))
    reference = generate_from_pack(pack_dir, tmp_path / "ref", ids=["polyp-2"], num=2, seed=3, device="cpu")[0]
    for suffix in (".zip", ".tar.gz"):
        archive = create_pack(model_dirs, tmp_path / f"polyps{suffix}")
        out = generate_from_pack(archive.as_uri(), tmp_path / f"out{suffix}", ids=["polyp-2"], num=2, seed=3,
                                 device="cpu")[0]
        assert pair_bytes(out) == pair_bytes(reference)
    assert len(list((tmp_path / "envcache" / "archives").iterdir())) == 2
    try:
        import zstandard  # noqa: F401
    except ImportError:
        with pytest.raises(ss.InputError, match="zstandard"):
            create_pack(model_dirs, tmp_path / "polyps.tar.zst")


def test_hostile_paths_and_hosts_are_refused(tmp_path, pack_dir):
    bad = copy_pack(pack_dir, tmp_path / "bad")
    index = json.loads((bad / "pack.json").read_text())
    index["files"]["../../evil"] = {"sha256": "0" * 64, "bytes": 1}
    (bad / "pack.json").write_text(json.dumps(index))
    with pytest.raises(ss.CheckpointError, match="unsafe file name"):
        verify_pack(bad)
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(ss.CheckpointError, match="unsafe file name"):
        open_pack(tmp_path / "evil.zip", cache_dir=tmp_path / "cache")
    with pytest.raises(ss.InputError, match="https"):
        open_pack("http://example.org/pack/", cache_dir=tmp_path / "cache")


# ----------------------------------------------------------------------------------------------------------
# Privacy: without the reconstruction noise the training image cannot be rebuilt
# ----------------------------------------------------------------------------------------------------------

def rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).mean().sqrt())


def test_pack_cannot_rebuild_the_training_image(tmp_path, pack_dir, model_dirs):
    model_dir = model_dirs[0]
    tensors = load_file(pack_dir / "generators" / "polyp-0.safetensors")
    assert not any(k == "rec_noise" or k.startswith("discriminator") for k in tensors)
    full = ss.load(model_dir, device="cpu")
    real = build_reals(ss.make_phantom(seed=0), full.shapes, "cpu")[-1]  # (1, 4, H, W) training image
    rec_error = rmse(full.reconstruct(), real)

    shared = load_pack_model(pack_dir, "polyp-0")
    assert shared.rec_noise is None
    with pytest.raises(ValueError, match="no reconstruction noise"):
        shared.reconstruct()
    best_sample = min(rmse(x[None], real) for x in shared.generate(64, seed=0))
    shared.rec_noise = torch.zeros(1, 4, *shared.shapes[0])
    zero_noise = rmse(shared.reconstruct(), real)
    assert best_sample > 1.6 * rec_error and zero_noise > 2 * rec_error, (rec_error, best_sample, zero_noise)

    with pytest.raises(ss.InputError, match="only start scale 0"):
        generate_from_pack(pack_dir, tmp_path / "s", start_scale=1, device="cpu")
    with pytest.raises(ss.InputError, match="only variation 1"):  # it would lean on the reconstruction noise
        generate_from_pack(pack_dir, tmp_path / "s", variation=0.5, device="cpu")
    assert not (tmp_path / "s").exists()

    with pytest.warns(UserWarning, match="rebuild the real training images"):
        leaky = create_pack([model_dir], tmp_path / "leaky", include_reconstruction=True)
    assert "Warning: this pack keeps the reconstruction noise" in (leaky / "MODEL_CARD.md").read_text()
    restored = load_pack_model(leaky, "polyp-0")
    assert torch.equal(restored.reconstruct(), full.reconstruct())
    generate_from_pack(leaky, tmp_path / "s1", start_scale=1, num=1, device="cpu")


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------

def test_cli_pack_commands(tmp_path, model_dirs, monkeypatch):
    monkeypatch.setenv("SINGAN_SEG_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    result = runner.invoke(app, ["pack", "create", *map(str, model_dirs[:2]), "--out", str(tmp_path / "p.zip"),
                                 "--ids", "a,b", "--license", "MIT", "--name", "demo"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["pack", "verify", str(tmp_path / "p.zip")])
    assert result.exit_code == 0 and "3 files match" in result.output, result.output
    result = runner.invoke(app, ["pack", "info", str(tmp_path / "p.zip")])
    assert "demo" in result.output and "license: MIT" in result.output and "a, b" in result.output
    result = runner.invoke(app, ["generate", "--pack", str(tmp_path / "p.zip"), "--ids", "b", "--num", "2",
                                 "--out", str(tmp_path / "s"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "s" / "b" / "images").iterdir())) == 2
    result = runner.invoke(app, ["generate", "--out", str(tmp_path / "t")])
    assert isinstance(result.exception, ss.InputError) and "MODEL_DIR or --pack" in str(result.exception)
