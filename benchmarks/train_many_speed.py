"""Generators per hour vs K, the number of models trained together by `train_many` (grouped convolutions).

For each K, times a few iterations (after one warm-up iteration) at every scale of one pair's pyramid with K
copies of that pair fused, exactly as `train_many` trains them (the cost of an iteration does not depend on the
weights or the image content), and projects the full training time of a group of K from the preset's
iteration counts: generators/hour = K x 3600 / projected seconds per group.

Then the projection for the 1000 Kvasir-SEG pairs: they have many sizes, and only pairs with the same pyramid
can be fused, so they fall into buckets (counted here from the image headers); each bucket is cut into groups
of at most K and every group is charged the measured time of the smallest measured K that holds it (an upper
bound, since a smaller group costs no more). The per-group time is that of the benchmark pair's pyramid, so
the total assumes it is representative (Kvasir images are resized to the same longest side).

    .venv/bin/python benchmarks/train_many_speed.py --device cpu --preset fast --max-size 128 --ks 1 2 4 8
    .venv/bin/python benchmarks/train_many_speed.py --device cuda --preset fast --ks 1 4 16 32 64 128

Results are printed and merged into benchmarks/results/train_many_speed.json (one entry per device, preset and
size) with the commit, version, machine info, torch version and thread count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from PIL import Image
from provenance import provenance

import singan_seg as ss
from singan_seg.data.tensors import build_reals
from singan_seg.device import machine_info, resolve_device
from singan_seg.files import write_json_atomic
from singan_seg.model.networks import CHANNELS
from singan_seg.model.pyramid import compute_pyramid
from singan_seg.rng import randn, seeded_generator
from singan_seg.training.many import FusedModels, train_scale_many
from singan_seg.training.progress import TrainProgress

ROOT = Path(__file__).resolve().parents[1]
KVASIR = ROOT.parent / "shared" / "data" / "kvasir-seg"
DEFAULT_ID = "cju0qkwl35piu0993l0dewei2"
PAPER_GPU_HOURS = 1080  # the SinGAN-Seg paper's cost for 1000 Kvasir-SEG generators


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_group(pair: ss.Pair, cfg: ss.TrainConfig, k: int, timed: int,
               device: torch.device) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds per iteration at every scale for K copies of `pair` trained together (CPU
    time is the fairer figure on a CPU that other processes share; on a GPU, wall time is what counts)."""
    shapes = list(compute_pyramid(pair.height, pair.width, cfg.max_size, cfg.min_size, cfg.scale_factor).shapes)
    fused = FusedModels(config=cfg, shapes=shapes, k=k)
    fused.rec_noise = randn((1, CHANNELS, *shapes[0]), seeded_generator(cfg.seed, 10**6), device).repeat(1, k, 1, 1)
    reals = [r.repeat(1, k, 1, 1) for r in build_reals(pair, shapes, device)]
    warm, short = (cfg.replace(iters_per_scale=n, finest_iters_fraction=1.0) for n in (1, timed))
    critic, per_iter, cpu_per_iter = None, [], []
    for n in range(len(shapes)):
        for run_cfg in (warm, short):  # the warm-up's scale is dropped again; the timed one is kept
            if run_cfg is short:
                del fused.generators[-1]
                fused.noise_amps.pop()
            fused.config = run_cfg
            _sync(device)
            started, cpu_started = time.perf_counter(), time.process_time()
            critic, _ = train_scale_many(n, fused, reals[n], device, critic,
                                         TrainProgress(shapes, run_cfg, enabled=False))
            _sync(device)
        per_iter.append((time.perf_counter() - started) / timed)
        cpu_per_iter.append((time.process_time() - cpu_started) / timed)
    return per_iter, cpu_per_iter


def kvasir_buckets(max_size: int, cfg: ss.TrainConfig) -> list[int] | None:
    """Sizes of the buckets (pairs per distinct pyramid) of Kvasir-SEG at `max_size`, from image headers."""
    if not (KVASIR / "images").is_dir():
        return None
    counts: Counter = Counter()
    for path in sorted((KVASIR / "images").iterdir()):
        with Image.open(path) as image:
            width, height = image.size
        counts[compute_pyramid(height, width, max_size, cfg.min_size, cfg.scale_factor).shapes] += 1
    return sorted(counts.values(), reverse=True)


