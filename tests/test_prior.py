"""Domain priors and warm starts (issue #32): what a prior records, warm starts load it, fold safety, resume."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import singan_seg as ss
from singan_seg.data.dataset import write_folds
from singan_seg.files import sha256_file
from singan_seg.model.prior import load_prior
from singan_seg.pipeline import DatasetSettings, build_dataset
from singan_seg.training import loop as train_loop
from singan_seg.training import prior as prior_module
from singan_seg.training.progress import TrainProgress
from singan_seg.training.prior import select_prior_pairs, train_prior
from singan_seg.training.warm import scale_map

from .conftest import SESSION_THREADS, run_cli

TINY = ss.get_preset("tiny")
FOLDS = {"p0": 0, "p1": 1, "p2": 0, "p3": 1}


def _write_pairs(root, seeds, names=None):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    for seed, name in zip(seeds, names or [f"p{s}" for s in seeds]):
        pair = ss.make_phantom(height=40, width=48, seed=seed)
        Image.fromarray(pair.image).save(root / "images" / f"{name}.png")
        Image.fromarray(np.where(pair.mask, 255, 0).astype(np.uint8)).save(root / "masks" / f"{name}.png")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Four 40x48 phantom pairs with a 2-fold split, and a tiny prior per fold trained on that fold's pairs."""
    torch.set_num_threads(SESSION_THREADS)  # as every test runs (bit-identity of the resumed prior)
    root = tmp_path_factory.mktemp("prior_data")
    _write_pairs(root / "real", range(4))
    write_folds(root / "real" / "folds.csv", FOLDS)
    for fold in (0, 1):
        chosen, fold_of, selection = select_prior_pairs(root / "real" / "images", root / "real" / "masks",
                                                        folds=root / "real" / "folds.csv", fold=fold)
        train_prior(chosen, root / f"prior{fold}", config=TINY, iters_factor=0.3, device="cpu", progress=False,
                    folds=fold_of, selection=selection)
    return root


def _pair(data, name):
    return data / "real" / "images" / f"{name}.png", data / "real" / "masks" / f"{name}.png"


def test_a_prior_records_what_it_saw_and_keeps_every_critic(data):
    prior = load_prior(data / "prior0")
    seen = prior.trained_on
    assert seen["ids"] == ["p0", "p2"] and seen["folds_seen"] == [0]
    assert seen["selection"]["fold"] == 0 and seen["selection"]["folds_file_sha256"] == sha256_file(
        data / "real" / "folds.csv")
    for item in seen["images"]:
        image, mask = _pair(data, item["id"])
        assert item["fold"] == 0
        assert (item["image_sha256"], item["mask_sha256"]) == (sha256_file(image), sha256_file(mask))
    assert len(prior.generators) == len(prior.critics) == prior.num_scales >= 3
    assert prior.meta["complete"] and prior.meta["config"]["iters_per_scale"] == 9  # tiny's 30 x 0.3


@pytest.mark.parametrize("depth, prior_depth, expected", [
    (4, 4, [0, 1, 2, 3]), (10, 9, [0, 1, 2, 3, 4, 4, 5, 6, 7, 8]), (8, 9, [0, 1, 2, 3, 5, 6, 7, 8]), (1, 5, [0])])
def test_scale_map_aligns_the_coarsest_and_the_finest(depth, prior_depth, expected):
    assert scale_map(depth, prior_depth) == expected


