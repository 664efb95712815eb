"""Training speed per scale: `paper` vs `fast` (and any other preset) side by side, in one run.

For each preset, trains a few timed iterations at every scale of one Kvasir-SEG pair (after one warm-up
iteration per scale), reports ms per iteration at each scale, projects the full training time per image from
the preset's own iteration counts, and prints the speed ratio against `paper`. The projection is labelled as
such; `--full fast` also runs the named presets for real and reports the measured time.

    .venv/bin/python benchmarks/train_speed.py                       # paper vs fast, 2 timed iterations/scale
    .venv/bin/python benchmarks/train_speed.py --presets paper fast --full fast

Results are printed and saved to benchmarks/results/train_speed.json with machine info.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import singan_seg as ss
from singan_seg.device import machine_info, resolve_device
from singan_seg.files import write_json_atomic
from singan_seg.model.singan import SinGANSeg
from singan_seg.progress import TrainProgress
from singan_seg.train import build_reals, train_scale

ROOT = Path(__file__).resolve().parents[1]
KVASIR = ROOT.parent / "shared" / "data" / "kvasir-seg"
DEFAULT_ID = "cju0qkwl35piu0993l0dewei2"


def time_per_scale(pair: ss.Pair, cfg: ss.TrainConfig, timed: int, device: torch.device) -> list[float]:
    """Seconds per iteration at each scale: 1 warm-up + `timed` iterations, on the real pyramid."""
    pyramid = ss.compute_pyramid(pair.height, pair.width, cfg.max_size, cfg.min_size, cfg.scale_factor)
    short = cfg.replace(iters_per_scale=1 + timed, finest_iters_fraction=1.0)
    model = SinGANSeg(config=short, shapes=list(pyramid.shapes))
    model.rec_noise = torch.randn(1, 4, *pyramid.shapes[0], device=device)
    reals = build_reals(pair, model.shapes, device)
    per_iter, critic = [], None
    for n in range(model.num_scales):
        warm = short.replace(iters_per_scale=1)
        model.config = warm
        started = time.perf_counter()
        critic, _ = train_scale(n, model, reals, warm, device, critic, TrainProgress(model.shapes, warm, enabled=False))
        model.generators = model.generators[:-1]  # drop the warm-up scale, time the real one
        model.noise_amps.pop()
        warm_seconds = time.perf_counter() - started
        model.config = short
        started = time.perf_counter()
        critic, _ = train_scale(n, model, reals, short, device, critic,
                                TrainProgress(model.shapes, short, enabled=False))
        per_iter.append((time.perf_counter() - started) / short.iters_per_scale)
        print(f"  scale {n} {model.shapes[n][1]}x{model.shapes[n][0]}: {per_iter[-1] * 1000:8.0f} ms/iter "
              f"(warm-up {warm_seconds:.1f} s)", flush=True)
    return per_iter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--id", default=DEFAULT_ID, help="Kvasir-SEG image id")
    parser.add_argument("--presets", nargs="+", default=["paper", "fast"])
    parser.add_argument("--timed", type=int, default=2, help="timed iterations per scale")
    parser.add_argument("--max-size", type=int, default=None)
    parser.add_argument("--full", nargs="*", default=[], help="presets to also train in full, for a measured time")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if not (KVASIR / "images").is_dir():
        print(f"Kvasir-SEG not found at {KVASIR}; nothing to measure", file=sys.stderr)
        return 1
    device = resolve_device(args.device)
    pair = ss.load_pair(KVASIR / "images" / f"{args.id}.jpg", KVASIR / "masks" / f"{args.id}.jpg")
    results = {"image": args.id, "machine": machine_info(device), "presets": {}}
    for name in args.presets:
        cfg = ss.get_preset(name, max_size=args.max_size)
        print(f"{name}: timing {args.timed} iterations per scale", flush=True)
        per_iter = time_per_scale(pair, cfg, args.timed, device)
        iters = [cfg.iters_at(n, len(per_iter)) for n in range(len(per_iter))]
        projected = sum(s * i for s, i in zip(per_iter, iters))
        results["presets"][name] = {"ms_per_iter": [round(s * 1000, 1) for s in per_iter], "iters": iters,
                                    "projected_seconds": round(projected, 1), "config": cfg.to_dict()}
    for name in args.full:
        cfg = ss.get_preset(name, max_size=args.max_size)
        started = time.perf_counter()
        ss.train(pair, config=cfg, device=device, progress=False)
        results["presets"].setdefault(name, {})["measured_seconds"] = round(time.perf_counter() - started, 1)

    paper = results["presets"].get("paper", {}).get("projected_seconds")
    print(f"\n{'preset':<8} {'finest ms/it':>12} {'projected/image':>16} {'measured':>10} {'vs paper':>9}")
    for name, r in results["presets"].items():
        projected = r.get("projected_seconds")
        measured = r.get("measured_seconds")
        ratio = f"{paper / projected:8.1f}x" if paper and projected else "-"
        print(f"{name:<8} {r.get('ms_per_iter', [0])[-1]:>12.0f} "
              f"{(projected or 0) / 60:>13.1f} min {(measured or 0) / 60:>7.1f} min {ratio:>9}")
    print("(projected = measured ms/iter x the preset's iterations per scale, summed over scales)")
    out = ROOT / "benchmarks" / "results" / "train_speed.json"
    write_json_atomic(out, results)
    print(f"saved {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
