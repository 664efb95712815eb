"""The benchmark's experiments, fold by fold, and their reports (JSON, a markdown table, a plot).

    real        train on the real pairs of the other folds, test on fold k
    fake        train on synthetic pairs made only from the other folds' real pairs, test on real fold k
    real+fake   both together
    small-data  paper Table 3: R = 5, 10, ..., 50 real pairs of the first fold vs 10 synthetic pairs per real
                one, each tested on all other folds

Each run trains in OUT/<experiment>/<run>/ (resumable: re-running the same command continues it, finished runs
are read back). All runs of one OUT share OUT/results.json (every metric per run and fold, mean and sd, the
config, where the encoder weights came from, the machine), OUT/results.md and OUT/iou.png, rewritten after every
run. Synthetic data from a `build-dataset` folder is filtered per test fold (its manifest keeps every sample's
fold); any other synthetic folder is used as it is and refused, before any training, if a sample's source is in
a test fold.

Masks with declared classes (`classes`, as `--classes`): the model has one softmax channel per class, and every
metric is reported per non-background class and as their mean (metrics.py); results.md adds a per-class table.
The image channels and bit depth are read from the real images; synthetic sets must hold the same classes and
channels (their modality.json), else the run is refused before anything trains.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.modality import MaskClass, Modality, parse_classes
from ..device import machine_info, resolve_device
from ..errors import InputError
from ..files import atomic_path, write_json_atomic, write_text_atomic
from . import paper
from .data import (Arrays, SyntheticPair, check_synthetic_modality, load_arrays, real_modality, real_pairs,
                   refuse_leakage, synthetic_pairs)
from .train import SegConfig, protocol_config, train_segmenter

EXPERIMENTS = ("real", "fake", "real+fake", "small-data")
SMALL_SIZES = tuple(range(5, 51, 5))
SMALL_PER_IMAGE = 10  # synthetic pairs per real pair in the small-data study
METRIC_NAMES = {"dice_loss": "Dice loss", "iou": "IoU", "f_score": "F-score", "accuracy": "Accuracy",
                "recall": "Recall", "precision": "Precision"}
CLASS_METRICS = ("iou", "f_score", "precision", "recall")  # the per-class table of a multi-class run


@dataclass(frozen=True)
class Run:
    """One training run: its name, training pairs (real ids and synthetic pairs), and real test ids."""
    name: str
    real_train: tuple[str, ...]
    synthetic_train: tuple[SyntheticPair, ...]
    test: tuple[str, ...]


def plan_runs(experiment: str, folds: dict[str, int], synthetic: list[SyntheticPair] | None,
              synthetic_dir: Path | None, folds_to_run: list[int] | None = None,
              sizes: tuple[int, ...] = SMALL_SIZES, seed: int = 0, sources: int | None = None) -> list[Run]:
    """Every run of an experiment, checked for fold leakage before anything trains.

    `sources` (real, fake, real+fake): train on N source pairs only, the first N of a seeded shuffle of the
    training folds' pairs; where a synthetic set is given (for `real` too), only pairs it holds samples of are
    drawn, so REAL and FAKE runs of one N share their sources."""
    all_folds = sorted(set(folds.values()))
    by_fold = {k: sorted(i for i, f in folds.items() if f == k) for k in all_folds}
    built = synthetic_dir is not None and (synthetic_dir / "dataset.json").is_file()
    unknown = sorted(set(folds_to_run or []) - set(all_folds))
    if unknown:
        raise InputError(f"no fold {unknown[0]} in the folds file (folds: {all_folds})")
    if experiment == "small-data":
        return _plan_small_data(by_fold, synthetic or [], synthetic_dir, sizes, seed, folds_to_run)
    runs = []
    for k in folds_to_run if folds_to_run is not None else all_folds:
        candidates = [i for f in all_folds if f != k for i in by_fold[f]]
        fake: tuple[SyntheticPair, ...] = ()
        if synthetic is not None:
            fake = tuple(p for p in synthetic if p.fold != k) if built else tuple(synthetic)
            refuse_leakage(list(fake), {k}, synthetic_dir / "manifest.csv")
            if not fake:
                raise InputError(f"no synthetic pairs for the run that tests on fold {k}", synthetic_dir)
        if sources is not None:
            chosen = set(_first_sources(candidates, sources, seed, {p.source_id for p in fake} if fake else None,
                                        synthetic_dir, k))
            candidates = [i for i in candidates if i in chosen]
            fake = tuple(p for p in fake if p.source_id in chosen)
        real = tuple(candidates) if experiment != "fake" else ()
        fake = fake if experiment in ("fake", "real+fake") else ()
        runs.append(Run(f"fold{k}", real, fake, tuple(by_fold[k])))
    return runs


def _first_sources(candidates: list[str], n: int, seed: int, covered: set[str] | None, synthetic_dir: Path | None,
                   fold: int) -> list[str]:
    """The first n of a seeded shuffle of `candidates` (only those in `covered`, when given)."""
    if n < 1:
        raise InputError(f"--sources should be at least 1, got {n}")
    shuffled = [candidates[i] for i in np.random.default_rng(seed).permutation(len(candidates))]
    pool = [i for i in shuffled if covered is None or i in covered]
    if len(pool) < n:
        held = f"; the synthetic set holds samples of {len(pool)} of them" if covered is not None else ""
        raise InputError(f"--sources {n}: the run that tests on fold {fold} has {len(candidates)} training pairs"
                         f"{held}", synthetic_dir if covered is not None else None)
    return pool[:n]


def _plan_small_data(by_fold: dict[int, list[str]], synthetic: list[SyntheticPair], synthetic_dir: Path | None,
                     sizes: tuple[int, ...], seed: int, test_folds: list[int] | None = None) -> list[Run]:
    """Nested subsets of a pool: the first R of a seeded shuffle of the pool's pairs that have 10 synthetic pairs
    each (all of them, for a complete build). The pool is the first fold and the test set the others (the paper's
    fold 1); `test_folds` turns this round: they are tested on and the other folds are the pool."""
    if test_folds:
        pool_folds = [k for k in sorted(by_fold) if k not in test_folds]
        if not pool_folds:
            raise InputError("small-data needs a fold to draw its real pairs from; --folds-to-run names them all")
    else:
        pool_folds = sorted(by_fold)[:1]
    test_folds = [k for k in sorted(by_fold) if k not in pool_folds]
    members = [i for k in pool_folds for i in by_fold[k]]
    pool = [members[i] for i in np.random.default_rng(seed).permutation(len(members))]
    test = tuple(i for k in test_folds for i in by_fold[k])
    refuse_leakage(synthetic, set(test_folds), synthetic_dir / "manifest.csv")
    per_source: dict[str, list[SyntheticPair]] = {}
    for pair in sorted(synthetic, key=lambda p: str(p.image)):
        per_source.setdefault(pair.source_id, []).append(pair)
    eligible = [s for s in pool if len(per_source.get(s, [])) >= SMALL_PER_IMAGE]
    if max(sizes) > len(eligible):
        short = next((s for s in pool if s not in eligible), pool[0] if pool else "none")
        raise InputError(f"small-data R={max(sizes)} needs {SMALL_PER_IMAGE} synthetic pairs per real pair; "
                         f"{len(eligible)} of the {len(pool)} pairs of fold(s) {pool_folds} have them (source "
                         f"{short!r} has {len(per_source.get(short, []))})", synthetic_dir / "manifest.csv")
    runs = []
    for r in sizes:
        chosen = eligible[:r]
        runs.append(Run(f"real-{r}", tuple(chosen), (), test))
        fake = tuple(p for s in chosen for p in per_source[s][:SMALL_PER_IMAGE])
        runs.append(Run(f"fake-{len(fake)}", (), fake, test))
    return runs


def fake_label(pairs: list[SyntheticPair]) -> tuple[str, str]:
    """("FAKE-N", style): N = synthetic pairs per real pair (the most common count)."""
    counts = Counter(p.source_id for p in pairs)
    per_image = Counter(counts.values()).most_common(1)[0][0]
    styles = sorted({p.style for p in pairs})
    return f"FAKE-{per_image}", styles[0] if len(styles) == 1 else "mixed"


def run_benchmark(experiment: str, data_dir: str | Path, folds_csv: str | Path, out_dir: str | Path,
                  synthetic: str | Path | None = None, protocol: str = "quick", folds_to_run: list[int] | None = None,
                  epochs: int | None = None, device: str = "auto", progress: bool = True,
                  sizes: tuple[int, ...] = SMALL_SIZES, encoder_weights: str | Path | None = None, seed: int = 0,
                  config: SegConfig | None = None, classes: str | Path | tuple[MaskClass, ...] | None = None,
                  sources: int | None = None, epoch_pairs: int | None = None) -> dict[str, Any]:
    """Run (or resume) one experiment and rewrite OUT's results.json, results.md and iou.png.

    Args:
        experiment: one of EXPERIMENTS.
        data_dir: real pairs (DATA/images, DATA/masks, paired by stem); folds_csv: id,fold for every pair.
        synthetic: a build-dataset folder or an exported/samples folder (fake, real+fake, small-data).
        protocol: "quick" or "paper" (see train.PROTOCOLS); epochs overrides its epoch count.
        folds_to_run: test folds to run (default: all); ignored by small-data.
        encoder_weights: a weights file for the encoder (e.g. ImageNet se_resnext50_32x4d for `paper`).
        seed: model init, batch order, augmentation and the small-data subsets.
        config: a full SegConfig instead of protocol/epochs (tests); its channels and classes come from the data.
        classes: the real masks' classes (a `--classes` spec or parsed classes; None: binary masks, as the paper).
        sources: train on this many source pairs only (real, fake, real+fake; see plan_runs); its rows are
            labelled "REAL, N sources" etc. With `synthetic` given, `real` draws the same sources as `fake`.
        epoch_pairs: an epoch draws exactly this many pairs (see SegConfig), e.g. the full real training set's
            size, so runs on fewer or more pairs take as many optimiser steps.
    Returns:
        this experiment's entry of results.json.
    """
    if experiment not in EXPERIMENTS:
        raise InputError(f"unknown experiment {experiment!r}; choose one of {list(EXPERIMENTS)}")
    needs_synthetic = experiment != "real"
    if needs_synthetic and synthetic is None:
        raise InputError(f"experiment {experiment} needs --synthetic (a build-dataset or export folder)")
    if sources is not None and experiment == "small-data":
        raise InputError("--sources is for real, fake and real+fake; small-data chooses its own R pairs")
    reads_synthetic = needs_synthetic or (sources is not None and synthetic is not None)
    if isinstance(classes, (str, Path)):
        classes = parse_classes(classes)
    pairs, folds = real_pairs(data_dir, folds_csv)
    syn_dir = Path(synthetic) if synthetic is not None else None
    syn = synthetic_pairs(syn_dir, folds, folds_csv) if reads_synthetic else None
    modality = benchmark_modality([image for image, _ in pairs.values()], classes, syn_dir, syn)

    overrides: dict[str, Any] = {"seed": seed}
    if epoch_pairs is not None:
        if epoch_pairs < 1:
            raise InputError(f"--epoch-pairs should be at least 1, got {epoch_pairs}")
        overrides["epoch_pairs"] = epoch_pairs
    if encoder_weights is not None:
        overrides["encoder_weights"] = str(encoder_weights)
    data_fields = {"channels": modality.channels, "classes": None if classes is None else tuple(modality.class_names)}
    cfg = dataclasses.replace(config, **data_fields) if config is not None else \
        protocol_config(protocol, small_data=experiment == "small-data", epochs=epochs, **overrides, **data_fields)
    out = Path(out_dir)
    results = _read_results(out, cfg.protocol)
    runs = plan_runs(experiment, folds, syn, syn_dir, folds_to_run, sizes, cfg.seed, sources)

    # decode every pair that any run needs, once
    real_ids = sorted({i for run in runs for i in run.real_train + run.test})
    real = load_arrays([(i, *pairs[i]) for i in real_ids], cfg.size, modality)
    real_index = {name: n for n, name in enumerate(real.names)}
    used = sorted({p for run in runs for p in run.synthetic_train}, key=lambda p: str(p.image))
    fake = load_arrays([(str(p.image.relative_to(syn_dir)), p.image, p.mask) for p in used], cfg.size, modality,
                       samples_dir=syn_dir)
    fake_index = {p: n for n, p in enumerate(used)}

    label, style = ("REAL", "NA")
    if experiment in ("fake", "real+fake"):
        label, style = fake_label(list(runs[0].synthetic_train))
        label = label if experiment == "fake" else f"REAL+{label}"
    key = experiment if experiment in ("real", "small-data") else f"{label} {style}"
    if sources is not None:  # a row of the sources curve: its own entry, no paper number beside it
        label, key = f"{label}, {sources} sources", f"{key}, {sources} sources"
    entry = {"experiment": experiment, "label": label, "style": style, "protocol": cfg.protocol,
             "config": cfg.to_dict(), "data": str(data_dir), "folds_csv": str(folds_csv),
             "synthetic": None if syn_dir is None else str(syn_dir), "runs": {}}
    if sources is not None:
        entry["sources"] = sources
    if not modality.is_default:
        entry["modality"] = modality.to_dict()
    previous = results["experiments"].get(key, {})
    compared = ("config", "data", "synthetic", "modality")
    if {k: previous.get(k) for k in compared} == {k: entry.get(k) for k in compared}:
        entry["runs"] = dict(previous["runs"])  # folds run earlier with --folds-to-run stay in the table
    for run in runs:
        train = Arrays.concat([_take(real, [real_index[i] for i in run.real_train]),
                               _take(fake, [fake_index[p] for p in run.synthetic_train])])
        test = _take(real, [real_index[i] for i in run.test])
        result = train_segmenter(train, test, cfg, out / _safe(experiment) / run.name, device=device,
                                 progress=progress, label=f"{experiment} {run.name}")
        entry["weights_note"] = result.weights_note
        entry["runs"][run.name] = {"metrics": result.best, "best_epoch": result.best_epoch,
                                   "train_pairs": len(train), "real_train": len(run.real_train),
                                   "synthetic_train": len(run.synthetic_train), "test_pairs": len(test),
                                   "seconds": round(result.seconds, 1), "code": result.code,
                                   "history": [{k: h[k] for k in ("epoch", "lr", "train_loss", "iou", "seconds")}
                                               for h in result.history]}
        entry["runs"] = dict(sorted(entry["runs"].items(), key=lambda item: _run_order(item[0])))
        if experiment != "small-data":
            entry["mean"], entry["sd"] = _mean_sd([r["metrics"] for r in entry["runs"].values()])
        results["experiments"][key] = entry
        results["machine"] = machine_info(resolve_device(device))
        write_reports(out, results)
    return entry


def benchmark_modality(real_images: list[Path], classes: tuple[MaskClass, ...] | None, syn_dir: Path | None,
                       syn: list[SyntheticPair] | None) -> Modality:
    """The modality every pair is read at: the real images' channels, the declared classes, and the highest bit
    depth of the real and synthetic images (so both concatenate); a synthetic set of other classes or channels is
    refused (one line naming it)."""
    real = real_modality(real_images, classes)
    depth = real.bit_depth
    if syn:
        depth = max(depth, check_synthetic_modality(syn_dir, syn, real))
    return real.with_image(real.channels, depth)


def _run_order(name: str) -> tuple[int, int]:
    """fold0 < fold1 ...; real-5 < fake-50 < real-10 ... (by the real count, real first)."""
    kind, number = name.rstrip("0123456789").rstrip("-"), int(name.lstrip("abcdefghijklmnopqrstuvwxyz-"))
    return (number // SMALL_PER_IMAGE, 1) if kind == "fake" else (number, 0)


def _take(arrays: Arrays, index: list[int]) -> Arrays:
    return Arrays(arrays.images[index], arrays.masks[index], [arrays.names[i] for i in index])


def _safe(name: str) -> str:
    return name.replace("+", "-plus-")


def _mean_sd(metrics: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mean and sd over folds of each metric (and of each class's, under "per_class", for multi-class runs)."""
    mean = {m: statistics.fmean(x[m] for x in metrics) for m in METRIC_NAMES}
    sd = {m: statistics.stdev(x[m] for x in metrics) if len(metrics) > 1 else 0.0 for m in METRIC_NAMES}
    if "per_class" in metrics[0]:
        per_class = [x["per_class"] for x in metrics]
        pairs = {name: _mean_sd(list(c[name] for c in per_class)) for name in per_class[0]}
        mean["per_class"] = {name: m for name, (m, _) in pairs.items()}
        sd["per_class"] = {name: s for name, (_, s) in pairs.items()}
    return mean, sd


