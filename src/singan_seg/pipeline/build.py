"""Building a synthetic dataset: one generator per real pair, N samples each, kept in the real pair's fold.

    OUT/dataset.json            settings, format version, pair ids and folds (a re-run must match them)
    OUT/pairs/<id>/model/       the pair's generator (checkpointed per scale and every 10 min; absent with patchnn)
    OUT/pairs/<id>/samples/     its samples (images/, masks/, manifest.csv)
    OUT/pairs/<id>/DONE.json    written last: the job is complete
    OUT/manifest.csv            every finished pair's samples with their fold, source id, seed, generator and
                                sha256; rewritten as pairs finish (at most every MANIFEST_EVERY_S seconds), when
                                the build stops (also on Ctrl-C) and at the end, so a long build can be exported
                                or benchmarked while it runs
    OUT/failures.json           pairs that failed, with their errors (absent when none did)

Re-running the same command after an interruption or a crash skips finished pairs, resumes half-trained
generators from their last checkpoint, and writes the same manifest an uninterrupted run would have.

With `batch_models` K > 1 (for GPUs) the generators of unfinished pairs are first trained K at a time in this
process by `train_many` (same model dirs, same checkpoints); the jobs then find them complete and only sample
and style. If batched training fails, the jobs train their pairs one by one as usual and record any failure.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..data.dataset import PairFiles, find_pairs, read_folds
from ..data.modality import RGB_BINARY, Modality
from ..data.pairs import load_pair
from ..data.samples_dir import (manifest_file, read_manifest, read_manifest_rows, read_samples_modality, write_manifest,
                                write_modality_file)
from ..errors import CheckpointError, InputError, OutputExistsError
from ..files import exclusive_dir_lock, parse_versioned_json, sha256_bytes, staging_dir, write_json_atomic
from ..model.pyramid import pyramid_for
from .backends import run_local, run_ray
from .job import PairJob, is_done
from .priors import plan_priors
from .settings import DatasetSettings

log = logging.getLogger("singan_seg")

DATASET_FORMAT = 1
DATASET_FORMAT_NAME = "singan-seg-dataset"
BACKENDS = ("local", "ray")
MANIFEST_EVERY_S = 60.0  # a pair takes minutes; rewriting the whole manifest more often than this buys nothing


@dataclass
class BuildResult:
    out_dir: Path
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    estimate: dict[str, Any] | None = None  # dry runs only

    @property
    def ok(self) -> bool:
        return not self.failed


def validate_pairs(pairs: list[PairFiles], settings: DatasetSettings) -> Modality:
    """Read every pair once (decode, sizes, masks, pyramid) so bad files fail before any training; return the
    modality they share (a dataset mixing, say, gray and RGB images is refused: one segmenter trains on it)."""
    if settings.method == "patchnn":
        from ..engines.patchnn import level_shapes

        engine = settings.patchnn_config()
    else:
        cfg = settings.train_config()
    modality, first = None, None
    for files in pairs:
        pair = load_pair(files.image, files.mask, **settings.pair_options())
        if settings.method == "patchnn":
            level_shapes(pair.height, pair.width, engine)
        else:
            pyramid_for(pair, cfg)
        if modality is None:
            modality, first = pair.modality, files.image.name
        elif pair.modality != modality:
            raise InputError(f"image is {pair.modality.describe()} but {first} is {modality.describe()}; every pair "
                             "of a dataset needs the same channels and bit depth (pass --channels 1 or 3, "
                             "--bit-depth 8 or 16)", files.image)
    modality = modality or RGB_BINARY
    if settings.style not in ("none", "fast") and modality.channels not in (1, 3):
        raise InputError(f"style {settings.style} (Gatys) needs 1- or 3-channel images but these have "
                         f"{modality.channels}; use --style fast or none")
    return modality


DAMAGED = ("this dataset folder is damaged: {problem}, so the settings it was built with are unknown; restore "
           "dataset.json from a copy, or pass --overwrite to rebuild the dataset in this folder from scratch "
           "(its pairs/ are deleted)")


def read_dataset_info(info: Path, settings: DatasetSettings, priors: dict[str, Any] | None = None
                      ) -> dict[str, tuple[Any, Any]]:
    """The settings (and domain priors, by weights sha256) that differ between this build and a saved
    dataset.json; an unreadable one is an InputError saying the folder is damaged and how to recover."""
    try:
        saved = parse_versioned_json(info.read_bytes(), info, DATASET_FORMAT_NAME, DATASET_FORMAT, "record")
    except CheckpointError as exc:
        if "is newer than" in exc.problem:
            raise
        problem = "dataset.json is empty" if info.stat().st_size == 0 else exc.problem
        raise InputError(DAMAGED.format(problem=problem), info) from None
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", info) from None
    saved_settings, saved_config = saved.get("settings"), saved.get("train_config")
    if not isinstance(saved_settings, dict) or not (saved_config is None or isinstance(saved_config, dict)):
        raise InputError(DAMAGED.format(problem="its 'settings' or 'train_config' is not an object"), info)
    try:
        different = settings.differences(saved_settings, saved_config)
    except (InputError, TypeError, ValueError, KeyError) as exc:
        problem = exc.problem if isinstance(exc, InputError) else f"{exc.__class__.__name__}: {exc}"
        raise InputError(DAMAGED.format(problem=f"its training config is unreadable ({problem})"), info) from None
    saved_priors, given = _prior_digests(saved.get("priors")), _prior_digests(priors)
    if saved_priors != given:
        different["priors"] = (saved_priors, given)
    return different


def _prior_digests(priors: Any) -> dict[str, str]:
    """fold -> weights sha256 of a dataset's domain priors (dataset.json's `priors`; none before 0.13)."""
    if not isinstance(priors, dict):
        return {}
    return {str(k): v.get("weights_sha256") if isinstance(v, dict) else None for k, v in priors.items()}


def _prepare_out_dir(out: Path, settings: DatasetSettings, overwrite: bool, priors: dict[str, Any]) -> None:
    info = out / "dataset.json"
    if info.is_file() or info.is_symlink():
        try:
            different = read_dataset_info(info, settings, priors)
        except InputError:
            if not overwrite:
                raise
            different = {"dataset.json": ("unreadable", "rebuilt")}  # --overwrite: rebuild from scratch
        if different and not overwrite:
            listed = ", ".join(f"{k} {a!r} (saved) vs {b!r}" for k, (a, b) in sorted(different.items()))
            raise OutputExistsError(out, f"a dataset built with other settings ({listed})",
                                    "use the same settings to continue it, or --overwrite to rebuild")
        if different:
            for name in ("pairs", "manifest.csv", "failures.json", "dataset.json"):
                target = out / name
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    elif out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(out, "files that are not a singan-seg dataset",
                                "choose a new or empty directory (or --overwrite)")


def collect_manifest(out: Path, jobs: list[PairJob]) -> list[dict[str, str]]:
    """Every finished pair's samples as rows of the dataset manifest, in a fixed order (by id, then sample)."""
    rows = []
    for job in sorted(jobs, key=lambda j: j.id):
        samples = out / "pairs" / job.id / "samples"
        if not (out / "pairs" / job.id / "DONE.json").is_file():
            continue
        for row in read_manifest(samples):
            row = dict(row)
            for column in ("image", "mask"):
                row[column] = f"pairs/{job.id}/samples/{row[column]}"
            row["fold"] = "" if job.fold is None else str(job.fold)
            row["generator"] = "" if row.get("method") == "patchnn" else f"pairs/{job.id}/model"  # no model
            rows.append(row)
    return rows


