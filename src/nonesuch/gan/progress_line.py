"""The one-line live view of training: stage, kimg, img/s, losses, augmentation strength, ETA.
On a terminal it is a rich progress bar; elsewhere (CI, a log file) a plain line per snapshot.

The ETA is the sum over the remaining stages of (images left / measured speed at that stage's
resolution). Later stages are bigger and slower, so the first session's "rate now x images
left" was off 2-6x (it said ~21 min for a schedule that took 48). A resolution not reached yet
is extrapolated from the last two measured ones, 1.2-2.5x per doubling (x2 when only one is known);
until every remaining resolution has been measured the ETA is marked "~".
"""

from __future__ import annotations

import sys

from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from nonesuch.progress import console


class StageSpeeds:
    """Seconds per image measured at each resolution (fades count at their new resolution)."""

    def __init__(self):
        self.seconds: dict[int, float] = {}
        self.images: dict[int, int] = {}

    def add(self, resolution: int, images: int, seconds: float) -> None:
        self.seconds[resolution] = self.seconds.get(resolution, 0.0) + seconds
        self.images[resolution] = self.images.get(resolution, 0) + images

    def per_image(self, resolution: int) -> tuple[float, bool]:
        """(seconds per image, measured?) at `resolution`."""
        if self.images.get(resolution):
            return self.seconds[resolution] / self.images[resolution], True
        known = sorted(r for r in self.images if self.images[r])
        if not known:
            return 0.0, False
        last = known[-1]
        growth = 2.0  # per doubling, when only one resolution is known
        if len(known) >= 2:
            a, b = known[-2], known[-1]
            ratio = (self.per_image(b)[0] / self.per_image(a)[0]) ** (1 / max(1, (b // a).bit_length() - 1))
            # Small sizes are overhead-bound and step up by 3-4x (4 -> 8 px); the measured cpu
            # preset costs 1.8-2.0x per doubling from 16 px up. Bounded so one odd pair of
            # measurements cannot turn the ETA into hours.
            growth = min(max(1.2, ratio), 2.5)
        doublings = max(0, resolution.bit_length() - last.bit_length())
        return self.per_image(last)[0] * growth ** doublings, False

    def eta(self, schedule, images_seen: int) -> tuple[float, bool]:
        """(seconds left, every remaining resolution measured?)."""
        seconds, exact, start = 0.0, True, 0
        for _, resolution, length in schedule.stages():
            left = min(length, max(0, start + length - images_seen))
            start += length
            if left:
                per_image, measured = self.per_image(resolution)
                seconds += left * per_image
                exact &= measured
        return seconds, exact


def format_eta(seconds: float, exact: bool) -> str:
    minutes = seconds / 60
    text = f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"
    return text if exact else f"~{text}"


class TrainingProgress:
    def __init__(self, schedule, images_seen: int, enabled: bool = True):
        self.schedule, self.total, self.enabled = schedule, schedule.total_images, enabled
        self.speeds = StageSpeeds()
        self.live = enabled and sys.stderr.isatty()
        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=console, disable=not self.live,
        )
        self.task = self.bar.add_task("train", total=self.total, completed=images_seen, info="")

    def __enter__(self) -> "TrainingProgress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def step(self, stage, images: int, seconds: float) -> None:
        """A training step of `images` took `seconds` (snapshots excluded)."""
        self.speeds.add(stage.resolution, images, seconds)

    def update(self, stage, images_seen: int, rate: float, latest: dict | None = None) -> None:
        if not self.live:
            return
        eta = format_eta(*self.speeds.eta(self.schedule, images_seen))
        info = (f"{stage.resolution}px α={stage.alpha:.2f}  {images_seen / 1000:.1f}/{self.total / 1000:g} kimg"
                f"  {rate:.1f} img/s  {_losses(latest or {})}  ETA {eta}")
        self.bar.update(self.task, completed=images_seen, description=stage.name, info=info)

    def status(self, text: str) -> None:
        """Say what a pause is for (e.g. computing FID/KID), on the live line or as a plain line."""
        if self.live:
            self.bar.update(self.task, info=escape(text))
        elif self.enabled:
            console.print(escape(text))

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        eta = format_eta(*self.speeds.eta(self.schedule, record["images_seen"]))
        parts = [f"{record['kimg']:.1f}/{self.total / 1000:g} kimg", record["stage"], f"α={record['alpha']:.2f}",
                 f"{record['img_per_s']:.1f} img/s", f"ETA {eta}", _losses(record)]
        parts += [f"{k}={record[k]:.3g}" for k in ("kid_x1e3", "fid", "precision", "recall") if k in record]
        console.print("  ".join(p for p in parts if p), soft_wrap=True)


def _losses(values: dict) -> str:
    shown = [("loss_d", "D"), ("loss_g", "G"), ("augment_p", "p")]
    return " ".join(f"{label}={float(values[key]):.3g}" for key, label in shown if key in values)
