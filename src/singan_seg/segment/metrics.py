"""Segmentation metrics on the polyp class (or each class of a multi-class mask): Dice loss, IoU, F-score,
accuracy, recall, precision.

Predictions are thresholded at probability 0.5 and counted per image (smp.metrics.get_stats). Two averages:

    per-image (the headline)  each image's score, then the mean over images (smp reduction "micro-imagewise")
    pooled                    every pixel of the set counted together (smp reduction "micro")

The paper does not say which it used, and its segmentation code is not in its repository (singan-seg-polyp).
It names smp and the EndoCV 2021 winners' set-up; smp.utils' ValidEpoch averages the metric over validation
batches, which is per image with the batch of one that smp's examples use (an assumption, not verified). So
per-image is the headline, and zero_division=1 matches smp.utils' epsilon, which scores an empty prediction of
an empty mask as perfect. "Dice loss" is the soft Dice loss of the sigmoid probabilities (no threshold;
epsilon 1, as smp.utils.losses.DiceLoss), also averaged per image.

Multi-class masks (K classes, class 0 the background): the prediction is the argmax of the softmax, counted per
image and class (get_stats mode "multiclass"). Each metric is computed per image and class (one class against
the rest, zero_division=1 as above: a class absent from both the mask and the prediction scores 1), averaged over
images per class, and the headline is the mean over the non-background classes (pooled: per class over every
pixel, then the mean). "accuracy" is per class too, so every headline is a mean of per-class values; the Dice
loss is the soft Dice of each class's softmax probability. Per-class values go under "per_class".
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


def soft_dice_loss_per_class(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Per-image, per-class soft Dice loss: (B, K, H, W) softmax probabilities and (B, H, W) class indices ->
    (B, K - 1), the background left out (the binary loss above, one class against the rest)."""
    onehot = torch.nn.functional.one_hot(target.long(), probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    overlap = (probs * onehot).sum((2, 3))
    loss = 1 - (2 * overlap + eps) / (probs.sum((2, 3)) + onehot.sum((2, 3)) + eps)
    return loss[:, 1:]


@dataclass
class MetricTotals:
    """Per-image confusion counts and Dice losses, accumulated batch by batch over a validation set.

    `class_names` (all K, background first) for a multi-class mask; None for the binary one."""
    class_names: list[str] | None = None
    counts: list[torch.Tensor] = field(default_factory=list)  # each (B, 4) binary or (B, 4, K): tp, fp, fn, tn
    dice: list[torch.Tensor] = field(default_factory=list)  # each (B,) binary or (B, K - 1)

    def add(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Count one batch: logits (B, 1, H, W), target (B, 1, H, W) in {0, 1}; or (B, K, H, W) logits and
        (B, 1, H, W) class indices."""
        if self.class_names is not None:
            probs = logits.detach().float().softmax(1)
            labels = target.long()[:, 0]
            stats = smp.metrics.get_stats(probs.argmax(1), labels, mode="multiclass",
                                          num_classes=len(self.class_names))
            self.counts.append(torch.stack(stats, dim=1).cpu())
            self.dice.append(soft_dice_loss_per_class(probs, labels).cpu())
            return
        probs = logits.detach().float().sigmoid()
        tp, fp, fn, tn = smp.metrics.get_stats(probs, target.long(), mode="binary", threshold=THRESHOLD)
        self.counts.append(torch.cat([tp, fp, fn, tn], dim=1).cpu())
        self.dice.append(soft_dice_loss(probs, target.float()).cpu())

    def result(self) -> dict:
        """{metric: per-image mean} plus {"pooled_<metric>": pooled value} and the image count (multi-class: the
        means over the non-background classes, and "per_class": {class name: its metrics})."""
        if self.class_names is not None:
            return summarise_classes(torch.cat(self.counts), torch.cat(self.dice), self.class_names)
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


def summarise_classes(counts: torch.Tensor, dice: torch.Tensor, class_names: list[str]) -> dict:
    """Metrics from per-image, per-class counts (N, 4, K) and Dice losses (N, K - 1): per non-background class
    and their mean (see the module docstring)."""
    tp, fp, fn, tn = counts.unbind(1)  # each (N, K)
    per_class: dict[str, dict[str, float]] = {name: {"dice_loss": float(dice[:, k].mean())}
                                              for k, name in enumerate(class_names[1:])}
    pooled = [c.sum(0, keepdim=True) for c in (tp, fp, fn, tn)]  # (1, K): every pixel of the set together
    for name, score in SCORES.items():
        per_image = score(tp, fp, fn, tn, reduction="none", zero_division=1.0).mean(0)  # (K,)
        over_set = score(*pooled, reduction="none", zero_division=1.0)[0]
        for k, class_name in enumerate(class_names[1:], start=1):
            per_class[class_name][name] = float(per_image[k])
            per_class[class_name][f"pooled_{name}"] = float(over_set[k])
    metrics = ["dice_loss", *SCORES, *(f"pooled_{name}" for name in SCORES)]
    out: dict = {m: sum(c[m] for c in per_class.values()) / len(per_class) for m in metrics}
    out["images"] = int(counts.shape[0])
    out["per_class"] = per_class
    return out


def evaluate_masks(logits: torch.Tensor, target: torch.Tensor, class_names: list[str] | None = None) -> dict:
    """All metrics of one set of predictions at once (tests, small sets); `class_names` as in MetricTotals."""
    totals = MetricTotals(class_names=class_names)
    totals.add(logits, target)
    return totals.result()