def write_dataset_manifest(out: Path, jobs: list[PairJob]) -> None:
    """OUT/manifest.csv of every pair finished so far (atomically: a reader never sees half of it)."""
    write_manifest(out / "manifest.csv", collect_manifest(out, jobs))


def time_left(trained: int, left: int, seconds: float) -> str:
    """The time the build still needs at the rate of this run's trained pairs (skipped ones took no time, so
    a resumed build's estimate is not fooled by them; a rate-window estimate is, for hours)."""
    if left == 0:
        return ""
    if trained == 0:
        return "time left: after the first pair"
    hours = left * seconds / trained / 3600
    return f"about {hours:.1f} h left" if hours >= 1 else f"about {hours * 60:.0f} min left"


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_build_options(images_dir: str | Path, masks_dir: str | Path, out: Path, workers: int, backend: str,
                        limit: int | None, threads: int | None, batch_models: int) -> None:
    """Refuse a bad option before anything is read or written (each message names the option)."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    for name, value in (("workers", workers), ("batch_models", batch_models)):
        if not _positive_int(value):
            raise InputError(f"{name} should be at least 1, got {value!r}")
    for name, value in (("limit", limit), ("threads", threads)):
        if value is not None and not _positive_int(value):
            raise InputError(f"{name} should be at least 1, got {value!r}")
    if batch_models > 1 and backend != "local":
        raise InputError(f"batch_models works with the local backend only (got backend {backend!r})")
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a directory", out)
    target = out.resolve()
    for what, folder in (("images", images_dir), ("masks", masks_dir)):
        source = Path(folder).resolve()
        if target == source or (target / "pairs") in (source, *source.parents):
            raise InputError(f"the output folder would hold (and on --overwrite delete) the {what} it is built from; "
                             "choose another --out", out)


def without_fold(pairs: list[PairFiles], fold_of: dict[str, int], fold: int, folds: str | Path | None
                 ) -> list[PairFiles]:
    """The pairs not in `fold`; refused without a folds file, or when no pair is in that fold."""
    if not fold_of:
        raise InputError(f"cannot leave out fold {fold} without a folds file (--folds)")
    if fold not in fold_of.values():
        raise InputError(f"no pair is in fold {fold} (the folds are {sorted(set(fold_of.values()))}); leaving it "
                         "out would leave out nothing", folds)
    return [p for p in pairs if fold_of[p.id] != fold]


def build_dataset(images_dir: str | Path, masks_dir: str | Path, out_dir: str | Path,
                  folds: str | Path | None = None, settings: DatasetSettings | None = None, workers: int = 1,
                  backend: str = "local", ray_address: str | None = None, limit: int | None = None,
                  dry_run: bool = False, overwrite: bool = False, device: str = "cpu", threads: int | None = None,
                  progress: bool = True, batch_models: int = 1, priors: Any = None,
                  exclude_fold: int | None = None) -> BuildResult:
    """Train a generator per pair, sample and (optionally) style-transfer, resumably.

    Args:
        images_dir, masks_dir: images and masks paired by file stem.
        folds: a CSV of id,fold; every id must be listed (samples keep their source's fold).
        settings: preset, samples per image, style, seeds (DatasetSettings).
        workers: local worker processes (torch threads are split so workers x threads <= cores).
        threads: torch threads per job (local: default the free cores // workers; ray: CPUs per task, default 2).
        backend: "local" or "ray" (one task per pair; OUT must be on a file system every node shares).
        limit: only the first M pairs (by id), for trial runs.
        exclude_fold: build no generator for this fold's pairs (needs `folds`): when only the runs tested on
            fold k are wanted, its samples would never be used, and leaving them out saves 1/k of the work.
        dry_run: validate and print the plan with a cost estimate measured here; train nothing.
        batch_models: K > 1 trains the generators K at a time in this process first (train_many; local backend).
        priors: domain priors to warm-start every generator from (`prior train`): "DIR" for every source, or
            ["0=DIR0", "1=DIR1", ...] per fold; a prior that saw an image of another fold than its sources' is
            refused (pipeline/priors.py explains why).
    """
    settings = settings or DatasetSettings()
    out = Path(out_dir)
    check_build_options(images_dir, masks_dir, out, workers, backend, limit, threads, batch_models)
    if priors and (settings.method != "singan" or batch_models > 1):
        raise InputError("--prior warm-starts SinGAN-Seg generators one at a time: use it with --method singan and "
                         "--batch-models 1")
    all_pairs = find_pairs(images_dir, masks_dir)
    fold_of = read_folds(folds, [p.id for p in all_pairs]) if folds else {}
    pairs = without_fold(all_pairs, fold_of, exclude_fold, folds) if exclude_fold is not None else all_pairs
    pairs = pairs[:limit] if limit else pairs
    modality = validate_pairs(pairs, settings)
    plan, prior_record = plan_priors(priors, pairs, all_pairs, fold_of)
    jobs = [PairJob(id=p.id, image=str(p.image), mask=str(p.mask), fold=fold_of.get(p.id),
                    out_dir=str(out / "pairs" / p.id),
                    prior=None if plan is None else str(plan.for_fold(fold_of.get(p.id)))) for p in pairs]
    result = BuildResult(out_dir=out)
    if dry_run:
        result.estimate = estimate_cost(pairs, settings, workers, device, warm=plan is not None)
        return result

    out.mkdir(parents=True, exist_ok=True)
    # One writer per dataset folder: a second build-dataset on it would train the same pairs twice and race on
    # the manifest. The lock goes with the process (also on SIGKILL), so a crashed run never blocks a re-run.
    with exclusive_dir_lock(out, "build-dataset"):
        _prepare_out_dir(out, settings, overwrite, prior_record)
        write_json_atomic(out / "dataset.json", {"format": DATASET_FORMAT_NAME, "format_version": DATASET_FORMAT,
                                                 "settings": settings.to_dict(),
                                                 "train_config": (settings.train_config().to_dict()
                                                                  if settings.method == "singan" else None),
                                                 "pairs": {j.id: j.fold for j in jobs},
                                                 **({"priors": prior_record} if prior_record else {})})
        write_modality_file(out, modality)  # what export and the benchmark read the samples as
        started = time.perf_counter()
        last_manifest = started
        if batch_models > 1:
            train_batched(jobs, settings, device, batch_models, threads, progress)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[status]}"), TimeElapsedColumn(), disable=not progress) as bar:
            task = bar.add_task("pairs", total=len(jobs), status="")

            def on_result(r: dict[str, Any]) -> None:
                nonlocal last_manifest
                if r["status"] == "failed":
                    result.failed[r["id"]] = r["error"]
                else:
                    (result.done if r["status"] == "done" else result.skipped).append(r["id"])
                left = len(jobs) - len(result.done) - len(result.skipped) - len(result.failed)
                eta = time_left(len(result.done), left, time.perf_counter() - started)
                bar.update(task, advance=1, status=f"done {len(result.done) + len(result.skipped)}  "
                                                   f"failed {len(result.failed)}  {eta}")
                if r["status"] == "done" and time.perf_counter() - last_manifest >= MANIFEST_EVERY_S:
                    write_dataset_manifest(out, jobs)
                    last_manifest = time.perf_counter()

            try:
                if backend == "ray":
                    run_ray(jobs, settings, on_result, address=ray_address, device=device,
                            cpus_per_job=threads or 2)
                else:
                    run_local(jobs, settings, on_result, workers=workers, device=device, threads=threads)
            except BaseException:
                # stopped (Ctrl-C, kill) or crashed: leave a manifest of every pair finished so far, then go on
                # stopping; failing to write it must not hide why the build stopped
                try:
                    write_dataset_manifest(out, jobs)
                except Exception as exc:  # noqa: BLE001
                    log.warning("could not update %s while stopping: %s", out / "manifest.csv", exc)
                raise
        result.seconds = time.perf_counter() - started
        write_dataset_manifest(out, jobs)
        failures = out / "failures.json"
        if result.failed:
            write_json_atomic(failures, result.failed)
        else:
            failures.unlink(missing_ok=True)
        return result


def train_batched(jobs: list[PairJob], settings: DatasetSettings, device: str, batch_models: int,
                  threads: int | None = None, progress: bool = True) -> None:
    """Train the generators of unfinished jobs K at a time into their model dirs (resuming checkpoints)."""
    import torch

    from ..training import train_many

    todo = [job for job in jobs if not is_done(job)]
    if not todo:
        return
    if threads:
        torch.set_num_threads(threads)
    try:
        result = train_many([(job.image, job.mask) for job in todo], [Path(job.out_dir) / "model" for job in todo],
                            config=settings.train_config(), batch_models=batch_models, device=device, resume=True,
                            progress=progress, **settings.pair_options())
        log.info("trained %d generators in %d groups; pairs per pyramid: %s", len(todo), len(result.groups),
                 result.bucket_sizes())
    except Exception as exc:  # the jobs then train one by one and record per-pair failures
        log.warning("batched training stopped (%s: %s); training the remaining pairs one by one",
                    exc.__class__.__name__, exc)


def estimate_cost(pairs: list[PairFiles], settings: DatasetSettings, workers: int, device: str,
                  warm: bool = False) -> dict[str, Any]:
    """Seconds per pair measured here on the first pair (2 timed iterations per scale, or one patchnn sample
    timed and multiplied by the samples per pair; `warm`: the warm start's iterations), and the totals."""
    pair = load_pair(pairs[0].image, pairs[0].mask, **settings.pair_options())
    if settings.method == "patchnn":
        from ..engines.patchnn import generate_patchnn

        started = time.perf_counter()
        generate_patchnn(pair, num=1, seed=settings.seed, config=settings.patchnn_config(), device=device)
        per_pair = (time.perf_counter() - started) * settings.per_image
    else:
        from ..training import measure_training_cost

        cfg = settings.train_config()
        cost = measure_training_cost(pair, cfg, timed=2, device=device)
        if warm:
            cost = dataclasses.replace(cost, iters=[cfg.warm_iters_at(n, len(cost.shapes))
                                                    for n in range(len(cost.shapes))])
        per_pair = cost.seconds
    return {"pairs": len(pairs), "seconds_per_pair": per_pair, "workers": workers,
            "total_seconds": per_pair * len(pairs) / workers,
            "note": "measured on the first pair; workers share this machine's cores, so the total assumes the "
                    "per-pair time holds with threads split between workers"}


def first_per_source(rows: list[dict], per_image: int, manifest: Path) -> list[dict]:
    """The first `per_image` rows of each source (by sample index), in manifest order."""
    if per_image < 1:
        raise InputError(f"per_image should be at least 1, got {per_image}")
    ranked: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        ranked.setdefault(row["source_id"], []).append(position)
    keep: set[int] = set()
    for positions in ranked.values():
        positions.sort(key=lambda i: int(rows[i].get("index") or 0))
        keep.update(positions[:per_image])
    short = sorted(source for source, positions in ranked.items() if len(positions) < per_image)
    if short:
        raise InputError(f"{len(short)} source(s) have fewer than {per_image} samples (e.g. {short[0]})", manifest)
    return [row for i, row in enumerate(rows) if i in keep]


def first_sources(rows: list[dict], limit: int, manifest: Path) -> list[dict]:
    """The rows of the first `limit` sources by id; fewer sources than that is refused (an export silently
    smaller than asked for would make a smaller experiment look like the one asked for)."""
    ids = sorted({row["source_id"] for row in rows})
    if len(ids) < limit:
        raise InputError(f"only {len(ids)} source(s) have samples here, fewer than the {limit} asked for", manifest)
    kept = set(ids[:limit])
    return [row for row in rows if row["source_id"] in kept]


def _int_field(row: dict[str, str], column: str, position: int, manifest: Path, default: int | None = None) -> int:
    """An integer column of manifest row `position` (0-based; named as the CSV line), or `default` when empty."""
    value = (row.get(column) or "").strip()
    if not value and default is not None:
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"line {position + 2}: {column} {value!r} is not an integer", manifest) from None


def _dataset_file(dataset: Path, root: Path, row: dict[str, str], column: str, position: int,
                  manifest: Path) -> Path:
    """The file a manifest row names (a relative path inside the dataset: manifest_file), after checking that
    no link leads it out of the dataset and that it exists: an export must copy only the dataset's own files."""
    path = manifest_file(dataset, row, column, manifest, position + 2)
    where = f"line {position + 2}: {column} {row[column]!r}"
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:
        raise InputError(f"{where} cannot be resolved ({exc})", manifest) from None
    if root not in resolved.parents:
        raise InputError(f"{where} leads outside the dataset (to {resolved}); refusing to export it", manifest)
    if not resolved.is_file():
        raise InputError(f"{where}: the file is missing", manifest)
    return path


def build_progress(dataset_dir: str | Path) -> tuple[int, int] | None:
    """(finished pairs, pairs) of a build-dataset folder, or None where its dataset.json cannot say; a build that
    is running or was stopped has a manifest of its finished pairs only."""
    dataset = Path(dataset_dir)
    try:
        pairs = json.loads((dataset / "dataset.json").read_text(encoding="utf-8")).get("pairs")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(pairs, dict):
        return None
    finished = sum(Path(i).name == i and (dataset / "pairs" / i / "DONE.json").is_file() for i in pairs)
    return finished, len(pairs)


def export_training_set(dataset_dir: str | Path, out_dir: str | Path, exclude_fold: int | None = None,
                        overwrite: bool = False, per_image: int | None = None, limit: int | None = None) -> int:
    """Copy the synthetic pairs whose source is not in `exclude_fold` into a flat samples dir; return the count.

    This is the training set for the run that tests on fold `exclude_fold`: no sample made from a test image.
    `per_image` keeps only the first N samples (by index) of each source: the paper's FAKE-N sets.
    `limit` keeps only the samples of the first M sources (by id) that have samples, so that a build still
    running gives a fixed set (build-dataset's first M pairs, when none of them failed).

    The manifest is untrusted input: every path it lists must stay inside the dataset and every file must match
    its sha256 in the manifest, every fold must be an integer, and an `exclude_fold` that no row has is refused
    (excluding nothing would leak the test fold). All is checked before `out_dir` is touched.
    """
    dataset, out = Path(dataset_dir), Path(out_dir)
    manifest = dataset / "manifest.csv"
    if not manifest.is_file():
        raise InputError("not a built dataset: no manifest.csv", dataset)
    root = dataset.resolve()
    target = out.resolve()
    if target == root or target in root.parents or root in target.parents:
        raise InputError("the export folder must be outside the dataset it is exported from (an --overwrite "
                         "there would replace dataset files); choose another --out", out)
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a directory", out)
    for name, value in (("per_image", per_image), ("limit", limit)):
        if value is not None and not _positive_int(value):
            raise InputError(f"{name} should be at least 1, got {value!r}")
    # read_manifest_rows turns an unreadable, non-UTF-8 or truncated manifest into a one-line InputError
    rows = read_manifest_rows(manifest, ("image", "mask", "source_id", "image_sha256", "mask_sha256"))
    folds = [_int_field(row, "fold", i, manifest) if (row.get("fold") or "").strip() else None
             for i, row in enumerate(rows)]
    if per_image is not None:  # the sample index orders FAKE-N's choice
        for i, row in enumerate(rows):
            _int_field(row, "index", i, manifest, default=0)
    line_of = {id(row): i for i, row in enumerate(rows)}
    if exclude_fold is not None:
        if any(fold is None for fold in folds):
            raise InputError("this dataset was built without folds; cannot exclude a fold", manifest)
        if exclude_fold not in folds:
            raise InputError(f"no sample comes from fold {exclude_fold} (the dataset's folds are "
                             f"{sorted(set(folds))}); excluding it would exclude nothing", manifest)
        rows = [row for row, fold in zip(rows, folds) if fold != exclude_fold]
    if limit is not None:
        rows = first_sources(rows, limit, manifest)
    if per_image is not None:
        rows = first_per_source(rows, per_image, manifest)
    sources: list[tuple[int, dict[str, str], dict[str, Path]]] = []
    names: dict[str, int] = {}
    for row in rows:
        line = line_of[id(row)]
        files = {column: _dataset_file(dataset, root, row, column, line, manifest) for column in ("image", "mask")}
        for column, path in files.items():
            name = f"{column}s/{path.name}"
            if name in names:
                raise InputError(f"line {line + 2}: {column} file name {path.name!r} repeats line {names[name] + 2}; "
                                 "a flat export would overwrite one with the other", manifest)
            names[name] = line
        sources.append((line, row, files))
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(out, "files", "choose a new or empty directory, or pass --overwrite")
    modality = read_samples_modality(dataset)
    with staging_dir(out) as staging:
        write_modality_file(staging, modality)
        for sub in ("images", "masks"):
            (staging / sub).mkdir()
        kept = []
        for line, row, files in sources:
            row = dict(row)
            for column, path in files.items():
                data = path.read_bytes()
                if sha256_bytes(data) != (row.get(f"{column}_sha256") or "").strip().lower():
                    raise InputError(f"line {line + 2}: {row[column]} does not match its {column}_sha256 in the "
                                     "manifest (corrupt or changed file); nothing was exported", manifest)
                name = f"{column}s/{path.name}"
                (staging / name).write_bytes(data)
                row[column] = name
            kept.append(row)
        write_manifest(staging / "manifest.csv", kept)
    return len(kept)
