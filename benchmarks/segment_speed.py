"""Time the quick protocol's REAL fold-0 run on Kvasir-SEG: decoding, then wall and CPU seconds per epoch.

    OMP_NUM_THREADS=1 PYTHONPATH=src taskset -c 0 python benchmarks/segment_speed.py --epochs 2 \
        [--decoder 128,64,32,16,8] [--out benchmarks/results/segment_speed.json]

CPU seconds (process time) are reported beside wall seconds because the reference machine's cores are shared:
on a busy core the wall time overstates the cost, the CPU time does not. The projection to 2 idle cores divides
by an assumed 2-thread speed-up (--speedup, default 1.7), which is an assumption, not a measurement.
Reads ../shared/data/kvasir-seg; writes only the JSON (no image derived from the data).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from singan_seg.device import machine_info
from singan_seg.files import write_json_atomic
from singan_seg.segment.data import load_arrays, real_pairs
from singan_seg.segment.train import protocol_config, train_segmenter
from provenance import provenance

KVASIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "kvasir-seg"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--decoder", default=None, help="decoder channels, e.g. 256,128,64,32,16")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--speedup", type=float, default=1.7, help="assumed speed-up of 2 threads over 1")
    parser.add_argument("--budget-min", type=float, default=20.0)
    parser.add_argument("--out", default="benchmarks/results/segment_speed.json")
    args = parser.parse_args()
    if not (KVASIR / "images").is_dir():
        raise SystemExit(f"Kvasir-SEG not found at {KVASIR}")
    load_before = os.getloadavg()
    started, cpu = time.perf_counter(), time.process_time()
    pairs, folds = real_pairs(KVASIR, KVASIR / "folds.csv")
    cfg = protocol_config("quick")
    if args.decoder:
        cfg = protocol_config("quick", decoder_channels=tuple(int(c) for c in args.decoder.split(",")))
    train = load_arrays([(i, *pairs[i]) for i in sorted(pairs) if folds[i] != args.fold], cfg.size)
    test = load_arrays([(i, *pairs[i]) for i in sorted(pairs) if folds[i] == args.fold], cfg.size)
    load = {"wall_s": round(time.perf_counter() - started, 1), "cpu_s": round(time.process_time() - cpu, 1)}
    print(f"decoded {len(train)} + {len(test)} pairs: {load}", flush=True)

    epochs = []
    clock = {"wall": time.perf_counter(), "cpu": time.process_time()}

    def on_epoch_end(epoch: int, entry: dict) -> None:
        now_wall, now_cpu = time.perf_counter(), time.process_time()
        row = {"epoch": epoch, "wall_s": round(now_wall - clock["wall"], 1), "cpu_s": round(now_cpu - clock["cpu"], 1),
               "train_loss": round(entry["train_loss"], 4), "val_iou": round(entry["iou"], 4),
               "val_dice_loss": round(entry["dice_loss"], 4), "load_avg_1min": os.getloadavg()[0]}
        clock.update(wall=now_wall, cpu=now_cpu)
        epochs.append(row)
        print(row, flush=True)

    import dataclasses

    cfg = dataclasses.replace(cfg, epochs=args.epochs)  # the schedule is irrelevant to the timing
    result = train_segmenter(train, test, cfg, device="cpu", progress=False, on_epoch_end=on_epoch_end)
    cpu_per_epoch = min(e["cpu_s"] for e in epochs)
    projected = cpu_per_epoch / args.speedup
    fit = int(args.budget_min * 60 // projected)
    write_json_atomic(args.out, {
        "provenance": provenance(),
        "what": "quick protocol, REAL, one fold, Kvasir-SEG at 128 px; time per epoch (train + validation)",
        "fold": args.fold, "train_pairs": len(train), "test_pairs": len(test), "config": cfg.to_dict(),
        "weights": result.weights_note, "threads": torch.get_num_threads(), "decode": load, "epochs": epochs,
        "machine": machine_info(torch.device("cpu")), "load_avg_before": load_before,
        "load_note": "core 0 of 2, shared with other engineers' jobs; core 1 busy with a long run",
        "projection": {"cpu_s_per_epoch_1_thread": cpu_per_epoch, "assumed_2_thread_speedup": args.speedup,
                       "s_per_epoch_2_cores": round(projected, 1),
                       f"epochs_in_{args.budget_min:g}_min": fit}})
    print(f"{cpu_per_epoch:.0f} CPU s/epoch on 1 thread -> ~{projected:.0f} s on 2 cores (assumed x{args.speedup}) "
          f"-> {fit} epochs in {args.budget_min:g} min", flush=True)


if __name__ == "__main__":
    main()
