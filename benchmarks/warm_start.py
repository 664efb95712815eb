"""Domain prior + warm start against `fast` (issue #32): machine time per generator and sample quality, one run.

On the first --pairs Kvasir-SEG ids of the fold-0 training folds (folds.csv: folds 1 and 2, sorted), every variant
trains one generator per pair and training seed (--seeds), draws --num samples at the model's default variation and
scores them as compare_presets.py does (SIFID, diversity, mask fit, verbatim copying):
- `fast`: the preset, from scratch;
- `warm<F>` for each --fractions F: warm-started from one domain prior (every scale but the coarsest, see
  training/warm.py), every scale trained F x fast's iterations;
- `cold<F>`, the control: fast with F x its iterations and no prior (a warm start must beat this, not only fast;
  on a 48-px one-pair screen it did not: SIFID 72.0 warm against 70.2 cold at F = 0.2, fast 46.7);
- --variant NAME=SPEC: more warm starts, SPEC as config_from_spec reads it, e.g.
  `warm5c=fast:warm_iters_fraction=0.2,warm_coarsest=true`.
The prior is trained here first (or read with --prior DIR) on --prior-pairs other ids of the same folds, a seeded
choice that leaves the scored ids out (so the scores are those of pairs the prior never saw; in a real build about
64 of a fold's 333 sources are in their own fold's prior), at --prior-iters-factor x fast's iterations.

Every job runs in one of --workers spawned processes with one torch thread each (OMP_NUM_THREADS=1, pinned to its own
core where the machine has enough), as `build-dataset --workers 2 --threads 1` does on a 2-core machine. A
generator's machine seconds are its 1-thread training time / workers (every core busy), as benchmarks/README's
"~2.4 min per generator at 128 px" for `fast`. The prior's own cost is amortised over 667 pairs (one prior, the
training folds of one test fold) and over 1000 pairs with 3 priors (a fold-safe build: one prior per fold, see
pipeline/priors.py); the 1000-pair projection uses the latter. The last jobs may run with a core to spare (a few %
faster); fast's jobs run first, while the prior trains.

    .venv/bin/python benchmarks/warm_start.py --max-size 128 --pairs 10 --seeds 0 1 --fractions 0.2 0.125
    .venv/bin/python benchmarks/warm_start.py --max-size 48 --pairs 2 --iters 20 --prior-pairs 4 --num 3  # smoke

Writes benchmarks/results/warm_start_<max-size>.json (commit, version, machine, settings, the prior's ids and cost,
per-pair rows and the summary). The prior (weights derived from Kvasir) lives in a temporary folder unless
--keep-prior DIR (outside the repository) keeps it; nothing derived from Kvasir is written besides numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

import singan_seg as ss
from singan_seg.data.dataset import PairFiles
from singan_seg.device import machine_info
from singan_seg.files import sha256_file, write_json_atomic
from provenance import portable, provenance

REPO = Path(__file__).resolve().parents[1]
KVASIR = REPO.parent / "shared" / "data" / "kvasir-seg"
TEST_FOLD = 0
PAIRS_PER_FOLD_BUILD = {"667 pairs, 1 prior": (667, 1), "1000 pairs, 3 priors": (1000, 3)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=KVASIR)
    parser.add_argument("--max-size", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=10, help="first N ids of the fold-0 training folds, sorted")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds (one generator each)")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.2, 0.125],
                        help="warm_iters_fraction of each warm-start variant (and its cold control)")
    parser.add_argument("--no-controls", action="store_true", help="skip the cold<F> controls")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SPEC",
                        help="a warm start with other settings, e.g. warm5c=fast:warm_coarsest=true")
    parser.add_argument("--iters", type=int, default=None, help="iters_per_scale of every variant (smoke runs)")
    parser.add_argument("--prior", type=Path, default=None, help="use this prior instead of training one")
    parser.add_argument("--prior-pairs", type=int, default=64, help="pairs the prior trains on")
    parser.add_argument("--prior-iters-factor", type=float, default=4.0, help="the prior's iterations / fast's")
    parser.add_argument("--prior-seed", type=int, default=0, help="seed of the prior's choice of ids and training")
    parser.add_argument("--keep-prior", type=Path, default=None, help="write the prior here (outside the repo)")
    parser.add_argument("--num", type=int, default=10, help="samples per generator")
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--memo-stride", type=int, default=4, help="stride of the sample patches searched")
    parser.add_argument("--workers", type=int, default=2, help="processes, one torch thread each")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/warm_start_<size>.json")
    parser.add_argument("--rows", type=Path, default=None, help="append every finished job's row to this JSON-lines "
                        "file, and skip the jobs it already holds: an interrupted run resumes (with --prior or "
                        "--keep-prior, so the prior is not trained again)")
    args = parser.parse_args()
    args.out = args.out or REPO / "benchmarks" / "results" / f"warm_start_{args.max_size}.json"
    if args.keep_prior is not None and args.keep_prior.resolve().is_relative_to(REPO):
        parser.error("--keep-prior must be outside the repository (the prior is derived from Kvasir-SEG)")
    return args


# ----------------------------------------------------------------------------------------------------------
# Which ids: scored pairs and the prior's pairs, both from the training folds of test fold 0
# ----------------------------------------------------------------------------------------------------------

def training_fold_ids(data: Path) -> dict[str, int]:
    with open(data / "folds.csv", newline="") as handle:
        return {row["id"]: int(row["fold"]) for row in csv.DictReader(handle) if int(row["fold"]) != TEST_FOLD}


def pair_files(data: Path, ident: str) -> PairFiles:
    return PairFiles(id=ident, image=data / "images" / f"{ident}.jpg", mask=data / "masks" / f"{ident}.jpg")


def choose_ids(args: argparse.Namespace) -> tuple[list[str], list[str], dict[str, int]]:
    """The scored ids (first N, sorted) and the prior's (a seeded choice of the rest) with their folds."""
    folds = training_fold_ids(args.data)
    ordered = sorted(folds)
    scored = ordered[:args.pairs]
    rest = ordered[args.pairs:]
    picked = np.random.default_rng(args.prior_seed).permutation(len(rest))[:args.prior_pairs]
    return scored, sorted(rest[i] for i in picked), folds


