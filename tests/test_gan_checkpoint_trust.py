"""Checkpoints are checked, not trusted: a sweep of damage to every file of the newest checkpoint
(resume and generate pass it over, loudly, for the newest intact one), a run that diverges stops
with its last good checkpoint kept, and rotation never deletes the checkpoint it just wrote."""

import hashlib
import json
import os
import shutil

import pytest
import torch
from gan_fixtures import TINY, one_thread  # noqa: F401  (autouse fixture)

from nonesuch.gan import checkpoint
from nonesuch.gan.checkpoint import CheckpointError, list_checkpoints, load_generator, newest_good_checkpoint
from nonesuch.gan.config import TrainError, resolve_config
from nonesuch.gan.train import train




@pytest.fixture(scope="module")
def trained(emoji_dataset, tmp_path_factory):
    """A finished tiny run with checkpoints at 128, 160 and 192 images."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = tmp_path_factory.mktemp("trust") / "run"
    train(resolve_config(emoji_dataset, out, {**TINY, "snapshot_kimg": 0.032, "conditional": True}))
    assert [p.name for p in list_checkpoints(out)] == ["000000128", "000000160", "000000192"]
    return out


def _copy(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def _flip_byte(path, offset_from_end=100):
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def _damage(kind: str, folder):
    """One kind of damage to the checkpoint `folder`; returns the file that should be named."""
    if kind.startswith("flip:"):
        target = folder / kind[5:]
        _flip_byte(target)
    elif kind == "truncate":
        target = folder / "generator.safetensors"
        target.write_bytes(target.read_bytes()[:1000])
    elif kind == "missing":
        target = folder / "discriminator.safetensors"
        target.unlink()
    elif kind == "header":  # a flip inside the JSON header: the bytes no longer parse
        target = folder / "optimizers.safetensors"
        _flip_byte(target, offset_from_end=target.stat().st_size - 20)
    elif kind == "state-garbage":
        target = folder / "state.json"
        target.write_text("{not json")
    elif kind == "state-no-hash":
        target = folder / "state.json"
        state = json.loads(target.read_text())
        del state["sha256"]["generator_ema.safetensors"]
        target.write_text(json.dumps(state))
        target = folder / "generator_ema.safetensors"
    elif kind == "nan-rehashed":  # non-finite weights with a matching hash (a run that diverged before this check)
        target = folder / "generator_ema.safetensors"
        from safetensors.torch import load_file, save_file
        tensors = load_file(target)
        first = sorted(tensors)[0]
        tensors[first] = torch.full_like(tensors[first], float("nan"))
        save_file(tensors, target)
        state = json.loads((folder / "state.json").read_text())
        state["sha256"][target.name] = hashlib.sha256(target.read_bytes()).hexdigest()
        (folder / "state.json").write_text(json.dumps(state))
    elif kind in ("fifo", "dev-zero", "sparse-30G"):  # must be refused without being read
        target = folder / "generator_ema.safetensors"
        target.unlink()
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "dev-zero":
            os.symlink("/dev/zero", target)
        else:
            with open(target, "wb") as f:
                f.truncate(30 << 30)
    elif kind in ("state-list", "state-nested"):
        target = folder / "state.json"
        target.write_text("[1, 2]" if kind == "state-list" else "[" * 100000)
    else:
        raise AssertionError(kind)
    return target


DAMAGE = ["flip:generator_ema.safetensors", "flip:generator.safetensors", "flip:discriminator.safetensors",
          "flip:optimizers.safetensors", "truncate", "missing", "header", "state-garbage", "state-no-hash",
          "nan-rehashed", "fifo", "dev-zero", "sparse-30G", "state-list", "state-nested"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_newest_checkpoint_is_passed_over_with_one_line_naming_the_file(trained, tmp_path, kind):
    run = _copy(trained, tmp_path)
    newest = list_checkpoints(run)[-1]
    target = _damage(kind, newest)
    warnings = []
    assert newest_good_checkpoint(run, warn=warnings.append).name == "000000160"
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert str(target) in warnings[0] and "000000192" in warnings[0]


def test_no_intact_checkpoint_is_an_error_not_a_fresh_start(trained, tmp_path):
    run = _copy(trained, tmp_path)
    for folder in list_checkpoints(run):
        _flip_byte(folder / "generator.safetensors")
    saved = json.loads((run / "config.json").read_text())
    with pytest.raises(TrainError, match="none of the 3 checkpoints is intact"):
        train(resolve_config(saved["dataset"], run, {}, resume=True))
    assert len(list_checkpoints(run)) == 3  # nothing deleted, nothing started over


def test_resume_from_a_flipped_byte_falls_back_and_keeps_a_good_checkpoint(trained, tmp_path, capsys):
    """The reported failure: a flipped byte in the newest weights, keep_checkpoints=1. The resume
    must start from the newest intact checkpoint, say so, and end with good checkpoints only."""
    run = _copy(trained, tmp_path)
    shutil.rmtree(run / "checkpoints" / "000000192")  # resume mid-run: newest = 160
    _flip_byte(run / "checkpoints" / "000000160" / "generator.safetensors")
    saved = json.loads((run / "config.json").read_text())
    config = resolve_config(saved["dataset"], run, {"keep_checkpoints": 1}, resume=True)
    train(config, until_images=160)
    err = capsys.readouterr().err
    assert "warning: skipping checkpoint 000000160" in err and "generator.safetensors" in err
    # The damaged 160 was rewritten from the intact 128 (+ 32 images); 128 itself rotated out only
    # after that new, checked checkpoint existed.
    assert [p.name for p in list_checkpoints(run)] == ["000000160"]
    assert newest_good_checkpoint(run).name == "000000160"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["images_seen"] for r in log] == [32, 64, 96, 128, 160]


def test_rotation_never_deletes_the_checkpoint_it_just_wrote(trained, tmp_path):
    """A damaged checkpoint further along sorts after the new one; keep=1 must not keep only it."""
    run = _copy(trained, tmp_path)
    _flip_byte(run / "checkpoints" / "000000192" / "generator.safetensors")
    config = json.loads((run / "config.json").read_text())
    from nonesuch.gan.config import TrainConfig
    c = TrainConfig.from_dict(config)
    G, D, G_ema = c.make_generator(), c.make_discriminator(), c.make_generator()
    optimizers = {"G": torch.optim.Adam(G.parameters()), "D": torch.optim.Adam(D.parameters())}
    state = checkpoint.load_training_checkpoint(run / "checkpoints" / "000000160", G, D, G_ema, optimizers)
    written = checkpoint.save_checkpoint(run, G, D, G_ema, optimizers, {**state, "images_seen": 176}, keep=1)
    names = [p.name for p in list_checkpoints(run)]
    assert written.name in names and newest_good_checkpoint(run, warn=lambda line: None) == written


def test_non_finite_weights_are_never_written(trained, tmp_path):
    run = _copy(trained, tmp_path)
    c = resolve_config(json.loads((run / "config.json").read_text())["dataset"], run, {}, resume=True)
    G, D = c.make_generator(), c.make_discriminator()
    with torch.no_grad():
        next(G.parameters()).fill_(float("inf"))
    optimizers = {"G": torch.optim.Adam(G.parameters()), "D": torch.optim.Adam(D.parameters())}
    before = [p.name for p in list_checkpoints(run)]
    with pytest.raises(CheckpointError, match="non-finite"):
        checkpoint.save_checkpoint(run, G, D, G, optimizers, {"images_seen": 999}, keep=1)
    assert [p.name for p in list_checkpoints(run)] == before


def test_a_run_that_diverges_stops_with_its_last_good_checkpoint(emoji_dataset, tmp_path):
    """NaN weights mid-run (as a blown-up step makes them): the next snapshot stops the run with a
    message naming the last good checkpoint, writes no checkpoint or log line from the NaNs."""
    out = tmp_path / "nan"

    def poison(record, run):
        if record["images_seen"] == 64:
            with torch.no_grad():
                for p in run.generator.parameters():
                    p.fill_(float("nan"))

    config = resolve_config(emoji_dataset, out, {**TINY, "snapshot_kimg": 0.032, "keep_checkpoints": 1})
    with pytest.raises(TrainError) as failure:
        train(config, on_snapshot=poison)
    message = str(failure.value)
    assert "diverged by 96 images" in message and "000000064" in message and "\n" not in message
    assert [p.name for p in list_checkpoints(out)] == ["000000064"]
    assert newest_good_checkpoint(out).name == "000000064"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["images_seen"] == 64


def test_generate_records_the_hash_of_the_weights_it_loaded(trained, tmp_path, capsys):
    run = _copy(trained, tmp_path)
    newest = run / "checkpoints" / "000000192"
    # Intact: the recorded hash is the file's.
    loaded = load_generator(run)
    assert loaded.checkpoint_sha256 == hashlib.sha256((newest / "generator_ema.safetensors").read_bytes()).hexdigest()
    # Modified after training: named loudly and passed over; given explicitly: refused.
    _flip_byte(newest / "generator_ema.safetensors")
    loaded = load_generator(run)
    assert loaded.checkpoint_path.parent.name == "000000160"
    assert loaded.checkpoint_sha256 == hashlib.sha256(loaded.checkpoint_path.read_bytes()).hexdigest()
    assert "generator_ema.safetensors" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="does not match state.json"):
        load_generator(run, checkpoint="000000192")
