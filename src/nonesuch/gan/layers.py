"""The small layers a Progressive GAN is built from (Karras et al. 2017, section 4) plus
SAGAN's self-attention (Zhang et al. 2018).

Equalized learning rate: weights are stored as N(0, 1) and multiplied at run time by He's
constant gain / sqrt(fan_in). Adam normalises each parameter's update by its own gradient
scale, so with the constant folded out of the parameter every layer learns at the same speed.
We scale the (small) weight rather than the (large) activation: same maths, fewer flops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
RELU_GAIN = math.sqrt(2.0)


class EqualizedLinear(nn.Module):
    """y = x @ (w * gain / sqrt(in_features)).T + b, with w ~ N(0, 1) and b = 0."""

    def __init__(self, in_features: int, out_features: int, gain: float = RELU_GAIN):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))  # [out, in]
        self.bias = nn.Parameter(torch.zeros(out_features))                 # [out]
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, in] -> [N, out]
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    """'Same'-padded convolution with equalized learning rate; fan_in = in_channels * k * k."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = RELU_GAIN):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, in, H, W] -> [N, out, H, W]
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each pixel's feature vector to unit RMS (paper eq. 4.2); stops G's signal
    magnitudes escalating in the competition with D. x: [N, C, ...]."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LRELU_SLOPE)


class MinibatchStdDev(nn.Module):
    """Appends one feature map: the standard deviation of every feature over a group of samples,
    averaged. D can then see a lack of variety in a batch, which discourages mode collapse."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] -> [N, C + 1, H, W]
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            g = 1  # an odd-sized last batch: fall back to per-sample (std over a group of one is 0)
        # Groups are runs of g consecutive samples, so D can score [reals; fakes] in one call
        # without a group mixing the two.
        y = x.reshape(n // g, g, c, h, w)
        std = (y.var(dim=1, unbiased=False) + 1e-8).sqrt()         # [N/g, C, H, W]
        stat = std.mean(dim=(1, 2, 3)).reshape(n // g, 1, 1, 1, 1)  # one number per group
        stat = stat.expand(n // g, g, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, stat], dim=1)


class SelfAttention(nn.Module):
    """SAGAN self-attention: every position attends to every other, so G can keep distant parts
    of an image consistent (two eyes alike). The output gate starts at 0, so adding the block
    does not disturb a network that is already training; it opens as it becomes useful."""

    def __init__(self, channels: int):
        super().__init__()
        key_channels = max(channels // 8, 1)
        self.query = EqualizedConv2d(channels, key_channels, 1, gain=1.0)
        self.key = EqualizedConv2d(channels, key_channels, 1, gain=1.0)
        self.value = EqualizedConv2d(channels, channels, 1, gain=1.0)
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] -> same
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # [N, HW, C/8]
        k = self.key(x).flatten(2).transpose(1, 2)    # [N, HW, C/8]
        v = self.value(x).flatten(2).transpose(1, 2)  # [N, HW, C]
        # Written out rather than F.scaled_dot_product_attention: the gradient penalty
        # differentiates D twice, and the fused CPU kernels have no double backward.
        weights = torch.softmax(q @ k.transpose(1, 2) * q.shape[-1] ** -0.5, dim=-1)  # [N, HW, HW]
        attended = weights @ v  # [N, HW, C]
        return x + self.gate * attended.transpose(1, 2).reshape(n, c, h, w)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x upsampling, as in the paper. [N, C, H, W] -> [N, C, 2H, 2W]."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling, the same box filter the dataset's pyramid was made with."""
    return F.avg_pool2d(x, 2)