def project(buckets: list[int], k_max: int, group_seconds: dict[int, float]) -> tuple[int, float]:
    """(groups, seconds) to train every bucket in groups of <= k_max, each charged the smallest measured K >= it."""
    measured = sorted(group_seconds)
    groups, seconds = 0, 0.0
    for size in buckets:
        full, rest = divmod(size, k_max)
        for g in [k_max] * full + ([rest] if rest else []):
            groups += 1
            seconds += group_seconds[next(k for k in measured if k >= g)]
    return groups, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--id", default=DEFAULT_ID, help="Kvasir-SEG image id (the phantom when Kvasir is absent)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--max-size", type=int, default=None)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8], help="models trained together")
    parser.add_argument("--timed", type=int, default=2, help="timed iterations per scale")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fp32", action="store_true", help="turn the preset's bf16 autocast off")
    args = parser.parse_args()
    device = resolve_device(args.device)
    cfg = ss.get_preset(args.preset, max_size=args.max_size)
    cfg = cfg.replace(bf16=False) if args.fp32 else cfg
    if (KVASIR / "images").is_dir():
        pair, source = ss.load_pair(KVASIR / "images" / f"{args.id}.jpg", KVASIR / "masks" / f"{args.id}.jpg"), args.id
    else:
        pair, source = ss.make_phantom(height=530, width=620, seed=0), "phantom 620x530"
    shapes = compute_pyramid(pair.height, pair.width, cfg.max_size, cfg.min_size, cfg.scale_factor).shapes
    iters = [cfg.iters_at(n, len(shapes)) for n in range(len(shapes))]
    print(f"{args.preset} at {cfg.max_size} px on {device} ({torch.get_num_threads()} threads): {source}, "
          f"{len(shapes)} scales, finest {shapes[-1][1]}x{shapes[-1][0]}", flush=True)

    rows = {}
    for k in sorted(set(args.ks)):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        per_iter, cpu_per_iter = time_group(pair, cfg, k, args.timed, device)
        seconds = sum(s * i for s, i in zip(per_iter, iters))
        cpu_seconds = sum(s * i for s, i in zip(cpu_per_iter, iters))
        rows[k] = {"ms_per_iter": [round(s * 1000, 2) for s in per_iter], "group_seconds": round(seconds, 2),
                   "generators_per_hour": round(k * 3600 / seconds, 2),
                   "cpu_ms_per_iter": [round(s * 1000, 2) for s in cpu_per_iter],
                   "cpu_group_seconds": round(cpu_seconds, 2),
                   "generators_per_cpu_hour": round(k * 3600 / cpu_seconds, 2)}
        if device.type == "cuda":
            rows[k]["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
        print(f"  K={k:<4d} finest {per_iter[-1] * 1000:9.1f} ms/iter  group {seconds / 60:8.2f} min  "
              f"{rows[k]['generators_per_hour']:9.1f} generators/h  (process CPU time: "
              f"{rows[k]['generators_per_cpu_hour']:.1f} generators per CPU-hour)", flush=True)

    base = rows[min(rows)]["generators_per_hour"]
    buckets = kvasir_buckets(cfg.max_size, cfg)
    print(f"\n{'K':>5} {'gen/h':>9} {f'vs K={min(rows)}':>7} {'1000 Kvasir: groups':>20} {'hours':>8} "
          f"{'CPU-hours':>10}")
    projection = {}
    for k, row in rows.items():
        row["speedup_vs_smallest_k"] = round(row["generators_per_hour"] / base, 3)
        hours = "-"
        if buckets is not None:
            groups, seconds = project(buckets, k, {kk: r["group_seconds"] for kk, r in rows.items() if kk <= k})
            _, cpu_seconds = project(buckets, k, {kk: r["cpu_group_seconds"] for kk, r in rows.items() if kk <= k})
            projection[k] = {"groups": groups, "hours": round(seconds / 3600, 2),
                             "cpu_hours": round(cpu_seconds / 3600, 2)}
            hours, groups_text = f"{seconds / 3600:8.1f} {cpu_seconds / 3600:10.1f}", f"{groups:>20d}"
        else:
            groups_text = f"{'-':>20}"
        speed = row["speedup_vs_smallest_k"]
        print(f"{k:>5d} {row['generators_per_hour']:>9.1f} {f'{speed:.2f}x':>7} {groups_text} "
              f"{hours:>8}")
    print(f"(projected from {args.timed} timed iterations per scale; the paper: ~{PAPER_GPU_HOURS} GPU-hours for 1000;"
          f" 1000 in <= 8 h needs >= 125 generators/h)")
    if buckets is not None:
        print(f"Kvasir-SEG at {cfg.max_size} px: {len(buckets)} distinct pyramids; largest buckets {buckets[:8]}, "
              f"{sum(1 for b in buckets if b == 1)} pairs alone")

    out = ROOT / "benchmarks" / "results" / "train_many_speed.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    results[f"{device.type}-{args.preset}{'-fp32' if args.fp32 else ''}-{cfg.max_size}"] = {
        "provenance": provenance(), "image": source, "preset": args.preset, "config": cfg.to_dict(),
        "shapes": [list(s) for s in shapes], "iters": iters, "timed_iterations": args.timed,
        "machine": machine_info(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "by_k": {str(k): r for k, r in rows.items()},
        "kvasir_buckets": buckets, "kvasir_projection": {str(k): p for k, p in projection.items()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json_atomic(out, results)
    print(f"saved {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
