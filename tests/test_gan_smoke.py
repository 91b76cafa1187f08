"""`nonesuch train --smoke` runs every part of training, and `nonesuch metrics` scores the result
with the real FID InceptionV3."""

import json
import time

import numpy as np
import pytest
from gan_fixtures import nonesuch

from nonesuch.gan.checkpoint import list_checkpoints


@pytest.fixture(scope="module")
def smoke_run(emoji_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "run"
    started = time.perf_counter()
    result = nonesuch("train", str(emoji_dataset), "--out", str(out), "--smoke")
    assert result.returncode == 0, result.stderr
    return out, time.perf_counter() - started, result.stderr


def test_smoke_exercises_every_part(smoke_run):
    out, seconds, output = smoke_run
    config = json.loads((out / "config.json").read_text())
    assert config["conditional"] and config["attention"] == [8] and config["resolution"] == 16
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["images_seen"] for r in log] == [320, 640]                     # stopped half-way, resumed
    assert "resuming from the checkpoint" in output
    assert log[-1]["resolution"] == 16 and np.isfinite(log[-1]["fid"])      # grew to 16 px, metric logged
    assert log[-1]["n_generated"] == 8 and np.isfinite(log[-1]["kid_x1e3"])  # ... with its N
    assert len(list((out / "grids").glob("*.png"))) == 2 and (out / "progress.gif").is_file()
    assert list_checkpoints(out)[-1].name == "000000640"
    assert seconds < 120, f"--smoke took {seconds:.0f} s"  # < 60 s on an idle 2-core machine


def test_metrics_command_scores_a_checkpoint(smoke_run, emoji_dataset, tmp_path):
    out, *_ = smoke_run
    result = nonesuch("metrics", str(out), "--generated", "8", "--checkpoint", "000000320", "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["n_generated"] == 8 and scores["n_real"] == 48 and np.isfinite(scores["fid"]) and scores["fid"] > 0
    assert scores["checkpoint"].endswith("000000320") and len(scores["checkpoint_sha256"]) == 64
    # Real features (all 48 images) were computed once, in training, and cached beside the dataset, atomically.
    assert len(list((emoji_dataset / "metrics-cache").glob("inception-v1-16px-48-all-*.safetensors"))) == 1
    missing = nonesuch("metrics", str(tmp_path / "nothing"))
    assert missing.returncode == 1 and "no config.json" in missing.stderr