# ----------------------------------------------------------------------------------------------------------
# Jobs (each in a worker process with one thread)
# ----------------------------------------------------------------------------------------------------------

_EXTRACTOR = None


def init_worker(cores) -> None:
    torch.set_num_threads(1)
    if cores is not None:
        os.sched_setaffinity(0, {cores.get()})


def run_prior(task: dict) -> dict:
    from singan_seg.training.prior import train_prior

    config = ss.TrainConfig.from_dict(task["config"])
    files = [pair_files(Path(task["data"]), ident) for ident in task["ids"]]
    started, cpu = time.perf_counter(), time.process_time()
    prior = train_prior(files, task["out"], config=config, iters_factor=task["iters_factor"], device="cpu",
                        progress=False, overwrite=True, folds=task["folds"], selection=task["selection"])
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
            "num_scales": prior.num_scales, "shapes": [list(s) for s in prior.shapes],
            "noise_amps": prior.meta["noise_amps"], "weights_sha256": prior.weights_sha256}


def run_generator(task: dict) -> dict:
    """Train one generator (timed), sample it and score the samples against its pair."""
    from compare_presets import score
    from singan_seg.evaluate import get_extractor

    global _EXTRACTOR
    files = pair_files(Path(task["data"]), task["id"])
    pair = ss.load_pair(files.image, files.mask)
    config = ss.TrainConfig.from_dict(task["config"])
    started, cpu = time.perf_counter(), time.process_time()
    model = ss.train(pair, config=config, device="cpu", progress=False, prior=task["prior"])
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    samples = ss.sample(model, num=task["num"], seed=task["sample_seed"], device="cpu")
    if _EXTRACTOR is None:
        _EXTRACTOR = get_extractor(None, "cpu")
    iterations = (config.warm_iters_at if task["prior"] else config.iters_at)
    return {"id": task["id"], "variant": task["variant"], "seed": config.seed, "train_seconds": seconds,
            "train_cpu_seconds": cpu_seconds, "scales": model.num_scales,
            "iterations": sum(iterations(n, model.num_scales) for n in range(model.num_scales)),
            **score(samples, pair, _EXTRACTOR, task["memo_stride"])}


# ----------------------------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------------------------

def mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def summarise(rows: list[dict], workers: int, prior_seconds: float | None) -> dict:
    masks = {k: float(np.mean([r["mask"][k] for r in rows])) for k in rows[0]["mask"]}
    core = mean(rows, "train_seconds")
    out = {"runs": len(rows), "pairs": len({r["id"] for r in rows}), "size": rows[0]["size"],
           "core_seconds": core, "cpu_seconds": mean(rows, "train_cpu_seconds"), "machine_seconds": core / workers,
           "iterations": mean(rows, "iterations"), "sifid": mean(rows, "sifid"),
           "sifid_by_seed": {str(s): mean([r for r in rows if r["seed"] == s], "sifid")
                             for s in sorted({r["seed"] for r in rows})},
           "diversity": mean(rows, "diversity"), "pairwise_l1": mean(rows, "pairwise_l1"), "mask": masks,
           "copied_patches": mean(rows, "copied_patches"), "largest_copy_mean": mean(rows, "largest_copy_mean"),
           "largest_copy_max": float(np.max([r["largest_copy_max"] for r in rows]))}
    priors = 0.0 if prior_seconds is None else prior_seconds
    out["machine_seconds_with_prior"] = {name: core / workers + count * priors / workers / pairs
                                         for name, (pairs, count) in PAIRS_PER_FOLD_BUILD.items()}
    out["projected_hours_1000"] = (1000 * core + (3 * priors if prior_seconds is not None else 0)) / workers / 3600
    return out


