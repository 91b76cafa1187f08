"""DGN-AM's update, on a batch of codes at once (Nguyen et al. 2016, act_max.py):

    for i in 0 .. iterations-1:
        step = start + (end - start) * i / iterations      # linear decay (DGN: 8 -> 1e-10)
        g = d objective / d code                            # per code
        code = project(code + step / mean|g| * g)           # normalised step, then the constraint

Each code's step is normalised by its own mean absolute gradient, so the step size means "how far
each coordinate moves", whatever the objective's units. The LAST iterate is the answer, as in the
reference ("no correlation between activation and recognizability"): not the best one seen.

Gradients come from autograd, or, when a target is an ONNX model that autograd cannot enter,
from a zeroth-order estimate: antithetic Gaussian directions in code space (NES),
g ~ sum_k (f(h + s u_k) - f(h - s u_k)) / 2s * u_k. The normalised step only needs the gradient's
direction, which this estimates well enough with a few directions on a 128-d code.

The gradient passes run under the project's one precision rule (gan/precision.py): "auto" is bf16
autocast on a CPU with bf16 kernels. Only the direction of each step is computed in bf16; the
code stays fp32, and the images and scores explain reports are computed again in fp32 from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from nonesuch.gan.precision import amp_dtype, autocast, precision_name


@dataclass(frozen=True)
class AscentConfig:
    iterations: int = 200
    step_start: float = 0.3        # per-coordinate step at the first iteration (README "7. explain")
    step_end: float = 1e-10        # DGN's end value: the last steps only polish
    zeroth_order_directions: int = 8     # antithetic pairs per code and step (ONNX targets)
    zeroth_order_radius: float = 0.25    # s, in code units (z coordinates are ~N(0, 1))
    frame_every: int = 0           # keep the images every k iterations (for the GIF); 0 = none
    precision: str = "auto"        # of the gradient passes: auto (bf16 where the CPU has it), bf16, fp16, off


@dataclass
class Ascent:
    code: torch.Tensor             # the last iterate, inside the constraint
    images: torch.Tensor           # [N, 3, R, R] of the last iterate
    objective: list[list[float]]   # [iterations + 1][N]: before the first step ... after the last
    frames: list[torch.Tensor]     # [N, 3, R, R] every frame_every iterations (and the last)
    precision: str = "fp32"        # what the gradient passes ran in (zeroth order: always fp32)


def step_size(config: AscentConfig, i: int) -> float:
    return config.step_start + (config.step_end - config.step_start) * i / config.iterations


def ascend(space, objective: Callable[[torch.Tensor], torch.Tensor], code: torch.Tensor,
           config: AscentConfig, differentiable: bool = True, seed: int = 0,
           advance: Callable[[], None] | None = None,
           check: Callable[[torch.Tensor], None] | None = None) -> Ascent:
    """Climb `objective` from `code` (inside the constraint). check(code) is called after every
    projection (tests use it to see the constraint hold at every step)."""
    noise = torch.Generator().manual_seed(seed)
    device = code.device
    dtype = amp_dtype(config.precision, device) if differentiable else None
    history, frames = [], []
    for i in range(config.iterations):
        if differentiable:
            with autocast(device, dtype):
                value, gradient, images = _autograd(space, objective, code)
        else:
            value, gradient, images = _zeroth_order(space, objective, code, config, noise)
        history.append(value.tolist())
        if config.frame_every and i % config.frame_every == 0:
            frames.append(images)
        scale = gradient.abs().flatten(1).mean(1).clamp_min(1e-12)      # [N] mean |g| per code
        shape = (-1,) + (1,) * (code.dim() - 1)
        code = space.project(code + (step_size(config, i) / scale).reshape(shape) * gradient)
        if check is not None:
            check(code)
        if advance is not None:
            advance()
    with torch.no_grad():
        images = space.images(code)
        history.append(objective(images).tolist())
    frames.append(images)
    return Ascent(code, images, history, frames, precision_name(dtype))


def _autograd(space, objective, code):
    code = code.detach().requires_grad_(True)
    images = space.images(code)
    value = objective(images)                                          # [N]
    gradient, = torch.autograd.grad(value.float().sum(), code)         # codes are independent
    return value.detach().float(), gradient, images.detach().float()


def _zeroth_order(space, objective, code, config: AscentConfig, noise: torch.Generator):
    k, s = config.zeroth_order_directions, config.zeroth_order_radius
    with torch.no_grad():
        images = space.images(code)
        value = objective(images)
        directions = torch.randn((k,) + tuple(code.shape), generator=noise)   # [K, N, ...]
        plus = torch.stack([objective(space.images(space.project(code + s * u))) for u in directions])
        minus = torch.stack([objective(space.images(space.project(code - s * u))) for u in directions])
        shape = (k, -1) + (1,) * (code.dim() - 1)
        gradient = (((plus - minus) / (2 * s)).reshape(shape) * directions).mean(0)
    return value, gradient, images
