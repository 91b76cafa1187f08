"""A trained generator, loaded: the one way every later stage samples images.

    from nonesuch import load_generator
    generator = load_generator("smileys32")          # a shipped name, an exported folder or a RUN
    pixels = generator.sample_seeds([0, 1, 2])       # [3, R, R, 3] uint8, as `nonesuch generate --no-screen`

`load_generator(source)` accepts three kinds of source:
- the name of a generator shipped in nonesuch/pretrained/ (`list_generators()` lists them);
- an exported generator folder (generator.json beside safetensors, see export.py);
- a training RUN folder (config.json + checkpoints/), the latest or a given checkpoint.

Sampling without gradients, for pictures (generate, interpolate, live serving, metrics):
    sample(z [N, D], labels [N] | None, truncation, precision) -> [N, R, R, 3] uint8
It runs the network on fixed-shape batches of GENERATOR_BATCH latents under inference mode, in
bf16 where the CPU has bf16 kernels ("auto"), so the same seed gives the same pixels to the bit
from every stage.

Sampling WITH gradients, for looking inside (explain, attribution, latent optimisation):
    synthesize(z, labels, truncation) -> [N, 3, R, R] float32 in ~[-1, 1], differentiable
    features(z, labels, truncation)   -> h [N, C4, 4, 4], the input block's 4x4 features
    synthesize_from_features(h)       -> [N, 3, R, R], the rest of the network on h
so synthesize(z) == synthesize_from_features(features(z)), and d(image)/d(z) or d(image)/d(h)
come from ordinary autograd: make z (or h) require grad, call, backward. These run in fp32 with
the network's parameters frozen (requires_grad False): gradients flow to the inputs only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from nonesuch.cpus import torch_threads
from nonesuch.gan.errors import CheckpointError
from nonesuch.gan.folders import INFO_FILE, WEIGHTS, GeneratorInfo, generator_folder, read_info
from nonesuch.gan.precision import amp_dtype, autocast
from nonesuch.gan.sampling import check_truncation, fixed_shape_batches, latents_for_seeds, to_uint8


class Generator:
    """A loaded generator: its network (EMA weights, eval mode, frozen), what it is (`info`),
    and where it came from (`folder`, `checkpoint_sha256`: the hash of the weights file, which
    every generation record and watermark ID refers to)."""

    def __init__(self, network: torch.nn.Module, info: GeneratorInfo, folder: Path,
                 checkpoint_sha256: str):
        self.network = network                # ProgressiveGenerator
        self.info = info
        self.folder = Path(folder)
        self.checkpoint_sha256 = checkpoint_sha256

    @classmethod
    def from_pretrained(cls, name: str, device: str = "cpu") -> "Generator":
        """A generator shipped with nonesuch, by name (see list_generators())."""
        return load_generator(name, device=device)

    # -- what it is ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def latent_dim(self) -> int:
        return self.info.latent_dim

    @property
    def resolution(self) -> int:
        return self.info.resolution

    @property
    def class_names(self) -> list[str]:
        return list(self.info.class_names)

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def __repr__(self) -> str:
        classes = f"{len(self.class_names)} classes" if self.class_names else "unconditional"
        return (f"Generator({self.name!r}, {self.resolution}px, {classes}, "
                f"checkpoint {self.info.checkpoint}, weights {self.checkpoint_sha256[:12]})")

    # -- inputs -------------------------------------------------------------------------------

    def latents(self, seeds: list[int]) -> torch.Tensor:
        """[N, latent_dim]: seed i's latent, the same in every batch and every stage."""
        return latents_for_seeds(seeds, self.latent_dim).to(self.device)

    def class_index(self, class_name: str | None) -> int | None:
        """The label of `class_name`; None for None. ValueError names the classes there are."""
        if class_name is None:
            return None
        if not self.class_names:
            raise ValueError(f"class {class_name!r}: {self.name} is unconditional (no classes)")
        if class_name not in self.class_names:
            raise ValueError(f"class {class_name!r} is not a class of {self.name}; "
                             f"choose one of {', '.join(self.class_names)}")
        return self.class_names.index(class_name)

    def label_for_seed(self, seed: int, class_name: str | None = None) -> int | None:
        """The class a seed is drawn in: `class_name`'s if given; on a conditional generator
        without one, classes take turns (seed mod classes), so a seed range covers every class."""
        if class_name is not None or not self.class_names:
            return self.class_index(class_name)
        return int(seed) % len(self.class_names)

    def labels_for_seeds(self, seeds: list[int], class_name: str | None = None) -> torch.Tensor | None:
        """[N] int64 labels (label_for_seed of each seed), or None for an unconditional generator."""
        if not self.class_names:
            self.class_index(class_name)          # raises for a class on an unconditional one
            return None
        return torch.tensor([self.label_for_seed(s, class_name) for s in seeds],
                            dtype=torch.int64, device=self.device)

    # -- sampling pictures --------------------------------------------------------------------

    def sample(self, z: torch.Tensor, labels: torch.Tensor | None = None,
               truncation: float | None = None, precision: str = "auto",
               threads: int | None = None) -> np.ndarray:
        """z [N, latent_dim], labels [N] int64 or None -> [N, R, R, 3] uint8 at the generator's
        resolution. precision: "auto" (bf16 where the CPU has bf16 kernels: ~1.7x faster, within
        a few grey levels of fp32), "bf16" or "off" (fp32). threads: torch threads for this call
        (None: leave torch's process-wide count alone)."""
        check_truncation(truncation)
        dtype = amp_dtype(precision, self.device)

        def run(batch: torch.Tensor, batch_labels: torch.Tensor | None) -> torch.Tensor:
            return self.network(batch, batch_labels, truncation=truncation).float()

        with torch_threads(threads), torch.inference_mode(), autocast(self.device, dtype):
            images = torch.cat(list(fixed_shape_batches(run, z.to(self.device), labels)))  # [N, 3, R, R]
        return to_uint8(images)

    def sample_seeds(self, seeds: list[int], class_name: str | None = None,
                     truncation: float | None = None, precision: str = "auto") -> np.ndarray:
        """[N, R, R, 3] uint8 for these seeds: the pixels `nonesuch generate --seeds --no-screen`
        watermarks (with its screen, generate may draw a seed again: generate/screen.py)."""
        return self.sample(self.latents(seeds), self.labels_for_seeds(seeds, class_name),
                           truncation, precision)

    # -- sampling with gradients --------------------------------------------------------------

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                   truncation: float | None = None) -> torch.Tensor:
        """[N, 3, R, R] float32 in ~[-1, 1], differentiable with respect to z (fp32, no
        fixed-shape padding, so it can differ from sample() by a grey level)."""
        return self.synthesize_from_features(self.features(z, labels, truncation))

    def features(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                 truncation: float | None = None) -> torch.Tensor:
        """[N, C4, 4, 4]: the 4x4 input block's features (after truncation), differentiable."""
        check_truncation(truncation)
        return self.network.first_features(z, labels, truncation)

    def synthesize_from_features(self, h: torch.Tensor) -> torch.Tensor:
        """h [N, C4, 4, 4] -> [N, 3, R, R] float32: every block above the input, differentiable."""
        return self.network.from_features(h)


