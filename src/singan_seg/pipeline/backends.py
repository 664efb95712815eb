"""Where jobs run: in this process, in K local worker processes, or as Ray tasks on a cluster.

Every backend takes the same arguments and calls `on_result(result)` once per finished job, so the build
logic (progress, manifest, failures) is the same whichever runs the jobs.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from typing import Any

from ..errors import InputError
from .job import PairJob, run_job
from .settings import DatasetSettings

OnResult = Callable[[dict[str, Any]], None]


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Torch threads per worker so that workers x threads <= cores (a thread team sharing a core with another
    waits for its time slices). `cores` defaults to torch's thread count in this process, which every command
    sets to the cores other processes leave free (threads.py) or to the user's choice."""
    if cores is None:
        import torch

        cores = torch.get_num_threads()
    return max(1, cores // max(1, workers))


def run_local(jobs: Sequence[PairJob], settings: DatasetSettings, on_result: OnResult, workers: int = 1,
              device: str = "cpu", threads: int | None = None) -> None:
    """Run jobs here (workers=1) or in `workers` spawned processes with `threads` torch threads each
    (default: cores // workers). Bit-identical results across runs need the same thread count.

    Ctrl-C or SIGTERM stops every worker at once (their generators resume from their last checkpoint): a pool
    that waited for the jobs in hand would go on training for minutes after the user asked it to stop."""
    if workers < 1:
        raise InputError(f"workers should be at least 1, got {workers}")
    threads = threads or threads_per_worker(workers)
    if workers == 1:
        for job in jobs:
            on_result(run_job(job, settings, device, threads))
        return
    run = functools.partial(run_job, settings=settings, device=device, threads=threads)
    # workers ignore Ctrl-C (the terminal sends it to them too) and are terminated by the pool on the way out
    with _sigterm_interrupts(), get_context("spawn").Pool(workers, initializer=_ignore_sigint) as pool:
        for result in pool.imap_unordered(run, jobs):
            on_result(result)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (`kill PID`) raises KeyboardInterrupt in the main thread, as Ctrl-C does, so that the same clean
    stop runs; elsewhere (a worker thread) signals cannot be handled and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_ray(jobs: Sequence[PairJob], settings: DatasetSettings, on_result: OnResult, address: str | None = None,
            cpus_per_job: int = 2, gpus_per_job: float = 0.0, device: str = "cpu") -> None:
    """One Ray task per pair, each asking for `cpus_per_job` CPUs (and using as many torch threads)."""
    # OUT must be a path every node sees (a shared file system).
    try:
        import ray
    except ImportError:
        raise InputError("the ray backend needs Ray: pip install 'singan-seg[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=cpus_per_job, num_gpus=gpus_per_job)(run_job)
        pending = [task.remote(job, settings, device, cpus_per_job) for job in jobs]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            on_result(ray.get(finished[0]))
    finally:
        if started_here:
            ray.shutdown()
