"""Reproduce the paper's Table 1 trend (SIFID: no style transfer vs 1:1 vs 1:1000) and mask statistics on Kvasir-SEG.

Trains one small SinGAN-Seg model per real pair (the first --pairs ids of fold 0), samples --num pairs from each,
computes SIFID of every sample against its real source resized to the training size (the model's finest scale),
optionally after style transfer (if `singan_seg.style` is importable), and the mask statistics of the synthetic
masks vs the real masks of the same pairs. Prints a table next to the paper's figures and writes
benchmarks/results/eval_kvasir.json with the commit, version, settings and machine info. Nothing derived from
Kvasir is kept besides numbers (the samples go to a temporary directory).

    PYTHONPATH=src python benchmarks/eval_kvasir.py --pairs 3 --max-size 96 --iters 100
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import singan_seg as ss
from singan_seg.device import machine_info
from singan_seg.evaluate import ImageSet, load_image_set, mask_statistics, sifid
from singan_seg.files import write_json_atomic
from provenance import portable, provenance

REPO = Path(__file__).resolve().parents[1]
KVASIR = REPO.parent / "shared" / "data" / "kvasir-seg"
PAPER = {"No ST": (0.3497, 0.0025), "ST 1:1": (0.2216, 0.0001), "ST 1:1000": (0.2204, 0.0001)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=KVASIR)
    parser.add_argument("--pairs", type=int, default=3, help="real pairs (one model each)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--max-size", type=int, default=96, help="finest scale, longest side (paper: 250)")
    parser.add_argument("--iters", type=int, default=100, help="iterations per scale (paper: 2000)")
    parser.add_argument("--num", type=int, default=5, help="samples per model (paper: 10)")
    parser.add_argument("--style-steps", type=int, default=50, help="style-transfer steps (paper: 1000)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "eval_kvasir.json")
    return parser.parse_args()


def fold0_ids(data: Path, n: int) -> list[str]:
    with open(data / "folds.csv", newline="") as handle:
        return [row["id"] for row in csv.DictReader(handle) if row["fold"] == "0"][:n]


def style_methods(steps: int):
    """{label: callable(images, style) -> images}, empty where singan_seg.style is not on this branch."""
    try:
        from singan_seg.style import transfer_style
    except ImportError:
        print("style not available (singan_seg.style not importable): only the no-style row is measured")
        return {}
    return {f"ST {ratio}": (lambda images, style, ratio=ratio: transfer_style(
        images, style, method="gatys", ratio=ratio, steps=steps, device="cpu")) for ratio in ("1:1", "1:1000")}


def main(args: argparse.Namespace) -> None:
    start = time.time()
    torch.manual_seed(0)
    ids = fold0_ids(args.data, args.pairs)
    config = ss.get_preset(args.preset, max_size=args.max_size, iters_per_scale=args.iters)
    methods = {"No ST": None, **style_methods(args.style_steps)}
    values: dict[str, list[float]] = {label: [] for label in methods}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for k, pid in enumerate(ids):
            t0 = time.time()
            pair = ss.load_pair(args.data / "images" / f"{pid}.jpg", args.data / "masks" / f"{pid}.jpg")
            model = ss.train(pair, config=config, progress=False, device="cpu")
            samples = ss.sample(model, num=args.num, seed=k)
            h, w = samples.images.shape[1:3]
            real_dir = work / "real" / "images"  # the real source at the training size
            real_dir.mkdir(parents=True, exist_ok=True)
            real = np.asarray(Image.fromarray(pair.image).resize((w, h), Image.LANCZOS))
            Image.fromarray(real).save(real_dir / f"{pid}.png")
            for label, style in methods.items():
                images = samples.images if style is None else np.stack(style(samples.images, real))
                out = work / label.replace(" ", "_").replace(":", "-") / pid
                ss.write_samples(ss.Samples(images, samples.masks, samples.soft_masks, samples.seed, 0), out,
                                 source_id=pid)
                values[label] += list(sifid(out, real_dir / f"{pid}.png", progress=False).values.values())
            print(f"pair {k + 1}/{len(ids)} {pid}: {w}x{h} px, {time.time() - t0:.0f} s")
        synthetic = [load_image_set(work / "No_ST" / pid) for pid in ids]
        masks = mask_statistics(ImageSet(work, sum((s.stems for s in synthetic), []),
                                         sum((s.image_paths for s in synthetic), []),
                                         sum((s.mask_paths for s in synthetic), [])),
                                ImageSet(args.data, ids, [args.data / "images" / f"{i}.jpg" for i in ids],
                                         [args.data / "masks" / f"{i}.jpg" for i in ids]))
    table = {label: {"mean": float(np.mean(v)), "sd": float(np.std(v)), "n": len(v)} for label, v in values.items()}
    print(f"\nSIFID (192 ch, TF FID Inception weights), {len(ids)} pairs x {args.num} samples")
    print(f"{'':12s}{'ours mean ± sd':>22s}{'paper mean ± sd':>22s}")
    for label, (paper_mean, paper_sd) in PAPER.items():
        ours = f"{table[label]['mean']:.4f} ± {table[label]['sd']:.4f}" if label in table else "not run"
        print(f"{label:12s}{ours:>22s}{f'{paper_mean:.4f} ± {paper_sd:.4f}':>22s}")
    m = masks.to_dict()
    for name in ("real", "synthetic"):
        print(f"masks {name:9s}: true px {m[name]['mean_pct']:5.1f} ± {m[name]['sd_pct']:4.1f} %  "
              f"5 % bins {m[name]['histogram']}")
    print(f"mask-size Wasserstein {m['wasserstein_pct']:.2f} pct points; total time {time.time() - start:.0f} s")
    write_json_atomic(args.out, {"provenance": provenance(),
                                 "settings": portable({**vars(args), "ids": ids, "config": config.to_dict()}),
                                 "sifid": table, "paper_sifid": PAPER, "masks": m, "seconds": time.time() - start,
                                 "machine": machine_info(torch.device("cpu"))})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main(parse_args())
