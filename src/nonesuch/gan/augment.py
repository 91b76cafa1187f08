"""Differentiable augmentation of everything D sees (Zhao et al. 2020, "DiffAugment").

A GAN on a few hundred images overfits its discriminator: D memorises the reals, its gradients
stop telling G anything, and G drifts into blotches. The cure that works without new data is to
show D only augmented images, reals and fakes alike, and to backpropagate G's loss through the
augmentation, so G is never asked to make augmented-looking images (D(T(x)) everywhere instead
of D(x), research/next-wave.md A1: 100-shot FID 42-65 % lower).

Ops, with DiffAugment's ranges, on images in [-1, 1]:
- color: brightness +U(-0.5, 0.5), saturation x U(0, 2) around the pixel's channel mean,
  contrast x U(0.5, 1.5) around the image mean;
- translation: an integer shift of up to 1/8 of the side each way, the gap filled with 0;
- cutout: one square of half the side set to 0.

`strength` p in [0, 1] is the chance that each op is applied to each group (ADA's way of making
augmentation a dial): 0 is the identity, 1 is DiffAugment as published. Every draw comes from
the caller's torch.Generator, seeded by (seed, step, rank), so a resumed run redraws the same
augmentations.

One draw per group of `group` consecutive images, not per image: D's minibatch-stddev layer
compares images within such groups to see a lack of variety. Per-image draws (DiffAugment's
way) fill that statistic with augmentation noise, reals and fakes alike, so D stops seeing
collapse: our first 64 px run with per-image draws collapsed to one face by 16 px (every grid
cell the same), while the same recipe without augmentation stayed diverse. A shared draw per
group changes every image of the group alike, and the spread within it is the images' own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """"color,translation,cutout" -> the ops; "" or "off" -> none. Unknown names are an error."""
    ops = tuple(op.strip() for op in policy.split(",") if op.strip() and op.strip() != "off")
    unknown = [op for op in ops if op not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}; choose from {', '.join(POLICIES)} (comma-separated) or off")
    return ops


def augment(images: torch.Tensor, ops: tuple[str, ...], strength: float, random: torch.Generator,
            group: int = 4) -> torch.Tensor:
    """images: [N, C, H, W] in [-1, 1] -> the same shape; each run of `group` consecutive images
    shares one random draw (D's minibatch-stddev groups; group=1 is DiffAugment's per image)."""
    if not ops or strength <= 0:
        return images
    draws = _Draws(len(images), group, random, images.device)
    for op in POLICIES:  # a fixed order, whatever order the policy names them in
        if op in ops:
            images = _OPS[op](images, strength, draws)
    return images


class _Draws:
    """Random numbers drawn once per group and repeated for each image of it."""

    def __init__(self, count: int, group: int, random: torch.Generator, device):
        self.count, self.group, self.random, self.device = count, max(1, group), random, device
        self.groups = -(-count // self.group)

    def _per_image(self, values: torch.Tensor) -> torch.Tensor:
        return values.repeat_interleave(self.group, dim=0)[:self.count].to(self.device)

    def uniform(self) -> torch.Tensor:
        """[N] in [0, 1)."""
        return self._per_image(torch.rand(self.groups, generator=self.random))

    def integers(self, low: int, high: int) -> torch.Tensor:
        """[N] int64 in [low, high)."""
        return self._per_image(torch.randint(low, high, (self.groups,), generator=self.random))

    def applied(self, strength: float) -> torch.Tensor:
        """[N] float mask: 1 where this op is applied."""
        return (self.uniform() < strength).float()


def _color(x: torch.Tensor, strength: float, draws: _Draws) -> torch.Tensor:
    n = len(x)
    on = draws.applied(strength).view(n, 1, 1, 1)
    brightness = (draws.uniform().view(n, 1, 1, 1) - 0.5) * on
    x = x + brightness.to(x.dtype)
    saturation = 1 + (draws.uniform().view(n, 1, 1, 1) * 2 - 1) * on   # U(0, 2) where applied
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * saturation.to(x.dtype) + mean
    contrast = 1 + (draws.uniform().view(n, 1, 1, 1) - 0.5) * on         # U(0.5, 1.5) where applied
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast.to(x.dtype) + mean


def _translation(x: torch.Tensor, strength: float, draws: _Draws, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    on = draws.applied(strength).long()
    shift_h, shift_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = draws.integers(-shift_h, shift_h + 1) * on
    dx = draws.integers(-shift_w, shift_w + 1) * on
    # Gather from a zero-padded copy: row i of the output reads row i - dy of the input, or the pad.
    rows = (torch.arange(h, device=x.device).view(1, h) - dy.view(n, 1) + 1).clamp(0, h + 1)  # [N, H]
    cols = (torch.arange(w, device=x.device).view(1, w) - dx.view(n, 1) + 1).clamp(0, w + 1)  # [N, W]
    padded = F.pad(x, (1, 1, 1, 1))                                                            # [N, C, H+2, W+2]
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows.view(n, h, 1), cols.view(n, 1, w)]          # [N, H, W, C]
    return out.permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, strength: float, draws: _Draws, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    on = draws.applied(strength).view(n, 1, 1)
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # The square's centre anywhere in the image (it may hang over an edge), as in DiffAugment.
    top = draws.integers(0, h + (1 - size_h % 2)).view(n, 1, 1) - size_h // 2
    left = draws.integers(0, w + (1 - size_w % 2)).view(n, 1, 1) - size_w // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= top) & (ys < top + size_h) & (xs >= left) & (xs < left + size_w)  # [N, H, W]
    keep = 1 - inside.float() * on
    return x * keep.unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def overfitting_statistic(loss: str, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """[N] values in {-1, 1}, one per real, whose mean r says how overfit D is (ADA's r_t).

    It must mean the same for the chosen loss:
    - ns-r1: sign D(real), ADA's own: D's logits are calibrated, > 0 means "real";
    - wgan-gp: a critic's sign has no fixed meaning (only differences do), so +1 where a real
      scores above the batch's mean fake score. r is 0 when D cannot tell reals from fakes and
      1 when it separates every real.
    """
    real = real_scores.detach().float().flatten()
    if loss == "ns-r1":
        return real.sign()
    return (real > fake_scores.detach().float().mean()).float() * 2 - 1


def adapt_strength(strength: float, r: float, target: float, images: int, speed_kimg: float) -> float:
    """ADA's controller (Karras et al. 2020): p moves by images / (speed_kimg * 1000) towards
    more augmentation while r > target, towards less otherwise; p can cross [0, 1] in
    `speed_kimg` thousand images (ADA uses 500; short CPU runs need ~50-100). Called every step
    with that step's r, so p is a pure function of the trajectory and resumes exactly."""
    step = images / (speed_kimg * 1000)
    return float(min(max(strength + (step if r > target else -step), 0.0), 1.0))
