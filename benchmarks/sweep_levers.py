"""Where does a recipe lose quality? Train variants on ONE Kvasir pair and print, per variant:

- training seconds;
- the reconstruction loss (MSE) each scale ended with: a scale that cannot bring it down has not learnt the
  real image's detail at its resolution, whatever the adversarial loss says;
- SIFID of the model's reconstruction of the real image (fixed noise) and the mean SIFID of --num samples;
- diversity (SinGAN's: per-pixel std over samples / real std).

Variants are named like compare_presets.py's: `NAME=PRESET:KEY=VALUE,...`. A quick screen (one pair, one seed:
SIFID of one pair moves by ~25 % between seeds), to pick what `compare_presets.py` then checks on 5 pairs:

    PYTHONPATH=src python benchmarks/sweep_levers.py --max-size 128 --threads 1 \\
        fast=fast r100=fast:rec_weight=100 lr2=fast:rec_weight=100,lr_g=0.002,lr_d=0.002

Writes benchmarks/results/sweep_levers.json (commit and version, settings, machine, torch and threads, figures);
nothing derived from Kvasir besides numbers.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from compare_presets import KVASIR, REPO, first_ids, ready, real_at

import singan_seg as ss
from singan_seg.device import machine_info
from singan_seg.evaluate import diversity, get_extractor, sifid_pair
from singan_seg.files import write_json_atomic
from provenance import portable, provenance


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", metavar="NAME=PRESET:KEY=VALUE,...")
    parser.add_argument("--data", type=Path, default=KVASIR)
    parser.add_argument("--pair", type=int, default=1, help="which id of folds.csv (sorted), from 1")
    parser.add_argument("--max-size", type=int, default=128)
    parser.add_argument("--num", type=int, default=10, help="samples scored per variant")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sweep_levers.json")
    return parser.parse_args()


def to_uint8(batch: torch.Tensor) -> np.ndarray:
    """(N, 4, H, W) in [-1, 1] -> (N, H, W, 3) uint8 RGB."""
    return ((batch[:, :3].permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


class ScaleLog(logging.Handler):
    """Collects the reconstruction loss that train() logs at the end of every scale."""

    def __init__(self):
        super().__init__()
        self.rec: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "(rec " in message:
            self.rec.append(float(message.split("(rec ")[1].split(",")[0]))


def run_variant(pair: ss.Pair, config: ss.TrainConfig, num: int, extractor) -> dict:
    logger, scale_log = logging.getLogger("singan_seg"), ScaleLog()
    logger.addHandler(scale_log)
    logger.setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        model = ss.train(pair, config=config, device="cpu", progress=False)
    finally:
        logger.removeHandler(scale_log)
    seconds = time.perf_counter() - started
    reconstruction = to_uint8(model.reconstruct())[0]
    real, _ = real_at(pair, reconstruction.shape[:2])
    samples = to_uint8(model.generate(num=num, seed=0))
    return {"train_seconds": round(seconds, 1), "rec_per_scale": scale_log.rec,
            "rec_sifid": sifid_pair(real, reconstruction, extractor),
            "sifid": float(np.mean([sifid_pair(real, s, extractor) for s in samples])),
            "diversity": diversity(samples, real), "config": config.to_dict()}


def main(args: argparse.Namespace) -> int:
    if not ready(args):
        return 1
    ident = first_ids(args.data, args.pair)[-1]
    pair = ss.load_pair(args.data / "images" / f"{ident}.jpg", args.data / "masks" / f"{ident}.jpg")
    extractor = get_extractor(None, "cpu")
    results = {}
    for text in args.variants:
        name, _, spec = text.partition("=")
        row = results[name] = run_variant(pair, ss.config_from_spec(spec, max_size=args.max_size), args.num,
                                          extractor)
        print(f"{name:12s} {row['train_seconds']:6.1f} s  rec SIFID {row['rec_sifid']:6.1f}  SIFID "
              f"{row['sifid']:6.1f}  diversity {row['diversity']:.3f}  rec per scale "
              f"{' '.join(f'{r:.4f}' for r in row['rec_per_scale'])}", flush=True)
    write_json_atomic(args.out, {"provenance": provenance(),
                                 "settings": {k: str(v) for k, v in portable(vars(args)).items()}, "id": ident,
                                 "machine": machine_info(torch.device("cpu")), "torch": torch.__version__,
                                 "threads": torch.get_num_threads(), "variants": results})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
