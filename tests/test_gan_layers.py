"""The building blocks behave as the papers say."""

import math

import pytest
import torch

from nonesuch.gan.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, SelfAttention, pixel_norm
from nonesuch.gan.networks import ProgressiveDiscriminator, ProgressiveGenerator
from nonesuch.gan.presets import PRESETS, Architecture

ARCH = Architecture("test", latent_dim=16, channels=(16, 16, 8, 8))


def test_equalized_lr_stores_unit_weights_and_scales_at_runtime():
    torch.manual_seed(0)
    conv = EqualizedConv2d(64, 32, 3)
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.05)
    assert conv.weight.mean().item() == pytest.approx(0.0, abs=0.05)
    assert conv.scale == pytest.approx(math.sqrt(2 / (64 * 9)))
    linear = EqualizedLinear(256, 128)
    assert linear.scale == pytest.approx(math.sqrt(2 / 256))
    # He scaling keeps the signal: unit-variance input -> output variance ~ gain^2 = 2.
    x = torch.randn(64, 64, 8, 8)
    assert conv(x).var().item() == pytest.approx(2.0, rel=0.15)
    # The runtime scale is what the convolution actually uses.
    expected = torch.nn.functional.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)


def test_pixel_norm_gives_unit_rms_per_pixel():
    y = pixel_norm(torch.randn(4, 32, 5, 5) * 7)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(4, 5, 5), rtol=1e-4, atol=1e-4)


def test_minibatch_stddev_groups_consecutive_samples():
    layer = MinibatchStdDev(group_size=4)
    x = torch.cat([torch.zeros(4, 3, 2, 2), torch.randn(4, 3, 2, 2)])  # group 1 identical, group 2 varied
    y = layer(x)
    assert y.shape == (8, 4, 2, 2)
    assert y[:4, 3].abs().max() < 1e-3      # no variety in the first group
    assert y[4:, 3].min() > 0.1             # variety in the second, not mixed with the first


def test_self_attention_keeps_shape_and_starts_as_identity():
    attention = SelfAttention(16)
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(attention(x), x)  # gate starts at 0
    with torch.no_grad():
        attention.gate.fill_(1.0)
    y = attention(x)
    assert y.shape == x.shape and not torch.allclose(y, x)


def test_generator_and_projection_discriminator_shapes_at_every_stage():
    G = ProgressiveGenerator(ARCH, 32, num_classes=3, attention_resolutions=(8, 16))
    D = ProgressiveDiscriminator(ARCH, 32, num_classes=3, attention_resolutions=(8, 16))
    z, labels = torch.randn(4, 16), torch.tensor([0, 1, 2, 0])
    for r in (4, 8, 16, 32):
        for alpha in (0.5, 1.0):
            images = G(z, labels, r, alpha)
            assert images.shape == (4, 3, r, r)
            assert D(images, labels, alpha).shape == (4,)
    assert G(z, labels).shape == (4, 3, 32, 32)  # no stage given: the full size


def test_projection_discriminator_score_depends_on_the_class():
    D = ProgressiveDiscriminator(ARCH, 8, num_classes=2)
    images = torch.randn(4, 3, 8, 8)
    zeros, ones = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    assert not torch.allclose(D(images, zeros), D(images, ones))


def test_fade_in_starts_where_the_lower_resolution_left_off():
    G = ProgressiveGenerator(ARCH, 16)
    z = torch.randn(2, 16)
    low = G(z, None, 8, 1.0)
    start_of_fade = G(z, None, 16, 0.0)
    torch.testing.assert_close(start_of_fade, torch.nn.functional.interpolate(low, scale_factor=2.0))


def test_presets_cover_their_resolutions():
    assert PRESETS["smoke"].max_resolution == 32
    assert PRESETS["paper"].max_resolution == 1024 and PRESETS["paper"].channels_at(4) == 512
    assert set(PRESETS["anchor128"].channels) == {128}
