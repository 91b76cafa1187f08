"""Data-parallel training under torchrun: 2 CPU processes on gloo stay in lockstep."""

import json
import subprocess
import sys
import time
from pathlib import Path

from gan_fixtures import subprocess_env

from nonesuch.gan.checkpoint import latest_checkpoint


WORKER = Path(__file__).with_name("gan_ddp_worker.py")


def _torchrun(*args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(WORKER), *args], env={**subprocess_env(), **env}, capture_output=True, text=True,
                          timeout=300)


def test_two_gloo_processes_train_stop_resume_and_agree_on_weights(emoji_dataset, tmp_path):
    """Stop at 64 images and resume in the same processes (the smoke run's path), rank 0 late."""
    out = tmp_path / "ddp"
    result = _torchrun(str(emoji_dataset), str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert [s["images_seen"] for s in rank0] == [64, 128, 192]
    assert all(s["world_size"] == 2 for s in rank0)
    assert rank0 == rank1  # identical G, D and EMA on both ranks after every snapshot
    assert rank0[0]["G"] != rank0[-1]["G"]  # and they did train
    assert latest_checkpoint(out).name == "000000192"  # written once, by rank 0


def test_a_stuck_rank_fails_the_run_loudly_instead_of_hanging_it():
    started = time.monotonic()
    result = _torchrun("stuck", NONESUCH_DISTRIBUTED_TIMEOUT_S="3")
    assert result.returncode != 0
    assert "monitoredBarrier" in result.stderr and "1" in result.stderr, result.stderr[-3000:]
    # the launcher's start-up on a loaded machine is most of this; without the limit it is 60 s+
    assert time.monotonic() - started < 55


def test_training_threads_ignore_momentary_load(monkeypatch):
    """Threads = --threads, else OMP_NUM_THREADS, else this process's share of the CPUs it may use;
    never a function of how busy the cores are (that made resumed runs take another path)."""
    from nonesuch.gan import distributed

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(distributed, "usable_cpus", lambda: [0, 1, 2, 3])
    monkeypatch.setattr(distributed.os, "getloadavg", lambda: (3.0, 3.0, 3.0), raising=False)
    assert distributed.training_threads() == 4
    assert distributed.training_threads(3) == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")   # two torchrun processes share the CPUs
    assert distributed.training_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert distributed.training_threads() == 1
    assert distributed.training_threads(2) == 2


def test_a_hostile_thread_count_from_the_environment_or_a_run_is_capped(monkeypatch):
    """OMP_NUM_THREADS=100000, or a config.json saying so, reached torch.set_num_threads: a segfault."""
    from nonesuch.gan import distributed

    monkeypatch.setenv("OMP_NUM_THREADS", "100000")
    assert distributed.training_threads() == distributed.MAX_THREADS
    assert distributed.training_threads(10 ** 9) == distributed.MAX_THREADS
    assert distributed.training_threads(16) == 16        # a bigger machine's honest count is kept
