"""One job = one real pair: train (resuming a partial checkpoint) → generate N → style → done-marker.

With method "patchnn" there is nothing to train: the job writes the training-free engine's samples directly.

Each job writes only inside OUT/pairs/<id>/. The done-marker (DONE.json) is written last and atomically, so a
job is either complete and skipped on the next run, or redone from its last checkpoint.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.samples_dir import read_manifest
from ..files import sha256_file, write_json_atomic
from .settings import DatasetSettings

DONE_FILE = "DONE.json"


@dataclass(frozen=True)
class PairJob:
    id: str
    image: str
    mask: str
    fold: int | None
    out_dir: str  # OUT/pairs/<id>
    prior: str | None = None  # the domain prior its generator is warm-started from (pipeline/priors.py)


def is_done(job: PairJob) -> bool:
    marker = Path(job.out_dir) / DONE_FILE
    if not marker.is_file():
        return False
    try:
        done = json.loads(marker.read_text())
        return sha256_file(Path(job.out_dir) / "samples" / "manifest.csv") == done["manifest_sha256"]
    except (OSError, ValueError, KeyError):
        return False


def _style(settings: DatasetSettings, raw: Path, image: str, out: Path, device: str) -> None:
    from ..style import style_samples_dir

    if settings.style == "fast":
        style_samples_dir(raw, image, out, method="fast", device=device, seed=settings.seed, overwrite=True,
                          progress=False)
    else:
        style_samples_dir(raw, image, out, method="gatys", ratio=settings.style, steps=settings.style_steps,
                          device=device, seed=settings.seed, overwrite=True, progress=False)


def run_job(job: PairJob, settings: DatasetSettings, device: str = "cpu", threads: int | None = None) -> dict[str, Any]:
    """Run one pair's job (skipping it when done); return {id, status, seconds[, error]}. Never raises."""
    import torch

    from ..data.tensors import as_pair
    from ..sampling import sample, write_samples
    from ..training import train

    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    out = Path(job.out_dir)
    if is_done(job):
        return {"id": job.id, "status": "skipped", "seconds": 0.0}
    try:
        target = out / "samples"
        raw = out / "samples_raw" if settings.style != "none" else target
        if settings.method == "patchnn":
            from ..engines.patchnn import METHOD, generate_patchnn

            samples = generate_patchnn(as_pair(job.image, job.mask, **settings.pair_options()),
                                       num=settings.per_image, seed=settings.seed, config=settings.patchnn_config(),
                                       device=device)
            write_samples(samples, raw, model_name=METHOD, source_id=job.id, overwrite=True, method=METHOD)
        else:
            model = train(job.image, job.mask, out_dir=out / "model", config=settings.train_config(), device=device,
                          resume=True, progress=False, prior=job.prior, **settings.pair_options())
            samples = sample(model, num=settings.per_image, start_scale=settings.start_scale, seed=settings.seed,
                             variation=settings.variation)
            write_samples(samples, raw, model_name=f"pairs/{job.id}/model", source_id=job.id, overwrite=True)
        if settings.style != "none":
            _style(settings, raw, job.image, target, device)
        read_manifest(target, verify=True)  # the samples we are about to mark done really are complete
        seconds = time.perf_counter() - started
        write_json_atomic(out / DONE_FILE, {"id": job.id, "fold": job.fold, "seconds": round(seconds, 2),
                                            "manifest_sha256": sha256_file(target / "manifest.csv")})
        return {"id": job.id, "status": "done", "seconds": seconds}
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a failing pair is recorded and does not stop the others
        return {"id": job.id, "status": "failed", "seconds": time.perf_counter() - started,
                "error": f"{exc.__class__.__name__}: {exc}", "traceback": traceback.format_exc(limit=5)}
