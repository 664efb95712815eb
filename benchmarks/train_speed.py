"""Training speed per scale: `paper` vs `fast` (and any other preset) side by side, in one run.

For each preset, trains a few timed iterations at every scale of one Kvasir-SEG pair (after one warm-up
iteration per scale; `singan_seg.training.estimate` separates a scale's set-up from its iterations), reports ms per
iteration at each scale, projects the full training time per image from the preset's own iteration counts,
and prints the speed ratio against `paper`. The projection is labelled as such; `--full fast` also runs the
named presets for real and reports the measured time.

    .venv/bin/python benchmarks/train_speed.py                       # paper vs fast, 2 timed iterations/scale
    .venv/bin/python benchmarks/train_speed.py --presets paper fast --full fast

Results are printed and saved to benchmarks/results/train_speed.json with the commit, version and machine info.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from provenance import provenance

import singan_seg as ss
from singan_seg.device import machine_info, resolve_device
from singan_seg.files import write_json_atomic
from singan_seg.training import measure_training_cost

ROOT = Path(__file__).resolve().parents[1]
KVASIR = ROOT.parent / "shared" / "data" / "kvasir-seg"
DEFAULT_ID = "cju0qkwl35piu0993l0dewei2"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--id", default=DEFAULT_ID, help="Kvasir-SEG image id")
    parser.add_argument("--presets", nargs="*", default=["paper", "fast"])
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=PRESET:KEY=VALUE,...",
                        help="also time a preset with settings changed, e.g. lazy=fast:gp_every=4")
    parser.add_argument("--timed", type=int, default=2, help="timed iterations per scale")
    parser.add_argument("--max-size", type=int, default=None)
    parser.add_argument("--full", nargs="*", default=[], help="presets to also train in full, for a measured time")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_speed.json")
    args = parser.parse_args()
    if not (KVASIR / "images").is_dir():
        print(f"Kvasir-SEG not found at {KVASIR}; nothing to measure", file=sys.stderr)
        return 1
    device = resolve_device(args.device)
    pair = ss.load_pair(KVASIR / "images" / f"{args.id}.jpg", KVASIR / "masks" / f"{args.id}.jpg")
    results = {"provenance": provenance(), "image": args.id, "machine": machine_info(device), "timed": args.timed,
               "presets": {}}
    configs = {name: ss.get_preset(name, max_size=args.max_size) for name in args.presets}
    for text in args.variant:
        name, _, spec = text.partition("=")
        configs[name] = ss.config_from_spec(spec, max_size=args.max_size)
    for name, cfg in configs.items():
        print(f"{name}: timing {args.timed} iterations per scale", flush=True)
        cost = measure_training_cost(pair, cfg, args.timed, device, on_scale=lambda n, shape, s: print(
            f"  scale {n} {shape[1]}x{shape[0]}: {s * 1000:8.0f} ms/iter", flush=True))
        results["presets"][name] = {"ms_per_iter": [round(s * 1000, 1) for s in cost.seconds_per_iter],
                                    "setup_ms": [round(s * 1000, 1) for s in cost.setup_seconds or []],
                                    "iters": cost.iters, "projected_seconds": round(cost.seconds, 1),
                                    "config": cfg.to_dict()}
    for name in args.full:
        cfg = configs.get(name) or ss.get_preset(name, max_size=args.max_size)
        started = time.perf_counter()
        ss.train(pair, config=cfg, device=device, progress=False)
        results["presets"].setdefault(name, {})["measured_seconds"] = round(time.perf_counter() - started, 1)

    paper = results["presets"].get("paper", {}).get("projected_seconds")
    print(f"\n{'preset':<12} {'finest ms/it':>12} {'projected/image':>16} {'measured':>10} {'vs paper':>9}")
    for name, r in results["presets"].items():
        projected = r.get("projected_seconds")
        measured = r.get("measured_seconds")
        ratio = f"{paper / projected:8.1f}x" if paper and projected else "-"
        measured_text = f"{measured / 60:>7.1f} min" if measured else f"{'-':>11}"
        print(f"{name:<12} {r.get('ms_per_iter', [0])[-1]:>12.0f} {(projected or 0) / 60:>13.1f} min "
              f"{measured_text} {ratio:>9}")
    print("(projected = measured ms/iter x the preset's iterations per scale + each scale's set-up, summed)")
    write_json_atomic(args.out, results)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
