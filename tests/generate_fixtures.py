"""A real (if untrained) training run folder for the generate/provenance tests: the config,
networks and checkpoint format are the GAN stage's own, written through its API, so these tests
break when that format changes. Training quality is not the point here; provenance is."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from nonesuch.gan.config import TrainConfig
from nonesuch.gan.checkpoint import save_checkpoint
from nonesuch.gan.presets import architecture


def make_untrained_run(out: Path, class_names: list[str], resolution: int = 32,
                       preset: str = "smoke", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = TrainConfig(dataset="(none)", out=str(out), preset=preset, resolution=resolution,
                         conditional=bool(class_names), class_names=list(class_names))
    config.architecture = asdict(architecture(preset))
    generator, discriminator = config.make_generator(), config.make_discriminator()
    generator_ema = config.make_generator()
    generator_ema.load_state_dict(generator.state_dict())
    optimizers = {"g": torch.optim.Adam(generator.parameters()),
                  "d": torch.optim.Adam(discriminator.parameters())}
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(__import__("json").dumps(config.to_dict(), indent=2))
    state = {"images_seen": 0, "step": 0, "stage": {"resolution": resolution, "alpha": 1.0}}
    save_checkpoint(out, generator, discriminator, generator_ema, optimizers, state, keep=3)
    return out


# -- shared pytest fixtures (import them into a test module to use them) ------------------------

import os

import pytest


@pytest.fixture(scope="session")
def nonesuch_home(tmp_path_factory):
    """A private NONESUCH_HOME with signing keys, so tests never touch ~/.config."""
    from nonesuch.provenance.keys import init_keys

    home = tmp_path_factory.mktemp("nonesuch-home")
    previous = os.environ.get("NONESUCH_HOME")
    os.environ["NONESUCH_HOME"] = str(home)
    init_keys()
    yield home
    if previous is None:
        os.environ.pop("NONESUCH_HOME", None)
    else:
        os.environ["NONESUCH_HOME"] = previous


@pytest.fixture(scope="session")
def conditional_run(tmp_path_factory) -> Path:
    """A class-conditional 32 px run (classes named like the emoji fixture's groups)."""
    return make_untrained_run(tmp_path_factory.mktemp("runs") / "emoji",
                              ["animals-nature", "food-drink", "objects", "smileys-emotion"])
