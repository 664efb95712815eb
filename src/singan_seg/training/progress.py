"""Progress display for training: scale, iteration, losses and time left (rich).

Time left is estimated from work, not iterations: an iteration at scale n costs roughly H_n x W_n x width_n^2,
so the fine scales, which dominate the run, are weighted accordingly.
"""

from __future__ import annotations

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..config import TrainConfig


class TrainProgress:
    def __init__(self, shapes: list[tuple[int, int]], cfg: TrainConfig, start_scale: int = 0,
                 start_iteration: int = 0, enabled: bool = True, iterations: list[int] | None = None):
        """Count the work from iteration `start_iteration` of scale `start_scale` (where a resumed run starts);
        `iterations` per scale where they are not the config's (a warm start)."""
        self.cfg = cfg
        self.num_scales = len(shapes)
        self.costs = [h * w * cfg.channels_at(n) ** 2 for n, (h, w) in enumerate(shapes)]
        iters = iterations or [cfg.iters_at(n, self.num_scales) for n in range(self.num_scales)]
        self.total = sum(c * iters[n] for n, c in enumerate(self.costs) if n >= start_scale)
        if start_scale < self.num_scales:
            self.total -= self.costs[start_scale] * start_iteration
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[losses]}"),
                TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("training", total=self.total, losses="")
        return self

    def advance(self, scale: int, iteration: int, iterations: int, **losses: torch.Tensor) -> None:
        """Count one iteration; losses are read (a device sync) only when the display shows them."""
        if self._progress is None:
            return
        fields = {}
        if iteration % 10 == 0 or iteration == iterations:
            fields["losses"] = "  ".join(f"{k} {float(v):.3f}" for k, v in losses.items())
        self._progress.update(
            self._task, advance=self.costs[scale],
            description=f"scale {scale + 1}/{self.num_scales} it {iteration}/{iterations}", **fields)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
