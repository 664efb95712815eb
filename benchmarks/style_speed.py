"""Style transfer speed and effect, side by side: gatys 1:1, gatys 1:1000 and fast, on Kvasir samples.

Trains a small SinGAN-Seg model on one Kvasir-SEG pair (the `tiny` preset's narrow networks at the paper's
250-px size, 100 iterations per scale; 12.5 min on 2 shared CPU cores), samples a few images, styles them with
the real image by each method, and prints time per image and two distances to the real image, before and after:
  gram:   the Gatys style loss on the backbone's style layers (what gatys minimises);
  colour: mean |difference| of per-channel RGB mean and std, 0..255 units.
With `--steps` below 1000 the gatys time is also projected to 1000 steps (time is linear in steps).
Results (with the commit, version and machine info) go to benchmarks/results/style_speed.json.

    PYTHONPATH=src python benchmarks/style_speed.py --steps 50
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import singan_seg as ss
from singan_seg.device import machine_info, resolve_device
from singan_seg.style import Stylist, load_backbone
from singan_seg.style.metrics import colour_distance, gram_distance
from provenance import provenance

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "kvasir-seg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="Kvasir-SEG folder (images/, masks/)")
    parser.add_argument("--stem", default=None, help="which pair (default: the first image)")
    parser.add_argument("--max-size", type=int, default=250, help="training size (paper: 250)")
    parser.add_argument("--iters", type=int, default=100, help="training iterations per scale")
    parser.add_argument("--num", type=int, default=4, help="samples to style")
    parser.add_argument("--steps", type=int, default=1000, help="gatys L-BFGS evaluations (paper: 1000)")
    parser.add_argument("--backbone", default="auto", help="gatys backbone (and the one measuring gram distance)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "style_speed.json")
    args = parser.parse_args()

    images = sorted((args.data / "images").glob("*.jpg"))
    if not images:
        raise SystemExit(f"no Kvasir-SEG images under {args.data}/images")
    image_path = args.data / "images" / f"{args.stem}.jpg" if args.stem else images[0]
    pair = ss.load_pair(image_path, args.data / "masks" / image_path.name)
    device = resolve_device(args.device)
    config = ss.get_preset("tiny", max_size=args.max_size, iters_per_scale=args.iters, seed=0)

    started = time.perf_counter()
    model = ss.train(pair, config=config, progress=False, device=device)
    train_s = time.perf_counter() - started
    samples = ss.sample(model, num=args.num, seed=0, device=str(device))
    real = pair.image
    backbone = load_backbone(args.backbone, device=device)
    print(f"trained on {image_path.name} ({real.shape[1]}x{real.shape[0]} px) in {train_s:.0f} s; "
          f"{args.num} samples of {samples.images.shape[2]}x{samples.images.shape[1]} px; backbone {backbone.name}",
          flush=True)

    def distances(batch: np.ndarray) -> dict[str, float]:
        return {"gram": float(np.mean([gram_distance(backbone, im, real) for im in batch])),
                "colour": float(np.mean([colour_distance(im, real) for im in batch]))}

    before = distances(samples.images)
    runs = [("gatys", "1:1", args.steps), ("gatys", "1:1000", args.steps), ("fast", "1:1000", None)]
    results = []
    for method, ratio, steps in runs:
        stylist = Stylist(real, method=method, ratio=ratio, steps=steps, backbone=backbone, device=str(device))
        stylist(samples.images[0][:32, :32])  # warm-up (first-call allocations), not timed
        started = time.perf_counter()
        styled = np.stack([stylist(im) for im in samples.images])
        per_image = (time.perf_counter() - started) / args.num
        row = {"method": method, "ratio": ratio if method == "gatys" else "-", "steps": stylist.settings.steps,
               "s_per_image": per_image, "before": before, "after": distances(styled)}
        if method == "gatys":
            row["s_per_image_at_1000_steps"] = per_image * 1000 / stylist.settings.steps
        results.append(row)

    print(f"\n{'method':<8}{'ratio':<8}{'steps':>6}{'s/image':>10}{'@1000 steps':>13}"
          f"{'gram before':>13}{'gram after':>12}{'colour before':>15}{'colour after':>14}")
    for r in results:
        projected = f"{r['s_per_image_at_1000_steps']:.1f}" if "s_per_image_at_1000_steps" in r else "-"
        print(f"{r['method']:<8}{r['ratio']:<8}{r['steps']:>6}{r['s_per_image']:>10.2f}{projected:>13}"
              f"{r['before']['gram']:>13.4f}{r['after']['gram']:>12.4f}"
              f"{r['before']['colour']:>15.2f}{r['after']['colour']:>14.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"provenance": provenance(), "image": image_path.name,
              "train_config": {"preset": "tiny", "max_size": args.max_size, "iters_per_scale": args.iters},
              "train_seconds": train_s, "sample_size": list(samples.images.shape[1:3]), "num": args.num,
              "backbone": backbone.name, "backbone_weights_sha256": backbone.weights_sha256, "results": results,
              "machine": machine_info(device), "torch_threads": torch.get_num_threads()}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