def compare_to_fast(summary: dict) -> None:
    """Ratios against fast: time (fast / variant, with the prior amortised) and quality differences."""
    fast = summary["fast"]
    for s in summary.values():
        s["vs_fast"] = {
            "speedup": fast["machine_seconds"] / s["machine_seconds"],
            "speedup_with_prior": {name: fast["machine_seconds"] / seconds
                                   for name, seconds in s["machine_seconds_with_prior"].items()},
            "sifid_difference": s["sifid"] - fast["sifid"], "diversity_ratio": s["diversity"] / fast["diversity"],
            "components_difference": s["mask"]["components"] - fast["mask"]["components"],
            "largest_copy_difference": s["largest_copy_mean"] - fast["largest_copy_mean"]}


def print_table(summary: dict, prior: dict | None) -> None:
    print(f"{'variant':<12}{'runs':>5}{'px':>9}{'iters':>7}{'core s':>9}{'mach s':>8}{'x fast':>7}{'x w/ prior':>11}"
          f"{'h/1000':>8}{'SIFID':>8}{'(by seed)':>16}{'divers':>7}{'comp (real)':>12}{'holes':>6}{'speck':>6}"
          f"{'copied':>7}{'largest':>11}")
    for name, s in summary.items():
        m, v = s["mask"], s["vs_fast"]
        size = "x".join(map(str, s["size"][::-1]))
        seeds = "/".join(f"{x:.1f}" for x in s["sifid_by_seed"].values())
        amortised = v["speedup_with_prior"]["1000 pairs, 3 priors"]
        print(f"{name:<12}{s['runs']:>5}{size:>9}{s['iterations']:>7.0f}{s['core_seconds']:>9.1f}"
              f"{s['machine_seconds']:>8.1f}{v['speedup']:>7.2f}{amortised:>11.2f}"
              f"{s['projected_hours_1000']:>8.2f}{s['sifid']:>8.2f}{seeds:>16}{s['diversity']:>7.2f}"
              f"{m['components']:>6.1f} ({m['real_components']:.1f}){m['holes']:>6.1f}{m['speckle_fraction']:>6.2f}"
              f"{s['copied_patches']:>7.2f}{s['largest_copy_mean']:>6.2f}/{s['largest_copy_max']:.2f}")
    if prior is not None:
        print(f"prior: {prior['pairs']} pairs, {prior['num_scales']} scales, {prior['seconds']:.0f} s on one thread "
              f"({'reused' if prior.get('reused') else 'trained here'})")
    print("core s: 1-thread training seconds with every core busy; mach s: / workers; x w/ prior: with 3 per-fold "
          "priors amortised over 1000 pairs; h/1000: machine hours for 1000 pairs (priors included).")


# ----------------------------------------------------------------------------------------------------------

def variants(args: argparse.Namespace) -> tuple[dict[str, ss.TrainConfig], set[str]]:
    """Every variant's config, and the names of those trained from the prior."""
    base = ss.get_preset("fast", max_size=args.max_size, iters_per_scale=args.iters)
    out = {"fast": base}
    warm = {f"warm{f:g}" for f in args.fractions}
    out.update({f"warm{f:g}": base.replace(warm_iters_fraction=f) for f in args.fractions})
    if not args.no_controls:
        out.update({f"cold{f:g}": base.replace(iters_per_scale=max(1, round(base.iters_per_scale * f)))
                    for f in args.fractions})
    for text in args.variant:
        name, sep, spec = text.partition("=")
        if not sep or name in out:
            raise SystemExit(f"--variant {text}: expected a new NAME=SPEC")
        out[name] = ss.config_from_spec(spec, max_size=args.max_size, iters_per_scale=args.iters)
        warm.add(name)
    return out, warm


def prior_task(args: argparse.Namespace, prior_ids: list[str], folds: dict[str, int], out: Path) -> dict:
    config = ss.get_preset("fast", max_size=args.max_size, iters_per_scale=args.iters, seed=args.prior_seed)
    return {"data": str(args.data), "ids": prior_ids, "out": str(out), "config": config.to_dict(),
            "iters_factor": args.prior_iters_factor, "folds": {i: folds[i] for i in prior_ids},
            "selection": {"exclude_fold": TEST_FOLD, "count": len(prior_ids), "seed": args.prior_seed,
                          "note": "training folds of test fold 0 minus the benchmark's scored ids",
                          "folds_file_sha256": sha256_file(args.data / "folds.csv")}}