def _capture_starts(monkeypatch):
    """Record each scale's generator and critic weights, and its iterations, as its training starts."""
    starts = []
    real_optimizers = train_loop.optimizers

    def capture(cfg, gen, critic, iters):
        starts.append(({k: v.clone() for k, v in gen.state_dict().items()},
                       {k: v.clone() for k, v in critic.state_dict().items()}, iters))
        return real_optimizers(cfg, gen, critic, iters)

    monkeypatch.setattr(train_loop, "optimizers", capture)
    return starts


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("coarsest, cold_full", [(False, False), (True, False), (False, True)])
def test_a_warm_start_begins_with_the_priors_weights(data, tmp_path, monkeypatch, coarsest, cold_full):
    """Every scale's generator and critic (but the coarsest's, unless warm_coarsest), when training starts, are the
    prior's (mapped) networks; each scale trains warm_iters_fraction of its iterations; config.json records the
    prior."""
    starts = _capture_starts(monkeypatch)
    cfg = TINY.replace(warm_iters_fraction=0.25, warm_coarsest=coarsest, warm_cold_full=cold_full)
    model = ss.train(*_pair(data, "p0"), out_dir=tmp_path / "m", config=cfg, device="cpu", progress=False,
                     prior=data / "prior0")
    warm_starts = list(starts)
    ss.train(*_pair(data, "p0"), config=TINY.replace(iters_per_scale=1), device="cpu", progress=False)
    cold_scale0 = starts[len(warm_starts)][0]
    prior = load_prior(data / "prior0")
    scales = scale_map(model.num_scales, prior.num_scales)
    assert len(warm_starts) == model.num_scales
    for n, (gen, critic, iters) in enumerate(warm_starts):
        if n == 0 and not coarsest:  # SinGAN's initialisation, as a cold run draws it
            assert _equal(gen, cold_scale0) and not _equal(gen, prior.generators[0])
        else:
            assert _equal(gen, prior.generators[scales[n]]) and _equal(critic, prior.critics[scales[n]]), n
        full = cfg.iters_at(n, model.num_scales)
        assert iters == (full if n == 0 and cold_full else max(1, round(full * 0.25)))  # a cold scale: all of them
    record = json.loads((tmp_path / "m" / "config.json").read_text())["warm_start"]
    assert record["prior"]["weights_sha256"] == prior.weights_sha256
    assert record["scale_map"] == (scales if coarsest else [None, *scales[1:]])
    assert record["prior"]["trained_on"]["ids"] == ["p0", "p2"]
    assert not _equal(model.generators[-1].state_dict(), prior.generators[scales[-1]])  # and then it trained


