"""TensorBoard event files in the run folder, beside log.jsonl: the same numbers per snapshot
(losses, augmentation strength, img/s, stage, FID/KID when measured) plus the snapshot grid, so
`tensorboard --logdir RUN` (or a folder of runs) plots a run the way users of the anchors expect.

log.jsonl stays the record the code reads back; these files are a view for people, written by
torch.utils.tensorboard (it needs the `tensorboard` package; without it training goes on and
says once that only log.jsonl is written). The step is images seen, as in log.jsonl.

Resume: a run killed after a snapshot's log line and before its checkpoint resumes from the
previous checkpoint and writes that snapshot again. The first writer a process opens for a run
therefore purges events after the resume point (SummaryWriter's purge_step), so a resumed run
plots as one line, without a doubled or dangling tail.
"""

from __future__ import annotations

import atexit
import weakref
from pathlib import Path

import numpy as np
from PIL import Image

from nonesuch.gan.run_info import log_records
from nonesuch.progress import console

# log.jsonl key -> TensorBoard tag; grouped by prefix into TensorBoard's sections.
SCALARS = {
    "loss_d": "loss/D", "loss_g": "loss/G", "penalty": "loss/penalty",
    "augment_p": "augment/p",
    "img_per_s": "speed/img_per_s",
    "resolution": "schedule/resolution", "alpha": "schedule/alpha",
    "fid": "metrics/FID", "kid": "metrics/KID",
}

_writers: dict[str, tuple[weakref.ref, object]] = {}   # run folder -> (the Run it serves, its writer)
_said_missing = False


def _resume_point(run_dir: Path, images_seen: int) -> int:
    """Images seen at the last log line before this snapshot's: what this process resumed from
    (the resume truncated the log to it), or 0 for a new run."""
    earlier = (record.get("images_seen", 0) for record in log_records(run_dir))
    return max((seen for seen in earlier if isinstance(seen, int) and seen < images_seen), default=0)


def _writer_for(run, images_seen: int):
    global _said_missing
    key = str(Path(run.dir).resolve())
    held = _writers.get(key)
    if held is not None and held[0]() is run:
        return held[1]
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _said_missing:
            console.print("note: no TensorBoard files (pip install tensorboard); log.jsonl has the same numbers",
                          soft_wrap=True, highlight=False)
            _said_missing = True
        return None
    if held is not None:
        held[1].close()
    writer = SummaryWriter(log_dir=str(run.dir), purge_step=_resume_point(Path(run.dir), images_seen) + 1)
    _writers[key] = (weakref.ref(run), writer)
    return writer


def add_snapshot(run, record: dict, grid: Path) -> None:
    """Write one snapshot's scalars and grid image (main process only, after its log line)."""
    step = int(record["images_seen"])
    writer = _writer_for(run, step)
    if writer is None:
        return
    for key, tag in SCALARS.items():
        if key in record and record[key] is not None:
            writer.add_scalar(tag, float(record[key]), step)
    if grid.is_file():
        with Image.open(grid) as image:
            writer.add_image("snapshot grid", np.asarray(image.convert("RGB")), step, dataformats="HWC")
    writer.flush()   # a person watching sees each snapshot as it is written


def close_all() -> None:
    for _, writer in _writers.values():
        writer.close()
    _writers.clear()


atexit.register(close_all)
