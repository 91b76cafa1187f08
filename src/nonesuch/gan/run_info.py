"""What a run folder holds, read from its config, checkpoints and log without loading a weight:
`nonesuch info RUN`, the message after Ctrl-C, and the end-of-run check of `train --minutes`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from nonesuch.gan.checkpoint import CheckpointError, list_checkpoints, read_state
from nonesuch.gan.config import TrainConfig


class RunInfoError(Exception):
    """A folder that is not a readable run; the message names the file."""


@dataclass
class CheckpointInfo:
    name: str                   # folder name under checkpoints/ (images seen, zero-padded)
    images_seen: int
    stage: str                  # "fade 16px", "stable 32px"
    scores: dict = field(default_factory=dict)   # fid / kid / metric_images from the log, if measured


@dataclass
class RunInfo:
    path: str
    dataset: str
    preset: str
    resolution: int                         # the generator's final resolution, px
    classes: list[str]                      # empty for an unconditional run
    kimg_per_phase: float
    phases: list[str]                       # "stable 4px", "fade 8px", ... in order
    total_images: int
    images_seen: int                        # at the latest checkpoint
    stage: str                              # where the latest checkpoint is in the schedule
    elapsed_s: float                        # training time up to the latest checkpoint
    checkpoints: list[CheckpointInfo]
    last_img_per_s: float | None = None     # from the last log line
    device_used: str = ""                   # the device the latest start ran on, if recorded

    @property
    def done(self) -> float:
        return self.images_seen / self.total_images if self.total_images else 0.0


def is_run_folder(path: str | Path) -> bool:
    return (Path(path) / "config.json").is_file() and (Path(path) / "checkpoints").is_dir()


def _read_config(run: Path) -> TrainConfig:
    path = run / "config.json"
    try:
        return TrainConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise RunInfoError(f"{run}: not a training run (no config.json)") from None
    except (OSError, ValueError, TypeError) as error:
        raise RunInfoError(f"{path}: not a run config this version reads ({error})") from None


def read_log(run: Path) -> list[dict]:
    """log.jsonl's records; a half-written last line (a kill mid-write) is skipped."""
    records = []
    path = run / "log.jsonl"
    if not path.is_file():
        return records
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def run_info(run: str | Path) -> RunInfo:
    run = Path(run)
    config = _read_config(run)
    log = read_log(run)
    scores_at = {r.get("images_seen"): {k: r[k] for k in ("fid", "kid", "metric_images") if k in r} for r in log}
    schedule = config.schedule
    checkpoints = []
    for folder in list_checkpoints(run):
        try:
            state = read_state(folder)
        except CheckpointError as error:
            raise RunInfoError(str(error)) from None
        seen = int(state.get("images_seen", int(folder.name)))
        checkpoints.append(CheckpointInfo(folder.name, seen, schedule.at(seen).name, scores_at.get(seen, {})))
    latest_state = read_state(list_checkpoints(run)[-1]) if checkpoints else {}
    images_seen = checkpoints[-1].images_seen if checkpoints else 0
    return RunInfo(
        path=str(run), dataset=config.dataset, preset=config.preset, resolution=config.resolution,
        classes=config.class_names if config.conditional else [], kimg_per_phase=config.kimg,
        phases=[f"{kind} {resolution}px" for kind, resolution, _ in schedule.stages()],
        total_images=schedule.total_images, images_seen=images_seen,
        stage="not started" if not checkpoints else schedule.at(images_seen).name,
        elapsed_s=float(latest_state.get("elapsed_s", 0.0)), checkpoints=checkpoints,
        last_img_per_s=log[-1].get("img_per_s") if log else None,
        device_used=getattr(config, "device_used", "") or "",
    )


def interrupted_message(run: str | Path, command: str) -> str:
    """After Ctrl-C: what is on disk and the command that continues from it."""
    try:
        info = run_info(run)
    except RunInfoError:
        return f"interrupted before {run} held a run; nothing was kept. Start again with: {command}"
    if not info.checkpoints:
        return (f"interrupted before the first checkpoint: {run} holds only its config; "
                f"the same command starts from the beginning: {command}")
    return (f"interrupted: kept {run}/checkpoints/{info.checkpoints[-1].name} ({info.images_seen:,} of "
            f"{info.total_images:,} images, {info.stage}); steps since then are lost. "
            f"Resume exactly with: {command}")
