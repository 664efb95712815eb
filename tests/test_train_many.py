"""Training many models at once: equal to training them one by one, buckets, resume, CLI, pipeline."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import singan_seg as ss
import singan_seg.training.many as train_many_module
from singan_seg.model.checkpoint import read_model_meta
from singan_seg.pipeline import DatasetSettings, build_dataset
from singan_seg.training import train_many

# Instance norm, few iterations: what batching changes is float rounding (grouped vs plain convs sum in other
# orders), and GAN training amplifies rounding with the iterations (measured: ~1e-7 after 6 iterations per scale,
# ~1e-3 after 30). With batch norm the generators' eval-mode running means also carry the conv biases in front
# of the norm, whose gradient is zero plus rounding noise that Adam turns into +-lr steps: sequential runs differ
# the same way between thread counts, so exact comparisons use instance norm.
# A 10x lower learning rate damps that amplification (K=3: weights 6e-6 apart after 6 iterations per scale, vs
# 1e-3 at the preset's rate) while a real difference stays visible: feeding the fixed scales' noise at the wrong
# amplitude in one of the two trainers moved the weights by 4e-4 and reconstructions by 7e-3 in this setting.
CFG = ss.get_preset("tiny", norm="instance", iters_per_scale=6, lr_g=5e-5, lr_d=5e-5)
ATOL = 2e-5


def phantoms(count, height=64, width=80):
    return [ss.make_phantom(height=height, width=width, seed=i) for i in range(count)]


def live_weights(model):
    """Generator tensors that affect outputs: all but the conv biases directly before a norm layer (the norm
    subtracts them; their value is rounding noise in sequential training too)."""
    return {f"{n}.{k}": v for n, g in enumerate(model.generators) for k, v in g.state_dict().items()
            if not (k.startswith("body.") and k.endswith(".0.bias"))}


def assert_same_model(a, b, atol=ATOL):
    wa, wb = live_weights(a), live_weights(b)
    assert wa.keys() == wb.keys()
    worst = max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)
    assert worst < atol, worst
    assert np.allclose(a.noise_amps, b.noise_amps, rtol=atol, atol=0)
    assert torch.allclose(a.reconstruct(), b.reconstruct(), atol=20 * atol)
    assert torch.allclose(a.generate(2, seed=5), b.generate(2, seed=5), atol=20 * atol)


@pytest.mark.parametrize("k,changes", [(2, {}), (3, {}), (2, {"critic_norm": "none", "channels_last": True}),
                                       (2, {"noise_amp_finest": 0.3})])
@pytest.mark.slow
def test_batched_equals_sequential(tmp_path, k, changes):
    cfg = CFG.replace(**changes)
    pairs = phantoms(k)
    outs = [tmp_path / f"m{i}" for i in range(k)]
    result = train_many(pairs, outs, config=cfg, batch_models=k, device="cpu", progress=False, keep_models=True)
    assert len(result.groups) == 1 and result.groups[0].indices == tuple(range(k))
    sequential = [ss.train(p, config=cfg, device="cpu", progress=False) for p in pairs]
    for i, (seq, out) in enumerate(zip(sequential, outs)):
        loaded = ss.load(out, device="cpu")
        assert_same_model(seq, loaded)
        assert all(torch.equal(x, y) for x, y in zip(live_weights(loaded).values(),
                                                      live_weights(result.models[i]).values()))
        samples = ss.sample(loaded, num=2, seed=1)
        assert samples.images.shape == (2, 32, 40, 3) and samples.masks.shape == (2, 32, 40)
        meta = read_model_meta(out)
        assert meta["complete"] and meta["config"] == cfg.to_dict()
        assert {h["batch_models"] for h in meta["training"]["scales"]} == {k}
    # the models really are different models (different pairs), not K copies of one
    assert not torch.allclose(sequential[0].reconstruct(), sequential[1].reconstruct(), atol=0.05)


def test_lazy_penalty_follows_the_same_schedule_as_train(tmp_path, monkeypatch):
    # (Bit-level equality with train() is not tested here: without the penalty on every update, 1e-8 float
    # differences, e.g. 1 vs 2 threads, grow to ~1e-4 within a few iterations, in train() alone too.)
    calls = []
    real_penalty = train_many_module.gradient_penalty_many

    def counting(critic, real, fake, weight, generator, k):
        calls.append(weight)
        return real_penalty(critic, real, fake, weight, generator, k)

    monkeypatch.setattr(train_many_module, "gradient_penalty_many", counting)
    cfg = CFG.replace(d_steps=2, gp_every=3)
    result = train_many(phantoms(2), [tmp_path / "a", tmp_path / "b"], config=cfg, batch_models=2, device="cpu",
                        progress=False, keep_models=True)
    scales = result.models[0].num_scales
    assert len(calls) == len(range(0, 6 * 2, 3)) * scales  # critic updates 0, 3, 6, 9 of each scale's 12
    assert calls == pytest.approx([3 * cfg.gp_weight] * len(calls))


def test_pairs_of_different_sizes_are_bucketed(tmp_path):
    pairs = phantoms(2) + phantoms(1, height=48, width=64) + phantoms(1)[::-1]
    pairs[3] = ss.make_phantom(height=64, width=80, seed=7)
    cfg = CFG.replace(iters_per_scale=3)
    result = train_many(pairs, config=cfg, batch_models=2, device="cpu", progress=False)
    big, small = ((32, 40),), ((30, 40),)
    assert [(g.indices, g.shapes[-1:]) for g in result.groups] == [((0, 1), big), ((3,), big), ((2,), small)]
    assert sorted(result.bucket_sizes().values()) == [1, 3]
    for pair, model in zip(pairs, result.models):
        assert model.is_complete
        # each pair got its own model back (a mix-up between pairs differs by O(0.1)); exactness is tested above
        assert_same_model(ss.train(pair, config=cfg, device="cpu", progress=False), model, atol=1e-3)


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    pairs = phantoms(3)
    whole = [tmp_path / "whole" / str(i) for i in range(3)]
    part = [tmp_path / "part" / str(i) for i in range(3)]
    train_many(pairs, whole, config=CFG, batch_models=3, device="cpu", progress=False)
    train_many(pairs, part, config=CFG, batch_models=3, device="cpu", progress=False, stop_after_scale=1)
    with pytest.raises(ss.CheckpointError, match="incomplete"):
        ss.load(part[0], device="cpu")
    with pytest.raises(ss.OutputExistsError):
        train_many(pairs, part, config=CFG, batch_models=3, device="cpu", progress=False)
    result = train_many(pairs, part, config=CFG, batch_models=3, device="cpu", progress=False, resume=True)
    assert [g.start_scale for g in result.groups] == [2]
    for a, b in zip(whole, part):
        wa, wb = live_weights(ss.load(a, device="cpu")), live_weights(ss.load(b, device="cpu"))
        assert all(torch.equal(wa[k], wb[k]) for k in wa)  # same fused computation: bit for bit
    # models left at different scales train in separate groups and still reach the same models
    lag = [tmp_path / "lag" / str(i) for i in range(2)]
    train_many(pairs[:1], lag[:1], config=CFG, device="cpu", progress=False, stop_after_scale=0)
    train_many(pairs[1:2], lag[1:], config=CFG, device="cpu", progress=False, stop_after_scale=2)
    result = train_many(pairs[:2], lag, config=CFG, batch_models=2, device="cpu", progress=False, resume=True)
    assert sorted(g.start_scale for g in result.groups) == [1, 3]
    for a, b in zip(whole, lag):  # groups of 1 vs the group of 3: rounding differs, amplified by more steps
        assert_same_model(ss.load(a, device="cpu"), ss.load(b, device="cpu"), atol=5e-4)
    again = train_many(pairs[:2], lag, config=CFG, batch_models=2, device="cpu", progress=False, resume=True)
    assert again.groups == []


def test_bad_arguments_are_refused(tmp_path):
    pairs = phantoms(2)
    with pytest.raises(ss.InputError, match="batch_models"):
        train_many(pairs, config=CFG, batch_models=0, device="cpu")
    with pytest.raises(ss.InputError, match="2 pairs but 1 output"):
        train_many(pairs, [tmp_path / "a"], config=CFG, device="cpu")
    with pytest.raises(ss.InputError, match="same output directory"):
        train_many(pairs, [tmp_path / "a", tmp_path / "a"], config=CFG, device="cpu")


@pytest.fixture()
def real_dir(tmp_path):
    """Three phantom pairs in the Kvasir layout (two sizes), with a 2-fold split."""
    root = tmp_path / "real"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (h, w) in enumerate([(64, 80), (64, 80), (48, 64)]):
        pair = ss.make_phantom(height=h, width=w, seed=i)
        Image.fromarray(pair.image).save(root / "images" / f"p{i}.png")
        Image.fromarray(np.where(pair.mask, 255, 0).astype(np.uint8)).save(root / "masks" / f"p{i}.png")
    ss.data.dataset.write_folds(root / "folds.csv", {"p0": 0, "p1": 1, "p2": 0})
    return root


@pytest.mark.slow
def test_cli_round_trip(tmp_path, real_dir):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "singan_seg.cli", "train-many", "--images", real_dir / "images", "--masks",
               real_dir / "masks", "--out", tmp_path / "models", "--batch-models", "2", "--preset", "tiny",
               "--iters", "3", "--seed", "2", "--device", "cpu", "--limit", "2", "--set", "gp_every=2"]
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 models" in result.stderr and "40x32 (4 scales): 2" in result.stderr
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["p0", "p1"]
    model = ss.load(tmp_path / "models" / "p1", device="cpu")
    assert model.config == ss.get_preset("tiny", iters_per_scale=3, seed=2, gp_every=2)
    assert ss.sample(model, num=1).images.shape == (1, 32, 40, 3)


@pytest.mark.slow
def test_build_dataset_with_batched_training(tmp_path, real_dir):
    settings = DatasetSettings(preset="tiny", iters_per_scale=4, per_image=2, seed=1)
    result = build_dataset(real_dir / "images", real_dir / "masks", tmp_path / "syn", folds=real_dir / "folds.csv",
                           settings=settings, batch_models=2, progress=False)
    assert result.ok and sorted(result.done) == ["p0", "p1", "p2"]
    for ident in ("p0", "p1"):
        scales = read_model_meta(tmp_path / "syn" / "pairs" / ident / "model")["training"]["scales"]
        assert {h["batch_models"] for h in scales} == {2}  # p0 and p1 share a pyramid and trained together
    with open(tmp_path / "syn" / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {(r["source_id"], r["fold"]) for r in rows} == {("p0", "0"), ("p1", "1"), ("p2", "0")}
    for row in rows:
        image, mask = Image.open(tmp_path / "syn" / row["image"]), Image.open(tmp_path / "syn" / row["mask"])
        assert image.size == mask.size
    again = build_dataset(real_dir / "images", real_dir / "masks", tmp_path / "syn", folds=real_dir / "folds.csv",
                          settings=settings, batch_models=2, progress=False)
    assert sorted(again.skipped) == ["p0", "p1", "p2"]
    with pytest.raises(ss.InputError, match="local backend"):
        build_dataset(real_dir / "images", real_dir / "masks", tmp_path / "ray", settings=settings, batch_models=2,
                      backend="ray", progress=False)
