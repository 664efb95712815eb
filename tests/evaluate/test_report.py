"""The report: one self-contained HTML with every section filled, a JSON of the numbers, and the CLI."""

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from singan_seg.cli import main
from singan_seg.evaluate import evaluate_samples, write_report

SECTIONS = ("<h2>Samples</h2>", "<h2>SIFID / FID</h2>", "<h2>Masks</h2>", "<h2>Privacy</h2>", "Closest pairs")


@pytest.fixture(scope="module")
def report(phantom_sets, tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = evaluate_samples(phantom_sets["samples"], phantom_sets["train"],
                                      heldout_real=phantom_sets["held"], progress=False)
    out = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(evaluation, out)


def test_report_sections_and_json(report):
    html_path, json_path = report
    page = html_path.read_text()
    for section in SECTIONS:
        assert section in page
    assert "Not computed" not in page
    assert page.count("data:image/png;base64,") >= 6  # 2 grids, histograms, mean/sd, distances, pairs
    assert "src=\"http" not in page and "<link" not in page  # self-contained
    numbers = json.loads(json_path.read_text())
    assert numbers["sifid"]["n"] == 4 and numbers["fid"]["n_b"] == 4
    assert numbers["masks"]["synthetic"]["n"] == 4 and 0 <= numbers["privacy"]["membership_auc"] <= 1
    assert any("2049" in note for note in numbers["notes"])  # the FID sample-size warning reaches the report


def test_report_renders_in_headless_chromium(report, tmp_path):
    browsers = ("chromium", "chromium-browser", "google-chrome")
    browser = next((shutil.which(b) for b in browsers if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no chromium/google-chrome on PATH: cannot screenshot the report (benchmarks/render_report.py)")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,3000", report[0].as_uri()], check=True, timeout=120, capture_output=True)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.std() > 10  # not a blank page


def run_cli(args, capsys):
    old = sys.argv
    sys.argv = ["singan-seg", "evaluate", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_cli_masks_and_sifid(phantom_sets, capsys):
    code, out = run_cli(["masks", "--samples", phantom_sets["samples"], "--real-masks", phantom_sets["train"]], capsys)
    assert code == 0 and "Wasserstein" in out and "synthetic n=   4" in out
    code, out = run_cli(["sifid", "--samples", phantom_sets["samples"], "--real", phantom_sets["train"],
                         "--channels", "64"], capsys)
    assert code == 0 and "SIFID (64 ch) mean" in out


def test_cli_bad_inputs_are_one_line_errors(phantom_sets, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, out = run_cli(["fid", "--a", tmp_path / "empty", "--b", phantom_sets["train"]], capsys)
    assert code == 2 and "no images" in out and len(out.strip().splitlines()) == 1
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("RGB", (64, 64)).save(mixed / "a.png")
    Image.new("L", (64, 64)).save(mixed / "b.png")
    code, out = run_cli(["fid", "--a", mixed, "--b", phantom_sets["train"]], capsys)
    assert code == 2 and "mixed modes" in out and "b.png" in out
    broken = tmp_path / "broken"
    shutil.copytree(phantom_sets["samples"], broken)
    next((broken / "images").iterdir()).unlink()
    code, out = run_cli(["masks", "--samples", broken, "--real-masks", phantom_sets["train"]], capsys)
    assert code == 2 and "file is missing" in out
    code, out = run_cli(["sifid", "--samples", phantom_sets["samples"], "--real", phantom_sets["held"]], capsys)
    assert code == 2 and "no real image with stem 'p0'" in out