def _read_results(out: Path, protocol: str) -> dict[str, Any]:
    path = out / "results.json"
    if not path.is_file():
        return {"format": "singan-seg-benchmark", "protocol": protocol, "experiments": {}}
    results = json.loads(path.read_text(encoding="utf-8"))
    if results.get("protocol") != protocol:
        raise InputError(f"holds results of protocol {results.get('protocol')!r}, not {protocol!r}; use another "
                         f"--out", out)
    return results


# ---- reports ---------------------------------------------------------------------------------------------

def write_reports(out: Path, results: dict[str, Any]) -> None:
    """results.json, results.md (tables laid out like the paper's) and iou.png."""
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", results)
    write_text_atomic(out / "results.md", markdown_tables(results))
    plot_iou(results, out / "iou.png")


def _cell(entry: dict, metric: str, name: str | None = None) -> str:
    """Mean (± sd over folds) of a metric; `name`: of that class's metric."""
    mean, sd = (entry["mean"], entry["sd"]) if name is None else \
        (entry["mean"]["per_class"][name], entry["sd"]["per_class"][name])
    return f"{mean[metric]:.4f} ± {sd[metric]:.4f}" if len(entry["runs"]) > 1 else f"{mean[metric]:.4f}"


def _is_multiclass(entry: dict) -> bool:
    return entry.get("config", {}).get("classes") is not None


