"""Exporting a run's generator in its own format (generator.json beside safetensors), loading it
by path or by a shipped name, and stopping training on a time budget."""

import json
import shutil
import time

import numpy as np
import pytest
import torch
from gan_fixtures import TINY, nonesuch

from nonesuch.gan.checkpoint import CheckpointError, list_checkpoints
from nonesuch.gan.config import resolve_config
from nonesuch.gan.export import export_generator
from nonesuch.gan.folders import is_generator, list_generators
from nonesuch.gan.generator import Generator, load_generator
from nonesuch.gan.train import train

TRAINING_ONLY = {"lr", "gp_weight", "betas", "batch", "drift", "r1_gamma", "ema_kimg", "out", "device"}


@pytest.fixture(scope="module")
def timed_run(emoji_dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("export") / "run"
    config = resolve_config(emoji_dataset, run, {**TINY, "kimg": 50.0, "conditional": True})  # hours of schedule
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        train(config, max_seconds=2.0)
    return run, config


def test_time_budget_stops_with_a_checkpoint(timed_run):
    run, config = timed_run
    state = json.loads((list_checkpoints(run)[-1] / "state.json").read_text())
    assert 0 < state["images_seen"] < config.schedule.total_images


def test_export_writes_a_named_format_that_samples_like_the_run(timed_run, tmp_path):
    run, config = timed_run
    shipped = export_generator(run, tmp_path / "tiny8", licence="CC BY-SA 4.0", attribution="OpenMoji")
    assert sorted(p.name for p in shipped.iterdir()) == [
        "discriminator.safetensors", "generator.json", "generator.safetensors",
        "generator_ema.safetensors", "log.jsonl"]
    assert sum(p.stat().st_size for p in shipped.iterdir()) <= 20 * 1024 * 1024
    info = json.loads((shipped / "generator.json").read_text())
    assert info["format"] == "nonesuch-generator/1" and info["name"] == "tiny8"
    assert info["resolution"] == 8 and info["class_names"] == config.class_names
    assert info["trained_on"]["licence"] == "CC BY-SA 4.0" and info["trained_on"]["images"] > 0
    assert not TRAINING_ONLY & set(info)
    assert "/" not in json.dumps(info["trained_on"]) and str(tmp_path) not in json.dumps(info)

    original, exported = load_generator(run), load_generator(shipped)
    assert isinstance(exported, Generator) and exported.checkpoint_sha256 == original.checkpoint_sha256
    seeds = list(range(20))
    assert np.array_equal(exported.sample_seeds(seeds), original.sample_seeds(seeds))
    assert is_generator(shipped) and is_generator(run) and not is_generator(tmp_path / "nothing")


def test_a_changed_weights_file_or_a_foreign_folder_is_refused(timed_run, tmp_path):
    run, _ = timed_run
    shipped = export_generator(run, tmp_path / "g")
    weights = shipped / "generator_ema.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(CheckpointError, match="sha256"):
        load_generator(shipped)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"not mine to replace")
    with pytest.raises(CheckpointError, match="not an exported generator"):
        export_generator(run, photos)
    assert (photos / "cat.jpg").read_bytes() == b"not mine to replace"


def test_shipped_generators_load_by_name():
    names = [info.name for info in list_generators()]
    assert "smileys32" in names
    generator = Generator.from_pretrained("smileys32")
    assert generator.resolution == 32 and generator.info.trained_on["licence"] == "CC BY-SA 4.0"
    with pytest.raises(CheckpointError, match="smileys32"):          # the error lists what exists
        load_generator("no-such-generator")


def test_synthesize_is_differentiable_and_features_compose():
    generator = load_generator("smileys32")
    z = generator.latents([3, 4]).requires_grad_(True)
    images = generator.synthesize(z)                                   # [2, 3, 32, 32]
    images.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    h = generator.features(z.detach(), truncation=0.7).requires_grad_(True)   # [2, C4, 4, 4]
    again = generator.synthesize_from_features(h)
    torch.testing.assert_close(again, generator.synthesize(z.detach(), truncation=0.7), rtol=0, atol=0)
    again[:, :, :8, :8].sum().backward()                              # one corner of the image
    assert h.grad.shape == h.shape and h.grad.abs().sum() > 0
    # the float image is the uint8 picture sample() gives, within a grey level (fp32 vs fixed batches)
    pixels = generator.sample(z.detach(), precision="off").astype(int)
    from nonesuch.gan.sampling import to_uint8
    assert np.abs(to_uint8(images) - pixels).max() <= 1


def _edit_info(change):
    def edit(folder):
        info = json.loads((folder / "generator.json").read_text())
        change(info)
        (folder / "generator.json").write_text(json.dumps(info))
        return folder / "generator.json"
    return edit


def _replace(name, make):
    def edit(folder):
        (folder / name).unlink()
        make(folder / name)
        return folder / name
    return edit


def _sparse(size):
    def make(path):
        with open(path, "wb") as f:
            f.truncate(size)
    return make


HOSTILE_FOLDERS = {  # what a copy of smileys32 is given -> the file the error must name
    "info 2 GB sparse": _replace("generator.json", _sparse(2 << 30)),
    "info nested 100000 deep": _replace("generator.json", lambda p: p.write_text("[" * 100000)),
    "no architecture": _edit_info(lambda i: i.pop("architecture")),
    "files not an object": _edit_info(lambda i: i.update(files=[1])),
    "stage not an object": _edit_info(lambda i: i.update(stage="x")),
    "stage alpha nan": _edit_info(lambda i: i["stage"].update(alpha=float("nan"))),
    "resolution 2**30": _edit_info(lambda i: i.update(resolution=2**30)),
    "latent_dim 10**9": _edit_info(lambda i: i["architecture"].update(latent_dim=10**9)),
    "channels 10**9": _edit_info(lambda i: i["architecture"].update(channels=[10**9] * 5)),
    "channels too few": _edit_info(lambda i: i["architecture"].update(channels=[128])),
    "weights 30 GB sparse": _replace("generator_ema.safetensors", _sparse(30 << 30)),
}


@pytest.mark.parametrize("case", HOSTILE_FOLDERS)
def test_a_hostile_generator_folder_is_one_error_line_naming_the_file(tmp_path, case):
    """Nothing in a generator folder is trusted: absurd sizes are refused before the network is
    allocated, files before they are read whole, with one line, exit 1, in seconds."""
    folder = shutil.copytree(load_generator("smileys32").folder, tmp_path / "g")
    named = HOSTILE_FOLDERS[case](folder)
    started = time.monotonic()
    result = nonesuch("interpolate", str(folder), "--out", str(tmp_path / "walk.gif"), "--seeds", "0,1",
                      "--frames", "2", timeout=60)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and str(named) in lines[0]
    assert time.monotonic() - started < 30 and not (tmp_path / "walk.gif").exists()


def test_a_damaged_shipped_generator_is_a_warning_and_the_rest_are_listed(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nonesuch.cli import app
    from nonesuch.gan import folders

    shipped = tmp_path / "pretrained"
    shutil.copytree(folders.pretrained_folder() / "smileys32", shipped / "smileys32")
    (shipped / "broken").mkdir()
    (shipped / "broken" / "generator.json").write_text("[[[")
    monkeypatch.setattr(folders, "pretrained_folder", lambda: shipped)
    result = CliRunner().invoke(app, ["generators"])
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output and "broken/generator.json: not valid JSON" in result.output
    assert "smileys32  32 px" in result.output
    missing = CliRunner().invoke(app, ["generate", "nosuch", "--count", "1", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "(broken, smileys32)" in missing.output
