"""DiffAugment: identity at strength 0, differentiable, each op what it says, reproducible from
the step's seed; the adaptive controller moves towards its target; fine-tuning starts from the
source's weights."""

import json

import numpy as np
import pytest
import torch
from gan_fixtures import nonesuch
from safetensors.torch import load_file

from nonesuch.data.dataset import Dataset
from nonesuch.gan import augment
from nonesuch.gan.checkpoint import latest_checkpoint

ALL = augment.POLICIES
TINY_ARGS = ["--preset", "smoke", "--resolution", "8", "--kimg", "0.064", "--batch", "16", "--snapshot-kimg", "0.064"]


def _emoji_batch(emoji_dataset, resolution=16) -> torch.Tensor:
    pixels = Dataset(emoji_dataset).images(resolution)[:8]          # [8, R, R, 3] uint8
    return torch.from_numpy(np.array(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1


def test_strength_zero_is_the_identity(emoji_dataset):
    images = _emoji_batch(emoji_dataset)
    out = augment.augment(images, ALL, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(out, images)


def test_gradients_flow_through_every_op(emoji_dataset):
    images = _emoji_batch(emoji_dataset).requires_grad_(True)
    for op in ALL:
        out = augment.augment(images, (op,), 1.0, torch.Generator().manual_seed(1))
        (grad,) = torch.autograd.grad(out.square().sum(), images)
        assert grad.abs().sum() > 0, op
        assert not torch.equal(out.detach(), images.detach()), f"{op} at strength 1 changed nothing"


def test_same_seed_same_augmentation_and_each_image_its_own(emoji_dataset):
    images = _emoji_batch(emoji_dataset)
    a = augment.augment(images, ALL, 1.0, torch.Generator().manual_seed(7))
    b = augment.augment(images, ALL, 1.0, torch.Generator().manual_seed(7))
    c = augment.augment(images, ALL, 1.0, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    same = images[:1].repeat(8, 1, 1, 1)
    out = augment.augment(same, ALL, 1.0, torch.Generator().manual_seed(7), group=1)
    assert len({tuple(x.flatten().tolist()) for x in out}) == 8, "group=1: every image gets its own draw"
    # Default: one draw per minibatch-stddev group of 4, so a group's spread is the images' own.
    out = augment.augment(same, ALL, 1.0, torch.Generator().manual_seed(7))
    assert torch.equal(out[0], out[3]) and not torch.equal(out[3], out[4])
    differing = augment.augment(images, ALL, 1.0, torch.Generator().manual_seed(7))
    spread = lambda x: x[:4].std(dim=0).mean().item()
    assert spread(differing) < 1.6 * spread(images), "a shared draw does not swamp the group's own spread"


def test_translation_moves_pixels_by_whole_steps_and_pads_with_zero():
    image = torch.zeros(64, 1, 8, 8)
    image[:, :, 3, 3] = 1.0
    out = augment.augment(image, ("translation",), 1.0, torch.Generator().manual_seed(0), group=1)
    positions = {tuple(torch.nonzero(o[0]).flatten().tolist()) for o in out}
    assert all(abs(y - 3) <= 1 and abs(x - 3) <= 1 for y, x in positions)   # 1/8 of 8 px = 1 px
    assert len(positions) > 4, "shifts vary between images"
    assert all(o.sum() == 1 for o in out)


def test_cutout_zeroes_a_square_of_half_the_side():
    out = augment.augment(torch.ones(32, 3, 16, 16), ("cutout",), 1.0, torch.Generator().manual_seed(0))
    zeroed = (out[:, 0] == 0).flatten(1).sum(1)
    assert zeroed.max() == 64 and zeroed.min() > 0        # 8x8 when fully inside, less over an edge


def test_unknown_policy_is_an_error():
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment.parse_policy("color,blur")
    assert augment.parse_policy("off") == ()


def test_adaptive_strength_moves_towards_the_target():
    p = 0.5
    for _ in range(10):
        p = augment.adapt_strength(p, r=0.9, target=0.6, images=1000, speed_kimg=100)
    assert p == pytest.approx(0.6)
    p = augment.adapt_strength(0.0, r=0.1, target=0.6, images=1000, speed_kimg=100)
    assert p == 0.0
    real, fake = torch.tensor([[3.0], [2.0], [-1.0], [0.5]]), torch.tensor([[0.0], [1.0]])
    assert augment.overfitting_statistic("wgan-gp", real, fake).tolist() == [1, 1, -1, -1]
    assert augment.overfitting_statistic("ns-r1", real, fake).tolist() == [1, 1, -1, 1]


def test_auto_augments_small_datasets_and_old_runs_are_not(emoji_dataset, tmp_path):
    result = nonesuch("train", str(emoji_dataset), "--out", str(tmp_path / "run"), *TINY_ARGS, "--augment", "auto")
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["augment"] == "color,translation,cutout"
    from nonesuch.gan.config import TrainConfig
    old = {k: v for k, v in config.items() if not k.startswith("augment")}
    assert TrainConfig.from_dict(old).augment == "off"


def test_init_from_starts_fully_grown_from_the_source_weights(emoji_dataset, tmp_path):
    source, tuned = tmp_path / "source", tmp_path / "tuned"
    assert nonesuch("train", str(emoji_dataset), "--out", str(source), *TINY_ARGS, "--unconditional").returncode == 0
    result = nonesuch("train", str(emoji_dataset), "--out", str(tuned), "--init-from", str(source),
                      "--kimg", "0.016", "--snapshot-kimg", "0.016")
    assert result.returncode == 0, result.stderr
    config = json.loads((tuned / "config.json").read_text())
    assert config["resolution"] == 8 and config["init_sha256"]["discriminator"]
    log = [json.loads(line) for line in (tuned / "log.jsonl").read_text().splitlines()]
    assert log[0]["resolution"] == 8 and log[0]["stage"] == "stable 8px"     # no growing again
    # One step of 16 images from the source's weights: close to them, not a fresh initialisation.
    before = load_file(latest_checkpoint(source) / "generator.safetensors")
    after = load_file(latest_checkpoint(tuned) / "generator.safetensors")
    moved = max((after[k] - before[k]).abs().max().item() for k in before)
    assert 0 < moved < 0.05
    bad = nonesuch("train", str(emoji_dataset), "--out", str(tmp_path / "bad"), "--init-from", str(source),
                   "--resolution", "16")
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "cannot change resolution" in bad.stderr
    missing = nonesuch("train", str(emoji_dataset), "--out", str(tmp_path / "bad"), "--init-from", "nope")
    assert missing.returncode != 0 and "no such run folder or shipped generator" in missing.stderr


@pytest.mark.parametrize("field, value, words", [
    ("resolution", "x", "ValueError: invalid literal for int()"),
    ("architecture", [1, 2], "TypeError: architecture is a list"),
    ("resolution", None, "TypeError"),
])
def test_an_init_from_source_with_wrong_kinds_of_values_is_one_line(emoji_dataset, tmp_path, field, value, words):
    """A source's config is someone else's file: each of these was a traceback."""
    import shutil

    from nonesuch.gan.folders import pretrained_folder

    source = tmp_path / "source"
    shutil.copytree(pretrained_folder() / "smileys32", source, ignore=shutil.ignore_patterns("*.npz"))
    shutil.copy(pretrained_folder() / "smileys64" / "discriminator.safetensors", source)   # any D: never read
    shutil.copy(pretrained_folder() / "smileys64" / "generator.safetensors", source)
    info = json.loads((source / "generator.json").read_text())
    info[field] = value
    (source / "generator.json").write_text(json.dumps(info))
    result = nonesuch("train", str(emoji_dataset), "--out", str(tmp_path / "run"), "--init-from", str(source))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"--init-from {source}: {source}: its config cannot seed a run ({words}" in result.stderr, result.stderr
    assert not (tmp_path / "run").exists()


def test_a_resume_on_a_changed_dataset_is_refused(emoji_dataset, tmp_path):
    import shutil

    dataset = tmp_path / "ds"
    shutil.copytree(emoji_dataset, dataset)
    run = tmp_path / "run"
    assert nonesuch("train", str(dataset), "--out", str(run), *TINY_ARGS).returncode == 0
    assert json.loads((run / "config.json").read_text())["dataset_fingerprint"]
    from nonesuch.data.dataset import DatasetWriter, ImageRecord
    writer = DatasetWriter(dataset, Dataset(dataset).resolution)
    writer.append(np.full((1, writer.resolution, writer.resolution, 3), 7, np.uint8),
                  [ImageRecord(sha256="added", source="added.png")])
    writer.close()
    result = nonesuch("train", str(dataset), "--out", str(run), *TINY_ARGS)
    assert result.returncode != 0 and "changed since this run started" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_shipped_generator_carries_what_fine_tuning_needs(emoji_folder, tmp_path):
    """`--init-from smileys64` by name: G, D and EMA come from the package, one step at 64 px."""
    from conftest import make_dataset

    animals = make_dataset(emoji_folder, tmp_path / "emoji64", 64)
    tuned = tmp_path / "tuned"
    result = nonesuch("train", str(animals), "--out", str(tuned), "--init-from", "smileys64",
                      "--kimg", "0.016", "--snapshot-kimg", "0.016", "--threads", "1")
    assert result.returncode == 0, result.stderr
    config = json.loads((tuned / "config.json").read_text())
    assert config["init_from"] == "smileys64" and config["resolution"] == 64     # a name, not an install path
    assert set(config["init_sha256"]) == {"generator", "discriminator", "generator_ema"}
    log = [json.loads(line) for line in (tuned / "log.jsonl").read_text().splitlines()]
    assert log[0]["stage"] == "stable 64px"
