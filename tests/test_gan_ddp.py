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
