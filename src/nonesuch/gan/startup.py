"""What a training start says before the first step: the networks' sizes, the schedule, where
it runs and how; and the device it actually got, recorded in RUN/config.json ("auto" is what was
asked for, "cpu" or "cuda:0" what happened), so a run's folder says where it was trained."""

from __future__ import annotations

from pathlib import Path

import torch

from nonesuch import atomic
from nonesuch.gan.errors import CheckpointError
from nonesuch.gan.folders import read_json_object
from nonesuch.progress import console


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f} M"


def summary_lines(run) -> list[str]:
    """run: gan.train.Run after building and resuming."""
    from nonesuch.gan.train import amp_dtype

    c, placement = run.config, run.placement
    schedule = c.schedule
    dtype = amp_dtype(c.amp, placement.device)
    precision = "fp32" if dtype is None else f"{str(dtype).removeprefix('torch.')} autocast (weights fp32)"
    where = f"{placement.device}"
    if placement.device.type == "cpu":
        where += f", {torch.get_num_threads()} threads"
    if placement.world_size > 1:
        where += f", {placement.world_size} processes"
    phases = " -> ".join(f"{kind[0]}{resolution}" for kind, resolution, _ in schedule.stages())
    start = "from the start" if run.images_seen == 0 else f"resuming at {run.images_seen:,} images ({schedule.at(run.images_seen).name})"
    classes = len(c.class_names)
    conditioning = f"conditional on {classes} class{'es' if classes != 1 else ''}" if c.conditional else "unconditional"
    return [
        f"train {c.out}: preset {c.preset}, {c.resolution} px, {c.loss}, batch {c.batch}, {conditioning}",
        f"  networks: G {_millions(parameter_count(run.generator))} parameters, "
        f"D {_millions(parameter_count(run.discriminator))}",
        f"  schedule: {c.kimg:g} kimg per phase, {len(schedule.stages())} phases ({phases}), "
        f"{schedule.total_images:,} images; {start}",
        f"  device: {where}; precision {precision}; augment {c.augment}",
    ]


def record_device(run) -> None:
    """Write the device this start runs on into config.json (main process only)."""
    path = Path(run.config.out) / "config.json"
    run.config.device_used = str(run.placement.device)
    try:
        saved = read_json_object(path)
    except CheckpointError:
        return  # prepare_run wrote it moments ago; if it is gone, there is nothing to annotate
    if saved.get("device_used") != run.config.device_used:
        atomic.write_json(path, {**saved, "device_used": run.config.device_used})


def announce(run) -> None:
    """Print the start-up summary and record the device; main process only."""
    if not run.placement.is_main:
        return
    record_device(run)
    if run.config.progress:
        for line in summary_lines(run):
            console.print(line, soft_wrap=True, highlight=False)
