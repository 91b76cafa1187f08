"""Exporting a run's generator for shipping, and stopping training on a time budget."""

import json

import torch
from gan_fixtures import TINY

from nonesuch.gan.checkpoint import export_generator, list_checkpoints, load_generator
from nonesuch.gan.config import resolve_config
from nonesuch.gan.train import train


def test_time_budget_stops_with_a_checkpoint_and_export_samples_the_same(emoji_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run = tmp_path / "run"
    config = resolve_config(emoji_dataset, run, {**TINY, "kimg": 50.0})  # hours of schedule
    train(config, max_seconds=2.0)
    checkpoints = list_checkpoints(run)
    state = json.loads((checkpoints[-1] / "state.json").read_text())
    assert 0 < state["images_seen"] < config.schedule.total_images

    shipped = export_generator(run, tmp_path / "shipped")
    files = sorted(p.name for p in (shipped / "checkpoints").rglob("*") if p.is_file())
    assert files == ["generator_ema.safetensors", "state.json"]
    z = torch.randn(4, config.arch.latent_dim, generator=torch.Generator().manual_seed(0))
    original, exported = load_generator(run), load_generator(shipped)
    assert exported.checkpoint_sha256 == original.checkpoint_sha256
    torch.testing.assert_close(exported.generator(z, None), original.generator(z, None), rtol=0, atol=0)
