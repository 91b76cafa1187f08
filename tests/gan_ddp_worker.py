"""Run under `torchrun --nproc_per_node 2`: trains a tiny config data-parallel on gloo and writes,
per rank, a fingerprint of its weights at every snapshot, so the test can compare the ranks.

It trains the way `nonesuch train --smoke` does: part of the schedule, stop, then a second train()
in the same processes resumes to the end, with rank 0 arriving late to the second call (the
timing under which the smoke run used to hang).

`stuck` mode instead: rank 1 never arrives at the first barrier; rank 0 must fail, naming it."""

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import torch

from nonesuch.gan.config import resolve_config
from nonesuch.gan.train import train


def fingerprint(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def main(dataset: str, out: str) -> None:
    prints: list[dict] = []

    def record(snapshot: dict, run) -> None:
        prints.append({"images_seen": snapshot["images_seen"], "world_size": run.placement.world_size,
                       **{name: fingerprint(net) for name, net in
                          (("G", run.generator), ("D", run.discriminator), ("G_ema", run.generator_ema))}})
        path = Path(out) / f"rank{run.placement.rank}.json"
        path.write_text(json.dumps(prints))

    options = dict(preset="smoke", resolution=8, kimg=0.064, batch=16, snapshot_kimg=0.064, grid_size=4,
                   attention=[8], conditional=True, device="cpu")
    train(resolve_config(dataset, out, options), on_snapshot=record, until_images=64)
    if os.environ["RANK"] == "0":
        time.sleep(2)
    train(resolve_config(dataset, out, options, resume=True), on_snapshot=record)


def stuck() -> None:
    from nonesuch.gan import distributed

    placement = distributed.setup("cpu")
    if placement.rank == 1:
        time.sleep(60)  # a rank that hangs (or died without the others knowing)
    distributed.barrier(placement)


if __name__ == "__main__":
    if sys.argv[1] == "stuck":
        stuck()
    else:
        main(*sys.argv[1:])