def test_a_prior_with_other_networks_is_refused_in_one_line(data, capsys):
    image, mask = _pair(data, "p0")
    with pytest.raises(ss.InputError, match="filters wide"):
        ss.train(image, mask, config=TINY.replace(base_channels=16, max_channels=16), device="cpu", progress=False,
                 prior=data / "prior0")
    with pytest.raises(ss.InputError, match="norm='batch', this run's 'instance'"):
        ss.train(image, mask, config=TINY.replace(norm="instance"), device="cpu", progress=False,
                 prior=data / "prior0")
    code, err = run_cli("train", "--image", image, "--mask", mask, "--out", data / "cli_m", "--preset", "tiny",
                        "--set", "max_channels=16", "--set", "base_channels=16", "--prior", data / "prior0",
                        capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "prior0" in err and "filters wide" in err


def test_prior_tampering_is_refused(data, tmp_path):
    prior = tmp_path / "prior"
    shutil.copytree(data / "prior0", prior)
    weights = (prior / "weights.safetensors").read_bytes()
    middle = len(weights) // 2
    (prior / "weights.safetensors").write_bytes(weights[:middle] + bytes([weights[middle] ^ 1]) + weights[middle + 1:])
    with pytest.raises(ss.CheckpointError, match="corrupt or tampered"):
        load_prior(prior)
    (prior / "weights.safetensors").write_bytes(weights)
    meta = json.loads((prior / "config.json").read_text())
    hidden = json.loads(json.dumps(meta))
    hidden["trained_on"]["images"][0]["fold"] = 1  # hide what it saw
    (prior / "config.json").write_text(json.dumps(hidden))
    with pytest.raises(ss.CheckpointError, match="does not match the record in the weights"):
        ss.train(*_pair(data, "p1"), config=TINY, device="cpu", progress=False, prior=prior)
    hidden = json.loads(json.dumps(meta))
    del hidden["trained_on"]["images"][0]["image_sha256"]
    (prior / "config.json").write_text(json.dumps(hidden))
    with pytest.raises(ss.CheckpointError, match="image_sha256' should be a sha256"):
        load_prior(prior)
    (prior / "config.json").write_text(json.dumps(meta | {"format": "singan-seg-model"}))
    with pytest.raises(ss.CheckpointError, match="not a singan-seg-prior"):
        load_prior(prior)


def test_prior_selection_checks_its_options(data):
    real = data / "real"
    with pytest.raises(ss.InputError, match="need --folds"):
        select_prior_pairs(real / "images", real / "masks", fold=0)
    with pytest.raises(ss.InputError, match="not both"):
        select_prior_pairs(real / "images", real / "masks", folds=real / "folds.csv", fold=0, exclude_fold=1)
    with pytest.raises(ss.InputError, match="--fold 5: no such fold"):
        select_prior_pairs(real / "images", real / "masks", folds=real / "folds.csv", fold=5)
    chosen, fold_of, selection = select_prior_pairs(real / "images", real / "masks", folds=real / "folds.csv",
                                                    exclude_fold=0, count=1, seed=3)
    assert len(chosen) == 1 and fold_of[chosen[0].id] == 1 and selection["eligible"] == 2
    with pytest.raises(ss.InputError, match="not read from files"):
        train_prior([ss.make_phantom(height=40, width=48, seed=0)], data / "never", config=TINY, device="cpu",
                    progress=False)


def _build(data, out, priors, **kw):
    return build_dataset(data / "real" / "images", data / "real" / "masks", out, folds=data / "real" / "folds.csv",
                         settings=DatasetSettings(preset="tiny", per_image=2, seed=1), progress=False,
                         priors=priors, **kw)


def test_build_refuses_a_prior_that_saw_another_folds_images(data, tmp_path, capsys):
    real = data / "real"
    code, err = run_cli("build-dataset", "--images", real / "images", "--masks", real / "masks", "--folds",
                        real / "folds.csv", "--out", tmp_path / "syn", "--preset", "tiny", "--prior", data / "prior0",
                        capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "saw 2 image(s) of fold 0" in err and "cannot serve the sources of fold 1" in err and "prior0" in err
    with pytest.raises(ss.InputError, match="no --prior for the sources of fold 1"):
        _build(data, tmp_path / "syn", [f"0={data / 'prior0'}"])
    with pytest.raises(ss.InputError, match="saw 2 image.s. of fold 1"):  # the priors swapped
        _build(data, tmp_path / "syn", [f"0={data / 'prior1'}", f"1={data / 'prior0'}"])
    assert not (tmp_path / "syn").exists()  # refused before anything was written

    # a renamed copy of a fold-1 image is caught by its checksum
    _write_pairs(tmp_path / "copy", [1], ["renamed"])
    chosen, _, _ = select_prior_pairs(tmp_path / "copy" / "images", tmp_path / "copy" / "masks")
    train_prior(chosen, tmp_path / "copy_prior", config=TINY, iters_factor=0.1, device="cpu", progress=False)
    with pytest.raises(ss.InputError, match=r"saw 1 image\(s\) of fold 1 \(e.g. p1\)"):
        _build(data, tmp_path / "syn", [f"0={tmp_path / 'copy_prior'}", f"1={data / 'prior1'}"])
    # a prior that saw fold 0 may serve a build whose sources are all in fold 0
    assert _build(data, tmp_path / "syn0", [str(data / "prior0")], limit=1, dry_run=True).estimate


@pytest.mark.slow
def test_a_warm_started_build_resumes_to_what_an_uninterrupted_one_writes(data, tmp_path, monkeypatch):
    priors = [f"0={data / 'prior0'}", f"1={data / 'prior1'}"]
    full = _build(data, tmp_path / "full", priors)
    assert full.ok and len(full.done) == 4
    info = json.loads((tmp_path / "full" / "dataset.json").read_text())
    assert info["priors"]["0"]["trained_on"]["ids"] == ["p0", "p2"] and info["priors"]["1"]["trained_on"]["ids"] == [
        "p1", "p3"]
    model = json.loads((tmp_path / "full" / "pairs" / "p1" / "model" / "config.json").read_text())
    assert model["warm_start"]["prior"]["weights_sha256"] == load_prior(data / "prior1").weights_sha256

    real_advance = TrainProgress.advance

    def interrupt(self, scale, iteration, iterations, **losses):  # stop in the middle of p0's scale 2
        if (scale, iteration) == (2, 2):
            raise KeyboardInterrupt
        return real_advance(self, scale, iteration, iterations, **losses)

    monkeypatch.setattr(TrainProgress, "advance", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _build(data, tmp_path / "part", priors)
    monkeypatch.undo()
    partial = json.loads((tmp_path / "part" / "pairs" / "p0" / "model" / "config.json").read_text())
    assert 0 < partial["trained_scales"] < 4
    resumed = _build(data, tmp_path / "part", priors)
    assert resumed.ok and sorted(resumed.done) == ["p0", "p1", "p2", "p3"]
    assert (tmp_path / "part" / "manifest.csv").read_bytes() == (tmp_path / "full" / "manifest.csv").read_bytes()

    with pytest.raises(ss.OutputExistsError, match="priors"):  # other priors: another dataset
        _build(data, tmp_path / "part", [str(data / "prior0")], limit=1)


@pytest.mark.slow
def test_warm_start_resume_equals_uninterrupted_and_needs_the_same_prior(data, tmp_path):
    image, mask = _pair(data, "p1")
    cfg = TINY.replace(warm_iters_fraction=0.5, gp_every=2)
    full = ss.train(image, mask, config=cfg, device="cpu", progress=False, prior=data / "prior1")
    part = tmp_path / "part"
    ss.train(image, mask, out_dir=part, config=cfg, device="cpu", progress=False, prior=data / "prior1",
             stop_after_scale=1)
    with pytest.raises(ss.CheckpointError, match="warm-started from the prior 'prior1'"):
        ss.train(image, mask, out_dir=part, config=cfg, device="cpu", progress=False, resume=True)
    with pytest.raises(ss.CheckpointError, match="another prior"):
        ss.train(image, mask, out_dir=part, config=cfg, device="cpu", progress=False, resume=True,
                 prior=data / "prior0")
    resumed = ss.train(image, mask, out_dir=part, config=cfg, device="cpu", progress=False, resume=True,
                       prior=data / "prior1")
    wf, wr = full.generators.state_dict(), resumed.generators.state_dict()
    assert wf.keys() == wr.keys() and all(torch.equal(wf[k], wr[k]) for k in wf)
    assert full.noise_amps == resumed.noise_amps
    cold = tmp_path / "cold"
    ss.train(image, mask, out_dir=cold, config=cfg, device="cpu", progress=False, stop_after_scale=0)
    with pytest.raises(ss.CheckpointError, match="trained without a prior"):
        ss.train(image, mask, out_dir=cold, config=cfg, device="cpu", progress=False, resume=True,
                 prior=data / "prior1")


@pytest.mark.slow
def test_prior_training_resumes_to_the_uninterrupted_prior(data, tmp_path, monkeypatch):
    chosen, fold_of, selection = select_prior_pairs(data / "real" / "images", data / "real" / "masks",
                                                    folds=data / "real" / "folds.csv", fold=0)
    real_scale = prior_module.train_prior_scale

    def stop_at_2(n, *args, **kwargs):
        if n == 2:
            raise KeyboardInterrupt
        return real_scale(n, *args, **kwargs)

    monkeypatch.setattr(prior_module, "train_prior_scale", stop_at_2)
    with pytest.raises(KeyboardInterrupt):
        train_prior(chosen, tmp_path / "p", config=TINY, iters_factor=0.3, device="cpu", progress=False,
                    folds=fold_of, selection=selection)
    monkeypatch.undo()
    assert json.loads((tmp_path / "p" / "config.json").read_text())["trained_scales"] == 2
    with pytest.raises(ss.OutputExistsError, match="--resume"):
        train_prior(chosen, tmp_path / "p", config=TINY, iters_factor=0.3, device="cpu", progress=False)
    with pytest.raises(ss.CheckpointError, match="other pairs"):
        train_prior(chosen[:1], tmp_path / "p", config=TINY, iters_factor=0.3, device="cpu", progress=False,
                    folds=fold_of, selection=selection, resume=True)
    resumed = train_prior(chosen, tmp_path / "p", config=TINY, iters_factor=0.3, device="cpu", progress=False,
                          folds=fold_of, selection=selection, resume=True)
    whole = load_prior(data / "prior0")
    for a, b in zip(whole.generators + whole.critics, resumed.generators + resumed.critics):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.meta["noise_amps"] == whole.meta["noise_amps"]


def test_prior_cli_trains_and_describes(data, tmp_path, capsys):
    real = data / "real"
    code, err = run_cli("prior", "train", "--images", real / "images", "--masks", real / "masks", "--folds",
                        real / "folds.csv", "--fold", "1", "--count", "1", "--preset", "tiny", "--iters-factor",
                        "0.1", "--out", tmp_path / "prior", "--device", "cpu", "--no-verbose", capsys=capsys)
    assert code == 0 and "prior written" in err and "1 pairs, folds 1" in err
    code, err = run_cli("prior", "info", tmp_path / "prior", capsys=capsys)
    assert code == 0 and "folds seen [1]" in err
    code, err = run_cli("prior", "train", "--images", real / "images", "--masks", real / "masks", "--fold", "1",
                        "--out", tmp_path / "p2", capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--folds" in err
