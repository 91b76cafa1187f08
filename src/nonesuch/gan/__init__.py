"""Progressive Growing GAN (Karras et al. 2017) with self-attention and class conditioning.

Read in this order: layers.py -> networks.py (the model), presets.py, schedule.py, losses.py,
ema.py, data.py, train.py (the loop), checkpoint.py (the run folder), snapshot.py,
distributed.py, commands.py (`nonesuch train`, `nonesuch generators`). For later stages:
generator.py (load_generator: the one way to sample, with or without gradients), sampling.py,
precision.py, folders.py and export.py (the generator format, shipped generators by name).

    from nonesuch.gan import load_generator
    pixels = load_generator("smileys32").sample_seeds([0, 1, 2])     # [3, 32, 32, 3] uint8

(`train` is nonesuch.train: here the name is the training loop's module.)
"""

from nonesuch.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nonesuch.gan.config": ["TrainConfig", "TrainError", "resolve_config"],
    "nonesuch.gan.errors": ["CheckpointError", "GanError"],
    "nonesuch.gan.export": ["export_generator"],
    "nonesuch.gan.folders": ["GeneratorInfo", "is_generator", "list_generators"],
    "nonesuch.gan.generator": ["Generator", "load_generator"],
    "nonesuch.gan.presets": ["PRESETS", "SMOKE_OPTIONS", "smoke_options"],
})
