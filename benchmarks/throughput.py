"""Cost per generator when every core trains: presets side by side, one process per core, 1 thread each.

A dataset build on a small machine runs one worker per core (`build-dataset --workers 2 --threads 1`), so what a
generator costs there is its 1-thread training time with the other cores busy, divided by the number of workers.
`train_speed.py` times one preset at a time with all threads; this runs one `train_speed.py` per preset at once,
each pinned to its own core with one torch thread, so every preset is timed under the same load, in one run.
A process that finishes first is replaced on its core by a repeat of itself (its figures discarded) until the
others finish, so no preset gets a core to itself for part of its run.

    .venv/bin/python benchmarks/throughput.py                        # paper vs fast, fast also trained in full
    .venv/bin/python benchmarks/throughput.py --presets paper fast quality --full fast

Prints per preset the 1-thread time per image (projected; measured with --full), the time per image with one
worker per core, and the ratio against `paper` (projected against projected, and measured against projected).
Writes benchmarks/results/throughput.json with the commit, version, machine info and each process's
`train_speed.py` result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from singan_seg.device import machine_info
from singan_seg.files import write_json_atomic
from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]


def launch(preset: str, core: int, args: argparse.Namespace, out: Path) -> subprocess.Popen:
    """`train_speed.py` for one preset on one core with one torch thread."""
    command = [sys.executable, str(ROOT / "benchmarks" / "train_speed.py"), "--presets", preset,
               "--timed", str(args.timed), "--id", args.id, "--out", str(out)]
    if preset in args.full:
        command += ["--full", preset]
    if args.max_size:
        command += ["--max-size", str(args.max_size)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            preexec_fn=lambda: os.sched_setaffinity(0, {core}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["paper", "fast"])
    parser.add_argument("--full", nargs="*", default=["fast"], help="presets also trained in full (measured)")
    parser.add_argument("--timed", type=int, default=4, help="timed iterations per scale (train_speed.py)")
    parser.add_argument("--id", default="cju0qkwl35piu0993l0dewei2", help="Kvasir-SEG image id")
    parser.add_argument("--max-size", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "throughput.json")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(args.presets) > len(cores):
        raise SystemExit(f"{len(args.presets)} presets need as many cores; this process may use {len(cores)}")

    work = Path(tempfile.mkdtemp(prefix="throughput-"))
    outputs = {name: work / f"{name}.json" for name in args.presets}
    running = {name: launch(name, core, args, outputs[name]) for name, core in zip(args.presets, cores)}
    ballast: dict[str, subprocess.Popen] = {}
    started = time.time()
    while running:
        time.sleep(2)
        for name, process in list(running.items()):
            if process.poll() is None:
                continue
            if process.returncode:
                raise SystemExit(f"train_speed.py for {name} failed (exit {process.returncode})")
            del running[name]
            print(f"{name}: done after {time.time() - started:.0f} s", flush=True)
            if running:  # keep its core as busy as in a dataset build until the others finish
                core = cores[args.presets.index(name)]
                ballast[name] = launch(name, core, args, work / f"{name}.ballast.json")
    for process in ballast.values():
        process.kill()
        process.wait()

    results = {"provenance": provenance(), "machine": machine_info(torch.device("cpu")) | {"threads": 1},
               "workers": len(args.presets), "timed": args.timed,
               "presets": {name: json.loads(path.read_text()) for name, path in outputs.items()}}
    per_image = {name: r["presets"][name] for name, r in results["presets"].items()}
    paper = per_image.get("paper", {}).get("projected_seconds")
    workers = len(args.presets)
    print(f"\n1 torch thread per process, {workers} processes side by side ({workers} cores busy):")
    print(f"{'preset':<10} {'projected/image':>16} {'measured':>10} {'per image, 1 worker/core':>26} {'vs paper':>18}")
    for name, r in per_image.items():
        projected, measured = r["projected_seconds"], r.get("measured_seconds")
        best = measured or projected
        ratio = "-"
        if paper:
            ratio = f"{paper / projected:.0f}x proj" + (f", {paper / measured:.0f}x meas" if measured else "")
        measured_text = f"{measured / 60:>6.1f} min" if measured else f"{'-':>10}"
        print(f"{name:<10} {projected / 60:>12.1f} min {measured_text} {best / workers / 60:>22.1f} min {ratio:>18}")
    print("(projected = measured ms/iter x the preset's iterations per scale + set-up; ratios against paper's "
          "projection)")
    write_json_atomic(args.out, results)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
