"""A busy machine must not stall the tool: each command's time quiet and beside one CPU-bound process.

Runs each job (the README's `singan-seg demo`, and `singan-seg train --preset fast` on the phantom) under each
thread policy, first on a quiet machine and then beside a spinning process (one busy core, as another user's job
on a 2-core machine), and prints the times and the busy/quiet ratio side by side:
- policy `off`: torch's own defaults (a thread per core, OpenMP's default waiting), as before 0.12;
- policy `auto`: singan-seg's (threads.py): the cores other processes leave free when the command starts.

    python benchmarks/busy_machine.py --jobs train --iters 130 --out benchmarks/results/busy_machine.json

Runs are sequential and nothing else should run meanwhile; `--timeout` ends a stalled run (reported as such).
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

from PIL import Image

from provenance import portable, provenance

import torch

import singan_seg as ss
from singan_seg.device import machine_info

SPIN = [sys.executable, "-c", "while True: pass"]


def job_command(job: str, work: Path, iters: int | None) -> list[str]:
    cli = [sys.executable, "-m", "singan_seg.cli"]
    if job == "demo":
        return cli + ["demo", "--out", str(work / "demo")]
    image, mask = work / "image.png", work / "mask.png"
    if not image.exists():
        pair = ss.make_phantom(height=210, width=250, seed=0)
        Image.fromarray(pair.image).save(image)
        Image.fromarray(pair.mask.astype("uint8") * 255).save(mask)
    command = cli + ["train", "--image", str(image), "--mask", str(mask), "--out", str(work / "model"),
                     "--preset", "fast", "--overwrite", "--no-verbose"]
    return command + (["--iters", str(iters)] if iters else [])


def timed(command: list[str], env: dict[str, str], timeout: float) -> float | None:
    started = time.perf_counter()
    try:
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", default="demo,train", help="comma-separated: demo, train")
    parser.add_argument("--policies", default="off,auto", help="comma-separated: off, auto")
    parser.add_argument("--iters", type=int, default=None, help="train: iterations at the coarsest scale "
                        "(default: fast's 1300; fewer keeps the off policy's busy run short)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a run counts as stalled")
    parser.add_argument("--out", type=Path, default=None, help="JSON to write")
    args = parser.parse_args()

    base_env = {k: v for k, v in os.environ.items()
                if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "SINGAN_SEG_THREADS", "SINGAN_SEG_THREAD_POLICY")}
    rows = []

    def save() -> None:  # after every row, so a stalled or interrupted run keeps what it measured
        if args.out:
            result = {"benchmark": "busy_machine", "settings": portable(vars(args)), "rows": rows,
                      "machine": machine_info(torch.device("cpu")), "provenance": provenance()}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for job in args.jobs.split(","):
            command = job_command(job, work, args.iters)
            for policy in args.policies.split(","):
                env = base_env | {"SINGAN_SEG_THREAD_POLICY": policy}
                quiet = timed(command, env, args.timeout)
                spinner = subprocess.Popen(SPIN)
                try:
                    time.sleep(0.5)
                    busy = timed(command, env, args.timeout)
                finally:
                    spinner.kill()
                    spinner.wait()
                ratio = busy / quiet if busy and quiet else None
                rows.append({"job": job, "policy": policy, "quiet_s": quiet, "busy_s": busy, "ratio": ratio})
                shown = [f"{v:.1f}" if v else f"> {args.timeout:.0f} (stalled)" for v in (quiet, busy)]
                print(f"{job:6s} policy {policy:4s}: quiet {shown[0]} s, beside a busy process {shown[1]} s"
                      + (f", {ratio:.2f}x" if ratio else ""), flush=True)
                save()


if __name__ == "__main__":
    main()
