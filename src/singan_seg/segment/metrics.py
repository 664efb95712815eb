"""Segmentation metrics on the polyp class: Dice loss, IoU, F-score, accuracy, recall, precision.

Predictions are thresholded at probability 0.5 and counted per image (smp.metrics.get_stats). Two averages:

    per-image (the headline)  each image's score, then the mean over images (smp reduction "micro-imagewise")
    pooled                    every pixel of the set counted together (smp reduction "micro")

The paper does not say which it used, and its segmentation code is not in its repository (singan-seg-polyp).
It names smp and the EndoCV 2021 winners' set-up; smp.utils' ValidEpoch averages the metric over validation
batches, which is per image with the batch of one that smp's examples use (an assumption, not verified). So
per-image is the headline, and zero_division=1 matches smp.utils' epsilon, which scores an empty prediction of
an empty mask as perfect. "Dice loss" is the soft Dice loss of the sigmoid probabilities (no threshold;
epsilon 1, as smp.utils.losses.DiceLoss), also averaged per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import segmentation_models_pytorch as smp
import torch

SCORES = {"iou": smp.metrics.iou_score, "f_score": smp.metrics.f1_score, "accuracy": smp.metrics.accuracy,
          "recall": smp.metrics.recall, "precision": smp.metrics.precision}
THRESHOLD = 0.5


def soft_dice_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Per-image soft Dice loss, (B, 1, H, W) probabilities and 0/1 targets -> (B,)."""
    dims = (1, 2, 3)
    overlap = (probs * target).sum(dims)
    return 1 - (2 * overlap + eps) / (probs.sum(dims) + target.sum(dims) + eps)


@dataclass
class MetricTotals:
    """Per-image confusion counts and Dice losses, accumulated batch by batch over a validation set."""
    counts: list[torch.Tensor] = field(default_factory=list)  # each (B, 4): tp, fp, fn, tn
    dice: list[torch.Tensor] = field(default_factory=list)  # each (B,)

    def add(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Count one batch: logits (B, 1, H, W), target (B, 1, H, W) in {0, 1}."""
        probs = logits.detach().float().sigmoid()
        tp, fp, fn, tn = smp.metrics.get_stats(probs, target.long(), mode="binary", threshold=THRESHOLD)
        self.counts.append(torch.cat([tp, fp, fn, tn], dim=1).cpu())
        self.dice.append(soft_dice_loss(probs, target.float()).cpu())

    def result(self) -> dict[str, float]:
        """{metric: per-image mean} plus {"pooled_<metric>": pooled value} and the image count."""
        return summarise(torch.cat(self.counts), torch.cat(self.dice))


def summarise(counts: torch.Tensor, dice: torch.Tensor) -> dict[str, float]:
    """Metrics from per-image counts (N, 4: tp, fp, fn, tn) and per-image Dice losses (N,)."""
    tp, fp, fn, tn = (counts[:, i:i + 1] for i in range(4))
    out = {"dice_loss": float(dice.mean())}
    for name, score in SCORES.items():
        out[name] = float(score(tp, fp, fn, tn, reduction="micro-imagewise", zero_division=1.0))
    for name, score in SCORES.items():
        out[f"pooled_{name}"] = float(score(tp, fp, fn, tn, reduction="micro", zero_division=1.0))
    out["images"] = int(counts.shape[0])
    return out


def evaluate_masks(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """All metrics of one set of predictions at once (tests, small sets)."""
    totals = MetricTotals()
    totals.add(logits, target)
    return totals.result()
