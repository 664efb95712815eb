"""Reproduce the layout of the paper's Table 4 (FID of 4-channel GANs vs SinGAN-Seg) and Table 5 (small data).

Table 4: each baseline (DCGAN, ProGAN, FastGAN) is trained on all Kvasir-SEG pairs with the same budget (wall-clock
minutes of training, or steps), or reused from --models DIR; then --sets sets of --num pairs are generated (seeds
0, 1, ...) and the FID of each set's images against the real images is computed (singan_seg.evaluate.fid, TF
Inception pool features). SinGAN-Seg rows come from samples directories (--singan-samples, --singan-st-samples:
a samples dir, or a folder of them, one per set); without them the rows read "not run".

Table 5 (--small-data 5,10,...,50): FastGAN trained on the first n pairs (sorted ids), --sets sets of n samples,
FID against those n real images; SinGAN-Seg rows take, for set k, the k-th sample of each of the n sources found in
the SinGAN-Seg samples (manifest source_id).

--time-steps K only measures seconds per training step of each arch at --resolution and --batch-size (K steps after
one warm-up step, on real pairs; ProGAN at its first and at its full-size level), for planning a budget run.

Nothing derived from Kvasir is committed: models and samples go under benchmarks/out/ (git-ignored); the numbers
go to benchmarks/results/fid_table.json with the commit and version, the budgets, the machine, the torch version
and thread count.

    PYTHONPATH=src python benchmarks/fid_table.py --minutes 30 --resolution 128            # the CPU budget run
    PYTHONPATH=src python benchmarks/fid_table.py --paper-budget --resolution 256 --device cuda
    PYTHONPATH=src python benchmarks/fid_table.py --minutes 0.5 --resolution 64 --num 64 --sets 2 --real-limit 64
    PYTHONPATH=src python benchmarks/fid_table.py --time-steps 3 --resolution 128 --batch-size 16
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import torch

from singan_seg.baselines import baseline_config, generate_baseline, load_pair_set, train_baseline
from singan_seg.baselines.checkpoint import is_baseline_dir, read_meta
from singan_seg.baselines.train import ARCH_MODULES, build_networks, make_optimizers, seeded_rng
from singan_seg.data.samples_dir import read_manifest, read_manifest_rows
from singan_seg.device import machine_info, resolve_device
from singan_seg.evaluate import ImageSet, fid, load_image_set
from singan_seg.files import write_json_atomic
from provenance import portable, portable_path, provenance

REPO = Path(__file__).resolve().parents[1]
KVASIR = REPO.parent / "shared" / "data" / "kvasir-seg"

# Table 4 of the paper: FID of 5 sets of 1000 synthetic vs the 1000 real images (mean, sd).
PAPER_TABLE4 = {"DCGAN": (269.29, 1.05), "Progressive GAN": (284.29, 1.18), "FastGAN": (75.17, 0.72),
                "SinGAN-Seg": (98.29, 0.78), "SinGAN-Seg + style transfer": (43.46, 0.26)}
ROW_OF = {"dcgan": "DCGAN", "progan": "Progressive GAN", "fastgan": "FastGAN"}
# Table 5: mean (sd) FID for n = 5, 10, ..., 50 training images.
PAPER_TABLE5 = {
    "FastGAN": {5: (246.52, 27.57), 10: (243.09, 16.57), 15: (229.33, 12.21), 20: (260.54, 6.88), 25: (355.04, 0.98),
                30: (302.18, 6.07), 35: (266.90, 4.01), 40: (257.34, 2.01), 45: (224.62, 3.80), 50: (229.28, 6.10)},
    "SinGAN-Seg": {5: (270.05, 16.27), 10: (230.83, 7.17), 15: (213.70, 6.03), 20: (218.90, 5.49),
                   25: (215.74, 4.86), 30: (207.70, 4.13), 35: (206.12, 2.89), 40: (201.99, 2.21),
                   45: (192.29, 2.73), 50: (190.27, 2.76)},
    "SinGAN-Seg + style transfer": {5: (157.03, 12.90), 10: (134.40, 5.76), 15: (125.16, 4.29), 20: (126.67, 5.37),
                                    25: (125.67, 5.51), 30: (121.08, 3.11), 35: (121.95, 1.72), 40: (117.92, 1.64),
                                    45: (113.38, 1.11), 50: (111.53, 0.68)},
}
# "The papers' budgets", for GPU runs (--paper-budget): (batch size, steps at 1000 training images).
# DCGAN: 25 epochs at batch 128 (the reference implementation's default); ProGAN: 800k images per fade-in and per
# stabilisation phase (2L - 1 phases; 13 at 256 px) at batch 16; FastGAN: the official 50k iterations at batch 8.
PAPER_BUDGET = {"dcgan": lambda res, n: (128, 25 * n // 128),
                "progan": lambda res, n: (16, (2 * (res.bit_length() - 2) - 1) * 800_000 // 16),
                "fastgan": lambda res, n: (8, 50_000)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=KVASIR, help="Kvasir-SEG folder (images/, masks/)")
    parser.add_argument("--archs", default="dcgan,progan,fastgan")
    parser.add_argument("--resolution", type=int, default=128, help="square training size (paper: 256)")
    parser.add_argument("--minutes", type=float, default=None, help="training budget per model, minutes")
    parser.add_argument("--steps", type=int, default=None, help="training budget per model, steps")
    parser.add_argument("--paper-budget", action="store_true", help="the papers' batch sizes and steps (GPU)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", default=None,
                        help="channel scale: one number for every arch, or per arch as dcgan=32,progan=64,fastgan=16 "
                             "(default: the papers')")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="what --minutes counts: elapsed time, or this process's CPU time (fair on a busy CPU)")
    parser.add_argument("--num", type=int, default=1000, help="pairs per generated set (paper: 1000)")
    parser.add_argument("--sets", type=int, default=5, help="generated sets per model (paper: 5)")
    parser.add_argument("--real-limit", type=int, default=None, help="FID against the first N real images only")
    parser.add_argument("--train-limit", type=int, default=None, help="train on the first N pairs only (smoke)")
    parser.add_argument("--models", type=Path, default=REPO / "benchmarks" / "out" / "fid_table" / "models",
                        help="model dirs <arch>_<res>px are reused from / trained into here")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "out" / "fid_table")
    parser.add_argument("--singan-samples", type=Path, default=None, help="SinGAN-Seg samples dir(s)")
    parser.add_argument("--singan-st-samples", type=Path, default=None, help="the same after style transfer")
    parser.add_argument("--small-data", default=None, help="Table 5 mode: comma-separated training-set sizes")
    parser.add_argument("--time-steps", type=int, default=None, help="only time K training steps per arch")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON to write (default: benchmarks/results/fid_table.json, or "
                             "baseline_step_times.json with --time-steps)")
    args = parser.parse_args()
    if args.out is None:
        name = "baseline_step_times.json" if args.time_steps is not None else "fid_table.json"
        args.out = REPO / "benchmarks" / "results" / name
    if args.time_steps is None and not args.paper_budget and (args.minutes is None) == (args.steps is None):
        parser.error("give the training budget: --minutes or --steps (or --paper-budget)")
    try:
        args.widths = parse_widths(args.width, args.archs.split(","))
    except ValueError as exc:
        parser.error(str(exc))
    return args


def parse_widths(text: str | None, archs: list[str]) -> dict[str, int | None]:
    """'32' -> every arch 32; 'dcgan=32,fastgan=16' -> those two (others: the paper's); None -> papers'."""
    if text is None:
        return {arch: None for arch in archs}
    if "=" not in text:
        return {arch: int(text) for arch in archs}
    widths: dict[str, int | None] = {arch: None for arch in archs}
    for item in text.split(","):
        arch, _, value = item.partition("=")
        if arch not in ARCH_MODULES:
            raise ValueError(f"--width: unknown arch {arch!r}; known: {sorted(ARCH_MODULES)}")
        widths[arch] = int(value)
    return widths


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------

def mean_sd(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "sets": values}


def fmt(stats: dict | None) -> str:
    return "not run" if stats is None else f"{stats['mean']:.2f} ± {stats['sd']:.2f}"


def real_subset(data: Path, limit: int | None, ids: list[str] | None = None) -> ImageSet:
    """The real images FID compares against: all, the first `limit`, or the given ids."""
    full = load_image_set(data)
    keep = [i for i, stem in enumerate(full.stems) if (ids is None or stem in set(ids))][:limit]
    return ImageSet(full.root, [full.stems[i] for i in keep], [full.image_paths[i] for i in keep],
                    [full.mask_paths[i] for i in keep])


def budget_for(args: argparse.Namespace, arch: str, n_pairs: int) -> tuple[int, dict]:
    """(batch size, budget kwargs) for one model."""
    if args.paper_budget:
        batch, steps = PAPER_BUDGET[arch](args.resolution, n_pairs)
        return batch, {"steps": max(1, steps)}
    if args.minutes is not None:
        return args.batch_size, {"minutes": args.minutes, "clock": args.clock}
    return args.batch_size, {"steps": args.steps}


def trained_model(args, arch: str, data, name: str) -> tuple[Path, dict]:
    """Reuse a complete model dir under --models, or train (resuming an interrupted one) with the budget."""
    model_dir = args.models / name
    batch, budget = budget_for(args, arch, len(data))
    config = baseline_config(arch, resolution=args.resolution, batch_size=batch, width=args.widths.get(arch),
                             seed=args.seed)
    saved = read_meta(model_dir) if is_baseline_dir(model_dir) else None
    different = sorted(k for k, v in config.to_dict().items()
                       if saved is not None and k != "checkpoint_every" and saved["config"].get(k) != v)
    if different:
        raise SystemExit(f"{model_dir}: trained with other settings ({', '.join(different)}); "
                         "give another --models folder")
    if saved is not None and saved["training"]["complete"]:
        print(f"{name}: reusing {model_dir}")
    else:
        train_baseline(data, config, model_dir, device=args.device, resume=saved is not None, **budget)
    training = read_meta(model_dir)["training"]
    info = {"model": portable_path(model_dir), "steps": training["step"], "train_seconds": training["seconds"],
            "seconds_per_step": training["seconds"] / max(training["step"], 1), "budget": training["budget"],
            "config": read_meta(model_dir)["config"], "pairs": training["data"]["pairs"]}
    print(f"{name}: {info['steps']} steps in {info['train_seconds'] / 60:.1f} min "
          f"({info['seconds_per_step']:.2f} s/step)")
    return model_dir, info


def fid_of_sets(args, model_dir: Path, real: ImageSet, num: int, label: str) -> dict:
    values = []
    for k in range(args.sets):
        out = args.work / "samples" / label / f"set{k + 1}"
        generate_baseline(model_dir, out, num=num, seed=k, device=args.device, overwrite=True)
        values.append(fid(out, real, device=str(resolve_device(args.device)), progress=False).value)
    return mean_sd(values)


def singan_sets(path: Path | None) -> list[Path]:
    """Samples dirs under `path`: itself if it is one, else its sub-folders that are."""
    if path is None:
        return []
    if (path / "manifest.csv").is_file():
        return [path]
    return sorted(p for p in path.iterdir() if (p / "manifest.csv").is_file())


def singan_table4(args, path: Path | None, real: ImageSet) -> dict | None:
    sets = singan_sets(path)
    if not sets:
        return None
    return mean_sd([fid(s, real, device=str(resolve_device(args.device)), progress=False).value for s in sets])


def singan_table5(args, path: Path | None, ids: list[str], real: ImageSet) -> dict | None:
    """For set k: the k-th sample of each of the n sources (all n must have one)."""
    by_source: dict[str, list[tuple[Path, dict]]] = {}
    for directory in singan_sets(path):
        # a samples dir, or a build-dataset folder (its manifest lists pairs/<id>/samples/... paths)
        rows = (read_manifest(directory) if (directory / "images").is_dir()
                else read_manifest_rows(directory / "manifest.csv", ("image", "mask", "source_id")))
        for row in rows:
            by_source.setdefault(row["source_id"], []).append((directory, row))
    if not ids or any(len(by_source.get(i, [])) < args.sets for i in ids):
        return None
    values = []
    for k in range(args.sets):
        picked = [by_source[i][k] for i in ids]
        chosen = ImageSet(Path(str(path)), [f"{i}_{k}" for i in ids], [d / r["image"] for d, r in picked],
                          [d / r["mask"] for d, r in picked])
        values.append(fid(chosen, real, device=str(resolve_device(args.device)), progress=False).value)
    return mean_sd(values)


# ----------------------------------------------------------------------------------------------------------
# The three modes
# ----------------------------------------------------------------------------------------------------------

def time_steps(args) -> dict:
    """Seconds per training step of each arch on real pairs (one warm-up step first)."""
    dev = resolve_device(args.device)
    data = load_pair_set(args.data / "images", args.data / "masks", args.resolution, limit=args.batch_size)
    real = data.batch(list(range(args.batch_size)), dev)
    result = {}
    for arch in args.archs.split(","):
        config = baseline_config(arch, resolution=args.resolution, batch_size=args.batch_size,
                                 width=args.widths.get(arch))
        nets = build_networks(config, dev)
        opts = make_optimizers(nets, config)
        points = {"first level": 0.0, "full size": 1.0} if arch == "progan" else {"": 1.0}
        for label, progress in points.items():
            with seeded_rng(0, dev):
                ARCH_MODULES[arch].train_step(nets, opts, real, config, progress)  # warm-up
            started, cpu_started = time.perf_counter(), time.process_time()
            for step in range(args.time_steps):
                with seeded_rng(step, dev):
                    ARCH_MODULES[arch].train_step(nets, opts, real, config, progress)
            seconds = (time.perf_counter() - started) / args.time_steps
            cpu = (time.process_time() - cpu_started) / args.time_steps
            key = f"{arch} ({label})" if label else arch
            # CPU time is what one uncontended core would take (one thread); wall time includes other load
            result[key] = {"seconds_per_step": seconds, "cpu_seconds_per_step": cpu, "width": config.width,
                           "z_dim": config.z_dim, "parameters_G": sum(p.numel() for p in nets["G"].parameters()),
                           "parameters_D": sum(p.numel() for p in nets["D"].parameters())}
            print(f"{key:24s} {seconds:7.2f} s/step wall, {cpu:7.2f} s CPU  ({args.resolution} px, batch "
                  f"{args.batch_size}, width {config.width}, {torch.get_num_threads()} thread(s))", flush=True)
    return result


def table4(args) -> dict:
    real = real_subset(args.data, args.real_limit)
    data = load_pair_set(args.data / "images", args.data / "masks", args.resolution, limit=args.train_limit)
    rows, training = {}, {}
    for arch in args.archs.split(","):
        model_dir, training[arch] = trained_model(args, arch, data, f"{arch}_{args.resolution}px")
        rows[ROW_OF[arch]] = fid_of_sets(args, model_dir, real, args.num, arch)
        print(f"{ROW_OF[arch]}: FID {fmt(rows[ROW_OF[arch]])}")
    rows["SinGAN-Seg"] = singan_table4(args, args.singan_samples, real)
    rows["SinGAN-Seg + style transfer"] = singan_table4(args, args.singan_st_samples, real)
    print(f"\nTable 4 layout: FID of {args.sets} sets of {args.num} generated vs {len(real)} real images "
          f"({args.resolution} px training; budget {budget_text(args)})\n")
    print("| GAN architecture | ours, mean ± sd | paper, mean ± sd |\n|---|---|---|")
    for name, (mean, sd) in PAPER_TABLE4.items():
        print(f"| {name} | {fmt(rows.get(name))} | {mean:.2f} ± {sd:.2f} |")
    return {"table4": rows, "real_images": len(real), "training": training}


def table5(args) -> dict:
    sizes = [int(s) for s in args.small_data.split(",")]
    all_ids = sorted(load_image_set(args.data).stems)
    rows: dict[str, dict[int, dict | None]] = {name: {} for name in PAPER_TABLE5}
    training = {}
    for n in sizes:
        ids = all_ids[:n]
        real = real_subset(args.data, None, ids)
        data = load_pair_set(args.data / "images", args.data / "masks", args.resolution, limit=n)
        model_dir, training[n] = trained_model(args, "fastgan", data, f"fastgan_{args.resolution}px_n{n}")
        rows["FastGAN"][n] = fid_of_sets(args, model_dir, real, n, f"fastgan_n{n}")
        rows["SinGAN-Seg"][n] = singan_table5(args, args.singan_samples, ids, real)
        rows["SinGAN-Seg + style transfer"][n] = singan_table5(args, args.singan_st_samples, ids, real)
        print(f"n={n}: FastGAN FID {fmt(rows['FastGAN'][n])}")
    print(f"\nTable 5 layout: FID of {args.sets} sets of n generated vs the n real training images "
          f"({args.resolution} px; budget {budget_text(args)})\n")
    print("| GAN | n | ours, mean ± sd | paper, mean ± sd |\n|---|---|---|---|")
    for name in PAPER_TABLE5:
        for n in sizes:
            paper = PAPER_TABLE5[name].get(n)
            print(f"| {name} | {n} | {fmt(rows[name][n])} | "
                  f"{'–' if paper is None else f'{paper[0]:.2f} ± {paper[1]:.2f}'} |")
    return {"table5": rows, "training": training}


def budget_text(args) -> str:
    if args.paper_budget:
        return "the papers' (see PAPER_BUDGET)"
    if args.minutes is not None:
        clock = "CPU time, one thread" if args.clock == "cpu" else "wall-clock"
        return f"{args.minutes} min ({clock}) of training per model"
    return f"{args.steps} steps per model"


def main(args: argparse.Namespace) -> None:
    started = time.time()
    warnings.filterwarnings("ignore", message=".*rank-deficient.*")  # expected with fewer than 2049 images
    if args.time_steps is not None:
        results = {"time_steps": time_steps(args)}
    elif args.small_data:
        results = table5(args)
    else:
        results = table4(args)
    write_json_atomic(args.out, {"provenance": provenance(), "settings": portable(vars(args)),
                                 "budget": budget_text(args), **results,
                                 "paper": {"table4": PAPER_TABLE4, "table5": PAPER_TABLE5},
                                 "machine": machine_info(resolve_device(args.device)),
                                 "torch": torch.__version__, "threads": torch.get_num_threads(),
                                 "seconds": round(time.time() - started, 1)})
    print(f"wrote {args.out} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main(parse_args())
