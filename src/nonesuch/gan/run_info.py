"""What a run folder holds, read from its config, checkpoints and log without loading a weight:
`nonesuch info RUN`, the message after Ctrl-C, and the end-of-run check of `train --minutes`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nonesuch.data.sources import UnreadableSource, open_regular_file
from nonesuch.gan.checkpoint import CheckpointError, list_checkpoints, read_state
from nonesuch.gan.config import TrainConfig
from nonesuch.gan.folders import read_json_object

# A log line is one snapshot's record, ~300 bytes (the shipped smileys64's longest is 275); the
# paper's 1024 px schedule at the default 4 kimg a snapshot logs ~2,500 of them, under 1 MB. A
# line longer than the bound is no record (a sparse file is one endless line of NULs), and a log
# over the file bound is no run's: 64 MB of empty lines already take ~10 s to step through.
MAX_LOG_LINE_BYTES = 64 << 10
MAX_LOG_FILE_BYTES = 64 << 20


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
    """A run by its shape; a config.json that is a FIFO or a device still makes one (and is refused
    by name when read), not a dataset without dataset.json."""
    return (Path(path) / "config.json").exists() and (Path(path) / "checkpoints").is_dir()


def _read_config(run: Path) -> TrainConfig:
    path = run / "config.json"
    if not os.path.lexists(path):
        raise RunInfoError(f"{run}: not a training run (no config.json)")
    try:
        return TrainConfig.from_dict(read_json_object(path))
    except CheckpointError as error:         # not a regular file, too large, not JSON
        raise RunInfoError(str(error)) from None
    except (ValueError, TypeError) as error:
        raise RunInfoError(f"{path}: not a run config this version reads ({error})") from None


def log_records(run: Path) -> Iterator[dict]:
    """log.jsonl's records in order, read a line at a time; a half-written line (a kill
    mid-write) is skipped, and a run without a log has none. CheckpointError for a log that is
    not a regular file (a FIFO would block, /dev/zero never end), or is over the bounds above."""
    path = Path(run) / "log.jsonl"
    if not os.path.lexists(path):
        return
    try:
        with open_regular_file(path) as log:
            size, read = os.fstat(log.fileno()).st_size, 0
            for number, line in enumerate(iter(lambda: log.readline(MAX_LOG_LINE_BYTES + 1), b""), 1):
                read += len(line)
                if max(size, read) > MAX_LOG_FILE_BYTES:    # as it says, or as it grew while read
                    raise UnreadableSource(f"too large for a training log: {max(size, read)} bytes "
                                           f"> {MAX_LOG_FILE_BYTES}")
                if len(line) > MAX_LOG_LINE_BYTES:
                    raise UnreadableSource(f"line {number} is over {MAX_LOG_LINE_BYTES} bytes: "
                                           f"not a training log")
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(record, dict):
                    yield record
    except (UnreadableSource, OSError) as error:
        raise CheckpointError(f"{path}: {getattr(error, 'strerror', None) or error}") from None


def run_info(run: str | Path) -> RunInfo:
    run = Path(run)
    config = _read_config(run)
    schedule = config.schedule
    try:
        states = [(folder, read_state(folder)) for folder in list_checkpoints(run)]
        scores_at, last_img_per_s = _logged_scores(run, {int(s.get("images_seen", int(f.name))) for f, s in states})
    except CheckpointError as error:
        raise RunInfoError(str(error)) from None
    checkpoints = []
    for folder, state in states:
        seen = int(state.get("images_seen", int(folder.name)))
        checkpoints.append(CheckpointInfo(folder.name, seen, schedule.at(seen).name, scores_at.get(seen, {})))
    latest_state = states[-1][1] if states else {}
    images_seen = checkpoints[-1].images_seen if checkpoints else 0
    return RunInfo(
        path=str(run), dataset=config.dataset, preset=config.preset, resolution=config.resolution,
        classes=config.class_names if config.conditional else [], kimg_per_phase=config.kimg,
        phases=[f"{kind} {resolution}px" for kind, resolution, _ in schedule.stages()],
        total_images=schedule.total_images, images_seen=images_seen,
        stage="not started" if not checkpoints else schedule.at(images_seen).name,
        elapsed_s=float(latest_state.get("elapsed_s", 0.0)), checkpoints=checkpoints,
        last_img_per_s=last_img_per_s,
        device_used=getattr(config, "device_used", "") or "",
    )


def _logged_scores(run: Path, checkpoints: set[int]) -> tuple[dict[int, dict], float | None]:
    """({images seen: fid / kid / metric_images} for the checkpoints kept, the last line's img/s):
    what `info` shows from the log, kept as the log streams past (it may hold many lines)."""
    scores_at, last_img_per_s = {}, None
    for record in log_records(run):
        seen = record.get("images_seen")
        if isinstance(seen, int) and seen in checkpoints:
            scores_at[seen] = {k: record[k] for k in ("fid", "kid", "metric_images") if k in record}
        last_img_per_s = record.get("img_per_s")
    return scores_at, last_img_per_s


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
