"""Where jobs run: in this process, in K local worker processes, or as Ray tasks on a cluster.

Every backend takes the same arguments and calls `on_result(result)` once per finished job, so the build
logic (progress, manifest, failures) is the same whichever runs the jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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
    (default: cores // workers). Bit-identical results across runs need the same thread count."""
    if workers < 1:
        raise InputError(f"workers should be at least 1, got {workers}")
    threads = threads or threads_per_worker(workers)
    if workers == 1:
        for job in jobs:
            on_result(run_job(job, settings, device, threads))
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_job, job, settings, device, threads) for job in jobs]
        try:
            for future in as_completed(futures):
                on_result(future.result())
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise


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