# -- loading ------------------------------------------------------------------------------------

def load_generator(source: str | Path, checkpoint: str | Path | None = None,
                   device: str = "cpu") -> Generator:
    """A shipped name, an exported folder or a RUN folder -> a Generator ready to sample.
    checkpoint: a RUN's checkpoint folder or its name (default: the latest). CheckpointError
    names the file and the problem."""
    folder = generator_folder(source)
    if (folder / INFO_FILE).is_file():
        if checkpoint is not None:
            raise CheckpointError(f"{folder}: an exported generator has one checkpoint; "
                                  f"a checkpoint can be chosen in a training run only")
        return _load_exported(folder, device)
    return _load_run(folder, checkpoint, device)      # names what a RUN folder lacks, if anything


def _load_exported(folder: Path, device: str) -> Generator:
    from nonesuch.gan.checkpoint import checked_stage, load_weights, read_weights_file
    from nonesuch.gan.networks import ProgressiveGenerator
    from nonesuch.gan.presets import Architecture, check_network_size

    info = read_info(folder)
    try:       # everything generator.json claims is checked before the network is allocated
        arch = Architecture(info.architecture["name"], int(info.architecture["latent_dim"]),
                            tuple(info.architecture["channels"]))
        check_network_size(arch, info.resolution, len(info.class_names))
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise CheckpointError(f"{folder / INFO_FILE}: cannot build its network ({error})") from None
    stage = checked_stage(info.stage, info.resolution, folder / INFO_FILE)
    weights = folder / WEIGHTS
    if not os.path.lexists(weights):
        raise CheckpointError(f"{weights}: missing; an exported generator needs its EMA weights")
    sha256 = hashlib.sha256(read_weights_file(weights)).hexdigest()    # a bounded read of a regular file
    if info.files.get(WEIGHTS) not in (None, sha256):
        raise CheckpointError(f"{weights}: sha256 {sha256[:12]} is not the {str(info.files[WEIGHTS])[:12]} "
                              f"that {INFO_FILE} names; the file was changed or damaged")
    try:
        network = ProgressiveGenerator(arch, info.resolution, len(info.class_names), tuple(info.attention))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{folder / INFO_FILE}: cannot build its network ({error})") from error
    load_weights(network, folder, WEIGHTS, {"sha256": {WEIGHTS: sha256}}, device)   # parsed from bytes re-hashed
    network.stage_resolution, network.stage_alpha = stage
    return Generator(network.to(device).eval().requires_grad_(False), info, folder, sha256)


def _load_run(folder: Path, checkpoint: str | Path | None, device: str) -> Generator:
    from nonesuch.gan import checkpoint as checkpoints

    loaded = checkpoints.load_generator(folder, checkpoint, device=device)
    state = checkpoints.read_state(loaded.checkpoint_path.parent)
    config = loaded.config
    try:
        images_seen = int(state.get("images_seen", 0))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{loaded.checkpoint_path.parent / 'state.json'}: images_seen ({error})") from None
    info = GeneratorInfo(
        name=folder.name, architecture=dict(config.get("architecture") or {}),
        resolution=loaded.resolution, attention=list(config.get("attention", [])),
        class_names=loaded.class_names,
        stage={"resolution": loaded.generator.stage_resolution, "alpha": loaded.generator.stage_alpha},
        checkpoint=loaded.checkpoint_path.parent.name, images_seen=images_seen,
        trained_on={"dataset": config.get("dataset")}, files={WEIGHTS: loaded.checkpoint_sha256})
    info.architecture.setdefault("latent_dim", loaded.latent_dim)
    return Generator(loaded.generator, info, folder, loaded.checkpoint_sha256)
