"""The Kvasir-SEG helper, against a loopback HTTP server and a local file (the real host is never contacted)."""

import functools
import hashlib
import http.server
import io
import json
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

import singan_seg as ss
from singan_seg.data.kvasir import fetch_kvasir_seg


def jpeg(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A zip in the official layout (Kvasir-SEG/images, Kvasir-SEG/masks, bboxes) holding 3 phantom pairs."""
    root = tmp_path_factory.mktemp("served")
    path = root / "kvasir-seg.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(3):
            pair = ss.make_phantom(height=48, width=64, seed=i)
            zf.writestr(f"Kvasir-SEG/images/c{i}.jpg", jpeg(pair.image))
            zf.writestr(f"Kvasir-SEG/masks/c{i}.jpg", jpeg(np.where(pair.mask, 255, 0).astype(np.uint8)))
        zf.writestr("Kvasir-SEG/kavsir_bboxes.json", "{}")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(archive):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive[0].parent))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/kvasir-seg.zip"
    httpd.shutdown()


def test_download_verify_unpack(tmp_path, archive, server):
    dest = fetch_kvasir_seg(tmp_path / "kvasir", url=server, sha256=archive[1], cache_dir=tmp_path / "cache")
    assert sorted(p.name for p in (dest / "images").iterdir()) == ["c0.jpg", "c1.jpg", "c2.jpg"]
    assert (dest / "kavsir_bboxes.json").is_file()
    source = json.loads((dest / "SOURCE.json").read_text())
    assert source["pairs"] == 3 and source["sha256"] == archive[1] and source["verified"]
    assert ss.load_pair(dest / "images" / "c1.jpg", dest / "masks" / "c1.jpg").mask.any()
    # a second unpack reuses the verified download in the cache instead of fetching it again
    (cached,) = (tmp_path / "cache").rglob("kvasir-seg.zip")
    stamp = cached.stat().st_mtime_ns
    again = fetch_kvasir_seg(tmp_path / "again", url=server, sha256=archive[1], cache_dir=tmp_path / "cache")
    assert (again / "SOURCE.json").is_file() and cached.stat().st_mtime_ns == stamp


def test_wrong_checksum_is_refused_and_nothing_is_left(tmp_path, server):
    with pytest.raises(ss.CheckpointError, match="corrupt or tampered"):
        fetch_kvasir_seg(tmp_path / "kvasir", url=server, sha256="0" * 64, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "kvasir").exists()
    assert not list((tmp_path / "cache").rglob("*.zip*"))


def test_unknown_checksum_needs_explicit_trust(tmp_path, archive, server):
    with pytest.raises(ss.InputError, match="no sha256 is known"):
        fetch_kvasir_seg(tmp_path / "kvasir", url=server, cache_dir=tmp_path / "cache")
    dest = fetch_kvasir_seg(tmp_path / "kvasir", url=server, trust_unverified=True, cache_dir=tmp_path / "cache")
    source = json.loads((dest / "SOURCE.json").read_text())
    assert source["sha256"] == archive[1] and not source["verified"]


def test_file_url_and_remote_http_refused(tmp_path, archive):
    dest = fetch_kvasir_seg(tmp_path / "kvasir", url=archive[0].as_uri(), sha256=archive[1],
                            cache_dir=tmp_path / "cache")
    assert json.loads((dest / "SOURCE.json").read_text())["pairs"] == 3
    with pytest.raises(ss.InputError, match="plain http is only accepted for localhost"):
        fetch_kvasir_seg(tmp_path / "other", url="http://example.org/kvasir-seg.zip", sha256=archive[1],
                         cache_dir=tmp_path / "cache")
