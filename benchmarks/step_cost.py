"""What one training iteration is made of: the cost of each part, side by side, at one scale.

An iteration of `train.train_scale` is one generator pass (the fake, its graph kept), `d_steps` critic updates
(each with or without the gradient penalty) and `g_steps` generator updates, the first of which reuses the
fake's graph (since 0.6.1; before, every update made the fake again). This times each part on random
tensors with the networks of a preset, then prints the cost of a whole iteration for several
(d_steps, g_steps, gp_every) choices, so the levers can be compared in one run:

    .venv/bin/python benchmarks/step_cost.py                        # fast's networks, 250x213, bf16
    .venv/bin/python benchmarks/step_cost.py --preset paper --size 128 --width 64
    .venv/bin/python benchmarks/step_cost.py --preset fast:critic_norm=same,channels_last=false   # fast 0.3

Findings (torch 2.14, CPU): the penalty's double backward runs the norm layers' backward-of-backward as many
small composite ops, so with a normalised critic it costs ~3 critic updates (hence `gp_every`, lazy
regularisation); a critic without norm layers (`critic_norm="none"`, fast since 0.4) makes it ~5x cheaper.
Writes benchmarks/results/step_cost.json with the commit, version and machine info.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from provenance import provenance
from steps import critic_update, generator_update, time_it

import singan_seg as ss
from singan_seg.device import machine_info
from singan_seg.files import write_json_atomic
from singan_seg.model.networks import CHANNELS, ScaleDiscriminator, ScaleGenerator
from singan_seg.training.steps import autocast as amp_context
from singan_seg.training.steps import gradient_penalty

ROOT = Path(__file__).resolve().parents[1]
CHOICES = [(3, 3, 1), (2, 2, 1), (2, 2, 4), (1, 1, 1), (1, 1, 2), (1, 1, 4)]  # (d_steps, g_steps, gp_every)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast",
                        help="a preset, or PRESET:KEY=VALUE,... (e.g. fast:critic_norm=same)")
    parser.add_argument("--size", type=int, nargs=2, default=[213, 250], metavar=("H", "W"))
    parser.add_argument("--width", type=int, default=None, help="filters (default: the preset's finest)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "step_cost.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ss.config_from_spec(args.preset)
    width = args.width or cfg.max_channels
    device = torch.device("cpu")
    gen = ScaleGenerator(width, cfg.num_layers, cfg.kernel_size, cfg.norm, channels_last=cfg.channels_last)
    critic = ScaleDiscriminator(width, cfg.num_layers, cfg.kernel_size, cfg.critic_norm_layer,
                                channels_last=cfg.channels_last)
    shape = (1, CHANNELS, *args.size)
    real, prev, noise = torch.rand(shape) * 2 - 1, torch.rand(shape) * 2 - 1, torch.randn(shape) * 0.1
    rng = torch.Generator().manual_seed(0)
    autocast = lambda: amp_context(device, cfg.bf16)  # noqa: E731
    with torch.no_grad(), autocast():
        fake = gen(noise, prev).float()

    def fake_pass():
        with autocast():
            gen(noise, prev)

    def penalty():
        with autocast():
            loss = gradient_penalty(critic, real, fake, cfg.gp_weight, rng)
        loss.backward()

    parts = {name: time_it(fn, args.repeats) for name, fn in
             [("fake pass", fake_pass),
              ("critic update", lambda: critic_update(critic, real, fake, autocast).backward()),
              ("penalty", penalty),
              # with a fresh fake: the 2nd and later updates of an iteration
              ("generator update",
               lambda: generator_update(gen, critic, noise, prev, real, cfg.rec_weight, autocast).backward())]}
    parts["first update"] = parts["generator update"] - parts["fake pass"]  # the fake pass made its fake
    print(f"{args.preset} networks, width {width}, {args.size[0]}x{args.size[1]}, bf16 {cfg.bf16}, "
          f"{torch.get_num_threads()} threads")
    for name, seconds in parts.items():
        print(f"  {name:<18}{seconds * 1000:8.0f} ms")
    iterations = {}
    base = None
    print(f"  {'d, g, gp_every':<18}{'ms/iter':>8}{'vs 3,3,1':>10}")
    for d, g, every in CHOICES:
        ms = 1000 * (parts["fake pass"] + d * parts["critic update"] + d / every * parts["penalty"]
                     + parts["first update"] + (g - 1) * parts["generator update"])
        base = base or ms
        iterations[f"{d},{g},{every}"] = ms
        print(f"  {f'{d}, {g}, {every}':<18}{ms:8.0f}{base / ms:9.2f}x")
    write_json_atomic(args.out, {"provenance": provenance(), "preset": args.preset, "width": width, "size": args.size,
                                 "bf16": cfg.bf16, "machine": machine_info(device), "threads": torch.get_num_threads(),
                                 "parts_ms": {k: v * 1000 for k, v in parts.items()},
                                 "iteration_ms": iterations})
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
