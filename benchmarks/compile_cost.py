"""Does torch.compile pay for a SinGAN-Seg scale? Eager vs compiled training steps, side by side, in one run.

One scale of `fast` trains a fresh generator and critic for a few hundred iterations (1300 at the coarsest
scale, 150 at the finest), so a compile has few iterations to pay for itself. This times, at the coarsest, a
middle and the finest scale of a 250-px pyramid, a generator update (fake + reconstruction, bf16 autocast,
channels-last, as `fast`) plus a critic update without the penalty (the penalty's double backward cannot be
compiled), three ways: eager; `torch.compile` per scale (static shapes: one compile per scale); and one
`torch.compile(dynamic=True)` shared by all scales. It prints the compile time, ms per iteration, and the
iterations a scale would need to earn its compile back, against the preset's own.

    .venv/bin/python benchmarks/compile_cost.py            # fast, 2 threads
    .venv/bin/python benchmarks/compile_cost.py --threads 1

Writes benchmarks/results/compile_cost.json with the commit, version and machine info. The inductor cache is
pointed at a fresh folder so that every compile is timed cold, as a user's first run would be.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from provenance import provenance
from steps import critic_update, generator_update, time_it

import singan_seg as ss
from singan_seg.device import machine_info
from singan_seg.files import write_json_atomic
from singan_seg.model.networks import CHANNELS, critic_for, generator_for
from singan_seg.training.steps import autocast as amp_context

ROOT = Path(__file__).resolve().parents[1]


def time_steps(g_step, c_step, cfg, scale: int, tensors, autocast, repeats: int) -> tuple[float, float]:
    """One generator and one critic update on fresh networks of `scale` (as every scale starts):
    (seconds of the first iteration, which compiles; ms per iteration after one more warm-up)."""
    gen, critic = generator_for(cfg, scale), critic_for(cfg, scale)
    noise, prev, real = tensors

    def one() -> None:
        g_step(gen, critic, noise, prev, real, cfg.rec_weight, autocast).backward()
        c_step(critic, real, prev, autocast).backward()

    started = time.perf_counter()
    one()
    first = time.perf_counter() - started
    return first, time_it(one, repeats) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--size", type=int, nargs=2, default=[213, 250], metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "compile_cost.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="singan-seg-inductor-")
    cfg = ss.config_from_spec(args.preset)
    device = torch.device("cpu")
    autocast = lambda: amp_context(device, cfg.bf16)  # noqa: E731
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    shapes = ss.compute_pyramid(*args.size, cfg.max_size, cfg.min_size, cfg.scale_factor).shapes
    shared = (torch.compile(generator_update, dynamic=True), torch.compile(critic_update, dynamic=True))
    torch.manual_seed(0)

    rows = []
    print(f"{'scale':<14} {'iters':>5} {'variant':<16} {'compile s':>9} {'ms/iter':>8} {'break-even iters':>17}")
    for n in [0, len(shapes) // 2, len(shapes) - 1]:
        tensors = [torch.randn(1, CHANNELS, *shapes[n]).contiguous(memory_format=layout) for _ in range(3)]
        iters = cfg.iters_at(n, len(shapes))
        repeats = max(5, min(30, int(3000 / (shapes[n][0] * shapes[n][1]) ** 0.5)))
        label = f"{n} {shapes[n][0]}x{shapes[n][1]}"
        row = {"scale": n, "shape": list(shapes[n]), "iters": iters}

        _, eager_ms = time_steps(generator_update, critic_update, cfg, n, tensors, autocast, repeats)
        print(f"{label:<14} {iters:>5} {'eager':<16} {0.0:>9.1f} {eager_ms:>8.1f} {'-':>17}", flush=True)
        rows.append(row | {"variant": "eager", "compile_seconds": 0.0, "ms_per_iter": round(eager_ms, 1),
                           "break_even_iters": None})
        compiled = {"compiled": (torch.compile(generator_update), torch.compile(critic_update)),
                    "shared dynamic": shared}
        for name, (g_step, c_step) in compiled.items():
            first, ms = time_steps(g_step, c_step, cfg, n, tensors, autocast, repeats)
            compile_s = max(0.0, first - ms / 1000)
            saving = (eager_ms - ms) / 1000
            break_even = compile_s / saving if saving > 0 else None
            even = "never" if break_even is None else f"{break_even:.0f}"
            print(f"{label:<14} {iters:>5} {name:<16} {compile_s:>9.1f} {ms:>8.1f} {even:>17}", flush=True)
            rows.append(row | {"variant": name, "compile_seconds": round(compile_s, 1), "ms_per_iter": round(ms, 1),
                               "break_even_iters": None if break_even is None else round(break_even)})
    print("(break-even: iterations after which the compile has paid for itself; 'never': no faster than eager)")
    write_json_atomic(args.out, {"provenance": provenance(), "preset": args.preset, "config": cfg.to_dict(),
                                 "size": args.size, "machine": machine_info(device), "rows": rows})
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
