"""Gatys et al. (2016) neural style transfer, as the paper used it (PyTorch neural-style tutorial recipe).

The image being optimised starts from the content image; the loss is
    content_weight * MSE(F_content) + style_weight * sum over style layers MSE(Gram(F)),
with Gram(F) = F F^T / (C H W), minimised with L-BFGS; the loss sees the image clamped to [0, 1].
One deviation from the tutorial: L-BFGS uses a strong-Wolfe line search. Without it, at content:style 1:1000
the fixed unit step overshoots and the loss oscillates (measured on random and EfficientNet features).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from .backbones import Backbone


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrices normalised by C*H*W."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def gatys_loss_fn(backbone: Backbone, content: torch.Tensor, style: torch.Tensor, content_weight: float,
                  style_weight: float) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The Gatys loss against fixed targets: image -> (total, style loss, content loss).

    Args:
        backbone: the feature extractor.
        content: (1, 3, H, W) in [0, 1]; its features at `backbone.content_layer` are the content target.
        style: (1, 3, H, W) in [0, 1]; its Gram matrices at `backbone.style_layers` are the style targets.
        content_weight, style_weight: the content:style ratio.
    """
    with torch.no_grad():
        content_target = backbone(content)[backbone.content_layer]
        style_features = backbone(style)
        style_grams = {name: gram(style_features[name]) for name in backbone.style_layers}

    def loss_fn(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = backbone(image)
        s_loss = sum(F.mse_loss(gram(features[name]), style_grams[name]) for name in backbone.style_layers)
        c_loss = F.mse_loss(features[backbone.content_layer], content_target)
        return content_weight * c_loss + style_weight * s_loss, s_loss, c_loss

    return loss_fn


@dataclass
class GatysResult:
    """The stylised image (1, 3, H, W) in [0, 1] and the loss after every evaluation."""

    image: torch.Tensor
    style_losses: list[float] = field(default_factory=list)
    content_losses: list[float] = field(default_factory=list)


def gatys_transfer(backbone: Backbone, content: torch.Tensor, style: torch.Tensor, content_weight: float = 1.0,
                   style_weight: float = 1000.0, steps: int = 1000,
                   on_step: Callable[[], None] | None = None) -> GatysResult:
    """Optimise a copy of `content` towards the style of `style`.

    Args:
        backbone: a frozen feature extractor on the same device as the images.
        content: (1, 3, H, W) in [0, 1], the synthetic image.
        style: (1, 3, H, W) in [0, 1], the real image already resized to the content size.
        content_weight, style_weight: the paper's content:style ratio (1:1 or 1:1000).
        steps: loss evaluations of L-BFGS (the paper's "epochs"; 1000), as counted in the PyTorch tutorial.
        on_step: called after every loss evaluation (for progress).
    """
    loss_fn = gatys_loss_fn(backbone, content, style, content_weight, style_weight)
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image], max_iter=steps, max_eval=steps, tolerance_grad=0.0, tolerance_change=0.0,
                                  history_size=50, line_search_fn="strong_wolfe")
    result = GatysResult(image=image)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss, s_loss, c_loss = loss_fn(image.clamp(0, 1))
        loss.backward()
        result.style_losses.append(s_loss.item())
        result.content_losses.append(c_loss.item())
        if on_step is not None:
            on_step()
        return loss

    optimizer.step(closure)
    result.image = image.detach().clamp(0, 1)
    return result
