"""GAN losses. Each function returns the scalar to call backward() on.

Default, the paper's: WGAN-GP (Gulrajani et al. 2017) with ProGAN's epsilon drift term, which
keeps D's scores from drifting far from zero. Option: the non-saturating logistic loss with an
R1 penalty on reals (Mescheder et al. 2018), applied lazily every `interval` steps with its
weight multiplied by `interval` (StyleGAN2's trick: same expected penalty, a fraction of the cost).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gradient_norm_squared(scores: torch.Tensor, inputs: torch.Tensor, loss_scale: float = 1.0) -> torch.Tensor:
    """|d scores / d inputs|^2 per sample, keeping the graph so the penalty can be trained.
    loss_scale: under fp16, differentiate scaled scores so small gradients do not underflow,
    then divide the scale back out (PyTorch's AMP recipe for gradient penalties)."""
    (grad,) = torch.autograd.grad(scores.float().sum() * loss_scale, inputs, create_graph=True)
    return (grad.float() / loss_scale).square().flatten(1).sum(dim=1)  # [N]


def wgan_discriminator(real_scores: torch.Tensor, fake_scores: torch.Tensor,
                       drift: float = 1e-3) -> torch.Tensor:
    return fake_scores.mean() - real_scores.mean() + drift * real_scores.square().mean()


def wgan_gradient_penalty(discriminator, reals: torch.Tensor, fakes: torch.Tensor, labels, alpha: float,
                          mix: torch.Tensor, weight: float = 10.0, target: float = 1.0,
                          loss_scale: float = 1.0, augment=None) -> torch.Tensor:
    """weight * (|grad D(T(x_hat))| - target)^2 / target^2 on random blends x_hat of reals and
    fakes, the gradient taken with respect to x_hat. mix: [N, 1, 1, 1] uniform in [0, 1], drawn
    by the caller from the run's seeded generator. augment: T, what D sees (identity if None)."""
    blended = torch.lerp(reals, fakes, mix).requires_grad_(True)
    scores = discriminator(augment(blended) if augment else blended, labels, alpha)
    norm = _gradient_norm_squared(scores, blended, loss_scale).add(1e-12).sqrt()
    return weight * ((norm - target) / target).square().mean()


def wgan_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def logistic_discriminator(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean()


def r1_penalty(discriminator, reals: torch.Tensor, labels, alpha: float, gamma: float,
               interval: int, loss_scale: float = 1.0, augment=None) -> torch.Tensor:
    """R1 on reals seen through T, the gradient w.r.t. the un-augmented reals (ns_DiffAugment_r1)."""
    reals = reals.detach().requires_grad_(True)
    scores = discriminator(augment(reals) if augment else reals, labels, alpha)
    return (gamma / 2) * interval * _gradient_norm_squared(scores, reals, loss_scale).mean()


def lecam_regulariser(real_scores: torch.Tensor, fake_scores: torch.Tensor,
                      anchor_real: float, anchor_fake: float) -> torch.Tensor:
    """LeCam (Tseng et al. 2021, "Regularizing GANs under limited data"): pull D's scores on reals
    towards the moving average of its scores on fakes and vice versa, as their reference code
    does (one-sided: only scores past the other side's anchor are pulled back). It bounds how far
    D can separate the 171 training images from everything else, i.e. how far it can overfit."""
    return (F.relu(real_scores - anchor_fake).square().mean()
            + F.relu(anchor_real - fake_scores).square().mean())


def logistic_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_scores).mean()
