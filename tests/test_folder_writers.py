"""One writer per run folder and per site: a second `train` into a run being trained, or a second
`publish` into a site being published, is refused with one line naming the first, and nothing
of the first is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gan_fixtures import TINY
from typer.testing import CliRunner

from nonesuch.cli import app

HOLD = """
import sys, time
from nonesuch.folder_lock import FolderLock
with FolderLock(sys.argv[1], what=sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)  # killed by the test; long, since a loaded machine takes a minute to import torch
"""


def _hold(folder: Path, what: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), what], stdout=subprocess.PIPE,
                              text=True, env=env)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _release(holder: subprocess.Popen) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()


def test_a_second_train_into_a_run_being_trained_is_refused(emoji_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "run"
    holder = _hold(out, "train")
    try:
        result = CliRunner().invoke(app, ["train", str(emoji_dataset), "--out", str(out), "--preset", "smoke",
                                          "--resolution", "8", "--kimg", str(TINY["kimg"])])
        assert result.exit_code == 1, result.output
        assert f"pid {holder.pid}" in result.output and "train" in result.output
        assert len(result.output.strip().splitlines()) == 1
        assert sorted(p.name for p in out.iterdir()) == [".nonesuch-lock"]  # no config, no checkpoint
    finally:
        _release(holder)


def test_a_second_publish_into_a_site_being_published_is_refused(emoji_folder, tmp_path):
    from nonesuch.web.publish import PublishError, publish_site

    site = tmp_path / "site"
    publish_site(emoji_folder, site)
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    holder = _hold(tmp_path / ".site.lock", "publish")
    try:
        try:
            publish_site(emoji_folder, site)
            raise AssertionError("a second publish into a site being published must be refused")
        except PublishError as refused:
            message = str(refused)
        assert message.startswith(f"{site}: in use") and f"pid {holder.pid}" in message and "\n" not in message
        assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    finally:
        _release(holder)
    publish_site(emoji_folder, site)  # the holder gone (killed, even), publishing works again
