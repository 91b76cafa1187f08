"""The Progressive GAN generator and discriminator, from 4 px up to the run's resolution.

Every block for every resolution exists from the start; `resolution` and `alpha` in forward()
choose how many are used. While a new top block fades in (alpha 0 -> 1), its output is blended
with the upsampled output of the block below, so growing never shocks the networks.

Conditioning (optional): G concatenates a learned class embedding to z; D is a projection
discriminator (Miyato & Koyama 2018): score = linear(h) + <embed(y), h>.

Truncation (sampling only): G pixel-normalises z first, so shrinking z (BigGAN's truncated
latents) changes almost nothing: the direction survives, only the length is lost. Instead G pulls
its first features towards their mean, h = mean + psi * (h - mean), StyleGAN's trick applied
to the 4x4 features after the input block's pixel norm: psi = 1 is the plain sample, smaller
psi trades variety for typical images. The mean is taken over TRUNCATION_LATENTS fixed latents
(per class on a conditional G), computed on first use and kept until the weights change.
"""

from __future__ import annotations

import torch
from torch import nn

from nonesuch.data.dataset import resolutions_up_to
from nonesuch.gan.layers import (EqualizedConv2d, EqualizedLinear, MinibatchStdDev, SelfAttention,
                                 downsample2x, leaky_relu, pixel_norm, upsample2x)
from nonesuch.gan.presets import Architecture
from nonesuch.gan.sampling import check_truncation


TRUNCATION_LATENTS = 4096     # latents whose first features are averaged (per class)
TRUNCATION_SEED = 0x7472756E  # fixed, so the mean, and every truncated image, is reproducible


class GeneratorBlock(nn.Module):
    """Upsample 2x, then two 3x3 convs, each followed by leaky ReLU and pixel norm."""

    def __init__(self, in_channels: int, out_channels: int, attention: bool):
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3)
        self.conv2 = EqualizedConv2d(out_channels, out_channels, 3)
        self.attention = SelfAttention(out_channels) if attention else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, Cin, H, W] -> [N, Cout, 2H, 2W]
        x = pixel_norm(leaky_relu(self.conv1(upsample2x(x))))
        x = pixel_norm(leaky_relu(self.conv2(x)))
        return self.attention(x) if self.attention is not None else x


class GeneratorInput(nn.Module):
    """z (+ class embedding) -> 4x4 features: a dense layer (the paper's 4x4 'conv') then a conv."""

    def __init__(self, latent_dim: int, channels: int, num_classes: int, attention: bool):
        super().__init__()
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_features = latent_dim * (2 if num_classes else 1)
        self.dense = EqualizedLinear(in_features, channels * 16, gain=2 ** 0.5 / 4)
        self.conv = EqualizedConv2d(channels, channels, 3)
        self.attention = SelfAttention(channels) if attention else None
        self.channels = channels

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = pixel_norm(z)                                    # [N, latent]
        if self.embed is not None:
            if labels is None:
                raise ValueError(f"this generator is class-conditional ({self.embed.num_embeddings} classes): "
                                 f"pass labels [N] int64")
            x = torch.cat([x, pixel_norm(self.embed(labels))], dim=1)  # [N, 2 * latent]
        x = self.dense(x).reshape(-1, self.channels, 4, 4)   # [N, C, 4, 4]
        x = pixel_norm(leaky_relu(x))
        x = pixel_norm(leaky_relu(self.conv(x)))
        return self.attention(x) if self.attention is not None else x


