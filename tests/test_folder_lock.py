"""FolderLock: one writer per folder, a dead holder never blocks, forked children do not hold it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nonesuch.folder_lock import LOCK_NAME, FolderLock, FolderLockedError, read_holder

HOLD = """
import sys, time
from nonesuch.folder_lock import FolderLock
with FolderLock(sys.argv[1], what="ingest"):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_in_another_process(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                              text=True, env=env)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_second_writer_is_refused_with_the_holder_named_then_a_dead_holder_is_taken_over(tmp_path):
    folder = tmp_path / "dataset"
    holder = hold_in_another_process(folder)
    try:
        with pytest.raises(FolderLockedError) as refused:
            FolderLock(folder, what="ingest").acquire()
        message = str(refused.value)
        assert "\n" not in message
        assert f"pid {holder.pid}" in message and "ingest" in message and "since" in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    notes: list[str] = []
    with FolderLock(folder, what="ingest", note=notes.append) as lock:
        assert lock.held
    assert len(notes) == 1 and f"pid {holder.pid}" in notes[0] and "no longer running" in notes[0]
    assert not (folder / LOCK_NAME).exists()  # a clean release leaves nothing behind


def test_wait_s_waits_for_the_holder_to_finish(tmp_path):
    holder = hold_in_another_process(tmp_path)
    started = time.monotonic()
    os.kill(holder.pid, signal.SIGTERM)
    with FolderLock(tmp_path, what="registry", wait_s=10, note=lambda _: None):
        assert time.monotonic() - started < 10
    holder.wait()


def test_the_same_process_cannot_take_its_own_folder_twice(tmp_path):
    with FolderLock(tmp_path, what="ingest"):
        with pytest.raises(FolderLockedError, match="already being written by this process"):
            FolderLock(tmp_path, what="ingest").acquire()
    with FolderLock(tmp_path, what="ingest"):  # released: free again
        pass


def test_a_forked_child_that_outlives_its_parent_does_not_keep_the_lock(tmp_path):
    # The parent takes the lock, forks a long-lived child, and is killed; the child lives on.
    script = """
import os, sys, time
from nonesuch.folder_lock import FolderLock
lock = FolderLock(sys.argv[1], what="ingest").acquire()
if os.fork() == 0:
    time.sleep(30)
    os._exit(0)
print("held", flush=True)
time.sleep(60)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, env=env)
    assert parent.stdout.readline().strip() == "held"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    with FolderLock(tmp_path, what="ingest", note=lambda _: None):
        pass


def test_out_that_is_a_file_or_a_planted_symlink_is_one_line(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("user data")
    with pytest.raises(FolderLockedError, match="is a file"):
        FolderLock(a_file, what="ingest").acquire()
    assert a_file.read_text() == "user data"
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / LOCK_NAME).symlink_to(a_file)
    with pytest.raises(FolderLockedError, match="symbolic link"):
        FolderLock(folder, what="ingest").acquire()
    assert a_file.read_text() == "user data"
