"""Whole-dataset builds: folds, resume after SIGKILL, failures, fold-safe export, backends."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import singan_seg as ss
from singan_seg.data.dataset import find_pairs, make_folds, read_folds, write_folds
from singan_seg.files import exclusive_dir_lock
from singan_seg.pipeline import DatasetSettings, build_dataset, export_training_set

from .test_cli import cli

SETTINGS = DatasetSettings(preset="tiny", per_image=2, seed=1)


@pytest.fixture()
def dataset(tmp_path):
    """Four phantom pairs in the Kvasir layout, with a 2-fold split."""
    root = tmp_path / "real"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(4):
        pair = ss.make_phantom(height=64, width=80, seed=i)
        Image.fromarray(pair.image).save(root / "images" / f"p{i}.jpg", quality=95)
        Image.fromarray(np.where(pair.mask, 255, 0).astype(np.uint8)).save(root / "masks" / f"p{i}.jpg")
    write_folds(root / "folds.csv", {"p0": 0, "p1": 1, "p2": 0, "p3": 1})
    return root


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def build(dataset, out, **kw):
    return build_dataset(dataset / "images", dataset / "masks", out, folds=dataset / "folds.csv",
                         settings=kw.pop("settings", SETTINGS), progress=False, **kw)


@pytest.mark.slow
def test_build_keeps_folds_and_is_resumable(tmp_path, dataset):
    result = build(dataset, tmp_path / "syn")
    assert result.ok and sorted(result.done) == ["p0", "p1", "p2", "p3"]
    rows = read_csv(tmp_path / "syn" / "manifest.csv")
    assert len(rows) == 8
    assert {(r["source_id"], r["fold"]) for r in rows} == {("p0", "0"), ("p1", "1"), ("p2", "0"), ("p3", "1")}
    for row in rows:
        image = Image.open(tmp_path / "syn" / row["image"])
        mask = Image.open(tmp_path / "syn" / row["mask"])
        assert image.size == mask.size and row["generator"] == f"pairs/{row['source_id']}/model"
    before = (tmp_path / "syn" / "manifest.csv").read_bytes()
    again = build(dataset, tmp_path / "syn")
    assert sorted(again.skipped) == ["p0", "p1", "p2", "p3"] and not again.done
    assert (tmp_path / "syn" / "manifest.csv").read_bytes() == before


@pytest.mark.slow
def test_export_excluding_a_fold_leaks_nothing(tmp_path, dataset):
    build(dataset, tmp_path / "syn")
    count = export_training_set(tmp_path / "syn", tmp_path / "train_for_fold0", exclude_fold=0)
    rows = ss.data.read_manifest(tmp_path / "train_for_fold0", verify=True)
    assert count == len(rows) == 4
    assert {r["source_id"] for r in rows} == {"p1", "p3"}
    folds = read_folds(dataset / "folds.csv")
    assert all(folds[r["source_id"]] != 0 for r in rows)
    # FAKE-1: the first sample of each remaining source; asking for more than were made is refused
    assert export_training_set(tmp_path / "syn", tmp_path / "fake1", exclude_fold=0, per_image=1) == 2
    rows = ss.data.read_manifest(tmp_path / "fake1", verify=True)
    assert sorted((r["source_id"], r["index"]) for r in rows) == [("p1", "0"), ("p3", "0")]
    with pytest.raises(ss.InputError, match="fewer than 3 samples"):
        export_training_set(tmp_path / "syn", tmp_path / "fake3", per_image=3)
    assert not (tmp_path / "fake3").exists()


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted(tmp_path, dataset):
    def command(out):
        return [sys.executable, "-m", "singan_seg.cli", "build-dataset", "--images", str(dataset / "images"),
                "--masks", str(dataset / "masks"), "--folds", str(dataset / "folds.csv"), "--out", str(out),
                "--preset", "tiny", "--per-image", "2", "--seed", "1"]

    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command(tmp_path / "whole"), check=True, capture_output=True, env=env, timeout=600)
    victim = subprocess.Popen(command(tmp_path / "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env)
    deadline = time.time() + 300
    first_model = tmp_path / "killed" / "pairs" / "p1" / "model" / "config.json"
    while not first_model.exists() and time.time() < deadline:  # kill inside the second pair's training
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    if (tmp_path / "killed" / "manifest.csv").exists():  # written as pairs finish: only finished ones
        assert {r["source_id"] for r in read_csv(tmp_path / "killed" / "manifest.csv")} <= {"p0"}
    subprocess.run(command(tmp_path / "killed"), check=True, capture_output=True, env=env, timeout=600)
    assert (tmp_path / "killed" / "manifest.csv").read_bytes() == (tmp_path / "whole" / "manifest.csv").read_bytes()


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc (Linux)")
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_stopping_a_multi_worker_build_stops_its_workers_at_once(tmp_path, dataset, how):
    # A pool that let its workers finish the jobs in hand went on training for minutes after Ctrl-C.
    out = tmp_path / "syn"
    command = [sys.executable, "-m", "singan_seg.cli", "build-dataset", "--images", str(dataset / "images"),
               "--masks", str(dataset / "masks"), "--folds", str(dataset / "folds.csv"), "--out", str(out),
               "--preset", "tiny", "--iters", "250", "--per-image", "2", "--seed", "1", "--workers", "2",
               "--threads", "1"]
    build = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS="1"), start_new_session=True)
    deadline = time.time() + 300
    while not list(out.glob("pairs/*/model/config.json")) and time.time() < deadline:  # both workers training
        time.sleep(0.05)
    assert build.poll() is None, build.stderr.read()
    if how == "sigterm":
        build.send_signal(signal.SIGTERM)  # `kill PID`: the parent only
    else:
        os.killpg(build.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group
    started = time.time()
    build.wait(timeout=60)
    assert build.returncode == 130 and "interrupted" in build.stderr.read()
    while _group_members(build.pid) and time.time() - started < 10:
        time.sleep(0.1)
    assert _group_members(build.pid) == [], "workers still running after the build stopped"
    assert time.time() - started < 20
    finished = sorted(done.parent.name for done in out.glob("pairs/*/DONE.json"))
    assert len(finished) < 4  # stopped, and its manifest lists what it finished, as a stopped build's should
    assert sorted({r["source_id"] for r in read_csv(out / "manifest.csv")}) == finished
    if how == "sigterm":  # and the build resumes to the end
        subprocess.run(command, check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
                       timeout=900)
        assert len(read_csv(out / "manifest.csv")) == 8


@pytest.mark.slow
def test_a_failing_pair_does_not_stop_the_others(tmp_path, dataset, monkeypatch):
    import singan_seg.training as train_module  # where the pipeline's job looks `train` up

    real_train = train_module.train

    def flaky(image, mask, **kw):
        if "p2" in str(image):
            raise RuntimeError("simulated disk full")
        return real_train(image, mask, **kw)

    monkeypatch.setattr(train_module, "train", flaky)
    result = build(dataset, tmp_path / "syn")
    assert set(result.failed) == {"p2"} and "simulated disk full" in result.failed["p2"]
    assert sorted(result.done) == ["p0", "p1", "p3"]
    assert "p2" not in {r["source_id"] for r in read_csv(tmp_path / "syn" / "manifest.csv")}
    assert not (tmp_path / "syn" / "pairs" / "p2" / "DONE.json").exists()
    monkeypatch.setattr(train_module, "train", real_train)
    assert build(dataset, tmp_path / "syn").done == ["p2"]  # the re-run finishes it


@pytest.mark.slow
def test_other_settings_are_refused(tmp_path, dataset):
    build(dataset, tmp_path / "syn", limit=1)
    with pytest.raises(ss.OutputExistsError, match="per_image 2 .saved. vs 3"):
        build(dataset, tmp_path / "syn", limit=1, settings=DatasetSettings(preset="tiny", per_image=3, seed=1))


@pytest.mark.slow
def test_sampling_variation_is_used_recorded_and_checked(tmp_path, dataset):
    narrow = DatasetSettings(preset="tiny", per_image=2, seed=1, variation=0.5)
    build(dataset, tmp_path / "syn", limit=1, settings=narrow)
    rows = read_csv(tmp_path / "syn" / "manifest.csv")
    assert len(rows) == 2 and {r["variation"] for r in rows} == {"0.5"}
    with pytest.raises(ss.OutputExistsError, match="variation 0.5 .saved. vs 1.0"):
        build(dataset, tmp_path / "syn", limit=1)
    # a dataset.json written before the setting existed reads as variation 1
    assert DatasetSettings(preset="tiny").differences({"preset": "tiny", **{
        k: v for k, v in DatasetSettings(preset="tiny").to_dict().items() if k != "variation"}}) == {}
    with pytest.raises(ss.InputError, match="variation should be in"):
        DatasetSettings(preset="tiny", variation=0.5, start_scale=1)


def test_training_settings_are_kept_and_checked(tmp_path, dataset):
    changed = DatasetSettings(preset="tiny", per_image=2, seed=1, train_settings="gp_every=2,iters_per_scale=5")
    build(dataset, tmp_path / "syn", limit=1, settings=changed)
    info = json.loads((tmp_path / "syn" / "dataset.json").read_text())
    assert info["train_config"] == ss.get_preset("tiny", seed=1, gp_every=2, iters_per_scale=5).to_dict()
    model_config = json.loads((tmp_path / "syn" / "pairs" / "p0" / "model" / "config.json").read_text())["config"]
    assert model_config == info["train_config"]
    with pytest.raises(ss.OutputExistsError, match="train_settings 'gp_every=2,iters_per_scale=5' .saved. vs ''"):
        build(dataset, tmp_path / "syn", limit=1)
    # a preset whose values changed since (e.g. fast in 0.3.0) is caught through the saved training settings
    info["train_config"]["d_steps"] = 2
    (tmp_path / "syn" / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(ss.OutputExistsError, match="training d_steps 2 .saved. vs 1"):
        build(dataset, tmp_path / "syn", limit=1, settings=changed)
    with pytest.raises(ss.InputError, match="unknown training settings"):
        DatasetSettings(preset="tiny", train_settings="gp_evry=2")


@pytest.mark.slow
def test_a_second_build_on_the_same_folder_is_refused(tmp_path, dataset):
    out = tmp_path / "syn"
    out.mkdir()
    with exclusive_dir_lock(out, "build-dataset"):  # as a concurrent build-dataset process would hold it
        with pytest.raises(ss.InputError, match="another build-dataset is writing to this folder"):
            build(dataset, out, limit=1)
        assert list(out.iterdir()) == []  # refused before writing anything
    assert build(dataset, out, limit=1).ok  # the lock went with its holder
    with exclusive_dir_lock(out, "build-dataset"):  # and the finished build released its own
        pass


def test_input_problems_are_found_before_any_work(tmp_path, dataset):
    (dataset / "images" / "p9.jpg").write_bytes((dataset / "images" / "p0.jpg").read_bytes())
    with pytest.raises(ss.InputError, match="1 image.s. have no mask .*: p9"):
        build(dataset, tmp_path / "syn")
    (dataset / "images" / "p9.jpg").unlink()
    (dataset / "images" / "p0.png").write_bytes(b"x")
    with pytest.raises(ss.InputError, match="duplicate stem 'p0'"):
        build(dataset, tmp_path / "syn")
    (dataset / "images" / "p0.png").unlink()
    write_folds(dataset / "bad_folds.csv", {"p0": 0, "p1": 1, "p2": 0})
    with pytest.raises(ss.InputError, match="1 dataset id.s. have no fold"):
        build_dataset(dataset / "images", dataset / "masks", tmp_path / "syn", folds=dataset / "bad_folds.csv",
                      settings=SETTINGS, progress=False)
    write_folds(dataset / "bad_folds.csv", {"p0": 0, "p1": 1, "p2": 0, "p3": 1, "zz": 1})
    with pytest.raises(ss.InputError, match="id.s. not in the dataset"):
        build_dataset(dataset / "images", dataset / "masks", tmp_path / "syn", folds=dataset / "bad_folds.csv",
                      settings=SETTINGS, progress=False)
    (dataset / "images" / "p1.jpg").write_bytes(b"broken")
    with pytest.raises(ss.InputError, match="p1.jpg: cannot read image"):
        build(dataset, tmp_path / "syn")
    assert not (tmp_path / "syn").exists()


def test_make_folds_is_balanced_and_seeded(dataset):
    ids = [f"id{i}" for i in range(1000)]
    folds = make_folds(ids, k=3, seed=0)
    assert sorted(np.bincount(list(folds.values()))) == [333, 333, 334]
    assert folds == make_folds(ids, k=3, seed=0) and folds != make_folds(ids, k=3, seed=1)
    assert [p.id for p in find_pairs(dataset / "images", dataset / "masks")] == ["p0", "p1", "p2", "p3"]


def test_dry_run_measures_cost_and_writes_nothing(tmp_path, dataset):
    result = build(dataset, tmp_path / "syn", dry_run=True, workers=2)
    assert result.estimate["pairs"] == 4 and result.estimate["seconds_per_pair"] > 0
    assert result.estimate["total_seconds"] == pytest.approx(result.estimate["seconds_per_pair"] * 2, rel=0.01)
    assert not (tmp_path / "syn").exists()


@pytest.mark.slow
def test_local_workers_match_in_process(tmp_path, dataset):
    build(dataset, tmp_path / "one", limit=2, threads=1)  # same threads per job: bit-identical weights
    build(dataset, tmp_path / "two", limit=2, workers=2, threads=1)
    assert (tmp_path / "one" / "manifest.csv").read_bytes() == (tmp_path / "two" / "manifest.csv").read_bytes()


@pytest.mark.slow
def test_ray_backend_matches_local(tmp_path, dataset):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'singan-seg[ray]')")
    build(dataset, tmp_path / "local", limit=2, threads=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        build(dataset, tmp_path / "ray", limit=2, backend="ray", threads=1)
    finally:
        ray.shutdown()
    assert (tmp_path / "local" / "manifest.csv").read_bytes() == (tmp_path / "ray" / "manifest.csv").read_bytes()


@pytest.mark.slow
def test_disk_full_while_writing_leaves_nothing_counted_as_done(tmp_path, dataset, monkeypatch):
    import errno

    import singan_seg.sampling as sample_module

    real_write = sample_module.write_pair_files
    calls = {"n": 0}

    def full_disk(directory, stem, *args, **kw):
        calls["n"] += 1
        if stem.startswith("p1_") and calls["n"] % 2 == 0:  # the second file of pair p1 hits a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(directory, stem, *args, **kw)

    monkeypatch.setattr(sample_module, "write_pair_files", full_disk)
    result = build(dataset, tmp_path / "syn", limit=2)
    assert set(result.failed) == {"p1"} and "No space left on device" in result.failed["p1"]
    p1 = tmp_path / "syn" / "pairs" / "p1"
    assert not (p1 / "DONE.json").exists() and not (p1 / "samples").exists()  # no half-written samples dir
    assert not [p for p in p1.iterdir() if p.name.startswith(".samples")]  # its staging folder is gone too
    monkeypatch.setattr(sample_module, "write_pair_files", real_write)
    again = build(dataset, tmp_path / "syn", limit=2)
    assert again.done == ["p1"] and again.skipped == ["p0"] and again.ok
    assert {r["source_id"] for r in read_csv(tmp_path / "syn" / "manifest.csv")} == {"p0", "p1"}


@pytest.mark.slow
def test_style_step_keeps_masks(tmp_path, dataset):
    styled = DatasetSettings(preset="tiny", per_image=2, seed=1, style="fast")
    assert build(dataset, tmp_path / "syn", limit=1, settings=styled).ok
    pair = tmp_path / "syn" / "pairs" / "p0"
    rows = ss.data.read_manifest(pair / "samples", verify=True)
    assert {r["style_method"] for r in rows} == {"fast"}
    for row in rows:  # RGB restyled, mask byte-identical to the unstyled sample's
        assert (pair / "samples" / row["mask"]).read_bytes() == (pair / "samples_raw" / row["mask"]).read_bytes()
        assert (pair / "samples" / row["image"]).read_bytes() != (pair / "samples_raw" / row["image"]).read_bytes()
    assert {r["style_method"] for r in read_csv(tmp_path / "syn" / "manifest.csv")} == {"fast"}


def test_a_stopped_or_running_build_has_a_manifest_of_its_finished_pairs(tmp_path, dataset, monkeypatch):
    """A build of days must be usable while it runs and after Ctrl-C: the manifest lists every finished pair
    (and nothing else), export takes them, and the re-run ends with the manifest of an uninterrupted build."""
    import singan_seg.pipeline.build as build_module

    settings = DatasetSettings(method="patchnn", max_size=40, per_image=2, seed=3)  # no training: fast
    real_run_local = build_module.run_local
    seen = []  # the manifest's sources each time a pair has finished

    def stop_after_two(jobs, settings, on_result, **kw):
        def on_result_then_stop(result):
            on_result(result)
            manifest = tmp_path / "syn" / "manifest.csv"
            seen.append(sorted({r["source_id"] for r in read_csv(manifest)}) if manifest.exists() else None)
            if len(seen) == 2:
                raise KeyboardInterrupt
        real_run_local(jobs, settings, on_result_then_stop, **kw)

    monkeypatch.setattr(build_module, "MANIFEST_EVERY_S", 0.0)  # rewrite after every pair
    monkeypatch.setattr(build_module, "run_local", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        build(dataset, tmp_path / "syn", settings=settings)
    assert seen == [["p0"], ["p0", "p1"]]  # updated while running
    rows = read_csv(tmp_path / "syn" / "manifest.csv")
    assert sorted((r["source_id"], r["index"]) for r in rows) == [("p0", "0"), ("p0", "1"), ("p1", "0"), ("p1", "1")]
    assert build_module.build_progress(tmp_path / "syn") == (2, 4)
    assert export_training_set(tmp_path / "syn", tmp_path / "so_far", per_image=1) == 2
    said = cli("export", tmp_path / "syn", "--out", tmp_path / "so_far_cli")
    assert said.returncode == 0 and "unfinished: 2 of its 4 real pairs" in " ".join((said.stdout + said.stderr).split())
    # a fixed subset of a build in progress: the first M sources by id, and never fewer than asked for
    assert cli("export", tmp_path / "syn", "--out", tmp_path / "first1", "--limit", "1").returncode == 0
    assert sorted(r["source_id"] for r in read_csv(tmp_path / "first1" / "manifest.csv")) == ["p0", "p0"]
    with pytest.raises(ss.InputError, match="only 2 source\\(s\\) have samples here, fewer than the 3"):
        export_training_set(tmp_path / "syn", tmp_path / "first3", limit=3)
    assert not (tmp_path / "first3").exists()

    monkeypatch.setattr(build_module, "run_local", real_run_local)
    assert sorted(build(dataset, tmp_path / "syn", settings=settings).done) == ["p2", "p3"]
    build(dataset, tmp_path / "whole", settings=settings)
    assert (tmp_path / "syn" / "manifest.csv").read_bytes() == (tmp_path / "whole" / "manifest.csv").read_bytes()
    assert build_module.build_progress(tmp_path / "syn") == (4, 4)
    assert build_module.build_progress(tmp_path / "so_far") is None  # an export is not a build


def test_a_build_for_one_test_fold_trains_nothing_for_that_fold(tmp_path, dataset):
    """--exclude-fold k builds the training set of the runs tested on fold k only: no generator, sample or
    manifest row comes from a fold-k image; without folds, or with a fold no pair is in, it is refused."""
    settings = DatasetSettings(method="patchnn", max_size=40, per_image=2, seed=3)
    result = build(dataset, tmp_path / "syn", settings=settings, exclude_fold=0)
    assert sorted(result.done) == ["p1", "p3"]
    assert sorted(p.name for p in (tmp_path / "syn" / "pairs").iterdir()) == ["p1", "p3"]
    assert {r["source_id"] for r in read_csv(tmp_path / "syn" / "manifest.csv")} == {"p1", "p3"}
    assert json.loads((tmp_path / "syn" / "dataset.json").read_text())["pairs"] == {"p1": 1, "p3": 1}
    assert export_training_set(tmp_path / "syn", tmp_path / "train_for_fold0") == 4
    with pytest.raises(ss.InputError, match="no pair is in fold 5 .the folds are \\[0, 1\\]."):
        build(dataset, tmp_path / "other", settings=settings, exclude_fold=5)
    with pytest.raises(ss.InputError, match="cannot leave out fold 0 without a folds file"):
        build_dataset(dataset / "images", dataset / "masks", tmp_path / "other", settings=settings,
                      progress=False, exclude_fold=0)
    assert not (tmp_path / "other").exists()


def test_time_left_counts_only_pairs_trained_in_this_run():
    from singan_seg.pipeline.build import time_left

    # a resumed build: 600 pairs skipped in no time, 4 trained in 400 s, 60 left -> 60 x 100 s
    assert time_left(trained=4, left=60, seconds=400.0) == "about 1.7 h left"
    assert time_left(trained=4, left=3, seconds=400.0) == "about 5 min left"
    assert time_left(trained=0, left=60, seconds=30.0) == "time left: after the first pair"
    assert time_left(trained=4, left=0, seconds=400.0) == ""
