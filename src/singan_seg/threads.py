"""How many threads torch may use: the cores that other processes leave free.

Why: torch runs each convolution on an OpenMP team of N threads, and every team waits at the end of each
parallel region for its slowest member. Beside another CPU-bound process, a 2-thread team on 2 cores runs at
the pace of the scheduler's time slices: the README's demo took 50 minutes instead of 3 next to one busy
process. So every command (`apply_thread_policy`) gives torch the cores this process may use minus those other
processes keep busy, measured over a short window at start-up (`free_cores`); with one core free, one thread
runs at full speed on it.

OpenMP's wait policy is left alone: OMP_WAIT_POLICY=PASSIVE (idle threads sleep at once) made a quiet 2-thread
run 1.4x slower and does not help a 1-thread team (benchmarks/busy_machine.py).

The user decides with SINGAN_SEG_THREADS=N (a fixed count), OMP_NUM_THREADS (torch's own), or
SINGAN_SEG_THREAD_POLICY=off (torch's defaults). The count is chosen once, at start: a job that starts later
is not seen. Results are reproducible for a given thread count (float sums are split differently across
threads), and the count used is recorded with every model.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("singan_seg")

POLICY_ENV = "SINGAN_SEG_THREAD_POLICY"  # "off": leave OpenMP and torch's threads alone
THREADS_ENV = "SINGAN_SEG_THREADS"  # a fixed thread count
SAMPLE_SECONDS = 0.1  # how long the other processes' CPU use is measured at start-up


def policy_enabled() -> bool:
    return os.environ.get(POLICY_ENV, "auto").strip().lower() not in ("off", "0", "no", "false")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity; all cores where the OS does not tell)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_times(cpus: set[int]) -> dict[int, tuple[int, int]]:
    """{cpu: (busy jiffies, total jiffies)} from /proc/stat for the given CPUs."""
    times = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            cpu = int(name[3:])
            if cpu in cpus:
                values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
                total = sum(values)
                times[cpu] = (total - values[3] - values[4], total)
    return times


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float:
    """How many of this process's cores other processes keep busy, measured over `seconds` (0 where the OS
    does not say). This process sleeps meanwhile, so what is measured is everyone else."""
    try:
        cpus = os.sched_getaffinity(0)
        before = _cpu_times(cpus)
        time.sleep(seconds)
        after = _cpu_times(cpus)
    except (AttributeError, OSError, ValueError):
        return 0.0
    busy = 0.0
    for cpu, (busy_after, total_after) in after.items():
        busy_before, total_before = before.get(cpu, (busy_after, total_after))
        if total_after > total_before:
            busy += (busy_after - busy_before) / (total_after - total_before)
    return busy


def free_cores(seconds: float = SAMPLE_SECONDS) -> int:
    """Usable cores minus the busy ones, rounded to the nearest whole core, at least 1."""
    return max(1, round(usable_cores() - busy_cores(seconds)))


def chosen_threads() -> tuple[int | None, str]:
    """The thread count the policy picks and why; None where torch's own choice stands."""
    fixed = os.environ.get(THREADS_ENV, "").strip()
    if fixed.isdigit() and int(fixed) >= 1:
        return int(fixed), f"{THREADS_ENV}={fixed}"
    if fixed:
        log.warning("ignoring %s=%r: it should be a positive whole number", THREADS_ENV, fixed)
    if not policy_enabled():
        return None, f"{POLICY_ENV}=off"
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return None, "OMP_NUM_THREADS is set"
    usable, free = usable_cores(), free_cores()
    return free, f"{free} of {usable} cores free"


def apply_thread_policy() -> int:
    """Set torch's thread count by the policy above; return the count torch now uses."""
    import torch

    threads, why = chosen_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    log.debug("torch threads: %d (%s)", torch.get_num_threads(), why)
    return torch.get_num_threads()
