"""Training end to end on real emoji: the run folder, checkpoints without pickle, load_generator,
one-line errors for bad input, and a run that must learn."""

import json
import os

import numpy as np
import pytest
import torch
from gan_fixtures import TINY, flat_colour_dataset, one_thread  # noqa: F401  (autouse fixture)
from safetensors.torch import load_file
from typer.testing import CliRunner

from nonesuch.cli import app
from nonesuch.gan.checkpoint import CheckpointError, list_checkpoints, load_generator
from nonesuch.gan.config import resolve_config
from nonesuch.gan.train import train

PICKLE_MAGICS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")




@pytest.fixture(scope="module")
def tiny_run(emoji_dataset, tmp_path_factory):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = tmp_path_factory.mktemp("run") / "tiny"
    config = resolve_config(emoji_dataset, out, {**TINY, "snapshot_kimg": 0.032, "conditional": True,
                                                 "keep_checkpoints": 2})
    train(config)
    return out


def test_run_folder_explains_itself(tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["resolution"] == 8 and config["preset"] == "smoke"
    assert config["architecture"]["channels"] == [32, 32, 16, 16]
    assert config["class_names"] == ["animals-nature", "food-drink", "objects", "smileys-emotion"]
    log = [json.loads(line) for line in (tiny_run / "log.jsonl").read_text().splitlines()]
    assert [r["images_seen"] for r in log] == list(range(32, 193, 32))
    assert {"stage", "resolution", "alpha", "img_per_s", "loss_d", "loss_g"} <= set(log[-1])
    assert len(list((tiny_run / "grids").glob("*.png"))) == len(log)
    assert (tiny_run / "progress.gif").stat().st_size > 0


def test_checkpoints_hold_no_pickle_and_keep_the_last_k(tiny_run):
    folders = list_checkpoints(tiny_run)
    assert [f.name for f in folders] == ["000000160", "000000192"]  # keep_checkpoints = 2
    for path in folders[-1].iterdir():
        head = path.read_bytes()[:2]
        assert head not in PICKLE_MAGICS and head != b"PK", f"{path} looks like pickle / torch.save"
        if path.suffix == ".safetensors":
            assert load_file(path)  # loads with safetensors alone
        else:
            assert path.name == "state.json" and json.loads(path.read_text())["images_seen"] == 192


def test_load_generator_contract(tiny_run):
    loaded = load_generator(tiny_run)
    assert (loaded.latent_dim, loaded.resolution) == (32, 8)
    assert loaded.class_names == ["animals-nature", "food-drink", "objects", "smileys-emotion"]
    assert loaded.checkpoint_path.name == "generator_ema.safetensors"
    assert len(loaded.checkpoint_sha256) == 64 and not loaded.generator.training
    images = loaded.generator(torch.randn(5, 32), torch.tensor([0, 1, 2, 3, 0]))
    assert images.shape == (5, 3, 8, 8) and images.dtype == torch.float32
    assert images.abs().max() < 5
    older = load_generator(tiny_run, "000000160")
    assert older.checkpoint_sha256 != loaded.checkpoint_sha256
    with pytest.raises(CheckpointError, match="config.json"):
        load_generator(tiny_run / "nope")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_generator(tiny_run, "123")


def _cli(*args):
    return CliRunner().invoke(app, ["train", *map(str, args)])


def test_bad_input_is_one_clear_line_and_writes_nothing(emoji_dataset, tiny_run, tmp_path):
    cases = [
        (tmp_path, "not a nonesuch dataset"),                        # not a dataset
        (emoji_dataset, "has no 64 px images", "--resolution", "64"),  # resolution the dataset lacks
    ]
    for dataset, message, *extra in cases:
        out = tmp_path / "run"
        result = _cli(dataset, "--out", out, "--preset", "smoke", *extra)
        assert result.exit_code == 1 and message in result.output, result.output
        assert not out.exists()
    unlabelled = flat_colour_dataset(tmp_path / "flat", (10, 20, 30))
    result = _cli(unlabelled, "--out", tmp_path / "run", "--conditional")
    assert result.exit_code == 1 and "needs labels" in result.output and not (tmp_path / "run").exists()

    before = {p: p.read_bytes() for p in tiny_run.rglob("*") if p.is_file()}
    result = _cli(emoji_dataset, "--out", tiny_run, "--preset", "cpu")  # incompatible resume
    assert result.exit_code == 1 and "cannot resume with preset='cpu'" in result.output, result.output
    assert {p: p.read_bytes() for p in tiny_run.rglob("*") if p.is_file()} == before
    assert len(result.output.strip().splitlines()) == 1
    result = _cli(emoji_dataset, "--out", tmp_path / "fresh", "--resume")
    assert result.exit_code == 1 and "nothing to resume" in result.output and not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("args, message", [
    (["--threads", "100000"], "--threads must be from 1 to"),   # torch.set_num_threads(100000) segfaulted
    (["--threads", "-1"], "--threads must be from 1 to"),
    (["--kimg", "nan"], "--kimg must be from 0.001 to 100000.0, got nan"),
    (["--kimg", "inf"], "--kimg must be from 0.001 to 100000.0"),
    (["--kimg", "0"], "--kimg must be from 0.001 to 100000.0"),
    (["--kimg", "1e-300"], "--kimg must be from 0.001 to 100000.0"),          # trained nothing, said done
    (["--snapshot-kimg", "1e-300"], "--snapshot-kimg must be from 0.001"),   # a checkpoint every step
    (["--batch", f"{10 ** 12}"], "--batch must be from 4 to 1024"),   # asked for 4 TB
    (["--lr", "nan"], "--lr must be a number above 0 and at most 1, got nan"),
    (["--lr", "-1"], "--lr must be a number above 0"),
    (["--lr", "1e308"], "--lr must be a number above 0 and at most 1, got 1e+308"),   # a traceback in Adam
    (["--lecam", "nan"], "--lecam must be from 0.0 to 100.0, got nan"),   # trained on, ignored
    (["--lecam", "1e308"], "--lecam must be from 0.0 to 100.0, got 1e+308"),   # trained to NaN
    (["--gp-interval", "0"], "--gp-interval must be from 1 to 1000, got 0"),
    (["--gp-interval", f"{10 ** 30}"], "--gp-interval must be from 1 to 1000"),   # NaN, no intact checkpoint
    (["--resolution", "0"], "--resolution must be from 4 to 1024 px, got 0"),
    (["--snapshot-kimg", "nan"], "--snapshot-kimg must be from 0.001 to 100000.0, got nan"),
    (["--snapshot-kimg", "1e308"], "--snapshot-kimg must be from 0.001 to 100000.0"),  # OverflowError
    (["--metric-images", f"{10 ** 12}"], "--metric-images must be from 0 to 100000"),
    (["--metric-images", "-1"], "--metric-images must be from 0 to 100000"),
    (["--keep", "0"], "--keep must be at least 1, got 0"),
    (["--minutes", "nan"], "--minutes must be a number above 0, got nan"),   # trained forever
    (["--augment-p", "1.5"], "--augment-p must be from 0.0 to 1.0, got 1.5"),   # after the dataset was read
    (["--augment-target", "nan"], "--augment-target must be from 0.0 to 0.99, got nan"),
    (["--seed", "-1"], "--seed must be from 0 to"),
    (["--seed", f"{10 ** 20}"], "--seed must be from 0 to"),
])
def test_numbers_no_run_can_use_are_one_line_before_any_work(emoji_dataset, tmp_path, args, message):
    out = tmp_path / "run"
    for smoke in ([], ["--smoke"]):
        result = _cli(emoji_dataset, "--out", out, "--preset", "smoke", *smoke, *args)
        assert result.exit_code == 1 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
        assert not out.exists()


@pytest.mark.parametrize("loss", ["wgan-gp", "ns-r1"])
def test_training_learns_a_flat_colour(tmp_path, loss):
    """A dataset of one colour: the EMA generator's mean colour must move to it."""
    target = np.array([230, 40, 20]) / 127.5 - 1  # a strong red, in [-1, 1]
    dataset = flat_colour_dataset(tmp_path / "red", (230, 40, 20), count=64)
    config = resolve_config(dataset, tmp_path / "run", dict(
        preset="smoke", resolution=8, kimg=1.6, batch=16, snapshot_kimg=10, grid_size=4, ema_kimg=0.2,
        mirror=False, seed=1, loss=loss))
    train(config)
    generator = load_generator(tmp_path / "run").generator
    with torch.no_grad():
        mean = generator(torch.randn(256, 32)).mean(dim=(0, 2, 3)).numpy()
    torch.manual_seed(config.seed)  # the run's initial weights, untrained
    with torch.no_grad():
        start_mean = config.make_generator()(torch.randn(256, 32), None, 8, 1.0).mean(dim=(0, 2, 3)).numpy()
    assert np.abs(mean - target).max() < 0.25, (mean, target)
    assert np.abs(mean - target).max() < 0.5 * np.abs(start_mean - target).max()


def test_a_half_written_checkpoint_is_never_picked(tiny_run, tmp_path):
    """Checkpoints are written into a hidden folder and renamed when complete; a crash mid-write
    leaves only the hidden folder, which resume and load_generator ignore."""
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    latest = list_checkpoints(run)[-1]
    torn = run / "checkpoints" / ".000000224.tmp"
    torn.mkdir()
    (torn / "generator_ema.safetensors").write_bytes(b"torn")
    assert list_checkpoints(run)[-1] == latest
    assert load_generator(run).checkpoint_path.parent == latest


def test_fp16_training_scales_losses_and_checkpoints_the_scale(emoji_dataset, tmp_path):
    """The fp16 path (older GPUs) runs here on CPU: finite weights, loss scale saved for resume."""
    config = resolve_config(emoji_dataset, tmp_path / "fp16", {**TINY, "kimg": 0.032, "amp": "fp16"})
    train(config)
    loaded = load_generator(tmp_path / "fp16")
    assert all(torch.isfinite(p).all() for p in loaded.generator.parameters())
    state = json.loads((loaded.checkpoint_path.parent / "state.json").read_text())
    assert set(state["loss_scalers"]) == {"G", "D"} and state["loss_scalers"]["D"]["scale"] > 0


def test_lecam_pulls_only_scores_past_the_other_sides_anchor():
    from nonesuch.gan.losses import lecam_regulariser

    real, fake = torch.tensor([3.0, -1.0]), torch.tensor([-4.0, 2.0])
    # anchors: reals' mean score 1, fakes' -2. Reals past -2: 3 by 5, -1 by 1; fakes below 1: -4 by 5.
    expected = (5.0 ** 2 + 1.0 ** 2) / 2 + (5.0 ** 2 + 0.0) / 2
    assert float(lecam_regulariser(real, fake, anchor_real=1.0, anchor_fake=-2.0)) == pytest.approx(expected)


def test_lecam_trains_and_its_anchors_are_checkpointed(emoji_dataset, tmp_path):
    out = tmp_path / "run"
    train(resolve_config(emoji_dataset, out, {**TINY, "lecam": 0.05}), until_images=64)
    state = json.loads((list_checkpoints(out)[-1] / "state.json").read_text())
    real_anchor, fake_anchor = state["lecam_anchors"]
    assert real_anchor != 0.0 and fake_anchor != 0.0          # they followed D's scores
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(r["lecam"] >= 0 for r in log)
    result = _cli(emoji_dataset, "--out", tmp_path / "bad", "--lecam", "-1")
    assert result.exit_code == 1 and "--lecam" in result.output, result.output
