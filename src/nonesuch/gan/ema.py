"""The exponential moving average of G's weights, used for every snapshot and every output:
averaging over recent steps smooths out the oscillation of adversarial training."""

from __future__ import annotations

import torch
from torch import nn


def ema_beta(batch: int, images_seen: int, half_life_kimg: float, rampup: float | None) -> float:
    """Per-step decay so that a weight's influence halves every `half_life_kimg` thousand images.
    With `rampup`, the half-life is capped at rampup * images_seen, so early (terrible) weights
    are forgotten quickly (StyleGAN2-ADA's ramp-up)."""
    half_life = half_life_kimg * 1000
    if rampup is not None:
        half_life = min(half_life, images_seen * rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * model, for every parameter, in a few fused kernels."""
    ema_params = list(ema.parameters())
    torch._foreach_lerp_(ema_params, list(model.parameters()), 1.0 - beta)
