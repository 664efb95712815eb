"""Sources curve and small-data study (issue #32, paper Table 3 analog): segmentation IoU against the number of
real source pairs, for real data and for synthetic data from SinGAN-Seg and patchnn, on the same sources.

Each row is one `singan-seg benchmark` run (quick protocol, test fold 0 of Kvasir-SEG's folds.csv), through the
Python API:

    real-N      N real pairs of folds 1+2
    singan-N    the synthetic pairs (--per-source each; the paper's "Fake 10R" at 10) of the same N sources, from a
                SinGAN-Seg build (`build-dataset`, or its `export`)
    warm-N      the same from a SinGAN-Seg build warm-started from per-fold domain priors (`build-dataset --prior`)
    patchnn-N   the same from a patchnn build
    real-all, singan-all, warm-all, patchnn-all
                every training pair (666) and FAKE-1 sets that hold every source (--singan-all, --warm-all,
                --patchnn-all)

The N sources are `benchmark --sources N`'s draw: the first N of a seeded shuffle of the training pairs that the
first synthetic set given (--singan, else --warm, else --patchnn) holds samples of: real-N passes that set as
--synthetic, so it draws the same pairs, and the script refuses to run while the sets given hold different sources.
The draws are nested: the 10 sources are among the 50.
Every run takes the same optimiser steps: --epochs epochs of --epoch-pairs draws (the full real set's size; small
sets repeat with new augmentation, larger ones are subsampled), so IoU differences come from the data, not
from more or fewer steps. (The paper's Table 3 trained each run 100 epochs, so its Fake-10R runs took 10x the
steps of their Real-R runs.)

Rows run in --out/<row>/ and resume there; several instances may run different --rows at once (one thread each
on a 2-core machine: OMP_NUM_THREADS=1). `--collect` gathers every finished row into
benchmarks/results/sources_curve_fold0.json (commit, version, machine, settings, per-row metrics and the code that
ran each row) and plots docs/images/sources_curve.png. Rows already in that file and not in --out are kept, so
rows run in different places (or sessions) add up.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sources_curve.py --out runs/curve \\
        --singan runs/singan128_first100 --patchnn runs/patchnn128_first100 --rows real-10 singan-10
    .venv/bin/python benchmarks/sources_curve.py --out runs/curve --collect
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import singan_seg
from singan_seg.files import atomic_path, write_json_atomic
from singan_seg.segment.data import real_pairs, synthetic_pairs
from singan_seg.segment.experiments import run_benchmark
from provenance import portable, provenance

REPO = Path(__file__).resolve().parents[1]
KVASIR = REPO.parent / "shared" / "data" / "kvasir-seg"
TEST_FOLD = 0
KINDS = ("real", "singan", "warm", "patchnn")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="runs folder (outside the repository; resumable)")
    parser.add_argument("--data", type=Path, default=KVASIR, help="Kvasir-SEG folder (images/, masks/, folds.csv)")
    parser.add_argument("--singan", type=Path, help="SinGAN-Seg build or export holding --per-source samples each")
    parser.add_argument("--warm", type=Path, help="warm-started SinGAN-Seg build or export of the same sources")
    parser.add_argument("--patchnn", type=Path, help="patchnn build or export of the same sources")
    parser.add_argument("--singan-all", type=Path, help="SinGAN-Seg FAKE-1 set of every training pair")
    parser.add_argument("--warm-all", type=Path, help="warm-started SinGAN-Seg FAKE-1 set of every training pair")
    parser.add_argument("--patchnn-all", type=Path, help="patchnn FAKE-1 set of every training pair")
    parser.add_argument("--rows", nargs="+", default=[], help="rows to run, e.g. real-10 singan-10 patchnn-all")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--epoch-pairs", type=int, default=666, help="draws per epoch (fold 0's real training set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--collect", action="store_true", help="gather finished rows into the results file")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "sources_curve_fold0.json")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "images" / "sources_curve.png")
    return parser.parse_args()


def parse_row(row: str) -> tuple[str, int | None]:
    kind, _, count = row.partition("-")
    if kind not in KINDS or not (count == "all" or count.isdigit()):
        sys.exit(f"sources_curve: unknown row {row!r}; rows are KIND-N or KIND-all, KIND one of {KINDS}")
    return kind, None if count == "all" else int(count)


def held_sources(directory: Path, folds: dict[str, int]) -> set[str]:
    return {p.source_id for p in synthetic_pairs(directory, folds) if p.fold != TEST_FOLD}


def run_row(row: str, args: argparse.Namespace) -> None:
    kind, sources = parse_row(row)
    common = dict(data_dir=args.data, folds_csv=args.data / "folds.csv", out_dir=args.out / row, protocol="quick",
                  folds_to_run=[TEST_FOLD], epochs=args.epochs, epoch_pairs=args.epoch_pairs, seed=args.seed,
                  device=args.device)
    if sources is None:
        synthetic = None if kind == "real" else getattr(args, f"{kind}_all")
        if kind != "real" and synthetic is None:
            sys.exit(f"sources_curve: row {row} needs --{kind}-all")
        run_benchmark("real" if kind == "real" else "fake", synthetic=synthetic, **common)
        return
    sets = {name: getattr(args, name) for name in KINDS[1:] if getattr(args, name) is not None}
    synthetic = next(iter(sets.values()), None) if kind == "real" else sets.get(kind)
    if synthetic is None:
        sys.exit(f"sources_curve: row {row} needs --{'singan' if kind == 'real' else kind} (the sources it holds "
                 f"are the curve's sources)")
    if len(sets) > 1:
        _, folds = real_pairs(args.data, args.data / "folds.csv")
        if len({frozenset(held_sources(directory, folds)) for directory in sets.values()}) > 1:
            sys.exit(f"sources_curve: {', '.join('--' + name for name in sets)} hold samples of different sources; "
                     "export each with the same --limit so that every N draws the same pairs")
    run_benchmark("real" if kind == "real" else "fake", synthetic=synthetic, sources=sources, **common)


def collect(args: argparse.Namespace) -> dict:
    """The rows already in the results file, updated with every finished row in --out."""
    rows = json.loads(args.results.read_text(encoding="utf-8"))["rows"] if args.results.is_file() else {}
    for results in sorted(args.out.glob("*/results.json")):
        row = results.parent.name
        kind, sources = parse_row(row)
        (entry,) = json.loads(results.read_text(encoding="utf-8"))["experiments"].values()
        run = entry["runs"].get(f"fold{TEST_FOLD}")
        if run is None or len(run["history"]) < entry["config"]["epochs"]:
            continue  # unfinished
        rows[row] = {"kind": kind, "every_source": sources is None,
                     "sources": sources if sources is not None else run["real_train"] or run["synthetic_train"],
                     "label": entry["label"], "synthetic": portable(entry["synthetic"]) if entry["synthetic"] else None,
                     "train_pairs": run["train_pairs"], "real_train": run["real_train"],
                     "synthetic_train": run["synthetic_train"], "best_epoch": run["best_epoch"],
                     "seconds": run["seconds"], "metrics": run["metrics"], "config": entry["config"],
                     "code": run.get("code")}
    return rows


def plot(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    names = {"real": "real", "singan": "SinGAN-Seg (fast, 10 per source)",
             "warm": "SinGAN-Seg (warm start 1/5, 10 per source)", "patchnn": "patchnn (10 per source)"}
    for kind, marker in zip(KINDS, "os^d"):
        # the curve: N sources (real: N pairs; synthetic: 10 per source); FAKE-1 rows (1 sample per source, e.g.
        # every source) are open markers of the same colour
        of_kind = [r for r in rows.values() if r["kind"] == kind]
        fake1 = [r for r in of_kind if kind != "real" and r["synthetic_train"] == r["sources"]]
        points = sorted((r["sources"], r["metrics"]["iou"]) for r in of_kind if r not in fake1)
        color = None
        if points:
            (line,) = ax.plot(*zip(*points), marker=marker, label=names[kind])
            color = line.get_color()
        if fake1:
            ax.plot([r["sources"] for r in fake1], [r["metrics"]["iou"] for r in fake1], marker=marker,
                    linestyle="none", color=color, markerfacecolor="none", label=f"{kind}, 1 per source")
    ax.set_xscale("log")
    ax.set_xlabel("real source pairs (Kvasir-SEG folds 1+2)")
    ax.set_ylabel("IoU on fold 0 (334 real pairs)")
    ax.set_title("UNet++ (quick protocol, equal steps) vs number of sources")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    for row in args.rows:
        run_row(row, args)
    if args.collect:
        from singan_seg.device import machine_info, resolve_device

        rows = collect(args)
        write_json_atomic(args.results, {"provenance": provenance(), "package": singan_seg.__version__,
                                         "machine": machine_info(resolve_device("cpu")),
                                         "settings": portable({k: v for k, v in vars(args).items()
                                                               if k not in ("rows", "collect")}),
                                         "rows": rows})
        plot(rows, args.plot)
        for row, r in sorted(rows.items(), key=lambda item: (item[1]["kind"], item[1]["sources"])):
            print(f"{row:>12}: IoU {r['metrics']['iou']:.4f}  ({r['real_train']} real + {r['synthetic_train']} "
                  f"synthetic pairs, best epoch {r['best_epoch'] + 1}, {r['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
