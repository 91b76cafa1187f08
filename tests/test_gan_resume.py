"""A run killed with SIGKILL and resumed ends with the same weights as one that never stopped."""

import json
import subprocess
import sys
import time

import torch
from gan_fixtures import nonesuch, subprocess_env
from safetensors.torch import load_file

from nonesuch.gan.checkpoint import latest_checkpoint

FILES = ("generator_ema", "generator", "discriminator", "optimizers")


def _train_args(dataset, out):
    # 3 stages x 128 images (4 px, fade to 8 px, 8 px) with attention, conditioning and adaptive
    # augmentation and LeCam (the strength and the anchors are state the checkpoint must carry); a checkpoint every 2 steps,
    # so the kill lands between checkpoints, mid-schedule.
    return ["train", str(dataset), "--out", str(out), "--preset", "smoke", "--resolution", "8",
            "--kimg", "0.128", "--snapshot-kimg", "0.032", "--attention", "8", "--conditional", "--seed", "3",
            "--augment", "color,translation,cutout", "--augment-target", "0.6", "--lecam", "0.05"]


def test_sigkill_and_resume_is_bit_identical(emoji_dataset, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    total = 3 * 128

    process = subprocess.Popen([sys.executable, "-m", "nonesuch", *_train_args(emoji_dataset, killed)],
                               env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while latest_checkpoint(killed) is None and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.kill()  # SIGKILL: no cleanup, no final checkpoint
    process.wait()
    interrupted_at = int(latest_checkpoint(killed).name)
    assert 0 < interrupted_at < total, "the kill must land mid-run for this test to mean anything"

    # Re-running the same command resumes, here where OMP_NUM_THREADS would say 2: the run reuses
    # the thread count it saved (1), since the count is part of the trajectory.
    resumed = subprocess.run([sys.executable, "-m", "nonesuch", *_train_args(emoji_dataset, killed)],
                             env={**subprocess_env(), "OMP_NUM_THREADS": "2"}, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((killed / "config.json").read_text())["threads"] == 1
    uninterrupted = nonesuch(*_train_args(emoji_dataset, whole))
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    a, b = latest_checkpoint(whole), latest_checkpoint(killed)
    assert a.name == b.name == f"{total:09d}"
    for name in FILES:
        left, right = load_file(a / f"{name}.safetensors"), load_file(b / f"{name}.safetensors")
        assert left.keys() == right.keys()
        for key in left:
            assert torch.equal(left[key], right[key]), f"{name}:{key} differs after resume"
    # The log has one line per snapshot, none duplicated by the resume.
    lines = (killed / "log.jsonl").read_text().splitlines()
    assert len(lines) == len((whole / "log.jsonl").read_text().splitlines()) == total // 32


def test_thread_count_is_saved_reused_and_a_change_is_said(emoji_dataset, tmp_path, monkeypatch, capsys):
    from gan_fixtures import TINY

    from nonesuch.gan.config import resolve_config
    from nonesuch.gan.train import train

    out = tmp_path / "run"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    train(resolve_config(emoji_dataset, out, dict(TINY)), until_images=32)
    assert json.loads((out / "config.json").read_text())["threads"] == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")     # a resume elsewhere: the saved count wins
    train(resolve_config(emoji_dataset, out, {}, resume=True), until_images=64)
    assert "threads:" not in capsys.readouterr().err
    train(resolve_config(emoji_dataset, out, {"threads": 2}, resume=True), until_images=96)
    assert "trained with 1 threads, continuing with 2" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["threads"] == 2
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["threads"] for r in log] == [1, 1, 2]
