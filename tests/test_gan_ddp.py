"""Data-parallel training under torchrun: 2 CPU processes on gloo stay in lockstep."""

import json
import subprocess
import sys
from pathlib import Path

from gan_fixtures import subprocess_env

from nonesuch.gan.checkpoint import latest_checkpoint


def test_two_gloo_processes_train_and_agree_on_weights(emoji_dataset, tmp_path):
    out = tmp_path / "ddp"
    worker = Path(__file__).with_name("gan_ddp_worker.py")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(worker), str(emoji_dataset), str(out)],
        env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert [s["images_seen"] for s in rank0] == [64, 128, 192]
    assert all(s["world_size"] == 2 for s in rank0)
    assert rank0 == rank1  # identical G, D and EMA on both ranks after every snapshot
    assert rank0[0]["G"] != rank0[-1]["G"]  # and they did train
    assert latest_checkpoint(out).name == "000000192"  # written once, by rank 0


def test_cpu_threads_leave_out_the_cores_busy_now(monkeypatch):
    """Threads = cores not busy in the last quarter second; the load average only without /proc."""
    from nonesuch.gan import distributed

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(distributed, "usable_cpus", lambda: [0, 1, 2, 3])
    monkeypatch.setattr(distributed.time, "sleep", lambda s: None)
    monkeypatch.setattr(distributed.os, "getloadavg", lambda: (3.0, 3.0, 3.0))   # a busy spell that has ended
    #                 user nice sys idle iowait irq softirq steal
    snapshots = iter([[100, 0, 0, 100, 0, 0, 0, 0], [100, 0, 0, 500, 0, 0, 0, 0],     # idle now
                      [100, 0, 0, 100, 0, 0, 0, 0], [300, 0, 0, 300, 0, 0, 0, 0]])    # 2 of 4 busy
    monkeypatch.setattr(distributed, "_cpu_times", lambda cpus: next(snapshots))
    assert distributed.cpu_threads() == 4
    assert distributed.cpu_threads() == 2
    monkeypatch.setattr(distributed, "_cpu_times", lambda cpus: None)
    assert distributed.cpu_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert distributed.cpu_threads() == 3
