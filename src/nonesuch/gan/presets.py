"""Named network architectures. A run saves the resolved architecture in RUN/config.json, so a
preset can change later without breaking old runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    name: str
    latent_dim: int             # length of z
    channels: tuple[int, ...]   # feature maps per resolution: channels[0] at 4 px, [1] at 8 px, ...
    kimg: float = 600.0         # default thousands of images per fade and per stabilisation

    @property
    def max_resolution(self) -> int:
        return 4 << (len(self.channels) - 1)

    def channels_at(self, resolution: int) -> int:
        return self.channels[resolution.bit_length() - 3]  # 4 -> 0, 8 -> 1, ...


PRESETS: dict[str, Architecture] = {
    # Tiny and fast: exercises every part of training in seconds; the images are not the point.
    "smoke": Architecture("smoke", latent_dim=32, channels=(32, 32, 16, 16), kimg=0.128),
    # For the bundled emoji set at 32-64 px on a 2-core CPU: wide where it is cheap (4-16 px,
    # where shape and colour are decided), narrow at the top where convolutions cost most.
    # 30 kimg per phase is ~1 hour to 32 px on 2 cores (7 phases, ~210k images).
    "cpu": Architecture("cpu", latent_dim=128, channels=(128, 128, 128, 64, 32), kimg=30.0),
    # The like-for-like comparison with the widely used PyTorch ProGAN measured in
    # research/gan-peers.md: 128 channels at every level, latent 512.
    "anchor128": Architecture("anchor128", latent_dim=512, channels=(128,) * 9),
    # Karras et al. 2017, table 2: 512 channels up to 32 px, halving per level to 16 at 1024 px.
    "paper": Architecture("paper", latent_dim=512, channels=(512, 512, 512, 512, 256, 128, 64, 32, 16)),
}


def architecture(name: str) -> Architecture:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


# What a network read from a file (a run's config.json, a generator.json) may claim, checked
# before it is built: twice the widest preset ("paper": latent 512, 512 channels) is at most
# ~0.6 GB of weights, where a claim of 10**9 channels would ask for terabytes.
MAX_LATENT_DIM = 2048
MAX_CHANNELS = 1024
MAX_CLASSES = 10_000                  # the label embedding is classes x latent_dim floats


def check_network_size(arch: Architecture, resolution: int, num_classes: int) -> None:
    """ValueError (or TypeError for a value that is not a number) unless the network these
    describe is one nonesuch could have trained: called before allocating it."""
    from nonesuch.bounds import check_range
    from nonesuch.data.dataset import MAX_RESOLUTION, MIN_RESOLUTION

    check_range("resolution", resolution, MIN_RESOLUTION, MAX_RESOLUTION)
    if not isinstance(resolution, int) or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two, got {resolution}")
    check_range("latent_dim", arch.latent_dim, 1, MAX_LATENT_DIM)
    levels = resolution.bit_length() - 2                 # 4, 8, ..., resolution
    if len(arch.channels) < levels:
        raise ValueError(f"channels lists {len(arch.channels)} levels, {resolution} px needs {levels}")
    for channels in arch.channels[:levels]:
        check_range("channels", channels, 1, MAX_CHANNELS)
    check_range("classes", num_classes, 0, MAX_CLASSES)


# What --smoke means: every part of training (growth to 16 px, fades, attention, conditioning
# when the dataset has labels, snapshot grid, metric, checkpoint, resume) on a tiny schedule.
SMOKE_OPTIONS = dict(preset="smoke", attention=[8], kimg=0.128, snapshot_kimg=0.32, metric_images=8,
                     grid_size=16, batch=16)


def smoke_options(dataset) -> dict:
    """The TrainConfig options of a smoke run on `dataset` (a data.Dataset): SMOKE_OPTIONS, at
    most 16 px, conditional when the dataset has labels. For resolve_config(dataset, out, ...)."""
    return {**SMOKE_OPTIONS, "resolution": min(16, dataset.resolution),
            "conditional": bool(dataset.label_names())}