class ProgressiveGenerator(nn.Module):
    """G(z, labels) -> images [N, 3, R, R], float32, roughly in [-1, 1].

    `stage_resolution` and `stage_alpha` are the stage the networks were last trained at; they are
    used when forward() is called without an explicit stage (sampling from a checkpoint), and the
    output is then upsampled to `resolution` so callers always get the run's image size.
    """

    def __init__(self, arch: Architecture, resolution: int, num_classes: int = 0,
                 attention_resolutions: tuple[int, ...] = ()):
        super().__init__()
        self.latent_dim, self.resolution, self.num_classes = arch.latent_dim, resolution, num_classes
        levels = resolutions_up_to(resolution)
        self.input = GeneratorInput(arch.latent_dim, arch.channels_at(4), num_classes, 4 in attention_resolutions)
        self.blocks = nn.ModuleDict({
            str(r): GeneratorBlock(arch.channels_at(r // 2), arch.channels_at(r), r in attention_resolutions)
            for r in levels[1:]
        })
        self.to_rgb = nn.ModuleDict({str(r): EqualizedConv2d(arch.channels_at(r), 3, 1, gain=1.0) for r in levels})
        self.stage_resolution, self.stage_alpha = resolution, 1.0
        self._feature_mean_cache: tuple[tuple, torch.Tensor] | None = None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                resolution: int | None = None, alpha: float | None = None,
                truncation: float | None = None) -> torch.Tensor:
        """truncation: psi in (0, 1]; None (or 1) samples without truncation."""
        return self.from_features(self.first_features(z, labels, truncation), resolution, alpha)

    def first_features(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                       truncation: float | None = None) -> torch.Tensor:
        """z [N, latent_dim] -> the 4x4 input block's features [N, C4, 4, 4], truncated if psi < 1."""
        x = self.input(z, labels)  # [N, C4, 4, 4]
        if truncation is not None and truncation != 1.0:
            check_truncation(truncation)
            x = torch.lerp(self.feature_mean(labels), x, truncation)  # mean + psi * (x - mean)
        return x

    def from_features(self, x: torch.Tensor, resolution: int | None = None,
                      alpha: float | None = None) -> torch.Tensor:
        """First features [N, C4, 4, 4] -> images [N, 3, R, R]: every block above the input."""
        explicit = resolution is not None
        resolution = resolution or self.stage_resolution
        alpha = self.stage_alpha if alpha is None else alpha
        previous = None
        for r in resolutions_up_to(resolution)[1:]:
            previous = x
            x = self.blocks[str(r)](x)
        rgb = self.to_rgb[str(resolution)](x)  # [N, 3, R, R]
        if alpha < 1.0 and previous is not None:
            faded_out = upsample2x(self.to_rgb[str(resolution // 2)](previous))
            rgb = torch.lerp(faded_out, rgb, alpha)
        while not explicit and rgb.shape[-1] < self.resolution:
            rgb = upsample2x(rgb)
        return rgb

    def feature_mean(self, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The mean first features, [1, C4, 4, 4] (unconditional) or [N, C4, 4, 4] for labels [N].
        Cached; recomputed when the input block's weights change (training, load_state_dict)."""
        parameters = list(self.input.parameters())
        key = tuple((p.data_ptr(), p._version) for p in parameters)   # in-place updates bump _version
        if self._feature_mean_cache is None or self._feature_mean_cache[0] != key:
            self._feature_mean_cache = (key, self._compute_feature_means(parameters[0].device))
        means = self._feature_mean_cache[1]                        # [K or 1, C4, 4, 4]
        return means if self.num_classes == 0 else means[labels]

    def _compute_feature_means(self, device: torch.device) -> torch.Tensor:
        # Ordinary tensors even when called under inference_mode: the cache outlives the call.
        with torch.inference_mode(False), torch.no_grad():
            z = torch.randn(TRUNCATION_LATENTS, self.latent_dim,
                            generator=torch.Generator().manual_seed(TRUNCATION_SEED)).to(device)
            classes = range(self.num_classes) if self.num_classes else [None]
            means = []
            for label in classes:
                labels = None if label is None else torch.full((len(z),), label, dtype=torch.int64,
                                                                device=device)
                means.append(torch.cat([self.input(z[i:i + 512], None if labels is None else labels[i:i + 512])
                                        for i in range(0, len(z), 512)]).mean(dim=0))
            return torch.stack(means)                               # [K or 1, C4, 4, 4]


class DiscriminatorBlock(nn.Module):
    """(Attention), two 3x3 convs with leaky ReLU, then 2x2 average pooling."""

    def __init__(self, in_channels: int, out_channels: int, attention: bool):
        super().__init__()
        self.attention = SelfAttention(in_channels) if attention else None
        self.conv1 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv2 = EqualizedConv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, Cin, H, W] -> [N, Cout, H/2, W/2]
        if self.attention is not None:
            x = self.attention(x)
        x = leaky_relu(self.conv1(x))
        return downsample2x(leaky_relu(self.conv2(x)))


class DiscriminatorOutput(nn.Module):
    """The 4x4 head: minibatch stddev, conv, dense, then the score (plus the class projection)."""

    def __init__(self, channels: int, num_classes: int, attention: bool):
        super().__init__()
        self.attention = SelfAttention(channels) if attention else None
        self.stddev = MinibatchStdDev()
        self.conv = EqualizedConv2d(channels + 1, channels, 3)
        self.dense = EqualizedLinear(channels * 16, channels)
        self.score = EqualizedLinear(channels, 1, gain=1.0)
        self.embed = nn.Embedding(num_classes, channels) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:  # -> [N]
        if self.attention is not None:
            x = self.attention(x)
        x = leaky_relu(self.conv(self.stddev(x)))
        h = leaky_relu(self.dense(x.flatten(1)))  # [N, C]
        score = self.score(h).squeeze(1)          # [N]
        if self.embed is not None:
            # Projection: the class decides which direction of h counts as "real".
            score = score + (self.embed(labels) * h).sum(dim=1) / h.shape[1] ** 0.5
        return score


class ProgressiveDiscriminator(nn.Module):
    """D(images [N, 3, r, r], labels) -> realness scores [N], for any r from 4 to `resolution`."""

    def __init__(self, arch: Architecture, resolution: int, num_classes: int = 0,
                 attention_resolutions: tuple[int, ...] = ()):
        super().__init__()
        self.resolution, self.num_classes = resolution, num_classes
        levels = resolutions_up_to(resolution)
        self.from_rgb = nn.ModuleDict({str(r): EqualizedConv2d(3, arch.channels_at(r), 1) for r in levels})
        self.blocks = nn.ModuleDict({
            str(r): DiscriminatorBlock(arch.channels_at(r), arch.channels_at(r // 2), r in attention_resolutions)
            for r in levels[1:]
        })
        self.output = DiscriminatorOutput(arch.channels_at(4), num_classes, 4 in attention_resolutions)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                alpha: float = 1.0) -> torch.Tensor:
        resolution = images.shape[-1]
        x = leaky_relu(self.from_rgb[str(resolution)](images))
        if resolution > 4:
            x = self.blocks[str(resolution)](x)
            if alpha < 1.0:
                faded_out = leaky_relu(self.from_rgb[str(resolution // 2)](downsample2x(images)))
                x = torch.lerp(faded_out, x, alpha)
            for r in reversed(resolutions_up_to(resolution // 2)[1:]):
                x = self.blocks[str(r)](x)
        return self.output(x, labels)