def class_tables(entries: list[dict]) -> list[str]:
    """Per-class rows of the multi-class entries: (mean ± sd over folds, or each small-data run)."""
    names = [METRIC_NAMES[m] for m in CLASS_METRICS]
    lines = ["Per class (non-background classes; the rows above are their means):", "",
             "| Train data | ST | run | class | " + " | ".join(names) + " |", "|---" * (len(names) + 4) + "|"]
    for e in entries:
        if e["experiment"] == "small-data":
            for run_name, run in e["runs"].items():
                for name, values in run["metrics"]["per_class"].items():
                    lines.append(f"| small data | – | {run_name} | {name} | "
                                 + " | ".join(f"{values[m]:.4f}" for m in CLASS_METRICS) + " |")
            continue
        folds = ",".join(k.removeprefix("fold") for k in e["runs"])
        for name in e["mean"]["per_class"]:
            lines.append(f"| {e['label']} | {e['style']} | folds {folds} | {name} | "
                         + " | ".join(_cell(e, m, name) for m in CLASS_METRICS) + " |")
    return lines + [""]


def markdown_tables(results: dict[str, Any]) -> str:
    """Table 2 (real/fake, mean ± sd over folds) and Table 3 (small data), with the paper's IoU beside ours."""
    header = "| " + " | ".join(METRIC_NAMES.values()) + " |"
    rule = "|---" * (len(METRIC_NAMES) + 4) + "|"
    entries = results["experiments"]
    multiclass = [e for e in entries.values() if _is_multiclass(e)]
    target = "mean over the non-background classes" if multiclass else "polyp class"
    lines = [f"# Segmentation benchmark (protocol `{results['protocol']}`)", "",
             f"Metrics on the real held-out fold(s), {target}, per-image means; mean ± sd over folds. "
             "Paper: Thambawita et al. 2022, Tables 2 and 3 (protocol `paper`: se_resnext50_32x4d UNet++, "
             "300 epochs).", ""]
    main = [e for e in entries.values() if e["experiment"] != "small-data"]
    if main:
        lines += ["| Train data | ST | folds " + header + " paper IoU |", rule]
        for e in main:
            ref = None if _is_multiclass(e) else paper.table2(e["label"], e["style"])
            lines.append(f"| {e['label']} | {e['style']} | {','.join(k.removeprefix('fold') for k in e['runs'])} | "
                         + " | ".join(_cell(e, m) for m in METRIC_NAMES)
                         + (f" | {ref['iou']:.4f} |" if ref else " | – |"))
        lines.append("")
    small = entries.get("small-data")
    if small:
        lines += ["| # | " + header.removeprefix("| ") + " paper IoU |", "|---" * (len(METRIC_NAMES) + 2) + "|"]
        for name, run in small["runs"].items():
            kind, count = name.split("-")
            ref = None if _is_multiclass(small) else paper.table3(kind.title(), int(count))
            lines.append(f"| {kind.title()} {count} | " + " | ".join(f"{run['metrics'][m]:.4f}" for m in METRIC_NAMES)
                         + (f" | {ref['iou']:.4f} |" if ref else " | – |"))
        lines.append("")
    if multiclass:
        lines += class_tables(multiclass)
    notes = sorted({e.get("weights_note", "") for e in entries.values()})
    lines += [f"Encoder weights: {'; '.join(notes)}.", ""]
    return "\n".join(lines)


