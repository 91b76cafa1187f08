"""Training you can watch: TensorBoard files readable by TensorBoard's own reader (and a resumed
run plotting as one line), the start-up summary, the resolved device in config.json, `info RUN`,
`--minutes`, and what Ctrl-C says."""

import json
import shutil

import numpy as np
import pytest
from gan_fixtures import TINY, nonesuch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from typer.testing import CliRunner

from nonesuch.cli import app
from nonesuch.gan.checkpoint import list_checkpoints
from nonesuch.gan.config import resolve_config
from nonesuch.gan.run_info import interrupted_message, run_info
from nonesuch.gan.train import train


def cli(*args):
    """The CLI in this process (a subprocess would spend seconds importing torch again)."""
    return CliRunner().invoke(app, list(args))


def _events(run):
    events = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def test_tensorboard_files_read_back_with_tensorboards_reader(emoji_dataset, tmp_path, capsys):
    # With augmentation on, so its strength is among the scalars (a run without it logs none).
    run = train(resolve_config(emoji_dataset, tmp_path / "run", {**TINY, "augment": "translation"}))
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert all("augment_p" in record for record in log)
    events = _events(run)
    for tag in ("loss/D", "loss/G", "loss/penalty", "augment/p", "speed/img_per_s", "schedule/resolution"):
        assert tag in events.Tags()["scalars"], tag
    loss_d = events.Scalars("loss/D")
    assert [e.step for e in loss_d] == [r["images_seen"] for r in log] == [64, 128, 192]
    assert np.allclose([e.value for e in loss_d], [r["loss_d"] for r in log], rtol=1e-5)
    grids = events.Images("snapshot grid")
    assert [g.step for g in grids] == [64, 128, 192]
    last_grid = Image.open(run / "grids" / "000000192.png")
    assert (grids[-1].width, grids[-1].height) == last_grid.size
    # The start-up summary, and the device this start really used, recorded in the run's config.
    out = capsys.readouterr().err
    assert "networks: G " in out and " M parameters, D " in out and "schedule: 0.064 kimg per phase, 3 phases" in out
    assert "device: cpu, " in out and "precision " in out
    assert json.loads((run / "config.json").read_text())["device_used"] == "cpu"


def test_a_resumed_run_plots_as_one_line(emoji_dataset, tmp_path):
    out = tmp_path / "run"
    train(resolve_config(emoji_dataset, out, TINY), until_images=128)
    # A kill between the 128 snapshot's log line and its checkpoint: resume redoes that snapshot.
    shutil.rmtree(list_checkpoints(out)[-1])
    train(resolve_config(emoji_dataset, out, TINY, resume=True))
    steps = [e.step for e in _events(out).Scalars("loss/D")]
    assert steps == [64, 128, 192]


def test_info_run_reports_schedule_position_and_checkpoints(emoji_dataset, tmp_path):
    out = tmp_path / "run"
    train(resolve_config(emoji_dataset, out, {**TINY, "keep_checkpoints": 5}), until_images=128)
    info = run_info(out)
    assert (info.resolution, info.total_images, info.images_seen) == (8, 192, 128)
    assert info.phases == ["stable 4px", "fade 8px", "stable 8px"] and info.stage == "stable 8px"
    assert [c.name for c in info.checkpoints] == ["000000064", "000000128"]
    result = cli("info", str(out))
    assert result.exit_code == 0, result.stderr
    assert "128 images seen (67%), stable 8px" in result.stderr and "000000064" in result.stderr
    assert f"continue with: nonesuch train {emoji_dataset}" in result.stderr
    as_json = json.loads(cli("info", str(out), "--json").stdout)
    assert as_json["images_seen"] == 128 and len(as_json["checkpoints"]) == 2
    # After Ctrl-C the message names what was kept and the command that resumes.
    message = interrupted_message(out, "nonesuch train data --out run")
    assert "kept" in message and "000000128" in message and "128 of 192 images" in message
    assert message.endswith("Resume exactly with: nonesuch train data --out run")
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    bad = cli("info", str(broken))
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "config.json" in bad.stderr


def test_minutes_stops_with_a_checkpoint_and_says_how_to_continue(emoji_dataset, tmp_path):
    out = tmp_path / "run"
    args = ["train", str(emoji_dataset), "--out", str(out), "--preset", "smoke", "--resolution", "8",
            "--kimg", "50", "--snapshot-kimg", "50", "--minutes", "0.05"]
    result = nonesuch(*args)
    assert result.returncode == 0, result.stderr
    assert "time is up" in result.stderr and list_checkpoints(out)
    # Piped output is not wrapped at 80 columns: each snapshot's log line (> 80 chars) is whole.
    snapshot_lines = [line for line in result.stderr.splitlines() if " kimg  " in line]
    assert snapshot_lines and all("img/s" in line and " G=" in line for line in snapshot_lines)
    # ... and nothing of one was wrapped onto a line of its own.
    assert not any(line.lstrip().startswith(("D=", "G=", "p=", "ETA")) for line in result.stderr.splitlines())
    assert 0 < run_info(out).images_seen < run_info(out).total_images
    assert nonesuch(*args[:-1], "0").returncode == 1