def main(args: argparse.Namespace) -> int:
    if not (args.data / "images").is_dir():
        print(f"Kvasir-SEG not found at {args.data}; nothing to measure", file=sys.stderr)
        return 1
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers
    scored, prior_ids, folds = choose_ids(args)
    configs, warm = variants(args)
    context = get_context("spawn")
    available = sorted(os.sched_getaffinity(0))
    cores = None
    if len(available) >= args.workers:
        cores = context.Queue()
        for core in available[:args.workers]:
            cores.put(core)
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.workers, mp_context=context,
                                                                   initializer=init_worker,
                                                                   initargs=(cores,)) as pool:
        prior_dir = args.prior or args.keep_prior or Path(tmp) / "prior"
        prior_future: Future | None = None
        if args.prior is None:
            prior_future = pool.submit(run_prior, prior_task(args, prior_ids, folds, prior_dir))
        common = {"data": str(args.data), "num": args.num, "sample_seed": args.sample_seed,
                  "memo_stride": args.memo_stride}
        done = read_rows(args.rows)
        jobs = [pool.submit(run_generator, common | {"id": ident, "variant": name, "prior": None,
                                                     "config": cfg.replace(seed=seed).to_dict()})
                for seed in args.seeds for ident in scored for name, cfg in configs.items()
                if name not in warm and (name, ident, seed) not in done]
        if prior_future is None:
            prior = reused_prior(args.prior, scored, folds)
        else:
            prior = prior_future.result() | {"pairs": len(prior_ids)}
        print(f"prior: {prior['seconds']:.0f} s, {prior['num_scales']} scales", flush=True)
        jobs += [pool.submit(run_generator, common | {"id": ident, "variant": name, "prior": str(prior_dir),
                                                      "config": cfg.replace(seed=seed).to_dict()})
                 for seed in args.seeds for ident in scored for name, cfg in configs.items()
                 if name in warm and (name, ident, seed) not in done]
        per_pair: dict[str, list[dict]] = {name: [] for name in configs}
        for row in done.values():
            per_pair[row["variant"]].append(row)
        for future in as_completed(jobs):
            row = future.result()
            per_pair[row["variant"]].append(row)
            if args.rows is not None:
                with open(args.rows, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
            print(f"{row['variant']} {row['id']} seed {row['seed']}: {row['train_seconds']:.1f} s, SIFID "
                  f"{row['sifid']:.2f}, diversity {row['diversity']:.2f}", flush=True)
    for rows in per_pair.values():
        rows.sort(key=lambda r: (r["seed"], r["id"]))
    summary = {name: summarise(rows, args.workers, prior["seconds"] if name in warm else None)
               for name, rows in per_pair.items()}
    compare_to_fast(summary)
    print()
    print_table(summary, prior)
    write_json_atomic(args.out, {
        "provenance": provenance(), "settings": json.loads(json.dumps(portable(vars(args)), default=str)),
        "ids": scored, "prior": prior | {"ids": prior_ids if args.prior is None else None},
        "machine": machine_info(torch.device("cpu")), "torch": torch.__version__, "threads_per_worker": 1,
        "workers": args.workers, "pinned": cores is not None,
        "configs": {name: cfg.to_dict() for name, cfg in configs.items()}, "warm_variants": sorted(warm),
        "summary": summary, "per_pair": per_pair, "seconds": round(time.time() - started, 1)})
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


def read_rows(path: Path | None) -> dict[tuple[str, str, int], dict]:
    """Rows of jobs an earlier, interrupted run finished (--rows), keyed by (variant, id, seed)."""
    if path is None or not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(row["variant"], row["id"], row["seed"]): row for row in rows}


def reused_prior(path: Path, scored: list[str], folds: dict[str, int]) -> dict:
    """A prior given with --prior: its recorded training seconds (as timed where it was trained) and identity;
    refused where it saw a scored pair or an image of the test fold."""
    from singan_seg.model.prior import load_prior

    prior = load_prior(path)
    seen = prior.trained_on
    overlap = sorted(set(seen["ids"]) & set(scored))
    if overlap or any(ident not in folds for ident in seen["ids"]):
        raise SystemExit(f"--prior {path}: it saw scored pairs ({overlap[:3]}) or ids outside the training folds of "
                         f"test fold {TEST_FOLD}; train it on other ids")
    return {"seconds": prior.meta["training"]["seconds"], "num_scales": prior.num_scales, "reused": True,
            "shapes": [list(s) for s in prior.shapes], "pairs": len(seen["ids"]), "weights_sha256":
            prior.weights_sha256, "trained_on_ids": seen["ids"], "machine": prior.meta["training"].get("machine")}


if __name__ == "__main__":
    sys.exit(main(parse_args()))