def plot_iou(results: dict[str, Any], path: Path) -> None:
    """IoU by experiment (bars, sd as error bars); the paper's numbers beside ours for protocol `paper`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = results["experiments"]
    multiclass = any(_is_multiclass(e) for e in entries.values())
    with_paper = results["protocol"] == "paper" and not multiclass
    ylabel = "IoU (mean over classes)" if multiclass else "IoU (polyp)"
    main = [e for e in entries.values() if e["experiment"] != "small-data"]
    small = entries.get("small-data")
    panels = [p for p in (main, small) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    ax_iter = iter(axes[0])
    if main:
        ax = next(ax_iter)
        x = np.arange(len(main))
        ours = [e["mean"]["iou"] for e in main]
        ax.bar(x - 0.2 * with_paper, ours, 0.4, yerr=[e["sd"]["iou"] for e in main], label="ours", capsize=3)
        if with_paper:
            refs = [(paper.table2(e["label"], e["style"]) or {}).get("iou", np.nan) for e in main]
            ax.bar(x + 0.2, refs, 0.4, label="paper", color="tab:gray")
        ax.set_xticks(x, [f"{e['label']}\n{e['style']}" for e in main])
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title(f"real vs synthetic ({results['protocol']})")
    if small:
        ax = next(ax_iter)
        for kind, marker in (("real", "o"), ("fake", "s")):
            runs = [(int(n.split("-")[1]), r["metrics"]["iou"]) for n, r in small["runs"].items()
                    if n.startswith(kind)]
            sizes = [c if kind == "real" else c // SMALL_PER_IMAGE for c, _ in runs]
            ax.plot(sizes, [v for _, v in runs], marker=marker, label=f"{kind} (ours)")
            if with_paper:
                ax.plot(sizes, [(paper.table3(kind.title(), c) or {}).get("iou", np.nan) for c, _ in runs],
                        marker=marker, linestyle="--", label=f"{kind} (paper)")
        ax.set_xlabel("real images R (fake: 10 R synthetic)")
        ax.set_ylabel(ylabel)
        ax.legend()
        ax.set_title("small data")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
