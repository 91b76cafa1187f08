"""Run under `torchrun --nproc_per_node 2`: trains a tiny config data-parallel on gloo and writes,
per rank, a fingerprint of its weights at every snapshot, so the test can compare the ranks."""

import hashlib
import json
import sys
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

    config = resolve_config(dataset, out, dict(preset="smoke", resolution=8, kimg=0.064, batch=16,
                                               snapshot_kimg=0.064, grid_size=4, attention=[8],
                                               conditional=True, device="cpu"))
    train(config, on_snapshot=record)


if __name__ == "__main__":
    main(*sys.argv[1:])
