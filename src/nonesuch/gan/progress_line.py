"""The one-line live view of training: stage, resolution, alpha, kimg, img/s and ETA.
On a terminal it is a rich progress bar; elsewhere (CI, a log file) a plain line per snapshot."""

from __future__ import annotations

import sys

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nonesuch.progress import console


class TrainingProgress:
    def __init__(self, total_images: int, images_seen: int, enabled: bool = True):
        self.total, self.enabled = total_images, enabled
        self.live = enabled and sys.stderr.isatty()
        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, disable=not self.live,
        )
        self.task = self.bar.add_task("train", total=total_images, completed=images_seen, info="")

    def __enter__(self) -> "TrainingProgress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def update(self, stage, images_seen: int, rate: float) -> None:
        if not self.live:
            return
        info = (f"{stage.resolution}px α={stage.alpha:.2f}  {images_seen / 1000:.1f}/{self.total / 1000:g} kimg"
                f"  {rate:.1f} img/s")
        self.bar.update(self.task, completed=images_seen, description=stage.name, info=info)

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        # At the current rate; later, larger stages are slower, so this is a lower bound.
        eta = max(0, self.total - record["images_seen"]) / max(record["img_per_s"], 1e-9)
        parts = [f"{record['kimg']:.1f}/{self.total / 1000:g} kimg", record["stage"], f"α={record['alpha']:.2f}",
                 f"{record['img_per_s']:.1f} img/s", f"ETA {eta / 60:.1f} min"]
        parts += [f"{k}={record[k]:.3g}" for k in ("loss_d", "loss_g", "fid", "kid") if k in record]
        console.print("  ".join(parts))
